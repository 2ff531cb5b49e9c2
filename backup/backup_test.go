package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// TestBackupRestore backs up a store with two technicians, replaced and
// deleted files, restores it into a new directory and finds the same
// files, the backup in the source's history and audit trail, and the
// restore in the restored audit trail, whose chain is intact.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	ctx := pmgsync.WithActor(context.Background(), pmgsync.Actor{Kind: pmgsync.ActorCLI, Name: "ops"})
	src := openStore(t, t.TempDir())
	src.upload("maria", "relatorio-bomba-07.csv", report(1, 300<<10))
	src.upload("maria", "relatorio-bomba-08.csv", report(2, 10))
	src.upload("maria", "relatorio-bomba-08.csv", report(3, 20)) // replaces the first version
	src.upload("João Silva", "inspeção.csv", report(4, 5000))
	src.upload("João Silva", "apagado.csv", report(5, 5000))
	src.remove("João Silva", "apagado.csv")
	src.tech("pedro") // no files
	want := src.contents()

	path := filepath.Join(t.TempDir(), "pmgsync.tar.gz")
	var last Progress
	res, err := src.source().ToFile(ctx, path, Options{Progress: func(p Progress) { last = p }})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	run := res.Run
	if run.Status != pmgsync.BackupOK || run.Files != 3 || run.Bytes != 300<<10+20+5000 || run.Path != path ||
		run.Trigger != pmgsync.BackupTriggerCommand || run.FinishedAt.IsZero() {
		t.Errorf("run %+v", run)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != run.ArchiveBytes {
		t.Errorf("archive: %v, size %v, recorded %d", err, fi, run.ArchiveBytes)
	}
	if last != (Progress{Files: 3, TotalFiles: 3, Bytes: run.Bytes, TotalBytes: run.Bytes}) {
		t.Errorf("last progress %+v", last)
	}
	if m := res.Manifest; m.Files != 3 || m.Technicians != 3 || m.DroppedCount != 0 || m.DamagedCount != 0 || m.PmgsyncVersion != "v1.2.3-test" {
		t.Errorf("manifest %+v", m)
	}
	if staging, _ := filepath.Glob(filepath.Join(src.dir, stagingPrefix+"*")); len(staging) != 0 {
		t.Errorf("staging left behind: %q", staging)
	}
	if partial, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*partial*")); len(partial) != 0 {
		t.Errorf("temporary archive left behind: %q", partial)
	}

	// The archive's entries, as tar tzf lists them.
	names := entryNames(t, path)
	if len(names) != 6 || names[0] != headerEntry || names[4] != databaseEntry || names[5] != manifestEntry ||
		!slices.IsSorted(names[1:4]) || !strings.HasPrefix(names[1], "blobs/") {
		t.Errorf("entries %q", names)
	}

	runs, err := src.db.BackupRuns(ctx, 10, "")
	if err != nil || len(runs) != 1 || runs[0].Status != pmgsync.BackupOK || runs[0].ArchiveBytes != run.ArchiveBytes {
		t.Errorf("history %v %+v", err, runs)
	}
	if ev := lastAudit(t, src, pmgsync.ActionBackup); ev == nil || ev.Result != pmgsync.BackupOK || ev.ActorName != "ops" ||
		!strings.Contains(ev.Detail, "3 files") {
		t.Errorf("audit record of the backup: %+v", ev)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	restored, err := Restore(ctx, mustOpen(t, path), dst, RestoreOptions{Source: path})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if restored.MovedAside != "" || restored.Manifest.Files != 3 || restored.Manifest.BackupRun != run.ID {
		t.Errorf("restored %+v", restored)
	}
	if got := siblings(t, dst); !slices.Equal(got, []string{"restored"}) {
		t.Errorf("beside the restored directory: %q", got)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("restored directory: %v %v", fi, err)
	}
	out := openStore(t, dst)
	if got := out.contents(); !maps.Equal(got, want) {
		t.Errorf("restored files %d, want %d", len(got), len(want))
	}
	if techs, err := out.engine.Technicians(ctx); err != nil || len(techs) != 3 {
		t.Errorf("restored technicians: %v %d", err, len(techs))
	}
	ev := lastAudit(t, out, pmgsync.ActionRestore)
	if ev == nil || ev.ActorName != "ops" || !strings.Contains(ev.Detail, "from "+path) || !strings.Contains(ev.Detail, "3 files") {
		t.Errorf("audit record of the restore: %+v", ev)
	}
	if rep, err := out.engine.VerifyAudit(ctx); err != nil || rep.Broken != nil {
		t.Errorf("restored audit trail: %v %v", err, rep.Broken)
	}
	// The restored history shows the backup it came from, finished.
	runs, err = out.db.BackupRuns(ctx, 10, "")
	if err != nil || len(runs) != 1 || runs[0].ID != run.ID || runs[0].Status != pmgsync.BackupOK || runs[0].Files != 3 {
		t.Errorf("restored history %v %+v", err, runs)
	}
}

