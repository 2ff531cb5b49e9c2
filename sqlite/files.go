package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pmgsync/pmgsync"
)

const fileColumns = `id, technician_id, name, size, sha256, blob_key, uploaded_at, damage, damaged_at`

// filesQuery lists one technician's files. It reads the unique
// (technician_id, name) index, whose order is the BINARY (byte) order of
// names, so it neither scans other technicians' rows nor sorts.
const filesQuery = `SELECT ` + fileColumns + ` FROM files WHERE technician_id = ? ORDER BY name`

// CommitFile makes f the current version of (f.TechnicianID, f.Name) and
// returns the version it replaced, or nil. If f.UploadedAt is zero it is
// set from the store's clock. It records an upload with the actor of ctx
// (OldSHA256: the replaced version's), but not a commit it refuses.
//
// Every commit is a new version with a new f.ID: the replaced row is deleted
// and f inserted, in one immediate transaction, so ids are never reused and
// an id names one version. Transactions hold the write lock from their start,
// so concurrent commits of the same name are serialised, whatever process
// they come from, and each returns exactly the version it replaced.
// Concurrent commits of this process share a transaction and its fsync
// (see writeGrouped); each still succeeds or fails alone.
//
// The same transaction checks quota (see checkQuota): ESTORAGE
// (MsgQuotaFiles or MsgQuotaBytes) if the commit would take the technician
// over a limit, and then nothing changes. As the check and the write hold
// one write lock, concurrent commits can never overshoot a quota together.
//
// f.BlobKey must be a key no file references, the replaced version's
// included: committing it twice would have the caller delete a live blob.
// That and a missing technician are internal errors.
func (db *DB) CommitFile(ctx context.Context, f *pmgsync.File, quota pmgsync.Quota) (*pmgsync.File, error) {
	return db.commitFile(ctx, f, quota, true)
}

// CreateFile is CommitFile for a name the technician does not have yet:
// ECONFLICT (MsgFileExists) if it has, and then nothing changes. A file of
// that name uploaded at or before quota.LiveAfter has expired: it counts as
// absent, is replaced and returned, so that the caller deletes its blob.
func (db *DB) CreateFile(ctx context.Context, f *pmgsync.File, quota pmgsync.Quota) (*pmgsync.File, error) {
	return db.commitFile(ctx, f, quota, false)
}

