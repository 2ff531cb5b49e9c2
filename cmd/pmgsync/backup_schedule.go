package main

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/backup"
	"github.com/pmgsync/pmgsync/metrics"
	"github.com/pmgsync/pmgsync/schedule"
	"github.com/pmgsync/pmgsync/units"
)

// scheduledName matches the names of the scheduled backups' archives,
// pmgsync-YYYYMMDD-HHMMSS.tar.gz in UTC, which sort by time; the keeping of
// backup-keep of them considers no other file of backup-dir.
var scheduledName = regexp.MustCompile(`^pmgsync-[0-9]{8}-[0-9]{6}\.tar\.gz$`)

// startBackups runs in the background, until ctx is done: the removal of
// the staging directories of backups that died, then, unless sched (the
// backup schedule) is nil for off, the scheduled backups. Like
// startScheduler it logs the schedule and its next run first.
func (m *Main) startBackups(ctx context.Context, sched *schedule.Schedule) {
	m.background.Go(func() {
		n, err := backup.RemoveStaleStaging(ctx, m.Config.DataDir)
		if err != nil {
			m.Logger.Error("removal of the staging directories of dead backups failed", "removed", n, "err", err)
		} else if n > 0 {
			m.Logger.Info("removed the staging directories of dead backups", "count", n)
		}
	})
	if sched != nil {
		if runs, err := m.DB.BackupRuns(ctx, 1, pmgsync.BackupOK); err == nil && len(runs) > 0 {
			m.Metrics.LastBackup(runs[0].FinishedAt)
		}
	}
	m.startScheduled(ctx, sched, m.Config.BackupSchedule,
		"scheduled backups are off: run \"pmgsync backup --out FILE\" to take one", "backups scheduled",
		[]any{"dir", m.Config.BackupDir, "keep", m.Config.BackupKeep}, m.scheduledBackup)
}

// scheduledBackup takes one scheduled backup into backup-dir, logs its
// outcome (a failure or damage as an error, loudly), counts it, and after
// a backup without damage removes the oldest beyond backup-keep. After a
// damaged one it removes nothing: the older archives may hold good copies
// of the damaged files. First it removes the temporary files of archives
// (.pmgsync-*.tar.gz.partial-*) that backups which died left there, but
// not those of backups still writing, which lock them.
func (m *Main) scheduledBackup(ctx context.Context, sched *schedule.Schedule) {
	dir := m.Config.BackupDir
	path := filepath.Join(dir, "pmgsync-"+m.Now().UTC().Format("20060102-150405")+".tar.gz")
	// A failure shows as the run's own, which names the path.
	_ = os.MkdirAll(dir, 0o700)
	if n, err := backup.RemoveStalePartials(ctx, dir, isBackupArchive); err != nil && !errors.Is(err, fs.ErrNotExist) {
		m.Logger.Warn("the temporary files of dead backups could not all be removed", "dir", dir, "removed", n, "err", err)
	} else if n > 0 {
		m.Logger.Info("removed the temporary files of dead backups", "dir", dir, "count", n)
	}
	res, err := m.backupSource().ToFile(ctx, path, backup.Options{Trigger: pmgsync.BackupTriggerSchedule})
	next := slog.String("next", formatNext(sched, m.Now()))
	var attrs []any
	result := metrics.BackupFailed
	if res != nil {
		run := res.Run
		attrs = []any{"run", run.ID, "path", run.Path, "files", run.Files, "size", units.FormatSize(run.Bytes),
			"archive", units.FormatSize(run.ArchiveBytes), "duration", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond)}
		if run.Status == pmgsync.BackupOK || run.Status == pmgsync.BackupDamaged {
			result = run.Status
		}
		m.Metrics.Backup(result, run.FinishedAt)
	} else {
		m.Metrics.Backup(result, time.Time{})
	}
	switch {
	case err == nil:
		m.Logger.Info("scheduled backup done", append(attrs, next)...)
		m.pruneBackups(dir, path)
	case errors.Is(err, backup.ErrDamaged):
		m.Logger.Error("SCHEDULED BACKUP DAMAGED: files missing from disk or no longer matching their SHA-256 were left out; older backups are kept",
			append(attrs, "err", err, next)...)
	case ctx.Err() != nil:
		m.Logger.Warn("scheduled backup interrupted by the shutdown", append(attrs, "err", err)...)
	default:
		m.Logger.Error("SCHEDULED BACKUP FAILED", append(attrs, "err", err, next)...)
	}
}

// isBackupArchive reports whether name is that of an archive of
// pmgsync's, whose temporary files RemoveStalePartials may remove from
// backup-dir: pmgsync-*.tar.gz.
func isBackupArchive(name string) bool {
	return strings.HasPrefix(name, "pmgsync-") && strings.HasSuffix(name, ".tar.gz")
}

// pruneBackups removes the oldest scheduled archives of dir beyond
// backup-keep, by name, but never written, the archive just written: after
// the clock went back, it has the oldest name. What it cannot remove is
// logged and retried next time.
func (m *Main) pruneBackups(dir, written string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		m.Logger.Warn("old backups not removed", "dir", dir, "err", err)
		return
	}
	var names []string
	keep := m.Config.BackupKeep
	for _, e := range entries {
		if !e.Type().IsRegular() || !scheduledName.MatchString(e.Name()) {
			continue
		}
		if e.Name() == filepath.Base(written) {
			keep-- // kept, and counted
			continue
		}
		names = append(names, e.Name())
	}
	slices.Sort(names)
	for len(names) > max(keep, 0) {
		path := filepath.Join(dir, names[0])
		names = names[1:]
		if err := os.Remove(path); err != nil {
			m.Logger.Warn("old backup not removed", "path", path, "err", err)
			continue
		}
		m.Logger.Info("old backup removed", "path", path, "keep", m.Config.BackupKeep)
	}
}
