package pmgsync

import (
	"context"
	"io"
	"time"
)

// MetadataStore keeps technicians, tokens and the metadata of files. It is
// the commit point of every change: a file exists once CommitFile returns.
// Implementations: sqlite (embedded default) and, later, postgres. Both must
// pass the contract tests in storetest. Unless stated otherwise, methods
// return an *Error with the code named in their comment, or an internal error.
// Times returned are in UTC; a zero time is stored and returned as zero.
type MetadataStore interface {
	// CreateTechnician adds t, setting t.ID and t.CreatedAt (from the store's
	// clock). ECONFLICT if the name is taken.
	CreateTechnician(ctx context.Context, t *Technician) error
	// TechnicianByName returns the technician with that exact name. ENOTFOUND.
	TechnicianByName(ctx context.Context, name string) (*Technician, error)
	// Technicians returns every technician, sorted by name.
	Technicians(ctx context.Context) ([]*Technician, error)
	// UpdateTechnician saves the Email, Disabled, Retention, QuotaBytes and
	// QuotaFiles of the technician with t.ID. ENOTFOUND.
	UpdateTechnician(ctx context.Context, t *Technician) error

	// CreateToken stores tok under hash (see HashToken), setting tok.ID and
	// tok.CreatedAt. ENOTFOUND if tok.TechnicianID does not exist; ECONFLICT if
	// a token with that hash exists.
	CreateToken(ctx context.Context, tok *Token, hash []byte) error
	// Authenticate returns the technician and token for hash if the token is
	// active at now and its technician is not disabled, and records the use
	// (LastUsedAt, written at most once a minute per token, in a write of its
	// own after the read, so that the hot path is a read). EUNAUTHORIZED,
	// with the same message, in every other case; when the token exists but
	// is expired, revoked or its technician's is disabled, the error's
	// chain also holds ErrInactiveToken.
	Authenticate(ctx context.Context, hash []byte, now time.Time) (*Technician, *Token, error)
	// TokenByHash returns the token with that hash, active or not. ENOTFOUND.
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	// TokenByID returns the token with that id, active or not. ENOTFOUND.
	TokenByID(ctx context.Context, id int64) (*Token, error)
	// Tokens returns tokens sorted by technician name then id; all of them if
	// technicianID is 0.
	Tokens(ctx context.Context, technicianID int64) ([]*Token, error)
	// RevokeToken marks the token revoked at time at; revoking a revoked token
	// keeps the first time and is not an error. ENOTFOUND.
	RevokeToken(ctx context.Context, id int64, at time.Time) error
	// RotateToken replaces the token with id oldID by newTok, in one
	// transaction: it stores newTok under newHash for the old token's
	// technician (whatever newTok.TechnicianID says), as CreateToken does,
	// setting newTok.ID, TechnicianID, Technician and CreatedAt; and it ends
	// the old token: revoked at now if oldExpiresAt is at or before now,
	// else expiring at oldExpiresAt, or at its own ExpiresAt if that is
	// earlier (a rotation never lengthens a token's life). It returns the
	// old token as it is after the change. Between now and its end both
	// tokens authenticate. ENOTFOUND (MsgNoToken) if oldID does
	// not exist; EINVALID (MsgTokenRevoked, MsgTokenExpired, with the old
	// token's id) if the old token is revoked, or expired at now; ECONFLICT
	// (MsgTokenExists) if a token with newHash exists. On any error nothing
	// changes. A token still in the grace of an earlier rotation is active
	// and may be rotated again.
	RotateToken(ctx context.Context, oldID int64, newTok *Token, newHash []byte, now, oldExpiresAt time.Time) (old *Token, err error)

	// CommitFile makes f the current version of (f.TechnicianID, f.Name) in
	// one transaction, setting f.ID (a new id for every version) and
	// f.UploadedAt if it is zero, and returns the version it replaced, or
	// nil. The caller deletes the replaced version's blob afterwards.
	// In the same transaction it checks quota against the technician's
	// usage (files uploaded after quota.LiveAfter; the replaced version does
	// not count): ESTORAGE with MsgQuotaBytes or MsgQuotaFiles
	// if f would exceed it, and then nothing changes. Concurrent commits,
	// from any process, can never overshoot a quota together.
	CommitFile(ctx context.Context, f *File, quota Quota) (replaced *File, err error)
	// CreateFile is CommitFile for a name the technician does not have yet
	// (an expired file of that name counts as absent, and is replaced):
	// ECONFLICT if it has one, and then nothing changes.
	CreateFile(ctx context.Context, f *File, quota Quota) (replaced *File, err error)
	// Usage returns how many files and bytes the technician stores, counting
	// files uploaded after liveAfter.
	Usage(ctx context.Context, technicianID int64, liveAfter time.Time) (Usage, error)
	// Stored returns how many files the store holds, of every technician,
	// their total size and how many of them are damaged, in one read: live
	// and expired files alike, for an expired file is on disk until the
	// sweep removes it.
	Stored(ctx context.Context) (Usage, error)
	// ExpiredFiles returns at most limit files of the technician uploaded at
	// or before cutoff, oldest first.
	ExpiredFiles(ctx context.Context, technicianID int64, cutoff time.Time, limit int) ([]*File, error)
	// DeleteFiles removes, in one transaction, the files with those ids that
	// still exist (a version replaced meanwhile has a new id and is kept),
	// and returns the ones it removed.
	DeleteFiles(ctx context.Context, ids []int64) ([]*File, error)
	// FileByName returns the current version of a technician's file. ENOTFOUND.
	FileByName(ctx context.Context, technicianID int64, name string) (*File, error)
	// Files returns a technician's files sorted by name (byte order).
	Files(ctx context.Context, technicianID int64) ([]*File, error)
	// DeleteFile removes a technician's file and returns it, so that the
	// caller can delete its blob. ENOTFOUND.
	DeleteFile(ctx context.Context, technicianID int64, name string) (*File, error)
	// ReferencedBlobs returns the subset of keys that some file references.
	ReferencedBlobs(ctx context.Context, keys []string) (map[string]bool, error)
	// MarkDamaged marks the file with that id damaged at time at (damage is
	// DamageMissing or DamageCorrupt; anything else is an internal error)
	// and returns it as marked. In the same transaction it records a
	// file.damaged event with the actor of ctx, whose Detail is damage,
	// ": " and detail (what was found). A file already marked keeps its
	// first mark and time, records nothing, and is returned as it is.
	// ENOTFOUND (MsgFileNotFound) if no file has that id: it was deleted,
	// expired or replaced since it was read, and its new version, if any,
	// is left alone. Files, FileByName, ExpiredFiles and DeleteFiles return
	// damaged files like others, with Damage and DamagedAt set; CommitFile
	// of the same name replaces a damaged file with a sound one.
	MarkDamaged(ctx context.Context, id int64, damage, detail string, at time.Time) (*File, error)

	// TryLock takes or renews the named lock for holder until the given
	// time, and reports whether holder has it. A lock whose time has passed
	// is free, so a holder that died releases it by default. Locks work
	// across processes: two sweeps never run at once.
	TryLock(ctx context.Context, name, holder string, now, until time.Time) (bool, error)
	// Unlock releases the lock if holder has it.
	Unlock(ctx context.Context, name, holder string) error

	// StartCleanupRun records a sweep that starts, setting run.ID.
	StartCleanupRun(ctx context.Context, run *CleanupRun) error
	// FinishCleanupRun saves the outcome of the run with run.ID. ENOTFOUND.
	FinishCleanupRun(ctx context.Context, run *CleanupRun) error
	// CleanupRuns returns the latest limit runs, newest first.
	CleanupRuns(ctx context.Context, limit int) ([]*CleanupRun, error)

	// AppendAudit adds e to the audit trail, for events that change nothing
	// else (a download, a refused request, an import, a backup): it sets
	// e.ID, e.Time (from the store's clock if zero), e.PrevHash and e.Hash
	// (AuditHash). Every method above that changes something records its own
	// event, in the same transaction as the change, with the actor of ctx
	// (ActorFrom): CreateTechnician (technician.add), UpdateTechnician
	// (technician.change, or technician.disable when Disabled changes),
	// CreateToken (token.create), RevokeToken (token.revoke), RotateToken
	// (token.rotate, one event for both tokens), CommitFile and
	// CreateFile (upload, with OldSHA256 when a version is replaced),
	// DeleteFile (delete), DeleteFiles (expire, one per file), MarkDamaged
	// (file.damaged).
	AppendAudit(ctx context.Context, e *AuditEvent) error
	// AuditEvents calls fn for the records f selects, oldest first, without
	// holding them all in memory; it stops at fn's first error and returns it.
	AuditEvents(ctx context.Context, f AuditFilter, fn func(*AuditEvent) error) error
	// PruneAudit removes the records older than before and, if it removed
	// any, records an audit.prune event whose Detail names how many and the
	// Hash of the last one removed, which the oldest remaining record's
	// PrevHash points to. It returns how many it removed.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)
	// ExpireTokens records a token.expire event for every token whose
	// ExpiresAt is at or before now and that has not been recorded as expired
	// yet, and returns those tokens.
	ExpireTokens(ctx context.Context, now time.Time) ([]*Token, error)

	// Close releases the store. In-flight calls may fail afterwards.
	Close() error
}

