package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/units"
)

// progressEvery is how many files pass between two progress lines of a
// cleanup whose listing goes to a file while a person watches the terminal.
const progressEvery = 1000

// runCleanup is "pmgsync cleanup" and "pmgsync cleanup history".
func runCleanup(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "history" {
		return runCleanupHistory(ctx, e, args[1:])
	}
	const cmd = "cleanup"
	fs := newFlagSet(e, cmd, "[--dry-run] [--data DIR] [--config FILE] [--retention DURATION]",
		"Sweeps expired files now, as the scheduled cleanup does: removes the files\n"+
			"whose retention has passed (the global one, or the technician's own) and the\n"+
			"blobs no file references, and records the run (see \"pmgsync cleanup history\").\n"+
			"It may run while the server runs. Each file removed is printed, then a summary;\n"+
			"with --dry-run nothing is removed and the files that would be are printed.\n"+
			"The global retention comes from the config file, PMGSYNC_RETENTION or\n"+
			"--retention, as for the server: give it the same value. The exit status is 1\n"+
			"if another cleanup is running or if some file could not be removed.\n\n"+
			"  pmgsync cleanup history [--limit N]   lists the latest runs")
	cf := adminFlags(fs, "retention")
	dryRun := fs.Bool("dry-run", false, "only print what would be removed")
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		fmt.Fprintf(e.stdout, "Global retention %s (from %s); technicians' own retention applies to their files.\n",
			units.FormatDuration(m.Config.Retention), m.Config.Source("retention"))
		verb := "removed"
		if *dryRun {
			verb = "would remove"
		}
		progress := newCleanupProgress(e, verb)
		run, err := m.Engine.Cleanup(ctx, engine.CleanupOptions{
			Trigger:  engine.TriggerManual,
			DryRun:   *dryRun,
			Progress: progress.file,
		})
		progress.done()
		if run == nil { // it did not start
			return err
		}
		printCleanupSummary(e.stdout, run)
		if err != nil {
			return err // interrupted, or failed: the summary says how far it got
		}
		if run.Errors != "" {
			fmt.Fprintf(e.stderr, "Errors:\n%s\n", indent(run.Errors))
			return fmt.Errorf("the cleanup (run #%d) had %d error(s); what it could not remove is retried by the next run", run.ID, countLines(run.Errors))
		}
		return nil
	})
}

// cleanupProgress prints each file of a sweep on standard output and, when
// that goes elsewhere than the terminal that standard error is, a count on
// standard error every progressEvery files.
type cleanupProgress struct {
	e           *env
	verb        string
	n           int
	showCount   bool
	printedLast bool
}

func newCleanupProgress(e *env, verb string) *cleanupProgress {
	return &cleanupProgress{e: e, verb: verb, showCount: isTerminal(e.stderr) && !isTerminal(e.stdout)}
}

func (p *cleanupProgress) file(technician string, f *pmgsync.File) {
	p.n++
	line := fmt.Sprintf("%s: %q %q, %s, uploaded %s", p.verb, technician, f.Name,
		units.FormatSize(f.Size), formatTime(f.UploadedAt, toMinute, "-"))
	if !f.ExpiresAt.IsZero() {
		line += ", expired " + formatTime(f.ExpiresAt, toMinute, "-")
	}
	fmt.Fprintln(p.e.stdout, line)
	if p.showCount && p.n%progressEvery == 0 {
		fmt.Fprintf(p.e.stderr, "… %d files so far\n", p.n)
		p.printedLast = true
	}
}

func (p *cleanupProgress) done() {
	if p.showCount && p.printedLast && p.n%progressEvery != 0 {
		fmt.Fprintf(p.e.stderr, "… %d files in all\n", p.n)
	}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printCleanupSummary writes the outcome of a run in one sentence.
func printCleanupSummary(w io.Writer, run *pmgsync.CleanupRun) {
	took := ""
	if !run.FinishedAt.IsZero() {
		took = " in " + run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond).String()
	}
	if run.DryRun { // which does not look for orphaned blobs
		fmt.Fprintf(w, "Dry run #%d%s: %s (%s) would be removed; nothing was removed.\n",
			run.ID, took, plural(run.FilesRemoved, "expired file"), units.FormatSize(run.BytesRemoved))
		return
	}
	fmt.Fprintf(w, "Cleanup #%d%s: removed %s (%s) and %s.\n", run.ID, took,
		plural(run.FilesRemoved, "expired file"), units.FormatSize(run.BytesRemoved),
		plural(run.OrphansRemoved, "orphaned blob"))
}

// plural writes n and noun, with an "s" unless n is 1.
func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.FormatInt(n, 10) + " " + noun + "s"
}

func countLines(s string) int {
	return len(strings.Split(strings.TrimRight(s, "\n"), "\n"))
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}

func runCleanupHistory(ctx context.Context, e *env, args []string) error {
	cf, limit, err := parseHistory(e, "cleanup history",
		"Lists the latest cleanup runs, newest first: scheduled and manual, dry runs\n"+
			"included. A run without an end is running, or its process died.\n"+
			"The errors of the runs listed are shown under the table.", args)
	if err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		runs, err := m.Engine.CleanupHistory(ctx, limit)
		if err != nil {
			return err
		}
		if len(runs) == 0 {
			fmt.Fprintln(e.stderr, "No cleanup has run yet.")
			return nil
		}
		t := newTable(e.stdout, "ID", "START", "END", "TRIGGER", "DRY RUN", "FILES", "BYTES", "ORPHANS", "ERRORS")
		for _, run := range runs {
			dry, errs := "no", "0"
			if run.DryRun {
				dry = "yes"
			}
			if run.Errors != "" {
				errs = strconv.Itoa(countLines(run.Errors))
			}
			t.row(strconv.FormatInt(run.ID, 10), formatTime(run.StartedAt, toSecond, ""), formatTime(run.FinishedAt, toSecond, "unfinished"),
				run.Trigger, dry, strconv.FormatInt(run.FilesRemoved, 10), units.FormatSize(run.BytesRemoved),
				strconv.FormatInt(run.OrphansRemoved, 10), errs)
		}
		if err := t.flush(); err != nil {
			return err
		}
		for _, run := range runs {
			if run.Errors != "" {
				fmt.Fprintf(e.stdout, "\nErrors of run #%d:\n%s\n", run.ID, indent(run.Errors))
			}
		}
		return nil
	})
}
