package localfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/fsutil"
)

// createAttempts bounds Create's retries. A retry happens only when a
// concurrent RemoveTemp took the new file's lock in the instant between its
// creation and its locking (or, with probability 2^-128, on a key clash).
const createAttempts = 8

// Create starts a new blob: a temporary file tmp/<key>.tmp (mode 0600,
// created exclusively) on which the writer holds an exclusive flock until
// Commit or Abort, so that RemoveTemp, in this process or another, never
// removes it. The blob is invisible to Open and Walk until Commit returns nil.
func (s *Store) Create(ctx context.Context) (pmgsync.BlobWriter, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("localfs: create blob: %w", err)
	}
	for range createAttempts {
		key := newKey()
		tmp := s.tempPath(key)
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("localfs: create blob: %w", err)
		}
		ok, err := lockTemp(f, tmp)
		if err != nil {
			f.Close()
			os.Remove(tmp)
			return nil, fmt.Errorf("localfs: create blob: %w", err)
		}
		if !ok {
			// RemoveTemp holds or has removed the file; it will be gone.
			f.Close()
			continue
		}
		now := s.Now
		if now == nil {
			now = time.Now
		}
		return &writer{
			now:   now,
			key:   key,
			f:     f,
			tmp:   tmp,
			final: s.blobPath(key),
		}, nil
	}
	return nil, fmt.Errorf("localfs: create blob: no usable temporary file after %d attempts", createAttempts)
}

// lockTemp takes the lock of the temporary file f, opened at path, without
// waiting, and reports whether it got it with path still naming f. A writer
// takes it on the file it has just created and holds it until Commit or
// Abort; RemoveTemp removes a file only while it holds that lock. So once a
// writer has it, nobody else will remove the writer's file; once RemoveTemp
// has it, no live writer uses the file. The kernel drops the lock when its
// process dies: a lock that can be taken means no live writer.
func lockTemp(f *os.File, path string) (bool, error) { return fsutil.LockIfSame(f, path) }

// writer states.
const (
	writing = iota
	committed
	aborted // by Abort or a failed Write or Commit step
)

// writer writes one blob straight to its temporary file: nothing is
// buffered in memory beyond the caller's slice. It is not safe for
// concurrent use.
type writer struct {
	now   func() time.Time // the store's clock, for the commit stamp
	key   string
	f     *os.File // locked by us; closing it releases the lock
	tmp   string
	final string
	state int
}

var errDone = errors.New("writer already committed or aborted")

// Key returns the blob's key: 32 lowercase hex characters.
func (w *writer) Key() string { return w.key }

// Write appends p to the blob. After Commit or Abort it fails.
func (w *writer) Write(p []byte) (int, error) {
	if w.state != writing {
		return 0, fmt.Errorf("localfs: write blob %s: %w", w.key, errDone)
	}
	n, err := w.f.Write(p)
	if err != nil {
		return n, fmt.Errorf("localfs: write blob %s: %w", w.key, err)
	}
	return n, nil
}

// Commit makes the blob durable and visible: it stamps the commit time as
// the file's modification time (the BlobInfo.ModTime that Walk reports),
// fsyncs the file, renames it to <kk>/<key> and fsyncs that directory. A
// crash at any point leaves the blob either committed whole or absent, its
// temporary file then being RemoveTemp's. If Commit fails the blob is
// discarded, as by Abort. Commit after a successful Commit returns nil;
// after Abort it fails.
func (w *writer) Commit() error {
	switch w.state {
	case committed:
		return nil
	case aborted:
		return fmt.Errorf("localfs: commit blob %s: %w", w.key, errDone)
	}
	if err := w.commit(); err != nil {
		w.Abort()
		return fmt.Errorf("localfs: commit blob %s: %w", w.key, err)
	}
	w.state = committed
	// The data and the directory entry are durable: a failure to close now
	// cannot lose them, so it does not fail the commit.
	w.f.Close()
	return nil
}

func (w *writer) commit() error {
	if err := os.Chtimes(w.tmp, time.Time{}, w.now()); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return err
	}
	if err := os.Rename(w.tmp, w.final); err != nil {
		return err
	}
	// tmp/ is not fsynced: if the rename's removal of the temporary name
	// were lost, the blob would have two names, and RemoveTemp would only
	// drop the temporary one.
	if err := fsutil.SyncDir(filepath.Dir(w.final)); err != nil {
		// The blob may be visible but is not known to be durable: undo,
		// best effort. If this removal is lost too, the orphan sweep has it.
		os.Remove(w.final)
		return err
	}
	return nil
}

// Abort discards the blob: it removes the temporary file, then closes it,
// releasing the lock (removing first means RemoveTemp never sees a file of
// ours unlocked). After Commit, or a second time, it does nothing and
// returns nil.
func (w *writer) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = aborted
	err := os.Remove(w.tmp)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // a failed commit may have renamed it already
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("localfs: abort blob %s: %w", w.key, err)
	}
	return nil
}
