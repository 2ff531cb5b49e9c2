package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/sqlite"
)

// versions returns schema_migrations of the file at path, read with a plain
// connection: version → applied_at.
func versions(t *testing.T, path string) map[int64]int64 {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	rows, err := raw.Query(`SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		t.Fatalf("reading schema_migrations: %v", err)
	}
	defer rows.Close()
	m := map[int64]int64{}
	for rows.Next() {
		var v, at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		m[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMigrateFresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	db := open(t, path, func() time.Time { return at })
	db.Close()
	got := versions(t, path)
	if len(got) == 0 || got[1] != at.UnixNano() {
		t.Errorf("schema_migrations = %v, want version 1 applied at %d", got, at.UnixNano())
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("new database file mode = %v, %v; want 0600", info.Mode(), err)
	}
}

func TestMigrateReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	open(t, path, nil).Close()
	first := versions(t, path)
	db := open(t, path, func() time.Time { return time.Now().Add(time.Hour) })
	db.Close()
	if got := versions(t, path); len(got) != len(first) {
		t.Errorf("after reopening, schema_migrations = %v, want %v", got, first)
	} else {
		for v, at := range first {
			if got[v] != at {
				t.Errorf("version %d applied again: at %d, first at %d", v, got[v], at)
			}
		}
	}
}

// TestMigrateConcurrentOpens opens a brand-new file from several handles at
// once, as two processes starting together do: all succeed and each
// migration is applied once.
func TestMigrateConcurrentOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			db, err := sqlite.Open(context.Background(), path, nil)
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	if got := versions(t, path); len(got) == 0 {
		t.Errorf("schema_migrations is empty")
	}
}

// TestMigrateConcurrentProcesses is TestMigrateConcurrentOpens with real
// processes, whose locks are the operating system's: it runs this test
// binary several times at once, each opening the same new file.
func TestMigrateConcurrentProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	const n = 4
	cmds := make([]*exec.Cmd, n)
	outs := make([]bytes.Buffer, n)
	for i := range cmds {
		cmds[i] = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestOpenHelperProcess$", "-test.count=1")
		cmds[i].Env = append(os.Environ(), helperEnv+"="+path)
		cmds[i].Stdout, cmds[i].Stderr = &outs[i], &outs[i]
	}
	for _, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i].String())
		}
	}
	if got := versions(t, path); len(got) == 0 {
		t.Errorf("schema_migrations is empty")
	}
}

// helperEnv names the database that TestOpenHelperProcess opens.
const helperEnv = "PMGSYNC_SQLITE_TEST_OPEN"

// TestOpenHelperProcess is the child process of
// TestMigrateConcurrentProcesses; on its own it does nothing.
func TestOpenHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process")
	}
	db, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestMigrateFutureVersionRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	open(t, path, nil).Close()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := sqlite.Open(context.Background(), path, nil)
	if err == nil {
		db.Close()
		t.Fatal("Open of a database from a newer version succeeded")
	}
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Errorf("Open error = %v, want ErrSchemaTooNew", err)
	}
	t.Logf("error: %v", err)
}

func TestOpenErrors(t *testing.T) {
	if db, err := sqlite.Open(context.Background(), "", nil); err == nil {
		db.Close()
		t.Error("Open of an empty path succeeded")
	}
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "pmgsync.db")
	if db, err := sqlite.Open(context.Background(), missing, nil); err == nil {
		db.Close()
		t.Error("Open in a missing directory succeeded")
	}
}

// TestOpenOddPath opens a file whose name holds characters that are special
// in SQLite URIs.
func TestOpenOddPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%20d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pmg sync.db")
	open(t, path, nil).Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the given path: %v", err)
	}
}
