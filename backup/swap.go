package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pmgsync/pmgsync/fsutil"
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
		isExtraction(name) || strings.HasPrefix(name, asidePrefix)
}

// extractionID is the length of the random part of an extraction
// directory's name: hexadecimal digits.
const extractionID = 16

// isExtraction reports whether name is one that makeExtractionDir gives,
// which no other entry of a data directory is taken for: an operator's
// own .restore-notes is data.
func isExtraction(name string) bool {
	id, ok := strings.CutPrefix(name, restorePrefix)
	if !ok || len(id) != extractionID {
		return false
	}
	for i := range len(id) {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// makeExtractionDir creates a new extraction directory in dir, with a
// name that isExtraction recognizes, and returns its path.
func makeExtractionDir(dir string) (string, error) {
	for range 10 {
		path := filepath.Join(dir, fmt.Sprintf("%s%0*x", restorePrefix, extractionID, rand.Uint64()))
		err := os.Mkdir(path, 0o700)
		if err == nil {
			return path, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for an extraction directory in %s", dir)
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
// point left in the directory: their extraction directories, and a
// journal being written; nothing else, and no directory that is not the
// current user's own. The caller holds the directory's exclusive lock,
// and no journal is in it.
func removeStaleRestores(d *swapDir) error {
	entries, err := os.ReadDir(d.path)
	if err != nil {
		return err
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case isExtraction(name):
			if ok, err := d.ownDir(name); err != nil || !ok {
				continue // not one of ours after all: left alone, as it is not data either
			}
			err = d.root.RemoveAll(name)
		case name == journalTemp:
			err = d.root.Remove(name)
		default:
			continue
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove what a dead restore left: %w", err)
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
	// wait, if not nil, is called when another process is taking up the
	// swap of an interrupted restore, before waiting for it to finish.
	wait func()
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

// swapIn puts the restored entries that j names in place of the
// directory's own, and reports whether the restore is committed, which it
// may be even when it fails: the next recoverSwap finishes the swap then.
// When it fails before, the directory's entries are where they were,
// unless putting them back failed too: the next recoverSwap puts them
// back then. The caller holds the directory's exclusive lock.
func swapIn(d *swapDir, j *journal, h swapHooks) (committed bool, err error) {
	// The journal names the extraction directory: its entry must be as
	// durable as the journal.
	if err := d.sync("."); err != nil {
		return false, err
	}
	if len(j.Old) > 0 {
		if _, err := writeJournal(d, j, h); err != nil {
			return false, undoAfter(d, j, err)
		}
		if err := moveAside(d, j, h); err != nil {
			return false, undoAfter(d, j, err)
		}
	}
	j.Committed = true
	if committed, err := writeJournal(d, j, h); err != nil {
		if committed {
			return true, err
		}
		j.Committed = false
		return false, undoAfter(d, j, err)
	}
	return true, finishSwap(d, j, h)
}

// moveAside moves the old entries that j names into a new directory,
// Aside.
func moveAside(d *swapDir, j *journal, h swapHooks) error {
	if err := d.root.Mkdir(j.Aside, 0o700); err != nil {
		return err
	}
	// Its entry must be durable before any entry is moved into it: a power
	// cut that lost it would lose them too.
	if err := d.sync("."); err != nil {
		return err
	}
	for _, name := range j.Old {
		if err := h.at(stepMoveOld, name); err != nil {
			return err
		}
		if err := d.root.Rename(name, filepath.Join(j.Aside, name)); err != nil {
			return unmovable(d.join(name), err)
		}
	}
	if err := d.sync(j.Aside); err != nil {
		return err
	}
	return d.sync(".")
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
		return fmt.Errorf("cannot move %q aside: %w", path, err)
	}
	return fmt.Errorf("cannot move %q aside: %w: %s", path, err, hint)
}

// undoAfter undoes the swap of j, which failed with err before its commit
// point, and returns err, which says whether that worked.
func undoAfter(d *swapDir, j *journal, err error) error {
	if uerr := undoSwap(d, j); uerr != nil {
		return fmt.Errorf("%w; then putting the entries of %s back failed too: %v; "+
			"the next pmgsync command on it puts them back once that is fixed", err, d.path, uerr)
	}
	return fmt.Errorf("%w; nothing was changed", err)
}

// undoSwap moves back the old entries that j names, those moved aside
// already, and removes the extraction directory, the one made for the
// old entries, and the journal. It may run again after a crash: every
// step checks whether it was done.
func undoSwap(d *swapDir, j *journal) error {
	if j.Aside != "" {
		for _, name := range j.Old {
			if err := d.moveOnce(filepath.Join(j.Aside, name), name); err != nil {
				return err
			}
		}
		if err := d.sync("."); err != nil {
			return err
		}
		if err := d.root.Remove(j.Aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := d.root.RemoveAll(j.Tmp); err != nil {
		return err
	}
	return removeJournal(d)
}

// finishSwap moves the restored entries that j names, those not moved
// yet, into the directory, and removes the extraction directory and the
// journal, once the restore is committed. It may run again after a crash:
// every step checks whether it was done. It moves nothing unless every
// restored entry is there, to be moved in or moved already.
func finishSwap(d *swapDir, j *journal, h swapHooks) error {
	var missing []string
	for _, name := range j.New {
		inTmp, err := d.lexists(filepath.Join(j.Tmp, name))
		if err != nil {
			return err
		}
		inDir, err := d.lexists(name)
		if err != nil {
			return err
		}
		if !inTmp && !inDir {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return lostRestore(d, j, missing)
	}
	for _, name := range j.New {
		if err := h.at(stepMoveNew, name); err != nil {
			return err
		}
		if err := d.moveOnce(filepath.Join(j.Tmp, name), name); err != nil {
			return err
		}
	}
	if err := d.sync("."); err != nil {
		return err
	}
	if err := d.root.Remove(j.Tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the extraction directory: %w", err)
	}
	return removeJournal(d)
}

// lostRestore is the error of a committed swap whose restored entries
// missing are neither in the extraction directory nor in the data
// directory: something removed them, and the swap cannot be finished.
func lostRestore(d *swapDir, j *journal, missing []string) error {
	msg := fmt.Sprintf("the restore was committed, but its restored entries %q are neither in %q nor in %q: "+
		"it cannot be finished", missing, d.join(j.Tmp), d.path)
	if j.Aside != "" {
		msg += fmt.Sprintf("; the previous entries of %q are in %q: to go back to them, stop every pmgsync process "+
			"on %[1]q, move them back into it", d.path, d.join(j.Aside))
	} else {
		msg += "; stop every pmgsync process on it"
	}
	return fmt.Errorf("%s, remove %q, then run the restore again", msg, d.join(journalName))
}

// recovery says what recoverSwap did.
type recovery int

const (
	recoveredNone     recovery = iota // no swap to take up
	recoveredUndone                   // a swap before its commit point, undone
	recoveredFinished                 // a swap after its commit point, finished
)

// recoverSwap takes up the swap of a restore interrupted in the middle,
// if the directory has one: it undoes it if the restore was not
// committed, finishes it if it was, and reports which.
//
// The caller holds the directory's lock, exclusive (a restore) or shared
// (Use): no restore runs then, but other processes starting on the
// directory may be taking up the same swap. Each holds the journal's own
// flock, exclusive, while it does: the others wait for it, then find the
// journal gone.
func recoverSwap(d *swapDir, h swapHooks) (recovery, error) {
	// A journal is replaced only by a restore, which the caller's lock
	// keeps out: a second turn finds none.
	for range 3 {
		f, err := openJournal(d)
		if err != nil || f == nil {
			return recoveredNone, err
		}
		done, taken, err := recoverLocked(d, f, h)
		f.Close()
		if !taken {
			return done, err
		}
	}
	return recoveredNone, fmt.Errorf("the journal %q of an interrupted restore keeps changing", d.join(journalName))
}

// recoverLocked is recoverSwap with f, the journal opened: it takes its
// lock, and reports whether another process took the swap up meanwhile,
// which removed the journal.
func recoverLocked(d *swapDir, f *os.File, h swapHooks) (done recovery, taken bool, err error) {
	ok, err := fsutil.TryFlock(f, syscall.LOCK_EX)
	if err == nil && !ok {
		if h.wait != nil {
			h.wait()
		}
		err = fsutil.Flock(f, syscall.LOCK_EX)
	}
	if err != nil {
		return recoveredNone, false, err
	}
	if same, err := fsutil.SamePath(f, d.join(journalName)); err != nil || !same {
		return recoveredNone, err == nil, err
	}
	j, err := readJournal(d, f)
	if err != nil {
		return recoveredNone, false, err
	}
	if !j.Committed {
		if err := undoSwap(d, j); err != nil {
			return recoveredNone, false, fmt.Errorf("undo the interrupted restore into %s: %w", d.path, err)
		}
		return recoveredUndone, false, nil
	}
	if err := finishSwap(d, j, h); err != nil {
		return recoveredNone, false, fmt.Errorf("finish the interrupted restore into %s: %w", d.path, err)
	}
	return recoveredFinished, false, nil
}
