package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/pmgsync/pmgsync"
)

// MarkDamaged marks the file with that id damaged (pmgsync.DamageMissing or
// pmgsync.DamageCorrupt) at time at, and records a file.damaged event with
// the actor of ctx and Detail "damage: detail", in one immediate
// transaction, and returns the file as marked. A file already marked keeps
// its first mark and time and records nothing. ENOTFOUND (MsgFileNotFound)
// if no file has that id: ids are never reused, so a file replaced since the
// caller read it is never marked in its place.
func (db *DB) MarkDamaged(ctx context.Context, id int64, damage, detail string, at time.Time) (*pmgsync.File, error) {
	if damage != pmgsync.DamageMissing && damage != pmgsync.DamageCorrupt {
		return nil, fmt.Errorf("sqlite: mark damaged: unknown damage %q", damage)
	}
	var f *pmgsync.File
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		f, err = scanFile(tx.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM files WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
		}
		if err != nil || f.Damage != "" {
			return err
		}
		marked := db.stampOr(at)
		if _, err := tx.ExecContext(ctx, `UPDATE files SET damage = ?, damaged_at = ? WHERE id = ?`,
			damage, toNanos(marked), id); err != nil {
			return err
		}
		f.Damage, f.DamagedAt = damage, marked
		return db.recordDamage(ctx, tx, f, detail)
	})
	if err != nil {
		return nil, wrap("mark damaged", err)
	}
	return f, nil
}

// recordDamage records the file.damaged event of f, with what was found.
func (db *DB) recordDamage(ctx context.Context, tx *sql.Tx, f *pmgsync.File, detail string) error {
	tech, err := technicianName(ctx, tx, f.TechnicianID)
	if err != nil {
		return err
	}
	return db.record(ctx, tx, pmgsync.ActionFileDamaged, tech, func(e *pmgsync.AuditEvent) {
		e.FileName, e.Size, e.SHA256 = f.Name, f.Size, f.SHA256
		e.Detail = f.Damage
		if detail != "" {
			e.Detail += ": " + detail
		}
	})
}
