package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/pmgsync/pmgsync/fsutil"
)

// stagingPrefix starts the name of a backup's staging directory in the
// data directory.
const stagingPrefix = "backup-staging-"

// staging is a backup's working directory inside the data directory: hard
// links to the blobs being archived, the snapshot and the manifest being
// written. Its backup holds an exclusive flock on it, so that
// RemoveStaleStaging, in the server or any process, removes only the
// staging directories of backups that died.
type staging struct {
	dir  string
	lock *os.File
}

// stagingAttempts bounds newStaging's retries, needed only when a
// RemoveStaleStaging removes the new directory between its creation and
// its locking.
const stagingAttempts = 8

// newStaging creates and locks a staging directory in dataDir.
func newStaging(dataDir string) (*staging, error) {
	for range stagingAttempts {
		dir, err := os.MkdirTemp(dataDir, stagingPrefix+"*")
		if err != nil {
			return nil, fmt.Errorf("create the staging directory: %w", err)
		}
		f, ok, err := lockDir(dir, syscall.LOCK_EX)
		if errors.Is(err, fs.ErrNotExist) || err == nil && !ok {
			continue // a stale-staging sweep took it for a dead backup's
		}
		if err != nil {
			os.Remove(dir)
			return nil, fmt.Errorf("lock the staging directory: %w", err)
		}
		if same, err := fsutil.SamePath(f, dir); err != nil || !same {
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("lock the staging directory: %w", err)
			}
			continue
		}
		return &staging{dir: dir, lock: f}, nil
	}
	return nil, fmt.Errorf("create the staging directory: no usable directory after %d attempts", stagingAttempts)
}

// path returns the path of name in the staging directory.
func (s *staging) path(name string) string { return filepath.Join(s.dir, name) }

// remove removes the staging directory and everything in it, then
// releases its lock.
func (s *staging) remove() error {
	err := os.RemoveAll(s.dir)
	s.lock.Close()
	if err != nil {
		return fmt.Errorf("remove the staging directory %s: %w", s.dir, err)
	}
	return nil
}

// RemoveStaleStaging removes the staging directories that backups which
// died (a crash, a SIGKILL) left in the data directory dataDir, and
// returns how many it removed. A running backup's directory, in this
// process or another, is locked and left alone, so it is safe while
// backups run; the server calls it at start-up, and every backup before
// it starts.
func RemoveStaleStaging(ctx context.Context, dataDir string) (int, error) {
	staging := func(e fs.DirEntry) bool {
		return e.IsDir() && strings.HasPrefix(e.Name(), stagingPrefix)
	}
	removed, err := removeStale(ctx, dataDir, staging, removeIfStale)
	if err != nil {
		return removed, fmt.Errorf("remove stale backup staging: %w", err)
	}
	return removed, nil
}

// removeStale calls remove on the path of each entry of dir that match
// selects, and returns how many of them remove reported it removed. It
// reads dir in batches, so that a large directory is never held in memory
// at once, and stops at the first error, of reading dir or of remove, or
// when ctx is done.
func removeStale(ctx context.Context, dir string, match func(fs.DirEntry) bool, remove func(path string) (bool, error)) (int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	removed := 0
	for {
		entries, rerr := d.ReadDir(256)
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return removed, err
			}
			if !match(e) {
				continue
			}
			ok, err := remove(filepath.Join(dir, e.Name()))
			if err != nil {
				return removed, err
			}
			if ok {
				removed++
			}
		}
		if rerr == io.EOF {
			return removed, nil
		}
		if rerr != nil {
			return removed, rerr
		}
	}
}

// removeIfStale removes the staging directory dir unless its backup holds
// its lock, and reports whether it did.
func removeIfStale(dir string) (bool, error) {
	f, ok, err := lockDir(dir, syscall.LOCK_EX)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil || !ok {
		return false, err
	}
	defer f.Close() // releases the lock, after the removal
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	return true, nil
}