func (db *DB) commitFile(ctx context.Context, f *pmgsync.File, quota pmgsync.Quota, replace bool) (*pmgsync.File, error) {
	var (
		id       int64
		replaced *pmgsync.File
		uploaded time.Time
	)
	err := db.writeGrouped(ctx, func(ctx context.Context, tx *sql.Tx) error {
		tech, err := technicianName(ctx, tx, f.TechnicianID)
		if err != nil {
			return err
		}
		old, err := fileByName(ctx, tx, f.TechnicianID, f.Name)
		if err != nil && !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			return err
		}
		if old != nil && !replace && live(old.UploadedAt, quota.LiveAfter) {
			return pmgsync.Errorf(pmgsync.ECONFLICT, pmgsync.MsgFileExists, f.Name)
		}
		if old != nil && old.BlobKey == f.BlobKey {
			return fmt.Errorf("blob %q is already the current version of %q", f.BlobKey, f.Name)
		}
		uploaded = db.stampOr(f.UploadedAt)
		if err := checkQuota(ctx, tx, f.Size, uploaded, f.TechnicianID, old, quota); err != nil {
			return err
		}
		if old != nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE id = ?`, old.ID); err != nil {
				return err
			}
		}
		id, err = insert(ctx, tx, `INSERT INTO files
			(technician_id, name, size, sha256, blob_key, uploaded_at) VALUES (?, ?, ?, ?, ?, ?)`,
			f.TechnicianID, f.Name, f.Size, f.SHA256, f.BlobKey, toNanos(uploaded))
		if err != nil {
			return err
		}
		replaced = old
		return db.record(ctx, tx, pmgsync.ActionUpload, tech, func(e *pmgsync.AuditEvent) {
			e.FileName, e.Size, e.SHA256 = f.Name, f.Size, f.SHA256
			if old != nil {
				e.OldSHA256 = old.SHA256
			}
		})
	})
	if err != nil {
		return nil, wrap("commit file", err)
	}
	f.ID, f.UploadedAt = id, uploaded
	return replaced, nil
}

// FileByName returns the current version of a technician's file. ENOTFOUND
// (MsgFileNotFound), also when another technician has a file of that name.
func (db *DB) FileByName(ctx context.Context, technicianID int64, name string) (*pmgsync.File, error) {
	// One statement: no transaction (see querier).
	f, err := fileByName(ctx, db.reader, technicianID, name)
	return f, wrap("file by name", err)
}

// Files returns a technician's files sorted by name in byte order; none (and
// no error) for a technician without files or an unknown id.
func (db *DB) Files(ctx context.Context, technicianID int64) ([]*pmgsync.File, error) {
	var fs []*pmgsync.File
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		fs, err = queryFiles(ctx, tx, filesQuery, technicianID)
		return err
	})
	return fs, wrap("files", err)
}

// liveNamesQuery lists the names of one technician's live, sound files in
// the order of the unique (technician_id, name) index. The unary + keeps
// the planner from the (technician_id, uploaded_at) index, whose range it
// would then have to sort.
const liveNamesQuery = `SELECT name FROM files
	WHERE technician_id = ? AND +uploaded_at > ? AND damage IS NULL ORDER BY name`

// LiveFileNames returns the names, sorted in byte order, of the technician's
// files uploaded after cutoff and not marked damaged: the files a client
// may see, when cutoff is the instant at or before which the technician's
// files have expired. It reads nothing else of their rows, which makes the
// list of 10,000 files three times cheaper than Files. None (and no error)
// for a technician without such files or an unknown id.
func (db *DB) LiveFileNames(ctx context.Context, technicianID int64, cutoff time.Time) ([]string, error) {
	// One statement: no transaction (see querier).
	names, err := queryAll(ctx, db.reader, func(s scanner) (n string, err error) {
		err = s.Scan(&n)
		return n, err
	}, liveNamesQuery, technicianID, toNanos(cutoff))
	return names, wrap("live file names", err)
}

// queryFiles runs a query that selects fileColumns and returns its rows.
func queryFiles(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]*pmgsync.File, error) {
	return queryAll(ctx, tx, scanFile, query, args...)
}

// DeleteFile removes a technician's file and returns it, so that the caller
// can delete its blob, and records a delete with the actor of ctx, in a
// transaction that it may share with concurrent writes (see writeGrouped).
// ENOTFOUND (MsgFileNotFound).
func (db *DB) DeleteFile(ctx context.Context, technicianID int64, name string) (*pmgsync.File, error) {
	var f *pmgsync.File
	err := db.writeGrouped(ctx, func(ctx context.Context, tx *sql.Tx) (err error) {
		f, err = fileByName(ctx, tx, technicianID, name)
		if err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `DELETE FROM files WHERE id = ?`, f.ID); err != nil {
			return err
		}
		return db.recordFile(ctx, tx, pmgsync.ActionDelete, f, nil)
	})
	if err != nil {
		return nil, wrap("delete file", err)
	}
	return f, nil
}

// ReferencedBlobs returns the subset of keys that some file references, as a
// set (every value true). It looks keys up through the blob_key index in
// batches of at most maxInParams, all in one read transaction, so the answer
// is one consistent snapshot.
func (db *DB) ReferencedBlobs(ctx context.Context, keys []string) (map[string]bool, error) {
	found := make(map[string]bool)
	err := db.read(ctx, func(tx *sql.Tx) error {
		for batch := range slices.Chunk(keys, maxInParams) {
			if err := referenced(ctx, tx, batch, found); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("referenced blobs", err)
	}
	return found, nil
}

// referencedQuery returns the query of referenced for n keys.
func referencedQuery(n int) string {
	return `SELECT blob_key FROM files WHERE blob_key IN ` + inList(n)
}

// referenced adds to found the keys of batch that some file references.
func referenced(ctx context.Context, tx *sql.Tx, batch []string, found map[string]bool) error {
	rows, err := tx.QueryContext(ctx, referencedQuery(len(batch)), anys(batch)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		found[k] = true
	}
	return rows.Err()
}

// recordFile records action on f with the actor of ctx. names caches
// technicians' names by id across calls; nil for none.
func (db *DB) recordFile(ctx context.Context, tx *sql.Tx, action string, f *pmgsync.File, names map[int64]string) error {
	tech, ok := names[f.TechnicianID]
	if !ok {
		var err error
		if tech, err = technicianName(ctx, tx, f.TechnicianID); err != nil {
			return err
		}
		if names != nil {
			names[f.TechnicianID] = tech
		}
	}
	return db.record(ctx, tx, action, tech, func(e *pmgsync.AuditEvent) {
		e.FileName, e.Size, e.SHA256 = f.Name, f.Size, f.SHA256
	})
}

// technicianName returns the name of the technician with that id; a missing
// one is an internal error, as callers pass ids they got from the store.
func technicianName(ctx context.Context, tx *sql.Tx, id int64) (string, error) {
	var name string
	err := tx.QueryRowContext(ctx, `SELECT name FROM technicians WHERE id = ?`, id).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("no technician with id %d", id)
	}
	return name, err
}

func fileByName(ctx context.Context, tx rowQuerier, technicianID int64, name string) (*pmgsync.File, error) {
	row := tx.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files WHERE technician_id = ? AND name = ?`,
		technicianID, name)
	f, err := scanFile(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
	}
	return f, err
}

func scanFile(s scanner) (*pmgsync.File, error) {
	var f pmgsync.File
	var uploaded, damagedAt sql.NullInt64
	var damage sql.NullString
	if err := s.Scan(&f.ID, &f.TechnicianID, &f.Name, &f.Size, &f.SHA256, &f.BlobKey, &uploaded, &damage, &damagedAt); err != nil {
		return nil, err
	}
	f.UploadedAt = fromDB(uploaded)
	f.Damage, f.DamagedAt = damage.String, fromDB(damagedAt)
	return &f, nil
}
