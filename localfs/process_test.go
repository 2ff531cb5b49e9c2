package localfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/fsutil"
)

// The crash tests re-execute the test binary as a child process that writes
// blobs and is then killed with SIGKILL: a real crash, with no deferred
// Abort and no chance to clean up.
const (
	helperEnv       = "PMGSYNC_LOCALFS_HELPER_DIR"
	helperTag       = "localfs-helper-ready"
	committedText   = "committed before the crash"
	pendingBytesLen = 1 << 20
)

// TestHelperWriter is the child process, not a test: it commits one blob,
// writes part of a second, reports both keys and waits to be killed.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("child process of the crash tests")
	}
	s := openStore(t, dir)
	committed := putBlob(t, s, []byte(committedText))
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte{'p'}, pendingBytesLen)); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%s %s %s\n", helperTag, committed, w.Key())
	io.Copy(io.Discard, os.Stdin) // returns when the parent goes away
	os.Exit(3)                    // without Abort: that is a crash too
}

// writerProcess is a running TestHelperWriter.
type writerProcess struct {
	cmd                *exec.Cmd
	committed, pending string // keys
	once               sync.Once
	stderr             bytes.Buffer
}

// startWriter runs a child writing to the store at dir and waits until it
// has committed one blob and is midway through a second.
func startWriter(t *testing.T, dir string) *writerProcess {
	t.Helper()
	p := &writerProcess{cmd: exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")}
	p.cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	p.cmd.Stderr = &p.stderr
	if _, err := p.cmd.StdinPipe(); err != nil { // held open until the child dies
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill(t) })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == helperTag {
			p.committed, p.pending = f[1], f[2]
			return p
		}
	}
	p.kill(t)
	t.Fatalf("child writer exited before it was ready; stderr:\n%s", p.stderr.String())
	return nil
}

// kill ends the child with SIGKILL and waits for it.
func (p *writerProcess) kill(t *testing.T) {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Errorf("child writer ended with %v, not by SIGKILL; stderr:\n%s", p.cmd.ProcessState, p.stderr.String())
		}
	})
}

// tempNames returns the names of the files in dir/tmp.
func tempNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func removeTemp(t *testing.T, s *Store, want int) {
	t.Helper()
	n, err := s.RemoveTemp(t.Context())
	if err != nil || n != want {
		t.Fatalf("RemoveTemp = %d, %v; want %d, nil", n, err, want)
	}
}

func TestCrashLeavesNoPartialBlob(t *testing.T) {
	dir := t.TempDir()
	p := startWriter(t, dir)
	p.kill(t)

	s := openStore(t, dir) // as the restarted server does
	if got := readBlob(t, s, p.committed); string(got) != committedText {
		t.Errorf("blob committed before the crash: %q; want %q", got, committedText)
	}
	if rc, err := s.Open(t.Context(), p.pending); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Open of the blob being written at the crash: %v; want ENOTFOUND", err)
	}
	var walked []string
	if err := s.Walk(t.Context(), func(b pmgsync.BlobInfo) error {
		walked = append(walked, b.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(walked) != 1 || walked[0] != p.committed {
		t.Errorf("Walk after the crash reported %v; want only %s", walked, p.committed)
	}
	tmp := tempNames(t, dir)
	if len(tmp) != 1 || tmp[0] != p.pending+tmpSuffix {
		t.Fatalf("tmp/ after the crash holds %v; want the partial blob %s%s", tmp, p.pending, tmpSuffix)
	}

	removeTemp(t, s, 1)
	if tmp := tempNames(t, dir); len(tmp) != 0 {
		t.Errorf("tmp/ after RemoveTemp holds %v; want nothing", tmp)
	}
	removeTemp(t, s, 0)
	if got := readBlob(t, s, p.committed); string(got) != committedText {
		t.Errorf("committed blob after RemoveTemp: %q; want %q", got, committedText)
	}
}

func TestRemoveTempSkipsLiveWriters(t *testing.T) {
	t.Run("other process", func(t *testing.T) {
		dir := t.TempDir()
		p := startWriter(t, dir)
		s := openStore(t, dir)
		removeTemp(t, s, 0)
		if tmp := tempNames(t, dir); len(tmp) != 1 || tmp[0] != p.pending+tmpSuffix {
			t.Fatalf("tmp/ holds %v; want the live writer's %s%s", tmp, p.pending, tmpSuffix)
		}
		p.kill(t)
		removeTemp(t, s, 1)
	})

	t.Run("this process", func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, dir)
		w, err := s.Create(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		w.Write([]byte("first half, "))
		// An orphan, a file that is not ours, and the live writer's file.
		orphan := filepath.Join(dir, "tmp", newKey()+tmpSuffix)
		junk := filepath.Join(dir, "tmp", "junk")
		for _, path := range []string{orphan, junk} {
			if err := touch(path); err != nil {
				t.Fatal(err)
			}
		}
		removeTemp(t, s, 1)
		removeTemp(t, openStore(t, dir), 0) // another Store on the same directory
		if _, err := os.Stat(junk); err != nil {
			t.Errorf("RemoveTemp removed a file it did not create: %v", err)
		}
		w.Write([]byte("second half"))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := readBlob(t, s, w.Key()); string(got) != "first half, second half" {
			t.Errorf("blob written across RemoveTemp: %q", got)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		s := openStore(t, t.TempDir())
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.RemoveTemp(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("RemoveTemp with a cancelled context: %v; want context.Canceled", err)
		}
	})
}

// TestCreateRaceWithRemoveTemp drives lockTemp through the interleavings of
// a Create with a RemoveTemp that finds the new file before it is locked.
func TestCreateRaceWithRemoveTemp(t *testing.T) {
	s := openStore(t, t.TempDir())
	create := func() (*os.File, string) {
		path := s.tempPath(newKey())
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f, path
	}

	// RemoveTemp locked the file first: the writer must give it up.
	f, path := create()
	other, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if ok, err := fsutil.TryFlock(other, syscall.LOCK_EX); !ok || err != nil {
		t.Fatalf("TryFlock of an unlocked file = %v, %v", ok, err)
	}
	if ok, err := lockTemp(f, path); ok || err != nil {
		t.Errorf("lockTemp of a file RemoveTemp holds = %v, %v; want false, nil", ok, err)
	}

	// RemoveTemp locked, removed and released the file: same.
	f, path = create()
	os.Remove(path)
	if ok, err := lockTemp(f, path); ok || err != nil {
		t.Errorf("lockTemp of a removed file = %v, %v; want false, nil", ok, err)
	}

	// The writer locked first: RemoveTemp must leave the file.
	f, path = create()
	if ok, err := lockTemp(f, path); !ok || err != nil {
		t.Fatalf("lockTemp = %v, %v; want true, nil", ok, err)
	}
	if removed, err := removeIfOrphan(path); removed || err != nil {
		t.Errorf("removeIfOrphan of a locked file = %v, %v; want false, nil", removed, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
}
