package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pmgsync/pmgsync"
)

// Snapshot is a copy of the database as of one instant, made by
// DB.Snapshot for a backup: a single file in rollback-journal mode that
// no other connection uses, which the backup reads and amends (the rows of
// files it could not archive) before archiving it. It is not safe for
// concurrent use.
type Snapshot struct {
	path string
	db   *sql.DB          // one connection
	now  func() time.Time // the clock of the database it copies; nil for OpenSnapshot's
}

// Snapshot writes a consistent copy of the whole database to path, which
// must not exist, and opens it. The copy is made with VACUUM INTO on a
// connection of its own, in one read transaction: writers of this process
// and of others go on meanwhile (WAL), and none of their commits after the
// snapshot's start is in the copy. The copy is compact and in
// rollback-journal mode, so that once closed it is one self-contained file.
func (db *DB) Snapshot(ctx context.Context, path string) (*Snapshot, error) {
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("sqlite: snapshot: %s already exists", path)
	}
	var src string
	err := db.reader.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&src)
	if err != nil {
		return nil, wrap("snapshot: find the database file", err)
	}
	// The reader pool is query_only, which forbids VACUUM INTO, and the
	// writer's one connection must stay free for commits.
	conn, err := sql.Open("sqlite", dsn(src, url.Values{}))
	if err != nil {
		return nil, wrap("snapshot", err)
	}
	_, err = conn.ExecContext(ctx, `VACUUM INTO ?`, path)
	if cerr := conn.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, wrap("snapshot: vacuum into "+path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: snapshot: %w", err)
	}
	snap, err := OpenSnapshot(path)
	if err != nil {
		return nil, err
	}
	snap.now = db.now
	return snap, nil
}

// OpenSnapshot opens a snapshot file that DB.Snapshot wrote, or the
// database file of a backup being restored, for the methods of Snapshot
// alone: nothing else may use the file meanwhile. It does not migrate it.
// It has no clock: FinishBackupRun needs the run's FinishedAt.
func OpenSnapshot(path string) (*Snapshot, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open snapshot: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(abs, url.Values{"_foreign_keys": {"1"}, "_synchronous": {"FULL"}}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open snapshot %s: %w", abs, err)
	}
	// One connection: a read in progress and a write on a second
	// connection would lock each other out of a rollback-journal file.
	db.SetMaxOpenConns(1)
	return &Snapshot{path: abs, db: db}, nil
}

// Path returns the snapshot's file.
func (s *Snapshot) Path() string { return s.path }

// Close closes the snapshot's connection; the file stays.
func (s *Snapshot) Close() error { return s.db.Close() }

// Files calls fn for every file of the snapshot, with its technician's
// name, in the order of their blob keys (the blob_key index), reading them
// one at a time, and stops at fn's first error, which it returns. Files
// marked damaged (f.Damage set) are among them: a backup leaves their
// bytes out, as they are not the file's. fn must not call the snapshot's
// other methods.
func (s *Snapshot) Files(ctx context.Context, fn func(technician string, f *pmgsync.File) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT `+fileColumns+`,
		(SELECT t.name FROM technicians t WHERE t.id = files.technician_id) FROM files ORDER BY blob_key`)
	if err != nil {
		return wrap("snapshot files", err)
	}
	defer rows.Close()
	for rows.Next() {
		var tech string
		f, err := scanFile(scanExtra{rows, []any{&tech}})
		if err != nil {
			return wrap("snapshot files", err)
		}
		if err := fn(tech, f); err != nil {
			return err
		}
	}
	return wrap("snapshot files", rows.Err())
}

// DropFiles removes the rows of the files with those ids, in one
// transaction and without audit records: the snapshot's audit trail stays
// the trail of its instant. It is how a backup leaves out of its copy the
// files whose bytes it could not archive.
func (s *Snapshot) DropFiles(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("snapshot: drop files", err)
	}
	defer tx.Rollback()
	for batch := range slices.Chunk(ids, maxInParams) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM files WHERE id IN `+inList(len(batch)), anys(batch)...); err != nil {
			return wrap("snapshot: drop files", err)
		}
	}
	return wrap("snapshot: drop files", tx.Commit())
}

// ReplaceFiles rewrites, in one transaction and without audit records, the
// row of each file with id old (keys of versions) as the row versions[old]:
// a later version of the same technician's file, as the live database has
// it. It is how a backup archives the version that replaced, after the
// snapshot, a version whose blob is gone by the time the backup reads it.
// A version must have the row's technician and name.
func (s *Snapshot) ReplaceFiles(ctx context.Context, versions map[int64]*pmgsync.File) error {
	if len(versions) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("snapshot: replace files", err)
	}
	defer tx.Rollback()
	for old, f := range versions {
		var damage any
		if f.Damage != "" {
			damage = f.Damage
		}
		res, err := tx.ExecContext(ctx, `UPDATE files SET id = ?, size = ?, sha256 = ?, blob_key = ?, uploaded_at = ?,
			damage = ?, damaged_at = ? WHERE id = ? AND technician_id = ? AND name = ?`,
			f.ID, f.Size, f.SHA256, f.BlobKey, toNanos(f.UploadedAt), damage, toDB(f.DamagedAt), old, f.TechnicianID, f.Name)
		if err != nil {
			return wrap("snapshot: replace files", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap("snapshot: replace files", err)
		}
		if n != 1 {
			return fmt.Errorf("sqlite: snapshot: replace files: no file %d named %q of technician %d", old, f.Name, f.TechnicianID)
		}
	}
	return wrap("snapshot: replace files", tx.Commit())
}

// FinishBackupRun saves in the snapshot the outcome of the run with run.ID,
// as DB.FinishBackupRun does in the live database, so that the history of
// a directory restored from the backup shows the backup it came from,
// finished at run.FinishedAt, or at the clock of the database the
// snapshot copies if that is zero. ENOTFOUND if the snapshot has no such
// run.
//
// In the same transaction it finishes, as failed and interrupted, every
// other run still running in the snapshot (another backup running at its
// instant): in a directory restored from the snapshot no process runs
// them, and they would stay running forever. Their outcome is in the
// history of the directory they ran on.
func (s *Snapshot) FinishBackupRun(ctx context.Context, run *pmgsync.BackupRun) error {
	finished := run.FinishedAt
	if finished.IsZero() {
		if s.now == nil {
			return errors.New("sqlite: snapshot: finish backup run: no finish time, and no clock")
		}
		finished = s.now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("snapshot: finish backup run", err)
	}
	defer tx.Rollback()
	if err := finishBackupRun(ctx, tx, run, stored(finished)); err != nil {
		return wrap("snapshot: finish backup run", err)
	}
	_, err = tx.ExecContext(ctx, `UPDATE backup_runs SET finished_at = ?, status = ?, error = ?
		WHERE status = ? AND id != ?`, toNanos(finished), pmgsync.BackupFailed,
		fmt.Sprintf("interrupted: still running when backup #%d took its snapshot, from which this directory was "+
			"restored; its outcome is in the history of the directory it ran on", run.ID),
		pmgsync.BackupRunning, run.ID)
	if err != nil {
		return wrap("snapshot: finish the other backup runs", err)
	}
	return wrap("snapshot: finish backup run", tx.Commit())
}

// Technicians counts the snapshot's technicians.
func (s *Snapshot) Technicians(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM technicians`).Scan(&n)
	return n, wrap("snapshot: count technicians", err)
}
