package sqlite

import (
	"context"
	"database/sql"

	"github.com/pmgsync/pmgsync"
)

const cleanupRunColumns = `id, triggered_by, dry_run, started_at, finished_at,
	files_removed, bytes_removed, orphans_removed, errors`

// StartCleanupRun records a sweep that starts, setting run.ID, and
// run.StartedAt from the store's clock if it is zero. Its other fields are
// stored as given.
func (db *DB) StartCleanupRun(ctx context.Context, run *pmgsync.CleanupRun) error {
	started := db.stampOr(run.StartedAt)
	var id int64
	err := db.write(ctx, func(tx *sql.Tx) (err error) {
		id, err = insert(ctx, tx, `INSERT INTO cleanup_runs (triggered_by, dry_run, started_at, finished_at,
			files_removed, bytes_removed, orphans_removed, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			run.Trigger, run.DryRun, toNanos(started), toDB(run.FinishedAt),
			run.FilesRemoved, run.BytesRemoved, run.OrphansRemoved, run.Errors)
		return err
	})
	if err != nil {
		return wrap("start cleanup run", err)
	}
	run.ID, run.StartedAt = id, started
	return nil
}

// FinishCleanupRun saves the outcome of the run with run.ID: FinishedAt
// (set from the store's clock if it is zero), FilesRemoved, BytesRemoved,
// OrphansRemoved and Errors; other fields are ignored. ENOTFOUND
// (MsgNotFoundRoute: there is no message of its own, as no user names a run).
func (db *DB) FinishCleanupRun(ctx context.Context, run *pmgsync.CleanupRun) error {
	finished := db.stampOr(run.FinishedAt)
	err := db.write(ctx, func(tx *sql.Tx) error {
		return finishRun(ctx, tx, `UPDATE cleanup_runs SET finished_at = ?,
			files_removed = ?, bytes_removed = ?, orphans_removed = ?, errors = ? WHERE id = ?`,
			toNanos(finished), run.FilesRemoved, run.BytesRemoved, run.OrphansRemoved, run.Errors, run.ID)
	})
	if err != nil {
		return wrap("finish cleanup run", err)
	}
	run.FinishedAt = finished
	return nil
}

// CleanupRuns returns the latest limit runs, newest (last started) first;
// none if limit is not positive.
func (db *DB) CleanupRuns(ctx context.Context, limit int) ([]*pmgsync.CleanupRun, error) {
	if limit <= 0 {
		return nil, nil
	}
	var runs []*pmgsync.CleanupRun
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		runs, err = queryAll(ctx, tx, scanCleanupRun, `SELECT `+cleanupRunColumns+` FROM cleanup_runs
			ORDER BY id DESC LIMIT ?`, limit)
		return err
	})
	return runs, wrap("cleanup runs", err)
}

func scanCleanupRun(s scanner) (*pmgsync.CleanupRun, error) {
	var r pmgsync.CleanupRun
	var started, finished sql.NullInt64
	if err := s.Scan(&r.ID, &r.Trigger, &r.DryRun, &started, &finished,
		&r.FilesRemoved, &r.BytesRemoved, &r.OrphansRemoved, &r.Errors); err != nil {
		return nil, err
	}
	r.StartedAt, r.FinishedAt = fromDB(started), fromDB(finished)
	return &r, nil
}
