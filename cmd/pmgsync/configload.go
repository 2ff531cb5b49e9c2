package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// configEnv is the environment variable that names the config file when
// --config is not given.
const configEnv = "PMGSYNC_CONFIG"

// configError is a config file that cannot be used: unreadable, not TOML,
// or with a key that is no setting. Like a settingError, it stops the
// command with exit status 2.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

// configFlags is what a command line says about the settings: the config
// file and the raw text of the setting flags given. The text is parsed by
// load, after the file and the environment, so that a bad value is reported
// with its source like any other.
type configFlags struct {
	file    string
	fileSet bool              // --config was given, even as ""
	values  map[string]string // by setting name
}

// defineConfigFlags defines --config and a flag for each named setting
// (for every setting if names is empty) on fs.
func defineConfigFlags(fs *flag.FlagSet, names ...string) *configFlags {
	cf := &configFlags{values: make(map[string]string)}
	fs.Func("config", "TOML config `file` to read settings from (env "+configEnv+")", func(v string) error {
		cf.file, cf.fileSet = v, true
		return nil
	})
	defaults := DefaultConfig()
	for _, s := range settings {
		if len(names) > 0 && !slices.Contains(names, s.name) {
			continue
		}
		f := &settingFlag{cf: cf, name: s.name, def: s.get(&defaults)}
		fs.Var(f, s.name, s.usage+" (env "+s.env()+")")
	}
	return cf
}

// settingFlag is the flag.Value of a setting: it keeps the text for load.
type settingFlag struct {
	cf   *configFlags
	name string
	def  string // shown as the default in the usage
}

func (f *settingFlag) String() string {
	if f == nil {
		return ""
	}
	return f.def
}

func (f *settingFlag) Set(v string) error {
	f.cf.values[f.name] = v
	return nil
}

// load resolves the settings: the defaults, then the config file (from
// --config, else $PMGSYNC_CONFIG; none if neither is set), then the
// PMGSYNC_* variables that lookupEnv finds set to a non-empty value (an
// empty variable counts as unset, as shells make it easy to leave one set
// to ""), then the flags given; then it validates the result. Errors:
// *settingError naming the setting and its source, *configError.
func (cf *configFlags) load(lookupEnv func(string) (string, bool)) (Config, error) {
	c := DefaultConfig()
	file, fileSource := cf.file, "--config"
	if !cf.fileSet {
		file, fileSource = "", ""
		if v, ok := lookupEnv(configEnv); ok && v != "" {
			file, fileSource = v, configEnv
		}
	}
	if file != "" {
		if err := c.applyFile(file, fileSource); err != nil {
			return c, err
		}
	}
	for _, s := range settings {
		if v, ok := lookupEnv(s.env()); ok && v != "" {
			if err := c.apply(s, v, s.env()); err != nil {
				return c, err
			}
		}
	}
	for _, s := range settings {
		if v, ok := cf.values[s.name]; ok {
			if err := c.apply(s, v, "--"+s.name); err != nil {
				return c, err
			}
		}
	}
	return c, c.Validate()
}

// applyFile applies the settings of the TOML file at path, named by
// source ("--config" or configEnv). Every top-level key must be a setting;
// values may be strings or numbers, and allowed-types also an array of
// strings.
func (c *Config) applyFile(path, source string) error {
	var raw map[string]any
	md, err := toml.DecodeFile(path, &raw)
	if errors.Is(err, fs.ErrNotExist) {
		return &configError{fmt.Sprintf("config file %s (from %s) does not exist", path, source)}
	}
	if err != nil {
		return &configError{fmt.Sprintf("config file %s (from %s): %v", path, source, err)}
	}
	c.File = path
	for _, key := range md.Keys() {
		if len(key) != 1 {
			continue // inside a table, which is itself an unknown key
		}
		name := key[0]
		s := settingNamed(name)
		if s == nil {
			return &configError{unknownKey(name, path)}
		}
		text, ok := tomlText(raw[name])
		if !ok {
			return &settingError{name: name, value: fmt.Sprint(raw[name]), source: path,
				reason: "use a string or a number, as in " + name + ` = "…"`}
		}
		if err := c.apply(s, text, path); err != nil {
			return err
		}
	}
	return nil
}

// unknownKey describes a key of the config file that is no setting, with a
// hint for the usual mistakes.
func unknownKey(name, path string) string {
	msg := fmt.Sprintf("unknown setting %q in config file %s", name, path)
	for _, guess := range []string{
		strings.ReplaceAll(strings.ToLower(name), "_", "-"),
		strings.TrimPrefix(strings.ToLower(name), "pmgsync-"),
		strings.TrimPrefix(strings.ReplaceAll(strings.ToLower(name), "_", "-"), "pmgsync-"),
	} {
		if guess != name && settingNamed(guess) != nil {
			return msg + fmt.Sprintf("; did you mean %q? (keys are the flags' names, in kebab-case)", guess)
		}
	}
	return msg + "; the settings are " + strings.Join(settingNames(), ", ")
}

// tomlText returns the text form of a TOML value for a setting's parser:
// strings as they are, numbers in decimal, arrays of strings joined by
// commas. Other values (booleans, dates, tables) are refused.
func tomlText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return "", false
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), true
	}
	return "", false
}

// tomlString returns s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
