package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// withAdmin resolves the settings of an administration command from its
// flags cf, the config file and the environment, opens the data directory,
// runs fn on it and closes it. It returns fn's error joined with Close's:
// a database that fails to close may not have kept what fn wrote.
// It never runs the start-up recovery, so it is safe beside a live server.
// The actor of what fn changes, for the audit trail, is the CLI's, which
// run puts in the context of every command but serve (see cliActor): the
// commands pass their ctx to the engine themselves.
func withAdmin(ctx context.Context, e *env, cf *configFlags, fn func(*Main) error) (err error) {
	cfg, err := cf.load(e.lookupEnv)
	if err != nil {
		return err
	}
	// Only warnings: the command's own output is what the admin reads.
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := NewMain(cfg, logger)
	defer func() {
		if cerr := m.Close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := m.Open(ctx); err != nil {
		return err
	}
	return fn(m)
}

// adminFlags defines the settings flags of an administration command on fs:
// --config and --data, plus the named settings. They read the same config
// file and environment as the server, so that they find the same data
// directory.
func adminFlags(fs *flag.FlagSet, extra ...string) *configFlags {
	return defineConfigFlags(fs, append([]string{"data"}, extra...)...)
}

// parseHistory parses the arguments of cmd, a command that lists the
// latest runs of a job ("backup history", "cleanup history"), described
// by help: the settings flags of adminFlags and --limit, how many runs to
// list, 20 unless given. A usage error if --limit is not positive or an
// argument is left over.
func parseHistory(e *env, cmd, help string, args []string) (*configFlags, int, error) {
	fs := newFlagSet(e, cmd, "[--limit N]", help)
	cf := adminFlags(fs)
	limit := fs.Int("limit", 20, "how many runs to show")
	if err := parseNone(fs, cmd, args); err != nil {
		return nil, 0, err
	}
	if *limit <= 0 {
		return nil, 0, cmdUsageErrorf(cmd, "--limit must be positive")
	}
	return cf, *limit, nil
}

type subcommands map[string]runFunc

// dispatch runs the subcommand of group that args name.
func dispatch(ctx context.Context, e *env, group string, subs subcommands, args []string) error {
	names := make([]string, 0, len(subs))
	for name := range subs {
		names = append(names, name)
	}
	slices.Sort(names)
	if len(args) == 0 {
		return usageErrorf("%s needs a subcommand: %s", group, strings.Join(names, ", "))
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, groupUsage(group))
		return nil
	}
	sub, ok := subs[args[0]]
	if !ok {
		return usageErrorf("unknown %s subcommand %q; use one of: %s", group, args[0], strings.Join(names, ", "))
	}
	return sub(ctx, e, args[1:])
}

// groupUsage returns the lines of the general usage about the commands of
// group: their synopses, each with the description indented under it.
func groupUsage(group string) string {
	var b strings.Builder
	b.WriteString("Usage:\n")
	in := false
	for line := range strings.Lines(usageText) {
		if strings.HasPrefix(line, "  pmgsync ") {
			in = strings.HasPrefix(line, "  pmgsync "+group+" ")
		} else if !strings.HasPrefix(line, "    ") {
			in = false
		}
		if in {
			b.WriteString(line)
		}
	}
	fmt.Fprintf(&b, "\nRun \"pmgsync %s SUBCOMMAND -h\" for the flags of a subcommand.\n", group)
	return b.String()
}

// table writes rows aligned in columns under a header.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row adds a row. Cells are shown on one line whatever they hold: control
// characters become spaces, and an empty cell is "-".
func (t *table) row(cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, cell(c))
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

func cell(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// How times are shown to admins: the local time, with the zone, to the
// minute; or to the second, for cleanup runs, which are often short.
const (
	toMinute = "2006-01-02 15:04 MST"
	toSecond = "2006-01-02 15:04:05 MST"
)

// formatTime shows t in local time with layout, or zero for the zero time.
func formatTime(t time.Time, layout, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.Local().Format(layout)
}
