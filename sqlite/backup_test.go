package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// openDB opens the database at path, with the clock now (the system's if
// nil), and closes it when the test ends.
func openDB(t *testing.T, path string, now func() time.Time) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// finishInSnapshot takes a snapshot of db at path, saves the outcome of
// run in it and closes it, as a backup does, then opens it as a restore of
// that backup finds it: a database of its own, closed when the test ends.
func finishInSnapshot(t *testing.T, db *DB, path string, run *pmgsync.BackupRun) *DB {
	t.Helper()
	ctx := context.Background()
	snap, err := db.Snapshot(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.FinishBackupRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	return openDB(t, path, nil)
}

// TestBackupRuns records runs and reads them back, newest first, and by
// status.
func TestBackupRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 4, 5, 30, 0, 0, time.UTC)
	db := openDB(t, filepath.Join(t.TempDir(), "pmgsync.db"), func() time.Time { return t0 })
	ok := &pmgsync.BackupRun{Trigger: pmgsync.BackupTriggerSchedule, Path: "/var/backups/pmgsync/pmgsync-20261204-053000.tar.gz"}
	if err := db.StartBackupRun(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if ok.ID == 0 || !ok.StartedAt.Equal(t0) || ok.Status != pmgsync.BackupRunning {
		t.Errorf("started %+v", ok)
	}
	ok.Files, ok.Bytes, ok.ArchiveBytes, ok.Status = 12, 3400, 3000, pmgsync.BackupOK
	ok.FinishedAt = t0.Add(time.Minute)
	if err := db.FinishBackupRun(ctx, ok); err != nil {
		t.Fatal(err)
	}
	failed := &pmgsync.BackupRun{Trigger: pmgsync.BackupTriggerCommand, Path: "-"}
	if err := db.StartBackupRun(ctx, failed); err != nil {
		t.Fatal(err)
	}
	failed.Status, failed.Error = pmgsync.BackupFailed, "backup: write the archive: no space left on device"
	if err := db.FinishBackupRun(ctx, failed); err != nil {
		t.Fatal(err)
	}
	running := &pmgsync.BackupRun{Trigger: pmgsync.BackupTriggerCommand, Path: "b.tar.gz"}
	if err := db.StartBackupRun(ctx, running); err != nil {
		t.Fatal(err)
	}

	runs, err := db.BackupRuns(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].ID != running.ID || runs[1].ID != failed.ID || runs[2].ID != ok.ID {
		t.Fatalf("runs %+v", runs)
	}
	if got := *runs[2]; got != *ok {
		t.Errorf("read back %+v, want %+v", got, *ok)
	}
	if runs[1].Error != failed.Error || runs[1].Status != pmgsync.BackupFailed || !runs[1].FinishedAt.Equal(t0) {
		t.Errorf("failed run read back %+v", runs[1])
	}
	if !runs[0].FinishedAt.IsZero() || runs[0].Status != pmgsync.BackupRunning {
		t.Errorf("running run read back %+v", runs[0])
	}
	if got, err := db.BackupRuns(ctx, 10, pmgsync.BackupOK); err != nil || len(got) != 1 || got[0].ID != ok.ID {
		t.Errorf("ok runs %v %+v", err, got)
	}
	if got, err := db.BackupRuns(ctx, 0, ""); err != nil || got != nil {
		t.Errorf("limit 0: %v %+v", err, got)
	}
	if err := db.FinishBackupRun(ctx, &pmgsync.BackupRun{ID: 999}); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		t.Errorf("finish an unknown run: %v", err)
	}
}

