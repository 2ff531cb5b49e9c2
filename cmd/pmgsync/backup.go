package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/backup"
	"github.com/pmgsync/pmgsync/units"
)

// backupSource is the data directory of m as a backup's source.
func (m *Main) backupSource() *backup.Source {
	return &backup.Source{Dir: m.Config.DataDir, DB: m.DB, Blobs: m.Blobs, Version: binaryVersion(), Now: m.Now, Logger: m.Logger}
}

// runBackup is "pmgsync backup" and "pmgsync backup history".
func runBackup(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "history" {
		return runBackupHistory(ctx, e, args[1:])
	}
	const cmd = "backup"
	fs := newFlagSet(e, cmd, "--out FILE|- [--data DIR] [--config FILE]",
		"Writes a backup of the data directory, taken while the server runs and\n"+
			"accepts uploads, to FILE: a tar.gz archive (\"tar tzf FILE\" lists it) of a\n"+
			"consistent snapshot of the database and of every file it references, with a\n"+
			"manifest of the SHA-256 of every entry. FILE is written under a temporary\n"+
			"name and renamed only when complete; an existing FILE is replaced then.\n"+
			"\"--out -\" writes the archive to standard output. The run is recorded (see\n"+
			"\"pmgsync backup history\") and in the audit trail. Files deleted while the\n"+
			"backup runs may be left out; the summary says how many.\n\n"+
			"Exit status: 0 done; 1 no archive was written; 3 the archive was written, but\n"+
			"files missing from disk or whose bytes no longer match their SHA-256 were\n"+
			"left out of it: they are named, and \"pmgsync verify --repair\" marks them as\n"+
			"damaged.\n\n"+
			"  pmgsync backup history [--limit N]   lists the latest runs")
	cf := adminFlags(fs)
	out := fs.String("out", "", "the archive `file` to write, or - for standard output")
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	if *out == "" {
		return cmdUsageErrorf(cmd, "--out is required: the archive file to write, or - for standard output")
	}
	if *out == "-" && isTerminal(e.stdout) {
		return cmdUsageErrorf(cmd, "standard output is a terminal: redirect it to a file, or give --out FILE")
	}
	// A write to a pipe whose reader is gone ("--out - | head", an ssh that
	// drops) must fail with EPIPE, so that the run is recorded as failed
	// and its staging removed, rather than kill the process with SIGPIPE,
	// which Go does for a write to standard output or error unless the
	// signal is notified.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)
	return withAdmin(ctx, e, cf, func(m *Main) error {
		// With the archive on standard output, everything else goes to
		// standard error.
		msgs := e.stdout
		if *out == "-" {
			msgs = e.stderr
		}
		progress := newTransferProgress(e.stderr, "backup")
		opts := backup.Options{Trigger: pmgsync.BackupTriggerCommand, Progress: progress.update}
		var res *backup.Result
		var err error
		if *out == "-" {
			res, err = m.backupSource().ToWriter(ctx, e.stdout, "-", opts)
		} else {
			res, err = m.backupSource().ToFile(ctx, *out, opts)
		}
		progress.done()
		if res == nil {
			return err
		}
		printBackupSummary(msgs, res)
		if errors.Is(err, backup.ErrDamaged) {
			return &statusError{code: exitProblems, err: err}
		}
		return err
	})
}

// printBackupSummary says what a backup wrote, and what it left out.
func printBackupSummary(w io.Writer, res *backup.Result) {
	run := res.Run
	if run.Status == pmgsync.BackupFailed {
		fmt.Fprintf(w, "Backup #%d failed; no archive was written.\n", run.ID)
		return
	}
	where := run.Path
	if where == "-" {
		where = "standard output"
	}
	fmt.Fprintf(w, "Backup #%d written to %s in %s: %s (%s), archive %s.\n", run.ID, where,
		run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond), plural(run.Files, "file"),
		units.FormatSize(run.Bytes), units.FormatSize(run.ArchiveBytes))
	m := res.Manifest
	if m == nil {
		return
	}
	if m.DroppedCount > 0 {
		fmt.Fprintf(w, "%s deleted while the backup ran, after its snapshot, left out.\n", plural(m.DroppedCount, "file"))
	}
	printMarkedDamaged(w, m, "(pmgsync verify --repair): in the backup as records only, still marked")
}

