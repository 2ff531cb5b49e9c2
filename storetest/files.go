package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

func testFiles(t *testing.T, open Opener) {
	t.Run("CommitNew", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		if files, err := s.Files(ctx(t), tech.ID); err != nil || len(files) != 0 {
			t.Fatalf("Files of a technician without files = %d, %v; want none", len(files), err)
		}
		f, replaced := mustCommit(t, s, tech, "relatório março.xlsx", "blob-1", clk.Add(time.Minute))
		if replaced != nil {
			t.Errorf("CommitFile of a new name replaced %s", fileString(replaced))
		}
		if f.ID == 0 {
			t.Errorf("CommitFile left ID 0")
		}
		got, err := s.FileByName(ctx(t), tech.ID, f.Name)
		if err != nil {
			t.Fatalf("FileByName: %v", err)
		}
		sameFile(t, "FileByName", got, f)
		files, err := s.Files(ctx(t), tech.ID)
		if err != nil || len(files) != 1 {
			t.Fatalf("Files = %d, %v; want 1", len(files), err)
		}
		sameFile(t, "Files", files[0], f)
	})

	t.Run("CommitReplacing", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		mustCommit(t, s, tech, "other.xlsx", "blob-other", clk.Now())
		v1, _ := mustCommit(t, s, tech, "r.xlsx", "blob-1", clk.Add(time.Minute))
		v2, replaced := mustCommit(t, s, tech, "r.xlsx", "blob-2", clk.Add(time.Minute))
		sameFile(t, "first replaced version", replaced, v1)
		v3, replaced := mustCommit(t, s, tech, "r.xlsx", "blob-3", clk.Add(time.Minute))
		sameFile(t, "second replaced version", replaced, v2)
		got, err := s.FileByName(ctx(t), tech.ID, "r.xlsx")
		if err != nil {
			t.Fatalf("FileByName: %v", err)
		}
		sameFile(t, "current version", got, v3)
		files, err := s.Files(ctx(t), tech.ID)
		if err != nil || len(files) != 2 {
			t.Fatalf("Files = %d, %v; want 2", len(files), err)
		}
		sameFile(t, "Files[1]", files[1], v3)
	})

	t.Run("CreateOnlyIfAbsent", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		first := newFile(tech, "r.xlsx", "blob-1", clk.Now())
		if replaced, err := s.CreateFile(ctx(t), first, pmgsync.Quota{}); err != nil || first.ID == 0 || replaced != nil {
			t.Fatalf("CreateFile of a new name: ID %d, replaced %s, %v", first.ID, fileString(replaced), err)
		}
		second := newFile(tech, "r.xlsx", "blob-2", clk.Add(time.Minute))
		if _, err := s.CreateFile(ctx(t), second, pmgsync.Quota{}); pmgsync.ErrorCode(err) != pmgsync.ECONFLICT {
			t.Fatalf("CreateFile of an existing name: %v, want ECONFLICT", err)
		}
		got, err := s.FileByName(ctx(t), tech.ID, "r.xlsx")
		if err != nil {
			t.Fatalf("FileByName: %v", err)
		}
		sameFile(t, "file after a refused CreateFile", got, first)
		if refs, err := s.ReferencedBlobs(ctx(t), []string{"blob-2"}); err != nil || refs["blob-2"] {
			t.Errorf("refused CreateFile left a reference to its blob: %v, %v", refs, err)
		}
	})

	t.Run("FileByNameNotFound", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		mustCommit(t, s, tech, "Report.xlsx", "blob-1", clk.Now())
		for _, name := range []string{"report.xlsx", "Report.xls", "Report.xlsx ", ""} {
			_, err := s.FileByName(ctx(t), tech.ID, name)
			wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
		}
	})

	t.Run("SortedByBytes", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		names := []string{"b.xlsx", "B.xlsx", "a.xlsx", "á.xlsx", "Á.xlsx", "a b.xlsx", "_x.xlsx",
			"~x.xlsx", "10.xlsx", "9.xlsx", "ação.xlsx", "acao.xlsx", "日報.xlsx", "z.xlsx"}
		for i, name := range names {
			mustCommit(t, s, tech, name, fmt.Sprintf("blob-%d", i), clk.Now())
		}
		files, err := s.Files(ctx(t), tech.ID)
		if err != nil {
			t.Fatalf("Files: %v", err)
		}
		var got []string
		for _, f := range files {
			got = append(got, f.Name)
		}
		want := slices.Sorted(slices.Values(names)) // Go compares strings byte by byte
		if !slices.Equal(got, want) {
			t.Errorf("Files order:\n got %q\nwant %q", got, want)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		a, _ := mustCommit(t, s, tech, "a.xlsx", "blob-a", clk.Now())
		b, _ := mustCommit(t, s, tech, "b.xlsx", "blob-b", clk.Now())
		got, err := s.DeleteFile(ctx(t), tech.ID, "a.xlsx")
		if err != nil {
			t.Fatalf("DeleteFile: %v", err)
		}
		sameFile(t, "deleted file", got, a)
		_, err = s.FileByName(ctx(t), tech.ID, "a.xlsx")
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
		_, err = s.DeleteFile(ctx(t), tech.ID, "a.xlsx")
		wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
		files, err := s.Files(ctx(t), tech.ID)
		if err != nil || len(files) != 1 {
			t.Fatalf("Files = %d, %v; want 1", len(files), err)
		}
		sameFile(t, "remaining file", files[0], b)

		_, replaced := mustCommit(t, s, tech, "a.xlsx", "blob-a2", clk.Now())
		if replaced != nil {
			t.Errorf("CommitFile after DeleteFile replaced %s", fileString(replaced))
		}
	})
}

