package backup

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of Restore, wrapped by the errors it returns, which say more.
var (
	// ErrNotBackup: the input is not a pmgsync backup at all.
	ErrNotBackup = errors.New("not a pmgsync backup")
	// ErrCorrupt: an entry does not match its SHA-256, the compressed
	// stream is damaged, or the archive is inconsistent.
	ErrCorrupt = errors.New("the backup is corrupt")
	// ErrTruncated: the archive ends before its manifest.
	ErrTruncated = errors.New("the backup is truncated")
	// ErrTooNew: the archive's format is newer than this pmgsync reads.
	ErrTooNew = errors.New("the backup was written by a newer pmgsync")
	// ErrNotEmpty: the target directory is not empty and Force is off.
	ErrNotEmpty = errors.New("the directory is not empty")
	// ErrInUse: a pmgsync process (the server, an administration command)
	// or another restore is using the directory.
	ErrInUse = errors.New("the directory is in use by a pmgsync process")
)

// ErrDamaged is wrapped by the error of a backup that wrote a complete
// archive but left out files whose bytes were missing or did not match
// their record.
var ErrDamaged = errors.New("damaged files left out of the backup")

// DamagedError is the error of a backup that wrote its archive, complete
// but for the files listed, whose bytes are missing from disk or do not
// match their recorded size or SHA-256. The archive is still the best copy of
// everything else; those files need repair.
type DamagedError struct {
	Count int64     // how many were left out
	Files []FileRef // at most maxListed of them
}

func (e *DamagedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d file(s) are missing from disk or do not match their recorded SHA-256, and were left out of the backup: ", e.Count)
	for i, f := range e.Files {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	if int64(len(e.Files)) < e.Count {
		fmt.Fprintf(&b, "; and %d more", e.Count-int64(len(e.Files)))
	}
	b.WriteString(`. The rest of the archive is complete. Run "pmgsync verify --repair" to mark those files as damaged, and have their technicians send them again`)
	return b.String()
}

func (e *DamagedError) Unwrap() error { return ErrDamaged }
