package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// A restore works inside the data directory, never beside it, so that it
// needs nothing of the directory's parent and works when the directory is
// a mount point (a container's volume, a disk of its own), which cannot be
// renamed or removed. It extracts the archive into DIR/.restore-*, then
// swaps the entries: the directory's previous ones go into
// DIR/.before-restore-*, the restored ones take their place.
//
// The swap is several renames, made one operation by a journal
// (DIR/.pmgsync-restore-journal, written atomically and durably), which
// names the entries to move. Once the restored data is checked and
// durable, the restore writes the journal, then moves the previous
// entries aside. Any of them may refuse to move (a mount point, a
// directory that the user cannot write): the restore then puts back those
// it moved, and the directory is as it was. Once they are all aside, the
// restore marks the journal committed: that is its commit point. Then it
// moves the restored entries in, and removes the journal. A swap that a
// crash interrupts is taken up by whoever next locks the directory (the
// next restore, or Use: the server, any command): before the commit
// point, it puts the previous entries back; after it, it moves the rest
// of the restored ones in. Every step checks whether it was done.
//
// The journal's name does not start as the extraction directories' do:
// removing DIR/.restore-* by hand must not remove it.
const (
	restorePrefix = ".restore-"                // the extraction directory
	asidePrefix   = ".before-restore-"         // the previous contents, after a restore
	journalName   = ".pmgsync-restore-journal" // the swap in progress
	journalTemp   = journalName + ".tmp"       // the journal being written
	lostFound     = "lost+found"               // a file system's own, at its root: never moved
)

// ownEntry reports whether the entry name of a data directory belongs to
// the restores (an extraction, a journal, earlier contents moved aside)
// or to its file system, rather than to the data it holds.
func ownEntry(name string) bool {
	return name == lostFound || name == journalName || name == journalTemp ||
		strings.HasPrefix(name, restorePrefix) || strings.HasPrefix(name, asidePrefix)
}

// dataEntries returns the names of the entries of dir that hold data: all
// but ownEntry's.
func dataEntries(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !ownEntry(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// removeStaleRestores removes what restores that died before their commit
// point left in dir: extraction directories and a journal being written.
// The caller holds dir's exclusive lock, and no journal is in dir.
func removeStaleRestores(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), restorePrefix) || e.Name() == journalTemp {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove what a dead restore left: %w", err)
			}
		}
	}
	return nil
}

// asideName returns a name for the previous contents of dir that no entry
// has: .before-restore-YYYYMMDD-HHMMSS, with a suffix if needed.
func asideName(dir string, now time.Time) (string, error) {
	base := asidePrefix + now.Format("20060102-150405")
	for i := 1; i < 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			return name, nil
		} else if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for the previous contents of %s: remove the %s* directories", dir, base)
}

// swapHooks are what a test runs at the steps of a swap, to make a step
// fail, or to kill the process there as a crash would.
type swapHooks struct {
	// step, if not nil, is called before the step named point, with the
	// entry that the step moves, if any; its error is the step's.
	step func(point, name string) error
}

// The steps of a swap that swapHooks.step is called at.
const (
	stepSyncBegin  = "sync-begin"  // make the rename of the first journal durable
	stepMoveOld    = "move-old"    // move an entry of the directory aside
	stepSyncCommit = "sync-commit" // make the rename of the committed journal durable
	stepMoveNew    = "move-new"    // move a restored entry into the directory
)

func (h swapHooks) at(point, name string) error {
	if h.step == nil {
		return nil
	}
	return h.step(point, name)
}

// swapIn puts the restored entries that j names in place of dir's own,
// and reports whether the restore is committed, which it may be even when
// it fails: the next recoverSwap finishes the swap then. When it fails
// before, dir's entries are where they were, unless putting them back
// failed too: the next recoverSwap puts them back then. The caller holds
// dir's exclusive lock.
func swapIn(dir string, j *journal, h swapHooks) (committed bool, err error) {
	// The journal names the extraction directory: its entry in dir must be
	// as durable as the journal.
	if err := syncDir(dir); err != nil {
		return false, err
	}
	if len(j.Old) > 0 {
		if _, err := writeJournal(dir, j, h); err != nil {
			return false, undoAfter(dir, j, err)
		}
		if err := moveAside(dir, j, h); err != nil {
			return false, undoAfter(dir, j, err)
		}
	}
	j.Committed = true
	if committed, err := writeJournal(dir, j, h); err != nil {
		if committed {
			return true, err
		}
		j.Committed = false
		return false, undoAfter(dir, j, err)
	}
	return true, finishSwap(dir, j, h)
}

// moveAside moves the old entries that j names into a new directory,
// Aside.
func moveAside(dir string, j *journal, h swapHooks) error {
	aside := filepath.Join(dir, j.Aside)
	if err := os.Mkdir(aside, 0o700); err != nil {
		return err
	}
	for _, name := range j.Old {
		if err := h.at(stepMoveOld, name); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(aside, name)); err != nil {
			return unmovable(filepath.Join(dir, name), err)
		}
	}
	if err := syncDir(aside); err != nil {
		return err
	}
	return syncDir(dir)
}

