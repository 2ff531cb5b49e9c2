// Package pmgsync holds the vocabulary of the pmgsync server: the domain types
// (Technician, Token, File), the interfaces of the stores that keep them
// (MetadataStore, BlobStore) and the domain error type. It imports only the
// standard library; every dependency lives in a package of its own
// (sqlite/, localfs/, engine/, httpserver/) and cmd/pmgsync wires them.
package pmgsync

import "time"

// MaxNameBytes is the longest file name, in bytes of UTF-8, that a report may have.
const MaxNameBytes = 255

// Technician is a field technician: the owner of a set of reports and of the
// tokens that give access to them. Technicians are strictly isolated: nothing
// one technician's token can do reaches another technician's files.
type Technician struct {
	ID        int64
	Name      string // unique, chosen by an admin
	Email     string // optional
	Disabled  bool   // a disabled technician's tokens are refused like unknown ones
	CreatedAt time.Time

	// Overrides of the global settings for this technician; zero means
	// "use the global setting".
	Retention  time.Duration // how long files are kept after upload
	QuotaBytes int64         // total bytes stored; Unlimited for none
	QuotaFiles int64         // number of files stored; Unlimited for none
}

// Unlimited, as a technician's quota override, lifts a global quota.
const Unlimited = -1

// Quota bounds what one technician may store. A zero field means no limit.
// Files uploaded at or before LiveAfter have expired: they count for
// nothing, even before the sweep removes them.
type Quota struct {
	MaxBytes  int64
	MaxFiles  int64
	LiveAfter time.Time
}

// Usage is what one technician, or the whole store, holds.
type Usage struct {
	Files int64
	Bytes int64
	// Damaged is how many of Files are marked damaged (see File.Damage).
	// Only MetadataStore.Stored counts it; a damaged file counts in Files
	// and Bytes like any other, for quotas too, until it is removed.
	Damaged int64
}

// CleanupRun is the record of one sweep of expired files.
type CleanupRun struct {
	ID             int64
	Trigger        string // "schedule" or "manual"
	DryRun         bool
	StartedAt      time.Time
	FinishedAt     time.Time // zero while it runs, or if its process died
	FilesRemoved   int64     // for a dry run: that would be removed
	BytesRemoved   int64
	OrphansRemoved int64  // blobs that no file referenced
	Errors         string // what went wrong, one per line; "" if nothing
}

// File is the current version of one report of one technician. Its Name is
// only ever a key in the metadata store; the bytes live in the blob store
// under BlobKey, a key the server generated.
type File struct {
	ID           int64
	TechnicianID int64
	Name         string // validated, NFC-normalised base name
	Size         int64
	SHA256       string // lowercase hex of the content's SHA-256
	BlobKey      string
	UploadedAt   time.Time // server time of the upload; retention counts from here

	// ExpiresAt is when the file stops being served (it is live while the
	// time is before ExpiresAt): UploadedAt plus the retention of its
	// technician. It is computed by the engine, not stored,
	// so that a change of retention applies to files already stored.
	ExpiresAt time.Time

	// Damage is "" for a sound file, else why its content cannot be served
	// (DamageMissing, DamageCorrupt), as an integrity check found and marked
	// it. A damaged file is hidden from its technician's listing and refused
	// to downloads, but it can be deleted, it is replaced (and so repaired)
	// by a new upload of its name, and it expires like any other.
	Damage    string
	DamagedAt time.Time // when it was marked damaged; zero for a sound file
}

// The kinds of File.Damage.
const (
	DamageMissing = "missing" // the blob does not exist
	DamageCorrupt = "corrupt" // the blob's size or SHA-256 is not the recorded one
)
