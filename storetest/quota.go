package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/units"
)

func testQuota(t *testing.T, open Opener) {
	t.Run("Files", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		q := pmgsync.Quota{MaxFiles: 3}
		var want []*pmgsync.File
		for _, name := range []string{"a.xlsx", "b.xlsx", "c.xlsx"} {
			want = append(want, mustCommitQuota(t, s, sized(tech, name, "blob-"+name, 1<<30, clk.Now()), q))
		}
		refusal := pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaFiles, 3)
		f := sized(tech, "d.xlsx", "blob-d", 1, clk.Now())
		replaced, err := s.CommitFile(ctx(t), f, q)
		wantRefusal(t, "CommitFile over the file quota", err, refusal)
		if replaced != nil || f.ID != 0 {
			t.Errorf("refused CommitFile: replaced %s, ID %d; want nil, 0", fileString(replaced), f.ID)
		}
		_, err = s.CreateFile(ctx(t), sized(tech, "d.xlsx", "blob-d2", 1, clk.Now()), q)
		wantRefusal(t, "CreateFile over the file quota", err, refusal)
		sameFiles(t, "after the refusals", s, tech.ID, want...)
		notReferenced(t, s, "blob-d", "blob-d2")

		// The quota is per technician.
		other := mustTechnician(t, s, "bruno")
		for _, name := range []string{"a.xlsx", "b.xlsx", "c.xlsx"} {
			mustCommitQuota(t, s, sized(other, name, "other-"+name, 1, clk.Now()), q)
		}
	})

	t.Run("Bytes", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		q := pmgsync.Quota{MaxBytes: 10 << 10}
		a := mustCommitQuota(t, s, sized(tech, "a.xlsx", "blob-a", 6000, clk.Now()), q)
		b := mustCommitQuota(t, s, sized(tech, "b.xlsx", "blob-b", 10<<10-6000, clk.Now()), q) // exactly at the limit
		refusal := pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaBytes, units.FormatSize(10<<10))
		if got, want := refusal.Error(), "storage quota exceeded: the limit is 10 KiB per technician"; got != want {
			t.Fatalf("refusal = %q, want %q", got, want)
		}
		_, err := s.CommitFile(ctx(t), sized(tech, "c.xlsx", "blob-c", 1, clk.Now()), q)
		wantRefusal(t, "CommitFile of one byte too many", err, refusal)
		_, err = s.CreateFile(ctx(t), sized(tech, "c.xlsx", "blob-c2", 1, clk.Now()), q)
		wantRefusal(t, "CreateFile of one byte too many", err, refusal)
		sameFiles(t, "after the refusals", s, tech.ID, a, b)
		notReferenced(t, s, "blob-c", "blob-c2")

		// A single file larger than the quota is refused even when nothing
		// is stored.
		other := mustTechnician(t, s, "bruno")
		_, err = s.CommitFile(ctx(t), sized(other, "big.xlsx", "blob-big", 10<<10+1, clk.Now()), q)
		wantRefusal(t, "CommitFile larger than the quota", err, refusal)
		sameFiles(t, "the other technician", s, other.ID)
	})

	t.Run("ReplaceCountsDifference", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		q := pmgsync.Quota{MaxBytes: 1000}
		a := mustCommitQuota(t, s, sized(tech, "a.xlsx", "blob-a1", 500, clk.Now()), q)
		b := mustCommitQuota(t, s, sized(tech, "b.xlsx", "blob-b1", 490, clk.Now()), q) // 10 bytes remain

		_, err := s.CommitFile(ctx(t), sized(tech, "a.xlsx", "blob-a2", 511, clk.Now()), q)
		wantRefusal(t, "replacement 11 bytes larger", err, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaBytes, units.FormatSize(1000)))
		sameFiles(t, "after the refusal", s, tech.ID, a, b)

		a2 := sized(tech, "a.xlsx", "blob-a3", 510, clk.Now())
		replaced, err := s.CommitFile(ctx(t), a2, q)
		if err != nil {
			t.Fatalf("replacement 10 bytes larger: %v", err)
		}
		sameFile(t, "replaced version", replaced, a)
		b2 := mustCommitQuota(t, s, sized(tech, "b.xlsx", "blob-b2", 480, clk.Now()), q) // smaller, at the limit
		sameFiles(t, "after the replacements", s, tech.ID, a2, b2)
	})

	t.Run("ReplaceIsNotNewFile", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		q := pmgsync.Quota{MaxFiles: 2}
		a := mustCommitQuota(t, s, sized(tech, "a.xlsx", "blob-a1", 1, clk.Now()), q)
		b := mustCommitQuota(t, s, sized(tech, "b.xlsx", "blob-b1", 1, clk.Now()), q)
		a2 := sized(tech, "a.xlsx", "blob-a2", 1, clk.Now())
		replaced, err := s.CommitFile(ctx(t), a2, q)
		if err != nil {
			t.Fatalf("replacement at the file quota: %v", err)
		}
		sameFile(t, "replaced version", replaced, a)
		_, err = s.CommitFile(ctx(t), sized(tech, "c.xlsx", "blob-c", 1, clk.Now()), q)
		wantRefusal(t, "new file at the file quota", err, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaFiles, 2))
		sameFiles(t, "after the refusal", s, tech.ID, a2, b)
	})

	// Files uploaded at or before LiveAfter have expired: they count for
	// nothing, before any sweep removes them.
	t.Run("ExpiredCountForNothing", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		t0 := clk.Now()
		old1 := mustCommitQuota(t, s, sized(tech, "old1.xlsx", "blob-old1", 900, t0), pmgsync.Quota{})
		old2 := mustCommitQuota(t, s, sized(tech, "old2.xlsx", "blob-old2", 900, t0.Add(time.Minute)), pmgsync.Quota{})
		live1 := mustCommitQuota(t, s, sized(tech, "live1.xlsx", "blob-live1", 100, t0.Add(2*time.Minute)), pmgsync.Quota{})
		liveAfter := t0.Add(time.Minute) // old2, uploaded exactly then, has expired
		byFiles := pmgsync.Quota{MaxFiles: 2, LiveAfter: liveAfter}
		byBytes := pmgsync.Quota{MaxBytes: 1000, LiveAfter: liveAfter}
		now := clk.Add(3 * time.Minute)

		live2 := mustCommitQuota(t, s, sized(tech, "live2.xlsx", "blob-live2", 900, now), byBytes)
		live2 = mustCommitQuota(t, s, sized(tech, "live2.xlsx", "blob-live2b", 900, now), byFiles)
		_, err := s.CommitFile(ctx(t), sized(tech, "live3.xlsx", "blob-live3", 1, now), byBytes)
		wantRefusal(t, "one byte over, expired files aside", err, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaBytes, units.FormatSize(1000)))
		_, err = s.CommitFile(ctx(t), sized(tech, "live3.xlsx", "blob-live3", 1, now), byFiles)
		wantRefusal(t, "one file over, expired files aside", err, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaFiles, 2))
		// Replacing an expired file frees nothing: the new version is one
		// more live file.
		_, err = s.CommitFile(ctx(t), sized(tech, "old1.xlsx", "blob-old1b", 1, now), byFiles)
		wantRefusal(t, "replacing an expired file", err, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaFiles, 2))
		sameFiles(t, "after the refusals", s, tech.ID, live1, live2, old1, old2)
		if u, err := s.Usage(ctx(t), tech.ID, liveAfter); err != nil || u != (pmgsync.Usage{Files: 2, Bytes: 1000}) {
			t.Errorf("Usage = %+v, %v; want 2 files, 1000 bytes", u, err)
		}

		// A file that has already expired when it is committed (an import
		// of an old report) adds nothing either.
		mustCommitQuota(t, s, sized(tech, "imported.xlsx", "blob-imported", 5000, liveAfter), byFiles)
		mustCommitQuota(t, s, sized(tech, "imported.xlsx", "blob-imported2", 5000, liveAfter), byBytes)
	})

	t.Run("ZeroIsUnlimited", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		for i := range 40 {
			q := pmgsync.Quota{}
			if i%2 == 1 {
				q.LiveAfter = start.Add(-time.Hour)
			}
			mustCommitQuota(t, s, sized(tech, fmt.Sprintf("f%02d.xlsx", i), fmt.Sprint("blob-", i), 1<<40, clk.Now()), q)
		}
		if u, err := s.Usage(ctx(t), tech.ID, time.Time{}); err != nil || u != (pmgsync.Usage{Files: 40, Bytes: 40 << 40}) {
			t.Errorf("Usage = %+v, %v; want 40 files of 1 TiB", u, err)
		}
	})

	// A technician over a quota that was lowered can still replace a file
	// with one no larger: only a commit that increases a usage beyond its
	// limit is refused.
	t.Run("LoweredBelowUsage", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		for _, name := range []string{"a", "b", "c"} {
			mustCommitQuota(t, s, sized(tech, name, "blob-"+name, 100, clk.Now()), pmgsync.Quota{})
		}
		q := pmgsync.Quota{MaxFiles: 2, MaxBytes: 250}
		mustCommitQuota(t, s, sized(tech, "a", "blob-a2", 100, clk.Now()), q)
		mustCommitQuota(t, s, sized(tech, "a", "blob-a3", 50, clk.Now()), q)
		_, err := s.CommitFile(ctx(t), sized(tech, "a", "blob-a4", 60, clk.Now()), q)
		wantRefusal(t, "growing replacement over the quota", err, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaBytes, units.FormatSize(250)))
		_, err = s.CommitFile(ctx(t), sized(tech, "d", "blob-d", 0, clk.Now()), q)
		wantRefusal(t, "new file over the quota", err, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaFiles, 2))
	})

	t.Run("CreateFileReplacesExpired", func(t *testing.T) {
		s, clk := newStore(t, open)
		tech := mustTechnician(t, s, "ana")
		t0 := clk.Now()
		old := mustCommitQuota(t, s, sized(tech, "r.xlsx", "blob-old", 100, t0), pmgsync.Quota{})
		now := clk.Add(time.Hour)

		// Still live just after its upload.
		_, err := s.CreateFile(ctx(t), sized(tech, "r.xlsx", "blob-early", 100, now), pmgsync.Quota{LiveAfter: t0.Add(-time.Millisecond)})
		wantError(t, err, pmgsync.ECONFLICT, pmgsync.MsgFileExists)
		sameFiles(t, "after the conflict", s, tech.ID, old)

		// Expired when uploaded exactly at LiveAfter; being expired, it does
		// not count against a quota of one file either.
		f := sized(tech, "r.xlsx", "blob-new", 100, now)
		replaced, err := s.CreateFile(ctx(t), f, pmgsync.Quota{MaxFiles: 1, LiveAfter: t0})
		if err != nil {
			t.Fatalf("CreateFile over an expired file: %v", err)
		}
		if f.ID == 0 {
			t.Errorf("CreateFile left ID 0")
		}
		sameFile(t, "CreateFile's replaced version", replaced, old)
		sameFiles(t, "after CreateFile", s, tech.ID, f)
		notReferenced(t, s, "blob-old")
	})
}

