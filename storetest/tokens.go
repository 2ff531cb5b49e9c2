package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

func testTokens(t *testing.T, open Opener) {
	t.Run("Create", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		clk.Add(time.Minute)
		raw := pmgsync.NewToken()
		tok := &pmgsync.Token{
			TechnicianID: tech.ID,
			Label:        "Galaxy A14 da Ana",
			Hint:         pmgsync.TokenHint(raw),
			ExpiresAt:    start.Add(90 * 24 * time.Hour),
		}
		if err := s.CreateToken(ctx(t), tok, pmgsync.HashToken(raw)); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		if tok.ID == 0 {
			t.Errorf("CreateToken left ID 0")
		}
		if !tok.CreatedAt.Equal(clk.Now()) {
			t.Errorf("CreatedAt = %v, want the store's clock %v", tok.CreatedAt, clk.Now())
		}
		want := *tok
		want.Technician = "ana"
		got, err := s.TokenByID(ctx(t), tok.ID)
		if err != nil {
			t.Fatalf("TokenByID: %v", err)
		}
		sameToken(t, "TokenByID", got, &want)
		got, err = s.TokenByHash(ctx(t), pmgsync.HashToken(raw))
		if err != nil {
			t.Fatalf("TokenByHash: %v", err)
		}
		sameToken(t, "TokenByHash", got, &want)

		second := mustToken(t, s, tech, pmgsync.NewToken())
		if second.ID == tok.ID {
			t.Errorf("two tokens share id %d", tok.ID)
		}
	})

	t.Run("UnknownTechnician", func(t *testing.T) {
		s, _ := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		tok := &pmgsync.Token{TechnicianID: tech.ID + 1000, Label: "orphan"}
		err := s.CreateToken(ctx(t), tok, pmgsync.HashToken(pmgsync.NewToken()))
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgNoTechnician)
		if toks, err := s.Tokens(ctx(t), 0); err != nil || len(toks) != 0 {
			t.Errorf("Tokens after a failed create = %d, %v; want none", len(toks), err)
		}
	})

	t.Run("DuplicateHash", func(t *testing.T) {
		s, _ := newStore(t, open)
		ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
		raw := "an imported token"
		first := mustToken(t, s, ana, raw)
		for _, tech := range []*pmgsync.Technician{ana, bruno} {
			err := s.CreateToken(ctx(t), &pmgsync.Token{TechnicianID: tech.ID}, pmgsync.HashToken(raw))
			wantError(t, err, pmgsync.ECONFLICT, pmgsync.MsgTokenExists)
		}
		got, err := s.TokenByHash(ctx(t), pmgsync.HashToken(raw))
		if err != nil {
			t.Fatalf("TokenByHash: %v", err)
		}
		sameToken(t, "token after the conflicts", got, first)
	})

	t.Run("NotFound", func(t *testing.T) {
		s, _ := newStore(t, open)
		tok := mustToken(t, s, mustTechnician(t, s, "ana"), pmgsync.NewToken())
		_, err := s.TokenByID(ctx(t), tok.ID+1000)
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgNoToken)
		_, err = s.TokenByHash(ctx(t), pmgsync.HashToken("unknown"))
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgNoToken)
	})

	t.Run("List", func(t *testing.T) {
		s, _ := newStore(t, open)
		if toks, err := s.Tokens(ctx(t), 0); err != nil || len(toks) != 0 {
			t.Fatalf("Tokens of an empty store = %d, %v; want none", len(toks), err)
		}
		carla, ana := mustTechnician(t, s, "carla"), mustTechnician(t, s, "ana")
		c1 := mustToken(t, s, carla, pmgsync.NewToken())
		a1 := mustToken(t, s, ana, pmgsync.NewToken())
		c2 := mustToken(t, s, carla, pmgsync.NewToken())
		a2 := mustToken(t, s, ana, pmgsync.NewToken())
		for _, tc := range []struct {
			technicianID int64
			want         []*pmgsync.Token
		}{
			{0, []*pmgsync.Token{a1, a2, c1, c2}},
			{carla.ID, []*pmgsync.Token{c1, c2}},
			{ana.ID, []*pmgsync.Token{a1, a2}},
			{ana.ID + carla.ID + 1000, nil},
		} {
			got, err := s.Tokens(ctx(t), tc.technicianID)
			if err != nil {
				t.Fatalf("Tokens(%d): %v", tc.technicianID, err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Tokens(%d) returned %d tokens, want %d", tc.technicianID, len(got), len(tc.want))
			}
			for i := range got {
				sameToken(t, "Tokens", got[i], tc.want[i])
			}
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		raw := pmgsync.NewToken()
		tok := mustToken(t, s, tech, raw)
		other := mustToken(t, s, tech, pmgsync.NewToken())
		first := clk.Add(time.Hour)
		if err := s.RevokeToken(ctx(t), tok.ID, first); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		if err := s.RevokeToken(ctx(t), tok.ID, clk.Add(time.Hour)); err != nil {
			t.Fatalf("RevokeToken of a revoked token: %v", err)
		}
		want := *tok
		want.RevokedAt = first
		got, err := s.TokenByHash(ctx(t), pmgsync.HashToken(raw))
		if err != nil {
			t.Fatalf("TokenByHash of a revoked token: %v", err)
		}
		sameToken(t, "revoked token", got, &want)
		got, err = s.TokenByID(ctx(t), other.ID)
		if err != nil {
			t.Fatalf("TokenByID: %v", err)
		}
		sameToken(t, "other token", got, other)

		err = s.RevokeToken(ctx(t), other.ID+1000, clk.Now())
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgNoToken)
	})
}

