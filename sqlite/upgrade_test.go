package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// openAt opens the file at path with only the migrations ms applied, as an
// older pmgsync left it, and returns a plain connection to it.
func openAt(t *testing.T, path string, ms []migration, now func() time.Time) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", dsn(path, url.Values{"_txlock": {"immediate"}, "_foreign_keys": {"1"}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	if err := migrate(t.Context(), raw, ms, now); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return raw
}

// schema returns the schema of the database of db, one object a line.
func schema(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var typ, name, text string
		if err := rows.Scan(&typ, &name, &text); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, typ+" "+name+": "+text)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestUpgradeFrom0001 upgrades a database that holds data and only the
// first migration, as the release before retention and quotas left it.
func TestUpgradeFrom0001(t *testing.T) {
	if migrations[0].version != 1 || len(migrations) < 2 {
		t.Fatalf("migrations start at %d, %d of them; the test expects 0001 and a later one", migrations[0].version, len(migrations))
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	t0 := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	raw := openAt(t, path, migrations[:1], func() time.Time { return t0 })
	if _, err := raw.ExecContext(ctx, `UPDATE technicians SET quota_files = 1`); err == nil {
		t.Fatal("the database already has the columns of the later migrations")
	}

	// Data as version 1 wrote it.
	for _, tech := range []pmgsync.Technician{{Name: "ana", Email: "ana@example.com"}, {Name: "bruno", Disabled: true}} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO technicians (name, email, disabled, created_at) VALUES (?, ?, ?, ?)`,
			tech.Name, tech.Email, tech.Disabled, toNanos(t0)); err != nil {
			t.Fatal(err)
		}
	}
	tokenRaw := pmgsync.NewToken()
	if _, err := raw.ExecContext(ctx, `INSERT INTO tokens (technician_id, hash, label, hint, created_at)
		SELECT id, ?, 'phone', ?, ? FROM technicians WHERE name = 'ana'`,
		pmgsync.HashToken(tokenRaw), pmgsync.TokenHint(tokenRaw), toNanos(t0)); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a.xlsx", "b.xlsx", "c.xlsx"} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO files (technician_id, name, size, sha256, blob_key, uploaded_at)
			SELECT id, ?, ?, 'ff', ?, ? FROM technicians WHERE name = 'ana'`,
			name, 100*(i+1), "blob-"+name, toNanos(t0.Add(time.Duration(i)*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	now := t0.Add(24 * time.Hour)
	db, err := Open(ctx, path, func() time.Time { return now })
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	defer db.Close()

	var applied []int64
	rows, err := db.reader.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v, at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]time.Time{true: t0, false: now}[v == 1]; at != want.UnixNano() {
			t.Errorf("version %d applied at %v, want %v", v, time.Unix(0, at).UTC(), want)
		}
		applied = append(applied, v)
	}
	rows.Close()
	if len(applied) != len(migrations) {
		t.Errorf("versions applied: %v, want all %d", applied, len(migrations))
	}

	// The data is all there, with the new columns at their defaults.
	techs, err := db.Technicians(ctx)
	if err != nil || len(techs) != 2 {
		t.Fatalf("Technicians = %d, %v; want 2", len(techs), err)
	}
	for i, want := range []pmgsync.Technician{
		{ID: techs[0].ID, Name: "ana", Email: "ana@example.com", CreatedAt: t0},
		{ID: techs[1].ID, Name: "bruno", Disabled: true, CreatedAt: t0},
	} {
		if got := *techs[i]; got != want {
			t.Errorf("technician %d = %+v, want %+v", i, got, want)
		}
	}
	if _, tok, err := db.Authenticate(ctx, pmgsync.HashToken(tokenRaw), now); err != nil || tok.Label != "phone" {
		t.Errorf("Authenticate with a token of version 1: %v, %v", tok, err)
	}
	files, err := db.Files(ctx, techs[0].ID)
	if err != nil || len(files) != 3 {
		t.Fatalf("Files = %d, %v; want 3", len(files), err)
	}
	for i, f := range files {
		if f.Size != int64(100*(i+1)) || !f.UploadedAt.Equal(t0.Add(time.Duration(i)*time.Hour)) {
			t.Errorf("file %d = %+v", i, f)
		}
	}

	// And the new abilities work on it.
	if u, err := db.Usage(ctx, techs[0].ID, t0); err != nil || u != (pmgsync.Usage{Files: 2, Bytes: 500}) {
		t.Errorf("Usage = %+v, %v; want 2 files, 500 bytes", u, err)
	}
	if expired, err := db.ExpiredFiles(ctx, techs[0].ID, t0, 10); err != nil || len(expired) != 1 || expired[0].Name != "a.xlsx" {
		t.Errorf("ExpiredFiles = %v, %v; want a.xlsx", expired, err)
	}
	techs[0].QuotaFiles, techs[0].Retention = 3, time.Hour
	if err := db.UpdateTechnician(ctx, techs[0]); err != nil {
		t.Errorf("UpdateTechnician: %v", err)
	}
	_, err = db.CommitFile(ctx, &pmgsync.File{TechnicianID: techs[0].ID, Name: "d.xlsx", BlobKey: "blob-d"}, pmgsync.Quota{MaxFiles: 3})
	if !pmgsync.IsCode(err, pmgsync.ESTORAGE) {
		t.Errorf("CommitFile over the quota: %v, want ESTORAGE", err)
	}
	if ok, err := db.TryLock(ctx, "sweep", "x", now, now.Add(time.Minute)); !ok || err != nil {
		t.Errorf("TryLock = %v, %v", ok, err)
	}
	if err := db.StartCleanupRun(ctx, &pmgsync.CleanupRun{Trigger: "manual"}); err != nil {
		t.Errorf("StartCleanupRun: %v", err)
	}
	for _, pragma := range []string{"integrity_check", "foreign_key_check"} {
		var got string
		err := db.reader.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got)
		if pragma == "foreign_key_check" && err == sql.ErrNoRows {
			continue
		}
		if err != nil || got != "ok" {
			t.Errorf("PRAGMA %s = %q, %v", pragma, got, err)
		}
	}

	// The upgraded schema is the schema of a new database.
	fresh, err := Open(ctx, filepath.Join(t.TempDir(), "fresh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got, want := schema(t, db.reader), schema(t, fresh.reader); got != want {
		t.Errorf("upgraded schema:\n%s\nwant the schema of a new database:\n%s", got, want)
	}
}
