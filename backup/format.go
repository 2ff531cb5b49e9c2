// Package backup takes consistent backups of a pmgsync data directory while
// the server runs, and restores them.
//
// # The archive
//
// A backup is one tar archive, gzip-compressed (tar tzf lists it), in PAX
// format. Its entries, in this order:
//
//	pmgsync-backup.json   the header: format, version, time, expected counts
//	blobs/kk/<key>        the bytes of each file, in the order of their keys
//	acme/<host>/<name>    the HTTPS server's ACME account and certificates, if any
//	pmgsync.db            the SQLite snapshot: technicians, tokens, files, audit trail
//	manifest.json         the manifest: every entry with its size and SHA-256, the counts
//
// Every entry carries its SHA-256 in a PAX record of its header (the
// extended attribute user.pmgsync.sha256), so a restore verifies each entry as soon as it has read it. The
// manifest comes last: an archive that ends before it is truncated. gzip's
// CRC-32 covers the whole stream besides. An entry's SHA-256 is computed
// from its bytes before its header is written, so an archive never vouches
// for bytes it has not checked; a blob is read twice for that, the second
// time from the page cache, as blobs are at most an upload's size.
//
// # Consistency while the server runs
//
// A file's row is inserted only after its blob is committed, and a blob is
// deleted only after its row is. A backup therefore first hard-links every
// committed blob into a staging directory of the data directory
// (backup-staging-*, outside blobs/), then takes the SQLite snapshot
// (VACUUM INTO), then links, from the live store, the blobs of the
// snapshot's rows committed after the first pass. A row whose blob is gone
// by then was deleted or replaced after the snapshot, as the live row of
// its name tells: a replaced one is archived in its live version, a
// deleted one is left out of the archive's database and reported, as if
// the backup had been taken a moment later for that file. Every file
// committed before the backup started and not deleted before its snapshot
// is in the archive, in that version or a later one.
package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"time"
)

// The archive's format.
const (
	FormatName = "pmgsync-backup"
	// FormatVersion 2 adds the entries of the ACME cache (acme/…) and
	// the manifest's marked_damaged and acme_files; a reader of version 2
	// reads version 1.
	FormatVersion = 2
)

// The names of the archive's entries, besides the blobs.
const (
	headerEntry   = "pmgsync-backup.json"
	databaseEntry = "pmgsync.db"
	manifestEntry = "manifest.json"
	blobPrefix    = "blobs/"
)

// paxSHA256 is the PAX record of an entry's header that holds the
// lowercase hex SHA-256 of its content. It is in the form of an extended
// attribute's record (user.pmgsync.sha256), which tar programs know: GNU
// tar lists the archive without a warning for each entry, and restores the
// attribute with --xattrs.
const paxSHA256 = "SCHILY.xattr.user.pmgsync.sha256"

// maxListed bounds the files left out of a backup that its manifest and
// its result name one by one; beyond, they are only counted.
const maxListed = 100

// Header is the first entry of an archive: what a restore checks before
// extracting anything, and the totals of its progress.
type Header struct {
	Format         string    `json:"format"` // FormatName
	FormatVersion  int       `json:"format_version"`
	PmgsyncVersion string    `json:"pmgsync_version"` // of the pmgsync that wrote it
	CreatedAt      time.Time `json:"created_at"`      // when the snapshot was taken
	BackupRun      int64     `json:"backup_run"`      // the run's id in the source's history
	// Files and Bytes are what the archive is meant to hold; fewer if some
	// turn out to be damaged (see Manifest).
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// Manifest is the last entry of an archive. In the archive its entries
// list comes between the header fields and the totals; a reader must not
// expect any order of keys.
type Manifest struct {
	Format         string    `json:"format"`
	FormatVersion  int       `json:"format_version"`
	PmgsyncVersion string    `json:"pmgsync_version"`
	CreatedAt      time.Time `json:"created_at"`
	BackupRun      int64     `json:"backup_run"`
	// Entries is every entry before the manifest, in order. Restore reads
	// it as a stream and keeps none of it.
	Entries []Entry `json:"entries,omitempty"`
	// Files and Bytes are the files in the archive and their size;
	// Technicians the technicians of its database.
	Files       int64 `json:"files"`
	Bytes       int64 `json:"bytes"`
	Technicians int64 `json:"technicians"`
	// Dropped are the files deleted while the backup ran, after its
	// snapshot, and so left out (at most maxListed of DroppedCount).
	Dropped      []FileRef `json:"dropped"`
	DroppedCount int64     `json:"dropped_count"`
	// Damaged are the files whose bytes were missing from disk or did
	// not match their recorded size or SHA-256, left out (at most
	// maxListed of DamagedCount).
	Damaged      []FileRef `json:"damaged"`
	DamagedCount int64     `json:"damaged_count"`
	// MarkedDamaged are the files that an integrity check had already
	// marked damaged (pmgsync verify --repair): their rows are in the
	// archive's database, still marked, but their bytes are not (at most
	// maxListed of MarkedDamagedCount). They do not make the backup
	// damaged: they wait for their technicians to send them again.
	MarkedDamaged      []FileRef `json:"marked_damaged"`
	MarkedDamagedCount int64     `json:"marked_damaged_count"`
	// ACMEFiles counts the entries of the ACME cache (acme/…).
	ACMEFiles int64 `json:"acme_files"`
}

// Entry is an entry of the archive as the manifest lists it.
type Entry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// FileRef names a file of the snapshot that the archive leaves out.
type FileRef struct {
	Technician string `json:"technician"`
	Name       string `json:"name"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"` // as recorded
	BlobKey    string `json:"blob_key"`
	// Problem says, of a damaged file, what did not match; of a file
	// marked damaged, its mark.
	Problem string `json:"problem,omitempty"`
}

func (r FileRef) String() string {
	s := fmt.Sprintf("%q of %q", r.Name, r.Technician)
	if r.Problem != "" {
		s += " (" + r.Problem + ")"
	}
	return s
}

// listDigest hashes a list of entries, in order, so that two lists can be
// compared without keeping either.
type listDigest struct {
	h hash.Hash
	n int64
}

func newListDigest() *listDigest { return &listDigest{h: sha256.New()} }

func (d *listDigest) add(e Entry) {
	fmt.Fprintf(d.h, "%s\x00%d\x00%s\n", e.Name, e.Size, e.SHA256)
	d.n++
}

func (d *listDigest) sum() string { return hex.EncodeToString(d.h.Sum(nil)) }

// blobEntry is the name of the entry of the blob key.
func blobEntry(key string) string { return blobPrefix + key[:2] + "/" + key }
