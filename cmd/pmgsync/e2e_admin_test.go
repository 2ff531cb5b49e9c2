package main

import (
	"bytes"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

var tokenPattern = regexp.MustCompile(`^pmg_[a-z2-7]{32}$`)

// TestTokenCreateOutput checks the promise scripts rely on: the token alone
// on the last line of standard output.
func TestTokenCreateOutput(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	r := cli(t, data, "token", "create", "--technician", "João Silva", "--label", "Galaxy A14 do João", "--expires", "90d")
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if last := lines[len(lines)-1]; !tokenPattern.MatchString(last) {
		t.Fatalf("last line of stdout %q is not a token; stdout %q", last, r.stdout)
	}
	for _, want := range []string{`Added technician "João Silva"`, "Galaxy A14 do João", "expires"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary %q lacks %q", r.stderr, want)
		}
	}

	// A second token for the same technician does not create it again.
	r = cli(t, data, "token", "create", "--technician", "João Silva")
	if strings.Contains(r.stderr, "Added technician") || !strings.Contains(r.stderr, "never expires") {
		t.Errorf("summary of a second token: %q", r.stderr)
	}

	list := cli(t, data, "token", "list").stdout
	for _, want := range []string{"ID", "TECHNICIAN", "LABEL", "HINT", "CREATED", "LAST USED", "EXPIRES", "STATUS", "Galaxy A14 do João", "active", "never"} {
		if !strings.Contains(list, want) {
			t.Errorf("token list lacks %q:\n%s", want, list)
		}
	}
	if strings.Contains(list, strings.TrimSpace(r.stdout)) {
		t.Errorf("token list shows a token:\n%s", list)
	}
}

// TestCLIWhileServing changes tokens and technicians with the CLI while the
// server runs on the same data directory; each change holds from the very
// next request.
func TestCLIWhileServing(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)

	tok := createToken(t, data, "maria", "--label", "phone")
	if got := s.list(tok); got != nil {
		t.Fatalf("new token lists %q, want 404", got)
	}
	s.mustUpload(tok, "a.xlsx", xlsx([]byte("a")))

	// Revoked by id.
	if !strings.Contains(cli(t, data, "token", "list", "--technician", "maria").stdout, "active") {
		t.Error("token list does not show the token active")
	}
	r := cli(t, data, "token", "revoke", "1")
	if want := `Revoked token #1 of technician "maria", label "phone"`; !strings.Contains(r.stdout, want) {
		t.Errorf("revoke says %q, want %q", r.stdout, want)
	}
	if r := do(t, nil, s.request("GET", "/list", tok, nil)); r.status != http.StatusForbidden {
		t.Errorf("revoked token: status %d, want 403", r.status)
	}
	if !strings.Contains(cli(t, data, "token", "list").stdout, "revoked") {
		t.Error("token list does not show the token revoked")
	}

	// Revoked by the token itself.
	tok2 := createToken(t, data, "maria")
	if got := s.list(tok2); !slices.Equal(got, []string{"a.xlsx"}) {
		t.Fatalf("second token lists %q", got)
	}
	cli(t, data, "token", "revoke", tok2)
	if r := do(t, nil, s.request("GET", "/list", tok2, nil)); r.status != http.StatusForbidden {
		t.Errorf("token revoked by value: status %d, want 403", r.status)
	}

	// A disabled technician's tokens are refused, and work again once enabled.
	tok3 := createToken(t, data, "maria")
	cli(t, data, "technician", "disable", "maria")
	if r := do(t, nil, s.request("GET", "/pull?filename=a.xlsx", tok3, nil)); r.status != http.StatusForbidden {
		t.Errorf("disabled technician: status %d, want 403", r.status)
	}
	if !strings.Contains(cli(t, data, "technician", "list").stdout, "disabled") {
		t.Error("technician list does not show maria disabled")
	}
	if r := runBin(t, cleanEnv(), "token", "create", "--technician", "maria", "--data", data); r.code != 1 || r.stderr != "pmgsync: technician \"maria\" is disabled\n" {
		t.Errorf("token create for a disabled technician: exit %d, stderr %q", r.code, r.stderr)
	}
	cli(t, data, "technician", "enable", "maria")
	if r := s.pull(tok3, "a.xlsx"); r.status != http.StatusOK || !bytes.Equal(r.body, xlsx([]byte("a"))) {
		t.Errorf("enabled again: status %d, body %q", r.status, r.body)
	}

	// Technicians added with the CLI.
	cli(t, data, "technician", "add", "pedro", "--email", "pedro@example.com")
	list := cli(t, data, "technician", "list").stdout
	for _, want := range []string{"NAME", "EMAIL", "STATUS", "CREATED", "maria", "pedro", "pedro@example.com"} {
		if !strings.Contains(list, want) {
			t.Errorf("technician list lacks %q:\n%s", want, list)
		}
	}

	// Mistakes get a readable message and exit status 1.
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"technician", "disable", "nobody"}, "pmgsync: no technician named \"nobody\"\n"},
		{[]string{"technician", "add", "pedro"}, "pmgsync: technician \"pedro\" already exists\n"},
		{[]string{"token", "list", "--technician", "nobody"}, "pmgsync: no technician named \"nobody\"\n"},
		{[]string{"token", "revoke", "999"}, "pmgsync: no such token\n"},
		{[]string{"token", "revoke", "pmg_notatoken"}, "pmgsync: no such token\n"},
		{[]string{"technician", "add", "bad/name"}, "pmgsync: invalid technician name \"bad/name\": use 1 to 64 letters, digits, spaces, '.', '_', '-' or '@'\n"},
	} {
		r := runBin(t, cleanEnv(), append(tt.args, "--data", data)...)
		if r.code != 1 || r.stderr != tt.stderr {
			t.Errorf("pmgsync %q: exit %d, stderr %q; want 1, %q", tt.args, r.code, r.stderr, tt.stderr)
		}
	}
	s.stop()
}

