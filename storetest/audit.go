package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// actor is the actor of the changes whose records the suite checks: a
// technician through the API, with everything a request carries.
var actor = pmgsync.Actor{
	Kind:      pmgsync.ActorTechnician,
	Name:      "ana",
	ClientIP:  "203.0.113.7",
	UserAgent: "PMG Sync/2.1 (Android 14)",
	RequestID: "req-4f2a",
}

// actorCtx returns the test's context carrying actor.
func actorCtx(t *testing.T) context.Context { return pmgsync.WithActor(ctx(t), actor) }

// auditEvents returns the records f selects.
func auditEvents(t *testing.T, s pmgsync.MetadataStore, f pmgsync.AuditFilter) []*pmgsync.AuditEvent {
	t.Helper()
	var es []*pmgsync.AuditEvent
	err := s.AuditEvents(ctx(t), f, func(e *pmgsync.AuditEvent) error {
		es = append(es, e)
		return nil
	})
	if err != nil {
		t.Fatalf("AuditEvents(%+v): %v", f, err)
	}
	return es
}

// auditTail follows the audit trail of a store: next returns the records
// appended since its previous call.
type auditTail struct {
	s      pmgsync.MetadataStore
	lastID int64
}

func (a *auditTail) next(t *testing.T) []*pmgsync.AuditEvent {
	t.Helper()
	var es []*pmgsync.AuditEvent
	for _, e := range auditEvents(t, a.s, pmgsync.AuditFilter{}) {
		if e.ID > a.lastID {
			es = append(es, e)
			a.lastID = e.ID
		}
	}
	return es
}

// one fails the test unless exactly one record was appended since the
// previous call, and returns it.
func (a *auditTail) one(t *testing.T, what string) *pmgsync.AuditEvent {
	t.Helper()
	es := a.next(t)
	if len(es) != 1 {
		t.Fatalf("%s: %d audit records, want 1:\n%s", what, len(es), eventsString(es))
	}
	return es[0]
}

// none fails the test if any record was appended since the previous call.
func (a *auditTail) none(t *testing.T, what string) {
	t.Helper()
	if es := a.next(t); len(es) != 0 {
		t.Errorf("%s: %d audit records, want none:\n%s", what, len(es), eventsString(es))
	}
}

// eventString prints the fields of e that a caller chooses, times as
// instants: not ID, PrevHash and Hash, which checkChain checks.
func eventString(e *pmgsync.AuditEvent) string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{Time:%s Actor:%s/%q Action:%s Technician:%q File:%q Size:%d SHA256:%q Old:%q IP:%q UA:%q Result:%q Req:%q Detail:%q}",
		ts(e.Time), e.ActorKind, e.ActorName, e.Action, e.Technician, e.FileName, e.Size, e.SHA256, e.OldSHA256,
		e.ClientIP, e.UserAgent, e.Result, e.RequestID, e.Detail)
}

func eventsString(es []*pmgsync.AuditEvent) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  #%d %s\n", e.ID, eventString(e))
	}
	return b.String()
}

