package blobtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// modTimeSlack is how far a reported ModTime may be from the commit it
// describes: file system timestamps are coarse and object stores' clocks
// drift a little from ours, but a zero or made-up time is caught.
const modTimeSlack = 5 * time.Minute

// testWalk: Walk reports exactly the committed blobs, each once, with their
// sizes, and nothing that is being written, aborted or deleted.
func testWalk(t *testing.T, s pmgsync.BlobStore) {
	if all := walkAll(t, s); len(all) != 0 {
		t.Fatalf("Walk of a new store reported %v; want nothing", all)
	}
	start := time.Now()
	want := make(map[string]int64)
	for i, size := range []int{0, 1, 10, 4096, 65_536, 300_001} {
		want[put(t, s, content(uint64(100+i), size), 1000)] = int64(size)
	}
	deleted := put(t, s, []byte("deleted"), 0)
	if err := s.Delete(t.Context(), deleted); err != nil {
		t.Fatal(err)
	}
	pending, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer pending.Abort()
	pending.Write([]byte("pending"))
	aborted, err := s.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	aborted.Write([]byte("aborted"))
	aborted.Abort()
	end := time.Now()

	got := walkAll(t, s)
	for key, b := range got {
		size, ok := want[key]
		switch {
		case !ok:
			t.Errorf("Walk reported %s, which is not a committed blob", key)
		case b.Key != key || b.Size != size:
			t.Errorf("Walk reported %+v; want key %s, size %d", b, key, size)
		case b.ModTime.Before(start.Add(-modTimeSlack)) || b.ModTime.After(end.Add(modTimeSlack)):
			t.Errorf("Walk reported ModTime %v for %s; want between %v and %v", b.ModTime, key, start, end)
		}
	}
	for key := range want {
		if _, ok := got[key]; !ok {
			t.Errorf("Walk did not report committed blob %s", key)
		}
	}
}

// testWalkStopsOnError: fn's error ends the walk and is what Walk returns.
func testWalkStopsOnError(t *testing.T, s pmgsync.BlobStore) {
	for i := range 5 {
		put(t, s, content(uint64(200+i), 10), 0)
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.Walk(t.Context(), func(pmgsync.BlobInfo) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("Walk returned %v; want fn's error %v", err, stop)
	}
	if calls != 1 {
		t.Errorf("fn called %d times after returning an error; want 1", calls)
	}
}

// testWalkCancel: a cancelled walk stops before the next call of fn.
func testWalkCancel(t *testing.T, s pmgsync.BlobStore) {
	for i := range 5 {
		put(t, s, content(uint64(300+i), 10), 0)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := 0
	err := s.Walk(ctx, func(pmgsync.BlobInfo) error {
		calls++
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Walk returned %v; want an error wrapping context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("fn called %d times; want 1 (none after cancellation)", calls)
	}
}

// testConcurrent: 16 goroutines create, commit, read back, delete and abort
// blobs at once while another walks the store; afterwards exactly the blobs
// that were committed and not deleted remain. Run it with -race.
func testConcurrent(t *testing.T, s pmgsync.BlobStore) {
	const workers, rounds = 16, 12
	ctx := t.Context()
	var (
		mu        sync.Mutex
		committed = make(map[string]int64) // key → size, once Commit returned
		kept      = make(map[string]int64)
	)
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			if err := churn(ctx, s, g, rounds, func(key string, size int64, keep bool) {
				mu.Lock()
				defer mu.Unlock()
				committed[key] = size
				if keep {
					kept[key] = size
				}
			}); err != nil {
				t.Errorf("worker %d: %v", g, err)
			}
		})
	}
	done := make(chan struct{})
	walker := make(chan error, 1)
	go func() {
		for {
			err := s.Walk(ctx, func(b pmgsync.BlobInfo) error {
				mu.Lock()
				size, known := committed[b.Key]
				mu.Unlock()
				if known && size != b.Size {
					return fmt.Errorf("concurrent Walk reported %s with %d bytes; committed %d", b.Key, b.Size, size)
				}
				return nil
			})
			select {
			case <-done:
				walker <- err
				return
			default:
			}
			if err != nil {
				walker <- err
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	if err := <-walker; err != nil {
		t.Errorf("Walk during concurrent writes: %v", err)
	}

	got := walkAll(t, s)
	if len(got) != len(kept) {
		t.Errorf("Walk reported %d blobs; want the %d kept", len(got), len(kept))
	}
	for key, size := range kept {
		if b, ok := got[key]; !ok || b.Size != size {
			t.Errorf("kept blob %s: Walk reported %+v (found %v); want %d bytes", key, b, ok, size)
		}
	}
}

// churn is one worker of testConcurrent. Each round commits a blob and reads
// it back, deletes every other one, and aborts a second, half-written blob.
// It calls record for each committed blob, saying whether it is kept.
func churn(ctx context.Context, s pmgsync.BlobStore, g, rounds int, record func(key string, size int64, keep bool)) error {
	for r := range rounds {
		seed := uint64(g*1000 + r)
		data := content(seed, int(seed*7919%(64<<10)))
		key, err := tryPut(ctx, s, data, 1+int(seed%5000))
		if err != nil {
			return fmt.Errorf("put: %w", err)
		}
		keep := r%2 == 0
		record(key, int64(len(data)), keep)
		got, err := tryGet(ctx, s, key)
		if err != nil {
			return fmt.Errorf("read back %s: %w", key, err)
		}
		if string(got) != string(data) {
			return fmt.Errorf("read back %s: %d bytes differ from the %d written", key, len(got), len(data))
		}
		if !keep {
			if err := s.Delete(ctx, key); err != nil {
				return fmt.Errorf("delete %s: %w", key, err)
			}
			if _, err := tryGet(ctx, s, key); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
				return fmt.Errorf("open %s after delete: %v; want ENOTFOUND", key, err)
			}
		}
		w, err := s.Create(ctx)
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		_, werr := w.Write(data[:len(data)/2])
		if err := w.Abort(); err != nil || werr != nil {
			return fmt.Errorf("write then abort: %v, %v", werr, err)
		}
	}
	return nil
}
