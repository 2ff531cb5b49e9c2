package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/pmgsync/pmgsync"
)

// technicianDetails are the columns of a technician of the table aliased
// te but its id and name, as technicianRow reads them.
const technicianDetails = `te.email, te.disabled, te.created_at, te.retention_ns, te.quota_bytes, te.quota_files`

// technicianColumns are the columns of a technician of the table aliased
// te, as scanTechnician reads them.
const technicianColumns = `te.id, te.name, ` + technicianDetails

// CreateTechnician adds t, setting t.ID and t.CreatedAt from the store's
// clock; Email, Disabled, Retention, QuotaBytes and QuotaFiles are stored as
// given. ECONFLICT (MsgTechnicianExists) if the name is taken. The name is
// stored as given; validating it is the caller's job.
func (db *DB) CreateTechnician(ctx context.Context, t *pmgsync.Technician) error {
	var id int64
	var created time.Time
	err := db.write(ctx, func(tx *sql.Tx) (err error) {
		switch _, err := technicianByName(ctx, tx, t.Name); {
		case err == nil:
			return pmgsync.Errorf(pmgsync.ECONFLICT, pmgsync.MsgTechnicianExists, t.Name)
		case !pmgsync.IsCode(err, pmgsync.ENOTFOUND):
			return err
		}
		created = db.stamp()
		id, err = insert(ctx, tx,
			`INSERT INTO technicians (name, email, disabled, created_at, retention_ns, quota_bytes, quota_files)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.Name, t.Email, t.Disabled, toNanos(created), int64(t.Retention), t.QuotaBytes, t.QuotaFiles)
		return err
	})
	if err != nil {
		return wrap("create technician", err)
	}
	t.ID, t.CreatedAt = id, created
	return nil
}

// TechnicianByName returns the technician with exactly that name (byte for
// byte). ENOTFOUND (MsgNoTechnician).
func (db *DB) TechnicianByName(ctx context.Context, name string) (*pmgsync.Technician, error) {
	var t *pmgsync.Technician
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		t, err = technicianByName(ctx, tx, name)
		return err
	})
	return t, wrap("technician by name", err)
}

// Technicians returns every technician, sorted by name in byte order.
func (db *DB) Technicians(ctx context.Context) ([]*pmgsync.Technician, error) {
	var ts []*pmgsync.Technician
	err := db.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+technicianColumns+` FROM technicians te ORDER BY te.name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t, err := scanTechnician(rows)
			if err != nil {
				return err
			}
			ts = append(ts, t)
		}
		return rows.Err()
	})
	return ts, wrap("technicians", err)
}

// UpdateTechnician saves t's Email, Disabled, Retention, QuotaBytes and
// QuotaFiles on the technician with id t.ID; other fields are ignored. A
// disabled technician's tokens stop authenticating, and new limits apply, at
// the next request of any process. A negative Retention, or a quota below
// Unlimited, is refused by the schema (an internal error): validating them
// is the caller's job. ENOTFOUND (MsgNoTechnician with t.Name).
func (db *DB) UpdateTechnician(ctx context.Context, t *pmgsync.Technician) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE technicians
			SET email = ?, disabled = ?, retention_ns = ?, quota_bytes = ?, quota_files = ?
			WHERE id = ?`,
			t.Email, t.Disabled, int64(t.Retention), t.QuotaBytes, t.QuotaFiles, t.ID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNoTechnician, t.Name)
		}
		return nil
	})
	return wrap("update technician", err)
}

func technicianByName(ctx context.Context, tx *sql.Tx, name string) (*pmgsync.Technician, error) {
	row := tx.QueryRowContext(ctx, `SELECT `+technicianColumns+` FROM technicians te WHERE te.name = ?`, name)
	t, err := scanTechnician(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNoTechnician, name)
	}
	return t, err
}

// scanTechnician scans the columns of technicianColumns.
func scanTechnician(s scanner) (*pmgsync.Technician, error) {
	var t pmgsync.Technician
	details := technicianRow{t: &t}
	if err := s.Scan(append([]any{&t.ID, &t.Name}, details.dest()...)...); err != nil {
		return nil, err
	}
	details.done()
	return &t, nil
}

// technicianRow reads the columns of technicianDetails into t.
type technicianRow struct {
	t                  *pmgsync.Technician
	created, retention sql.NullInt64
}

// dest returns the destinations of Scan for technicianDetails.
func (r *technicianRow) dest() []any {
	return []any{&r.t.Email, &r.t.Disabled, &r.created, &r.retention, &r.t.QuotaBytes, &r.t.QuotaFiles}
}

// done sets the fields of t that Scan could not set directly.
func (r *technicianRow) done() {
	r.t.CreatedAt, r.t.Retention = fromDB(r.created), time.Duration(r.retention.Int64)
}
