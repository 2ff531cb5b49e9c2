package storetest

import (
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// testMarkDamaged checks MarkDamaged and how a damaged file then behaves in
// the store: listed and looked up with its mark, counted by Usage and
// Stored, deleted, expired and replaced like any other file.
func testMarkDamaged(t *testing.T, open Opener) {
	t.Run("Mark", func(t *testing.T) {
		s, clk := newStore(t, open)
		maria := mustTechnician(t, s, "maria")
		pump, _ := mustCommit(t, s, maria, "relatorio-bomba-07.xlsx", "blob-07", clk.Now())
		valve, _ := mustCommit(t, s, maria, "relatorio-valvula-02.xlsx", "blob-02", clk.Now())
		tail := &auditTail{s: s}
		tail.next(t)

		at := clk.Add(time.Hour)
		got, err := s.MarkDamaged(actorCtx(t), pump.ID, pmgsync.DamageCorrupt, "sha256 mismatch", at)
		if err != nil {
			t.Fatalf("MarkDamaged: %v", err)
		}
		want := *pump
		want.Damage, want.DamagedAt = pmgsync.DamageCorrupt, at
		sameFile(t, "MarkDamaged's file", got, &want)
		sameEvent(t, "MarkDamaged", tail.one(t, "MarkDamaged"),
			byActor(at, pmgsync.ActionFileDamaged, "maria", func(e *pmgsync.AuditEvent) {
				e.FileName, e.Size, e.SHA256 = pump.Name, pump.Size, pump.SHA256
				e.Detail = "corrupt: sha256 mismatch"
			}))
		if f, err := s.FileByName(ctx(t), maria.ID, pump.Name); err != nil {
			t.Fatalf("FileByName of a damaged file: %v", err)
		} else {
			sameFile(t, "FileByName of a damaged file", f, &want)
		}
		sameFiles(t, "Files with a damaged file", s, maria.ID, &want, valve)

		// A second mark, of another kind, changes nothing and records nothing.
		clk.Add(time.Hour)
		again, err := s.MarkDamaged(actorCtx(t), pump.ID, pmgsync.DamageMissing, "no blob", time.Time{})
		if err != nil {
			t.Fatalf("MarkDamaged of a damaged file: %v", err)
		}
		sameFile(t, "MarkDamaged of a damaged file", again, &want)
		tail.none(t, "MarkDamaged of a damaged file")

		// A zero time is the store's clock.
		got, err = s.MarkDamaged(ctx(t), valve.ID, pmgsync.DamageMissing, "", time.Time{})
		if err != nil {
			t.Fatalf("MarkDamaged at the zero time: %v", err)
		}
		if got.Damage != pmgsync.DamageMissing || !got.DamagedAt.Equal(clk.Now()) {
			t.Errorf("MarkDamaged at the zero time: Damage %q at %s, want missing at %s", got.Damage, ts(got.DamagedAt), ts(clk.Now()))
		}
		if e := tail.one(t, "MarkDamaged without detail"); e.Action != pmgsync.ActionFileDamaged || e.Detail != "missing" {
			t.Errorf("MarkDamaged without detail recorded %s", eventString(e))
		}
		checkChain(t, auditEvents(t, s, pmgsync.AuditFilter{}), "")
	})

	t.Run("Refused", func(t *testing.T) {
		s, clk := newStore(t, open)
		maria := mustTechnician(t, s, "maria")
		v1, _ := mustCommit(t, s, maria, "relatorio-bomba-07.xlsx", "blob-v1", clk.Now())
		v2, _ := mustCommit(t, s, maria, "relatorio-bomba-07.xlsx", "blob-v2", clk.Add(time.Minute))
		tail := &auditTail{s: s}
		tail.next(t)

		// The version read before a replacement is gone: its mark must not
		// fall on the new version.
		_, err := s.MarkDamaged(ctx(t), v1.ID, pmgsync.DamageMissing, "", clk.Now())
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
		_, err = s.MarkDamaged(ctx(t), v2.ID+1000, pmgsync.DamageMissing, "", clk.Now())
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
		if _, err := s.MarkDamaged(ctx(t), v2.ID, "rotten", "", clk.Now()); err == nil || pmgsync.ErrorCode(err) != pmgsync.EINTERNAL {
			t.Errorf("MarkDamaged of an unknown kind: %v, want an internal error", err)
		}
		tail.none(t, "refused MarkDamaged")
		sameFiles(t, "files after refused marks", s, maria.ID, v2)
	})

	t.Run("Lifecycle", func(t *testing.T) {
		s, clk := newStore(t, open)
		maria, joao := mustTechnician(t, s, "maria"), mustTechnician(t, s, "joão")
		t0 := clk.Now()
		pump := mustCommitQuota(t, s, sized(maria, "relatorio-bomba-07.xlsx", "blob-07", 100, t0), pmgsync.Quota{})
		old := mustCommitQuota(t, s, sized(maria, "relatorio-antigo.xlsx", "blob-old", 30, t0.AddDate(0, 0, -30)), pmgsync.Quota{})
		gone := mustCommitQuota(t, s, sized(joao, "relatorio-poco-3.csv", "blob-poco", 7, t0), pmgsync.Quota{})
		for _, f := range []*pmgsync.File{pump, old, gone} {
			if _, err := s.MarkDamaged(ctx(t), f.ID, pmgsync.DamageMissing, "", t0); err != nil {
				t.Fatalf("MarkDamaged(%q): %v", f.Name, err)
			}
		}

		// A damaged file still counts: its blob may be on disk.
		if u, err := s.Stored(ctx(t)); err != nil || u != (pmgsync.Usage{Files: 3, Bytes: 137, Damaged: 3}) {
			t.Errorf("Stored = %+v, %v; want 3 files, 137 bytes, 3 damaged", u, err)
		}
		if u, err := s.Usage(ctx(t), maria.ID, time.Time{}); err != nil || u != (pmgsync.Usage{Files: 2, Bytes: 130}) {
			t.Errorf("Usage = %+v, %v; want 2 files, 130 bytes", u, err)
		}

		// A new upload of the name replaces the damaged version with a sound one.
		clk.Add(time.Minute)
		v2 := sized(maria, pump.Name, "blob-07-v2", 120, clk.Now())
		replaced, err := s.CommitFile(ctx(t), v2, pmgsync.Quota{MaxBytes: 150})
		if err != nil {
			t.Fatalf("CommitFile over a damaged file: %v", err)
		}
		if replaced == nil || replaced.ID != pump.ID || replaced.Damage != pmgsync.DamageMissing {
			t.Errorf("CommitFile over a damaged file replaced %s", fileString(replaced))
		}
		if got, err := s.FileByName(ctx(t), maria.ID, pump.Name); err != nil || got.Damage != "" || !got.DamagedAt.IsZero() {
			t.Errorf("new version after a damaged one: %s, %v; want it sound", fileString(got), err)
		}

		// The sweep finds and removes a damaged file like any other.
		expired, err := s.ExpiredFiles(ctx(t), maria.ID, t0.AddDate(0, 0, -7), 10)
		if err != nil || len(expired) != 1 || expired[0].ID != old.ID || expired[0].Damage != pmgsync.DamageMissing {
			t.Fatalf("ExpiredFiles = %d files, %v; want the damaged %q with its mark", len(expired), err, old.Name)
		}
		if removed, err := s.DeleteFiles(ctx(t), []int64{old.ID}); err != nil || len(removed) != 1 || removed[0].Damage != pmgsync.DamageMissing {
			t.Errorf("DeleteFiles of a damaged file: %d removed, %v", len(removed), err)
		}

		// A client's delete removes it too.
		if f, err := s.DeleteFile(ctx(t), joao.ID, gone.Name); err != nil || f.Damage != pmgsync.DamageMissing {
			t.Errorf("DeleteFile of a damaged file: %s, %v", fileString(f), err)
		}
		if u, err := s.Stored(ctx(t)); err != nil || u != (pmgsync.Usage{Files: 1, Bytes: 120}) {
			t.Errorf("Stored after the damaged files went = %+v, %v; want 1 sound file of 120 bytes", u, err)
		}
	})
}
