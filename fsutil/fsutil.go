// Package fsutil holds the few file system steps that pmgsync's blob
// store, backups and restores are built on: making a directory's entries
// durable, telling whether a path still names an open file, and flock(2)
// locks. It imports only the standard library.
package fsutil

import (
	"errors"
	"os"
	"syscall"
)

// SyncDir makes the entries of directory path durable: the creation,
// rename or removal of files in it survives a power loss once it returns.
// It returns the error of opening, fsyncing or closing the directory.
func SyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// SamePath reports whether path still names the open file f. It reports
// false, with no error, if nothing is at path any more or something else
// is (a symbolic link at path is not followed). It fails only if f or
// path cannot be examined.
func SamePath(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// Flock takes a flock(2) of kind how (syscall.LOCK_SH or syscall.LOCK_EX)
// on f, waiting for it; the lock is released when f is closed. flock locks
// belong to the open file description, so two opens of one file conflict
// even within one process, and the kernel drops a lock when its process
// dies. A failure of the call is an *os.PathError naming f.
func Flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	err = rc.Control(func(fd uintptr) {
		for {
			lerr = syscall.Flock(int(fd), how)
			if !errors.Is(lerr, syscall.EINTR) {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if lerr != nil {
		return &os.PathError{Op: "flock", Path: f.Name(), Err: lerr}
	}
	return nil
}

// TryFlock is Flock without waiting: it reports false, with no error, if
// another open file description holds a conflicting lock. So a lock that
// can be taken means that no live process holds it.
func TryFlock(f *os.File, how int) (bool, error) {
	err := Flock(f, how|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}

// LockIfSame takes an exclusive flock on f, opened at path, without
// waiting, and reports whether it got it with path still naming f. It is
// the lock of a temporary file that its writer creates and locks until it
// is done, and that a sweep removes only while holding the same lock: the
// writer, once it has it, knows no sweep will remove its file (a sweep
// that had it removed the file, or is about to, and path no longer names
// f); a sweep, once it has it, knows no live writer uses the file, since
// the kernel drops the lock when its process dies. It reports false, with
// no error, if another open file description holds a lock on f or path no
// longer names f; a false with path changed leaves f locked until closed.
func LockIfSame(f *os.File, path string) (bool, error) {
	locked, err := TryFlock(f, syscall.LOCK_EX)
	if err != nil || !locked {
		return false, err
	}
	return SamePath(f, path)
}