// TestBackupWhileFilesChange commits files between the backup's two
// passes and deletes some after its snapshot: a file committed after the
// first pass is archived through the second; one deleted after the
// snapshot is left out and reported; one deleted before it is not there.
func TestBackupWhileFilesChange(t *testing.T) {
	t.Parallel()
	src := openStore(t, t.TempDir())
	src.upload("maria", "antes.csv", report(1, 1000))
	src.upload("maria", "apagado-antes.csv", report(2, 1000))
	src.upload("maria", "apagado-depois.csv", report(3, 1000))
	src.tech("pedro")
	h := hooks{
		afterLink: func() {
			src.remove("maria", "apagado-antes.csv")
			src.upload("pedro", "entre.csv", report(4, 1000))
			src.upload("pedro", "entre-apagado.csv", report(5, 1000))
		},
		afterSnapshot: func() {
			src.remove("maria", "apagado-depois.csv") // linked by the first pass: kept
			src.remove("pedro", "entre-apagado.csv")  // not linked yet: left out
		},
	}
	path, res, err := backupFileWith(t, src, h)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if m.DroppedCount != 1 || len(m.Dropped) != 1 || m.Dropped[0].Name != "entre-apagado.csv" || m.Dropped[0].Technician != "pedro" {
		t.Errorf("dropped %d %+v", m.DroppedCount, m.Dropped)
	}
	if res.Run.Status != pmgsync.BackupOK || res.Run.Files != 3 {
		t.Errorf("run %+v", res.Run)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restoreFile(t, path, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(maps.Keys(openStore(t, dst).contents()))
	if want := []string{"maria/antes.csv", "maria/apagado-depois.csv", "pedro/entre.csv"}; !slices.Equal(got, want) {
		t.Errorf("restored %q, want %q", got, want)
	}
}

// TestBackupFileReplacedAfterSnapshot commits a first version of a report
// after the first pass of links and replaces it after the snapshot, as an
// app that retries an upload whose answer was lost does: the first
// version's blob is gone by the second pass, and the archive holds the
// second version, not nothing.
func TestBackupFileReplacedAfterSnapshot(t *testing.T) {
	t.Parallel()
	src := openStore(t, t.TempDir())
	src.upload("maria", "antes.csv", report(1, 1000))
	second := report(3, 1500)
	h := hooks{
		afterLink: func() { src.upload("maria", "relatorio-bomba-07.csv", report(2, 1000)) },
		afterSnapshot: func() {
			src.upload("maria", "relatorio-bomba-07.csv", second) // removes the first version's blob
		},
	}
	path, res, err := backupFileWith(t, src, h)
	if err != nil {
		t.Fatal(err)
	}
	if m := res.Manifest; m.DroppedCount != 0 || m.DamagedCount != 0 || m.Files != 2 || m.Bytes != 2500 {
		t.Errorf("manifest: %d files, %d bytes, dropped %+v, damaged %+v", m.Files, m.Bytes, m.Dropped, m.Damaged)
	}
	if res.Run.Status != pmgsync.BackupOK || res.Run.Files != 2 {
		t.Errorf("run %+v", res.Run)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restoreFile(t, path, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	out := openStore(t, dst)
	if got := out.contents(); len(got) != 2 || got["maria/relatorio-bomba-07.csv"] != string(second) {
		t.Errorf("restored %d files; relatorio-bomba-07.csv is %d bytes, want the second version's %d",
			len(got), len(got["maria/relatorio-bomba-07.csv"]), len(second))
	}
	live, err := src.db.FileByName(context.Background(), src.tech("maria").ID, "relatorio-bomba-07.csv")
	if err != nil {
		t.Fatal(err)
	}
	restored, err := out.db.FileByName(context.Background(), out.tech("maria").ID, "relatorio-bomba-07.csv")
	if err != nil || restored.ID != live.ID || restored.BlobKey != live.BlobKey || !restored.UploadedAt.Equal(live.UploadedAt) {
		t.Errorf("restored row %+v (%v), want the live one %+v", restored, err, live)
	}
}

// TestBackupDamagedBlob damages two blobs on disk, one in its bytes and
// one in its size: the backup writes the archive without them, fails with
// a DamagedError naming them and pointing at verify --repair, and records
// the run as damaged; the archive restores the rest.
func TestBackupDamagedBlob(t *testing.T) {
	t.Parallel()
	src := openStore(t, t.TempDir())
	src.upload("maria", "bom.csv", report(1, 4000))
	flipped := src.upload("maria", "relatorio-bomba-07.csv", report(2, 4000))
	cut := src.upload("pedro", "cortado.csv", report(3, 4000))
	flipByte(t, src.blobPath(flipped), 1234)
	if err := os.Truncate(src.blobPath(cut), 100); err != nil {
		t.Fatal(err)
	}

	path, res, err := backupFile(t, src, Options{})
	var damaged *DamagedError
	if !errors.As(err, &damaged) || !errors.Is(err, ErrDamaged) || damaged.Count != 2 {
		t.Fatalf("backup: %v, want a DamagedError of 2 files", err)
	}
	for _, want := range []string{`"relatorio-bomba-07.csv" of "maria" (SHA-256 `, `"cortado.csv" of "pedro" (100 bytes on disk, 4000 recorded)`, "pmgsync verify --repair"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if res.Run.Status != pmgsync.BackupDamaged || res.Run.Files != 1 || !strings.Contains(res.Run.Error, "cortado.csv") {
		t.Errorf("run %+v", res.Run)
	}
	if res.Manifest.DamagedCount != 2 || len(res.Manifest.Damaged) != 2 {
		t.Errorf("manifest damaged %+v", res.Manifest.Damaged)
	}
	if runs, err := src.db.BackupRuns(context.Background(), 1, ""); err != nil || runs[0].Status != pmgsync.BackupDamaged {
		t.Errorf("history %v %+v", err, runs)
	}
	if ev := lastAudit(t, src, pmgsync.ActionBackup); ev == nil || ev.Result != pmgsync.BackupDamaged {
		t.Errorf("audit record %+v", ev)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	restored, err := restoreFile(t, path, dst, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if restored.Manifest.DamagedCount != 2 {
		t.Errorf("restored manifest %+v", restored.Manifest)
	}
	out := openStore(t, dst)
	if got := slices.Sorted(maps.Keys(out.contents())); !slices.Equal(got, []string{"maria/bom.csv"}) {
		t.Errorf("restored %q", got)
	}
	if ev := lastAudit(t, out, pmgsync.ActionRestore); ev == nil || !strings.Contains(ev.Detail, "2 damaged files") {
		t.Errorf("audit record of the restore: %+v", ev)
	}
}

// TestBackupMissingBlob removes a live file's blob from disk, as a lost
// disk block or a hand's rm would: the backup does not take it for a file
// deleted while it ran, but reports it as damaged (missing), loudly, and
// the run as damaged.
func TestBackupMissingBlob(t *testing.T) {
	t.Parallel()
	src := openStore(t, t.TempDir())
	src.upload("maria", "bom.csv", report(1, 4000))
	lost := src.upload("maria", "relatorio-bomba-07.csv", report(2, 4000))
	if err := os.Remove(src.blobPath(lost)); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	s := src.source()
	s.Logger = slog.New(slog.NewTextHandler(&log, nil))
	path := filepath.Join(t.TempDir(), "pmgsync.tar.gz")
	res, err := s.ToFile(context.Background(), path, Options{})
	var damaged *DamagedError
	if !errors.As(err, &damaged) || damaged.Count != 1 || !strings.Contains(err.Error(), `"relatorio-bomba-07.csv" of "maria" (missing from disk)`) {
		t.Fatalf("backup: %v, want a DamagedError naming the missing file", err)
	}
	if m := res.Manifest; m.DroppedCount != 0 || m.DamagedCount != 1 || m.Files != 1 {
		t.Errorf("manifest: %d files, dropped %+v, damaged %+v", m.Files, m.Dropped, m.Damaged)
	}
	if res.Run.Status != pmgsync.BackupDamaged {
		t.Errorf("run %+v", res.Run)
	}
	if want := `level=ERROR msg="backup: DAMAGED FILE left out of the backup`; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := restoreFile(t, path, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(openStore(t, dst).contents())); !slices.Equal(got, []string{"maria/bom.csv"}) {
		t.Errorf("restored %q", got)
	}
}

// TestBackupMarkedDamaged backs up a store where "pmgsync verify --repair"
// has marked a corrupt file and a missing one damaged: the backup leaves
// their bytes out without counting the run as damaged, lists them apart,
// and the restored database keeps them marked, so that the restored
// server tells their technicians to send them again.
func TestBackupMarkedDamaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := openStore(t, t.TempDir())
	src.upload("maria", "bom.csv", report(1, 4000))
	corrupt := src.upload("maria", "relatorio-bomba-07.csv", report(2, 4000))
	missing := src.upload("pedro", "inspeção.csv", report(3, 4000))
	flipByte(t, src.blobPath(corrupt), 10)
	if err := os.Remove(src.blobPath(missing)); err != nil {
		t.Fatal(err)
	}
	if rep, err := src.engine.Verify(ctx, engine.VerifyOptions{Repair: true}); err != nil || rep.Repaired(engine.ProblemCorrupt) != 1 || rep.Repaired(engine.ProblemMissing) != 1 {
		t.Fatalf("verify --repair: %v %+v", err, rep)
	}

	path, res, err := backupFile(t, src, Options{})
	if err != nil {
		t.Fatalf("backup: %v, want no error for files already marked damaged", err)
	}
	m := res.Manifest
	if res.Run.Status != pmgsync.BackupOK || m.Files != 1 || m.DamagedCount != 0 || m.MarkedDamagedCount != 2 || len(m.MarkedDamaged) != 2 {
		t.Fatalf("run %+v, manifest: %d files, damaged %+v, marked %d %+v", res.Run, m.Files, m.Damaged, m.MarkedDamagedCount, m.MarkedDamaged)
	}
	if got := m.MarkedDamaged[0].String() + "; " + m.MarkedDamaged[1].String(); !strings.Contains(got, `"relatorio-bomba-07.csv" of "maria" (marked corrupt`) ||
		!strings.Contains(got, `"inspeção.csv" of "pedro" (marked missing`) {
		t.Errorf("marked %s", got)
	}

	dst := filepath.Join(t.TempDir(), "restored")
	restored, err := restoreFile(t, path, dst, RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if restored.Manifest.MarkedDamagedCount != 2 {
		t.Errorf("restored manifest %+v", restored.Manifest)
	}
	out := openStore(t, dst)
	if got := slices.Sorted(maps.Keys(out.contents())); !slices.Equal(got, []string{"maria/bom.csv"}) {
		t.Errorf("restored %q", got)
	}
	f, err := out.db.FileByName(ctx, out.tech("maria").ID, "relatorio-bomba-07.csv")
	if err != nil || f.Damage != pmgsync.DamageCorrupt {
		t.Errorf("restored row of the corrupt file: %+v %v; want it marked corrupt", f, err)
	}
	if ev := lastAudit(t, out, pmgsync.ActionRestore); ev == nil || !strings.Contains(ev.Detail, "2 files marked damaged") {
		t.Errorf("audit record of the restore: %+v", ev)
	}
	if rep, err := out.engine.Verify(ctx, engine.VerifyOptions{}); err != nil || rep.Count(engine.ProblemDamaged) != 2 || len(rep.Problems) != 2 {
		t.Errorf("verify of the restored directory: %v %+v", err, rep)
	}
}

// TestRemoveStaleStaging leaves a staging directory as a backup that died
// would, beside one that a running backup holds: only the first goes.
func TestRemoveStaleStaging(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	live, err := newStaging(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()
	stale := filepath.Join(dir, stagingPrefix+"123")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "pmgsync.db"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "blobs")
	os.Mkdir(other, 0o700)
	n, err := RemoveStaleStaging(context.Background(), dir)
	if err != nil || n != 1 {
		t.Fatalf("RemoveStaleStaging = %d, %v; want 1", n, err)
	}
	for path, want := range map[string]bool{stale: false, live.dir: true, other: true} {
		if _, err := os.Stat(path); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", path, err == nil, want)
		}
	}
}

// TestBackupRemovesStaleStaging leaves the staging directory of a backup
// that died in the data directory, which no server start has removed:
// the next backup removes it, and leaves alone that of a backup running.
func TestBackupRemovesStaleStaging(t *testing.T) {
	t.Parallel()
	src := openStore(t, t.TempDir())
	src.upload("maria", "relatorio-bomba-07.csv", report(1, 1000))
	stale := filepath.Join(src.dir, stagingPrefix+"123")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	live, err := newStaging(src.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()
	if _, _, err := backupFile(t, src, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead backup's staging directory is still there: %v", err)
	}
	if _, err := os.Stat(live.dir); err != nil {
		t.Errorf("the running backup's staging directory: %v", err)
	}
}

// TestRemoveStalePartials leaves in a backup directory the temporary
// archive of a backup that died, beside that of a backup writing (which
// the sweep runs in the middle of) and files of other names: only the
// first goes, and the running backup completes.
func TestRemoveStalePartials(t *testing.T) {
	t.Parallel()
	src := openStore(t, t.TempDir())
	src.upload("maria", "relatorio-bomba-07.csv", report(1, 1000))
	dir := t.TempDir()
	stale := filepath.Join(dir, ".pmgsync-20261203-053000.tar.gz.partial-123")
	other := filepath.Join(dir, ".relatorio.tar.gz.partial-1")
	for _, p := range []string{stale, other, filepath.Join(dir, "pmgsync-20261202-053000.tar.gz")} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	isArchive := func(name string) bool {
		return strings.HasPrefix(name, "pmgsync-") && strings.HasSuffix(name, ".tar.gz")
	}
	var n int
	var sweepErr error
	path := filepath.Join(dir, "pmgsync-20261204-053000.tar.gz")
	s := src.source()
	s.hooks.afterSnapshot = func() { n, sweepErr = RemoveStalePartials(context.Background(), dir, isArchive) }
	if _, err := s.ToFile(context.Background(), path, Options{}); err != nil {
		t.Fatalf("the backup during the sweep: %v", err)
	}
	if sweepErr != nil || n != 1 {
		t.Errorf("RemoveStalePartials = %d, %v; want 1", n, sweepErr)
	}
	if got, want := names(t, dir), []string{".relatorio.tar.gz.partial-1", "pmgsync-20261202-053000.tar.gz", "pmgsync-20261204-053000.tar.gz"}; !slices.Equal(got, want) {
		t.Errorf("the backup directory holds %q, want %q", got, want)
	}
}

// entryNames lists the entries of the archive at path.
func entryNames(t *testing.T, path string) []string {
	t.Helper()
	gz, err := gzip.NewReader(mustOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.PAXRecords[paxSHA256] == "" {
			t.Errorf("entry %s has no SHA-256", hdr.Name)
		}
		names = append(names, hdr.Name)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// flipByte inverts the bits of the byte at off of the file at path.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// lastAudit returns the store's latest audit record of action, or nil.
func lastAudit(t *testing.T, s *store, action string) *pmgsync.AuditEvent {
	t.Helper()
	var last *pmgsync.AuditEvent
	err := s.engine.AuditEvents(context.Background(), pmgsync.AuditFilter{Action: action}, func(ev *pmgsync.AuditEvent) error {
		last = ev
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}
