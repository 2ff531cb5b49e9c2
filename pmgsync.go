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
}
