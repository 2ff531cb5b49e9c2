package blobtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/pmgsync/pmgsync"
)

// testRoundTrip: what is written and committed is what Open returns, byte
// for byte, whatever the size and however the writes are cut.
func testRoundTrip(t *testing.T, s pmgsync.BlobStore) {
	tests := []struct {
		name  string
		size  int
		chunk int
	}{
		{"empty", 0, 0},
		{"one byte", 1, 0},
		{"60KB in one write", 60 << 10, 0},
		{"5MB in 1000-byte writes", 5<<20 + 17, 1000},
		{"1MB in 7-byte writes", 1 << 20, 7},
	}
	for i, tt := range tests {
		want := content(uint64(i+1), tt.size)
		key := put(t, s, want, tt.chunk)
		sameBytes(t, tt.name, get(t, s, key), want)
		// A second reader sees the same, from the start.
		sameBytes(t, tt.name+", read again", get(t, s, key), want)
	}
}

// testKeysUnique: keys are fresh on every Create and cannot form a path.
func testKeysUnique(t *testing.T, s pmgsync.BlobStore) {
	seen := make(map[string]bool)
	for range 1000 {
		w, err := s.Create(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		key := w.Key()
		if err := w.Abort(); err != nil {
			t.Fatal(err)
		}
		if seen[key] {
			t.Fatalf("key %q generated twice", key)
		}
		seen[key] = true
		if key == "" || strings.ContainsAny(key, `/\`) || strings.Contains(key, "..") ||
			strings.ContainsFunc(key, unicode.IsControl) {
			t.Fatalf("key %q could form a path; want no '/', '\\', \"..\" or control characters", key)
		}
	}
}

// testUncommittedInvisible: a blob being written is neither openable nor
// walked until its Commit returns.
func testUncommittedInvisible(t *testing.T, s pmgsync.BlobStore) {
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	data := content(1, 100<<10)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	wantNotFound(t, s, w.Key())
	if all := walkAll(t, s); len(all) != 0 {
		t.Errorf("Walk before Commit reported %v; want nothing", all)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "after Commit", get(t, s, w.Key()), data)
	if all := walkAll(t, s); len(all) != 1 || all[w.Key()].Size != int64(len(data)) {
		t.Errorf("Walk after Commit reported %v; want only %s of %d bytes", all, w.Key(), len(data))
	}
}

// testAbortDiscards: an aborted blob never appears, and Abort is idempotent.
func testAbortDiscards(t *testing.T, s pmgsync.BlobStore) {
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(content(2, 10<<10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("second Abort: %v", err)
	}
	wantNotFound(t, s, w.Key())
	if all := walkAll(t, s); len(all) != 0 {
		t.Errorf("Walk after Abort reported %v; want nothing", all)
	}
}

// testAbortAfterCommit: `defer w.Abort()` must not undo a commit.
func testAbortAfterCommit(t *testing.T, s pmgsync.BlobStore) {
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	data := content(3, 1234)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := w.Abort(); err != nil {
			t.Fatalf("Abort #%d after Commit: %v; want nil", i+1, err)
		}
	}
	sameBytes(t, "after Commit and Abort", get(t, s, w.Key()), data)
	if all := walkAll(t, s); len(all) != 1 {
		t.Errorf("Walk reported %d blobs; want 1", len(all))
	}
}

// testOpenUnknown: any key that is not a committed blob is ENOTFOUND, be it
// well formed (an aborted blob's) or not a key at all.
func testOpenUnknown(t *testing.T, s pmgsync.BlobStore) {
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	aborted := w.Key()
	w.Abort()
	committed := put(t, s, []byte("x"), 0)
	for _, key := range []string{
		aborted, "", ".", "..", "tmp", "nonexistent", "../../etc/passwd",
		"00/../../../etc/passwd", committed + "/..", committed + ".tmp",
		strings.ToUpper(committed), committed[:len(committed)-1],
	} {
		if key == committed {
			continue // keys without lower-case letters: ToUpper changed nothing
		}
		wantNotFound(t, s, key)
	}
}

// testDeleteThenOpen: a deleted blob is gone, and deleting again is fine.
func testDeleteThenOpen(t *testing.T, s pmgsync.BlobStore) {
	keep := put(t, s, []byte("keep"), 0)
	key := put(t, s, content(4, 5000), 0)
	for i := range 2 {
		if err := s.Delete(t.Context(), key); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	wantNotFound(t, s, key)
	if all := walkAll(t, s); len(all) != 1 || all[keep].Key != keep {
		t.Errorf("Walk after Delete reported %v; want only %s", all, keep)
	}
	sameBytes(t, "other blob", get(t, s, keep), []byte("keep"))
}

// testDeleteMissing: deleting a blob that was never committed is not an
// error (the orphan sweep and a retried delete rely on it).
func testDeleteMissing(t *testing.T, s pmgsync.BlobStore) {
	w, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if err := s.Delete(t.Context(), w.Key()); err != nil {
		t.Errorf("Delete of a never-committed blob: %v; want nil", err)
	}
}

// testSeek: Open's content seeks like a file, readers are independent, and
// net/http serves Range requests from it.
func testSeek(t *testing.T, s pmgsync.BlobStore) {
	data := content(5, 100_000)
	key := put(t, s, data, 4096)
	ctx := t.Context()
	a, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := s.Open(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	seek := func(r io.Seeker, off int64, whence int, want int64) {
		t.Helper()
		got, err := r.Seek(off, whence)
		if err != nil || got != want {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", off, whence, got, err, want)
		}
	}
	read := func(r io.Reader, n int) []byte {
		t.Helper()
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			t.Fatalf("read %d bytes: %v", n, err)
		}
		return buf
	}
	seek(a, 1000, io.SeekStart, 1000)
	sameBytes(t, "500 bytes at 1000", read(a, 500), data[1000:1500])
	seek(a, 0, io.SeekCurrent, 1500)
	sameBytes(t, "other reader from the start", read(b, 10), data[:10])
	seek(a, -100, io.SeekEnd, int64(len(data)-100))
	rest, err := io.ReadAll(a)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "last 100 bytes", rest, data[len(data)-100:])
	seek(a, 0, io.SeekStart, 0)
	all, err := io.ReadAll(a)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, "whole blob after rewinding", all, data)

	for _, tt := range []struct {
		rng  string
		want []byte
	}{
		{"bytes=100-199", data[100:200]},
		{"bytes=-10", data[len(data)-10:]},
		{"bytes=99990-", data[99990:]},
	} {
		seek(b, 0, io.SeekStart, 0)
		req := httptest.NewRequest("GET", "/pull", nil)
		req.Header.Set("Range", tt.rng)
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "report.xlsx", time.Time{}, b)
		if rec.Code != http.StatusPartialContent {
			t.Errorf("Range %s: status %d; want %d", tt.rng, rec.Code, http.StatusPartialContent)
			continue
		}
		sameBytes(t, "Range "+tt.rng, rec.Body.Bytes(), tt.want)
	}
}
