package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/schedule"
)

// TestBackupCommands runs backup (to a file and to standard output),
// backup history and restore in this process, with their mistakes.
func TestBackupCommands(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	if _, stderr, code := runWithEnv(nil, "token", "create", "--technician", "maria", "--data", data); code != 0 {
		t.Fatal(stderr)
	}
	account := filepath.Join(data, "acme", "acme-v02.api.letsencrypt.org", "acme_account+key")
	if err := os.MkdirAll(filepath.Dir(account), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(account, []byte("-----BEGIN EC PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "pmgsync.tar.gz")
	stdout, stderr, code := runWithEnv(nil, "backup", "--out", archive, "--data", data)
	if code != 0 || !strings.HasPrefix(stdout, "Backup #1 written to "+archive+" in ") || !strings.Contains(stdout, ": 0 files (0 bytes), archive ") {
		t.Errorf("backup: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// To standard output, the archive alone; the summary on standard error.
	stdout, stderr, code = runWithEnv(map[string]string{"PMGSYNC_DATA": data}, "backup", "--out", "-")
	if code != 0 || !strings.HasPrefix(stdout, "\x1f\x8b") || !strings.HasPrefix(stderr, "Backup #2 written to standard output in ") {
		t.Errorf("backup --out -: exit %d, %d bytes, stderr %q", code, len(stdout), stderr)
	}
	piped := filepath.Join(t.TempDir(), "piped.tar.gz")
	if err := os.WriteFile(piped, []byte(stdout), 0o600); err != nil {
		t.Fatal(err)
	}

	stdout, _, code = runWithEnv(nil, "backup", "history", "--data", data)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || len(lines) != 3 || !slices.Equal(strings.Fields(lines[0]), []string{"ID", "START", "END", "TRIGGER", "STATUS", "FILES", "BYTES", "ARCHIVE", "PATH"}) ||
		!strings.Contains(lines[1], " command  ok ") || !strings.HasSuffix(lines[1], " -") || !strings.HasSuffix(lines[2], archive) {
		t.Errorf("backup history: exit %d:\n%s", code, stdout)
	}

	restored := filepath.Join(t.TempDir(), "restored")
	stdout, stderr, code = runWithEnv(nil, "restore", piped, "--data", restored)
	if code != 0 || !strings.Contains(stdout, "Restored 0 files (0 bytes) of 1 technician: backup #2, taken ") ||
		!strings.Contains(stdout, "The ACME account and certificates of the HTTPS server were restored (1 file).") {
		t.Errorf("restore: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_, stderr, code = runWithEnv(nil, "restore", archive, "--data", restored)
	if code != 1 || !strings.Contains(stderr, "the directory is not empty: restore into a new directory, or use --force") {
		t.Errorf("restore into a non-empty directory: exit %d, stderr %q", code, stderr)
	}
	stdout, _, code = runWithEnv(nil, "restore", archive, "--data", restored, "--force")
	if code != 0 || !strings.Contains(stdout, "The previous contents of "+restored+" were moved to "+restored+"/.before-restore-") {
		t.Errorf("restore --force: exit %d, stdout %q", code, stdout)
	}
	if err := os.WriteFile(piped, []byte(stdout)[:0], 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runWithEnv(nil, "restore", piped, "--data", filepath.Join(t.TempDir(), "x"))
	if code != 1 || !strings.Contains(stderr, "not a pmgsync backup: the input is empty") {
		t.Errorf("restore of an empty file: exit %d, stderr %q", code, stderr)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "--data", data}, "--out is required"},
		{[]string{"backup", "extra", "--out", "x", "--data", data}, `unexpected argument "extra"`},
		{[]string{"backup", "history", "--limit", "0", "--data", data}, "--limit must be positive"},
		{[]string{"restore", "--data", data}, "missing the backup file to restore"},
	} {
		if _, stderr, code := runWithEnv(nil, tt.args...); code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("pmgsync %q: exit %d, stderr %q; want 2, %q", tt.args, code, stderr, tt.want)
		}
	}
}

// TestBackupDamagedExitStatus damages a blob: the backup writes its
// archive, exits with status 3 and names the file. Once "verify --repair"
// has marked the file damaged, a backup exits with status 0 and lists it
// apart, and so does the restore of that backup.
func TestBackupDamagedExitStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	tech, err := m.Engine.AddTechnician(ctx, "maria", "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Engine.Upload(ctx, tech, "relatorio-bomba-07.xlsx", bytes.NewReader(xlsx([]byte("bomba 7"))), -1)
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	blob := filepath.Join(cfg.DataDir, "blobs", f.BlobKey[:2], f.BlobKey)
	if err := os.WriteFile(blob, bytes.Repeat([]byte{0}, int(f.Size)), 0o600); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "pmgsync.tar.gz")
	_, stderr, code := runWithEnv(nil, "backup", "--out", archive, "--data", cfg.DataDir)
	if code != exitProblems || !strings.Contains(stderr, `"relatorio-bomba-07.xlsx" of "maria"`) || !strings.Contains(stderr, "pmgsync verify --repair") {
		t.Errorf("backup: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(archive); err != nil {
		t.Errorf("no archive: %v", err)
	}

	if _, stderr, code := runWithEnv(nil, "verify", "--repair", "--data", cfg.DataDir); code != exitProblems {
		t.Fatalf("verify --repair: exit %d, stderr %q", code, stderr)
	}
	stdout, stderr, code := runWithEnv(nil, "backup", "--out", archive, "--data", cfg.DataDir)
	want := "1 file already marked damaged (pmgsync verify --repair): in the backup as records only, still marked; " +
		"their technicians must send them again:\n  \"relatorio-bomba-07.xlsx\" of \"maria\" (marked corrupt on "
	if code != 0 || !strings.Contains(stdout, want) {
		t.Errorf("backup after verify --repair: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	stdout, stderr, code = runWithEnv(nil, "restore", archive, "--data", filepath.Join(t.TempDir(), "restored"))
	if code != 0 || !strings.Contains(stdout, "1 file already marked damaged when that backup was taken: restored as records only, still marked") {
		t.Errorf("restore: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestScheduledBackups runs the scheduled backup at three times: the
// archives are named by the time, the oldest beyond backup-keep is
// removed, and each run is in the history and the metrics. A failed run
// is logged as an error and counted; after a damaged one nothing is
// removed.
func TestScheduledBackups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	cfg.BackupSchedule, cfg.BackupDir, cfg.BackupKeep = "30 2 * * *", filepath.Join(t.TempDir(), "backups"), 2
	var log syncBuffer
	now := time.Date(2026, 12, 4, 5, 30, 0, 0, time.UTC)
	m := NewMain(cfg, slog.New(slog.NewTextHandler(&log, nil)))
	m.Now = func() time.Time { return now }
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tech, err := m.Engine.AddTechnician(ctx, "maria", "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := m.Engine.Upload(ctx, tech, "relatorio-bomba-07.xlsx", bytes.NewReader(xlsx([]byte("bomba 7"))), -1)
	if err != nil {
		t.Fatal(err)
	}
	sched, err := schedule.Parse(cfg.BackupSchedule, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	// What a backup killed while it wrote leaves, and the temporary file
	// of a "pmgsync backup --out" writing into the same directory, which
	// locks it.
	if err := os.MkdirAll(cfg.BackupDir, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(cfg.BackupDir, ".pmgsync-20261203-053000.tar.gz.partial-123")
	writing := filepath.Join(cfg.BackupDir, ".pmgsync-antes-da-atualizacao.tar.gz.partial-456")
	for _, p := range []string{stale, writing} {
		if err := os.WriteFile(p, []byte("\x1f\x8b"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	lock, err := os.Open(writing)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m.scheduledBackup(ctx, sched)
		now = now.Add(24 * time.Hour)
	}
	if got := dirNames(t, cfg.BackupDir); !slices.Equal(got, []string{filepath.Base(writing), "pmgsync-20261205-053000.tar.gz", "pmgsync-20261206-053000.tar.gz"}) {
		t.Errorf("backup-dir holds %q", got)
	}
	for _, want := range []string{
		`msg="old backup removed" path=` + filepath.Join(cfg.BackupDir, "pmgsync-20261204-053000.tar.gz"),
		`msg="removed the temporary files of dead backups" dir=` + cfg.BackupDir + " count=1",
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}

	// A damaged blob: the archive is written, nothing is removed.
	blob := filepath.Join(cfg.DataDir, "blobs", f.BlobKey[:2], f.BlobKey)
	if err := os.Truncate(blob, 3); err != nil {
		t.Fatal(err)
	}
	m.scheduledBackup(ctx, sched)
	now = now.Add(24 * time.Hour)
	if got := dirNames(t, cfg.BackupDir); len(got) != 4 {
		t.Errorf("after a damaged backup, backup-dir holds %q, want all 3", got)
	}
	if want := `level=ERROR msg="SCHEDULED BACKUP DAMAGED`; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}

	// A backup-dir that cannot be a directory: the run fails, loudly.
	m.Config.BackupDir = filepath.Join(cfg.BackupDir, "pmgsync-20261205-053000.tar.gz", "sub")
	m.scheduledBackup(ctx, sched)
	if want := `level=ERROR msg="SCHEDULED BACKUP FAILED"`; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}

	runs, err := m.DB.BackupRuns(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, r := range runs {
		if r.Trigger != pmgsync.BackupTriggerSchedule {
			t.Errorf("run %d triggered by %q", r.ID, r.Trigger)
		}
		statuses = append(statuses, r.Status)
	}
	if want := []string{"failed", "damaged", "ok", "ok", "ok"}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %q, want %q", statuses, want)
	}

	rec := httptest.NewRecorder()
	m.Metrics.Handler(m.Logger).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`pmgsync_backup_runs_total{result="ok"} 3`,
		`pmgsync_backup_runs_total{result="damaged"} 1`,
		`pmgsync_backup_runs_total{result="failed"} 1`,
		fmt.Sprintf("pmgsync_backup_last_success_timestamp_seconds %s",
			strconv.FormatFloat(float64(time.Date(2026, 12, 6, 5, 30, 0, 0, time.UTC).Unix()), 'g', -1, 64)),
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestScheduledBackupClockSkew takes a scheduled backup after the clock
// went back a week (a wrong NTP source, then corrected): its archive has
// the oldest name of backup-dir, and it is kept all the same; the oldest
// of the others goes.
func TestScheduledBackupClockSkew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr = t.TempDir(), "127.0.0.1:0"
	cfg.BackupSchedule, cfg.BackupDir, cfg.BackupKeep = "30 2 * * *", filepath.Join(t.TempDir(), "backups"), 2
	now := time.Date(2026, 12, 4, 5, 30, 0, 0, time.UTC)
	m := NewMain(cfg, slog.New(slog.DiscardHandler))
	m.Now = func() time.Time { return now }
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sched, err := schedule.Parse(cfg.BackupSchedule, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{now, now.Add(24 * time.Hour), now.Add(-7 * 24 * time.Hour)} {
		now = at
		m.scheduledBackup(ctx, sched)
	}
	if got, want := dirNames(t, cfg.BackupDir), []string{"pmgsync-20261127-053000.tar.gz", "pmgsync-20261205-053000.tar.gz"}; !slices.Equal(got, want) {
		t.Errorf("backup-dir holds %q, want %q", got, want)
	}
}
