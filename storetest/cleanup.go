package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

func testLocks(t *testing.T, open Opener) {
	// try reports whether holder gets or renews the lock.
	try := func(t *testing.T, s pmgsync.MetadataStore, name, holder string, now, until time.Time) bool {
		t.Helper()
		ok, err := s.TryLock(ctx(t), name, holder, now, until)
		if err != nil {
			t.Fatalf("TryLock(%q, %q): %v", name, holder, err)
		}
		return ok
	}

	t.Run("Lease", func(t *testing.T) {
		s, clk := newStore(t, open)
		t0 := clk.Now()
		for _, step := range []struct {
			what         string
			name, holder string
			now, until   time.Duration // from t0
			want         bool
		}{
			{"free lock", "sweep", "x", 0, time.Minute, true},
			{"held by another", "sweep", "y", 30 * time.Second, 2 * time.Minute, false},
			{"renewed by its holder", "sweep", "x", 40 * time.Second, 2 * time.Minute, true},
			{"past the first lease, within the renewed one", "sweep", "y", 90 * time.Second, 3 * time.Minute, false},
			{"just before the lease ends", "sweep", "y", 2*time.Minute - time.Millisecond, 3 * time.Minute, false},
			{"another lock", "import", "y", 30 * time.Second, time.Hour, true},
			{"at the end of the lease", "sweep", "y", 2 * time.Minute, 3 * time.Minute, true},
			{"the former holder", "sweep", "x", 2*time.Minute + time.Millisecond, 4 * time.Minute, false},
			{"the new holder renews", "sweep", "y", 2*time.Minute + time.Millisecond, 4 * time.Minute, true},
		} {
			if got := try(t, s, step.name, step.holder, t0.Add(step.now), t0.Add(step.until)); got != step.want {
				t.Errorf("%s: TryLock(%q, %q) at t0+%v = %v, want %v", step.what, step.name, step.holder, step.now, got, step.want)
			}
		}
	})

	t.Run("Unlock", func(t *testing.T) {
		s, clk := newStore(t, open)
		now, until := clk.Now(), clk.Now().Add(time.Hour)
		if err := s.Unlock(ctx(t), "sweep", "x"); err != nil {
			t.Fatalf("Unlock of a lock nobody holds: %v", err)
		}
		if !try(t, s, "sweep", "x", now, until) {
			t.Fatal("TryLock of a free lock failed")
		}
		if err := s.Unlock(ctx(t), "sweep", "y"); err != nil {
			t.Fatalf("Unlock by a non-holder: %v", err)
		}
		if try(t, s, "sweep", "y", now, until) {
			t.Fatal("TryLock succeeded after an Unlock by a non-holder")
		}
		if err := s.Unlock(ctx(t), "sweep", "x"); err != nil {
			t.Fatalf("Unlock by the holder: %v", err)
		}
		if !try(t, s, "sweep", "y", now, until) {
			t.Fatal("TryLock failed after the holder's Unlock")
		}
		if err := s.Unlock(ctx(t), "sweep", "x"); err != nil {
			t.Fatalf("Unlock by the former holder: %v", err)
		}
		if try(t, s, "sweep", "x", now, until) {
			t.Error("the former holder's second Unlock released the new holder's lock")
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s, clk := newStore(t, open)
		const n = 16
		var (
			wg    sync.WaitGroup
			ready = make(chan struct{})
			got   = make([]bool, n)
			errs  = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				<-ready
				got[i], errs[i] = s.TryLock(ctx(t), "sweep", fmt.Sprint("holder-", i), clk.Now(), clk.Now().Add(time.Minute))
			})
		}
		close(ready)
		wg.Wait()
		winners := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("TryLock %d: %v", i, errs[i])
			}
			if got[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("%d holders got the lock, want exactly 1", winners)
		}
	})
}

func testCleanupRuns(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	if runs, err := s.CleanupRuns(ctx(t), 10); err != nil || len(runs) != 0 {
		t.Fatalf("CleanupRuns of an empty store = %d, %v; want none", len(runs), err)
	}
	begin := func(trigger string, dryRun bool) *pmgsync.CleanupRun {
		t.Helper()
		run := &pmgsync.CleanupRun{Trigger: trigger, DryRun: dryRun, StartedAt: clk.Add(time.Hour)}
		if err := s.StartCleanupRun(ctx(t), run); err != nil {
			t.Fatalf("StartCleanupRun: %v", err)
		}
		if run.ID == 0 {
			t.Fatal("StartCleanupRun left ID 0")
		}
		return run
	}
	finish := func(run *pmgsync.CleanupRun) {
		t.Helper()
		if err := s.FinishCleanupRun(ctx(t), run); err != nil {
			t.Fatalf("FinishCleanupRun: %v", err)
		}
	}

	first := begin("schedule", false)
	first.FinishedAt = clk.Add(time.Minute)
	first.FilesRemoved, first.BytesRemoved, first.OrphansRemoved = 12, 3<<30, 2
	first.Errors = "delete blob a1: permission denied\ndelete blob b2: input/output error"
	finish(first)
	dry := begin("manual", true)
	dry.FinishedAt = clk.Add(time.Second)
	dry.FilesRemoved, dry.BytesRemoved = 5, 5000
	finish(dry)
	running := begin("schedule", false)
	if first.ID == dry.ID || dry.ID == running.ID || first.ID == running.ID {
		t.Errorf("runs share ids: %d, %d, %d", first.ID, dry.ID, running.ID)
	}

	err := s.FinishCleanupRun(ctx(t), &pmgsync.CleanupRun{ID: first.ID + dry.ID + running.ID + 1000, FinishedAt: clk.Now()})
	if code := pmgsync.ErrorCode(err); code != pmgsync.ENOTFOUND {
		t.Errorf("FinishCleanupRun of an unknown run: %v (%s), want ENOTFOUND", err, code)
	}

	for _, tc := range []struct {
		limit int
		want  []*pmgsync.CleanupRun
	}{
		{10, []*pmgsync.CleanupRun{running, dry, first}},
		{3, []*pmgsync.CleanupRun{running, dry, first}},
		{2, []*pmgsync.CleanupRun{running, dry}},
		{1, []*pmgsync.CleanupRun{running}},
	} {
		got, err := s.CleanupRuns(ctx(t), tc.limit)
		if err != nil {
			t.Fatalf("CleanupRuns(%d): %v", tc.limit, err)
		}
		if len(got) != len(tc.want) {
			t.Errorf("CleanupRuns(%d) returned %d runs, want %d", tc.limit, len(got), len(tc.want))
			continue
		}
		for i := range got {
			if g, w := runString(got[i]), runString(tc.want[i]); g != w {
				t.Errorf("CleanupRuns(%d)[%d]:\n got %s\nwant %s", tc.limit, i, g, w)
			}
		}
	}
}

func runString(r *pmgsync.CleanupRun) string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{ID:%d Trigger:%q DryRun:%v StartedAt:%s FinishedAt:%s FilesRemoved:%d BytesRemoved:%d OrphansRemoved:%d Errors:%q}",
		r.ID, r.Trigger, r.DryRun, ts(r.StartedAt), ts(r.FinishedAt), r.FilesRemoved, r.BytesRemoved, r.OrphansRemoved, r.Errors)
}
