package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// phone is the actor of a technician's requests in these tests, as the
// HTTP server puts it in the context.
var phone = pmgsync.Actor{
	Kind: pmgsync.ActorTechnician, Name: "joao",
	ClientIP: "203.0.113.7", UserAgent: "pmg-app/3.1 (Android 14)", RequestID: "req-42",
}

// audit returns every record of the trail, oldest first.
func (f *fixture) audit(t *testing.T) []*pmgsync.AuditEvent {
	t.Helper()
	var all []*pmgsync.AuditEvent
	err := f.eng.AuditEvents(context.Background(), pmgsync.AuditFilter{}, func(ev *pmgsync.AuditEvent) error {
		all = append(all, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// auditLen returns how many records the trail has.
func (f *fixture) auditLen(t *testing.T) int {
	t.Helper()
	return len(f.audit(t))
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// sameEvent compares the fields of got that a caller controls (not the
// id, time or hashes) with want, Detail only if want has one.
func sameEvent(got, want *pmgsync.AuditEvent) bool {
	g := *got
	g.ID, g.Time, g.PrevHash, g.Hash = 0, time.Time{}, "", ""
	if want.Detail == "" {
		g.Detail = ""
	}
	return g == *want
}

// Every action a technician or an admin takes leaves exactly one record,
// with the actor of the context, refusals included.
func TestAuditRecordsEachAction(t *testing.T) {
	f := newFixture(t)
	joao := f.technician(t, "joao")
	ctx := pmgsync.WithActor(context.Background(), phone)
	clock := func() time.Time { return f.now }
	small := engine.New(f.meta, f.blobs, engine.Options{Now: clock, MaxUploadSize: 4})
	full := engine.New(f.meta, f.blobs, engine.Options{Now: clock,
		FreeSpace: func() (uint64, uint64, error) { return 1 << 20, 1 << 40, nil }})
	const badToken = "pmg_this-is-not-a-token-at-all"

	// want fills in the actor of ctx.
	want := func(ev pmgsync.AuditEvent) *pmgsync.AuditEvent {
		ev.SetActor(phone)
		return &ev
	}
	upload := func(eng *engine.Engine, name, content string) func() error {
		return func() error {
			_, err := eng.Upload(ctx, joao, name, strings.NewReader(content), -1)
			return err
		}
	}
	// pull opens a file and, as the HTTP server does once the response is
	// sent, records the download with its status and the bytes sent.
	pull := func(name string, status int, sent int64) func() error {
		return func() error {
			file, rc, err := f.eng.Open(ctx, joao, name)
			if err != nil {
				return err
			}
			rc.Close()
			f.eng.AuditDownload(ctx, joao, file, status, sent)
			return nil
		}
	}
	del := func(name string) func() error {
		return func() error { _, err := f.eng.Delete(ctx, joao, name); return err }
	}
	auth := func(raw string) func() error {
		return func() error { _, _, err := f.eng.Authenticate(ctx, raw); return err }
	}
	tests := []struct {
		name    string
		do      func() error
		errCode string
		want    *pmgsync.AuditEvent
	}{
		{"upload new", upload(f.eng, "pmg.csv", "v1;1\n"), "", want(pmgsync.AuditEvent{
			Action: pmgsync.ActionUpload, Technician: "joao", FileName: "pmg.csv",
			Size: 5, SHA256: sha("v1;1\n"), Result: "ok"})},
		{"upload replacing", upload(f.eng, "pmg.csv", "v2;22\n"), "", want(pmgsync.AuditEvent{
			Action: pmgsync.ActionUpload, Technician: "joao", FileName: "pmg.csv",
			Size: 6, SHA256: sha("v2;22\n"), OldSHA256: sha("v1;1\n"), Result: "ok"})},
		{"download", pull("pmg.csv", 200, 6), "", want(pmgsync.AuditEvent{
			Action: pmgsync.ActionDownload, Technician: "joao", FileName: "pmg.csv",
			Size: 6, SHA256: sha("v2;22\n"), Result: "ok"})},
		{"download of a range", pull("pmg.csv", 206, 2), "", want(pmgsync.AuditEvent{
			Action: pmgsync.ActionDownload, Technician: "joao", FileName: "pmg.csv",
			Size: 6, SHA256: sha("v2;22\n"), Result: "206", Detail: "2 of 6 bytes sent"})},
		{"delete", del("pmg.csv"), "", want(pmgsync.AuditEvent{
			Action: pmgsync.ActionDelete, Technician: "joao", FileName: "pmg.csv",
			Size: 6, SHA256: sha("v2;22\n"), Result: "ok"})},
		{"bad token", auth(badToken), pmgsync.EUNAUTHORIZED, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionAuthFailed, Result: "403"})},
		{"no token", auth(""), pmgsync.EUNAUTHORIZED, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionAuthFailed, Result: "403", Detail: "no token"})},
		{"type not allowed (415)", upload(f.eng, "laudo.pdf", "%PDF-1.7"), pmgsync.EUNSUPPORTED, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionUpload, Technician: "joao", FileName: "laudo.pdf", Result: pmgsync.EUNSUPPORTED})},
		{"too large (413)", upload(small, "big.csv", "a;b\n1;2\n"), pmgsync.ETOOLARGE, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionUpload, Technician: "joao", FileName: "big.csv", Result: pmgsync.ETOOLARGE})},
		{"disk full", upload(full, "a.csv", "a;b\n"), pmgsync.ESTORAGE, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionUpload, Technician: "joao", FileName: "a.csv", Result: pmgsync.ESTORAGE})},
		{"name not UTF-8, kept as sent but valid", upload(f.eng, "rel\xffat\xf3rio.csv", "a;b\n"), pmgsync.EINVALID, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionUpload, Technician: "joao", FileName: "rel\uFFFDat\uFFFDrio.csv", Result: pmgsync.EINVALID})},
		{"pull of a missing file (404)", pull("nada.csv", 200, 0), pmgsync.ENOTFOUND, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionDownload, Technician: "joao", FileName: "nada.csv", Result: pmgsync.ENOTFOUND})},
		{"pull outside the technician's files", pull("../maria/pmg.csv", 200, 0), pmgsync.ENOTFOUND, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionDownload, Technician: "joao", FileName: "../maria/pmg.csv", Result: pmgsync.ENOTFOUND})},
		{"delete of a missing file", del("pmg.csv"), pmgsync.ENOTFOUND, want(pmgsync.AuditEvent{
			Action: pmgsync.ActionDelete, Technician: "joao", FileName: "pmg.csv", Result: pmgsync.ENOTFOUND})},
		{"import", func() error { return f.eng.RecordImport(ctx, "Tokens: 2 imported", nil) }, "", want(pmgsync.AuditEvent{
			Action: pmgsync.ActionImport, Result: engine.ImportOK, Detail: "Tokens: 2 imported"})},
		{"import that failed", func() error { return f.eng.RecordImport(ctx, "Files: 0 imported", errors.New("disk")) }, "", want(pmgsync.AuditEvent{
			Action: pmgsync.ActionImport, Result: engine.ImportFailed, Detail: "Files: 0 imported"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.audit(t)
			err := tt.do()
			if got := pmgsync.ErrorCode(err); got != tt.errCode {
				t.Fatalf("error %v (code %q), want code %q", err, got, tt.errCode)
			}
			after := f.audit(t)
			if len(after) != len(before)+1 {
				t.Fatalf("%d new records, want 1: %+v", len(after)-len(before), after[len(before):])
			}
			got := after[len(after)-1]
			if !sameEvent(got, tt.want) {
				t.Errorf("record\n got %+v\nwant %+v", got, tt.want)
			}
			if !got.Time.Equal(f.now) {
				t.Errorf("time %v, want %v", got.Time, f.now)
			}
		})
		f.now = f.now.Add(time.Second)
	}
	for _, ev := range f.audit(t) {
		if strings.Contains(ev.Detail+ev.FileName+ev.ActorName+ev.Technician, badToken) {
			t.Errorf("record %d holds the token: %+v", ev.ID, ev)
		}
	}
	rep, err := f.eng.VerifyAudit(context.Background())
	if err != nil || rep.Broken != nil || rep.Records != int64(f.auditLen(t)) {
		t.Errorf("VerifyAudit = %+v, %v; want intact, %d records", rep, err, f.auditLen(t))
	}
}

