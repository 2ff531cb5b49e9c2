package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/units"
)

// technicianDetails are the columns of a technician of the table aliased
// te but its id and name, as technicianRow reads them.
const technicianDetails = `te.email, te.disabled, te.created_at, te.retention_ns, te.quota_bytes, te.quota_files`

// technicianColumns are the columns of a technician of the table aliased
// te, as scanTechnician reads them.
const technicianColumns = `te.id, te.name, ` + technicianDetails

// CreateTechnician adds t, setting t.ID and t.CreatedAt from the store's
// clock; Email, Disabled, Retention, QuotaBytes and QuotaFiles are stored as
// given. It records technician.add with the actor of ctx. ECONFLICT (MsgTechnicianExists) if the name is taken. The name is
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
		if err != nil {
			return err
		}
		return db.record(ctx, tx, pmgsync.ActionTechnicianAdd, t.Name, nil)
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
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		ts, err = queryAll(ctx, tx, scanTechnician, `SELECT `+technicianColumns+` FROM technicians te ORDER BY te.name`)
		return err
	})
	return ts, wrap("technicians", err)
}

// UpdateTechnician saves t's Email, Disabled, Retention, QuotaBytes and
// QuotaFiles on the technician with id t.ID; other fields are ignored. A
// disabled technician's tokens stop authenticating, and new limits apply, at
// the next request of any process. A negative Retention, or a quota below
// Unlimited, is refused by the schema (an internal error): validating them
// is the caller's job. ENOTFOUND (MsgNoTechnician with t.Name).
//
// It records, with the actor of ctx, technician.disable (Result "disabled"
// or "enabled") if Disabled changes, else technician.change; Detail lists
// the other fields that changed ("unchanged" if none did).
func (db *DB) UpdateTechnician(ctx context.Context, t *pmgsync.Technician) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		old, err := scanTechnician(tx.QueryRowContext(ctx,
			`SELECT `+technicianColumns+` FROM technicians te WHERE te.id = ?`, t.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNoTechnician, t.Name)
		} else if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE technicians
			SET email = ?, disabled = ?, retention_ns = ?, quota_bytes = ?, quota_files = ?
			WHERE id = ?`,
			t.Email, t.Disabled, int64(t.Retention), t.QuotaBytes, t.QuotaFiles, t.ID)
		if err != nil {
			return err
		}
		action, result := pmgsync.ActionTechnicianChange, "ok"
		if old.Disabled != t.Disabled {
			action, result = pmgsync.ActionTechnicianDisable, "enabled"
			if t.Disabled {
				result = "disabled"
			}
		}
		return db.record(ctx, tx, action, old.Name, func(e *pmgsync.AuditEvent) {
			e.Result, e.Detail = result, technicianChanges(old, t)
		})
	})
	return wrap("update technician", err)
}

// technicianChanges describes what an update changes but Disabled, which
// its own action records: "email a@x→b@x, retention 30d→90d".
func technicianChanges(old, t *pmgsync.Technician) string {
	var changes []string
	change := func(what, from, to string) {
		if from != to {
			changes = append(changes, what+" "+from+"→"+to)
		}
	}
	change("email", old.Email, t.Email)
	change("retention", limit(int64(old.Retention), units.FormatDuration(old.Retention)),
		limit(int64(t.Retention), units.FormatDuration(t.Retention)))
	change("quota bytes", limit(old.QuotaBytes, units.FormatSize(old.QuotaBytes)),
		limit(t.QuotaBytes, units.FormatSize(t.QuotaBytes)))
	change("quota files", limit(old.QuotaFiles, strconv.FormatInt(old.QuotaFiles, 10)),
		limit(t.QuotaFiles, strconv.FormatInt(t.QuotaFiles, 10)))
	if len(changes) == 0 {
		return "unchanged"
	}
	return strings.Join(changes, ", ")
}

// limit names a per-technician setting of value v, formatted as s: 0 is the
// global setting and Unlimited lifts it.
func limit(v int64, s string) string {
	switch v {
	case 0:
		return "default"
	case pmgsync.Unlimited:
		return "unlimited"
	}
	return s
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
