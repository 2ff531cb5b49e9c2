package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// queryPlan returns SQLite's plan for query, one detail per line.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestQueryPlans checks that the hot queries use their indexes: listing a
// technician's files neither scans the table nor sorts, ReferencedBlobs
// searches the blob_key index, and the quota check and the sweep read only
// one technician's range of the upload-time index.
func TestQueryPlans(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	plan := queryPlan(t, db, filesQuery, 1)
	if !strings.Contains(plan, "SEARCH files USING INDEX") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of Files:\n%s\nwant an index search without sorting", plan)
	}
	plan = queryPlan(t, db, liveNamesQuery, 1, 1000)
	if !strings.Contains(plan, "SEARCH files USING INDEX sqlite_autoindex_files_2 (technician_id=?)") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of LiveFileNames:\n%s\nwant a search of the (technician_id, name) index without sorting", plan)
	}
	plan = queryPlan(t, db, referencedQuery(3), "a", "b", "c")
	if !strings.Contains(plan, "SEARCH files USING COVERING INDEX") || !strings.Contains(plan, "blob_key=?") {
		t.Errorf("plan of ReferencedBlobs:\n%s\nwant a search of the blob_key index", plan)
	}
	plan = queryPlan(t, db, expiredQuery, 1, 1000, 100)
	if !strings.Contains(plan, "SEARCH files USING INDEX files_technician_uploaded (technician_id=? AND uploaded_at<?)") ||
		strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of ExpiredFiles:\n%s\nwant a range of the (technician_id, uploaded_at) index without sorting", plan)
	}
	plan = queryPlan(t, db, usageQuery, 1, 1000)
	if !strings.Contains(plan, "SEARCH files USING INDEX files_technician_uploaded (technician_id=? AND uploaded_at>?)") {
		t.Errorf("plan of Usage (the quota check):\n%s\nwant a range of the (technician_id, uploaded_at) index", plan)
	}
	plan = queryPlan(t, db, tokenSelect+` WHERE t.hash = ?`, []byte("h"))
	if !strings.Contains(plan, "hash=?") {
		t.Errorf("plan of a token lookup:\n%s\nwant a search of the hash index", plan)
	}
	plan = queryPlan(t, db, authenticateQuery, []byte("h"))
	if !strings.Contains(plan, "hash=?") {
		t.Errorf("plan of Authenticate:\n%s\nwant a search of the hash index", plan)
	}
}

// TestPragmas checks the durability and integrity settings of both pools.
func TestPragmas(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		pool         string
		pragma, want string
	}{
		{"writer", "journal_mode", "wal"},
		{"writer", "synchronous", "2"}, // FULL
		{"writer", "foreign_keys", "1"},
		{"writer", "busy_timeout", "10000"},
		{"reader", "journal_mode", "wal"},
		{"reader", "query_only", "1"},
		{"reader", "busy_timeout", "10000"},
	} {
		pool := db.writer
		if tc.pool == "reader" {
			pool = db.reader
		}
		var got string
		if err := pool.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", tc.pool, tc.pragma, got, tc.want)
		}
	}
}