// BlobStore keeps the bytes of files under keys it generates itself, so that
// no user input ever becomes a path or an object key. Implementations:
// localfs (default) and, later, s3. Both must pass the contract tests in
// blobtest.
type BlobStore interface {
	// Create starts a new blob under a fresh key. The blob is invisible to
	// Open and Walk until the writer's Commit returns nil.
	Create(ctx context.Context) (BlobWriter, error)
	// Open returns the committed blob's content. For local files the value is
	// an *os.File, so that net/http can send it with sendfile. ENOTFOUND for
	// any key that is not committed, whatever its form.
	Open(ctx context.Context, key string) (io.ReadSeekCloser, error)
	// Delete removes a blob. A missing blob is not an error; a key the store
	// could not have generated is.
	Delete(ctx context.Context, key string) error
	// Walk calls fn for every committed blob, in no particular order, and
	// stops at fn's first error, which it returns. When ctx is done it
	// returns an error wrapping ctx.Err() without calling fn again.
	Walk(ctx context.Context, fn func(BlobInfo) error) error
}

// BlobWriter receives the bytes of a new blob. It is not safe for
// concurrent use.
type BlobWriter interface {
	io.Writer
	// Key is the blob's server-generated key.
	Key() string
	// Commit makes the blob durable (on local disk: fsync of the file and of
	// its directory) and visible under Key. After a crash, a blob is either
	// committed whole or absent.
	Commit() error
	// Abort discards the blob. It is safe to call after Commit (then it does
	// nothing) and more than once, so `defer w.Abort()` is the idiom.
	Abort() error
}

// BlobInfo describes a committed blob.
type BlobInfo struct {
	Key     string
	Size    int64
	ModTime time.Time // at or after the blob's commit
}
