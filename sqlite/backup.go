package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/pmgsync/pmgsync"
)

const backupRunColumns = `id, triggered_by, started_at, finished_at, path, files, bytes, archive_bytes, status, error`

// StartBackupRun records a backup that starts, setting run.ID, run.Status
// (BackupRunning) and run.StartedAt from the store's clock if it is zero.
// Trigger and Path are stored as given; the outcome fields are not.
func (db *DB) StartBackupRun(ctx context.Context, run *pmgsync.BackupRun) error {
	started := db.stampOr(run.StartedAt)
	var id int64
	err := db.write(ctx, func(tx *sql.Tx) (err error) {
		id, err = insert(ctx, tx, `INSERT INTO backup_runs (triggered_by, started_at, path, status)
			VALUES (?, ?, ?, ?)`, run.Trigger, toNanos(started), run.Path, pmgsync.BackupRunning)
		return err
	})
	if err != nil {
		return wrap("start backup run", err)
	}
	run.ID, run.StartedAt, run.Status = id, started, pmgsync.BackupRunning
	return nil
}

// FinishBackupRun saves the outcome of the run with run.ID: FinishedAt
// (set from the store's clock if it is zero), Path, Files, Bytes,
// ArchiveBytes, Status and Error; other fields are ignored. ENOTFOUND
// (MsgNotFoundRoute: there is no message of its own, as no user names a
// run).
func (db *DB) FinishBackupRun(ctx context.Context, run *pmgsync.BackupRun) error {
	finished := db.stampOr(run.FinishedAt)
	err := db.write(ctx, func(tx *sql.Tx) error {
		return finishBackupRun(ctx, tx, run, finished)
	})
	if err != nil {
		return wrap("finish backup run", err)
	}
	run.FinishedAt = finished
	return nil
}

// finishBackupRun is FinishBackupRun's update, on a live database or on a
// snapshot.
func finishBackupRun(ctx context.Context, x execer, run *pmgsync.BackupRun, finished time.Time) error {
	return finishRun(ctx, x, `UPDATE backup_runs SET finished_at = ?, path = ?, files = ?, bytes = ?,
		archive_bytes = ?, status = ?, error = ? WHERE id = ?`,
		toNanos(finished), run.Path, run.Files, run.Bytes, run.ArchiveBytes, run.Status, run.Error, run.ID)
}

// BackupRuns returns the latest limit backup runs, newest (last started)
// first; none if limit is not positive. With status not empty, only the
// runs with that status.
func (db *DB) BackupRuns(ctx context.Context, limit int, status string) ([]*pmgsync.BackupRun, error) {
	if limit <= 0 {
		return nil, nil
	}
	query, args := `SELECT `+backupRunColumns+` FROM backup_runs ORDER BY id DESC LIMIT ?`, []any{limit}
	if status != "" {
		query = `SELECT ` + backupRunColumns + ` FROM backup_runs WHERE status = ? ORDER BY id DESC LIMIT ?`
		args = []any{status, limit}
	}
	var runs []*pmgsync.BackupRun
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		runs, err = queryAll(ctx, tx, scanBackupRun, query, args...)
		return err
	})
	return runs, wrap("backup runs", err)
}

func scanBackupRun(s scanner) (*pmgsync.BackupRun, error) {
	var r pmgsync.BackupRun
	var started, finished sql.NullInt64
	if err := s.Scan(&r.ID, &r.Trigger, &started, &finished, &r.Path, &r.Files, &r.Bytes,
		&r.ArchiveBytes, &r.Status, &r.Error); err != nil {
		return nil, err
	}
	r.StartedAt, r.FinishedAt = fromDB(started), fromDB(finished)
	return &r, nil
}
