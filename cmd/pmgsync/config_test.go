package main

import (
	"errors"
	"flag"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// loadTest resolves the settings as a command with every setting flag
// would, from the command line args, the environment env and, if file is
// not "", a config file with that content given as --config.
func loadTest(t *testing.T, file string, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := defineConfigFlags(fs)
	if file != "" {
		path := writeFile(t, t.TempDir(), "pmgsync.toml", file)
		args = append([]string{"--config", path}, args...)
	}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cf.load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := loadTest(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"addr":             ":10000",
		"data":             "./data",
		"retention":        "7d",
		"cleanup-schedule": "0 3 * * *",
		"timezone":         "America/Sao_Paulo",
		"max-upload-size":  "50MiB",
		"allowed-types":    "xlsx,xlsm,xls,csv",
		"quota-bytes":      "unlimited",
		"quota-files":      "unlimited",
		"min-free-bytes":   "1GiB",
		"min-free-percent": "5",
		"audit-retention":  "400d",
		"log-format":       "text",
		"log-level":        "info",
		"trusted-proxies":  "",
		"metrics-addr":     "",

		"tls-cert":               "",
		"tls-key":                "",
		"acme-domain":            "",
		"acme-email":             "",
		"acme-directory":         "https://acme-v02.api.letsencrypt.org/directory",
		"redirect-addr":          "",
		"cors-origins":           "",
		"auth-fail-limit":        "20",
		"auth-fail-window":       "10m",
		"auth-ban":               "15m",
		"rate-limit":             "50",
		"rate-burst":             "100",
		"max-concurrent-uploads": "16",
		"read-header-timeout":    "10s",
		"idle-timeout":           "2m",
		"max-header-bytes":       "64KiB",
		"upload-stall-timeout":   "1m",
		"backup-schedule":        "off",
		"backup-dir":             "",
		"backup-keep":            "7",
	}
	for _, s := range settings {
		if got := s.get(&cfg); got != want[s.name] {
			t.Errorf("default %s = %q, want %q", s.name, got, want[s.name])
		}
		if got := cfg.Source(s.name); got != "default" {
			t.Errorf("source of %s = %q, want default", s.name, got)
		}
	}
	if len(want) != len(settings) {
		t.Errorf("%d settings, %d checked", len(settings), len(want))
	}
	opts := cfg.EngineOptions()
	if opts.Retention != 7*24*time.Hour || opts.MaxUploadSize != 50<<20 || opts.MinFreeBytes != 1<<30 ||
		opts.MinFreePercent != 5 || opts.QuotaBytes != 0 || opts.QuotaFiles != 0 ||
		!slices.Equal(opts.AllowedTypes, []string{"xlsx", "xlsm", "xls", "csv"}) {
		t.Errorf("engine options %+v", opts)
	}
}

func TestConfigPrecedence(t *testing.T) {
	const file = `
addr = "127.0.0.1:7000"
retention = "10d"
max-upload-size = "10MiB"
quota-files = 100
`
	env := map[string]string{
		"PMGSYNC_RETENTION":       "20d",
		"PMGSYNC_MAX_UPLOAD_SIZE": "20MiB",
		"PMGSYNC_DATA":            "/srv/env",
		"PMGSYNC_QUOTA_BYTES":     "", // empty: unset
	}
	tests := []struct {
		name, file string
		env        map[string]string
		args       []string
		want       map[string][2]string // setting → value, source
	}{
		{"defaults", "", nil, nil, map[string][2]string{
			"addr": {":10000", "default"}, "retention": {"7d", "default"}, "max-upload-size": {"50MiB", "default"},
		}},
		{"file over default", file, nil, nil, map[string][2]string{
			"addr": {"127.0.0.1:7000", "FILE"}, "retention": {"10d", "FILE"}, "quota-files": {"100", "FILE"},
			"data": {"./data", "default"},
		}},
		{"environment over file", file, env, nil, map[string][2]string{
			"addr": {"127.0.0.1:7000", "FILE"}, "retention": {"20d", "PMGSYNC_RETENTION"},
			"max-upload-size": {"20MiB", "PMGSYNC_MAX_UPLOAD_SIZE"}, "data": {"/srv/env", "PMGSYNC_DATA"},
			"quota-bytes": {"unlimited", "default"},
		}},
		{"flag over environment", file, env, []string{"--retention", "30d", "--data", "/tmp/flag", "--timezone", "UTC"}, map[string][2]string{
			"retention": {"30d", "--retention"}, "data": {"/tmp/flag", "--data"},
			"max-upload-size": {"20MiB", "PMGSYNC_MAX_UPLOAD_SIZE"}, "timezone": {"UTC", "--timezone"},
			"quota-files": {"100", "FILE"},
		}},
		{"config file from the environment", "", map[string]string{"PMGSYNC_CONFIG": "ENVFILE"}, nil, map[string][2]string{
			"retention": {"3d", "ENVFILE"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			envFile := writeFile(t, t.TempDir(), "env.toml", `retention = "3d"`)
			env := make(map[string]string)
			for k, v := range tt.env {
				env[k] = strings.ReplaceAll(v, "ENVFILE", envFile)
			}
			cfg, err := loadTest(t, tt.file, env, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				s := settingNamed(name)
				gotSource := cfg.Source(name)
				switch want[1] {
				case "FILE":
					want[1] = cfg.File
				case "ENVFILE":
					want[1] = envFile
				}
				if got := s.get(&cfg); got != want[0] || gotSource != want[1] {
					t.Errorf("%s = %q from %q; want %q from %q", name, got, gotSource, want[0], want[1])
				}
			}
		})
	}

	t.Run("--config wins over PMGSYNC_CONFIG", func(t *testing.T) {
		envFile := writeFile(t, t.TempDir(), "env.toml", `retention = "3d"`)
		cfg, err := loadTest(t, `retention = "4d"`, map[string]string{"PMGSYNC_CONFIG": envFile})
		if err != nil || cfg.Retention != 4*24*time.Hour {
			t.Errorf("retention %v, %v; want 4d from --config", cfg.Retention, err)
		}
		cfg, err = loadTest(t, "", map[string]string{"PMGSYNC_CONFIG": envFile}, "--config", "")
		if err != nil || cfg.Retention != 7*24*time.Hour || cfg.File != "" {
			t.Errorf(`--config "": retention %v from %q, %v; want the default and no file`, cfg.Retention, cfg.File, err)
		}
	})
}

// TestConfigValues checks the parsing of every setting, from each source.
func TestConfigValues(t *testing.T) {
	tests := []struct {
		name, in, want string // want: the setting's value as config prints it
	}{
		{"addr", "127.0.0.1:0", "127.0.0.1:0"},
		{"addr", "[::1]:8080", "[::1]:8080"},
		{"data", "/var/lib/pmgsync", "/var/lib/pmgsync"},
		{"retention", "7d", "7d"},
		{"retention", "168h", "7d"},
		{"retention", "36h", "36h"},
		{"retention", "1d12h", "36h"},
		{"retention", "90m", "90m"},
		{"cleanup-schedule", "30 2 * * 1-5", "30 2 * * 1-5"},
		{"cleanup-schedule", "@every 10m", "@every 10m"},
		{"cleanup-schedule", "@daily", "@daily"},
		{"cleanup-schedule", "off", "off"},
		{"timezone", "UTC", "UTC"},
		{"timezone", "America/Manaus", "America/Manaus"},
		{"max-upload-size", "50MiB", "50MiB"},
		{"max-upload-size", "100MB", "100000000"},
		{"max-upload-size", "1g", "1GiB"},
		{"max-upload-size", "1536KiB", "1536KiB"},
		{"max-upload-size", "52428800", "50MiB"},
		{"allowed-types", "xlsx", "xlsx"},
		{"allowed-types", " .XLSX, csv,,xlsx ", "xlsx,csv"},
		{"quota-bytes", "2GiB", "2GiB"},
		{"quota-bytes", "0", "unlimited"},
		{"quota-bytes", "unlimited", "unlimited"},
		{"quota-files", "500", "500"},
		{"quota-files", "Unlimited", "unlimited"},
		{"min-free-bytes", "0", "0"},
		{"min-free-bytes", "500MiB", "500MiB"},
		{"min-free-percent", "2", "2"},
		{"min-free-percent", "10%", "10"},
		{"min-free-percent", "0", "0"},
		{"audit-retention", "400d", "400d"},
		{"audit-retention", "730d", "730d"},
		{"log-format", "json", "json"},
		{"log-format", "TEXT", "text"},
		{"log-level", "debug", "debug"},
		{"log-level", "Warn", "warn"},
		{"log-level", "error", "error"},
		{"trusted-proxies", "127.0.0.1", "127.0.0.1"},
		{"trusted-proxies", " 10.0.0.7/8, ::1 ,192.168.1.0/24", "10.0.0.0/8,::1,192.168.1.0/24"},
		{"trusted-proxies", "::ffff:10.1.2.3", "10.1.2.3"},
		{"metrics-addr", "127.0.0.1:10001", "127.0.0.1:10001"},
		{"metrics-addr", "127.0.0.1:0", "127.0.0.1:0"},
	}
	for _, tt := range tests {
		s := settingNamed(tt.name)
		flagCfg, err := loadTest(t, "", nil, "--"+tt.name, tt.in)
		if err != nil {
			t.Errorf("--%s %q: %v", tt.name, tt.in, err)
			continue
		}
		if got := s.get(&flagCfg); got != tt.want {
			t.Errorf("--%s %q: %q, want %q", tt.name, tt.in, got, tt.want)
		}
		envCfg, err := loadTest(t, "", map[string]string{s.env(): tt.in})
		if err != nil || s.get(&envCfg) != tt.want {
			t.Errorf("%s=%q: %q, %v; want %q", s.env(), tt.in, s.get(&envCfg), err, tt.want)
		}
		fileCfg, err := loadTest(t, tt.name+" = "+tomlString(tt.in), nil)
		if err != nil || s.get(&fileCfg) != tt.want {
			t.Errorf("file %s = %q: %q, %v; want %q", tt.name, tt.in, s.get(&fileCfg), err, tt.want)
		}
		// What config prints reads back as the same value.
		again, err := loadTest(t, "", nil, "--"+tt.name, tt.want)
		if err != nil || s.get(&again) != tt.want {
			t.Errorf("--%s %q (as printed): %q, %v", tt.name, tt.want, s.get(&again), err)
		}
	}

	t.Run("TOML numbers and arrays", func(t *testing.T) {
		cfg, err := loadTest(t, "quota-files = 500\nmin-free-percent = 2\nmax-upload-size = 1048576\nallowed-types = [\"xlsx\", \"CSV\"]\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.QuotaFiles != 500 || cfg.MinFreePercent != 2 || cfg.MaxUploadSize != 1<<20 || !slices.Equal(cfg.AllowedTypes, []string{"xlsx", "csv"}) {
			t.Errorf("got %d, %v, %d, %q", cfg.QuotaFiles, cfg.MinFreePercent, cfg.MaxUploadSize, cfg.AllowedTypes)
		}
	})
}

// TestConfigInvalid checks that every bad value is refused with a message
// naming the setting, the value and where it came from.
func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name, in string
		reason   string // a substring of the reason
	}{
		{"addr", "10000", "use host:port"},
		{"addr", ":65536", "use host:port"},
		{"data", " ", "must not be empty"},
		{"retention", "7x", "use a positive duration such as 7d"},
		{"retention", "0d", "positive duration"},
		{"retention", "-1h", "positive duration"},
		{"cleanup-schedule", "every night", `five cron fields`},
		{"cleanup-schedule", "61 3 * * *", `or "off" for no scheduled cleanup`},
		{"cleanup-schedule", "@every -1m", "at least 1s"},
		{"timezone", "Mars/Olympus", "IANA time zone"},
		{"max-upload-size", "50 parsecs", "positive size"},
		{"max-upload-size", "0", "positive size"},
		{"max-upload-size", "-1MiB", "positive size"},
		{"allowed-types", "xlsx,pdf", `unknown file type "pdf"`},
		{"allowed-types", ",", "no file type"},
		{"quota-bytes", "lots", "use a size such as 2GiB"},
		{"quota-files", "1.5", "whole number"},
		{"quota-files", "-3", "whole number"},
		{"min-free-bytes", "1 bucket", "use a size"},
		{"min-free-percent", "101", "from 0 to 100"},
		{"min-free-percent", "-1", "from 0 to 100"},
		{"min-free-percent", "2.5", "whole percentage"},
		{"audit-retention", "0d", "positive duration"},
		{"audit-retention", "forever", "positive duration"},
		{"log-format", "xml", "use text or json"},
		{"log-level", "verbose", "use debug, info, warn or error"},
		{"log-level", "info+2", "use debug, info, warn or error"},
		{"trusted-proxies", "10.0.0.0/33", "neither an IP address nor a CIDR prefix"},
		{"trusted-proxies", "proxy.example.com", `"proxy.example.com" is neither`},
		{"metrics-addr", "10001", "use host:port"},
		{"metrics-addr", ":10000", "it must differ from addr"},
		{"tls-cert", "/etc/pmgsync/cert.pem", "set both tls-cert and tls-key"},
		{"tls-key", "/etc/pmgsync/key.pem", "set both tls-cert and tls-key"},
		{"acme-domain", "localhost", `"localhost" is not a host name`},
		{"acme-domain", "pmg.example.com,-bad.example.com", `"-bad.example.com" is not a host name`},
		{"acme-email", "ti at example.com", "use an e-mail address"},
		{"acme-directory", "http://acme.example.com/dir", "use the https:// URL"},
		{"redirect-addr", "80", "use host:port"},
		{"redirect-addr", ":80", "it redirects to HTTPS"},
		{"cors-origins", "office.example.com", `"office.example.com" is not a web origin`},
		{"cors-origins", "https://office.example.com/app", "is not a web origin"},
		{"auth-fail-limit", "-1", "no less than 0"},
		{"auth-fail-window", "0s", "positive duration"},
		{"auth-ban", "forever", "positive duration"},
		{"rate-limit", "-5", "use a number of requests a second"},
		{"rate-limit", "fast", "use a number of requests a second"},
		{"rate-burst", "0", "no less than 1"},
		{"max-concurrent-uploads", "many", "whole number"},
		{"read-header-timeout", "0", "positive duration"},
		{"idle-timeout", "-1s", "positive duration"},
		{"max-header-bytes", "1KiB", "from 4KiB to 1GiB"},
		{"upload-stall-timeout", "never", "positive duration"},
		{"backup-schedule", "0 25 * * *", "scheduled backups"},
		{"backup-schedule", "@daily", "scheduled backups need a directory"},
		{"backup-keep", "0", "no less than 1"},
	}
	for _, tt := range tests {
		s := settingNamed(tt.name)
		for _, src := range []string{"flag", "env", "file"} {
			var err error
			var source string
			switch src {
			case "flag":
				_, err = loadTest(t, "", nil, "--"+tt.name, tt.in)
				source = "--" + tt.name
			case "env":
				_, err = loadTest(t, "", map[string]string{s.env(): tt.in})
				source = s.env()
			case "file":
				var cfg Config
				cfg, err = loadTest(t, tt.name+" = "+tomlString(tt.in), nil)
				source = cfg.File
			}
			prefix := "invalid " + tt.name + " " + tomlString(tt.in) + " (from " + source + "): "
			if err == nil || !strings.HasPrefix(err.Error(), prefix) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("%s %s %q: error %v; want %q…%q", src, tt.name, tt.in, err, prefix, tt.reason)
			}
		}
	}

	// A schedule is checked with the time zone; a bad one found by
	// Validate still names its source.
	_, err := loadTest(t, "", map[string]string{"PMGSYNC_CLEANUP_SCHEDULE": "0 25 * * *"}, "--timezone", "UTC")
	if err == nil || !strings.HasPrefix(err.Error(), `invalid cleanup-schedule "0 25 * * *" (from PMGSYNC_CLEANUP_SCHEDULE): `) ||
		strings.Count(err.Error(), `"0 25 * * *"`) != 1 {
		t.Errorf("bad schedule from the environment: %v; want it named once", err)
	}
	// TOML values of the wrong kind.
	for _, in := range []string{"quota-files = true", "retention = 2026-01-01", "allowed-types = [1, 2]", "addr = { host = \"x\" }"} {
		if _, err := loadTest(t, in, nil); err == nil || !strings.Contains(err.Error(), "use a string or a number") {
			t.Errorf("file %q: %v", in, err)
		}
	}
}