// testConcurrentQuota commits different names from many goroutines at once
// against a quota with room for ten: exactly ten may succeed.
func testConcurrentQuota(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name    string
		quota   pmgsync.Quota
		refusal *pmgsync.Error
	}{
		{"Files", pmgsync.Quota{MaxFiles: 10}, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaFiles, 10)},
		{"Bytes", pmgsync.Quota{MaxBytes: 10 * 100}, pmgsync.Errorf(pmgsync.ESTORAGE, pmgsync.MsgQuotaBytes, units.FormatSize(1000))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := newStore(t, open)
			tech := mustTechnician(t, s, "ana")
			const n = 16
			var (
				wg    sync.WaitGroup
				ready = make(chan struct{})
				errs  = make([]error, n)
			)
			for i := range n {
				wg.Go(func() {
					<-ready
					f := sized(tech, fmt.Sprintf("f%02d.xlsx", i), fmt.Sprintf("blob-%02d", i), 100, clk.Now())
					_, errs[i] = s.CommitFile(ctx(t), f, tc.quota)
				})
			}
			close(ready)
			wg.Wait()
			ok := 0
			for i, err := range errs {
				if err == nil {
					ok++
					continue
				}
				wantRefusal(t, fmt.Sprintf("CommitFile %d", i), err, tc.refusal)
			}
			if ok != 10 {
				t.Errorf("%d commits succeeded, want exactly 10", ok)
			}
			if u, err := s.Usage(ctx(t), tech.ID, time.Time{}); err != nil || u != (pmgsync.Usage{Files: 10, Bytes: 1000}) {
				t.Errorf("Usage = %+v, %v; want 10 files, 1000 bytes", u, err)
			}
		})
	}
}

