package engine_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// sweepCSV is a small valid report: the type checks accept it as CSV.
const sweepCSV = "a;b\n1;2\n"

const week = 7 * 24 * time.Hour

// sweepUpload uploads sweepCSV as tech's file name.
func sweepUpload(ctx context.Context, f *fixture, tech *pmgsync.Technician, name string) (*pmgsync.File, error) {
	return f.eng.Upload(ctx, tech, name, strings.NewReader(sweepCSV), int64(len(sweepCSV)))
}

func mustUpload(t *testing.T, f *fixture, tech *pmgsync.Technician, name string) *pmgsync.File {
	t.Helper()
	file, err := sweepUpload(context.Background(), f, tech, name)
	if err != nil {
		t.Fatalf("upload %q: %v", name, err)
	}
	return file
}

// storedNames returns the names of the rows tech has in the metadata
// store, expired or not.
func storedNames(t *testing.T, f *fixture, tech *pmgsync.Technician) []string {
	t.Helper()
	files, err := f.meta.Files(context.Background(), tech.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, file := range files {
		names = append(names, file.Name)
	}
	return names
}

// sweepRecorder is a Progress function that keeps "technician/name" lines.
type sweepRecorder struct{ got []string }

func (r *sweepRecorder) progress(technician string, f *pmgsync.File) {
	r.got = append(r.got, technician+"/"+f.Name)
}

func cleanup(t *testing.T, f *fixture, opts engine.CleanupOptions) *pmgsync.CleanupRun {
	t.Helper()
	run, err := f.eng.Cleanup(context.Background(), opts)
	if err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	return run
}

// rawDB opens the fixture's SQLite file beside the store, to write rows
// that no API would write.
func rawDB(t *testing.T, f *fixture) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.dir, "pmgsync.db")+"?_busy_timeout=10000&_pragma=cache_size(-65536)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// insertFiles adds n rows of sweepCSV-sized files named prefix-000000… to
// tech, uploaded from `from` on, one nanosecond apart, with random blob
// keys that no blob has. It is one statement, so one transaction, that
// SQLite runs on its own: row by row from Go, it takes far longer under the
// race detector.
func insertFiles(t *testing.T, db *sql.DB, tech *pmgsync.Technician, prefix string, n int, from time.Time) {
	t.Helper()
	sum := sha256.Sum256([]byte(sweepCSV))
	_, err := db.ExecContext(context.Background(), `WITH RECURSIVE seq(i) AS (
			SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?)
		INSERT INTO files (technician_id, name, size, sha256, blob_key, uploaded_at)
		SELECT ?, printf('%s-%06d.csv', ?, i), ?, ?, lower(hex(randomblob(16))), ? + i FROM seq`,
		n, tech.ID, prefix, len(sweepCSV), hex.EncodeToString(sum[:]), from.UnixNano())
	if err != nil {
		t.Fatal(err)
	}
}