func TestConfigFileErrors(t *testing.T) {
	tests := []struct {
		file string
		want string // a substring of the error
	}{
		{"retension = \"7d\"\n", `unknown setting "retension" in config file`},
		{"retension = \"7d\"\n", "the settings are addr, data, retention, cleanup-schedule"},
		{"max_upload_size = \"1MiB\"\n", `unknown setting "max_upload_size" in config file`},
		{"max_upload_size = \"1MiB\"\n", `did you mean "max-upload-size"?`},
		{"PMGSYNC_RETENTION = \"1d\"\n", `did you mean "retention"?`},
		{"[server]\naddr = \":80\"\n", `unknown setting "server"`},
		{"config = \"other.toml\"\n", `unknown setting "config"`},
		{"retention = \"7d\"\nretention = \"8d\"\n", "retention"}, // TOML forbids a key twice
		{"retention = 7d\n", "config file"},                       // not TOML
	}
	for _, tt := range tests {
		_, err := loadTest(t, tt.file, nil)
		var cerr *configError
		var serr *settingError
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("file %q: error %v, want one with %q", tt.file, err, tt.want)
		} else if !errors.As(err, &cerr) && !errors.As(err, &serr) {
			t.Errorf("file %q: error %T, want a configError", tt.file, err)
		}
	}

	missing := filepath.Join(t.TempDir(), "nope.toml")
	_, err := loadTest(t, "", map[string]string{"PMGSYNC_CONFIG": missing})
	if want := "config file " + missing + " (from PMGSYNC_CONFIG) does not exist"; err == nil || err.Error() != want {
		t.Errorf("missing file: %v, want %q", err, want)
	}
}

