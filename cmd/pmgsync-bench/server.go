package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The data directory's layout, as "pmgsync serve" makes it (see the README).
const (
	dbFile  = "pmgsync.db"
	blobDir = "blobs"
)

// baseServeFlags are the settings every server of the bench runs with, on
// top of the defaults. The per-token rate limit (50 requests a second by
// default) and the bound on a technician's uploads in flight would measure
// the limits, not the server; the scheduled sweep would run at its own time.
var baseServeFlags = []string{
	"--rate-limit", "0",
	"--max-concurrent-uploads", "0",
	"--cleanup-schedule", "off",
}

// server is one pmgsync process of the bench.
type server struct {
	cmd     *exec.Cmd
	url     string // http://127.0.0.1:PORT
	data    string
	logPath string
	logFrom int64 // where this process's lines begin in logPath
	// ready is the time from the start of the process to its first 200 on
	// /healthz.
	ready time.Duration
	done  chan error // receives the process's exit
	// pprof is the base URL of the process's profiles; "" if it serves none.
	pprof string
}

// startServer starts the binary serving the data directory data on a free
// port of 127.0.0.1, with baseServeFlags and then extra (a later flag wins)
// and the variables env added to the environment, its log going to
// data.log, and returns once /healthz answers 200.
func startServer(ctx context.Context, bin, data string, env []string, extra ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	logPath := data + ".log"
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	fi, err := logFile.Stat()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--addr", addr, "--data", data}, baseServeFlags...)
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	s := &server{cmd: cmd, url: "http://" + addr, data: data, logPath: logPath, logFrom: fi.Size(), done: make(chan error, 1)}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitHealthy(ctx, start); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w (log: %s)", err, logPath)
	}
	return s, nil
}

// waitHealthy polls /healthz until it answers 200, and sets s.ready.
func (s *server) waitHealthy(ctx context.Context, start time.Time) error {
	client := &http.Client{Timeout: time.Second}
	deadline := start.Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/healthz", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.ready = time.Since(start)
				client.CloseIdleConnections()
				return nil
			}
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("pmgsync exited before it was healthy: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("pmgsync not healthy after 60s")
		}
	}
}

// stop stops the server gracefully (SIGTERM), or kills it if it has not
// exited after a minute.
func (s *server) stop() error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(time.Minute):
		s.cmd.Process.Kill()
		return errors.New("pmgsync did not stop within a minute of SIGTERM; killed")
	}
}

// pid returns the server's process id.
func (s *server) pid() int { return s.cmd.Process.Pid }

// memory returns the process's resident set size and its peak (VmRSS and
// VmHWM of /proc/PID/status), in bytes.
func (s *server) memory() (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != "VmRSS" && key != "VmHWM" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %q: %w", key, value, err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if rss == 0 || peak == 0 {
		return 0, 0, errors.New("no VmRSS or VmHWM in /proc/PID/status")
	}
	return rss, peak, nil
}

// waitLog waits until the server's log (of this process, not of an earlier
// one on the same data directory) holds a line containing one of texts, and
// returns that text.
func (s *server) waitLog(ctx context.Context, timeout time.Duration, texts ...string) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		data, err := os.ReadFile(s.logPath)
		if err != nil {
			return "", err
		}
		data = data[min(s.logFrom, int64(len(data))):]
		for _, text := range texts {
			if bytes.Contains(data, []byte(text)) {
				return text, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("none of %q in %s after %s", texts, s.logPath, timeout)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cleanEnv is this process's environment without PMGSYNC_* variables, so
// that the servers run on the bench's settings only.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PMGSYNC_") {
			env = append(env, kv)
		}
	}
	return env
}

// dbPath is the database of a data directory.
func dbPath(data string) string { return filepath.Join(data, dbFile) }