func testAuthenticate(t *testing.T, open Opener) {
	t.Run("Active", func(t *testing.T) {
		s, clk := newStore(t, open)
		mustTechnician(t, s, "bruno")
		tech := mustTechnician(t, s, "ana")
		raw := pmgsync.NewToken()
		tok := mustToken(t, s, tech, raw)
		now := clk.Add(time.Hour)
		gotTech, gotTok, err := s.Authenticate(ctx(t), pmgsync.HashToken(raw), now)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		sameTech(t, "technician", gotTech, tech)
		want := *tok
		want.LastUsedAt = now
		sameToken(t, "token", gotTok, &want)
	})

	t.Run("Refused", func(t *testing.T) {
		s, clk := newStore(t, open)
		ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
		revoked, expiring, disabled, good := pmgsync.NewToken(), pmgsync.NewToken(), pmgsync.NewToken(), pmgsync.NewToken()
		mustToken(t, s, ana, good)
		rtok := mustToken(t, s, ana, revoked)
		if err := s.RevokeToken(ctx(t), rtok.ID, clk.Now()); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		expires := start.Add(time.Hour)
		etok := &pmgsync.Token{TechnicianID: ana.ID, ExpiresAt: expires}
		if err := s.CreateToken(ctx(t), etok, pmgsync.HashToken(expiring)); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		mustToken(t, s, bruno, disabled)
		bruno.Disabled = true
		if err := s.UpdateTechnician(ctx(t), bruno); err != nil {
			t.Fatalf("UpdateTechnician: %v", err)
		}

		auth := func(raw string, now time.Time) error {
			_, _, err := s.Authenticate(ctx(t), pmgsync.HashToken(raw), now)
			return err
		}
		if err := auth(good, clk.Now()); err != nil {
			t.Fatalf("Authenticate of an active token: %v", err)
		}
		if err := auth(expiring, expires.Add(-time.Millisecond)); err != nil {
			t.Fatalf("Authenticate just before expiry: %v", err)
		}
		var errs []error
		for _, tc := range []struct {
			name  string
			raw   string
			now   time.Time
			known bool // the token exists, but is not active
		}{
			{"unknown", pmgsync.NewToken(), clk.Now(), false},
			{"empty", "", clk.Now(), false},
			{"revoked", revoked, clk.Now(), true},
			{"expired at expiry", expiring, expires, true},
			{"expired later", expiring, expires.Add(365 * 24 * time.Hour), true},
			{"disabled technician", disabled, clk.Now(), true},
		} {
			err := auth(tc.raw, tc.now)
			if err == nil {
				t.Errorf("%s: Authenticate succeeded", tc.name)
				continue
			}
			wantError(t, err, pmgsync.EUNAUTHORIZED, pmgsync.MsgBadToken)
			if got := errors.Is(err, pmgsync.ErrInactiveToken); got != tc.known {
				t.Errorf("%s: errors.Is(err, ErrInactiveToken) = %v, want %v", tc.name, got, tc.known)
			}
			errs = append(errs, err)
		}
		for _, err := range errs[1:] {
			for _, lang := range []pmgsync.Lang{pmgsync.English, pmgsync.PortugueseBR} {
				if got, want := pmgsync.ErrorMessage(lang, err), pmgsync.ErrorMessage(lang, errs[0]); got != want {
					t.Errorf("refusals differ: %q and %q", got, want)
				}
			}
		}

		// Enabling the technician again restores the token at once.
		bruno.Disabled = false
		if err := s.UpdateTechnician(ctx(t), bruno); err != nil {
			t.Fatalf("UpdateTechnician: %v", err)
		}
		if err := auth(disabled, clk.Now()); err != nil {
			t.Errorf("Authenticate after enabling the technician: %v", err)
		}
	})

	t.Run("LastUsedCoalesced", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		raw := pmgsync.NewToken()
		tok := mustToken(t, s, tech, raw)
		lastUsed := func() time.Time {
			t.Helper()
			got, err := s.TokenByID(ctx(t), tok.ID)
			if err != nil {
				t.Fatalf("TokenByID: %v", err)
			}
			return got.LastUsedAt
		}
		if got := lastUsed(); !got.IsZero() {
			t.Fatalf("LastUsedAt of a new token = %v, want zero", got)
		}
		t0 := clk.Add(time.Hour)
		for _, step := range []struct {
			advance time.Duration
			want    time.Duration // LastUsedAt, from t0
		}{
			{0, 0},
			{10 * time.Second, 0},               // 10s later: not written again
			{40 * time.Second, 0},               // 50s after the write: still not
			{70 * time.Second, 2 * time.Minute}, // 2 minutes after the write: updated
			{30 * time.Second, 2 * time.Minute},
		} {
			now := clk.Add(step.advance)
			if _, _, err := s.Authenticate(ctx(t), pmgsync.HashToken(raw), now); err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			want := t0.Add(step.want)
			if got := lastUsed(); !got.Equal(want) {
				t.Errorf("at t0+%v: LastUsedAt = %v, want %v", now.Sub(t0), got, want)
			}
		}

		// A refused authentication records no use.
		if err := s.RevokeToken(ctx(t), tok.ID, clk.Now()); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		before := lastUsed()
		if _, _, err := s.Authenticate(ctx(t), pmgsync.HashToken(raw), clk.Add(time.Hour)); err == nil {
			t.Fatalf("Authenticate of a revoked token succeeded")
		}
		if got := lastUsed(); !got.Equal(before) {
			t.Errorf("LastUsedAt after a refusal = %v, want %v", got, before)
		}
	})
}