// TestSnapshot takes a snapshot while a write transaction holds the lock,
// and finds in it what was committed before, but not the write in
// progress; the snapshot is one file, and its rows can be dropped without
// touching the database.
func TestSnapshot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "pmgsync.db"), nil)
	maria := &pmgsync.Technician{Name: "maria"}
	if err := db.CreateTechnician(ctx, maria); err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"} {
		f := &pmgsync.File{TechnicianID: maria.ID, Name: []string{"b.xlsx", "a.xlsx"}[i], Size: 10, SHA256: "00", BlobKey: key}
		if _, err := db.CommitFile(ctx, f, pmgsync.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	run := &pmgsync.BackupRun{Trigger: pmgsync.BackupTriggerCommand, Path: "x.tar.gz"}
	if err := db.StartBackupRun(ctx, run); err != nil {
		t.Fatal(err)
	}

	tx, err := db.writer.BeginTx(ctx, nil) // a writer holds the lock meanwhile
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO technicians (name, created_at) VALUES ('pedro', 1)`); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "staging", "pmgsync.db")
	os.Mkdir(filepath.Dir(path), 0o700)
	snap, err := db.Snapshot(ctx, path)
	if err != nil {
		t.Fatalf("snapshot while a write is in progress: %v", err)
	}
	defer snap.Close()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Snapshot(ctx, path); err == nil {
		t.Error("a second snapshot over the first succeeded")
	}

	var keys []string
	var ids []int64
	err = snap.Files(ctx, func(tech string, f *pmgsync.File) error {
		if tech != "maria" {
			t.Errorf("technician %q", tech)
		}
		keys = append(keys, f.BlobKey)
		ids = append(ids, f.ID)
		return nil
	})
	if err != nil || len(keys) != 2 || keys[0] > keys[1] {
		t.Fatalf("snapshot files %v %q, want both, by key", err, keys)
	}
	if techs, err := snap.Technicians(ctx); err != nil || techs != 1 {
		t.Errorf("technicians %d %v; want 1 (pedro came after)", techs, err)
	}
	if err := snap.DropFiles(ctx, ids[:1]); err != nil {
		t.Fatal(err)
	}
	run.Status, run.Files = pmgsync.BackupOK, 1
	if err := snap.FinishBackupRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := snap.Close(); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(path + "-*"); len(matches) != 0 {
		t.Errorf("the snapshot is not one file: %q", matches)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("snapshot file %v %v", fi, err)
	}
	if u, err := db.Stored(ctx); err != nil || u.Files != 2 {
		t.Errorf("the live database has %+v, %v; want its 2 files", u, err)
	}
	if runs, err := db.BackupRuns(ctx, 1, ""); err != nil || runs[0].Status != pmgsync.BackupRunning {
		t.Errorf("the live run %+v %v, want it running", runs, err)
	}
	restored := openDB(t, path, nil)
	if runs, err := restored.BackupRuns(ctx, 1, ""); err != nil || runs[0].Status != pmgsync.BackupOK || runs[0].Files != 1 {
		t.Errorf("the snapshot's run %+v %v", runs, err)
	}
	if u, err := restored.Stored(ctx); err != nil || u.Files != 1 {
		t.Errorf("the snapshot has %+v, %v; want 1 file", u, err)
	}
}

// TestSnapshotFinishClock finishes a snapshot's run without its time: it
// finishes at the store's clock.
func TestSnapshotFinishClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 4, 5, 30, 0, 0, time.UTC)
	db := openDB(t, filepath.Join(dir, "pmgsync.db"), func() time.Time { return t0 })
	run := &pmgsync.BackupRun{Trigger: pmgsync.BackupTriggerCommand, Path: "/var/backups/pmgsync/antes-da-atualizacao.tar.gz"}
	if err := db.StartBackupRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	run.Status = pmgsync.BackupOK
	restored := finishInSnapshot(t, db, filepath.Join(dir, "snapshot.db"), run)
	if runs, err := restored.BackupRuns(ctx, 1, ""); err != nil || !runs[0].FinishedAt.Equal(t0) {
		t.Errorf("the snapshot's run %+v %v; want it finished at %v", runs, err, t0)
	}
}

// TestSnapshotOtherRunsInterrupted takes a snapshot while another backup
// runs: in the snapshot, that run is finished as failed, interrupted,
// since no process of a directory restored from it runs it; in the live
// database it is still running.
func TestSnapshotOtherRunsInterrupted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 4, 5, 30, 0, 0, time.UTC)
	db := openDB(t, filepath.Join(dir, "pmgsync.db"), func() time.Time { return t0 })
	other := &pmgsync.BackupRun{Trigger: pmgsync.BackupTriggerSchedule, Path: "/var/backups/pmgsync/pmgsync-20261204-053000.tar.gz"}
	if err := db.StartBackupRun(ctx, other); err != nil {
		t.Fatal(err)
	}
	run := &pmgsync.BackupRun{Trigger: pmgsync.BackupTriggerCommand, Path: "/var/backups/pmgsync/antes-da-atualizacao.tar.gz"}
	if err := db.StartBackupRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	finished := t0.Add(time.Minute)
	run.Status, run.Files, run.FinishedAt = pmgsync.BackupOK, 3, finished
	restored := finishInSnapshot(t, db, filepath.Join(dir, "snapshot.db"), run)
	if runs, err := db.BackupRuns(ctx, 10, pmgsync.BackupRunning); err != nil || len(runs) != 2 {
		t.Errorf("the live database's running runs: %+v %v; want both", runs, err)
	}

	runs, err := restored.BackupRuns(ctx, 10, "")
	if err != nil || len(runs) != 2 {
		t.Fatalf("the snapshot's runs %+v %v", runs, err)
	}
	if got := runs[0]; got.ID != run.ID || got.Status != pmgsync.BackupOK || !got.FinishedAt.Equal(finished) {
		t.Errorf("the snapshot's own run %+v", got)
	}
	if got := runs[1]; got.ID != other.ID || got.Status != pmgsync.BackupFailed || !got.FinishedAt.Equal(finished) ||
		!strings.Contains(got.Error, "interrupted: still running when backup #2 took its snapshot") {
		t.Errorf("the other run in the snapshot %+v; want it failed, interrupted", got)
	}
}
