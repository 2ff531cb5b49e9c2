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
	"unicode/utf8"
)

// journal is a swap of a restore: the names, in the data directory, of
// the extraction directory (Tmp), of the directory where the previous
// entries go (Aside; "" if there are none), and of the entries to move.
type journal struct {
	// Committed: every old entry is in Aside, and the swap goes on by
	// moving the new ones in. Until then it is undone by moving the old
	// ones back.
	Committed bool     `json:"committed"`
	Tmp       string   `json:"tmp"`
	Aside     string   `json:"aside,omitempty"`
	Old       nameList `json:"old"` // moved from the data directory into Aside
	New       nameList `json:"new"` // moved from Tmp into the data directory
}

// nameList holds names of entries, kept byte for byte in JSON, which
// turns each byte of a string that is not UTF-8 into U+FFFD: a name that
// is valid UTF-8 is a JSON string, any other is {"base64": "..."}.
type nameList []string

// nameBytes is a name that is not valid UTF-8, in JSON.
type nameBytes struct {
	Base64 []byte `json:"base64"`
}

func (ns nameList) MarshalJSON() ([]byte, error) {
	out := make([]any, len(ns))
	for i, name := range ns {
		if utf8.ValidString(name) {
			out[i] = name
		} else {
			out[i] = nameBytes{[]byte(name)}
		}
	}
	return json.Marshal(out)
}

func (ns *nameList) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	names := make(nameList, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &names[i]); err == nil {
			continue
		}
		var nb nameBytes
		if err := json.Unmarshal(r, &nb); err != nil {
			return fmt.Errorf("entry name %d: %w", i, err)
		}
		names[i] = string(nb.Base64)
	}
	*ns = names
	return nil
}

// maxJournal bounds the size of a journal: a restore refuses, before it
// moves anything, a directory with so many entries that its journal would
// be larger; and the journal read is no larger, whatever is planted there.
const maxJournal = 1 << 20

// writeJournal writes j as the directory's journal, atomically and
// durably, and reports whether it is in place, which it may be even when
// it fails (to make it durable).
func writeJournal(d *swapDir, j *journal, h swapHooks) (bool, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return false, err
	}
	if len(b) > maxJournal {
		return false, fmt.Errorf("%s has too many entries for the journal of a restore (%d bytes, more than %d): "+
			"move most of them elsewhere first", d.path, len(b), maxJournal)
	}
	// Created anew, never through what may be at its name: a symbolic link
	// left there would have the journal written elsewhere.
	if err := d.root.Remove(journalTemp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("write the journal of the swap: %w", err)
	}
	f, err := d.root.OpenFile(journalTemp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false, fmt.Errorf("write the journal of the swap: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.root.Rename(journalTemp, journalName)
	}
	if err != nil {
		d.root.Remove(journalTemp)
		return false, fmt.Errorf("write the journal of the swap: %w", err)
	}
	step := stepSyncBegin
	if j.Committed {
		step = stepSyncCommit
	}
	if err := h.at(step, ""); err != nil {
		return true, err
	}
	return true, d.sync(".")
}

// openJournal opens the journal of a swap in the directory, or returns
// nil if there is none. It refuses a file that pmgsync would not have
// written: a symbolic link, a file that is not a regular one of the
// current user's, or larger than maxJournal.
func openJournal(d *swapDir) (*os.File, error) {
	path := d.join(journalName)
	// Not through a symbolic link, and not waiting on a FIFO.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, syscall.ELOOP) {
		return nil, notJournal(path, "it is a symbolic link")
	}
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		switch {
		case !fi.Mode().IsRegular():
			err = notJournal(path, fmt.Sprintf("it is %s, not a regular file", kind(fi.Mode())))
		case owner(fi) != os.Geteuid():
			err = notJournal(path, fmt.Sprintf("it belongs to user %d, not to this process's user %d", owner(fi), os.Geteuid()))
		case fi.Size() > maxJournal:
			err = notJournal(path, fmt.Sprintf("it is %d bytes long, more than %d", fi.Size(), maxJournal))
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// readJournal reads the journal f that openJournal opened. It refuses a
// journal that pmgsync would not have written: one that names entries it
// cannot, or directories that are not the current user's.
func readJournal(d *swapDir, f *os.File) (*journal, error) {
	path := d.join(journalName)
	b, err := io.ReadAll(io.LimitReader(f, maxJournal+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJournal {
		return nil, notJournal(path, fmt.Sprintf("it is more than %d bytes long", maxJournal))
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, notJournal(path, fmt.Sprintf("%v: %s", err, quoteStart(b)))
	}
	if !j.valid() {
		return nil, notJournal(path, "it names entries it cannot: "+quoteStart(b))
	}
	// The directories it moves entries through must be real ones, of the
	// current user's: a symbolic link would lead elsewhere.
	if _, err := d.ownDir(j.Tmp); err != nil {
		return nil, notJournal(path, err.Error())
	}
	if j.Aside != "" {
		if _, err := d.ownDir(j.Aside); err != nil {
			return nil, notJournal(path, err.Error())
		}
	}
	return &j, nil
}

// valid reports whether j names the entries that a restore's journal
// can.
func (j *journal) valid() bool {
	name := func(name string) bool {
		return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, "/\x00")
	}
	if !isExtraction(j.Tmp) ||
		j.Aside != "" && (!name(j.Aside) || !strings.HasPrefix(j.Aside, asidePrefix)) ||
		len(j.Old) > 0 && j.Aside == "" {
		return false
	}
	for _, names := range []nameList{j.Old, j.New} {
		for _, n := range names {
			if !name(n) || ownEntry(n) {
				return false
			}
		}
	}
	return true
}

// notJournal is the error of a file at the journal's path that is not
// one pmgsync writes, which no restore's swap is taken up from.
func notJournal(path, why string) error {
	return fmt.Errorf("%q is not the journal of an interrupted restore that pmgsync can take up: %s; "+
		"if a restore into %q was interrupted, run pmgsync (or the restore again) as the user that ran it; "+
		"if none was, remove that file", path, why, filepath.Dir(path))
}

// quoteStart returns the start of b, quoted.
func quoteStart(b []byte) string {
	const n = 512
	if len(b) > n {
		return fmt.Sprintf("%q…", b[:n])
	}
	return fmt.Sprintf("%q", b)
}

// removeJournal removes the directory's journal, durably.
func removeJournal(d *swapDir) error {
	if err := d.root.Remove(journalName); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the journal of the swap: %w", err)
	}
	return d.sync(".")
}
