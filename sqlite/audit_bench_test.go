package sqlite_test

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

var benchAudit = flag.Int("audit", 100_000, "audit records in BenchmarkAuditList (use 1000000 for the full size)")

// BenchmarkAuditList lists, as "pmgsync audit list" does, the first 100
// records of a filter on a trail of -audit records spread over 400 days and
// 200 technicians: one technician's last 90 days, one action's, and every
// record of the last 90 days.
func BenchmarkAuditList(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "pmgsync.db")
	db := open(b, path, nil)
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const days = 400
	bulkInsertAudit(b, path, *benchAudit, t0, days*24*time.Hour)
	since := t0.Add((days - 90) * 24 * time.Hour)

	for _, tc := range []struct {
		name string
		f    pmgsync.AuditFilter
	}{
		{"technician+since", pmgsync.AuditFilter{Technician: "tech-007", Since: since, Limit: 100}},
		{"action+since", pmgsync.AuditFilter{Action: pmgsync.ActionDelete, Since: since, Limit: 100}},
		{"since", pmgsync.AuditFilter{Since: since, Limit: 100}},
	} {
		b.Run(fmt.Sprintf("records=%d/%s", *benchAudit, tc.name), func(b *testing.B) {
			for b.Loop() {
				n := 0
				err := db.AuditEvents(ctx, tc.f, func(*pmgsync.AuditEvent) error { n++; return nil })
				if err != nil || n != 100 {
					b.Fatalf("AuditEvents = %d records, %v; want 100", n, err)
				}
			}
		})
	}
}

// bulkInsertAudit appends n chained records, evenly spread over span from
// t0, in one transaction through a connection of its own.
func bulkInsertAudit(b *testing.B, path string, n int, t0 time.Time, span time.Duration) {
	b.Helper()
	raw, err := sql.Open("sqlite", "file:"+path+"?_busy_timeout=10000&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.Prepare(`INSERT INTO audit (time_ns, actor_kind, actor_name, action, technician, file_name,
		size, sha256, client_ip, user_agent, result, request_id, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	actions := []string{pmgsync.ActionUpload, pmgsync.ActionDownload, pmgsync.ActionDownload, pmgsync.ActionDelete}
	prev := ""
	for i := range n {
		tech := fmt.Sprintf("tech-%03d", i%200)
		e := &pmgsync.AuditEvent{
			Time:      t0.Add(time.Duration(int64(span) / int64(n) * int64(i))).UTC(),
			ActorKind: pmgsync.ActorTechnician, ActorName: tech, Action: actions[i%len(actions)], Technician: tech,
			FileName: fmt.Sprintf("r%05d.xlsx", i%10_000), Size: 40_000, SHA256: fmt.Sprintf("%064x", i),
			ClientIP: "203.0.113.7", UserAgent: "PMG Sync/2.1", Result: "ok", RequestID: fmt.Sprint("req-", i),
		}
		e.Hash = pmgsync.AuditHash(prev, e)
		if _, err := stmt.Exec(e.Time.UnixNano(), e.ActorKind, e.ActorName, e.Action, e.Technician, e.FileName,
			e.Size, e.SHA256, e.ClientIP, e.UserAgent, e.Result, e.RequestID, prev, e.Hash); err != nil {
			b.Fatal(err)
		}
		prev = e.Hash
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
}
