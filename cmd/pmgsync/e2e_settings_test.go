package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigFileLimits runs the server on a config file that sets the data
// directory, a size limit and the allowed types, and checks that uploads
// are held to them over HTTP, and that the admin commands find the same
// data directory through the file.
func TestConfigFileLimits(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "dados")
	conf := writeFile(t, dir, "pmgsync.toml", `# limits of the test
data = "`+data+`"
max-upload-size = "64KiB"
allowed-types = ["csv"]
`)
	r := runBin(t, cleanEnv("PMGSYNC_CONFIG="+conf), "token", "create", "--technician", "maria")
	if r.code != 0 {
		t.Fatalf("token create with PMGSYNC_CONFIG: exit %d, %s", r.code, r.stderr)
	}
	tok := strings.TrimSpace(r.stdout)
	if _, err := os.Stat(filepath.Join(data, "pmgsync.db")); err != nil {
		t.Fatalf("token create did not use the file's data directory: %v", err)
	}

	out := runBin(t, cleanEnv(), "config", "--config", conf).stdout
	for _, want := range []string{`(?m)^max-upload-size += "64KiB"`, `(?m)^allowed-types += "csv"`, regexp.QuoteMeta("# " + conf)} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("pmgsync config lacks %q:\n%s", want, out)
		}
	}

	s := startServerWith(t, "", cleanEnv(), "--config", conf)
	if line, _ := s.log.waitFor("msg=configuration", s.exited); !strings.Contains(line, "max-upload-size.value=64KiB max-upload-size.from="+conf) {
		t.Errorf("start-up log of the configuration: %q", line)
	}

	small := bytes.Repeat([]byte("bomba;pressão\n"), 100)
	if r := s.upload(tok, "ok.csv", bytes.NewReader(small)); r.status != http.StatusOK {
		t.Errorf("small csv: status %d, body %s", r.status, r.body)
	}
	if r := s.upload(tok, "limite.csv", bytes.NewReader(bytes.Repeat([]byte("x"), 64<<10))); r.status != http.StatusOK {
		t.Errorf("csv of exactly the limit: status %d, body %s", r.status, r.body)
	}
	tests := []struct {
		name    string
		content []byte
		status  int
		detail  string // a substring of the detail
	}{
		{"grande.csv", bytes.Repeat([]byte("x"), 64<<10+1), http.StatusRequestEntityTooLarge, "64 KiB"},
		{"relatorio.xlsx", xlsx([]byte("a real workbook, of a type not allowed here")), http.StatusUnsupportedMediaType, "csv"},
		{"programa.csv", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), make([]byte, 512)...), http.StatusUnsupportedMediaType, "csv"},
	}
	for _, tt := range tests {
		r := s.upload(tok, tt.name, bytes.NewReader(tt.content))
		if r.status != tt.status {
			t.Errorf("%s: status %d, want %d; body %s", tt.name, r.status, tt.status, r.body)
			continue
		}
		if d := r.detail(t); !strings.Contains(d, tt.detail) {
			t.Errorf("%s: detail %q lacks %q", tt.name, d, tt.detail)
		}
	}
	if got := s.list(tok); strings.Join(got, ",") != "limite.csv,ok.csv" {
		t.Errorf("files after the refusals: %q", got)
	}
	s.stop()
}

// TestInvalidSettingStopsServe checks that a setting that cannot work stops
// serve at start-up with exit status 2 and a message naming the setting and
// where its value came from, before anything is created.
func TestInvalidSettingStopsServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unknown := writeFile(t, dir, "unknown.toml", "max_upload_size = \"10MiB\"\n")
	badZone := writeFile(t, dir, "zone.toml", "timezone = \"America/Atlantis\"\n")
	tests := []struct {
		env    []string
		args   []string
		stderr string // the whole of it, or its start if it ends with "…"
	}{
		{[]string{"PMGSYNC_RETENTION=7x"}, nil,
			"pmgsync: invalid retention \"7x\" (from PMGSYNC_RETENTION): use a positive duration such as 7d, 168h or 30d\n"},
		{nil, []string{"--max-upload-size", "50XB"},
			"pmgsync: invalid max-upload-size \"50XB\" (from --max-upload-size): use a positive size such as 50MiB, 100MB or 52428800\n"},
		{[]string{"PMGSYNC_ALLOWED_TYPES=xlsx,exe"}, nil,
			"pmgsync: invalid allowed-types \"xlsx,exe\" (from PMGSYNC_ALLOWED_TYPES): unknown file type \"exe\"…"},
		{nil, []string{"--cleanup-schedule", "every night"},
			"pmgsync: invalid cleanup-schedule \"every night\" (from --cleanup-schedule): …"},
		{[]string{"PMGSYNC_CONFIG=" + unknown}, nil,
			"pmgsync: unknown setting \"max_upload_size\" in config file " + unknown + "; did you mean \"max-upload-size\"? (keys are the flags' names, in kebab-case)\n"},
		{nil, []string{"--config", badZone},
			"pmgsync: invalid timezone \"America/Atlantis\" (from " + badZone + "): use an IANA time zone name such as America/Sao_Paulo, America/Manaus or UTC\n"},
		{nil, []string{"--config", filepath.Join(dir, "missing.toml")},
			"pmgsync: config file " + filepath.Join(dir, "missing.toml") + " (from --config) does not exist\n"},
	}
	for i, tt := range tests {
		data := filepath.Join(dir, "data", string(rune('a'+i)))
		r := runBin(t, cleanEnv(tt.env...), append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, tt.args...)...)
		match := r.stderr == tt.stderr
		if prefix, ok := strings.CutSuffix(tt.stderr, "…"); ok {
			match = strings.HasPrefix(r.stderr, prefix)
		}
		if r.code != 2 || !match {
			t.Errorf("serve with %q %q: exit %d, stderr %q; want 2, %q", tt.env, tt.args, r.code, r.stderr, tt.stderr)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("serve with %q %q created the data directory", tt.env, tt.args)
		}
	}
}