// Files expire retention after their upload, to the nanosecond: the engine
// hides them at once, and the sweep removes them and their blobs.
func TestCleanupRemovesExpiredFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao := f.technician(t, "joao")
	older := mustUpload(t, f, joao, "older.csv") // at t0
	f.now = t0.Add(1)
	mustUpload(t, f, joao, "exact.csv")
	f.now = t0.Add(2)
	mustUpload(t, f, joao, "younger.csv")
	if n := f.blobCount(t); n != 3 {
		t.Fatalf("%d blobs, want 3", n)
	}

	// older.csv is 7 days + 1ns old, exact.csv exactly 7 days: both expired.
	// younger.csv is 7 days - 1ns old: live.
	f.now = t0.Add(week + 1)

	// Before any sweep, clients no longer see the expired files.
	live, err := f.eng.List(ctx, joao)
	if err != nil {
		t.Fatal(err)
	}
	if len(live) != 1 || live[0].Name != "younger.csv" || !live[0].ExpiresAt.Equal(t0.Add(2+week)) {
		t.Errorf("List = %v, want only younger.csv, expiring at %v", live, t0.Add(2+week))
	}
	for _, name := range []string{"older.csv", "exact.csv"} {
		if _, _, err := f.eng.Open(ctx, joao, name); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			t.Errorf("Open(%s): %v, want ENOTFOUND", name, err)
		}
		if _, err := f.eng.Delete(ctx, joao, name); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			t.Errorf("Delete(%s): %v, want ENOTFOUND", name, err)
		}
	}
	if got := f.content(t, joao, "younger.csv"); got != sweepCSV {
		t.Errorf("younger.csv = %q", got)
	}
	// Hidden is not removed: the rows and blobs wait for the sweep.
	if got := storedNames(t, f, joao); len(got) != 3 {
		t.Errorf("stored before the sweep: %v", got)
	}

	var rec sweepRecorder
	run := cleanup(t, f, engine.CleanupOptions{Trigger: engine.TriggerSchedule, Progress: rec.progress})
	if want := []string{"joao/older.csv", "joao/exact.csv"}; !slices.Equal(rec.got, want) {
		t.Errorf("progress = %v, want %v (oldest first)", rec.got, want)
	}
	if run.FilesRemoved != 2 || run.BytesRemoved != 2*int64(len(sweepCSV)) || run.Errors != "" || run.DryRun ||
		run.Trigger != engine.TriggerSchedule || !run.StartedAt.Equal(f.now) || !run.FinishedAt.Equal(f.now) {
		t.Errorf("run = %+v", run)
	}
	if got := storedNames(t, f, joao); !slices.Equal(got, []string{"younger.csv"}) {
		t.Errorf("stored after the sweep: %v", got)
	}
	if n := f.blobCount(t); n != 1 {
		t.Errorf("%d blobs after the sweep, want 1", n)
	}
	if _, err := f.blobs.Open(ctx, older.BlobKey); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		t.Errorf("older.csv's blob: %v, want ENOTFOUND", err)
	}
	if got := f.content(t, joao, "younger.csv"); got != sweepCSV {
		t.Errorf("younger.csv = %q", got)
	}

	// A sweep with nothing to do is recorded too.
	if run := cleanup(t, f, engine.CleanupOptions{}); run.FilesRemoved != 0 || run.Trigger != engine.TriggerManual {
		t.Errorf("second run = %+v", run)
	}
}

func TestCleanupPerTechnicianRetention(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao, maria, pedro := f.technician(t, "joao"), f.technician(t, "maria"), f.technician(t, "pedro")
	maria.Retention = 30 * 24 * time.Hour
	pedro.Retention = 24 * time.Hour
	for _, tech := range []*pmgsync.Technician{maria, pedro} {
		if err := f.meta.UpdateTechnician(ctx, tech); err != nil {
			t.Fatal(err)
		}
	}
	for _, tech := range []*pmgsync.Technician{joao, maria, pedro} {
		mustUpload(t, f, tech, "semana.csv")
	}
	f.now = t0.Add(2 * 24 * time.Hour)
	mustUpload(t, f, pedro, "hoje.csv")

	// Two days on: only pedro's first file (kept for one day) has expired.
	var rec sweepRecorder
	cleanup(t, f, engine.CleanupOptions{Progress: rec.progress})
	if want := []string{"pedro/semana.csv"}; !slices.Equal(rec.got, want) {
		t.Errorf("after 2 days, removed %v, want %v", rec.got, want)
	}

	// Eight days on: joao's (7 days) and pedro's second too; maria keeps hers
	// for 30 days.
	f.now = t0.Add(8 * 24 * time.Hour)
	rec.got = nil
	run := cleanup(t, f, engine.CleanupOptions{Progress: rec.progress})
	if want := []string{"joao/semana.csv", "pedro/hoje.csv"}; !slices.Equal(rec.got, want) || run.FilesRemoved != 2 {
		t.Errorf("after 8 days, removed %v (%d), want %v", rec.got, run.FilesRemoved, want)
	}
	if got := f.content(t, maria, "semana.csv"); got != sweepCSV {
		t.Errorf("maria's file = %q", got)
	}
	if got := storedNames(t, f, maria); len(got) != 1 {
		t.Errorf("maria stores %v", got)
	}
}

