package backup

import (
	"encoding/json"
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
// The swap is several renames, made one operation by a journal: once the
// restored data is checked and durable, the restore writes the journal
// (DIR/.pmgsync-restore-journal, atomically), which names the entries to
// move; that is its commit point. Then it moves them, and removes the journal.
// Moving is idempotent, so a swap that a crash interrupts is finished by
// whoever next locks the directory: the next restore, or Use (the server,
// any command). Before the commit point a failure leaves the directory's
// entries as they were; after it, the restore is done.
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

// journal is a swap of a restore: the names, in the data directory, of
// the extraction directory (Tmp), of the directory where the previous
// entries go (Aside; "" if there are none), and of the entries to move.
type journal struct {
	Tmp   string   `json:"tmp"`
	Aside string   `json:"aside,omitempty"`
	Old   []string `json:"old"` // moved from the data directory into Aside
	New   []string `json:"new"` // moved from Tmp into the data directory
}

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
	stepSyncJournal = "sync-journal" // make the journal's rename durable
	stepMoveOld     = "move-old"     // move an entry of the directory aside
	stepMoveNew     = "move-new"     // move a restored entry into the directory
)

func (h swapHooks) at(point, name string) error {
	if h.step == nil {
		return nil
	}
	return h.step(point, name)
}

// commitSwap writes j as dir's journal, durably: the commit point of a
// restore. It reports whether the journal is in place, which it may be
// even when it fails (to make it durable): the restore is committed then.
func commitSwap(dir string, j *journal, h swapHooks) (bool, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return false, err
	}
	tmp := filepath.Join(dir, journalTemp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, journalName))
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("write the journal of the swap: %w", err)
	}
	if err := h.at(stepSyncJournal, ""); err != nil {
		return true, err
	}
	return true, syncDir(dir)
}

// readJournal returns the journal of a swap in dir, or nil if there is
// none.
func readJournal(dir string) (*journal, error) {
	b, err := os.ReadFile(filepath.Join(dir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("the journal %s of an interrupted restore cannot be read: %w", filepath.Join(dir, journalName), err)
	}
	valid := func(name string) bool {
		return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
	}
	ok := valid(j.Tmp) && strings.HasPrefix(j.Tmp, restorePrefix) && (j.Aside == "" || valid(j.Aside) && strings.HasPrefix(j.Aside, asidePrefix))
	for _, name := range append(append([]string(nil), j.Old...), j.New...) {
		ok = ok && valid(name) && !ownEntry(name)
	}
	if !ok || len(j.Old) > 0 && j.Aside == "" {
		return nil, fmt.Errorf("the journal %s of an interrupted restore names entries it cannot: %s", filepath.Join(dir, journalName), b)
	}
	return &j, nil
}

// finishSwap moves the entries that j names, those not moved yet, and
// removes the extraction directory and the journal. It may run again
// after a crash: every step checks whether it was done. It moves nothing
// unless every restored entry is still there to be moved in, or moved
// already.
func finishSwap(dir string, j *journal, h swapHooks) error {
	tmp := filepath.Join(dir, j.Tmp)
	aside := filepath.Join(dir, j.Aside)
	if err := checkRestored(dir, j); err != nil {
		return err
	}
	if j.Aside != "" {
		if err := os.Mkdir(aside, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create %s: %w", aside, err)
		}
		// Every old entry goes before any new one comes: an entry of the
		// data directory that has its name in Aside is a new one.
		for _, name := range j.Old {
			if err := h.at(stepMoveOld, name); err != nil {
				return err
			}
			if err := moveOnce(filepath.Join(dir, name), filepath.Join(aside, name)); err != nil {
				return err
			}
		}
		if err := syncDir(aside); err != nil {
			return err
		}
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
	if err := os.Remove(filepath.Join(dir, journalName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the journal of the swap: %w", err)
	}
	return syncDir(dir)
}

// checkRestored checks that each restored entry that j names is in the
// extraction directory, or in dir, moved already: an entry of dir that
// has the name of an old one is new only once the old one is aside.
func checkRestored(dir string, j *journal) error {
	old := make(map[string]bool, len(j.Old))
	for _, name := range j.Old {
		old[name] = true
	}
	var missing []string
	for _, name := range j.New {
		if exists, err := lexists(filepath.Join(dir, j.Tmp, name)); err != nil || exists {
			if err != nil {
				return err
			}
			continue
		}
		inDir, err := lexists(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if inDir && old[name] {
			inDir, err = lexists(filepath.Join(dir, j.Aside, name))
			if err != nil {
				return err
			}
		}
		if !inDir {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("the restored entries %q are neither in %s nor in %s: the swap cannot be finished, and the entries of %s "+
		"that it did not move yet are left in place", missing, filepath.Join(dir, j.Tmp), dir, dir)
	if j.Aside != "" {
		msg += fmt.Sprintf(" (those it moved are in %s: move them back)", filepath.Join(dir, j.Aside))
	}
	return fmt.Errorf("%s; remove %s, then run the restore again", msg, filepath.Join(dir, journalName))
}

// lexists reports whether path names an entry (a symbolic link included).
func lexists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// moveOnce renames from to to, unless to exists already: a move done
// before a crash. That neither exists is an error: an entry was lost.
func moveOnce(from, to string) error {
	if done, err := lexists(to); err != nil || done {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("move %s to %s: %w", from, to, err)
	}
	return nil
}

// recoverSwap finishes the swap of a restore interrupted after its commit
// point, if dir has one. The caller holds dir's exclusive lock.
func recoverSwap(dir string) (bool, error) {
	j, err := readJournal(dir)
	if err != nil || j == nil {
		return false, err
	}
	if err := finishSwap(dir, j, swapHooks{}); err != nil {
		return false, fmt.Errorf("finish the interrupted restore into %s: %w", dir, err)
	}
	return true, nil
}

// hasJournal reports whether dir has the journal of a swap.
func hasJournal(dir string) (bool, error) {
	return lexists(filepath.Join(dir, journalName))
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
