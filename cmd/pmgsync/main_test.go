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

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/schedule"
)

// runWithEnv runs the command line args in this process with the
// environment vars.
func runWithEnv(vars map[string]string, args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	e := &env{stdout: &out, stderr: &errOut, lookupEnv: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
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
		{[]string{"--help"}, 0, "pmgsync serve [--config FILE] [--addr ADDR] [--data DIR]", ""},
		{[]string{"bogus"}, 2, "", `pmgsync: unknown command "bogus"`},
		{[]string{"token"}, 2, "", "token needs a subcommand: create, list, revoke, rotate"},
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
		{[]string{"token", "rotate", "--data", data}, 2, "", "missing token or token id"},
		{[]string{"token", "rotate", "1", "--grace", "-1d", "--data", data}, 2, "", `pmgsync: invalid grace "-1d": use 0 or a duration such as 7d, 12h or 30m`},
		{[]string{"token", "rotate", "1", "--expires", "0", "--data", data}, 2, "", `pmgsync: invalid expiry "0"`},
		{[]string{"token", "rotate", "-h"}, 0, "", "--grace 0 revokes it at\nonce"},
		{[]string{"token", "help"}, 0, "keeps working for the grace (default 7d; 0 revokes it at once)", ""},
		{[]string{"serve", "--addr", "nonsense", "--data", data}, 2, "", `pmgsync: invalid addr "nonsense" (from --addr): use host:port`},
		{[]string{"serve", "-h"}, 0, "", "-max-upload-size value\n    \tlargest file accepted, e.g. 50MiB or 100MB (env PMGSYNC_MAX_UPLOAD_SIZE) (default 50MiB)"},
		{[]string{"technician", "list", "-h"}, 0, "", "-config file"},
		{[]string{"cleanup", "-h"}, 0, "", "-retention value"},
		{[]string{"cleanup", "history", "--limit", "0", "--data", data}, 2, "", "--limit must be positive"},
		{[]string{"cleanup", "extra", "--data", data}, 2, "", `unexpected argument "extra"`},
		{[]string{"technician", "set", "maria", "--data", data}, 2, "", "nothing to set"},
		{[]string{"config", "--retention", "0d"}, 2, "", `pmgsync: invalid retention "0d" (from --retention)`},
		{[]string{"config", "--addr", ":9000"}, 0, `= ":9000"  `, ""},
		{[]string{"import-seed", "--data", data}, 2, "", "--uploads and --tokens are required"},
		{[]string{"import-seed", "--uploads", "/nonexistent/uploads", "--tokens", "/nonexistent/tokens.txt", "--data", data}, 1, "", "pmgsync: open the tokens file"},
		{[]string{"version", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"technician", "add", "--email", "a@b.c", "--data", data, "--", "-dash"}, 0, `Added technician "-dash"`, ""},
		{[]string{"technician", "add", "maria", "--email", "maria@example.com", "--data", data}, 0, `Added technician "maria"`, ""},
	}
	for _, tt := range tests {
		stdout, stderr, code := runWithEnv(nil, tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
			t.Errorf("pmgsync %q: exit %d, stdout %q, stderr %q;\nwant exit %d, stdout with %q, stderr with %q",
				tt.args, code, stdout, stderr, tt.code, tt.wantStdout, tt.wantStderr)
		}
	}
	// Every command is in the usage.
	stdout, _, _ := runWithEnv(nil, "help")
	for name := range commands {
		if !strings.Contains(stdout, "pmgsync "+name) {
			t.Errorf("usage lacks %q", name)
		}
	}
	// Every setting is in the usage, with its flag and variable.
	for _, s := range settings {
		if !strings.Contains(stdout, "--"+s.name+" ") || !strings.Contains(stdout, s.env()+" ") {
			t.Errorf("usage lacks --%s or %s", s.name, s.env())
		}
	}
	for _, sub := range []string{"technician add", "technician list", "technician disable", "technician enable", "technician set", "token create", "token list", "token revoke", "token rotate", "cleanup history"} {
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
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr = t.TempDir(), "127.0.0.1:0"
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
	raw, _, _, err := m.Engine.CreateToken(ctx, "maria", "", time.Time{})
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
			u.Write(xlsx(randomBytes(uint64(i), 64<<10)))
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
	if r := s.pull(raw, "relatorio.xlsx"); r.status != http.StatusOK || len(r.body) != len(xlsx(randomBytes(0, 64<<10))) {
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

// syncBuffer is a bytes.Buffer safe for concurrent writers, for logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCleanupConflict holds a sweep in progress and checks that another
// one is refused: "pmgsync cleanup", in another process, exits with status
// 1 and says why; the scheduler skips its run and logs that as news, not
// as an error.
func TestCleanupConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	var log syncBuffer
	m := NewMain(cfg, slog.New(slog.NewTextHandler(&log, nil)))
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, _, _, err := m.Engine.CreateToken(ctx, "maria", "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	tech, err := m.Engine.Technician(ctx, "maria")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Engine.ImportFile(ctx, tech, "velho.xlsx", bytes.NewReader(xlsx([]byte("velho"))), time.Now().Add(-10*24*time.Hour)); err != nil {
		t.Fatal(err)
	}

	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := m.Engine.Cleanup(ctx, engine.CleanupOptions{Progress: func(string, *pmgsync.File) {
			close(entered)
			<-release
		}})
		done <- err
	}()
	select {
	case <-entered:
	case <-time.After(deadline):
		t.Fatal("the first sweep did not reach its file")
	}

	r := runBin(t, cleanEnv(), "cleanup", "--data", cfg.DataDir)
	if want := "pmgsync: a cleanup is already running (started by "; r.code != 1 || !strings.HasPrefix(r.stderr, want) || !strings.HasSuffix(r.stderr, "); try again when it ends\n") {
		t.Errorf("cleanup during a sweep: exit %d, stderr %q; want 1, %q…", r.code, r.stderr, want)
	}
	sched, err := schedule.Parse("@every 1h", time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	m.scheduledCleanup(ctx, sched)
	if want := `level=INFO msg="scheduled cleanup skipped: another cleanup is running"`; !strings.Contains(log.String(), want) {
		t.Errorf("log of a skipped scheduled cleanup lacks %q:\n%s", want, log.String())
	}

	close(release)
	if err := <-done; err != nil {
		t.Errorf("the first sweep: %v", err)
	}
	if r := runBin(t, cleanEnv(), "cleanup", "--data", cfg.DataDir); r.code != 0 || !strings.Contains(r.stdout, "removed 0 expired files") {
		t.Errorf("cleanup after the sweep: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

// TestSchedulerUsesMainClock runs the scheduler on a clock that stands
// still: no sweep is due until the test moves the clock on, whatever the
// wall clock says.
func TestSchedulerUsesMainClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr, cfg.CleanupSchedule = t.TempDir(), "127.0.0.1:0", "@every 1s"
	var mu sync.Mutex
	now := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	runs := func() int {
		t.Helper()
		h, err := m.Engine.CleanupHistory(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		return len(h)
	}

	time.Sleep(1500 * time.Millisecond) // a scheduler on the wall clock sweeps after 1s
	if n := runs(); n != 0 {
		t.Fatalf("%d sweeps while the clock stood still, want none", n)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	for end := time.Now().Add(deadline); runs() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("no sweep once the clock reached the due time")
		}
	}
}
