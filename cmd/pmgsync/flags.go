package main

import (
	"errors"
	"flag"
	"fmt"
)

// errUsageShown means that the flag package has already told the user what
// was wrong with the command line, and shown the command's usage.
var errUsageShown = errors.New("usage error")

// usageError is a mistake on the command line: a missing or extra argument,
// an unknown command, a bad flag value. It exits with status 2.
type usageError struct {
	cmd string // the command whose usage to point at, e.g. "token create"; "" for the general usage
	msg string
}

func (e *usageError) Error() string { return e.msg }

// usageErrorf returns a usageError pointing at the general usage.
func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// cmdUsageErrorf returns a usageError of the command cmd.
func cmdUsageErrorf(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// newFlagSet returns the FlagSet of the command "pmgsync NAME", whose usage
// (shown for -h and after a flag error, on standard error) is the synopsis,
// the help text and the flags.
func newFlagSet(e *env, name, synopsis, help string) *flag.FlagSet {
	fs := flag.NewFlagSet("pmgsync "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: pmgsync %s %s\n\n%s\n", name, synopsis, help)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseArgs parses args with fs and returns the positional arguments. Unlike
// fs.Parse alone it accepts flags after positional arguments, as in
// "technician add maria --email maria@example.com"; everything after "--"
// is positional, for a name that starts with '-'. It returns flag.ErrHelp
// for -h and errUsageShown for a bad flag, which fs has already reported.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsageShown
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// parseNone parses args with fs for the command cmd, which takes no
// positional arguments.
func parseNone(fs *flag.FlagSet, cmd string, args []string) error {
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return cmdUsageErrorf(cmd, "unexpected argument %q", positional[0])
	}
	return nil
}

// parseOne parses args with fs for the command cmd, which takes exactly one
// positional argument, described by what (e.g. "a technician name"), and
// returns it.
func parseOne(fs *flag.FlagSet, cmd, what string, args []string) (string, error) {
	positional, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	switch len(positional) {
	case 0:
		return "", cmdUsageErrorf(cmd, "missing %s", what)
	case 1:
		return positional[0], nil
	default:
		return "", cmdUsageErrorf(cmd, "unexpected argument %q (quote a name that has spaces)", positional[1])
	}
}