// TestRawTokenNeverStored looks for a token, after use, in every file of the
// data directory (the write-ahead log included) and in the server's log.
func TestRawTokenNeverStored(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tok := createToken(t, data, "maria")
	s := startServer(t, data)
	s.mustUpload(tok, "a.xlsx", xlsx([]byte("a")))
	s.list(tok)
	s.pull(tok, "a.xlsx")

	check := func(when string) {
		t.Helper()
		files := 0
		err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			files++
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(tok)) {
				t.Errorf("%s: the token is in %s", when, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if files < 2 {
			t.Fatalf("%s: only %d files in the data directory", when, files)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "pmgsync.db-wal")); err != nil {
		t.Errorf("no write-ahead log while the server runs: %v", err)
	}
	check("while the server runs")
	s.stop()
	check("after the server stopped")
	if strings.Contains(s.log.String(), tok) {
		t.Error("the token is in the server's log")
	}
}

// TestDataDirectory checks where the data directory comes from (default <
// environment < flag) and that it is created private.
func TestDataDirectory(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fromEnv := filepath.Join(root, "env", "data")
	fromFlag := filepath.Join(root, "flag")

	r := runBin(t, cleanEnv("PMGSYNC_DATA="+fromEnv), "technician", "add", "maria")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	fi, err := os.Stat(fromEnv)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory mode %v, want 0700", perm)
	}
	for _, p := range []string{"pmgsync.db", "blobs"} {
		if _, err := os.Stat(filepath.Join(fromEnv, p)); err != nil {
			t.Errorf("data directory lacks %s: %v", p, err)
		}
	}

	r = runBin(t, cleanEnv("PMGSYNC_DATA="+fromEnv), "technician", "add", "pedro", "--data", fromFlag)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if out := cli(t, fromFlag, "technician", "list").stdout; !strings.Contains(out, "pedro") || strings.Contains(out, "maria") {
		t.Errorf("--data did not win over PMGSYNC_DATA:\n%s", out)
	}

	// The default, ./data, is relative to the working directory.
	if r := runBinIn(t, root, cleanEnv(), "technician", "add", "ana"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if out := cli(t, filepath.Join(root, "data"), "technician", "list").stdout; !strings.Contains(out, "ana") {
		t.Errorf("./data was not the default:\n%s", out)
	}
}

// TestVersion checks "pmgsync version" of a binary built with -X main.version.
func TestVersion(t *testing.T) {
	t.Parallel()
	r := runBin(t, cleanEnv(), "version")
	want := "pmgsync " + testVersion + "\n" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("version: exit %d, stdout %q; want 0, %q", r.code, r.stdout, want)
	}
}
