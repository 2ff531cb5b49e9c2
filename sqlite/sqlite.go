// Package sqlite is the embedded metadata store of pmgsync: technicians,
// tokens and file metadata in one SQLite file, through the pure-Go driver
// modernc.org/sqlite (no cgo, so the binary stays static).
//
// Several processes may use the same file at once (the server and CLI
// commands such as "pmgsync token create"), so nothing is cached in memory:
// every call reads the file, and a change made by one process is seen by the
// others at their next call.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlitedriver "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/pmgsync/pmgsync"
)

// busyTimeout is how long a connection waits for a lock held by another
// connection (of this process or another one) before failing with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// DB is a MetadataStore on one SQLite file. It is safe for concurrent use.
//
// It holds two pools on the same file: writer, with a single connection whose
// transactions start with BEGIN IMMEDIATE, so that goroutines of this process
// queue for the write lock in the pool instead of failing with SQLITE_BUSY
// when a read transaction tries to become a write transaction; and reader,
// with several connections for read-only transactions, which WAL lets run
// while a write is in progress.
type DB struct {
	writer *sql.DB
	reader *sql.DB
	now    func() time.Time
	group  group // the writes that share a transaction (see writeGrouped)
}

var _ pmgsync.MetadataStore = (*DB)(nil)

// Open opens the SQLite database at path, creating the file (mode 0600) if it
// is missing, and brings its schema up to date. The directory must exist.
// now is the store's clock (CreatedAt, UploadedAt, migration times); nil
// means time.Now.
//
// The database runs in WAL mode with synchronous=FULL, so a transaction that
// has committed survives a power loss. Open fails with an error wrapping
// ErrSchemaTooNew if the database was migrated by a newer pmgsync.
func Open(ctx context.Context, path string, now func() time.Time) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty database path")
	}
	if now == nil {
		now = time.Now
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	_, statErr := os.Stat(abs)
	creating := errors.Is(statErr, os.ErrNotExist)

	db := &DB{now: now}
	db.writer, err = sql.Open("sqlite", dsn(abs, url.Values{
		"_txlock":       {"immediate"},
		"_foreign_keys": {"1"},
		"_synchronous":  {"FULL"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)

	readers := max(4, runtime.GOMAXPROCS(0))
	db.reader, err = sql.Open("sqlite", dsn(abs, url.Values{
		"_query_only":  {"1"},
		"_synchronous": {"FULL"},
	}))
	if err != nil {
		db.writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", abs, err)
	}
	db.reader.SetMaxOpenConns(readers)
	db.reader.SetMaxIdleConns(readers)

	if err := db.setup(ctx, abs, creating); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// setup creates the file if needed, switches it to WAL and migrates it.
func (db *DB) setup(ctx context.Context, path string, creating bool) error {
	// Connecting creates the file. It is made private before the WAL and
	// shared-memory files exist, because SQLite gives them the mode of the
	// database file. Chmod, unlike opening and closing the file ourselves,
	// cannot release the POSIX locks that SQLite holds on it.
	if err := db.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if creating {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	if err := db.setWAL(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, db.writer, migrations, db.now); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return nil
}

// setWAL switches the database to WAL. journal_mode is stored in the file:
// once set, every connection of every process uses WAL.
//
// When several processes open a new file at once, the switch can fail with
// SQLITE_BUSY without waiting for busy_timeout: SQLite reports a lock
// upgrade that would deadlock at once. The other connection's statement
// ends soon, so the switch is retried, for at most busyTimeout.
func (db *DB) setWAL(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	for {
		var mode string
		err := db.writer.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("the file system does not support WAL mode (journal mode is %q)", mode)
			}
			return nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return fmt.Errorf("set WAL mode: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("set WAL mode: %w", ctx.Err())
		case <-time.After(time.Duration(10+rand.IntN(40)) * time.Millisecond):
		}
	}
}

// isBusy reports whether err is SQLITE_BUSY (of any extended code).
func isBusy(err error) bool {
	const sqliteBusy = 5
	var e *sqlitedriver.Error
	return errors.As(err, &e) && e.Code()&0xff == sqliteBusy
}

// dsn returns the driver's data source name for the file at the absolute
// path with the given parameters, all of which apply to every connection.
func dsn(path string, params url.Values) string {
	params.Set("_busy_timeout", fmt.Sprint(busyTimeout.Milliseconds()))
	// In a URI filename '%' escapes, '?' starts the query and '#' the
	// fragment, so they must be escaped to be taken literally.
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(filepath.ToSlash(path))
	return "file:" + escaped + "?" + params.Encode()
}

// Close closes both pools. Calls in flight may fail.
func (db *DB) Close() error {
	return errors.Join(db.reader.Close(), db.writer.Close())
}

// Ping checks, within ctx, that the database serves both reads and writes:
// a query on the reader pool, then the write lock on the writer connection
// (BEGIN IMMEDIATE and ROLLBACK: nothing is written). In WAL mode a writer
// that holds the lock, in this process or another, does not block readers,
// so only the second probe sees it. When the write lock cannot be taken
// before ctx is done, the error says "database is locked" and wraps the
// driver's error or ctx's.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.reader.QueryRowContext(ctx, "SELECT 1").Scan(new(int)); err != nil {
		return wrap("ping: read", err)
	}
	tx, err := db.writer.BeginTx(ctx, nil) // immediate: see Open
	if err != nil {
		if isBusy(err) || ctx.Err() != nil {
			return fmt.Errorf("sqlite: ping: database is locked: %w", err)
		}
		return wrap("ping: write lock", err)
	}
	return wrap("ping: write lock", tx.Rollback())
}

// read runs fn in a read-only transaction on the reader pool.
func (db *DB) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// write runs fn in an immediate (write-locked) transaction on the writer
// pool and commits it if fn returns nil.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// insert runs an INSERT in tx and returns the id of the new row.
func insert(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// wrap marks err, if it is not a domain error, as an internal error of op.
func wrap(op string, err error) error {
	var e *pmgsync.Error
	if err == nil || errors.As(err, &e) {
		return err
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// maxInParams bounds the number of values in one IN (...) list, well under
// SQLite's limit on bound parameters; longer lists are split in batches.
const maxInParams = 500

// inList returns the placeholders of an IN list of n values, n > 0:
// "(?, ?, ?)" for 3.
func inList(n int) string {
	return "(?" + strings.Repeat(", ?", n-1) + ")"
}

// anys returns vs as the arguments of a query.
func anys[T any](vs []T) []any {
	args := make([]any, len(vs))
	for i, v := range vs {
		args[i] = v
	}
	return args
}

// querier is what *sql.Tx and *sql.DB have in common for queries. A
// single SELECT reads one consistent snapshot by itself, so a read of one
// statement runs on the reader pool without a transaction, whose BEGIN and
// COMMIT would cost as much as the statement (BenchmarkAuthenticate: 50 µs
// in a transaction, 30 µs without).
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// rowQuerier is querier for one row.
type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// scanExtra is a scanner of rows that select, after the columns a scan
// function reads, the columns of extra, which it scans into.
type scanExtra struct {
	scanner
	extra []any
}

func (s scanExtra) Scan(dest ...any) error {
	return s.scanner.Scan(append(dest, s.extra...)...)
}

// queryAll runs query in tx (or on a pool) and returns every row, read with
// scan.
func queryAll[T any](ctx context.Context, tx querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, v)
	}
	return all, rows.Err()
}

// Times are stored as INTEGER nanoseconds since the Unix epoch, UTC; the
// zero time.Time is stored as NULL in nullable columns and 0 elsewhere.
// Times beyond the int64 range (years before 1678 or after 2262) are clamped.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// toDB returns the column value of t: nil for the zero time.
func toDB(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return toNanos(t)
}

// toNanos returns t in nanoseconds since the epoch: 0 for the zero time.
func toNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minTime):
		return math.MinInt64
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromDB returns the time of a column value: the zero time for NULL or 0.
func fromDB(n sql.NullInt64) time.Time {
	if !n.Valid || n.Int64 == 0 {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// stored returns t as it reads back from the database: UTC, without
// monotonic clock reading, clamped to the int64 nanosecond range.
func stored(t time.Time) time.Time {
	return fromDB(sql.NullInt64{Int64: toNanos(t), Valid: true})
}

// stamp returns the store's current time as it will read back.
func (db *DB) stamp() time.Time { return stored(db.now()) }

// stampOr returns t as it reads back, or the store's clock if t is zero.
func (db *DB) stampOr(t time.Time) time.Time {
	if t.IsZero() {
		return db.stamp()
	}
	return stored(t)
}
