package pmgsync

import "time"

// What started a backup run (BackupRun.Trigger).
const (
	BackupTriggerSchedule = "schedule" // the server's backup-schedule
	BackupTriggerCommand  = "command"  // "pmgsync backup"
)

// The outcomes of a backup run (BackupRun.Status).
const (
	// BackupRunning: the run has not finished, or its process died.
	BackupRunning = "running"
	// BackupOK: the archive is complete and holds every file of the
	// snapshot (less those deleted while it was taken).
	BackupOK = "ok"
	// BackupDamaged: the archive is complete, but some files' bytes did
	// not match their recorded SHA-256 and were left out of it; Error
	// names them.
	BackupDamaged = "damaged"
	// BackupFailed: no usable archive was written; Error says why.
	BackupFailed = "failed"
)

// BackupRun is the record of one backup of the data directory.
type BackupRun struct {
	ID           int64
	Trigger      string // BackupTriggerSchedule or BackupTriggerCommand
	StartedAt    time.Time
	FinishedAt   time.Time // zero while it runs, or if its process died
	Path         string    // the archive written; "-" for standard output
	Files        int64     // files in the archive
	Bytes        int64     // their total size
	ArchiveBytes int64     // size of the compressed archive
	Status       string    // one of the Backup* statuses
	Error        string    // what went wrong, or which files were damaged; "" if nothing
}
