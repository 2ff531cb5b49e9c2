package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// testConcurrentAudit appends from 16 goroutines at once, as requests of a
// busy server do: the chain must still be one unbroken line, with no two
// records after the same one.
func testConcurrentAudit(t *testing.T, open Opener) {
	s, _ := newStore(t, open)
	const goroutines, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				e := &pmgsync.AuditEvent{ActorKind: pmgsync.ActorTechnician, ActorName: fmt.Sprintf("tech%d", g),
					Action: pmgsync.ActionDownload, FileName: fmt.Sprintf("%d.xlsx", i), Result: "200"}
				if err := s.AppendAudit(ctx(t), e); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendAudit: %v", err)
	}
	es := auditEvents(t, s, pmgsync.AuditFilter{})
	if len(es) != goroutines*each {
		t.Fatalf("%d records, want %d", len(es), goroutines*each)
	}
	checkChain(t, es, "")
}

// testAuditFilter checks each filter of AuditEvents alone and together, and
// that records come oldest first.
func testAuditFilter(t *testing.T, open Opener) {
	s, _ := newStore(t, open)
	type rec struct {
		minutes    int
		technician string
		action     string
	}
	recs := []rec{
		{0, "ana", pmgsync.ActionUpload},
		{1, "bruno", pmgsync.ActionUpload},
		{2, "ana", pmgsync.ActionDownload},
		{3, "", pmgsync.ActionAuthFailed},
		{4, "ana", pmgsync.ActionUpload},
		{5, "bruno", pmgsync.ActionDelete},
		{6, "ana", pmgsync.ActionDownload},
		{7, "ana", pmgsync.ActionUpload},
	}
	for i, r := range recs {
		e := &pmgsync.AuditEvent{Time: start.Add(time.Duration(r.minutes) * time.Minute), ActorKind: pmgsync.ActorSystem,
			Action: r.action, Technician: r.technician, Result: "ok", Detail: fmt.Sprint(i)}
		if err := s.AppendAudit(ctx(t), e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	at := func(m int) time.Time { return start.Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		name string
		f    pmgsync.AuditFilter
		want string // Details, in order
	}{
		{"All", pmgsync.AuditFilter{}, "0 1 2 3 4 5 6 7"},
		{"Technician", pmgsync.AuditFilter{Technician: "ana"}, "0 2 4 6 7"},
		{"UnknownTechnician", pmgsync.AuditFilter{Technician: "carla"}, ""},
		{"Action", pmgsync.AuditFilter{Action: pmgsync.ActionUpload}, "0 1 4 7"},
		{"Since", pmgsync.AuditFilter{Since: at(5)}, "5 6 7"},
		{"Until", pmgsync.AuditFilter{Until: at(2)}, "0 1"},
		{"SinceUntil", pmgsync.AuditFilter{Since: at(2), Until: at(5)}, "2 3 4"},
		{"TechnicianSince", pmgsync.AuditFilter{Technician: "ana", Since: at(3)}, "4 6 7"},
		{"ActionUntil", pmgsync.AuditFilter{Action: pmgsync.ActionUpload, Until: at(4)}, "0 1"},
		{"TechnicianAction", pmgsync.AuditFilter{Technician: "ana", Action: pmgsync.ActionDownload}, "2 6"},
		{"Limit", pmgsync.AuditFilter{Limit: 3}, "0 1 2"},
		{"TechnicianSinceLimit", pmgsync.AuditFilter{Technician: "ana", Since: at(1), Limit: 2}, "2 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, e := range auditEvents(t, s, tc.f) {
				got = append(got, e.Detail)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("AuditEvents(%+v) = records %q, want %q", tc.f, g, tc.want)
			}
		})
	}
}