func TestCleanupDryRun(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao := f.technician(t, "joao")
	mustUpload(t, f, joao, "velho.csv")
	f.now = t0.Add(6 * 24 * time.Hour)
	mustUpload(t, f, joao, "novo.csv")
	orphan := f.orphanBlob(t, t0)
	f.now = t0.Add(week)

	var rec sweepRecorder
	run := cleanup(t, f, engine.CleanupOptions{DryRun: true, Progress: rec.progress})
	if !slices.Equal(rec.got, []string{"joao/velho.csv"}) {
		t.Errorf("dry run reports %v, want joao/velho.csv", rec.got)
	}
	if !run.DryRun || run.FilesRemoved != 1 || run.BytesRemoved != int64(len(sweepCSV)) || run.OrphansRemoved != 0 || run.Errors != "" {
		t.Errorf("dry run = %+v", run)
	}
	if got := storedNames(t, f, joao); len(got) != 2 {
		t.Errorf("stored after the dry run: %v", got)
	}
	if n := f.blobCount(t); n != 3 {
		t.Errorf("%d blobs after the dry run, want 3 (two files and the orphan)", n)
	}
	history, err := f.eng.CleanupHistory(ctx, 5)
	if err != nil || len(history) != 1 || !history[0].DryRun || history[0].FilesRemoved != 1 {
		t.Errorf("history = %v, %v; want the dry run", history, err)
	}

	// The real run does what the dry run said, and removes the orphan.
	rec.got = nil
	run = cleanup(t, f, engine.CleanupOptions{Progress: rec.progress})
	if !slices.Equal(rec.got, []string{"joao/velho.csv"}) || run.FilesRemoved != 1 || run.OrphansRemoved != 1 {
		t.Errorf("real run removed %v, run %+v", rec.got, run)
	}
	if _, err := f.blobs.Open(ctx, orphan); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		t.Errorf("orphan: %v, want ENOTFOUND", err)
	}
}

// orphanBlob commits a blob that no file references, last modified at
// modTime, and returns its key. The sweep's grace period compares a blob's
// modification time with the engine's clock, so the test sets the file's
// time through localfs's layout (<dir>/<kk>/<key>).
func (f *fixture) orphanBlob(t *testing.T, modTime time.Time) string {
	t.Helper()
	w, err := f.blobs.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("orphan"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	key := w.Key()
	if err := os.Chtimes(filepath.Join(f.dir, "blobs", key[:2], key), modTime, modTime); err != nil {
		t.Fatal(err)
	}
	return key
}

func TestCleanupOrphanGrace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.now = t0.Add(time.Hour)
	old := f.orphanBlob(t, f.now.Add(-engine.OrphanGrace-time.Second))
	young := f.orphanBlob(t, f.now.Add(-engine.OrphanGrace+time.Second))
	run := cleanup(t, f, engine.CleanupOptions{})
	if run.OrphansRemoved != 1 {
		t.Errorf("OrphansRemoved = %d, want 1", run.OrphansRemoved)
	}
	if _, err := f.blobs.Open(ctx, old); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		t.Errorf("old orphan: %v, want ENOTFOUND", err)
	}
	rc, err := f.blobs.Open(ctx, young)
	if err != nil {
		t.Fatalf("an orphan younger than the grace period was removed: %v", err)
	}
	rc.Close()
}

