package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// upload is what a client knows of one of its uploads.
type upload struct {
	sum       [32]byte
	size      int
	completed time.Time // when the 200 arrived
	deleted   bool      // by the client, which only deletes what it uploaded after the backup began
}

// TestBackupWhileUploading takes a backup with "pmgsync backup", in a
// process of its own, while 8 clients keep uploading to the server and
// deleting; restores it into a new directory with "pmgsync restore";
// starts a server on it and finds, with the same tokens, every file whose
// upload completed before the backup began, byte for byte, and no file
// that is not exactly one the clients uploaded.
func TestBackupWhileUploading(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	names := []string{"maria", "pedro", "ana", "joao", "lucas", "julia", "rafael", "beatriz"}
	tokens := make([]string, len(names))
	for i, name := range names {
		tokens[i] = createToken(t, data, name)
	}
	// What a backup killed in the middle leaves, which the server removes
	// at start-up.
	stale := filepath.Join(data, "backup-staging-1234")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, data)
	if _, ok := s.log.waitFor(`msg="removed the staging directories of dead backups" count=1`, s.exited); !ok {
		t.Error("the server did not remove a dead backup's staging directory")
	}

	var (
		began    atomic.Bool // the backup has begun
		stop     atomic.Bool
		mu       sync.Mutex
		uploads  = make([]map[string]*upload, len(names)) // by client, by file name
		ready    sync.WaitGroup                           // each client has uploaded a few files
		clients  sync.WaitGroup
		failures = make([]error, len(names))
	)
	for c := range names {
		uploads[c] = make(map[string]*upload)
		ready.Add(1)
		clients.Go(func() {
			failures[c] = runClient(s, tokens[c], c, &began, &stop, &ready, func(name string, u *upload) {
				mu.Lock()
				defer mu.Unlock()
				uploads[c][name] = u
			})
		})
	}
	ready.Wait()

	// Everything whose 200 has arrived by now completed before the backup
	// began.
	mu.Lock()
	t0 := time.Now()
	began.Store(true)
	mu.Unlock()
	archive := filepath.Join(t.TempDir(), "pmgsync-backup.tar.gz")
	r := runBin(t, cleanEnv(), "backup", "--out", archive, "--data", data)
	stop.Store(true)
	clients.Wait()
	if r.code != 0 {
		t.Fatalf("backup: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for c, err := range failures {
		if err != nil {
			t.Fatalf("client %d: %v", c, err)
		}
	}
	t.Logf("backup: %s", strings.TrimSpace(r.stdout))

	// The server's data directory cannot be restored over, even with --force.
	if r := runBin(t, cleanEnv(), "restore", archive, "--data", data, "--force"); r.code != 1 || !strings.Contains(r.stderr, "in use by a pmgsync process") {
		t.Errorf("restore over the running server's directory: exit %d, stderr %q", r.code, r.stderr)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	if r := runBin(t, cleanEnv(), "restore", archive, "--data", restored); r.code != 0 {
		t.Fatalf("restore: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	s2 := startServer(t, restored)

	before, after, present := 0, 0, 0
	for c, tok := range tokens {
		listed := s2.list(tok)
		for name, u := range uploads[c] {
			if u.completed.Before(t0) {
				before++
				if u.deleted {
					t.Fatalf("client %d deleted %s, uploaded before the backup", c, name)
				}
				if !slices.Contains(listed, name) {
					t.Errorf("%s of %s, uploaded before the backup began, is not in the restored store", name, names[c])
				}
			} else {
				after++
			}
		}
		for _, name := range listed {
			u, ok := uploads[c][name]
			if !ok {
				t.Errorf("the restored store has %s of %s, which no client uploaded", name, names[c])
				continue
			}
			resp := s2.pull(tok, name)
			if resp.status != http.StatusOK || len(resp.body) != u.size || sum(resp.body) != u.sum {
				t.Errorf("restored %s of %s: status %d, %d bytes; want the %d bytes uploaded", name, names[c], resp.status, len(resp.body), u.size)
			}
			present++
		}
	}
	t.Logf("%d uploads completed before the backup began, %d after; %d files restored", before, after, present)
	if before < 10*len(names) {
		t.Errorf("only %d uploads before the backup", before)
	}
}

// runClient uploads reports of random sizes, one after the other, until
// stop is set; once began is set, it deletes every other file it uploads,
// right after its upload. It calls ready after its tenth upload and record
// after each upload and each delete.
func runClient(s *server, token string, c int, began, stop *atomic.Bool, ready *sync.WaitGroup, record func(string, *upload)) error {
	readied := false
	defer func() {
		if !readied {
			ready.Done()
		}
	}()
	for i := 0; !stop.Load() && i < 2000; i++ {
		name := fmt.Sprintf("relatorio-bomba-%d-%04d.xlsx", c, i)
		after := began.Load()
		content := xlsx(randomBytes(uint64(c<<16|i), 16<<10+(i*37%40)<<10))
		u := s.startUpload(context.Background(), nil, token, name)
		u.Write(content) // fails if the server answered early: the response tells why
		resp, err := u.finishErr()
		if err != nil {
			return err
		}
		if resp.status != http.StatusOK {
			return fmt.Errorf("upload %s: status %d, body %s", name, resp.status, resp.body)
		}
		done := &upload{sum: sum(content), size: len(content), completed: time.Now()}
		record(name, done)
		if i == 9 {
			readied = true
			ready.Done()
		}
		if after && i%2 == 0 {
			req, err := http.NewRequest(http.MethodDelete, s.url+"/delete?filename="+name, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			dr, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			dr.Body.Close()
			if dr.StatusCode != http.StatusOK {
				return fmt.Errorf("delete %s: status %d", name, dr.StatusCode)
			}
			deleted := *done
			deleted.deleted = true
			record(name, &deleted)
		}
	}
	return nil
}

// TestBackupToClosedPipe runs "pmgsync backup --out -" into a pipe whose
// reader goes away after the first bytes, as "| head -c 100" or an ssh
// that drops does: the backup is not killed by SIGPIPE but fails on the
// write, exits with status 1, records the run as failed and removes its
// staging directory.
func TestBackupToClosedPipe(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	m := NewMain(cfg, slog.New(slog.DiscardHandler))
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	tech, err := m.Engine.AddTechnician(ctx, "maria", "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 { // incompressible, far more than a pipe's buffer
		name := fmt.Sprintf("relatorio-bomba-%02d.xlsx", i)
		if _, err := m.Engine.Upload(ctx, tech, name, bytes.NewReader(xlsx(randomBytes(uint64(i), 1<<20))), -1); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()

	cmd := exec.Command(binPath, "backup", "--out", "-", "--data", cfg.DataDir)
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 100)
	if _, err := io.ReadFull(out, first); err != nil {
		t.Fatal(err)
	}
	out.Close()
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("backup killed by %v; stderr %q", ws.Signal(), stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "broken pipe") ||
		!strings.Contains(stderr.String(), "Backup #1 failed; no archive was written.") {
		t.Errorf("backup into a closed pipe: %v, exit %d, stderr %q", err, code, stderr.String())
	}

	r := cli(t, cfg.DataDir, "backup", "history")
	if lines := strings.Split(r.stdout, "\n"); len(lines) < 2 || !strings.Contains(lines[1], " command  failed ") ||
		!strings.Contains(r.stdout, "Run #1: backup: ") || !strings.Contains(r.stdout, ": broken pipe") {
		t.Errorf("backup history:\n%s", r.stdout)
	}
	if r := cli(t, cfg.DataDir, "audit", "list", "--action", "backup"); !strings.Contains(r.stdout, "failed") {
		t.Errorf("audit trail:\n%s", r.stdout)
	}
	if staging, _ := filepath.Glob(filepath.Join(cfg.DataDir, "backup-staging-*")); len(staging) != 0 {
		t.Errorf("staging left behind: %q", staging)
	}
}