// Opening a file records nothing by itself: whether the content reached the
// client is known only after, and a response without content (HEAD, 304)
// is no download.
func TestOpenDoesNotRecordDownload(t *testing.T) {
	f := newFixture(t)
	joao := f.technician(t, "joao")
	mustUpload(t, f, joao, "pmg.csv")
	ctx := pmgsync.WithActor(context.Background(), phone)
	n := f.auditLen(t)
	file, rc, err := f.eng.Open(ctx, joao, "pmg.csv")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	f.eng.AuditDownload(ctx, joao, file, 304, 0)
	f.eng.AuditDownload(ctx, joao, file, 416, 0)
	if got := f.auditLen(t); got != n {
		t.Errorf("%d new records, want none: %+v", got-n, f.audit(t)[n:])
	}
}

// Admin changes made through the engine are recorded once, with the CLI as
// actor; the store writes these records.
func TestAuditAdminActions(t *testing.T) {
	f := newFixture(t)
	ctx := pmgsync.WithActor(context.Background(), pmgsync.Actor{Kind: pmgsync.ActorCLI, Name: "ops"})
	n := f.auditLen(t)
	step := func(action string, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		all := f.audit(t)
		if len(all) != n+1 {
			t.Fatalf("%s: %d new records, want 1", action, len(all)-n)
		}
		n = len(all)
		if got := all[n-1]; got.Action != action || got.ActorKind != pmgsync.ActorCLI || got.ActorName != "ops" || got.Technician != "maria" {
			t.Errorf("record %+v, want %s by cli ops about maria", got, action)
		}
	}
	_, err := f.eng.AddTechnician(ctx, "maria", "")
	step(pmgsync.ActionTechnicianAdd, err)
	_, tok, _, err := f.eng.CreateToken(ctx, "maria", "phone", time.Time{})
	step(pmgsync.ActionTokenCreate, err)
	_, tok, _, err = f.eng.RotateToken(ctx, "#"+strconv.FormatInt(tok.ID, 10), "", engine.SameLifetime, engine.DefaultRotationGrace)
	step(pmgsync.ActionTokenRotate, err)
	_, err = f.eng.RevokeToken(ctx, "#"+strconv.FormatInt(tok.ID, 10))
	step(pmgsync.ActionTokenRevoke, err)
	_, err = f.eng.SetTechnicianDisabled(ctx, "maria", true)
	step(pmgsync.ActionTechnicianDisable, err)
	rep, err := f.eng.VerifyAudit(ctx)
	if err != nil || rep.Broken != nil || rep.Records != int64(n) {
		t.Errorf("VerifyAudit = %+v, %v; want intact, %d records", rep, err, n)
	}
}

