package sqlite

import (
	"context"
	"database/sql"
	"math"
	"slices"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/units"
)

// usageQuery counts the live files of one technician: a range of the
// (technician_id, uploaded_at) index, whatever the others store.
const usageQuery = `SELECT count(*), coalesce(sum(size), 0) FROM files
	WHERE technician_id = ? AND uploaded_at > ?`

// expiredQuery lists one technician's expired files, oldest first. The
// (technician_id, uploaded_at) index holds the rowid too, so it is already
// in that order: no sort, and LIMIT stops the scan.
const expiredQuery = `SELECT ` + fileColumns + ` FROM files
	WHERE technician_id = ? AND uploaded_at <= ?
	ORDER BY uploaded_at, id LIMIT ?`

// afterNanos returns the column value of a LiveAfter or cutoff time: the
// zero time is before every upload, so that nothing has expired.
func afterNanos(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return toNanos(t)
}

// live reports whether a file uploaded at uploaded is live for liveAfter,
// exactly as usageQuery counts it.
func live(uploaded, liveAfter time.Time) bool {
	return toNanos(uploaded) > afterNanos(liveAfter)
}

// checkQuota returns ESTORAGE if storing a file of size bytes uploaded at
// uploaded for technicianID, replacing old (nil for a new name), would take
// the technician over quota, counting files uploaded after quota.LiveAfter.
//
// Only live files count: an expired old frees nothing, and an f that is
// already expired (an import of an old report) adds nothing. A zero or
// negative limit is no limit. A commit that does not increase a usage is
// never refused for it, so that a technician over a lowered quota can still
// replace a file with one no larger. The file count is checked first.
func checkQuota(ctx context.Context, tx *sql.Tx, size int64, uploaded time.Time, technicianID int64, old *pmgsync.File, quota pmgsync.Quota) error {
	if quota.MaxFiles <= 0 && quota.MaxBytes <= 0 {
		return nil
	}
	before, err := usage(ctx, tx, technicianID, quota.LiveAfter)
	if err != nil {
		return err
	}
	after := before
	if old != nil && live(old.UploadedAt, quota.LiveAfter) {
		after.Files--
		after.Bytes -= old.Size
	}
	if live(uploaded, quota.LiveAfter) {
		after.Files++
		after.Bytes += size
	}
	if quota.MaxFiles > 0 && after.Files > quota.MaxFiles && after.Files > before.Files {
		return pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaFiles, quota.MaxFiles)
	}
	if quota.MaxBytes > 0 && after.Bytes > quota.MaxBytes && after.Bytes > before.Bytes {
		return pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaBytes, units.FormatSize(quota.MaxBytes))
	}
	return nil
}

// Usage returns how many files and bytes the technician stores, counting
// files uploaded after liveAfter (all of them if it is zero); zero for an
// unknown technician.
func (db *DB) Usage(ctx context.Context, technicianID int64, liveAfter time.Time) (pmgsync.Usage, error) {
	var u pmgsync.Usage
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		u, err = usage(ctx, tx, technicianID, liveAfter)
		return err
	})
	return u, wrap("usage", err)
}

func usage(ctx context.Context, tx *sql.Tx, technicianID int64, liveAfter time.Time) (pmgsync.Usage, error) {
	var u pmgsync.Usage
	err := tx.QueryRowContext(ctx, usageQuery, technicianID, afterNanos(liveAfter)).Scan(&u.Files, &u.Bytes)
	return u, err
}

// Stored returns how many files the store holds, of every technician, their
// total size and how many are damaged: live and expired files alike, since
// an expired file stays on disk until the sweep removes it.
func (db *DB) Stored(ctx context.Context) (pmgsync.Usage, error) {
	var u pmgsync.Usage
	err := db.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size), 0), count(damage) FROM files`).
			Scan(&u.Files, &u.Bytes, &u.Damaged)
	})
	return u, wrap("stored", err)
}

// ExpiredFiles returns at most limit files of the technician uploaded at or
// before cutoff, oldest first (ties by id); none if limit is not positive
// or cutoff is zero.
func (db *DB) ExpiredFiles(ctx context.Context, technicianID int64, cutoff time.Time, limit int) ([]*pmgsync.File, error) {
	if limit <= 0 {
		return nil, nil
	}
	var fs []*pmgsync.File
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		fs, err = queryFiles(ctx, tx, expiredQuery, technicianID, afterNanos(cutoff), limit)
		return err
	})
	return fs, wrap("expired files", err)
}

// DeleteFiles removes, in one immediate transaction, the files with those
// ids that still exist, and returns the ones it removed, in the order of
// ids. A version replaced since the caller listed it has a new id, so the
// new version is kept; an id given twice is removed once. It records an
// expire per file removed, with the actor of ctx, in the order of ids.
func (db *DB) DeleteFiles(ctx context.Context, ids []int64) ([]*pmgsync.File, error) {
	removed := make(map[int64]*pmgsync.File)
	err := db.write(ctx, func(tx *sql.Tx) error {
		for batch := range slices.Chunk(ids, maxInParams) {
			if err := deleteFiles(ctx, tx, batch, removed); err != nil {
				return err
			}
		}
		names := make(map[int64]string)
		recorded := make(map[int64]bool)
		for _, id := range ids {
			if f := removed[id]; f != nil && !recorded[id] {
				recorded[id] = true
				if err := db.recordFile(ctx, tx, pmgsync.ActionExpire, f, names); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("delete files", err)
	}
	var fs []*pmgsync.File
	for _, id := range ids {
		if f := removed[id]; f != nil {
			fs = append(fs, f)
			delete(removed, id)
		}
	}
	return fs, nil
}

// deleteFiles deletes the files of batch and adds them to removed.
func deleteFiles(ctx context.Context, tx *sql.Tx, batch []int64, removed map[int64]*pmgsync.File) error {
	rows, err := tx.QueryContext(ctx, `DELETE FROM files WHERE id IN `+inList(len(batch))+`
		RETURNING `+fileColumns, anys(batch)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return err
		}
		removed[f.ID] = f
	}
	return rows.Err()
}
