package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
)

// Defaults of the settings.
const (
	DefaultDataDir = "./data"
	DefaultAddr    = ":10000"
)

// Config holds the settings of pmgsync. Each setting is resolved once, in
// rising order of precedence: its default (DefaultConfig), its PMGSYNC_*
// environment variable (ApplyEnv), its command-line flag (the *Flag
// methods); then Validate checks the result as a whole. A configuration file
// would slot in between the defaults and the environment. Nothing reads the
// settings from anywhere else: cmd/pmgsync passes what each package needs to
// its constructor.
type Config struct {
	// DataDir is the data directory (see the package comment for its layout).
	// PMGSYNC_DATA, --data.
	DataDir string
	// Addr is the TCP address the server listens on, host:port; port 0 picks
	// a free port. PMGSYNC_ADDR, --addr.
	Addr string
}

// DefaultConfig returns the settings that apply when nothing else is said.
func DefaultConfig() Config {
	return Config{DataDir: DefaultDataDir, Addr: DefaultAddr}
}

// envVars names each setting's environment variable.
var envVars = []struct {
	name    string
	setting func(*Config) *string
}{
	{"PMGSYNC_DATA", func(c *Config) *string { return &c.DataDir }},
	{"PMGSYNC_ADDR", func(c *Config) *string { return &c.Addr }},
}

// ApplyEnv overrides settings with the environment variables that lookup
// finds set to a non-empty value (an empty variable counts as unset, as
// shells make it easy to leave one set to "").
func (c *Config) ApplyEnv(lookup func(string) (string, bool)) {
	for _, v := range envVars {
		if value, ok := lookup(v.name); ok && value != "" {
			*v.setting(c) = value
		}
	}
}

// DataFlag defines --data on fs, defaulting to the current setting.
func (c *Config) DataFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data `directory` (env PMGSYNC_DATA)")
}

// AddrFlag defines --addr on fs, defaulting to the current setting.
func (c *Config) AddrFlag(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "`address` to listen on, host:port (env PMGSYNC_ADDR)")
}

// Validate reports the first setting that cannot work, in a message meant
// for the operator.
func (c *Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("the data directory (--data or PMGSYNC_DATA) must not be empty")
	}
	if err := validateAddr(c.Addr); err != nil {
		return err
	}
	return nil
}

func validateAddr(addr string) error {
	bad := fmt.Errorf("invalid listen address %q (--addr or PMGSYNC_ADDR): use host:port or :port, such as :10000 or 127.0.0.1:8080", addr)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return bad
	}
	return nil
}

// DatabasePath is the SQLite database in the data directory.
func (c *Config) DatabasePath() string { return filepath.Join(c.DataDir, "pmgsync.db") }

// BlobDir is the root of the blob store in the data directory.
func (c *Config) BlobDir() string { return filepath.Join(c.DataDir, "blobs") }
