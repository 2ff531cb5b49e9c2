package main

// The end-to-end tests run the real binary, built once by TestMain, on
// 127.0.0.1 with a port the kernel picks and a temporary data directory, and
// speak to it with net/http clients, as the technicians' apps and the admins'
// scripts do.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the pmgsync binary under test.
var binPath string

// testVersion is the version the binary under test is built with.
const testVersion = "v0.0.0-e2e"

// deadline bounds every wait of the tests for something to happen.
const deadline = 20 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pmgsync-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "pmgsync")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build pmgsync:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cleanEnv is the test process's environment without PMGSYNC_* variables,
// plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PMGSYNC_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// cliResult is the outcome of one run of the binary.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runBin runs the binary with args and the environment env.
func runBin(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	return runBinIn(t, "", env, args...)
}

// runBinIn runs the binary in the working directory dir ("" for the
// test's).
func runBinIn(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	// A command that should exit at once but serves instead fails the
	// test rather than hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = dir
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run pmgsync %q: %v", args, err)
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// cli runs "pmgsync ARGS --data DATA" and fails the test unless it succeeds.
func cli(t *testing.T, data string, args ...string) cliResult {
	t.Helper()
	r := runBin(t, cleanEnv(), append(args, "--data", data)...)
	if r.code != 0 {
		t.Fatalf("pmgsync %q: exit status %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// createToken creates a token for technician with the CLI and returns it:
// the last line of standard output.
func createToken(t *testing.T, data, technician string, extra ...string) string {
	t.Helper()
	r := cli(t, data, append([]string{"token", "create", "--technician", technician}, extra...)...)
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	return lines[len(lines)-1]
}

// server is a running "pmgsync serve".
type server struct {
	t      *testing.T
	data   string
	url    string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	log    *logLines
	exited chan struct{} // closed once the process has exited
	err    error         // cmd.Wait's result, once exited is closed
}

// startServer starts the binary on data and waits until it listens. The
// server is killed at the end of the test if it still runs, and its log is
// shown if the test failed.
func startServer(t *testing.T, data string) *server {
	t.Helper()
	return startServerWith(t, data, cleanEnv())
}

// startServerWith is startServer with the environment env and extra
// arguments of serve; with data "", --data is not given either.
func startServerWith(t *testing.T, data string, env []string, args ...string) *server {
	t.Helper()
	args = append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)
	if data != "" {
		args = append(args, "--data", data)
	}
	cmd := exec.Command(binPath, args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, data: data, cmd: cmd, log: newLogLines(), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.log.add(sc.Text())
		}
		s.err = cmd.Wait() // only after the pipe has been read to its end
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("log of the server on %s:\n%s", s.url, s.log)
		}
	})
	line, ok := s.log.waitFor("msg=listening ", s.exited)
	if !ok {
		t.Fatalf("the server did not start; its log:\n%s", s.log)
	}
	addr := logField(line, "addr")
	if addr == "" {
		t.Fatalf("no address in %q", line)
	}
	s.url = "http://" + addr
	return s
}

// logField returns the value of key in a log/slog text line.
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// signal sends sig to the server.
func (s *server) signal(sig os.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the server to exit and returns its exit status.
func (s *server) wait() int {
	s.t.Helper()
	select {
	case <-s.exited:
	case <-time.After(deadline):
		s.t.Fatalf("the server has not exited after %s", deadline)
	}
	return s.cmd.ProcessState.ExitCode()
}

// stop stops the server with SIGTERM and checks that it exits with status 0.
func (s *server) stop() {
	s.t.Helper()
	s.signal(syscall.SIGTERM)
	if code := s.wait(); code != 0 {
		s.t.Fatalf("exit status after SIGTERM = %d, want 0", code)
	}
}

// logLines collects the lines of a server's log and lets tests wait for one.
type logLines struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced at each new line
}

func newLogLines() *logLines { return &logLines{changed: make(chan struct{})} }

func (l *logLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFor returns the first line that contains substr, waiting for it until
// the deadline or until stop is closed.
func (l *logLines) waitFor(substr string, stop <-chan struct{}) (string, bool) {
	timeout := time.After(deadline)
	for {
		l.mu.Lock()
		for _, line := range l.lines {
			if strings.Contains(line, substr) {
				l.mu.Unlock()
				return line, true
			}
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-stop:
			// The process may have logged the line just before it exited.
			select {
			case <-changed:
				continue
			default:
			}
			return "", false
		case <-timeout:
			return "", false
		}
	}
}

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	stop := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(stop) {
			t.Fatalf("%s: still not true after %s", what, deadline)
		}
		time.Sleep(5 * time.Millisecond) // the polling interval, not a wait for an event
	}
}
