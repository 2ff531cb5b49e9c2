package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// ErrSchemaTooNew is wrapped by the error of Open when the database holds a
// migration this binary does not know: it was used by a newer pmgsync, and
// an older one could corrupt it. Upgrade pmgsync or restore a backup.
var ErrSchemaTooNew = errors.New("the database was migrated by a newer version of pmgsync")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are the embedded migrations, in order. A malformed file name is
// a build mistake, caught by any test that opens a database.
var migrations, migrationsErr = loadMigrations(migrationFiles)

// migration is one schema change: migrations/NNNN_description.sql.
type migration struct {
	version int64
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]+)_[a-z0-9_]+\.sql$`)

// loadMigrations reads the *.sql files of the migrations directory of fsys,
// sorted by version. Versions must be positive and distinct.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: name is not NNNN_description.sql", e.Name())
		}
		version, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: bad version", e.Name())
		}
		text, err := fs.ReadFile(fsys, "migrations/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: e.Name(), sql: string(text)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return cmp.Compare(a.version, b.version) })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s have the same version", ms[i-1].name, ms[i].name)
		}
	}
	return ms, nil
}

// migrate applies the pending migrations to the database of the writer pool,
// each in its own immediate transaction together with its row in
// schema_migrations. Because the transaction holds the write lock from its
// start, two processes migrating the same file at once cannot both apply a
// migration: the second waits, then finds the version row and skips it.
func migrate(ctx context.Context, writer *sql.DB, ms []migration, now func() time.Time) error {
	if migrationsErr != nil {
		return fmt.Errorf("migrate: %w", migrationsErr)
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`
	if _, err := writer.ExecContext(ctx, create); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := checkKnown(ctx, writer, ms); err != nil {
		return err
	}
	for _, m := range ms {
		if err := apply(ctx, writer, m, now); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
	}
	return nil
}

// checkKnown returns an error wrapping ErrSchemaTooNew if the database has a
// version that is not among ms.
func checkKnown(ctx context.Context, writer *sql.DB, ms []migration) error {
	rows, err := writer.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer rows.Close()
	var unknown []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if !slices.ContainsFunc(ms, func(m migration) bool { return m.version == v }) {
			unknown = append(unknown, v)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(unknown) > 0 {
		latest := int64(0)
		if len(ms) > 0 {
			latest = ms[len(ms)-1].version
		}
		return fmt.Errorf("%w: it has schema version(s) %v, this binary knows versions up to %d", ErrSchemaTooNew, unknown, latest)
	}
	return nil
}

// apply applies m unless its version row exists.
func apply(ctx context.Context, writer *sql.DB, m migration, now func() time.Time) error {
	tx, err := writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	err = tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n)
	if err != nil || n > 0 {
		return err
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.version, toNanos(now()))
	if err != nil {
		return err
	}
	return tx.Commit()
}