// unmovable describes the error of renaming path, an entry of the data
// directory, and what to do about it.
func unmovable(path string, err error) error {
	var hint string
	switch {
	case errors.Is(err, syscall.EBUSY):
		hint = "it is a mount point: a restore moves the entries of the data directory by renaming them, " +
			"which cannot move a mount point; unmount it first, or restore into another directory"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		hint = "run the restore as the user that owns the data directory and its entries (the service's user), " +
			"and make sure that user can write each directory in it: moving a directory rewrites its \"..\" entry"
	default:
		return fmt.Errorf("cannot move %s aside: %w", path, err)
	}
	return fmt.Errorf("cannot move %s aside: %w: %s", path, err, hint)
}

// undoAfter undoes the swap of j, which failed with err before its commit
// point, and returns err, which says whether that worked.
func undoAfter(dir string, j *journal, err error) error {
	if uerr := undoSwap(dir, j); uerr != nil {
		return fmt.Errorf("%w; then putting the entries of %s back failed too: %v; "+
			"the next pmgsync command on it puts them back once that is fixed", err, dir, uerr)
	}
	return fmt.Errorf("%w; nothing was changed", err)
}

// undoSwap moves back the old entries that j names, those moved aside
// already, and removes the extraction directory, the one made for the
// old entries, and the journal. It may run again after a crash: every
// step checks whether it was done.
func undoSwap(dir string, j *journal) error {
	if j.Aside != "" {
		aside := filepath.Join(dir, j.Aside)
		for _, name := range j.Old {
			if err := moveOnce(filepath.Join(aside, name), filepath.Join(dir, name)); err != nil {
				return err
			}
		}
		if err := syncDir(dir); err != nil {
			return err
		}
		if err := os.Remove(aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := os.RemoveAll(filepath.Join(dir, j.Tmp)); err != nil {
		return err
	}
	return removeJournal(dir)
}

// finishSwap moves the restored entries that j names, those not moved
// yet, into dir, and removes the extraction directory and the journal,
// once the restore is committed. It may run again after a crash: every
// step checks whether it was done. It moves nothing unless every restored
// entry is there, to be moved in or moved already.
func finishSwap(dir string, j *journal, h swapHooks) error {
	tmp := filepath.Join(dir, j.Tmp)
	var missing []string
	for _, name := range j.New {
		inTmp, err := lexists(filepath.Join(tmp, name))
		if err != nil {
			return err
		}
		inDir, err := lexists(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if !inTmp && !inDir {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return lostRestore(dir, j, missing)
	}
	for _, name := range j.New {
		if err := h.at(stepMoveNew, name); err != nil {
			return err
		}
		if err := moveOnce(filepath.Join(tmp, name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the extraction directory: %w", err)
	}
	return removeJournal(dir)
}

// lostRestore is the error of a committed swap whose restored entries
// missing are neither in the extraction directory nor in dir: something
// removed them, and the swap cannot be finished.
func lostRestore(dir string, j *journal, missing []string) error {
	msg := fmt.Sprintf("the restore was committed, but its restored entries %q are neither in %s nor in %s: "+
		"it cannot be finished", missing, filepath.Join(dir, j.Tmp), dir)
	if j.Aside != "" {
		msg += fmt.Sprintf("; the previous entries of %s are in %s: to go back to them, stop every pmgsync process "+
			"on %[1]s, move them back into it", dir, filepath.Join(dir, j.Aside))
	} else {
		msg += "; stop every pmgsync process on it"
	}
	return fmt.Errorf("%s, remove %s, then run the restore again", msg, filepath.Join(dir, journalName))
}

// lexists reports whether path names an entry (a symbolic link included).
func lexists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// moveOnce renames from to to, unless that was done before a crash: from
// is gone, to is there. That both or neither are there is an error: the
// directory changed under the swap.
func moveOnce(from, to string) error {
	done, err := lexists(to)
	if err != nil {
		return err
	}
	if done {
		if left, err := lexists(from); err != nil || left {
			if err == nil {
				err = fmt.Errorf("cannot move %s to %s: both exist", from, to)
			}
			return err
		}
		return nil
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("move %s to %s: %w", from, to, err)
	}
	return nil
}

// recoverSwap takes up the swap of a restore interrupted in the middle,
// if dir has one: it undoes it if the restore was not committed,
// finishes it if it was, and reports which. The caller holds dir's
// exclusive lock.
func recoverSwap(dir string) (finished bool, err error) {
	j, err := readJournal(dir)
	if err != nil || j == nil {
		return false, err
	}
	if !j.Committed {
		if err := undoSwap(dir, j); err != nil {
			return false, fmt.Errorf("undo the interrupted restore into %s: %w", dir, err)
		}
		return false, nil
	}
	if err := finishSwap(dir, j, swapHooks{}); err != nil {
		return false, fmt.Errorf("finish the interrupted restore into %s: %w", dir, err)
	}
	return true, nil
}

// useAfterRestore is Use for a directory whose last restore was
// interrupted during its swap: it finishes the swap under an exclusive
// lock, then holds the lock shared.
func useAfterRestore(dir string) (io.Closer, error) {
	f, ok, err := lockDir(dir, syscall.LOCK_EX)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: a restore into it is in progress: %w", dir, ErrInUse)
	}
	if _, err := recoverSwap(dir); err != nil {
		f.Close()
		return nil, err
	}
	// The conversion is not atomic (flock(2)): a restore that takes the
	// lock in between makes it fail, with ErrInUse, as it should.
	if ok, err := tryFlock(f, syscall.LOCK_SH); err != nil || !ok {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%s: %w", dir, ErrInUse)
		}
		return nil, err
	}
	return f, nil
}