// TestConfigCommand checks "pmgsync config": every setting on a line with
// its value and source, as TOML that reads back to the same settings.
func TestConfigCommand(t *testing.T) {
	path := writeFile(t, t.TempDir(), "pmgsync.toml", "retention = \"30d\"\nallowed-types = [\"xlsx\", \"csv\"]\n")
	env := map[string]string{"PMGSYNC_CONFIG": path, "PMGSYNC_MAX_UPLOAD_SIZE": "10MiB", "PMGSYNC_DATA": `/srv/"quoted"\dir`}
	stdout, stderr, code := runWithEnv(env, "config", "--quota-files", "500", "--data", "/srv/flag")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	want := map[string]string{
		"addr":             `":10000"  # default`,
		"data":             `"/srv/flag"  # --data`,
		"retention":        `"30d"  # ` + path,
		"allowed-types":    `"xlsx,csv"  # ` + path,
		"max-upload-size":  `"10MiB"  # PMGSYNC_MAX_UPLOAD_SIZE`,
		"quota-files":      `"500"  # --quota-files`,
		"timezone":         `"America/Sao_Paulo"  # default`,
		"cleanup-schedule": `"0 3 * * *"  # default`,
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if !strings.Contains(stdout, "# config file: "+path+" (from PMGSYNC_CONFIG)\n") {
		t.Errorf("output does not name the config file:\n%s", stdout)
	}
	seen := 0
	for _, line := range lines {
		if strings.HasPrefix(line, "#") {
			continue
		}
		seen++
		name, rest, _ := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		rest = strings.Join(strings.Fields(rest), " ")
		rest = strings.Replace(rest, " # ", "  # ", 1)
		if w, ok := want[name]; ok && rest != w {
			t.Errorf("line of %s: %q, want %q", name, rest, w)
		}
	}
	if seen != len(settings) {
		t.Errorf("%d setting lines, want %d:\n%s", seen, len(settings), stdout)
	}

	// The output is a config file giving the same settings.
	var raw map[string]any
	if _, err := toml.Decode(stdout, &raw); err != nil {
		t.Fatalf("output is not TOML: %v\n%s", err, stdout)
	}
	again := writeFile(t, t.TempDir(), "again.toml", stdout)
	stdout2, stderr, code := runWithEnv(nil, "config", "--config", again, "--data", "/srv/flag")
	if code != 0 {
		t.Fatalf("config from its own output: exit %d, %s", code, stderr)
	}
	values := func(out string) []string {
		var v []string
		for line := range strings.Lines(out) {
			if !strings.HasPrefix(line, "#") {
				before, _, _ := strings.Cut(line, "#")
				v = append(v, strings.Join(strings.Fields(before), " "))
			}
		}
		return v
	}
	if got, want := values(stdout2), values(stdout); !slices.Equal(got, want) {
		t.Errorf("config read back from its output:\n%s\nwant the values of\n%s", stdout2, stdout)
	}

	// A bad value stops it with exit status 2, naming the setting.
	_, stderr, code = runWithEnv(map[string]string{"PMGSYNC_RETENTION": "7x"}, "config")
	if want := "pmgsync: invalid retention \"7x\" (from PMGSYNC_RETENTION): use a positive duration such as 7d, 168h or 30d\n"; code != 2 || stderr != want {
		t.Errorf("bad retention: exit %d, stderr %q; want 2, %q", code, stderr, want)
	}
}

func TestConfigPaths(t *testing.T) {
	cfg := Config{DataDir: "/var/lib/pmgsync"}
	if got, want := cfg.DatabasePath(), filepath.FromSlash("/var/lib/pmgsync/pmgsync.db"); got != want {
		t.Errorf("DatabasePath %q, want %q", got, want)
	}
	if got, want := cfg.BlobDir(), filepath.FromSlash("/var/lib/pmgsync/blobs"); got != want {
		t.Errorf("BlobDir %q, want %q", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, change := range []func(*Config){
		func(c *Config) { c.DataDir = "" },
		func(c *Config) { c.Addr = "localhost" },
		func(c *Config) { c.Retention = 0 },
		func(c *Config) { c.Timezone = nil },
		func(c *Config) { c.CleanupSchedule = "bogus" },
		func(c *Config) { c.MaxUploadSize = 0 },
		func(c *Config) { c.AllowedTypes = nil },
		func(c *Config) { c.QuotaBytes = -1 },
		func(c *Config) { c.MinFreePercent = 200 },
	} {
		cfg := DefaultConfig()
		change(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", cfg)
		}
	}
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate refused the defaults: %v", err)
	}
}
