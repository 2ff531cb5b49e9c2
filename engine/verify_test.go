package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// blobPath is where localfs keeps the blob key of the fixture.
func (f *fixture) blobPath(key string) string {
	return filepath.Join(f.dir, "blobs", key[:2], key)
}

// flipByte changes one byte of the blob key, keeping its size.
func (f *fixture) flipByte(t *testing.T, key string, at int) {
	t.Helper()
	b, err := os.ReadFile(f.blobPath(key))
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x20
	if err := os.WriteFile(f.blobPath(key), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, f *fixture, opts engine.VerifyOptions) *engine.VerifyReport {
	t.Helper()
	rep, err := f.eng.Verify(pmgsync.WithActor(context.Background(), pmgsync.Actor{Kind: pmgsync.ActorCLI}), opts)
	if err != nil {
		t.Fatalf("Verify(%+v): %v", opts, err)
	}
	for _, err := range rep.Errors {
		t.Errorf("Verify(%+v) could not check: %v", opts, err)
	}
	return rep
}

// problems returns one line per problem: kind, technician/name or blob key,
// and whether it was repaired.
func problems(rep *engine.VerifyReport) []string {
	var lines []string
	for _, p := range rep.Problems {
		what := p.BlobKey
		if p.File != nil {
			what = p.Technician + "/" + p.File.Name
		}
		line := p.Kind + " " + what
		if p.Kind == engine.ProblemCorrupt && p.SizeMismatch() {
			line += " (size)"
		}
		if p.Repaired {
			line += " repaired"
		}
		lines = append(lines, line)
	}
	return lines
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestVerifyClean(t *testing.T) {
	f := newFixture(t)
	maria, joao := f.technician(t, "maria"), f.technician(t, "João Silva")
	mustUpload(t, f, maria, "relatorio-bomba-07.csv")
	mustUpload(t, f, maria, "relatorio-bomba-08.csv")
	mustUpload(t, f, joao, "pmg.csv")
	f.now = f.now.Add(time.Hour)

	var last engine.VerifyProgress
	calls := 0
	rep := verify(t, f, engine.VerifyOptions{Progress: func(p engine.VerifyProgress) { last = p; calls++ }})
	if len(rep.Problems) != 0 {
		t.Errorf("problems in a sound store: %q", problems(rep))
	}
	size := int64(len(sweepCSV))
	if rep.Files != 3 || rep.Bytes != 3*size || rep.Blobs != 3 || rep.Young != 0 {
		t.Errorf("report = %d files, %d bytes, %d blobs, %d young; want 3, %d, 3, 0", rep.Files, rep.Bytes, rep.Blobs, rep.Young, 3*size)
	}
	want := engine.VerifyProgress{Files: 3, TotalFiles: 3, Bytes: 3 * size, TotalBytes: 3 * size, Blobs: 3}
	if last != want || calls != 4 { // one per file, one per batch of blobs
		t.Errorf("last progress %+v after %d calls, want %+v after 4", last, calls, want)
	}
}

// verifyFixture has maria's four reports: one whose blob is gone, one with a
// flipped byte, one cut short and one sound; two orphans older than the
// grace period; and a young orphan, an upload in progress.
type verifyFixture struct {
	*fixture
	maria                          *pmgsync.Technician
	missing, flipped, short, sound *pmgsync.File
	orphans                        []string
	young                          string
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	f := &verifyFixture{fixture: newFixture(t)}
	f.maria = f.technician(t, "maria")
	f.missing = mustUpload(t, f.fixture, f.maria, "relatorio-bomba-07.csv")
	f.flipped = mustUpload(t, f.fixture, f.maria, "relatorio-bomba-08.csv")
	f.short = mustUpload(t, f.fixture, f.maria, "relatorio-compressor-01.csv")
	f.sound = mustUpload(t, f.fixture, f.maria, "relatorio-valvula-02.csv")
	f.now = f.now.Add(time.Hour)
	if err := os.Remove(f.blobPath(f.missing.BlobKey)); err != nil {
		t.Fatal(err)
	}
	f.flipByte(t, f.flipped.BlobKey, 2)
	if err := os.Truncate(f.blobPath(f.short.BlobKey), 3); err != nil {
		t.Fatal(err)
	}
	f.orphans = []string{
		f.orphanBlob(t, f.now.Add(-engine.OrphanGrace-time.Second)),
		f.orphanBlob(t, f.now.Add(-24*time.Hour)),
	}
	slices.Sort(f.orphans)
	f.young = f.orphanBlob(t, f.now.Add(-engine.OrphanGrace+time.Second))
	return f
}

func (f *verifyFixture) wantProblems(suffix string) []string {
	return []string{
		"missing maria/relatorio-bomba-07.csv" + suffix,
		"corrupt maria/relatorio-bomba-08.csv" + suffix,
		"corrupt maria/relatorio-compressor-01.csv (size)" + suffix,
		"orphan " + f.orphans[0] + suffix,
		"orphan " + f.orphans[1] + suffix,
	}
}

func (f *verifyFixture) blobExists(t *testing.T, key string) bool {
	t.Helper()
	_, err := os.Stat(f.blobPath(key))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func TestVerifyReportsWithoutChanging(t *testing.T) {
	f := newVerifyFixture(t)
	records := f.auditLen(t)
	rep := verify(t, f.fixture, engine.VerifyOptions{})
	sameLines(t, "problems", problems(rep), f.wantProblems(""))
	if rep.Files != 4 || rep.Blobs != 6 || rep.Young != 1 {
		t.Errorf("report = %d files, %d blobs, %d young; want 4, 6, 1", rep.Files, rep.Blobs, rep.Young)
	}
	if want := int64(2*len(sweepCSV) + 3); rep.Bytes != want { // the missing one has none
		t.Errorf("bytes hashed = %d, want %d", rep.Bytes, want)
	}
	if got := [4]int{rep.Count(engine.ProblemMissing), rep.Count(engine.ProblemCorrupt), rep.Count(engine.ProblemOrphan), rep.Count(engine.ProblemDamaged)}; got != [4]int{1, 2, 2, 0} {
		t.Errorf("counts (missing, corrupt, orphan, damaged) = %v", got)
	}
	flipped := rep.Problems[1]
	if flipped.Size != f.flipped.Size || flipped.SHA256 == f.flipped.SHA256 || len(flipped.SHA256) != 64 {
		t.Errorf("corrupt file: blob has %d bytes, sha256 %q; want the recorded size and another sha256", flipped.Size, flipped.SHA256)
	}
	if short := rep.Problems[2]; short.Size != 3 {
		t.Errorf("short file: blob has %d bytes, want 3", short.Size)
	}
	if o := rep.Problems[3]; o.Size != int64(len("orphan")) || o.ModTime.IsZero() {
		t.Errorf("orphan: %d bytes written %s", o.Size, o.ModTime)
	}

	// Nothing changed: the orphans are there, the files unmarked and listed.
	for _, key := range append(f.orphans, f.young) {
		if !f.blobExists(t, key) {
			t.Errorf("blob %s removed without --repair", key)
		}
	}
	files, err := f.eng.List(context.Background(), f.maria)
	if err != nil || len(files) != 4 {
		t.Errorf("List after a check = %d files, %v; want 4", len(files), err)
	}
	if n := f.auditLen(t); n != records {
		t.Errorf("a check without repair wrote %d audit records", n-records)
	}
}

func TestVerifyRepair(t *testing.T) {
	ctx := context.Background()
	f := newVerifyFixture(t)
	records := f.auditLen(t)
	rep := verify(t, f.fixture, engine.VerifyOptions{Repair: true})
	sameLines(t, "problems", problems(rep), f.wantProblems(" repaired"))
	for _, p := range rep.Problems[:3] {
		if p.File.Damage != p.Kind || !p.File.DamagedAt.Equal(f.now) {
			t.Errorf("%s: marked %q at %s, want %q at %s", p.File.Name, p.File.Damage, p.File.DamagedAt, p.Kind, f.now)
		}
	}
	for _, key := range f.orphans {
		if f.blobExists(t, key) {
			t.Errorf("orphan %s left by --repair", key)
		}
	}
	if !f.blobExists(t, f.young) {
		t.Errorf("the young orphan, an upload in progress, was removed")
	}
	// The corrupt blobs stay: their files reference them until they go.
	if !f.blobExists(t, f.flipped.BlobKey) || !f.blobExists(t, f.short.BlobKey) {
		t.Errorf("a corrupt file's blob was removed")
	}

	// One record per file marked, by the CLI, saying what was found; the
	// chain holds.
	marks := f.audit(t)[records:]
	want := []struct{ name, detail string }{
		{f.missing.Name, "missing: blob " + f.missing.BlobKey + " not found"},
		{f.flipped.Name, "corrupt: sha256 mismatch: blob " + f.flipped.BlobKey + " has " + rep.Problems[1].SHA256},
		{f.short.Name, fmt.Sprintf("corrupt: size mismatch: blob %s has 3 bytes, recorded %d", f.short.BlobKey, f.short.Size)},
	}
	if len(marks) != len(want) {
		t.Fatalf("%d audit records after the repair, want %d", len(marks), len(want))
	}
	for i, ev := range marks {
		if ev.Action != pmgsync.ActionFileDamaged || ev.ActorKind != pmgsync.ActorCLI || ev.Technician != "maria" ||
			ev.FileName != want[i].name || ev.Detail != want[i].detail || ev.Result != "ok" {
			t.Errorf("record %d = %+v, want file.damaged by the CLI of maria's %q, detail %q", i, ev, want[i].name, want[i].detail)
		}
	}
	if audit, err := f.eng.VerifyAudit(ctx); err != nil || audit.Broken != nil {
		t.Errorf("VerifyAudit after a repair: %+v, %v", audit.Broken, err)
	}

	// A second check reports the files as damaged, and marks nothing again.
	records = f.auditLen(t)
	again := verify(t, f.fixture, engine.VerifyOptions{Repair: true})
	sameLines(t, "problems of a second check", problems(again), []string{
		"damaged maria/relatorio-bomba-07.csv",
		"damaged maria/relatorio-bomba-08.csv",
		"damaged maria/relatorio-compressor-01.csv",
	})
	if again.Bytes != int64(len(sweepCSV)) {
		t.Errorf("a second check hashed %d bytes, want only the sound file's %d", again.Bytes, len(sweepCSV))
	}
	if n := f.auditLen(t); n != records {
		t.Errorf("a second repair wrote %d audit records", n-records)
	}
}

// A damaged file is hidden and refused, but can be deleted or sent again.
func TestDamagedFileServing(t *testing.T) {
	ctx := context.Background()
	f := newVerifyFixture(t)
	verify(t, f.fixture, engine.VerifyOptions{Repair: true})

	files, err := f.eng.List(ctx, f.maria)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name != f.sound.Name {
		t.Errorf("List shows %d files, want only %q", len(files), f.sound.Name)
	}
	for _, name := range []string{f.missing.Name, f.flipped.Name} {
		_, _, err := f.eng.Open(ctx, f.maria, name)
		wantCode(t, err, pmgsync.ENOTFOUND, pmgsync.MsgFileDamaged)
		if msg := pmgsync.ErrorMessage(pmgsync.PortugueseBR, err); !strings.Contains(msg, name) || !strings.Contains(msg, "enviado novamente") {
			t.Errorf("message of a damaged file: %q", msg)
		}
	}
	// The refusal is recorded, with the reason in English.
	all := f.audit(t)
	if last := all[len(all)-1]; last.Action != pmgsync.ActionDownload || last.Result != pmgsync.ENOTFOUND || !strings.Contains(last.Detail, "damaged") {
		t.Errorf("record of a refused download of a damaged file: %+v", last)
	}

	// A new upload replaces the damaged file, sound.
	if _, err := f.eng.Upload(ctx, f.maria, f.flipped.Name, strings.NewReader("x;y\n3;4\n"), -1); err != nil {
		t.Fatalf("upload over a damaged file: %v", err)
	}
	if got := f.content(t, f.maria, f.flipped.Name); got != "x;y\n3;4\n" {
		t.Errorf("content after the new upload = %q", got)
	}
	if f.blobExists(t, f.flipped.BlobKey) {
		t.Errorf("the damaged version's blob is left after its replacement")
	}
	// A delete removes it, blob and all.
	if _, err := f.eng.Delete(ctx, f.maria, f.short.Name); err != nil {
		t.Fatalf("delete of a damaged file: %v", err)
	}
	if f.blobExists(t, f.short.BlobKey) {
		t.Errorf("the deleted damaged file's blob is left")
	}
	files, err = f.eng.List(ctx, f.maria)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, file := range files {
		names = append(names, file.Name)
	}
	sameLines(t, "List after a replacement and a delete", names, []string{f.flipped.Name, f.sound.Name})
	// What is left damaged is the missing file, until it goes too.
	rep := verify(t, f.fixture, engine.VerifyOptions{})
	sameLines(t, "problems after a replacement and a delete", problems(rep), []string{"damaged maria/relatorio-bomba-07.csv"})

	// The sweep expires a damaged file like any other.
	f.now = f.now.Add(engine.DefaultRetention)
	if run := cleanup(t, f.fixture, engine.CleanupOptions{}); run.FilesRemoved != 3 || run.Errors != "" {
		t.Errorf("cleanup removed %d files (errors %q), want 3, the damaged one included", run.FilesRemoved, run.Errors)
	}
	if rep := verify(t, f.fixture, engine.VerifyOptions{}); len(rep.Problems) != 0 {
		t.Errorf("problems after the sweep: %q", problems(rep))
	}
}

// A file deleted or replaced while Verify runs is not a problem, and a mark
// never falls on the new version.
func TestVerifyFollowsConcurrentChange(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		repair bool
		// change runs after Verify listed the files: before it opens the
		// first blob, or, with hookMark, before it marks a file.
		change   func(t *testing.T, f *fixture, tech *pmgsync.Technician)
		hookMark bool
	}{
		{"deleted before its blob is read", false, func(t *testing.T, f *fixture, tech *pmgsync.Technician) {
			if _, err := f.eng.Delete(ctx, tech, "relatorio-bomba-07.csv"); err != nil {
				t.Error(err)
			}
		}, false},
		{"replaced before its blob is read", true, func(t *testing.T, f *fixture, tech *pmgsync.Technician) {
			mustUpload(t, f, tech, "relatorio-bomba-07.csv")
		}, false},
		{"replaced before it is marked", true, func(t *testing.T, f *fixture, tech *pmgsync.Technician) {
			mustUpload(t, f, tech, "relatorio-bomba-07.csv")
		}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			maria := f.technician(t, "maria")
			v1 := mustUpload(t, f, maria, "relatorio-bomba-07.csv")
			f.flipByte(t, v1.BlobKey, 0)
			hook := func() { tt.change(t, f, maria) }
			var blobs pmgsync.BlobStore = f.blobs
			meta := pmgsync.MetadataStore(f.meta)
			if tt.hookMark {
				meta = &hookedMark{MetadataStore: f.meta, beforeMark: hook}
			} else {
				blobs = &hookedBlobs{BlobStore: f.blobs, beforeOpen: hook}
			}
			eng := engine.New(meta, blobs, engine.Options{Now: func() time.Time { return f.now }})
			rep, err := eng.Verify(ctx, engine.VerifyOptions{Repair: tt.repair})
			if err != nil || len(rep.Errors) != 0 {
				t.Fatalf("Verify: %v, errors %v", err, rep.Errors)
			}
			if len(rep.Problems) != 0 {
				t.Errorf("problems: %q, want none", problems(rep))
			}
			if files, err := f.meta.Files(ctx, maria.ID); err == nil && len(files) == 1 && files[0].Damage != "" {
				t.Errorf("the new version was marked %q", files[0].Damage)
			}
		})
	}
}

// hookedMark runs beforeMark just before MarkDamaged reaches the store.
type hookedMark struct {
	pmgsync.MetadataStore
	beforeMark func()
}

func (h *hookedMark) MarkDamaged(ctx context.Context, id int64, damage, detail string, at time.Time) (*pmgsync.File, error) {
	h.beforeMark()
	return h.MetadataStore.MarkDamaged(ctx, id, damage, detail, at)
}

// A blob that cannot be read is an error of the check, not damage: the
// file is neither reported nor marked, and the rest is checked.
func TestVerifyUnreadableBlob(t *testing.T) {
	f := newFixture(t)
	maria := f.technician(t, "maria")
	bad := mustUpload(t, f, maria, "relatorio-bomba-07.csv")
	mustUpload(t, f, maria, "relatorio-bomba-08.csv")
	// A directory in the blob's place opens, but cannot be read.
	if err := os.Remove(f.blobPath(bad.BlobKey)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(f.blobPath(bad.BlobKey), 0o700); err != nil {
		t.Fatal(err)
	}
	rep, err := f.eng.Verify(context.Background(), engine.VerifyOptions{Repair: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(rep.Errors) != 1 || !strings.Contains(rep.Errors[0].Error(), bad.Name) {
		t.Errorf("errors = %v, want one naming %q", rep.Errors, bad.Name)
	}
	if len(rep.Problems) != 0 || rep.Files != 2 {
		t.Errorf("problems %q after %d files, want none after 2", problems(rep), rep.Files)
	}
	if got, err := f.meta.FileByName(context.Background(), maria.ID, bad.Name); err != nil || got.Damage != "" {
		t.Errorf("an unreadable file was marked %q (%v)", got.Damage, err)
	}
}

func TestVerifyInterrupted(t *testing.T) {
	f := newFixture(t)
	maria := f.technician(t, "maria")
	for i := range 3 {
		mustUpload(t, f, maria, fmt.Sprintf("relatorio-bomba-%02d.csv", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := f.eng.Verify(ctx, engine.VerifyOptions{Progress: func(p engine.VerifyProgress) {
		if p.Files == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Verify after cancel: %v, want context.Canceled", err)
	}
	if rep == nil || rep.Files != 1 {
		t.Errorf("report of an interrupted check: %+v, want 1 file checked", rep)
	}
}
