package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// week is the default grace of a rotation.
const week = 7 * 24 * time.Hour

func testRotateToken(t *testing.T, open Opener) {
	// auth fails the test unless raw authenticates at now (ok) or is
	// refused like an unknown token (!ok).
	auth := func(t *testing.T, s pmgsync.MetadataStore, what, raw string, now time.Time, ok bool) {
		t.Helper()
		_, _, err := s.Authenticate(ctx(t), pmgsync.HashToken(raw), now)
		if ok && err != nil {
			t.Errorf("%s: Authenticate: %v, want success", what, err)
		}
		if !ok {
			if err == nil {
				t.Errorf("%s: Authenticate succeeded, want a refusal", what)
				return
			}
			wantError(t, err, pmgsync.EUNAUTHORIZED, pmgsync.MsgBadToken)
		}
	}
	tokenByID := func(t *testing.T, s pmgsync.MetadataStore, id int64) *pmgsync.Token {
		t.Helper()
		tok, err := s.TokenByID(ctx(t), id)
		if err != nil {
			t.Fatalf("TokenByID(%d): %v", id, err)
		}
		return tok
	}

	// rotate rotates the token oldID and checks that the old token it
	// returns is the one stored.
	rotate := func(t *testing.T, c context.Context, s pmgsync.MetadataStore, what string, oldID int64, newTok *pmgsync.Token, newHash []byte, now, oldExpiresAt time.Time) {
		t.Helper()
		old, err := s.RotateToken(c, oldID, newTok, newHash, now, oldExpiresAt)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		sameToken(t, what+": old token returned", old, tokenByID(t, s, oldID))
	}

	t.Run("Grace", func(t *testing.T) {
		s, clk := newStore(t, open)
		tail := &auditTail{s: s}
		ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
		oldRaw, newRaw := pmgsync.NewToken(), pmgsync.NewToken()
		old := mustToken(t, s, ana, oldRaw)
		tail.next(t)

		now := clk.Add(time.Hour)
		newTok := &pmgsync.Token{
			TechnicianID: bruno.ID, // ignored: the new token is the old one's technician's
			Label:        "Galaxy A14 da Ana",
			Hint:         pmgsync.TokenHint(newRaw),
			ExpiresAt:    now.Add(90 * 24 * time.Hour),
		}
		rotate(t, actorCtx(t), s, "RotateToken", old.ID, newTok, pmgsync.HashToken(newRaw), now, now.Add(week))
		if newTok.ID == 0 || newTok.ID == old.ID {
			t.Errorf("new token's ID = %d (old %d)", newTok.ID, old.ID)
		}
		want := pmgsync.Token{
			ID: newTok.ID, TechnicianID: ana.ID, Technician: "ana", Label: "Galaxy A14 da Ana",
			Hint: pmgsync.TokenHint(newRaw), CreatedAt: clk.Now(), ExpiresAt: now.Add(90 * 24 * time.Hour),
		}
		sameToken(t, "new token as returned", newTok, &want)
		got, err := s.TokenByHash(ctx(t), pmgsync.HashToken(newRaw))
		if err != nil {
			t.Fatalf("TokenByHash of the new token: %v", err)
		}
		sameToken(t, "new token as stored", got, &want)
		wantOld := *old
		wantOld.ExpiresAt = now.Add(week)
		sameToken(t, "old token", tokenByID(t, s, old.ID), &wantOld)

		e := tail.one(t, "RotateToken")
		for _, part := range []string{fmt.Sprintf("#%d", old.ID), fmt.Sprintf("#%d", newTok.ID), old.Label, "Galaxy A14 da Ana", "expires"} {
			if !strings.Contains(e.Detail, part) {
				t.Errorf("token.rotate Detail %q lacks %q", e.Detail, part)
			}
		}
		sameEvent(t, "RotateToken", e,
			byActor(clk.Now(), pmgsync.ActionTokenRotate, "ana", func(w *pmgsync.AuditEvent) { w.Detail = e.Detail }))

		// Both work during the grace; then only the new one.
		end := now.Add(week)
		auth(t, s, "old token during the grace", oldRaw, end.Add(-time.Millisecond), true)
		auth(t, s, "new token during the grace", newRaw, end.Add(-time.Millisecond), true)
		auth(t, s, "old token at the end of the grace", oldRaw, end, false)
		auth(t, s, "new token after the grace", newRaw, end.Add(time.Hour), true)

		// The sweep records the end of the grace as the old token's expiry.
		tail.next(t)
		expired, err := s.ExpireTokens(ctx(t), end)
		if err != nil {
			t.Fatalf("ExpireTokens: %v", err)
		}
		if len(expired) != 1 || expired[0].ID != old.ID {
			t.Errorf("ExpireTokens after the grace = %v, want the old token #%d", expired, old.ID)
		}
		checkChain(t, auditEvents(t, s, pmgsync.AuditFilter{}), "")
	})

	t.Run("NeverLengthens", func(t *testing.T) {
		s, clk := newStore(t, open)
		ana := mustTechnician(t, s, "ana")
		oldRaw := pmgsync.NewToken()
		soon := start.Add(2 * time.Hour)
		old := &pmgsync.Token{TechnicianID: ana.ID, Label: "tablet", ExpiresAt: soon}
		if err := s.CreateToken(ctx(t), old, pmgsync.HashToken(oldRaw)); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		now := clk.Add(time.Hour)
		newTok := &pmgsync.Token{Label: "tablet"}
		rotate(t, ctx(t), s, "RotateToken", old.ID, newTok, pmgsync.HashToken(pmgsync.NewToken()), now, now.Add(week))
		sameToken(t, "old token, which expired before the grace's end", tokenByID(t, s, old.ID), old)
		if !newTok.ExpiresAt.IsZero() {
			t.Errorf("new token's ExpiresAt = %v, want zero as given", newTok.ExpiresAt)
		}

		// A second rotation during the grace only shortens it.
		grace := tokenByID(t, s, newTok.ID)
		third := &pmgsync.Token{Label: "tablet"}
		rotate(t, ctx(t), s, "RotateToken of the new token", newTok.ID, third, pmgsync.HashToken(pmgsync.NewToken()), now, now.Add(week))
		grace.ExpiresAt = now.Add(week)
		sameToken(t, "token rotated once", tokenByID(t, s, newTok.ID), grace)
		later := clk.Add(time.Minute)
		rotate(t, ctx(t), s, "RotateToken again, with a longer grace", newTok.ID, &pmgsync.Token{}, pmgsync.HashToken(pmgsync.NewToken()), later, later.Add(2*week))
		sameToken(t, "token rotated twice", tokenByID(t, s, newTok.ID), grace)
	})

	t.Run("ZeroGraceRevokes", func(t *testing.T) {
		s, clk := newStore(t, open)
		tail := &auditTail{s: s}
		ana := mustTechnician(t, s, "ana")
		oldRaw, newRaw := pmgsync.NewToken(), pmgsync.NewToken()
		old := mustToken(t, s, ana, oldRaw)
		tail.next(t)
		now := clk.Add(time.Hour)
		newTok := &pmgsync.Token{Label: old.Label, Hint: pmgsync.TokenHint(newRaw)}
		rotate(t, actorCtx(t), s, "RotateToken", old.ID, newTok, pmgsync.HashToken(newRaw), now, now)
		wantOld := *old
		wantOld.RevokedAt = now
		sameToken(t, "old token", tokenByID(t, s, old.ID), &wantOld)
		auth(t, s, "old token", oldRaw, now, false)
		auth(t, s, "new token", newRaw, now, true)
		e := tail.one(t, "RotateToken with no grace")
		if !strings.Contains(e.Detail, "revoked") {
			t.Errorf("token.rotate Detail %q, want it to say the old token is revoked", e.Detail)
		}
		sameEvent(t, "RotateToken with no grace", e,
			byActor(clk.Now(), pmgsync.ActionTokenRotate, "ana", func(w *pmgsync.AuditEvent) { w.Detail = e.Detail }))
		checkChain(t, auditEvents(t, s, pmgsync.AuditFilter{}), "")
	})

	t.Run("Refused", func(t *testing.T) {
		s, clk := newStore(t, open)
		tail := &auditTail{s: s}
		ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
		good := mustToken(t, s, ana, pmgsync.NewToken())
		revoked := mustToken(t, s, ana, pmgsync.NewToken())
		if err := s.RevokeToken(ctx(t), revoked.ID, clk.Now()); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		expiresAt := start.Add(time.Hour)
		expired := &pmgsync.Token{TechnicianID: ana.ID, ExpiresAt: expiresAt}
		if err := s.CreateToken(ctx(t), expired, pmgsync.HashToken(pmgsync.NewToken())); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		takenRaw := pmgsync.NewToken()
		mustToken(t, s, bruno, takenRaw)
		before, err := s.Tokens(ctx(t), 0)
		if err != nil {
			t.Fatalf("Tokens: %v", err)
		}
		tail.next(t)

		now := clk.Add(time.Hour) // expired's very expiry
		for _, tc := range []struct {
			name      string
			id        int64
			hash      []byte
			code, key string
		}{
			{"unknown", good.ID + 1000, pmgsync.HashToken(pmgsync.NewToken()), pmgsync.ENOTFOUND, pmgsync.MsgNoToken},
			{"revoked", revoked.ID, pmgsync.HashToken(pmgsync.NewToken()), pmgsync.EINVALID, pmgsync.MsgTokenRevoked},
			{"expired", expired.ID, pmgsync.HashToken(pmgsync.NewToken()), pmgsync.EINVALID, pmgsync.MsgTokenExpired},
			{"hash taken by another technician", good.ID, pmgsync.HashToken(takenRaw), pmgsync.ECONFLICT, pmgsync.MsgTokenExists},
		} {
			newTok := &pmgsync.Token{Label: "new"}
			returned, err := s.RotateToken(actorCtx(t), tc.id, newTok, tc.hash, now, now.Add(week))
			wantError(t, err, tc.code, tc.key)
			if returned != nil {
				t.Errorf("%s: refused RotateToken returned %s", tc.name, tokenString(returned))
			}
			if newTok.ID != 0 || newTok.Technician != "" {
				t.Errorf("%s: refused RotateToken set the new token: %s", tc.name, tokenString(newTok))
			}
			tail.none(t, tc.name)
		}
		_, err = s.RotateToken(ctx(t), revoked.ID, &pmgsync.Token{}, pmgsync.HashToken(pmgsync.NewToken()), now, now)
		if want := fmt.Sprintf("token #%d is revoked", revoked.ID); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %v, want it to name the token: %q", err, want)
		}
		after, err := s.Tokens(ctx(t), 0)
		if err != nil {
			t.Fatalf("Tokens: %v", err)
		}
		if len(after) != len(before) {
			t.Fatalf("%d tokens after refused rotations, want %d", len(after), len(before))
		}
		for i := range after {
			sameToken(t, "token after refused rotations", after[i], before[i])
		}
	})

	// Rotations of one token at once, with no grace: the first revokes the
	// old token, so every other one is refused, and only one new token
	// exists.
	t.Run("Concurrent", func(t *testing.T) {
		s, clk := newStore(t, open)
		ana := mustTechnician(t, s, "ana")
		old := mustToken(t, s, ana, pmgsync.NewToken())
		now := clk.Add(time.Minute)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.RotateToken(ctx(t), old.ID, &pmgsync.Token{Label: "phone"}, pmgsync.HashToken(pmgsync.NewToken()), now, now)
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			wantError(t, err, pmgsync.EINVALID, pmgsync.MsgTokenRevoked)
		}
		if ok != 1 {
			t.Errorf("%d concurrent rotations succeeded, want 1", ok)
		}
		if toks, err := s.Tokens(ctx(t), ana.ID); err != nil || len(toks) != 2 {
			t.Errorf("Tokens = %d, %v; want the old one and one new one", len(toks), err)
		}
		checkChain(t, auditEvents(t, s, pmgsync.AuditFilter{}), "")
	})
}
