package backup

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/pmgsync/pmgsync/fsutil"
)

// Use marks the data directory dir as in use by this process until the
// returned Closer is closed: it holds a shared flock(2) on the directory,
// which any number of pmgsync processes (the server, administration
// commands) hold together and which keeps Restore from replacing the
// directory's contents under them. It fails, wrapping ErrInUse, while a
// restore into dir holds its exclusive lock. The kernel drops the lock
// when the process dies. dir must exist.
//
// If a restore into dir died in the middle of its swap, Use takes it up
// first: before the restore's commit point, it puts back the entries that
// it moved aside; after, it puts the rest of the restored entries in
// place, for the restore was complete and checked, only its renames were
// left. It fails if it cannot, and says what to do. Processes that start
// on dir at once take turns at that: the others wait for the one that
// takes it up, then find it done.
func Use(dir string) (io.Closer, error) {
	return use(dir, swapHooks{})
}

// use is Use, running the hooks h as it takes up a swap.
func use(dir string, h swapHooks) (io.Closer, error) {
	f, ok, err := lockDir(dir, syscall.LOCK_SH)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: a restore into it is in progress: %w", dir, ErrInUse)
	}
	d, err := openSwapDir(dir)
	if err == nil {
		_, err = recoverSwap(d, h)
		d.Close()
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// lockDir opens the directory dir and takes a flock of kind how
// (LOCK_SH or LOCK_EX) without waiting. It reports false, with no file,
// if another open file description holds a conflicting lock.
func lockDir(dir string, how int) (*os.File, bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, err
	}
	ok, err := fsutil.TryFlock(f, how)
	if err != nil || !ok {
		f.Close()
		return nil, false, err
	}
	return f, true, nil
}
