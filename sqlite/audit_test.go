package sqlite

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// TestAuditQueryPlans checks that each filter of AuditEvents reads a range
// of its index rather than the whole trail, and that PruneAudit finds where
// to cut by reading the table from its start (the records it removes).
func TestAuditQueryPlans(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		f    pmgsync.AuditFilter
		want string
	}{
		{"All", pmgsync.AuditFilter{}, "SCAN audit"},
		{"Technician", pmgsync.AuditFilter{Technician: "ana"}, "SEARCH audit USING INDEX audit_technician_time (technician=?)"},
		{"TechnicianSince", pmgsync.AuditFilter{Technician: "ana", Since: at, Limit: 100},
			"SEARCH audit USING INDEX audit_technician_time (technician=? AND time_ns>?)"},
		{"TechnicianSinceUntil", pmgsync.AuditFilter{Technician: "ana", Since: at, Until: at.Add(time.Hour)},
			"SEARCH audit USING INDEX audit_technician_time (technician=? AND time_ns>? AND time_ns<?)"},
		{"Action", pmgsync.AuditFilter{Action: pmgsync.ActionAuthFailed}, "SEARCH audit USING INDEX audit_action_time (action=?)"},
		{"ActionSince", pmgsync.AuditFilter{Action: pmgsync.ActionAuthFailed, Since: at},
			"SEARCH audit USING INDEX audit_action_time (action=? AND time_ns>?)"},
		{"Since", pmgsync.AuditFilter{Since: at, Limit: 100}, "SEARCH audit USING INDEX audit_time (time_ns>?)"},
		{"Until", pmgsync.AuditFilter{Until: at}, "SEARCH audit USING INDEX audit_time (time_ns<?)"},
		{"SinceUntil", pmgsync.AuditFilter{Since: at, Until: at.Add(time.Hour)}, "SEARCH audit USING INDEX audit_time (time_ns>? AND time_ns<?)"},
		{"TechnicianAction", pmgsync.AuditFilter{Technician: "ana", Action: pmgsync.ActionUpload}, "SEARCH audit USING INDEX audit_"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := auditQuery(tc.f)
			plan := queryPlan(t, db, q, args...)
			if !strings.Contains(plan, tc.want) {
				t.Errorf("plan of AuditEvents(%+v):\n%s\nwant %s", tc.f, plan, tc.want)
			}
			if tc.f == (pmgsync.AuditFilter{}) && strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan of the whole trail:\n%s\nwant it in id order without sorting", plan)
			}
		})
	}
	plan := queryPlan(t, db, `SELECT id FROM audit NOT INDEXED WHERE time_ns >= ? ORDER BY id LIMIT 1`, 1)
	if strings.Contains(plan, "INDEX") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of PruneAudit's cut:\n%s\nwant a scan in id order", plan)
	}
}

// TestUpgradeFrom0002 upgrades a database that holds data and migrations
// 0001 and 0002, as the release before the audit trail left it: the data
// is kept, the trail starts empty, and tokens that expired before the
// upgrade are recorded by the first ExpireTokens.
func TestUpgradeFrom0002(t *testing.T) {
	if len(migrations) < 3 || migrations[1].version != 2 || migrations[2].version != 3 {
		t.Fatalf("the test expects migrations 0001, 0002 and 0003")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	t0 := time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)
	raw := openAt(t, path, migrations[:2], func() time.Time { return t0 })
	expired := toNanos(t0.Add(-time.Hour))
	for _, q := range []string{
		`INSERT INTO technicians (name, email, disabled, created_at, retention_ns, quota_bytes, quota_files)
			VALUES ('ana', 'ana@example.com', 0, 1, 3600000000000, 1000000, 50), ('bruno', '', 1, 1, 0, -1, 0)`,
		`INSERT INTO tokens (technician_id, hash, label, hint, created_at, expires_at)
			SELECT id, X'0a', 'old phone', 'pmg_ab', 1, ` + strconv.FormatInt(expired, 10) + ` FROM technicians WHERE name = 'ana'`,
		`INSERT INTO tokens (technician_id, hash, label, hint, created_at)
			SELECT id, X'0b', 'new phone', 'pmg_cd', 1 FROM technicians WHERE name = 'ana'`,
		`INSERT INTO files (technician_id, name, size, sha256, blob_key, uploaded_at)
			SELECT id, 'a.xlsx', 100, 'ff', 'blob-a', 1 FROM technicians WHERE name = 'ana'`,
		`INSERT INTO locks (name, holder, until) VALUES ('sweep', 'x', 5)`,
		`INSERT INTO cleanup_runs (triggered_by, dry_run, started_at, finished_at, files_removed) VALUES ('schedule', 0, 1, 2, 7)`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	now := t0.Add(24 * time.Hour)
	db, err := Open(ctx, path, func() time.Time { return now })
	if err != nil {
		t.Fatalf("Open of a version 2 database: %v", err)
	}
	defer db.Close()

	ana, err := db.TechnicianByName(ctx, "ana")
	if err != nil {
		t.Fatal(err)
	}
	want := pmgsync.Technician{ID: ana.ID, Name: "ana", Email: "ana@example.com", CreatedAt: time.Unix(0, 1).UTC(),
		Retention: time.Hour, QuotaBytes: 1000000, QuotaFiles: 50}
	if *ana != want {
		t.Errorf("ana = %+v, want %+v", *ana, want)
	}
	if toks, err := db.Tokens(ctx, ana.ID); err != nil || len(toks) != 2 || toks[0].Label != "old phone" {
		t.Errorf("Tokens = %v, %v; want the 2 tokens", toks, err)
	}
	if files, err := db.Files(ctx, ana.ID); err != nil || len(files) != 1 || files[0].BlobKey != "blob-a" {
		t.Errorf("Files = %v, %v; want a.xlsx", files, err)
	}
	if runs, err := db.CleanupRuns(ctx, 10); err != nil || len(runs) != 1 || runs[0].FilesRemoved != 7 {
		t.Errorf("CleanupRuns = %v, %v; want the run", runs, err)
	}
	if n := countAudit(t, db); n != 0 {
		t.Errorf("%d audit records after the upgrade, want none", n)
	}

	// The token that expired before the upgrade is recorded, once.
	for i, wantN := range []int{1, 0} {
		toks, err := db.ExpireTokens(ctx, now)
		if err != nil || len(toks) != wantN {
			t.Fatalf("ExpireTokens call %d = %v, %v; want %d tokens", i, toks, err, wantN)
		}
	}
	if err := db.UpdateTechnician(ctx, ana); err != nil {
		t.Fatal(err)
	}
	if n := countAudit(t, db); n != 2 {
		t.Errorf("%d audit records, want 2 (token.expire, technician.change)", n)
	}

	fresh, err := Open(ctx, filepath.Join(t.TempDir(), "fresh.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got, want := schema(t, db.reader), schema(t, fresh.reader); got != want {
		t.Errorf("upgraded schema:\n%s\nwant the schema of a new database:\n%s", got, want)
	}
}

func countAudit(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	err := db.AuditEvents(t.Context(), pmgsync.AuditFilter{}, func(*pmgsync.AuditEvent) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}
