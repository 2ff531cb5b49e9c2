package fsutil

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "relatorio-bomba-07.xlsx"), []byte("PK\x03\x04"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := SyncDir(dir); err != nil {
		t.Errorf("SyncDir(%s): %v", dir, err)
	}
	if err := SyncDir(filepath.Join(dir, "missing")); !os.IsNotExist(err) {
		t.Errorf("SyncDir of a missing directory: %v, want not found", err)
	}
}

// TestSamePath follows a path while its file is renamed, replaced and
// removed.
func TestSamePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relatorio-bomba-07.xlsx")
	if err := os.WriteFile(path, []byte("PK\x03\x04"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	check := func(when string, want bool) {
		t.Helper()
		if got, err := SamePath(f, path); got != want || err != nil {
			t.Errorf("%s: SamePath = %v, %v; want %v, nil", when, got, err, want)
		}
	}
	check("as opened", true)
	moved := filepath.Join(dir, "moved.xlsx")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	check("renamed away", false)
	if err := os.Symlink(moved, path); err != nil {
		t.Fatal(err)
	}
	check("a symbolic link to it in its place", false)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("PK\x03\x04"), 0o600); err != nil {
		t.Fatal(err)
	}
	check("another file in its place", false)
	if err := os.Rename(moved, path); err != nil {
		t.Fatal(err)
	}
	check("renamed back", true)
}

// TestTryFlock takes locks through two opens of one file, which conflict
// as two processes' would.
func TestTryFlock(t *testing.T) {
	_, open := opener(t, "pmgsync.lock")
	a, b := open(), open()
	try := func(f *os.File, how int, want bool) {
		t.Helper()
		if got, err := TryFlock(f, how); got != want || err != nil {
			t.Errorf("TryFlock(%d) = %v, %v; want %v, nil", how, got, err, want)
		}
	}
	try(a, syscall.LOCK_SH, true)
	try(b, syscall.LOCK_SH, true)
	try(b, syscall.LOCK_EX, false)
	a.Close()
	try(b, syscall.LOCK_EX, true)
	try(open(), syscall.LOCK_SH, false)
	if err := Flock(b, syscall.LOCK_SH); err != nil {
		t.Errorf("Flock turning an exclusive lock into a shared one: %v", err)
	}
	b.Close()
	if _, err := TryFlock(b, syscall.LOCK_EX); err == nil {
		t.Error("TryFlock of a closed file succeeded")
	}
}

// TestLockIfSame takes the lock of a writer's report file as a writer and
// a sweep would: through two opens, and after the file is renamed away.
func TestLockIfSame(t *testing.T) {
	path, open := opener(t, ".relatorio-bomba-07.xlsx.partial-1")
	lock := func(f *os.File, want bool) {
		t.Helper()
		if got, err := LockIfSame(f, path); got != want || err != nil {
			t.Errorf("LockIfSame = %v, %v; want %v, nil", got, err, want)
		}
	}
	writer, sweep := open(), open()
	lock(writer, true)
	lock(sweep, false)
	writer.Close()
	lock(sweep, true)
	sweep.Close()
	moved := open()
	if err := os.Rename(path, path+"-moved"); err != nil {
		t.Fatal(err)
	}
	lock(moved, false)
}

// opener creates an empty file named name in a temporary directory and
// returns its path and a function that opens it anew each time, as another
// process would; the files are closed at the end of the test.
func opener(t *testing.T, name string) (string, func() *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() *os.File {
		t.Helper()
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
}