// A blob already gone is no error; a blob the store refuses to delete is
// recorded, and the sweep goes on.
func TestCleanupBlobErrors(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao := f.technician(t, "joao")
	gone := mustUpload(t, f, joao, "sem-blob.csv")
	if err := f.blobs.Delete(ctx, gone.BlobKey); err != nil {
		t.Fatal(err)
	}
	mustUpload(t, f, joao, "normal.csv")
	db := rawDB(t, f)
	if _, err := db.ExecContext(ctx, `INSERT INTO files (technician_id, name, size, sha256, blob_key, uploaded_at)
		VALUES (?, 'chave-ruim.csv', 1, '', 'not-a-blob-key', ?)`, joao.ID, t0.UnixNano()); err != nil {
		t.Fatal(err)
	}
	f.now = t0.Add(week)

	run := cleanup(t, f, engine.CleanupOptions{})
	if run.FilesRemoved != 3 {
		t.Errorf("FilesRemoved = %d, want 3", run.FilesRemoved)
	}
	lines := strings.Split(run.Errors, "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "not-a-blob-key") || !strings.Contains(lines[0], "chave-ruim.csv") {
		t.Errorf("Errors = %q, want one line about the bad key only", run.Errors)
	}
	if got := storedNames(t, f, joao); len(got) != 0 {
		t.Errorf("stored after the sweep: %v", got)
	}
	if n := f.blobCount(t); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	history, err := f.eng.CleanupHistory(ctx, 1)
	if err != nil || len(history) != 1 || history[0].Errors != run.Errors {
		t.Errorf("history = %v, %v; want the run with its errors", history, err)
	}
}

func TestCleanupLock(t *testing.T) {
	ctx := context.Background()

	t.Run("a second sweep while one runs", func(t *testing.T) {
		f := newFixture(t)
		joao := f.technician(t, "joao")
		mustUpload(t, f, joao, "a.csv")
		f.now = t0.Add(week)
		var second error
		first := cleanup(t, f, engine.CleanupOptions{Progress: func(string, *pmgsync.File) {
			_, second = f.eng.Cleanup(ctx, engine.CleanupOptions{DryRun: true})
		}})
		if !pmgsync.IsCode(second, pmgsync.ECONFLICT) {
			t.Fatalf("second Cleanup: %v, want ECONFLICT", second)
		}
		want := fmt.Sprintf("a cleanup is already running (started by #%d, 2026-12-08 09:00:00 UTC); try again when it ends", first.ID)
		if got := pmgsync.ErrorMessage(pmgsync.English, second); got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
		if got := pmgsync.ErrorMessage(pmgsync.PortugueseBR, second); !strings.Contains(got, "uma limpeza já está em andamento") {
			t.Errorf("pt-BR message = %q", got)
		}
		if first.FilesRemoved != 1 || first.Errors != "" {
			t.Errorf("first run = %+v", first)
		}
		// The refused sweep did nothing and left no record; the lock is free again.
		if history, _ := f.eng.CleanupHistory(ctx, 10); len(history) != 1 {
			t.Errorf("%d runs recorded, want 1", len(history))
		}
		cleanup(t, f, engine.CleanupOptions{})
	})

	t.Run("a sweeper that died holds the lock until its lease ends", func(t *testing.T) {
		f := newFixture(t)
		joao := f.technician(t, "joao")
		mustUpload(t, f, joao, "a.csv")
		f.now = t0.Add(week)
		// Another process took the lock, recorded its run and died.
		dead := &pmgsync.CleanupRun{Trigger: engine.TriggerSchedule, StartedAt: f.now}
		if err := f.meta.StartCleanupRun(ctx, dead); err != nil {
			t.Fatal(err)
		}
		if ok, err := f.meta.TryLock(ctx, "cleanup", "other-host pid 1 x", f.now, f.now.Add(engine.CleanupLease)); !ok || err != nil {
			t.Fatalf("TryLock = %v, %v", ok, err)
		}
		f.now = f.now.Add(engine.CleanupLease - 1)
		_, err := f.eng.Cleanup(ctx, engine.CleanupOptions{})
		if !pmgsync.IsCode(err, pmgsync.ECONFLICT) || !strings.Contains(err.Error(), fmt.Sprintf("#%d,", dead.ID)) {
			t.Fatalf("Cleanup during the lease: %v, want ECONFLICT naming run %d", err, dead.ID)
		}
		if got := storedNames(t, f, joao); len(got) != 1 {
			t.Errorf("the refused sweep removed files: %v", got)
		}
		f.now = f.now.Add(1)
		if run := cleanup(t, f, engine.CleanupOptions{}); run.FilesRemoved != 1 {
			t.Errorf("after the lease: %+v", run)
		}
	})

	t.Run("a sweep that loses its lock stops", func(t *testing.T) {
		f := newFixture(t)
		ana, bruno := f.technician(t, "ana"), f.technician(t, "bruno")
		mustUpload(t, f, ana, "a.csv")
		mustUpload(t, f, bruno, "b.csv")
		f.now = t0.Add(week)
		// The sweep stalls for longer than its lease, and another takes over.
		run, err := f.eng.Cleanup(ctx, engine.CleanupOptions{Progress: func(string, *pmgsync.File) {
			f.now = f.now.Add(engine.CleanupLease)
			if ok, err := f.meta.TryLock(ctx, "cleanup", "thief", f.now, f.now.Add(engine.CleanupLease)); !ok || err != nil {
				t.Errorf("TryLock after the lease = %v, %v", ok, err)
			}
		}})
		if err == nil || run == nil || !strings.Contains(run.Errors, "another sweep took it") {
			t.Fatalf("Cleanup = %+v, %v; want an error about the lost lock", run, err)
		}
		if run.FilesRemoved != 1 || len(storedNames(t, f, bruno)) != 1 || run.FinishedAt.IsZero() {
			t.Errorf("run = %+v; want it stopped after ana's batch, and recorded", run)
		}
	})
}