// printMarkedDamaged lists the files of m that "pmgsync verify --repair"
// had marked damaged, and says what became of them.
func printMarkedDamaged(w io.Writer, m *backup.Manifest, what string) {
	if m.MarkedDamagedCount == 0 {
		return
	}
	fmt.Fprintf(w, "%s already marked damaged %s; their technicians must send them again:\n",
		plural(m.MarkedDamagedCount, "file"), what)
	for _, f := range m.MarkedDamaged {
		fmt.Fprintf(w, "  %s\n", f)
	}
	if more := m.MarkedDamagedCount - int64(len(m.MarkedDamaged)); more > 0 {
		fmt.Fprintf(w, "  and %d more\n", more)
	}
}

func runBackupHistory(ctx context.Context, e *env, args []string) error {
	cf, limit, err := parseHistory(e, "backup history",
		"Lists the latest backup runs, newest first: scheduled and by command. A run\n"+
			"without an end is running, or its process died. BYTES is the size of the\n"+
			"files archived, ARCHIVE that of the compressed archive. The errors of the\n"+
			"runs listed are shown under the table.", args)
	if err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		runs, err := m.DB.BackupRuns(ctx, limit, "")
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			fmt.Fprintln(e.stderr, "No backup has run yet.")
			return nil
		}
		t := newTable(e.stdout, "ID", "START", "END", "TRIGGER", "STATUS", "FILES", "BYTES", "ARCHIVE", "PATH")
		for _, run := range runs {
			t.row(strconv.FormatInt(run.ID, 10), formatTime(run.StartedAt, toSecond, ""),
				formatTime(run.FinishedAt, toSecond, "unfinished"), run.Trigger, run.Status,
				strconv.FormatInt(run.Files, 10), units.FormatSize(run.Bytes), units.FormatSize(run.ArchiveBytes), run.Path)
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, run := range runs {
			if run.Error != "" {
				fmt.Fprintf(e.stdout, "\nRun #%d: %s\n", run.ID, run.Error)
			}
		}
		return nil
	})
}