// The sweep records expired tokens once and prunes records past their
// retention, and the pruned trail still verifies.
func TestCleanupExpiresTokensAndPrunesAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	clock := func() time.Time { return f.now }
	f.eng = engine.New(f.meta, f.blobs, engine.Options{Now: clock, AuditRetention: 30 * 24 * time.Hour})
	maria := f.technician(t, "maria")
	if _, _, _, err := f.eng.CreateToken(ctx, "maria", "phone", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	mustUpload(t, f, maria, "old.csv")
	f.now = t0.Add(2 * time.Hour)
	cleanup(t, f, engine.CleanupOptions{})
	var expired []*pmgsync.AuditEvent
	for _, ev := range f.audit(t) {
		if ev.Action == pmgsync.ActionTokenExpire {
			expired = append(expired, ev)
		}
	}
	if len(expired) != 1 || expired[0].Technician != "maria" || expired[0].ActorKind != pmgsync.ActorSystem {
		t.Fatalf("token.expire records %+v, want one for maria by the system", expired)
	}

	// Forty days on, everything older than 30 days goes; the records of
	// this run (the old file's expiry, the prune) stay.
	f.now = t0.Add(40 * 24 * time.Hour)
	mustUpload(t, f, maria, "new.csv")
	before := f.audit(t)
	run := cleanup(t, f, engine.CleanupOptions{})
	if run.Errors != "" {
		t.Fatalf("run errors: %s", run.Errors)
	}
	after := f.audit(t)
	if after[0].Time.Before(f.now.Add(-30 * 24 * time.Hour)) {
		t.Errorf("oldest record %+v is past the retention", after[0])
	}
	var prune *pmgsync.AuditEvent
	for _, ev := range after {
		if ev.Action == pmgsync.ActionAuditPrune {
			prune = ev
		}
	}
	if prune == nil || after[0].PrevHash == "" || !strings.Contains(prune.Detail, after[0].PrevHash) {
		t.Fatalf("after pruning %d records: oldest %+v, prune record %+v", len(before), after[0], prune)
	}
	rep, err := f.eng.VerifyAudit(ctx)
	if err != nil || rep.Broken != nil || rep.Records != int64(len(after)) {
		t.Errorf("VerifyAudit after pruning = %+v, %v; want intact, %d records", rep, err, len(after))
	}
	// A second run the same day records nothing more about tokens.
	cleanup(t, f, engine.CleanupOptions{})
	for _, ev := range f.audit(t)[len(after):] {
		if ev.Action == pmgsync.ActionTokenExpire {
			t.Errorf("token expiry recorded twice: %+v", ev)
		}
	}
}

