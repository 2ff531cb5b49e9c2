package main

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync/filetype"
	"github.com/pmgsync/pmgsync/httpserver"
	"github.com/pmgsync/pmgsync/units"
)

// setting describes one setting: its name (the TOML key and the flag's
// name), how to read it from text and how to print it back.
type setting struct {
	name  string
	usage string // the flag's help, without the default
	set   func(c *Config, s string) error
	get   func(c *Config) string
}

// env is the setting's environment variable: PMGSYNC_ and the name in
// upper case, with '_' for '-'.
func (s *setting) env() string {
	return "PMGSYNC_" + strings.ToUpper(strings.ReplaceAll(s.name, "-", "_"))
}

// settings lists every setting, in the order "pmgsync config" prints them.
var settings = []*setting{
	{
		name:  "addr",
		usage: "`address` to listen on, host:port or :port",
		set: func(c *Config, s string) error {
			if err := checkAddr(s); err != nil {
				return err
			}
			c.Addr = s
			return nil
		},
		get: func(c *Config) string { return c.Addr },
	},
	{
		name:  "data",
		usage: "data `directory`",
		set: func(c *Config, s string) error {
			if strings.TrimSpace(s) == "" {
				return errors.New("the data directory must not be empty")
			}
			c.DataDir = s
			return nil
		},
		get: func(c *Config) string { return c.DataDir },
	},
	{
		name:  "retention",
		usage: "how long files are kept after upload, e.g. 7d, 168h or 30d",
		set: func(c *Config, s string) error {
			d, err := units.ParseDuration(s)
			if err != nil {
				return errors.New("use a positive duration such as 7d, 168h or 30d")
			}
			c.Retention = d
			return nil
		},
		get: func(c *Config) string { return units.FormatDuration(c.Retention) },
	},
	{
		name:  "cleanup-schedule",
		usage: "when expired files are swept: a cron `expression` (\"0 3 * * *\"), \"@every 10m\", or \"off\"",
		set: func(c *Config, s string) error {
			s = strings.TrimSpace(s)
			if s == "" {
				return errors.New(`use a cron expression such as "0 3 * * *", a schedule such as "@every 10m", or "off"`)
			}
			c.CleanupSchedule = s // checked in Validate, with the time zone
			return nil
		},
		get: func(c *Config) string { return c.CleanupSchedule },
	},
	{
		name:  "timezone",
		usage: "IANA time `zone` the cleanup schedule is read in",
		set: func(c *Config, s string) error {
			loc, err := time.LoadLocation(s)
			if err != nil || s == "" {
				return errors.New("use an IANA time zone name such as America/Sao_Paulo, America/Manaus or UTC")
			}
			c.Timezone = loc
			return nil
		},
		get: func(c *Config) string { return c.Timezone.String() },
	},
	{
		name:  "max-upload-size",
		usage: "largest file accepted, e.g. 50MiB or 100MB",
		set: func(c *Config, s string) error {
			n, err := units.ParseSize(s)
			if err != nil || n == 0 {
				return errors.New("use a positive size such as 50MiB, 100MB or 52428800")
			}
			c.MaxUploadSize = n
			return nil
		},
		get: func(c *Config) string { return formatSize(c.MaxUploadSize) },
	},
	{
		name:  "allowed-types",
		usage: "file types accepted, as a comma-separated `list` of " + filetype.Join(filetype.Known()),
		set: func(c *Config, s string) error {
			types, err := filetype.ParseList(s)
			if err != nil {
				return err
			}
			c.AllowedTypes = types
			return nil
		},
		get: func(c *Config) string { return strings.Join(c.AllowedTypes, ",") },
	},
	{
		name:  "quota-bytes",
		usage: "bytes each technician may store, e.g. 2GiB; 0 or unlimited for no limit",
		set: func(c *Config, s string) error {
			n, err := parseQuotaSize(s)
			if err != nil {
				return err
			}
			c.QuotaBytes = n
			return nil
		},
		get: func(c *Config) string { return formatQuota(c.QuotaBytes, formatSize) },
	},
	{
		name:  "quota-files",
		usage: "files each technician may store; 0 or unlimited for no limit",
		set: func(c *Config, s string) error {
			n, err := parseQuotaCount(s)
			if err != nil {
				return err
			}
			c.QuotaFiles = n
			return nil
		},
		get: func(c *Config) string { return formatQuota(c.QuotaFiles, formatCount) },
	},
	{
		name:  "min-free-bytes",
		usage: "uploads are refused when the data volume would have less free space than this, e.g. 1GiB; 0 turns the guard off",
		set: func(c *Config, s string) error {
			n, err := units.ParseSize(s)
			if err != nil {
				return errors.New("use a size such as 1GiB, 500MB or 0")
			}
			c.MinFreeBytes = n
			return nil
		},
		get: func(c *Config) string { return formatSize(c.MinFreeBytes) },
	},
	{
		name:  "min-free-percent",
		usage: "uploads are refused when the data volume would have less than this whole `percent` of its size free; 0 turns the guard off",
		set: func(c *Config, s string) error {
			p, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "%"))
			if err != nil || p < 0 || p > 100 {
				return errors.New("use a whole percentage from 0 to 100, such as 5")
			}
			c.MinFreePercent = p
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(c.MinFreePercent) },
	},
	{
		name:  "audit-retention",
		usage: "how long audit records are kept, e.g. 400d or 730d",
		set: func(c *Config, s string) error {
			d, err := units.ParseDuration(s)
			if err != nil {
				return errors.New("use a positive duration such as 400d or 730d")
			}
			c.AuditRetention = d
			return nil
		},
		get: func(c *Config) string { return units.FormatDuration(c.AuditRetention) },
	},
	{
		name:  "log-format",
		usage: "`format` of the log on standard error: text (key=value) or json",
		set: func(c *Config, s string) error {
			s = strings.ToLower(strings.TrimSpace(s))
			if s != logText && s != logJSON {
				return errors.New("use text or json")
			}
			c.LogFormat = s
			return nil
		},
		get: func(c *Config) string { return c.LogFormat },
	},
	{
		name:  "log-level",
		usage: "least severe `level` logged: debug, info, warn or error",
		set: func(c *Config, s string) error {
			l, ok := logLevels[strings.ToLower(strings.TrimSpace(s))]
			if !ok {
				return errors.New("use debug, info, warn or error")
			}
			c.LogLevel = l
			return nil
		},
		get: func(c *Config) string { return strings.ToLower(c.LogLevel.String()) },
	},
	{
		name: "trusted-proxies",
		usage: "reverse proxies whose X-Forwarded-For, Forwarded and X-Request-Id are believed: a comma-separated `list` " +
			"of addresses and CIDR prefixes such as 127.0.0.1,10.0.0.0/8; empty for none",
		set: func(c *Config, s string) error {
			p, err := httpserver.ParseTrustedProxies(s)
			if err != nil {
				return err
			}
			c.TrustedProxies = p
			return nil
		},
		get: func(c *Config) string { return httpserver.FormatTrustedProxies(c.TrustedProxies) },
	},
	{
		name:  "metrics-addr",
		usage: "`address` of a listener of its own for /metrics, host:port; empty to serve /metrics on --addr",
		set: func(c *Config, s string) error {
			s = strings.TrimSpace(s)
			if s != "" {
				if err := checkAddr(s); err != nil {
					return err
				}
			}
			c.MetricsAddr = s
			return nil
		},
		get: func(c *Config) string { return c.MetricsAddr },
	},
	pathSetting("tls-cert", "PEM `file` of the HTTPS certificate chain, reloaded when it changes or on SIGHUP; empty for none",
		func(c *Config) *string { return &c.TLSCert }),
	pathSetting("tls-key", "PEM `file` of the HTTPS certificate's private key", func(c *Config) *string { return &c.TLSKey }),
	{
		name:  "acme-domain",
		usage: "host `names` to obtain HTTPS certificates for over ACME, comma-separated; empty for none",
		set: func(c *Config, s string) error {
			d, err := parseDomains(s)
			if err != nil {
				return err
			}
			c.ACMEDomains = d
			return nil
		},
		get: func(c *Config) string { return strings.Join(c.ACMEDomains, ",") },
	},
	{
		name:  "acme-email",
		usage: "contact `address` given to the ACME certificate authority (optional)",
		set: func(c *Config, s string) error {
			s = strings.TrimSpace(s)
			if s != "" && (!strings.Contains(s, "@") || strings.ContainsAny(s, " ,<>")) {
				return errors.New("use an e-mail address such as ti@example.com, or nothing")
			}
			c.ACMEEmail = s
			return nil
		},
		get: func(c *Config) string { return c.ACMEEmail },
	},
	{
		name:  "acme-directory",
		usage: "`URL` of the ACME certificate authority's directory",
		set: func(c *Config, s string) error {
			u, err := url.Parse(strings.TrimSpace(s))
			if err != nil || u.Scheme != "https" || u.Host == "" {
				return errors.New("use the https:// URL of an ACME directory, such as " + DefaultACMEDirectory)
			}
			c.ACMEDirectory = u.String()
			return nil
		},
		get: func(c *Config) string { return c.ACMEDirectory },
	},
	{
		name:  "redirect-addr",
		usage: "`address` of a plain-HTTP listener that redirects to HTTPS and answers ACME HTTP-01 challenges, such as :80; empty for none",
		set: func(c *Config, s string) error {
			s = strings.TrimSpace(s)
			if s != "" {
				if err := checkAddr(s); err != nil {
					return err
				}
			}
			c.RedirectAddr = s
			return nil
		},
		get: func(c *Config) string { return c.RedirectAddr },
	},
	{
		name:  "cors-origins",
		usage: "web `origins` whose pages may call the API from a browser, comma-separated, such as https://office.example.com; empty for none",
		set: func(c *Config, s string) error {
			o, err := parseOrigins(s)
			if err != nil {
				return err
			}
			c.CORSOrigins = o
			return nil
		},
		get: func(c *Config) string { return strings.Join(c.CORSOrigins, ",") },
	},
	intSetting("auth-fail-limit", "failed authentications from one client address, within auth-fail-window, that get it refused for auth-ban; 0 turns the throttle off",
		0, func(c *Config) *int { return &c.AuthFailLimit }),
	durationSetting("auth-fail-window", "how long a failed authentication counts, e.g. 10m", func(c *Config) *time.Duration { return &c.AuthFailWindow }),
	durationSetting("auth-ban", "how long a client address past auth-fail-limit is refused, e.g. 15m", func(c *Config) *time.Duration { return &c.AuthBan }),
	{
		name:  "rate-limit",
		usage: "requests a second each token may make on average; 0 turns the limit off",
		set: func(c *Config, s string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
				return errors.New("use a number of requests a second such as 50, or 0")
			}
			c.RateLimit = f
			return nil
		},
		get: func(c *Config) string { return strconv.FormatFloat(c.RateLimit, 'g', -1, 64) },
	},
	intSetting("rate-burst", "requests each token may make at once, above rate-limit", 1, func(c *Config) *int { return &c.RateBurst }),
	intSetting("max-concurrent-uploads", "uploads of one technician in flight at once; 0 for no bound", 0,
		func(c *Config) *int { return &c.MaxConcurrentUploads }),
	durationSetting("read-header-timeout", "how long a client may take to send a request's headers, e.g. 10s",
		func(c *Config) *time.Duration { return &c.ReadHeaderTimeout }),
	durationSetting("idle-timeout", "how long an idle kept-alive connection is kept open, e.g. 2m",
		func(c *Config) *time.Duration { return &c.IdleTimeout }),
	{
		name:  "max-header-bytes",
		usage: "largest request headers accepted, e.g. 64KiB",
		set: func(c *Config, s string) error {
			n, err := units.ParseSize(s)
			if err != nil || n < 4<<10 || n > 1<<30 {
				return errors.New("use a size from 4KiB to 1GiB, such as 64KiB")
			}
			c.MaxHeaderBytes = int(n)
			return nil
		},
		get: func(c *Config) string { return formatSize(int64(c.MaxHeaderBytes)) },
	},
	durationSetting("upload-stall-timeout", "an upload whose body makes no progress for this long is cut off, e.g. 60s",
		func(c *Config) *time.Duration { return &c.UploadStallTimeout }),
	{
		name:  "backup-schedule",
		usage: "when the scheduled backup runs, in timezone: a cron `expression` (\"30 2 * * *\"), \"@every 6h\", or \"off\"",
		set: func(c *Config, s string) error {
			s = strings.TrimSpace(s)
			if s == "" {
				return errors.New(`use a cron expression such as "30 2 * * *", a schedule such as "@every 6h", or "off"`)
			}
			c.BackupSchedule = s // checked in Validate, with the time zone
			return nil
		},
		get: func(c *Config) string { return c.BackupSchedule },
	},
	pathSetting("backup-dir", "`directory` the scheduled backups are written to, best on another disk", func(c *Config) *string { return &c.BackupDir }),
	intSetting("backup-keep", "how many scheduled backups are kept; older ones are removed", 1, func(c *Config) *int { return &c.BackupKeep }),
}

