package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/pmgsync/pmgsync/fsutil"
)

// partialInfix is in the name of an archive being written by ToFile:
// .NAME.partial-DIGITS beside NAME.
const partialInfix = ".partial-"

// partialAttempts bounds createPartial's retries, needed only when a
// RemoveStalePartials removes the new file between its creation and its
// locking.
const partialAttempts = 8

// createPartial creates, in dir, the file where ToFile writes the archive
// base, and locks it (an exclusive flock held until it is closed), so that
// RemoveStalePartials leaves it alone.
func createPartial(dir, base string) (*os.File, error) {
	for range partialAttempts {
		f, err := os.CreateTemp(dir, "."+base+partialInfix+"*")
		if err != nil {
			return nil, err
		}
		ok, err := fsutil.LockIfSame(f, f.Name())
		if err == nil && ok {
			return f, nil
		}
		f.Close()
		if err != nil {
			os.Remove(f.Name())
			return nil, err
		}
		// A stale-partial sweep took it for a dead backup's, and removes
		// it, or has.
	}
	return nil, fmt.Errorf("no usable temporary file after %d attempts", partialAttempts)
}

// RemoveStalePartials removes from dir the temporary files of archives
// that ToFile was writing when its process died (.NAME.partial-*, for the
// NAMEs that archive accepts), and returns how many it removed. The file
// of a backup still writing, in this process or another, is locked and
// left alone, so it is safe while backups run.
func RemoveStalePartials(ctx context.Context, dir string, archive func(name string) bool) (int, error) {
	partial := func(e fs.DirEntry) bool {
		name, ok := strings.CutPrefix(e.Name(), ".")
		i := strings.LastIndex(name, partialInfix)
		return ok && i >= 0 && e.Type().IsRegular() && archive(name[:i])
	}
	removed, err := removeStale(ctx, dir, partial, removeIfUnlocked)
	if err != nil {
		return removed, fmt.Errorf("remove stale partial archives: %w", err)
	}
	return removed, nil
}

// removeIfUnlocked removes the file at path unless its writer holds its
// lock, and reports whether it did.
func removeIfUnlocked(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close() // releases the lock, after the removal
	if ok, err := fsutil.LockIfSame(f, path); err != nil || !ok {
		return false, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	return true, nil
}