// A dry run changes nothing, the audit trail included.
func TestCleanupDryRunLeavesAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, _, _, err := f.eng.CreateToken(ctx, "maria", "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	n := f.auditLen(t)
	f.now = t0.Add(2 * engine.DefaultAuditRetention)
	cleanup(t, f, engine.CleanupOptions{DryRun: true})
	if got := f.auditLen(t); got != n {
		t.Errorf("%d records after a dry run, want %d", got, n)
	}
}

// trail returns a fixture whose audit trail has n upload records, ids
// 1 to n, one a second, and that trail.
func trail(t *testing.T, n int) (*fixture, []*pmgsync.AuditEvent) {
	t.Helper()
	f := newFixture(t)
	tech := &pmgsync.Technician{Name: "joao"}
	if err := f.meta.CreateTechnician(context.Background(), tech); err != nil {
		t.Fatal(err)
	}
	for i := range n - 1 {
		f.now = f.now.Add(time.Second)
		mustUpload(t, f, tech, "pmg-"+strconv.Itoa(i)+".csv")
	}
	all := f.audit(t)
	if len(all) != n || all[0].ID != 1 || all[n-1].ID != int64(n) {
		t.Fatalf("trail of %d records, ids %d to %d; want ids 1 to %d", len(all), all[0].ID, all[len(all)-1].ID, n)
	}
	return f, all
}