// sized returns a new version of name of size bytes.
func sized(tech *pmgsync.Technician, name, key string, size int64, uploaded time.Time) *pmgsync.File {
	f := newFile(tech, name, key, uploaded)
	f.Size = size
	return f
}

// mustCommitQuota commits f under quota and returns it.
func mustCommitQuota(t *testing.T, s pmgsync.MetadataStore, f *pmgsync.File, quota pmgsync.Quota) *pmgsync.File {
	t.Helper()
	if _, err := s.CommitFile(ctx(t), f, quota); err != nil {
		t.Fatalf("CommitFile(%q, %d bytes, %+v): %v", f.Name, f.Size, quota, err)
	}
	return f
}

// wantRefusal fails the test unless err is want, in every language.
func wantRefusal(t *testing.T, what string, err error, want *pmgsync.Error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded, want %v", what, want)
	}
	wantError(t, err, want.Code, want.Key)
	for _, lang := range []pmgsync.Lang{pmgsync.English, pmgsync.PortugueseBR} {
		if got, want := pmgsync.ErrorMessage(lang, err), want.Message(lang); got != want {
			t.Errorf("%s: message %q, want %q", what, got, want)
		}
	}
}

// notReferenced fails the test if a file references one of keys.
func notReferenced(t *testing.T, s pmgsync.MetadataStore, keys ...string) {
	t.Helper()
	refs, err := s.ReferencedBlobs(ctx(t), keys)
	if err != nil {
		t.Fatalf("ReferencedBlobs: %v", err)
	}
	for k := range refs {
		t.Errorf("blob %q is referenced, want it not to be", k)
	}
}