func testIsolation(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	a, b := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
	const shared = "relatorio.xlsx"
	aShared, _ := mustCommit(t, s, a, shared, "blob-a", clk.Now())
	aOnly, _ := mustCommit(t, s, a, "only-a.xlsx", "blob-a-only", clk.Now())
	bShared, replaced := mustCommit(t, s, b, shared, "blob-b", clk.Now())
	if replaced != nil {
		t.Fatalf("B's commit replaced A's file %s", fileString(replaced))
	}

	got, err := s.FileByName(ctx(t), a.ID, shared)
	if err != nil {
		t.Fatalf("FileByName(A): %v", err)
	}
	sameFile(t, "A's file", got, aShared)
	got, err = s.FileByName(ctx(t), b.ID, shared)
	if err != nil {
		t.Fatalf("FileByName(B): %v", err)
	}
	sameFile(t, "B's file", got, bShared)
	_, err = s.FileByName(ctx(t), b.ID, "only-a.xlsx")
	wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)

	files, err := s.Files(ctx(t), b.ID)
	if err != nil || len(files) != 1 {
		t.Fatalf("Files(B) = %d, %v; want 1", len(files), err)
	}
	sameFile(t, "Files(B)", files[0], bShared)

	_, err = s.DeleteFile(ctx(t), b.ID, "only-a.xlsx")
	wantError(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
	del, err := s.DeleteFile(ctx(t), b.ID, shared)
	if err != nil {
		t.Fatalf("DeleteFile(B): %v", err)
	}
	sameFile(t, "B's deleted file", del, bShared)

	aNew, replaced := mustCommit(t, s, a, shared, "blob-a2", clk.Now())
	sameFile(t, "A's replaced file", replaced, aShared)
	files, err = s.Files(ctx(t), a.ID)
	if err != nil || len(files) != 2 {
		t.Fatalf("Files(A) = %d, %v; want 2", len(files), err)
	}
	sameFile(t, "Files(A)[0]", files[0], aOnly)
	sameFile(t, "Files(A)[1]", files[1], aNew)
	if files, err := s.Files(ctx(t), b.ID); err != nil || len(files) != 0 {
		t.Errorf("Files(B) after delete = %d, %v; want none", len(files), err)
	}
}

func testReferencedBlobs(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	a, b := mustTechnician(t, s, "ana"), mustTechnician(t, s, "bruno")
	got, err := s.ReferencedBlobs(ctx(t), nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("ReferencedBlobs(nil) = %v, %v; want none", got, err)
	}

	key := func(i int) string { return fmt.Sprintf("blob-%04d", i) }
	want := map[string]bool{}
	// Current versions spread over batch boundaries, for both technicians.
	for _, i := range []int{0, 1, 499, 500, 501, 998, 999, 1000, 1099} {
		tech := a
		if i%2 == 1 {
			tech = b
		}
		mustCommit(t, s, tech, fmt.Sprintf("f%d.xlsx", i), key(i), clk.Now())
		want[key(i)] = true
	}
	// A replaced version and a deleted file are no longer referenced.
	mustCommit(t, s, a, "replaced.xlsx", key(2), clk.Now())
	mustCommit(t, s, a, "replaced.xlsx", key(700), clk.Now())
	want[key(700)] = true
	mustCommit(t, s, b, "deleted.xlsx", key(800), clk.Now())
	if _, err := s.DeleteFile(ctx(t), b.ID, "deleted.xlsx"); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}

	var keys []string
	for i := range 1100 {
		keys = append(keys, key(i))
	}
	keys = append(keys, key(0), key(1099), "", "blob-'); DROP TABLE files; --")
	got, err = s.ReferencedBlobs(ctx(t), keys)
	if err != nil {
		t.Fatalf("ReferencedBlobs: %v", err)
	}
	for k := range want {
		if !got[k] {
			t.Errorf("ReferencedBlobs misses %q", k)
		}
	}
	for k, v := range got {
		if !want[k] || !v {
			t.Errorf("ReferencedBlobs has %q: %v, want it absent", k, v)
		}
	}
}

// testConcurrentCommit commits one name from many goroutines at once: one
// version must remain, and each commit must report exactly the version it
// replaced, so that every blob but the current one is deleted exactly once.
func testConcurrentCommit(t *testing.T, open Opener) {
	s, clk := newStore(t, open)
	tech := mustTechnician(t, s, "ana")
	const n = 16
	var (
		wg       sync.WaitGroup
		ready    = make(chan struct{})
		replaced = make([]*pmgsync.File, n)
		errs     = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			<-ready
			f := newFile(tech, "same.xlsx", fmt.Sprintf("blob-%02d", i), clk.Now())
			replaced[i], errs[i] = s.CommitFile(ctx(t), f, pmgsync.Quota{})
		})
	}
	close(ready)
	wg.Wait()

	seen := map[string]int{}
	news := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("CommitFile %d: %v", i, errs[i])
		}
		if replaced[i] == nil {
			news++
			continue
		}
		seen[replaced[i].BlobKey]++
	}
	if news != 1 {
		t.Errorf("%d commits replaced nothing, want exactly 1", news)
	}
	files, err := s.Files(ctx(t), tech.ID)
	if err != nil || len(files) != 1 {
		t.Fatalf("Files = %d, %v; want exactly 1", len(files), err)
	}
	seen[files[0].BlobKey]++
	for i := range n {
		if k := fmt.Sprintf("blob-%02d", i); seen[k] != 1 {
			t.Errorf("version %s was reported %d times (replaced or current), want exactly once", k, seen[k])
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct versions reported, want %d", len(seen), n)
	}
}