// insertAudit writes ev as the audit row with ev.ID, as a forger with
// write access to the database file would.
func insertAudit(t *testing.T, f *fixture, ev *pmgsync.AuditEvent) {
	t.Helper()
	_, err := rawDB(t, f).Exec(`INSERT INTO audit (id, time_ns, actor_kind, actor_name, action, technician,
		file_name, size, sha256, old_sha256, client_ip, user_agent, result, request_id, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		ev.ID, ev.Time.UnixNano(), ev.ActorKind, ev.ActorName, ev.Action, ev.Technician,
		ev.FileName, ev.Size, ev.SHA256, ev.OldSHA256, ev.ClientIP, ev.UserAgent, ev.Result, ev.RequestID, ev.Detail,
		ev.PrevHash, ev.Hash)
	if err != nil {
		t.Fatal(err)
	}
}

// forged returns a record that passes for a download after prev: its
// hash is right for its content.
func forged(id int64, prev *pmgsync.AuditEvent) *pmgsync.AuditEvent {
	ev := &pmgsync.AuditEvent{
		ID: id, Time: prev.Time.Add(time.Millisecond), ActorKind: pmgsync.ActorTechnician, ActorName: "joao",
		Action: pmgsync.ActionDownload, Technician: "joao", FileName: "alibi.csv", Result: "ok",
		PrevHash: prev.Hash,
	}
	ev.Hash = pmgsync.AuditHash(ev.PrevHash, ev)
	return ev
}

// Rows changed behind the server's back with SQL are caught at the first
// record whose link no longer holds.
func TestVerifyAuditCatchesTampering(t *testing.T) {
	const n = 10
	tests := []struct {
		name   string
		tamper func(t *testing.T, f *fixture, all []*pmgsync.AuditEvent)
		want   engine.AuditBreak
	}{
		{"a field modified", func(t *testing.T, f *fixture, _ []*pmgsync.AuditEvent) {
			exec(t, f, `UPDATE audit SET file_name = 'other.csv' WHERE id = 4`)
		}, engine.AuditBreak{ID: 4, PrevID: 3, Kind: engine.BreakModified}},
		{"the time modified", func(t *testing.T, f *fixture, _ []*pmgsync.AuditEvent) {
			exec(t, f, `UPDATE audit SET time_ns = time_ns - 3600000000000 WHERE id = 7`)
		}, engine.AuditBreak{ID: 7, PrevID: 6, Kind: engine.BreakModified}},
		{"a field modified and the hash recomputed", func(t *testing.T, f *fixture, all []*pmgsync.AuditEvent) {
			ev := *all[4]
			ev.Result = "403"
			exec(t, f, `UPDATE audit SET result = ?, hash = ? WHERE id = 5`, ev.Result, pmgsync.AuditHash(ev.PrevHash, &ev))
		}, engine.AuditBreak{ID: 6, PrevID: 5, Kind: engine.BreakMissing}},
		{"a row deleted", func(t *testing.T, f *fixture, _ []*pmgsync.AuditEvent) {
			exec(t, f, `DELETE FROM audit WHERE id = 5`)
		}, engine.AuditBreak{ID: 6, PrevID: 4, Kind: engine.BreakMissing}},
		{"the newest rows deleted then one appended", func(t *testing.T, f *fixture, all []*pmgsync.AuditEvent) {
			exec(t, f, `DELETE FROM audit WHERE id >= 8`)
			insertAudit(t, f, forged(n+1, all[n-1])) // still chained to the deleted last one
		}, engine.AuditBreak{ID: n + 1, PrevID: 7, Kind: engine.BreakMissing}},
		{"the oldest rows deleted", func(t *testing.T, f *fixture, _ []*pmgsync.AuditEvent) {
			exec(t, f, `DELETE FROM audit WHERE id <= 3`)
		}, engine.AuditBreak{ID: 4, Kind: engine.BreakMissing}},
		{"a row inserted in the middle, with a right hash", func(t *testing.T, f *fixture, all []*pmgsync.AuditEvent) {
			// Make room after record 3, then slip in a record that claims
			// to follow it.
			exec(t, f, `UPDATE audit SET id = id + 100 WHERE id > 3`)
			insertAudit(t, f, forged(4, all[2]))
		}, engine.AuditBreak{ID: 104, PrevID: 4, Kind: engine.BreakMissing}},
		{"a row inserted at the end with a made-up hash", func(t *testing.T, f *fixture, all []*pmgsync.AuditEvent) {
			ev := forged(n+1, all[n-1])
			ev.Hash = strings.Repeat("ab", 32)
			insertAudit(t, f, ev)
		}, engine.AuditBreak{ID: n + 1, Kind: engine.BreakModified, PrevID: n}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, all := trail(t, n)
			ctx := context.Background()
			rep, err := f.eng.VerifyAudit(ctx)
			if err != nil || rep.Broken != nil || rep.Records != n {
				t.Fatalf("before tampering: %+v, %v", rep, err)
			}
			tt.tamper(t, f, all)
			rep, err = f.eng.VerifyAudit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Broken == nil || *rep.Broken != tt.want {
				t.Fatalf("VerifyAudit = %+v (broken %+v), want %+v", rep, rep.Broken, tt.want)
			}
			if msg := rep.Broken.String(); !strings.Contains(msg, "record "+strconv.FormatInt(tt.want.ID, 10)) {
				t.Errorf("message %q does not name record %d", msg, tt.want.ID)
			}
		})
	}
}

// After a prune, the oldest record points to a pruned one, which the
// prune record names; cutting off more of the start is still caught.
func TestVerifyAuditAfterPrune(t *testing.T) {
	f, _ := trail(t, 6)
	ctx := context.Background()
	f.now = f.now.Add(time.Hour)
	mustUpload(t, f, &pmgsync.Technician{ID: 1, Name: "joao"}, "late.csv")
	n, err := f.meta.PruneAudit(ctx, f.now)
	if err != nil || n != 6 {
		t.Fatalf("PruneAudit = %d, %v; want 6", n, err)
	}
	rep, err := f.eng.VerifyAudit(ctx)
	if err != nil || rep.Broken != nil || rep.Records != 2 {
		t.Fatalf("VerifyAudit after prune = %+v, %v; want intact, 2 records", rep, err)
	}
	// Every record pruned: the prune record alone follows the last one.
	f.now = f.now.Add(time.Hour)
	if _, err := f.meta.PruneAudit(ctx, f.now); err != nil {
		t.Fatal(err)
	}
	if rep, err := f.eng.VerifyAudit(ctx); err != nil || rep.Broken != nil {
		t.Fatalf("VerifyAudit after a prune of everything = %+v, %v", rep, err)
	}
	mustUpload(t, f, &pmgsync.Technician{ID: 1, Name: "joao"}, "later.csv")
	first := f.audit(t)[0]
	if first.Action != pmgsync.ActionAuditPrune {
		t.Fatalf("oldest record %+v, want the prune record", first)
	}
	exec(t, f, `DELETE FROM audit WHERE id = ?`, first.ID)
	rep, err = f.eng.VerifyAudit(ctx)
	if err != nil || rep.Broken == nil || rep.Broken.ID != first.ID+1 || rep.Broken.Kind != engine.BreakMissing {
		t.Fatalf("VerifyAudit with the prune record deleted = %+v (%+v), %v; want a break at %d", rep, rep.Broken, err, first.ID+1)
	}
}

// An empty trail is intact.
func TestVerifyAuditEmpty(t *testing.T) {
	f := newFixture(t)
	rep, err := f.eng.VerifyAudit(context.Background())
	if err != nil || rep.Broken != nil || rep.Records != 0 {
		t.Errorf("VerifyAudit = %+v, %v", rep, err)
	}
}

func exec(t *testing.T, f *fixture, query string, args ...any) {
	t.Helper()
	if _, err := rawDB(t, f).Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// failingAudit is a store whose audit trail cannot be written.
type failingAudit struct{ pmgsync.MetadataStore }

func (failingAudit) AppendAudit(context.Context, *pmgsync.AuditEvent) error {
	return errors.New("database is locked")
}

// A record that cannot be written is logged as an error and fails neither
// a download nor the refusal of a token.
func TestAuditFailureDoesNotFailRequest(t *testing.T) {
	f := newFixture(t)
	joao := f.technician(t, "joao")
	mustUpload(t, f, joao, "pmg.csv")
	var log strings.Builder
	eng := engine.New(failingAudit{f.meta}, f.blobs, engine.Options{
		Now:    func() time.Time { return f.now },
		Logger: slog.New(slog.NewTextHandler(&log, nil)),
	})
	ctx := context.Background()
	file, rc, err := eng.Open(ctx, joao, "pmg.csv")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	rc.Close()
	eng.AuditDownload(ctx, joao, file, 200, file.Size)
	if _, _, err := eng.Authenticate(ctx, "bogus"); !pmgsync.IsCode(err, pmgsync.EUNAUTHORIZED) {
		t.Errorf("Authenticate: %v, want EUNAUTHORIZED", err)
	}
	if got := strings.Count(log.String(), "level=ERROR msg=\"AUDIT RECORD LOST"); got != 2 {
		t.Errorf("%d errors logged, want 2:\n%s", got, log.String())
	}
	if strings.Contains(log.String(), "bogus") {
		t.Errorf("the log holds the token:\n%s", log.String())
	}
}
