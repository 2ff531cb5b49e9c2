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
	// DefaultACMEDirectory is Let's Encrypt's production directory.
	DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
)

// Defaults of the abuse and slow-client protections (see docs/security.md).
const (
	// Failed authentications from one client address: past
	// DefaultAuthFailLimit within DefaultAuthFailWindow, the address is
	// refused for DefaultAuthBan.
	DefaultAuthFailLimit  = 20
	DefaultAuthFailWindow = 10 * time.Minute
	DefaultAuthBan        = 15 * time.Minute
	// Each token may make DefaultRateLimit requests a second on average,
	// DefaultRateBurst at once: enough for an app syncing a backlog.
	DefaultRateLimit = 50
	DefaultRateBurst = 100
	// DefaultMaxConcurrentUploads bounds the uploads of one technician in
	// flight at once.
	DefaultMaxConcurrentUploads = 16
	// The HTTP server's limits on slow or idle clients.
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultIdleTimeout        = 120 * time.Second
	DefaultMaxHeaderBytes     = 64 << 10
	DefaultUploadStallTimeout = 60 * time.Second
)

// Defaults of the scheduled backups.
const (
	DefaultBackupSchedule = scheduleOff
	DefaultBackupKeep     = 7
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

	// TLSCert and TLSKey are the PEM files of the server's certificate
	// chain and private key; both empty unless HTTPS is served from files.
	TLSCert string
	TLSKey  string
	// ACMEDomains are the host names to obtain certificates for over ACME;
	// none unless HTTPS certificates are automatic. ACMEEmail is the
	// contact given to the CA (optional); ACMEDirectory the CA's directory
	// URL.
	ACMEDomains   []string
	ACMEEmail     string
	ACMEDirectory string
	// RedirectAddr is the address of a plain-HTTP listener that redirects
	// every request to HTTPS and answers ACME HTTP-01 challenges; empty
	// for none. Only with HTTPS on.
	RedirectAddr string
	// CORSOrigins are the web origins ("https://office.example.com") whose
	// pages may call the API from a browser; none if empty.
	CORSOrigins []string
	// A client address with AuthFailLimit failed authentications within
	// AuthFailWindow is refused for AuthBan; AuthFailLimit 0 turns the
	// throttle off.
	AuthFailLimit  int
	AuthFailWindow time.Duration
	AuthBan        time.Duration
	// RateLimit is the requests a second each token may make on average,
	// RateBurst how many at once; RateLimit 0 turns the limit off.
	RateLimit float64
	RateBurst int
	// MaxConcurrentUploads bounds each technician's uploads in flight; 0
	// means no bound.
	MaxConcurrentUploads int
	// ReadHeaderTimeout bounds how long a client may take to send a
	// request's headers, IdleTimeout how long a kept-alive connection may
	// wait for the next request, MaxHeaderBytes the size of the headers.
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// UploadStallTimeout cuts off an upload whose body makes no progress
	// for that long; a slow upload that keeps sending is never cut.
	UploadStallTimeout time.Duration

	// BackupSchedule is when the scheduled backup runs, in Timezone: a
	// cron expression, a descriptor, or "off". BackupDir is where its
	// archives go, BackupKeep how many of them are kept.
	BackupSchedule string
	BackupDir      string
	BackupKeep     int

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
		ACMEDirectory:   DefaultACMEDirectory,

		AuthFailLimit:        DefaultAuthFailLimit,
		AuthFailWindow:       DefaultAuthFailWindow,
		AuthBan:              DefaultAuthBan,
		RateLimit:            DefaultRateLimit,
		RateBurst:            DefaultRateBurst,
		MaxConcurrentUploads: DefaultMaxConcurrentUploads,
		ReadHeaderTimeout:    DefaultReadHeaderTimeout,
		IdleTimeout:          DefaultIdleTimeout,
		MaxHeaderBytes:       DefaultMaxHeaderBytes,
		UploadStallTimeout:   DefaultUploadStallTimeout,

		BackupSchedule: DefaultBackupSchedule,
		BackupKeep:     DefaultBackupKeep,
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

// schedules are the schedules of the server's jobs; nil means off.
type schedules struct {
	cleanup, backup *schedule.Schedule
}

// validate is Validate, and also returns the schedules it parsed, so that
// the server does not parse them again.
func (c *Config) validate() (schedules, error) {
	bad := func(name, value, reason string) error {
		return &settingError{name: name, value: value, source: c.Source(name), reason: reason}
	}
	if strings.TrimSpace(c.DataDir) == "" {
		return schedules{}, bad("data", c.DataDir, "the data directory must not be empty")
	}
	if err := checkAddr(c.Addr); err != nil {
		return schedules{}, bad("addr", c.Addr, err.Error())
	}
	if c.Retention <= 0 {
		return schedules{}, bad("retention", c.Retention.String(), "it must be positive")
	}
	if c.Timezone == nil {
		return schedules{}, bad("timezone", "", "no time zone")
	}
	var scheds schedules
	var err error
	if scheds.cleanup, err = c.Schedule(); err != nil {
		return schedules{}, bad("cleanup-schedule", c.CleanupSchedule, err.Error())
	}
	if c.MaxUploadSize <= 0 {
		return schedules{}, bad("max-upload-size", strconv.FormatInt(c.MaxUploadSize, 10), "it must be positive")
	}
	if len(c.AllowedTypes) == 0 {
		return schedules{}, bad("allowed-types", "", "allow at least one type")
	}
	for _, q := range []struct {
		name string
		v    int64
	}{{"quota-bytes", c.QuotaBytes}, {"quota-files", c.QuotaFiles}, {"min-free-bytes", c.MinFreeBytes}} {
		if q.v < 0 {
			return schedules{}, bad(q.name, strconv.FormatInt(q.v, 10), "it must not be negative")
		}
	}
	if c.MinFreePercent < 0 || c.MinFreePercent > 100 {
		return schedules{}, bad("min-free-percent", strconv.Itoa(c.MinFreePercent), "use a whole percentage from 0 to 100")
	}
	if c.AuditRetention <= 0 {
		return schedules{}, bad("audit-retention", c.AuditRetention.String(), "it must be positive")
	}
	if c.LogFormat != logText && c.LogFormat != logJSON {
		return schedules{}, bad("log-format", c.LogFormat, "use text or json")
	}
	if c.MetricsAddr != "" {
		if err := checkAddr(c.MetricsAddr); err != nil {
			return schedules{}, bad("metrics-addr", c.MetricsAddr, err.Error())
		}
		if sameListener(c.MetricsAddr, c.Addr) {
			return schedules{}, bad("metrics-addr", c.MetricsAddr, "it must differ from addr; leave it empty to serve /metrics on addr")
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		name, value := "tls-cert", c.TLSCert // blame the one that is set
		if c.TLSCert == "" {
			name, value = "tls-key", c.TLSKey
		}
		return schedules{}, bad(name, value, "set both tls-cert and tls-key, or neither")
	}
	if c.TLSCert != "" && len(c.ACMEDomains) > 0 {
		return schedules{}, bad("acme-domain", strings.Join(c.ACMEDomains, ","), "certificates come either from files (tls-cert, tls-key) or from ACME, not both")
	}
	if c.RedirectAddr != "" {
		if !c.HTTPS() {
			return schedules{}, bad("redirect-addr", c.RedirectAddr, "it redirects to HTTPS: set tls-cert and tls-key, or acme-domain")
		}
		if sameListener(c.RedirectAddr, c.Addr) {
			return schedules{}, bad("redirect-addr", c.RedirectAddr, "it must differ from addr")
		}
	}
	if c.AuthFailLimit < 0 {
		return schedules{}, bad("auth-fail-limit", strconv.Itoa(c.AuthFailLimit), "it must not be negative")
	}
	if c.RateLimit < 0 {
		return schedules{}, bad("rate-limit", strconv.FormatFloat(c.RateLimit, 'g', -1, 64), "it must not be negative")
	}
	if c.RateLimit > 0 && c.RateBurst < 1 {
		return schedules{}, bad("rate-burst", strconv.Itoa(c.RateBurst), "allow at least one request at once")
	}
	if c.MaxConcurrentUploads < 0 {
		return schedules{}, bad("max-concurrent-uploads", strconv.Itoa(c.MaxConcurrentUploads), "it must not be negative")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"auth-fail-window", c.AuthFailWindow}, {"auth-ban", c.AuthBan}, {"read-header-timeout", c.ReadHeaderTimeout},
		{"idle-timeout", c.IdleTimeout}, {"upload-stall-timeout", c.UploadStallTimeout}} {
		if d.v <= 0 {
			return schedules{}, bad(d.name, d.v.String(), "it must be positive")
		}
	}
	if c.MaxHeaderBytes < 4<<10 {
		return schedules{}, bad("max-header-bytes", strconv.Itoa(c.MaxHeaderBytes), "allow at least 4KiB")
	}
	if scheds.backup, err = c.BackupScheduleIn(); err != nil {
		return schedules{}, bad("backup-schedule", c.BackupSchedule, err.Error())
	}
	if c.BackupSchedule != scheduleOff && c.BackupDir == "" {
		return schedules{}, bad("backup-schedule", c.BackupSchedule, "scheduled backups need a directory to write to: set backup-dir")
	}
	if c.BackupKeep < 1 {
		return schedules{}, bad("backup-keep", strconv.Itoa(c.BackupKeep), "keep at least one backup")
	}
	return scheds, nil
}

// HTTPS reports whether the server serves HTTPS, from certificate files or
// over ACME.
func (c *Config) HTTPS() bool { return c.TLSCert != "" || len(c.ACMEDomains) > 0 }

// BackupScheduleIn returns the backup schedule in the time zone, or nil if
// it is "off".
func (c *Config) BackupScheduleIn() (*schedule.Schedule, error) {
	return parseSchedule(c.BackupSchedule, c.Timezone, "scheduled backups")
}

// Schedule returns the cleanup schedule in its time zone, or nil if it is
// "off".
func (c *Config) Schedule() (*schedule.Schedule, error) {
	return parseSchedule(c.CleanupSchedule, c.Timezone, "scheduled cleanup")
}

// parseSchedule parses expr in loc (UTC if nil); "off" is nil. Errors say
// what is accepted; what tells what "off" turns off.
func parseSchedule(expr string, loc *time.Location, what string) (*schedule.Schedule, error) {
	if expr == scheduleOff {
		return nil, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	sched, err := schedule.Parse(expr, loc)
	var pe *schedule.ParseError
	if errors.As(err, &pe) {
		// Only why, and what is accepted: the caller names the schedule.
		return nil, fmt.Errorf("%w; %s; or %q for no %s", pe.Err, schedule.Syntax, scheduleOff, what)
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