// runRestore is "pmgsync restore".
func runRestore(ctx context.Context, e *env, args []string) error {
	const cmd = "restore"
	fs := newFlagSet(e, cmd, "FILE|- [--data DIR] [--config FILE] [--force]",
		"Restores the backup FILE (- for standard input) into the data directory, which\n"+
			"must not exist or be empty. Every entry is checked against its SHA-256 as it\n"+
			"is read, the whole against the manifest and the database against the files;\n"+
			"the archive is extracted inside the directory, into DIR/.restore-*, and put\n"+
			"in place only when all of it has been checked, so a corrupt or truncated\n"+
			"archive changes nothing. The directory itself is never renamed: it may be a\n"+
			"mount point (a container's volume). The database is brought up to this\n"+
			"pmgsync's schema and the restore is recorded in its audit trail. The data\n"+
			"directory is --data, or comes from the config file or PMGSYNC_DATA, as for the\n"+
			"server: stop the server first. With --force, the contents of a directory that\n"+
			"is not empty are moved, whole, into DIR/.before-restore-YYYYMMDD-HHMMSS:\n"+
			"nothing is deleted.")
	cf := adminFlags(fs)
	force := fs.Bool("force", false, "restore into a directory that is not empty, moving its contents aside")
	file, err := parseOne(fs, cmd, "the backup file to restore", args)
	if err != nil {
		return err
	}
	if file == "-" && isTerminal(os.Stdin) {
		return cmdUsageErrorf(cmd, "standard input is a terminal: pipe the backup into it, or give its file")
	}
	cfg, err := cf.load(e.lookupEnv)
	if err != nil {
		return err
	}
	in, name := io.Reader(os.Stdin), "standard input"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("open the backup: %w", err)
		}
		defer f.Close()
		in, name = f, file
	}
	fmt.Fprintf(e.stdout, "Restoring %s into %s (from %s).\n", name, cfg.DataDir, cfg.Source("data"))
	progress := newTransferProgress(e.stderr, "restore")
	res, err := backup.Restore(ctx, in, cfg.DataDir, backup.RestoreOptions{Force: *force, Source: name, Progress: progress.update})
	progress.done()
	if err != nil {
		return err
	}
	if res.Resumed {
		fmt.Fprintf(e.stdout, "An earlier restore into %s, interrupted while it put its files in place, was finished first.\n", cfg.DataDir)
	}
	m := res.Manifest
	fmt.Fprintf(e.stdout, "Restored %s (%s) of %s: backup #%d, taken %s by pmgsync %s.\n",
		plural(m.Files, "file"), units.FormatSize(m.Bytes), plural(m.Technicians, "technician"),
		m.BackupRun, formatTime(m.CreatedAt, toSecond, "-"), m.PmgsyncVersion)
	if m.DroppedCount > 0 {
		fmt.Fprintf(e.stdout, "%s deleted while that backup ran were left out of it.\n", plural(m.DroppedCount, "file"))
	}
	if m.DamagedCount > 0 {
		fmt.Fprintf(e.stdout, "%s were damaged when that backup was taken and are not in it:\n", plural(m.DamagedCount, "file"))
		for _, f := range m.Damaged {
			fmt.Fprintf(e.stdout, "  %s\n", f)
		}
	}
	printMarkedDamaged(e.stdout, m, "when that backup was taken: restored as records only, still marked")
	if m.ACMEFiles > 0 {
		fmt.Fprintf(e.stdout, "The ACME account and certificates of the HTTPS server were restored (%s).\n", plural(m.ACMEFiles, "file"))
	}
	if res.MovedAside != "" {
		fmt.Fprintf(e.stdout, "The previous contents of %s were moved to %s; remove them once the restore is checked.\n",
			cfg.DataDir, res.MovedAside)
		if _, err := os.Stat(filepath.Join(res.MovedAside, "acme")); err == nil && m.ACMEFiles == 0 {
			fmt.Fprintf(e.stdout, "The backup has no ACME certificates, and the previous contents had some: to keep them rather than\n"+
				"have the server ask the CA for new ones (which it limits), move %s back to %s before starting the server.\n",
				filepath.Join(res.MovedAside, "acme"), filepath.Join(cfg.DataDir, "acme"))
		}
	}
	return nil
}

// transferProgress follows a backup or a restore (what) on a progress line
// of w, with the rate since it began.
type transferProgress struct {
	line    *progressLine
	what    string
	start   time.Time
	current backup.Progress
}

func newTransferProgress(w io.Writer, what string) *transferProgress {
	return &transferProgress{line: newProgressLine(w), what: what, start: time.Now()}
}

func (p *transferProgress) update(pr backup.Progress) {
	p.current = pr
	p.line.show(p.text)
}

// done shows the final count and ends the line.
func (p *transferProgress) done() { p.line.end(p.text) }

func (p *transferProgress) text() string {
	pr := p.current
	pct := 100.0
	if pr.TotalBytes > 0 {
		pct = 100 * float64(pr.Bytes) / float64(pr.TotalBytes)
	}
	rate := ""
	if secs := time.Since(p.start).Seconds(); secs > 0 {
		rate = ", " + units.FormatSize(int64(float64(pr.Bytes)/secs)) + "/s"
	}
	return fmt.Sprintf("%s: %d/%d files, %s of %s (%.0f%%)%s", p.what, pr.Files, pr.TotalFiles,
		units.FormatSize(pr.Bytes), units.FormatSize(pr.TotalBytes), pct, rate)
}
