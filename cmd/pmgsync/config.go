package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/schedule"
)

// Defaults of the settings that engine does not define.
const (
	DefaultDataDir         = "./data"
	DefaultAddr            = ":10000"
	DefaultCleanupSchedule = "0 3 * * *" // 03:00 every day: the small hours, when no one uploads
	DefaultTimezone        = "America/Sao_Paulo"
)

// DefaultAllowedTypes are the file types accepted when nothing else is said:
// the spreadsheets the technicians' app produces.
var DefaultAllowedTypes = []string{"xlsx", "xlsm", "xls", "csv"}

// scheduleOff, as the cleanup schedule, turns the scheduled sweep off (for
// an operator who runs "pmgsync cleanup" from elsewhere).
const scheduleOff = "off"

// Config holds the settings of pmgsync. Each setting is resolved once, in
// rising order of precedence: its default (DefaultConfig), the config file
// (TOML), its PMGSYNC_* environment variable, its command-line flag (see
// loadConfig); then Validate checks what needs several settings at once.
// Nothing reads the settings from anywhere else: cmd/pmgsync passes what
// each package needs to its constructor.
type Config struct {
	// Addr is the TCP address the server listens on, host:port; port 0
	// picks a free port.
	Addr string
	// DataDir is the data directory (see the package comment for its layout).
	DataDir string
	// Retention is how long files are kept after their upload, unless a
	// technician overrides it.
	Retention time.Duration
	// CleanupSchedule is when the sweep of expired files runs: a cron
	// expression of five fields, a descriptor such as "@daily" or
	// "@every 10m", or "off".
	CleanupSchedule string
	// Timezone is the zone CleanupSchedule is read in.
	Timezone *time.Location
	// MaxUploadSize is the largest file accepted, in bytes.
	MaxUploadSize int64
	// AllowedTypes are the file types accepted, as lowercase extensions.
	AllowedTypes []string
	// QuotaBytes and QuotaFiles bound what each technician stores, unless
	// the technician overrides them; 0 means no limit.
	QuotaBytes int64
	QuotaFiles int64
	// Uploads are refused when they would leave the data volume with less
	// free space than MinFreeBytes or MinFreePercent percent of its size,
	// whichever is smaller; either at 0 turns the guard off.
	MinFreeBytes   int64
	MinFreePercent int
	// AuditRetention is how long audit records are kept.
	AuditRetention time.Duration
	// LogFormat is "text" or "json"; LogLevel the least severe level logged.
	LogFormat string
	LogLevel  slog.Level
	// TrustedProxies are the reverse proxies whose forwarding headers the
	// server believes; none if empty.
	TrustedProxies []netip.Prefix
	// MetricsAddr is the address of a listener of its own for /metrics;
	// empty means /metrics is served on Addr.
	MetricsAddr string

	// File is the config file the settings were read from; "" if none.
	File string
	// source tells where each setting that is not at its default came from,
	// by setting name: a file path, an environment variable or a flag.
	source map[string]string
}

// DefaultConfig returns the settings that apply when nothing else is said.
func DefaultConfig() Config {
	loc, err := time.LoadLocation(DefaultTimezone)
	if err != nil {
		// time/tzdata is linked into the binary (see main.go): this cannot
		// happen unless the build is broken.
		panic(fmt.Sprintf("load the default time zone: %v", err))
	}
	return Config{
		Addr:            DefaultAddr,
		DataDir:         DefaultDataDir,
		Retention:       engine.DefaultRetention,
		CleanupSchedule: DefaultCleanupSchedule,
		Timezone:        loc,
		MaxUploadSize:   engine.DefaultMaxUploadSize,
		AllowedTypes:    slices.Clone(DefaultAllowedTypes),
		MinFreeBytes:    engine.DefaultMinFreeBytes,
		MinFreePercent:  engine.DefaultMinFreePercent,
		AuditRetention:  engine.DefaultAuditRetention,
		LogFormat:       logText,
		LogLevel:        slog.LevelInfo,
	}
}

// Source returns where the setting named name came from: "default", a
// config file's path, an environment variable or a flag ("--retention").
func (c *Config) Source(name string) string {
	if s, ok := c.source[name]; ok {
		return s
	}
	return "default"
}

// settingError is a setting whose value cannot work. It stops the command
// with exit status 2.
type settingError struct {
	name, value, source string
	reason              string
}

func (e *settingError) Error() string {
	return fmt.Sprintf("invalid %s %q (from %s): %s", e.name, e.value, e.source, e.reason)
}

// apply sets the setting s of c to the text value, from source.
func (c *Config) apply(s *setting, value, source string) error {
	if err := s.set(c, value); err != nil {
		return &settingError{name: s.name, value: value, source: source, reason: err.Error()}
	}
	if c.source == nil {
		c.source = make(map[string]string)
	}
	c.source[s.name] = source
	return nil
}