// pathSetting is a setting holding a file or directory path; empty is none.
func pathSetting(name, usage string, field func(c *Config) *string) *setting {
	return &setting{
		name:  name,
		usage: usage,
		set: func(c *Config, s string) error {
			*field(c) = strings.TrimSpace(s)
			return nil
		},
		get: func(c *Config) string { return *field(c) },
	}
}

// intSetting is a setting holding a whole number no less than least.
func intSetting(name, usage string, least int, field func(c *Config) *int) *setting {
	return &setting{
		name:  name,
		usage: usage,
		set: func(c *Config, s string) error {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < least {
				return fmt.Errorf("use a whole number no less than %d", least)
			}
			*field(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
	}
}

// durationSetting is a setting holding a positive duration.
func durationSetting(name, usage string, field func(c *Config) *time.Duration) *setting {
	return &setting{
		name:  name,
		usage: usage,
		set: func(c *Config, s string) error {
			d, err := units.ParseDuration(s)
			if err != nil {
				return errors.New("use a positive duration such as 30s, 10m or 1h")
			}
			*field(c) = d
			return nil
		},
		get: func(c *Config) string { return units.FormatDuration(*field(c)) },
	}
}

// parseDomains parses a comma-separated list of host names, lower-cased.
func parseDomains(s string) ([]string, error) {
	var domains []string
	for d := range strings.SplitSeq(s, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if !validDomain(d) {
			return nil, fmt.Errorf("%q is not a host name such as pmg.example.com", d)
		}
		domains = append(domains, d)
	}
	return domains, nil
}

// validDomain reports whether d is a DNS host name with at least two
// labels, as certificate authorities require.
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(d) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !('a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// parseOrigins parses a comma-separated list of web origins
// (scheme://host[:port], nothing after) into their canonical lower-case
// form, as browsers send them in the Origin header.
func parseOrigins(s string) ([]string, error) {
	var origins []string
	for o := range strings.SplitSeq(s, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
			u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%q is not a web origin such as https://office.example.com", o)
		}
		origins = append(origins, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return origins, nil
}

// The log formats.
const (
	logText = "text"
	logJSON = "json"
)

// logLevels are the log levels by name.
var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug,
	"info":  slog.LevelInfo,
	"warn":  slog.LevelWarn,
	"error": slog.LevelError,
}

// settingNamed returns the setting called name, or nil.
func settingNamed(name string) *setting {
	for _, s := range settings {
		if s.name == name {
			return s
		}
	}
	return nil
}

// settingNames returns the names of every setting.
func settingNames() []string {
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = s.name
	}
	return names
}

func checkAddr(addr string) error {
	bad := errors.New("use host:port or :port, such as :10000 or 127.0.0.1:8080")
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return bad
	}
	return nil
}

// unlimited is how quotas without a limit are written.
const unlimited = "unlimited"

// What a quota of bytes or of files looks like, for error messages.
const (
	quotaSizeExample  = "a size such as 2GiB or 500MB"
	quotaCountExample = "a whole number of files such as 500"
)

// parseQuotaSize parses a global byte quota: a size, or "unlimited" (0).
func parseQuotaSize(s string) (int64, error) {
	if strings.EqualFold(strings.TrimSpace(s), unlimited) {
		return 0, nil
	}
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("use %s, or unlimited", quotaSizeExample)
	}
	return n, nil
}

// parseQuotaCount parses a global file quota: a whole number, or
// "unlimited" (0).
func parseQuotaCount(s string) (int64, error) {
	if strings.EqualFold(strings.TrimSpace(s), unlimited) {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("use %s, or unlimited", quotaCountExample)
	}
	return n, nil
}

// formatQuota prints a quota, 0 as unlimited.
func formatQuota(n int64, format func(int64) string) string {
	if n == 0 {
		return unlimited
	}
	return format(n)
}

func formatCount(n int64) string { return strconv.FormatInt(n, 10) }

// formatSize prints n bytes exactly, in the largest binary unit that
// divides it ("50MiB", "1GiB", "1536KiB"), so that the text parses back to
// the same number; units.FormatSize rounds, for display.
func formatSize(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
