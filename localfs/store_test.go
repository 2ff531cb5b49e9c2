package localfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/blobtest"
)

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) pmgsync.BlobStore {
		return openStore(t, t.TempDir())
	})
}

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// putBlob commits data as a new blob of s and returns its key.
func putBlob(t testing.TB, s *Store, data []byte) string {
	t.Helper()
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return w.Key()
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode(); got != want {
		t.Errorf("%s: mode %v; want %v", path, got, want)
	}
}

func TestOpenLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "blobs")
	openStore(t, dir)
	wantMode(t, dir, fs.ModeDir|0o700)
	wantMode(t, filepath.Join(dir, "tmp"), fs.ModeDir|0o700)
	for _, fan := range []string{"00", "0a", "7f", "ff"} {
		wantMode(t, filepath.Join(dir, fan), fs.ModeDir|0o700)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(entries), 257; got != want {
		t.Errorf("%d entries in the root; want %d (tmp and 00…ff)", got, want)
	}

	// Reopening an existing store keeps its blobs.
	key := putBlob(t, openStore(t, dir), []byte("kept"))
	if got := readBlob(t, openStore(t, dir), key); string(got) != "kept" {
		t.Errorf("after reopening: %q; want %q", got, "kept")
	}

	// A file where a directory should be is an error, not a silent mess.
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "3c"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil {
		t.Error("Open with a file named 3c in the root succeeded; want an error")
	}
	if _, err := Open(""); err == nil {
		t.Error(`Open("") succeeded; want an error`)
	}
}

func readBlob(t testing.TB, s *Store, key string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	f, ok := rc.(*os.File)
	if !ok {
		t.Fatalf("Open returned %T; want *os.File, for sendfile", rc)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCommitDurable(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	data := bytes.Repeat([]byte("PMG report "), 10_000)
	key := putBlob(t, s, data)
	if !ValidKey(key) {
		t.Fatalf("key %q is not 32 lowercase hex characters", key)
	}
	path := filepath.Join(dir, key[:2], key)
	wantMode(t, path, 0o600)
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("committed file has %d bytes differing from the %d written", len(got), len(data))
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmp) != 0 {
		t.Errorf("tmp/ holds %d files after Commit; want none", len(tmp))
	}
}

func TestMalformedKeys(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "blobs")
	s := openStore(t, dir)
	key := putBlob(t, s, []byte("real"))
	// Files a path-forming key could reach, which must survive.
	victims := []string{filepath.Join(parent, "x"), filepath.Join(dir, "x")}
	for _, v := range victims {
		if err := os.WriteFile(v, []byte("victim"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{
		"../x", "x", "", "00/../../etc", "00/../x", strings.ToUpper(key), key[:31], key + "0",
		key[:31] + "/", key[:31] + "g", "../" + key[3:], key[:2] + "/" + key[3:], key + ".tmp",
	} {
		if rc, err := s.Open(t.Context(), bad); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Open(%q) = %v; want ENOTFOUND", bad, err)
		}
		if err := s.Delete(t.Context(), bad); err == nil {
			t.Errorf("Delete(%q) = nil; want an error", bad)
		}
	}
	for _, v := range victims {
		if _, err := os.Stat(v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
	if got := readBlob(t, s, key); string(got) != "real" {
		t.Errorf("blob %s: %q; want %q", key, got, "real")
	}
}

func TestWriterStates(t *testing.T) {
	s := openStore(t, t.TempDir())
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("a"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Errorf("second Commit: %v; want nil", err)
	}
	if _, err := w.Write([]byte("b")); !errors.Is(err, errDone) {
		t.Errorf("Write after Commit: %v; want errDone", err)
	}

	w, err = s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := w.Commit(); !errors.Is(err, errDone) {
		t.Errorf("Commit after Abort: %v; want errDone", err)
	}
	if _, err := w.Write([]byte("b")); !errors.Is(err, errDone) {
		t.Errorf("Write after Abort: %v; want errDone", err)
	}
}

// TestWalkLayout checks that Walk reads only what a commit can produce, and
// that it crosses chunk boundaries in a directory holding many blobs.
func TestWalkLayout(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	want := map[string]bool{putBlob(t, s, []byte("real")): true}
	// Many blobs in one fan-out directory, more than a chunk's worth.
	for i := range 2*dirChunk + 7 {
		key := "00" + strings.Repeat("0", 24) + fmt.Sprintf("%06x", i)
		if err := os.WriteFile(filepath.Join(dir, "00", key), []byte("z"), 0o600); err != nil {
			t.Fatal(err)
		}
		want[key] = true
	}
	strays := map[string]func(string) error{
		filepath.Join(dir, "00", "notes.txt"):                         touch,
		filepath.Join(dir, "01", "00"+strings.Repeat("1", 30)):        touch, // wrong fan-out
		filepath.Join(dir, "02", "02"+strings.Repeat("A", 30)):        touch, // upper case
		filepath.Join(dir, "03", "03"+strings.Repeat("3", 30)+".tmp"): touch,
		filepath.Join(dir, "04", "04"+strings.Repeat("4", 30)):        func(p string) error { return os.Mkdir(p, 0o700) },
		filepath.Join(dir, "05", "05"+strings.Repeat("5", 30)):        func(p string) error { return os.Symlink(filepath.Join(dir, "00", "notes.txt"), p) },
	}
	for p, create := range strays {
		if err := create(p); err != nil {
			t.Fatal(err)
		}
	}
	w, err := s.Create(t.Context()) // a temporary file
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()

	got := make(map[string]bool)
	err = s.Walk(t.Context(), func(b pmgsync.BlobInfo) error {
		if got[b.Key] {
			t.Errorf("%s reported twice", b.Key)
		}
		got[b.Key] = true
		if !want[b.Key] {
			t.Errorf("Walk reported %s, which is not a committed blob", b.Key)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("Walk reported %d blobs; want %d", len(got), len(want))
	}

	// Cancellation is noticed within a directory, not only between them.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	err = s.Walk(ctx, func(pmgsync.BlobInfo) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled Walk = %v after %d calls; want context.Canceled after 1", err, calls)
	}
}

func touch(path string) error { return os.WriteFile(path, nil, 0o600) }

func BenchmarkCommit60KB(b *testing.B) { benchmarkCommit(b, 60<<10) }
func BenchmarkCommit20MB(b *testing.B) { benchmarkCommit(b, 20<<20) }

// benchmarkCommit measures one upload's share of the store: create, write
// size bytes in the 32 KB pieces io.Copy uses, commit (two fsyncs). Each
// blob is deleted, untimed, so that the disk use stays bounded.
func benchmarkCommit(b *testing.B, size int) {
	s := openStore(b, b.TempDir())
	chunk := bytes.Repeat([]byte{0x5a}, 32<<10)
	b.SetBytes(int64(size))
	for b.Loop() {
		w, err := s.Create(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		for n := size; n > 0; n -= len(chunk) {
			if _, err := w.Write(chunk[:min(n, len(chunk))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Delete(b.Context(), w.Key()); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
