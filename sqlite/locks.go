package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// TryLock takes or renews the named lock for holder until the given time,
// and reports whether holder has it. The lock is free if nobody holds it or
// its until is at or before now, so a holder that died releases it when its
// lease ends; the holder renews it by calling TryLock again. The check and
// the write are one immediate transaction, so of several processes trying
// at once exactly one gets a free lock.
func (db *DB) TryLock(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO locks (name, holder, until) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
			WHERE locks.holder = excluded.holder OR locks.until <= ?`,
			name, holder, toNanos(until), toNanos(now))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, wrap("try lock", err)
	}
	return n > 0, nil
}

// Unlock releases the named lock if holder has it; otherwise, or if nobody
// does, it does nothing.
func (db *DB) Unlock(ctx context.Context, name, holder string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM locks WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	return wrap("unlock", err)
}
