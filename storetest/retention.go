package storetest

import (
	"cmp"
	"slices"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

func testUsage(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
	t0 := clk.Now()
	mustCommitQuota(t, s, sized(ana, "a.xlsx", "blob-a", 100, t0), pmgsync.Quota{})
	mustCommitQuota(t, s, sized(ana, "b.xlsx", "blob-b", 200, t0.Add(time.Minute)), pmgsync.Quota{})
	mustCommitQuota(t, s, sized(ana, "c.xlsx", "blob-c", 400, t0.Add(2*time.Minute)), pmgsync.Quota{})
	mustCommitQuota(t, s, sized(bruno, "a.xlsx", "blob-bruno", 800, t0.Add(2*time.Minute)), pmgsync.Quota{})

	check := func(what string, technicianID int64, liveAfter time.Time, want pmgsync.Usage) {
		t.Helper()
		got, err := s.Usage(ctx(t), technicianID, liveAfter)
		if err != nil {
			t.Fatalf("%s: Usage: %v", what, err)
		}
		if got != want {
			t.Errorf("%s: Usage = %+v, want %+v", what, got, want)
		}
	}
	check("zero time", ana.ID, time.Time{}, pmgsync.Usage{Files: 3, Bytes: 700})
	check("before every upload", ana.ID, t0.Add(-time.Millisecond), pmgsync.Usage{Files: 3, Bytes: 700})
	check("at the first upload", ana.ID, t0, pmgsync.Usage{Files: 2, Bytes: 600})
	check("at the second upload", ana.ID, t0.Add(time.Minute), pmgsync.Usage{Files: 1, Bytes: 400})
	check("at the last upload", ana.ID, t0.Add(2*time.Minute), pmgsync.Usage{})
	check("other technician", bruno.ID, time.Time{}, pmgsync.Usage{Files: 1, Bytes: 800})
	check("unknown technician", ana.ID+bruno.ID+1000, time.Time{}, pmgsync.Usage{})

	mustCommitQuota(t, s, sized(ana, "c.xlsx", "blob-c2", 50, t0.Add(3*time.Minute)), pmgsync.Quota{})
	check("after a replacement", ana.ID, time.Time{}, pmgsync.Usage{Files: 3, Bytes: 350})
	if _, err := s.DeleteFile(ctx(t), ana.ID, "a.xlsx"); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	check("after a deletion", ana.ID, time.Time{}, pmgsync.Usage{Files: 2, Bytes: 250})
}

func testStored(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	check := func(what string, want pmgsync.Usage) {
		t.Helper()
		got, err := s.Stored(ctx(t))
		if err != nil {
			t.Fatalf("%s: Stored: %v", what, err)
		}
		if got != want {
			t.Errorf("%s: Stored = %+v, want %+v", what, got, want)
		}
	}
	check("empty", pmgsync.Usage{})
	ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
	t0 := clk.Now()
	// An upload time long past stands for an expired file not yet swept:
	// it counts, as its blob is still on disk.
	mustCommitQuota(t, s, sized(ana, "old.xlsx", "blob-old", 100, t0.AddDate(-1, 0, 0)), pmgsync.Quota{})
	mustCommitQuota(t, s, sized(ana, "a.xlsx", "blob-a", 200, t0), pmgsync.Quota{})
	mustCommitQuota(t, s, sized(bruno, "a.xlsx", "blob-bruno", 400, t0), pmgsync.Quota{})
	check("every technician, expired included", pmgsync.Usage{Files: 3, Bytes: 700})

	mustCommitQuota(t, s, sized(ana, "a.xlsx", "blob-a2", 50, t0.Add(time.Minute)), pmgsync.Quota{})
	check("after a replacement", pmgsync.Usage{Files: 3, Bytes: 550})
	if _, err := s.DeleteFile(ctx(t), bruno.ID, "a.xlsx"); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	check("after a deletion", pmgsync.Usage{Files: 2, Bytes: 150})
}

func testExpiredFiles(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
	t0 := clk.Now()
	// Committed out of order, with names in another order than times.
	c := mustCommitQuota(t, s, sized(ana, "a.xlsx", "blob-c", 1, t0.Add(3*time.Minute)), pmgsync.Quota{})
	a := mustCommitQuota(t, s, sized(ana, "d.xlsx", "blob-a", 1, t0.Add(time.Minute)), pmgsync.Quota{})
	d := mustCommitQuota(t, s, sized(ana, "b.xlsx", "blob-d", 1, t0.Add(4*time.Minute)), pmgsync.Quota{})
	b := mustCommitQuota(t, s, sized(ana, "c.xlsx", "blob-b", 1, t0.Add(2*time.Minute)), pmgsync.Quota{})
	theirs := mustCommitQuota(t, s, sized(bruno, "x.xlsx", "blob-x", 1, t0), pmgsync.Quota{})

	for _, tc := range []struct {
		name         string
		technicianID int64
		cutoff       time.Time
		limit        int
		want         []*pmgsync.File
	}{
		{"up to the cutoff, included", ana.ID, t0.Add(2 * time.Minute), 10, []*pmgsync.File{a, b}},
		{"limit", ana.ID, t0.Add(2 * time.Minute), 1, []*pmgsync.File{a}},
		{"all", ana.ID, t0.Add(time.Hour), 10, []*pmgsync.File{a, b, c, d}},
		{"all, limited", ana.ID, t0.Add(time.Hour), 3, []*pmgsync.File{a, b, c}},
		{"just before the first", ana.ID, t0.Add(time.Minute - time.Millisecond), 10, nil},
		{"other technician", bruno.ID, t0.Add(time.Hour), 10, []*pmgsync.File{theirs}},
		{"unknown technician", ana.ID + bruno.ID + 1000, t0.Add(time.Hour), 10, nil},
	} {
		got, err := s.ExpiredFiles(ctx(t), tc.technicianID, tc.cutoff, tc.limit)
		if err != nil {
			t.Fatalf("%s: ExpiredFiles: %v", tc.name, err)
		}
		sameFileList(t, tc.name, got, tc.want)
	}
}

func testDeleteFiles(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	ana, bruno := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
	a, _ := mustCommit(t, s, ana, "a.xlsx", "blob-a", clk.Now())
	b, _ := mustCommit(t, s, ana, "b.xlsx", "blob-b", clk.Now())
	c, _ := mustCommit(t, s, ana, "c.xlsx", "blob-c", clk.Now())
	theirs, _ := mustCommit(t, s, bruno, "a.xlsx", "blob-x", clk.Now())
	// The sweep listed a, b and c; b is uploaded again before it deletes.
	b2, _ := mustCommit(t, s, ana, "b.xlsx", "blob-b2", clk.Add(time.Minute))

	// Ids that name nothing, around batch boundaries of an implementation.
	unknown := theirs.ID + b2.ID + 1000
	var ids []int64
	for i := range 1100 {
		switch i {
		case 0:
			ids = append(ids, a.ID)
		case 499:
			ids = append(ids, b.ID)
		case 1000:
			ids = append(ids, c.ID)
		default:
			ids = append(ids, unknown+int64(i))
		}
	}
	ids = append(ids, a.ID)
	got, err := s.DeleteFiles(ctx(t), ids)
	if err != nil {
		t.Fatalf("DeleteFiles: %v", err)
	}
	slices.SortFunc(got, func(x, y *pmgsync.File) int { return cmp.Compare(x.ID, y.ID) })
	sameFileList(t, "removed by DeleteFiles", got, []*pmgsync.File{a, c})
	sameFiles(t, "the technician's files", s, ana.ID, b2)
	sameFiles(t, "the other technician's files", s, bruno.ID, theirs)
	notReferenced(t, s, "blob-a", "blob-b", "blob-c")

	for _, ids := range [][]int64{ids, nil} {
		if got, err := s.DeleteFiles(ctx(t), ids); err != nil || len(got) != 0 {
			t.Errorf("DeleteFiles of %d ids of removed files = %d, %v; want none", len(ids), len(got), err)
		}
	}
}
