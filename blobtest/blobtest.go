// Package blobtest is the contract test suite of pmgsync.BlobStore: every
// implementation (localfs, s3) runs it from its own tests with
//
//	func TestContract(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) pmgsync.BlobStore { return openStore(t) })
//	}
//
// The suite uses only the BlobStore interface. Besides what store.go states,
// it holds implementations to these points of the contract:
//   - keys are non-empty and contain no '/', '\\', "..", or control
//     characters, and a writer's Key does not change when it commits;
//   - Open of any key that is not a committed blob, whatever its form, is
//     ENOTFOUND;
//   - Walk reports each committed blob once with its exact size and a
//     ModTime close to the time of its commit, and returns an error
//     wrapping ctx.Err() without calling fn again once ctx is done;
//   - Open's content seeks like a file (net/http serves Range requests).
package blobtest

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/pmgsync/pmgsync"
)

// Run runs the contract suite as subtests of t. open must return a new,
// empty store each time it is called, and release it with t.Cleanup; the
// subtests run in parallel, each with its own store.
func Run(t *testing.T, open func(t *testing.T) pmgsync.BlobStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s pmgsync.BlobStore)
	}{
		{"RoundTrip", testRoundTrip},
		{"KeysUnique", testKeysUnique},
		{"UncommittedInvisible", testUncommittedInvisible},
		{"AbortDiscards", testAbortDiscards},
		{"AbortAfterCommit", testAbortAfterCommit},
		{"OpenUnknown", testOpenUnknown},
		{"DeleteThenOpen", testDeleteThenOpen},
		{"DeleteMissing", testDeleteMissing},
		{"Seek", testSeek},
		{"Walk", testWalk},
		{"WalkStopsOnError", testWalkStopsOnError},
		{"WalkCancel", testWalkCancel},
		{"Concurrent", testConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// content returns n bytes of reproducible pseudo-random data, different for
// each seed, so that a misplaced chunk shows up as a mismatch.
func content(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}).Read(b)
	return b
}

// put stores data as a new blob, written chunk bytes at a time (all at once
// if chunk is 0), and returns its key.
func put(t testing.TB, s pmgsync.BlobStore, data []byte, chunk int) string {
	t.Helper()
	key, err := tryPut(t.Context(), s, data, chunk)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// tryPut is put for goroutines other than the test's: it returns its error.
func tryPut(ctx context.Context, s pmgsync.BlobStore, data []byte, chunk int) (string, error) {
	w, err := s.Create(ctx)
	if err != nil {
		return "", err
	}
	defer w.Abort()
	if chunk <= 0 {
		chunk = max(len(data), 1)
	}
	for rest := data; len(rest) > 0; {
		n := min(chunk, len(rest))
		m, err := w.Write(rest[:n])
		if err != nil {
			return "", err
		}
		if m != n {
			return "", io.ErrShortWrite
		}
		rest = rest[n:]
	}
	key := w.Key()
	if err := w.Commit(); err != nil {
		return "", err
	}
	if got := w.Key(); got != key {
		return "", &keyChanged{before: key, after: got}
	}
	return key, nil
}

type keyChanged struct{ before, after string }

func (e *keyChanged) Error() string {
	return "Key() changed by Commit: " + e.before + " became " + e.after
}

// get returns the content of the committed blob key.
func get(t testing.TB, s pmgsync.BlobStore, key string) []byte {
	t.Helper()
	b, err := tryGet(t.Context(), s, key)
	if err != nil {
		t.Fatalf("read blob %s: %v", key, err)
	}
	return b
}

func tryGet(ctx context.Context, s pmgsync.BlobStore, key string) ([]byte, error) {
	rc, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return b, err
}

// wantNotFound fails t unless Open of key is ENOTFOUND.
func wantNotFound(t testing.TB, s pmgsync.BlobStore, key string) {
	t.Helper()
	rc, err := s.Open(t.Context(), key)
	if err == nil {
		rc.Close()
		t.Errorf("Open(%q) succeeded; want ENOTFOUND", key)
		return
	}
	if got := pmgsync.ErrorCode(err); got != pmgsync.ENOTFOUND {
		t.Errorf("Open(%q) = error %v with code %q; want code %q", key, err, got, pmgsync.ENOTFOUND)
	}
}

// sameBytes fails t if got differs from want, naming the first difference
// rather than printing megabytes.
func sameBytes(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: got %d bytes, want %d; first difference at offset %d", what, len(got), len(want), i)
}

// walkAll returns every blob Walk reports, failing t on a duplicate.
func walkAll(t testing.TB, s pmgsync.BlobStore) map[string]pmgsync.BlobInfo {
	t.Helper()
	all := make(map[string]pmgsync.BlobInfo)
	err := s.Walk(t.Context(), func(b pmgsync.BlobInfo) error {
		if _, dup := all[b.Key]; dup {
			t.Errorf("Walk reported %s twice", b.Key)
		}
		all[b.Key] = b
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return all
}