// Validate checks what single settings cannot: the cleanup schedule in its
// time zone, and the settings of a Config built by hand rather than loaded.
func (c *Config) Validate() error {
	_, err := c.validate()
	return err
}

// validate is Validate, and also returns the cleanup schedule it parsed
// (nil if it is off), so that the server does not parse it again.
func (c *Config) validate() (*schedule.Schedule, error) {
	bad := func(name, value, reason string) error {
		return &settingError{name: name, value: value, source: c.Source(name), reason: reason}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return nil, bad("data", c.DataDir, "the data directory must not be empty")
	}
	if err := checkAddr(c.Addr); err != nil {
		return nil, bad("addr", c.Addr, err.Error())
	}
	if c.Retention <= 0 {
		return nil, bad("retention", c.Retention.String(), "it must be positive")
	}
	if c.Timezone == nil {
		return nil, bad("timezone", "", "no time zone")
	}
	sched, err := c.Schedule()
	if err != nil {
		return nil, bad("cleanup-schedule", c.CleanupSchedule, err.Error())
	}
	if c.MaxUploadSize <= 0 {
		return nil, bad("max-upload-size", strconv.FormatInt(c.MaxUploadSize, 10), "it must be positive")
	}
	if len(c.AllowedTypes) == 0 {
		return nil, bad("allowed-types", "", "allow at least one type")
	}
	for _, q := range []struct {
		name string
		v    int64
	}{{"quota-bytes", c.QuotaBytes}, {"quota-files", c.QuotaFiles}, {"min-free-bytes", c.MinFreeBytes}} {
		if q.v < 0 {
			return nil, bad(q.name, strconv.FormatInt(q.v, 10), "it must not be negative")
		}
	}
	if c.MinFreePercent < 0 || c.MinFreePercent > 100 {
		return nil, bad("min-free-percent", strconv.Itoa(c.MinFreePercent), "use a whole percentage from 0 to 100")
	}
	if c.AuditRetention <= 0 {
		return nil, bad("audit-retention", c.AuditRetention.String(), "it must be positive")
	}
	if c.LogFormat != logText && c.LogFormat != logJSON {
		return nil, bad("log-format", c.LogFormat, "use text or json")
	}
	if c.MetricsAddr != "" {
		if err := checkAddr(c.MetricsAddr); err != nil {
			return nil, bad("metrics-addr", c.MetricsAddr, err.Error())
		}
		if sameListener(c.MetricsAddr, c.Addr) {
			return nil, bad("metrics-addr", c.MetricsAddr, "it must differ from addr; leave it empty to serve /metrics on addr")
		}
	}
	return sched, nil
}

// Schedule returns the cleanup schedule in its time zone, or nil if it is
// "off".
func (c *Config) Schedule() (*schedule.Schedule, error) {
	if c.CleanupSchedule == scheduleOff {
		return nil, nil
	}
	loc := c.Timezone
	if loc == nil {
		loc = time.UTC
	}
	sched, err := schedule.Parse(c.CleanupSchedule, loc)
	var pe *schedule.ParseError
	if errors.As(err, &pe) {
		// Only why, and what is accepted: the caller names the schedule.
		return nil, fmt.Errorf("%w; %s; or %q for no scheduled cleanup", pe.Err, schedule.Syntax, scheduleOff)
	}
	return sched, err
}

// EngineOptions returns the options of the engine that the settings
// determine. The caller adds the clock and the logger.
func (c *Config) EngineOptions() engine.Options {
	opts := engine.Options{
		Retention:      c.Retention,
		QuotaBytes:     c.QuotaBytes,
		QuotaFiles:     c.QuotaFiles,
		MaxUploadSize:  c.MaxUploadSize,
		AllowedTypes:   slices.Clone(c.AllowedTypes),
		MinFreeBytes:   c.MinFreeBytes,
		MinFreePercent: c.MinFreePercent,
		AuditRetention: c.AuditRetention,
	}
	// The engine reads a zero threshold as its default, so a guard turned
	// off is one without a probe. The volume that fills up as uploads
	// arrive is the blob store's.
	if c.MinFreeBytes > 0 && c.MinFreePercent > 0 {
		opts.FreeSpace = engine.DiskFreeSpace(c.BlobDir())
	}
	return opts
}

// sameListener reports whether two listen addresses ask for the same port
// on an overlapping host, so that the second listener could not start.
// Port 0 never clashes: the kernel picks two different ports.
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb || pa == "0" {
		return false
	}
	return ha == hb || ha == "" || hb == "" || ha == "0.0.0.0" || hb == "0.0.0.0" || ha == "::" || hb == "::"
}

// DatabasePath is the SQLite database in the data directory.
func (c *Config) DatabasePath() string { return filepath.Join(c.DataDir, "pmgsync.db") }

// BlobDir is the root of the blob store in the data directory.
func (c *Config) BlobDir() string { return filepath.Join(c.DataDir, "blobs") }