func TestCleanupInterrupted(t *testing.T) {
	f := newFixture(t)
	ana, bruno := f.technician(t, "ana"), f.technician(t, "bruno")
	mustUpload(t, f, ana, "a1.csv")
	mustUpload(t, f, ana, "a2.csv")
	mustUpload(t, f, bruno, "b.csv")
	f.now = t0.Add(week)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run, err := f.eng.Cleanup(ctx, engine.CleanupOptions{Progress: func(string, *pmgsync.File) { cancel() }})
	if !errors.Is(err, context.Canceled) || run == nil {
		t.Fatalf("Cleanup = %v, %v; want the run and an error wrapping context.Canceled", run, err)
	}
	// The batch under way is finished, rows and blobs; bruno's waits.
	if run.FilesRemoved != 2 || !strings.Contains(run.Errors, "interrupted") || run.FinishedAt.IsZero() {
		t.Errorf("run = %+v", run)
	}
	if n := f.blobCount(t); n != 1 {
		t.Errorf("%d blobs, want bruno's only", n)
	}
	history, err := f.eng.CleanupHistory(context.Background(), 1)
	if err != nil || len(history) != 1 || history[0].Errors != run.Errors || history[0].FilesRemoved != 2 {
		t.Errorf("history = %v, %v; want the interrupted run", history, err)
	}
	// The lock was released: the next sweep finishes the work.
	if run := cleanup(t, f, engine.CleanupOptions{}); run.FilesRemoved != 1 {
		t.Errorf("next run = %+v", run)
	}
}