// testPruneAudit checks that pruning removes the oldest records, records
// itself, and leaves a chain that verifies from the first remaining record,
// whose PrevHash the prune event names.
func testPruneAudit(t *testing.T, open Opener) {
	appendAt := func(t *testing.T, s pmgsync.MetadataStore, minutes ...int) []*pmgsync.AuditEvent {
		t.Helper()
		var es []*pmgsync.AuditEvent
		for _, m := range minutes {
			e := &pmgsync.AuditEvent{Time: start.Add(time.Duration(m) * time.Minute), ActorKind: pmgsync.ActorSystem,
				Action: pmgsync.ActionDownload, Result: "200", Detail: fmt.Sprint(m)}
			if err := s.AppendAudit(ctx(t), e); err != nil {
				t.Fatalf("AppendAudit: %v", err)
			}
			es = append(es, e)
		}
		return es
	}
	cli := pmgsync.Actor{Kind: pmgsync.ActorCLI}

	t.Run("Some", func(t *testing.T) {
		s, clk := newStore(t, open)
		old := appendAt(t, s, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9)
		clk.Add(time.Hour)
		n, err := s.PruneAudit(pmgsync.WithActor(ctx(t), cli), start.Add(5*time.Minute))
		if err != nil || n != 5 {
			t.Fatalf("PruneAudit = %d, %v; want 5", n, err)
		}
		es := auditEvents(t, s, pmgsync.AuditFilter{})
		if len(es) != 6 {
			t.Fatalf("%d records after the prune, want 6:\n%s", len(es), eventsString(es))
		}
		for i, e := range es[:5] {
			if e.ID != old[5+i].ID {
				t.Errorf("remaining record %d is #%d, want #%d", i, e.ID, old[5+i].ID)
			}
		}
		lastRemoved := old[4].Hash
		checkChain(t, es, lastRemoved)
		prune := es[5]
		sameEvent(t, "the prune event", prune, &pmgsync.AuditEvent{Time: clk.Now(), ActorKind: pmgsync.ActorCLI,
			Action: pmgsync.ActionAuditPrune, Result: "ok", Detail: prune.Detail})
		if !strings.Contains(prune.Detail, "5") || !strings.Contains(prune.Detail, lastRemoved) {
			t.Errorf("prune Detail %q, want the count 5 and the last hash removed %s", prune.Detail, lastRemoved)
		}

		// Nothing older: nothing removed, nothing recorded.
		n, err = s.PruneAudit(ctx(t), start.Add(5*time.Minute))
		if err != nil || n != 0 {
			t.Fatalf("PruneAudit again = %d, %v; want 0", n, err)
		}
		if got := auditEvents(t, s, pmgsync.AuditFilter{}); len(got) != 6 {
			t.Errorf("%d records after a prune of nothing, want 6", len(got))
		}
	})

	t.Run("All", func(t *testing.T) {
		s, clk := newStore(t, open)
		old := appendAt(t, s, 0, 1, 2)
		n, err := s.PruneAudit(ctx(t), clk.Add(time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("PruneAudit = %d, %v; want 3", n, err)
		}
		es := auditEvents(t, s, pmgsync.AuditFilter{})
		if len(es) != 1 || es[0].Action != pmgsync.ActionAuditPrune {
			t.Fatalf("records after pruning all:\n%swant only the prune event", eventsString(es))
		}
		checkChain(t, es, old[2].Hash)
	})

	t.Run("Empty", func(t *testing.T) {
		s, clk := newStore(t, open)
		n, err := s.PruneAudit(ctx(t), clk.Now())
		if err != nil || n != 0 {
			t.Fatalf("PruneAudit of an empty trail = %d, %v; want 0", n, err)
		}
		if es := auditEvents(t, s, pmgsync.AuditFilter{}); len(es) != 0 {
			t.Errorf("records after pruning an empty trail:\n%s", eventsString(es))
		}
	})
}

// testExpireTokens checks that each expired token is recorded once, and
// that tokens revoked or without expiry are not.
func testExpireTokens(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
	token := func(tech *pmgsync.Technician, label string, expires time.Time) *pmgsync.Token {
		tok := &pmgsync.Token{TechnicianID: tech.ID, Label: label, ExpiresAt: expires}
		if err := s.CreateToken(ctx(t), tok, pmgsync.HashToken(label)); err != nil {
			t.Fatalf("CreateToken(%s): %v", label, err)
		}
		return tok
	}
	soon := token(ana, "soon", start.Add(time.Hour))
	later := token(bruno, "later", start.Add(2*time.Hour))
	token(ana, "never", time.Time{})
	revoked := token(bruno, "revoked", start.Add(time.Hour))
	if err := s.RevokeToken(ctx(t), revoked.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	tail := &auditTail{s: s}
	tail.next(t)

	clk.Add(90 * time.Minute)
	sys := pmgsync.WithActor(ctx(t), pmgsync.Actor{Kind: pmgsync.ActorSystem})
	for _, step := range []struct {
		now  time.Time
		want []*pmgsync.Token
	}{
		{start.Add(59 * time.Minute), nil},
		{start.Add(time.Hour), []*pmgsync.Token{soon}}, // at ExpiresAt it is no longer active
		{start.Add(90 * time.Minute), nil},
		{start.Add(3 * time.Hour), []*pmgsync.Token{later}},
		{start.Add(4 * time.Hour), nil},
	} {
		got, err := s.ExpireTokens(sys, step.now)
		if err != nil {
			t.Fatalf("ExpireTokens(%s): %v", ts(step.now), err)
		}
		ids := func(toks []*pmgsync.Token) []int64 {
			var ids []int64
			for _, tok := range toks {
				ids = append(ids, tok.ID)
			}
			return ids
		}
		if !slices.Equal(ids(got), ids(step.want)) {
			t.Errorf("ExpireTokens(%s) = tokens %v, want %v", ts(step.now), ids(got), ids(step.want))
		}
		es := tail.next(t)
		if len(es) != len(step.want) {
			t.Fatalf("ExpireTokens(%s): %d audit records, want %d:\n%s", ts(step.now), len(es), len(step.want), eventsString(es))
		}
		for i, tok := range step.want {
			if !strings.Contains(es[i].Detail, fmt.Sprintf("#%d", tok.ID)) {
				t.Errorf("token.expire Detail %q, want the token's id #%d", es[i].Detail, tok.ID)
			}
			sameEvent(t, "token.expire", es[i], &pmgsync.AuditEvent{Time: clk.Now(), ActorKind: pmgsync.ActorSystem,
				Action: pmgsync.ActionTokenExpire, Technician: tok.Technician, Result: "ok", Detail: es[i].Detail})
		}
	}
	checkChain(t, auditEvents(t, s, pmgsync.AuditFilter{}), "")
}
