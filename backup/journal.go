package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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

// writeJournal writes j as dir's journal, atomically and durably, and
// reports whether it is in place, which it may be even when it fails (to
// make it durable).
func writeJournal(dir string, j *journal, h swapHooks) (bool, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return false, err
	}
	tmp := filepath.Join(dir, journalTemp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
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
		err = os.Rename(tmp, filepath.Join(dir, journalName))
	}
	if err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("write the journal of the swap: %w", err)
	}
	step := stepSyncBegin
	if j.Committed {
		step = stepSyncCommit
	}
	if err := h.at(step, ""); err != nil {
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

// removeJournal removes dir's journal, durably.
func removeJournal(dir string) error {
	if err := os.Remove(filepath.Join(dir, journalName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove the journal of the swap: %w", err)
	}
	return syncDir(dir)
}

// hasJournal reports whether dir has the journal of a swap.
func hasJournal(dir string) (bool, error) {
	return lexists(filepath.Join(dir, journalName))
}