func TestCleanupHistory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	joao := f.technician(t, "joao")
	mustUpload(t, f, joao, "a.csv")
	f.now = t0.Add(week)
	dry := cleanup(t, f, engine.CleanupOptions{DryRun: true})
	f.now = f.now.Add(time.Hour)
	real := cleanup(t, f, engine.CleanupOptions{Trigger: engine.TriggerSchedule})
	if _, err := f.eng.Cleanup(ctx, engine.CleanupOptions{Trigger: "cron"}); err == nil {
		t.Error("an unknown trigger was accepted")
	}

	history, err := f.eng.CleanupHistory(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(history) != 2 {
		t.Fatalf("%d runs, want 2", len(history))
	}
	for i, want := range []*pmgsync.CleanupRun{real, dry} {
		if got := history[i]; *got != *want {
			t.Errorf("history[%d] = %+v, want %+v", i, got, want)
		}
	}
	if want := (pmgsync.CleanupRun{ID: real.ID, Trigger: "schedule", StartedAt: t0.Add(week + time.Hour),
		FinishedAt: t0.Add(week + time.Hour), FilesRemoved: 1, BytesRemoved: int64(len(sweepCSV))}); *real != want {
		t.Errorf("run = %+v, want %+v", real, want)
	}
	if history, err := f.eng.CleanupHistory(ctx, 1); err != nil || len(history) != 1 || history[0].ID != real.ID {
		t.Errorf("CleanupHistory(1) = %v, %v", history, err)
	}
}

// The sweep of 100,000 expired files goes in short batches: uploads of the
// same technician keep succeeding while it runs.
func TestCleanupLargeSweepWhileUploading(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts 100,000 rows")
	}
	const expired = 100_000
	ctx := context.Background()
	f := newFixture(t)
	tech := f.technician(t, "carga")
	start := time.Now()
	insertFiles(t, rawDB(t, f), tech, "antigo", expired, f.now.Add(-8*24*time.Hour))
	t.Logf("inserted %d rows in %v", expired, time.Since(start))

	const uploaders = 4
	var (
		stop      = make(chan struct{})
		ready     sync.WaitGroup
		wg        sync.WaitGroup
		uploads   atomic.Int64
		slowestNs atomic.Int64
	)
	ready.Add(uploaders)
	for g := range uploaders {
		wg.Go(func() {
			for i := 0; ; i++ {
				began := time.Now()
				if _, err := sweepUpload(ctx, f, tech, fmt.Sprintf("novo-%d-%d.csv", g, i)); err != nil {
					t.Errorf("upload during the sweep: %v", err)
					if i == 0 {
						ready.Done()
					}
					return
				}
				took := int64(time.Since(began))
				for old := slowestNs.Load(); took > old && !slowestNs.CompareAndSwap(old, took); old = slowestNs.Load() {
				}
				uploads.Add(1)
				if i == 0 {
					ready.Done()
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		})
	}
	ready.Wait() // every uploader is under way

	start = time.Now()
	before := uploads.Load()
	run, err := f.eng.Cleanup(ctx, engine.CleanupOptions{})
	during := uploads.Load() - before
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("swept %d files in %v; %d uploads meanwhile, the slowest in %v",
		run.FilesRemoved, time.Since(start), during, time.Duration(slowestNs.Load()))

	if run.FilesRemoved != expired || run.BytesRemoved != expired*int64(len(sweepCSV)) || run.Errors != "" {
		t.Errorf("run = %+v", run)
	}
	if during < uploaders {
		t.Errorf("only %d uploads completed during the sweep", during)
	}
	history, err := f.eng.CleanupHistory(ctx, 1)
	if err != nil || len(history) != 1 || history[0].FilesRemoved != expired {
		t.Errorf("history = %v, %v", history, err)
	}
	// Left: exactly the uploads, each with its content.
	stored, err := f.meta.Files(ctx, tech.ID)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(stored)) != uploads.Load() {
		t.Errorf("%d files stored, want the %d uploads", len(stored), uploads.Load())
	}
	for _, file := range stored {
		if !strings.HasPrefix(file.Name, "novo-") {
			t.Fatalf("%s survived the sweep", file.Name)
		}
		if got := f.content(t, tech, file.Name); got != sweepCSV {
			t.Fatalf("%s = %q", file.Name, got)
		}
	}
}
