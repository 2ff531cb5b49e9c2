package storetest

import (
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

func testTechnicians(t *testing.T, open Opener) {
	t.Run("Create", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := &pmgsync.Technician{Name: "joao.silva", Email: "joao@example.com"}
		if err := s.CreateTechnician(ctx(t), tech); err != nil {
			t.Fatalf("CreateTechnician: %v", err)
		}
		if tech.ID == 0 {
			t.Errorf("CreateTechnician left ID 0")
		}
		if !tech.CreatedAt.Equal(clk.Now()) {
			t.Errorf("CreatedAt = %v, want the store's clock %v", tech.CreatedAt, clk.Now())
		}
		got, err := s.TechnicianByName(ctx(t), "joao.silva")
		if err != nil {
			t.Fatalf("TechnicianByName: %v", err)
		}
		sameTech(t, "TechnicianByName", got, tech)

		other := mustTechnician(t, s, "maria")
		if other.ID == tech.ID {
			t.Errorf("two technicians share id %d", tech.ID)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		s, _ := newStore(t, open)
		first := mustTechnician(t, s, "ana")
		err := s.CreateTechnician(ctx(t), &pmgsync.Technician{Name: "ana", Email: "other@example.com"})
		wantError(t, err, pmgsync.ECONFLICT, pmgsync.MsgTechnicianExists)
		if want := pmgsync.Errorf(pmgsync.ECONFLICT, pmgsync.MsgTechnicianExists, "ana").Error(); err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
		got, err := s.TechnicianByName(ctx(t), "ana")
		if err != nil {
			t.Fatalf("TechnicianByName: %v", err)
		}
		sameTech(t, "technician after the conflict", got, first)
	})

	t.Run("NotFound", func(t *testing.T) {
		s, _ := newStore(t, open)
		mustTechnician(t, s, "ana")
		for _, name := range []string{"bruno", "Ana", "ana ", ""} {
			_, err := s.TechnicianByName(ctx(t), name)
			wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgNoTechnician)
		}
	})

	t.Run("ListSorted", func(t *testing.T) {
		s, _ := newStore(t, open)
		if got, err := s.Technicians(ctx(t)); err != nil || len(got) != 0 {
			t.Fatalf("Technicians of an empty store = %d, %v; want none", len(got), err)
		}
		var want []*pmgsync.Technician
		for _, name := range []string{"carla", "ana", "bruno", "ana.b"} {
			want = append(want, mustTechnician(t, s, name))
		}
		want = []*pmgsync.Technician{want[1], want[3], want[2], want[0]}
		got, err := s.Technicians(ctx(t))
		if err != nil {
			t.Fatalf("Technicians: %v", err)
		}
		if len(got) != len(want) {
			t.Fatalf("Technicians returned %d, want %d", len(got), len(want))
		}
		for i := range want {
			sameTech(t, "Technicians", got[i], want[i])
		}
	})

	t.Run("Update", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		other := mustTechnician(t, s, "bruno")
		clk.Add(time.Hour)
		tech.Email, tech.Disabled = "", true
		if err := s.UpdateTechnician(ctx(t), tech); err != nil {
			t.Fatalf("UpdateTechnician: %v", err)
		}
		got, err := s.TechnicianByName(ctx(t), "ana")
		if err != nil {
			t.Fatalf("TechnicianByName: %v", err)
		}
		sameTech(t, "after disabling", got, tech)
		got, err = s.TechnicianByName(ctx(t), "bruno")
		if err != nil {
			t.Fatalf("TechnicianByName: %v", err)
		}
		sameTech(t, "the other technician", got, other)

		tech.Email, tech.Disabled = "ana@example.org", false
		if err := s.UpdateTechnician(ctx(t), tech); err != nil {
			t.Fatalf("UpdateTechnician: %v", err)
		}
		got, err = s.TechnicianByName(ctx(t), "ana")
		if err != nil {
			t.Fatalf("TechnicianByName: %v", err)
		}
		sameTech(t, "after enabling", got, tech)
	})

	t.Run("UpdateOverrides", func(t *testing.T) {
		s, _ := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		other := mustTechnician(t, s, "bruno")
		raw := pmgsync.NewToken()
		mustToken(t, s, tech, raw)
		for _, tc := range []struct {
			name       string
			retention  time.Duration
			bytes, num int64
		}{
			{"set, to the nanosecond", 36*time.Hour + time.Nanosecond, 50 << 20, 500},
			{"unlimited", 90 * 24 * time.Hour, pmgsync.Unlimited, pmgsync.Unlimited},
			{"large", 1<<62 + 1, 1<<62 + 3, 1<<62 + 5},
			{"back to inherit", 0, 0, 0},
		} {
			tech.Retention, tech.QuotaBytes, tech.QuotaFiles = tc.retention, tc.bytes, tc.num
			if err := s.UpdateTechnician(ctx(t), tech); err != nil {
				t.Fatalf("%s: UpdateTechnician: %v", tc.name, err)
			}
			got, err := s.TechnicianByName(ctx(t), "ana")
			if err != nil {
				t.Fatalf("TechnicianByName: %v", err)
			}
			sameTech(t, tc.name+": TechnicianByName", got, tech)
			list, err := s.Technicians(ctx(t))
			if err != nil || len(list) != 2 {
				t.Fatalf("Technicians = %d, %v; want 2", len(list), err)
			}
			sameTech(t, tc.name+": Technicians", list[0], tech)
			sameTech(t, tc.name+": the other technician", list[1], other)
			// The engine takes the limits from the authenticated technician.
			gotTech, _, err := s.Authenticate(ctx(t), pmgsync.HashToken(raw), start)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			sameTech(t, tc.name+": Authenticate", gotTech, tech)
		}
	})

	t.Run("CreateWithOverrides", func(t *testing.T) {
		s, _ := newStore(t, open)
		tech := &pmgsync.Technician{Name: "ana", Retention: 48 * time.Hour, QuotaBytes: pmgsync.Unlimited, QuotaFiles: 20}
		if err := s.CreateTechnician(ctx(t), tech); err != nil {
			t.Fatalf("CreateTechnician: %v", err)
		}
		got, err := s.TechnicianByName(ctx(t), "ana")
		if err != nil {
			t.Fatalf("TechnicianByName: %v", err)
		}
		sameTech(t, "TechnicianByName", got, tech)
	})

	t.Run("UpdateNotFound", func(t *testing.T) {
		s, _ := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		err := s.UpdateTechnician(ctx(t), &pmgsync.Technician{ID: tech.ID + 1000, Name: "ghost", Disabled: true})
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgNoTechnician)
	})
}