func sameEvent(t *testing.T, what string, got, want *pmgsync.AuditEvent) {
	t.Helper()
	if g, w := eventString(got), eventString(want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// byActor returns an event of action by actor at time at, with result "ok"
// and the fields fill sets.
func byActor(at time.Time, action, technician string, fill func(e *pmgsync.AuditEvent)) *pmgsync.AuditEvent {
	e := &pmgsync.AuditEvent{Time: at, Action: action, Technician: technician, Result: "ok"}
	e.SetActor(actor)
	if fill != nil {
		fill(e)
	}
	return e
}

// checkChain fails the test unless es, in order, form a hash chain: each
// record's Hash is AuditHash of its fields after its PrevHash, and each
// PrevHash is the Hash of the record before. The first record's PrevHash
// must be first.
func checkChain(t *testing.T, es []*pmgsync.AuditEvent, first string) {
	t.Helper()
	prev := first
	for i, e := range es {
		if e.PrevHash != prev {
			t.Errorf("record %d (#%d %s): PrevHash %q, want %q", i, e.ID, e.Action, e.PrevHash, prev)
		}
		if want := pmgsync.AuditHash(e.PrevHash, e); e.Hash != want {
			t.Errorf("record %d (#%d %s): Hash %q, want %q", i, e.ID, e.Action, e.Hash, want)
		}
		if i > 0 && e.ID <= es[i-1].ID {
			t.Errorf("record %d: ID %d after %d", i, e.ID, es[i-1].ID)
		}
		prev = e.Hash
	}
}

// testAuditRecords checks that each change records exactly one event, with
// the actor of the context, in the same call, and that refused changes
// record nothing.
func testAuditRecords(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	tail := &auditTail{s: s}
	c := actorCtx(t)

	tech := &pmgsync.Technician{Name: "ana", Email: "ana@example.com"}
	if err := s.CreateTechnician(c, tech); err != nil {
		t.Fatalf("CreateTechnician: %v", err)
	}
	sameEvent(t, "CreateTechnician", tail.one(t, "CreateTechnician"),
		byActor(clk.Now(), pmgsync.ActionTechnicianAdd, "ana", nil))
	if err := s.CreateTechnician(c, &pmgsync.Technician{Name: "ana"}); err == nil {
		t.Fatalf("CreateTechnician of a taken name succeeded")
	}
	tail.none(t, "CreateTechnician of a taken name")

	clk.Add(time.Second)
	tech.Email, tech.Retention = "ana@pmg.example", 30*24*time.Hour
	if err := s.UpdateTechnician(c, tech); err != nil {
		t.Fatalf("UpdateTechnician: %v", err)
	}
	e := tail.one(t, "UpdateTechnician of email and retention")
	if !strings.Contains(e.Detail, "email") || !strings.Contains(e.Detail, "retention") {
		t.Errorf("technician.change Detail %q, want it to name email and retention", e.Detail)
	}
	sameEvent(t, "UpdateTechnician of email and retention", e,
		byActor(clk.Now(), pmgsync.ActionTechnicianChange, "ana", func(w *pmgsync.AuditEvent) { w.Detail = e.Detail }))
	for _, disabled := range []bool{true, false} {
		tech.Disabled = disabled
		if err := s.UpdateTechnician(c, tech); err != nil {
			t.Fatalf("UpdateTechnician(Disabled: %v): %v", disabled, err)
		}
		e := tail.one(t, fmt.Sprintf("UpdateTechnician(Disabled: %v)", disabled))
		sameEvent(t, fmt.Sprintf("UpdateTechnician(Disabled: %v)", disabled), e,
			byActor(clk.Now(), pmgsync.ActionTechnicianDisable, "ana", func(w *pmgsync.AuditEvent) {
				w.Result, w.Detail = map[bool]string{true: "disabled", false: "enabled"}[disabled], e.Detail
			}))
	}
	if err := s.UpdateTechnician(c, &pmgsync.Technician{ID: tech.ID + 1000, Name: "ghost"}); err == nil {
		t.Fatalf("UpdateTechnician of an unknown id succeeded")
	}
	tail.none(t, "UpdateTechnician of an unknown id")

	tok := &pmgsync.Token{TechnicianID: tech.ID, Label: "Galaxy A14"}
	if err := s.CreateToken(c, tok, pmgsync.HashToken(pmgsync.NewToken())); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	e = tail.one(t, "CreateToken")
	if !strings.Contains(e.Detail, fmt.Sprintf("#%d", tok.ID)) || !strings.Contains(e.Detail, "Galaxy A14") {
		t.Errorf("token.create Detail %q, want the token's id #%d and its label", e.Detail, tok.ID)
	}
	sameEvent(t, "CreateToken", e,
		byActor(clk.Now(), pmgsync.ActionTokenCreate, "ana", func(w *pmgsync.AuditEvent) { w.Detail = e.Detail }))
	if err := s.CreateToken(c, &pmgsync.Token{TechnicianID: tech.ID + 1000}, pmgsync.HashToken("x")); err == nil {
		t.Fatalf("CreateToken for an unknown technician succeeded")
	}
	tail.none(t, "CreateToken for an unknown technician")

	clk.Add(time.Second)
	if err := s.RevokeToken(c, tok.ID, time.Time{}); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	e = tail.one(t, "RevokeToken")
	if !strings.Contains(e.Detail, fmt.Sprintf("#%d", tok.ID)) {
		t.Errorf("token.revoke Detail %q, want the token's id #%d", e.Detail, tok.ID)
	}
	sameEvent(t, "RevokeToken", e,
		byActor(clk.Now(), pmgsync.ActionTokenRevoke, "ana", func(w *pmgsync.AuditEvent) { w.Detail = e.Detail }))
	if err := s.RevokeToken(c, tok.ID, time.Time{}); err != nil {
		t.Fatalf("RevokeToken again: %v", err)
	}
	tail.none(t, "RevokeToken of a revoked token")
	if err := s.RevokeToken(c, tok.ID+1000, time.Time{}); err == nil {
		t.Fatalf("RevokeToken of an unknown id succeeded")
	}
	tail.none(t, "RevokeToken of an unknown id")

	clk.Add(time.Second)
	upload := func(f *pmgsync.File, old string) *pmgsync.AuditEvent {
		return byActor(clk.Now(), pmgsync.ActionUpload, "ana", func(w *pmgsync.AuditEvent) {
			w.FileName, w.Size, w.SHA256, w.OldSHA256 = f.Name, f.Size, f.SHA256, old
		})
	}
	a := newFile(tech, "a.xlsx", "blob-a", time.Time{})
	if _, err := s.CommitFile(c, a, pmgsync.Quota{}); err != nil {
		t.Fatalf("CommitFile: %v", err)
	}
	sameEvent(t, "CommitFile of a new name", tail.one(t, "CommitFile of a new name"), upload(a, ""))
	a2 := newFile(tech, "a.xlsx", "blob-a-2", time.Time{})
	if _, err := s.CommitFile(c, a2, pmgsync.Quota{}); err != nil {
		t.Fatalf("CommitFile: %v", err)
	}
	sameEvent(t, "CommitFile replacing a version", tail.one(t, "CommitFile replacing a version"), upload(a2, a.SHA256))
	b := newFile(tech, "b.xlsx", "blob-b", time.Time{})
	if _, err := s.CreateFile(c, b, pmgsync.Quota{}); err != nil {
		t.Fatalf("CreateFile: %v", err)
	}
	sameEvent(t, "CreateFile", tail.one(t, "CreateFile"), upload(b, ""))
	if _, err := s.CreateFile(c, newFile(tech, "b.xlsx", "blob-b-2", time.Time{}), pmgsync.Quota{}); err == nil {
		t.Fatalf("CreateFile of an existing name succeeded")
	}
	tail.none(t, "CreateFile of an existing name")
	_, err := s.CommitFile(c, newFile(tech, "c.xlsx", "blob-c", time.Time{}), pmgsync.Quota{MaxFiles: 2})
	wantError(t, err, pmgsync.ESTORAGE, pmgsync.MsgQuotaFiles)
	tail.none(t, "CommitFile refused by the quota")

	clk.Add(time.Second)
	if _, err := s.DeleteFile(c, tech.ID, "b.xlsx"); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	sameEvent(t, "DeleteFile", tail.one(t, "DeleteFile"),
		byActor(clk.Now(), pmgsync.ActionDelete, "ana", func(w *pmgsync.AuditEvent) {
			w.FileName, w.Size, w.SHA256 = b.Name, b.Size, b.SHA256
		}))
	if _, err := s.DeleteFile(c, tech.ID, "b.xlsx"); err == nil {
		t.Fatalf("DeleteFile of a deleted file succeeded")
	}
	tail.none(t, "DeleteFile of a deleted file")

	// The sweep runs as the system: no actor in the context.
	bruno := mustTechnician(t, s, "bruno")
	tail.next(t)
	x, _ := mustCommit(t, s, bruno, "x.xlsx", "blob-x", clk.Now())
	tail.next(t)
	clk.Add(time.Second)
	removed, err := s.DeleteFiles(ctx(t), []int64{a2.ID, x.ID, a.ID, x.ID + 1000, a2.ID})
	if err != nil || len(removed) != 2 {
		t.Fatalf("DeleteFiles = %d files, %v; want 2", len(removed), err)
	}
	es := tail.next(t)
	if len(es) != 2 {
		t.Fatalf("DeleteFiles of 2 files: %d audit records, want 2:\n%s", len(es), eventsString(es))
	}
	expire := func(tech string, f *pmgsync.File) string {
		return eventString(&pmgsync.AuditEvent{Time: clk.Now(), ActorKind: pmgsync.ActorSystem, Action: pmgsync.ActionExpire,
			Technician: tech, FileName: f.Name, Size: f.Size, SHA256: f.SHA256, Result: "ok"})
	}
	got := map[string]bool{eventString(es[0]): true, eventString(es[1]): true}
	for _, want := range []string{expire("ana", a2), expire("bruno", x)} {
		if !got[want] {
			t.Errorf("DeleteFiles: records\n%swant one %s", eventsString(es), want)
		}
	}
	if _, err := s.DeleteFiles(ctx(t), []int64{a2.ID, x.ID}); err != nil {
		t.Fatalf("DeleteFiles again: %v", err)
	}
	tail.none(t, "DeleteFiles of removed files")

	checkChain(t, auditEvents(t, s, pmgsync.AuditFilter{}), "")
}

// testAppendAudit checks AppendAudit: the caller's actor and time are kept,
// a zero time is the store's clock, and the chain links every record.
func testAppendAudit(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	at := start.Add(-time.Hour)
	first := &pmgsync.AuditEvent{Time: at, ActorKind: pmgsync.ActorCLI, Action: pmgsync.ActionImport,
		Result: "ok", Detail: "3 technicians, 12 files"}
	second := byActor(time.Time{}, pmgsync.ActionDownload, "ana", func(e *pmgsync.AuditEvent) {
		e.FileName, e.Size, e.SHA256, e.Result = "a.xlsx", 1234, strings.Repeat("ab", 32), "200"
	})
	for _, e := range []*pmgsync.AuditEvent{first, second} {
		// Another actor in the context changes nothing: the event has its own.
		if err := s.AppendAudit(actorCtx(t), e); err != nil {
			t.Fatalf("AppendAudit(%s): %v", e.Action, err)
		}
		if e.ID == 0 || e.Hash == "" {
			t.Errorf("AppendAudit(%s) left ID %d, Hash %q", e.Action, e.ID, e.Hash)
		}
	}
	if first.PrevHash != "" || second.PrevHash != first.Hash {
		t.Errorf("PrevHash = %q, %q; want \"\", %q", first.PrevHash, second.PrevHash, first.Hash)
	}
	if !first.Time.Equal(at) || !second.Time.Equal(clk.Now()) {
		t.Errorf("Time = %v, %v; want the caller's %v, the store's clock %v", first.Time, second.Time, at, clk.Now())
	}
	got := auditEvents(t, s, pmgsync.AuditFilter{})
	if len(got) != 2 {
		t.Fatalf("AuditEvents: %d records, want 2", len(got))
	}
	for i, want := range []*pmgsync.AuditEvent{first, second} {
		sameEvent(t, fmt.Sprintf("record %d", i), got[i], want)
		if got[i].ID != want.ID || got[i].PrevHash != want.PrevHash || got[i].Hash != want.Hash {
			t.Errorf("record %d: ID, PrevHash, Hash = %d, %q, %q; want %d, %q, %q",
				i, got[i].ID, got[i].PrevHash, got[i].Hash, want.ID, want.PrevHash, want.Hash)
		}
	}
	checkChain(t, got, "")

	// fn's error stops the walk and comes back as is.
	stop := fmt.Errorf("stop")
	calls := 0
	err := s.AuditEvents(ctx(t), pmgsync.AuditFilter{}, func(*pmgsync.AuditEvent) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("AuditEvents with fn failing: %v after %d calls, want %v after 1", err, calls, stop)
	}
}
