package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// runInProcess runs the command line args in this process.
func runInProcess(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, lookupEnv: func(string) (string, bool) { return "", false }}
	code = run(context.Background(), args, e)
	return out.String(), errOut.String(), code
}

func TestUsage(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tests := []struct {
		args       []string
		code       int
		wantStdout string // a substring; "" for none
		wantStderr string // a substring; "" for none
	}{
		{nil, 2, "", "Usage:"},
		{[]string{"help"}, 0, "pmgsync import-seed --uploads DIR --tokens FILE", ""},
		{[]string{"-h"}, 0, "pmgsync token revoke TOKEN-OR-ID", ""},
		{[]string{"--help"}, 0, "pmgsync serve [--addr ADDR] [--data DIR]", ""},
		{[]string{"bogus"}, 2, "", `pmgsync: unknown command "bogus"`},
		{[]string{"token"}, 2, "", "token needs a subcommand: create, list, revoke"},
		{[]string{"token", "help"}, 0, "pmgsync token create --technician NAME", ""},
		{[]string{"technician", "remove", "x"}, 2, "", `unknown technician subcommand "remove"`},
		{[]string{"token", "create", "--data", data}, 2, "", "pmgsync: --technician is required"},
		{[]string{"token", "create", "--technician", "x", "--expires", "3x", "--data", data}, 2, "", `pmgsync: invalid expiry "3x": use a duration such as 90d, 12h or 30m`},
		{[]string{"token", "create", "--technician", "x", "extra", "--data", data}, 2, "", `unexpected argument "extra"`},
		{[]string{"token", "create", "-h"}, 0, "", "Usage: pmgsync token create"},
		{[]string{"token", "create", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"technician", "add", "--data", data}, 2, "", "pmgsync: missing technician name"},
		{[]string{"technician", "add", "João", "Silva", "--data", data}, 2, "", "quote a name that has spaces"},
		{[]string{"token", "revoke", "--data", data}, 2, "", "missing token or token id"},
		{[]string{"serve", "--addr", "nonsense", "--data", data}, 2, "", `invalid listen address "nonsense"`},
		{[]string{"import-seed", "--data", data}, 2, "", "--uploads and --tokens are required"},
		{[]string{"import-seed", "--uploads", "/nonexistent/uploads", "--tokens", "/nonexistent/tokens.txt", "--data", data}, 1, "", "pmgsync: open the tokens file"},
		{[]string{"version", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"technician", "add", "--email", "a@b.c", "--data", data, "--", "-dash"}, 0, `Added technician "-dash"`, ""},
		{[]string{"technician", "add", "maria", "--email", "maria@example.com", "--data", data}, 0, `Added technician "maria"`, ""},
	}
	for _, tt := range tests {
		stdout, stderr, code := runInProcess(tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
			t.Errorf("pmgsync %q: exit %d, stdout %q, stderr %q;\nwant exit %d, stdout with %q, stderr with %q",
				tt.args, code, stdout, stderr, tt.code, tt.wantStdout, tt.wantStderr)
		}
	}
	// Every command is in the usage.
	stdout, _, _ := runInProcess("help")
	for name := range commands {
		if !strings.Contains(stdout, "pmgsync "+name) {
			t.Errorf("usage lacks %q", name)
		}
	}
	for _, sub := range []string{"technician add", "technician list", "technician disable", "technician enable", "token create", "token list", "token revoke"} {
		if !strings.Contains(stdout, "pmgsync "+sub) {
			t.Errorf("usage lacks %q", sub)
		}
	}
}

// TestMainInProcess drives Main as the serve command does, in this process,
// so that the race detector sees the server's code paths.
func TestMainInProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0"}
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			m.Close()
		}
	})
	raw, _, err := m.Engine.CreateToken(ctx, "maria", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, data: cfg.DataDir, url: "http://" + m.Addr().String()}

	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		u := s.startUpload(ctx, nil, raw, "relatorio.xlsx")
		wg.Go(func() {
			u.Write(randomBytes(uint64(i), 64<<10))
			r, err := u.finishErr()
			if err == nil && r.status != http.StatusOK {
				err = fmt.Errorf("status %d, body %s", r.status, r.body)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	if r := s.pull(raw, "relatorio.xlsx"); r.status != http.StatusOK || len(r.body) != 64<<10 {
		t.Errorf("pull: status %d, %d bytes", r.status, len(r.body))
	}
	closed = true
	if err := m.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := http.Get(s.url + "/healthz"); err == nil {
		t.Error("the server still answers after Close")
	}
}
