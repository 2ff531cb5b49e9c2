package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/units"
)

const verifyHelp = `Checks the data directory: that the blob of every file, of every technician,
exists and has the recorded size and SHA-256, and that every blob is some
file's. It may run while the server runs, and reads every blob: on a large
store it takes as long as reading the disk.

Each problem is one line on standard output, then a summary:
  missing: technician "T", file "F", blob K: the blob does not exist
  corrupt: technician "T", file "F", blob K: size mismatch: ... | sha256 mismatch: ...
  damaged: technician "T", file "F", blob K: marked missing|corrupt on DATE; ...
  orphan: blob K: no file references it (SIZE, written DATE)
A blob that no file references but is younger than 1m is left alone: an
upload in progress writes its blob a moment before its file.

--repair removes the orphaned blobs and marks the missing and corrupt files
damaged (recorded in the audit trail): they are no longer listed, and a pull
answers 404 saying the file must be sent again. Their records stay: a damaged
file is reported by every later verify until it is deleted, sent again by its
technician (a new upload of its name replaces it) or expires.

Exit status: 0 no problems; 3 problems found (with --repair: found, and
repaired as the output says), files already damaged included; 1 the check
could not run, or some blob could not be read or repaired (named on standard
error); 2 a usage error. Progress is shown when standard error is a terminal.`

// runVerify is "pmgsync verify".
func runVerify(ctx context.Context, e *env, args []string) error {
	const cmd = "verify"
	fs := newFlagSet(e, cmd, "[--repair] [--data DIR] [--config FILE]", verifyHelp)
	cf := adminFlags(fs)
	repair := fs.Bool("repair", false, "remove orphaned blobs and mark missing or corrupt files damaged")
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		start := time.Now()
		progress := newProgressLine(e.stderr)
		opts := engine.VerifyOptions{Repair: *repair}
		if progress != nil {
			opts.Progress = func(v engine.VerifyProgress) { progress.show(func() string { return verifyProgress(v) }) }
		}
		rep, err := m.Engine.Verify(ctx, opts)
		progress.end(nil)
		for _, p := range rep.Problems {
			fmt.Fprintln(e.stdout, problemLine(&p, *repair))
		}
		if err != nil {
			fmt.Fprintf(e.stdout, "Stopped after %s and %s; the problems above are those found so far.\n",
				plural(rep.Files, "file"), plural(rep.Blobs, "blob"))
			return err
		}
		printVerifySummary(e.stdout, rep, *repair, time.Since(start))
		if len(rep.Errors) > 0 {
			fmt.Fprintln(e.stderr, "Errors:")
			for _, err := range rep.Errors {
				fmt.Fprintf(e.stderr, "  %v\n", err)
			}
			return fmt.Errorf("verify: %s could not be checked or repaired; see the errors above", plural(int64(len(rep.Errors)), "item"))
		}
		if len(rep.Problems) > 0 {
			return &statusError{code: exitProblems}
		}
		return nil
	})
}

// problemLine is the line of "pmgsync verify" about p. Names are quoted as
// Go strings, so that a line holds one problem whatever the names hold.
func problemLine(p *engine.VerifyProblem, repair bool) string {
	var b strings.Builder
	b.WriteString(p.Kind + ": ")
	if p.File != nil {
		fmt.Fprintf(&b, "technician %q, file %q, ", p.Technician, p.File.Name)
	}
	fmt.Fprintf(&b, "blob %s: ", p.BlobKey)
	switch {
	case p.Kind == engine.ProblemMissing:
		b.WriteString("the blob does not exist")
	case p.Kind == engine.ProblemCorrupt && p.SizeMismatch():
		fmt.Fprintf(&b, "size mismatch: the blob has %d bytes, recorded %d", p.Size, p.File.Size)
	case p.Kind == engine.ProblemCorrupt:
		fmt.Fprintf(&b, "sha256 mismatch: the blob has %s, recorded %s", p.SHA256, p.File.SHA256)
	case p.Kind == engine.ProblemDamaged:
		fmt.Fprintf(&b, "marked %s on %s; not served until deleted, sent again or expired",
			p.File.Damage, formatTime(p.File.DamagedAt, toMinute, "?"))
	case p.Kind == engine.ProblemOrphan:
		fmt.Fprintf(&b, "no file references it (%s, written %s)", units.FormatSize(p.Size), formatTime(p.ModTime, toMinute, "?"))
	}
	if repair && p.Kind != engine.ProblemDamaged {
		switch {
		case !p.Repaired:
			b.WriteString("; NOT repaired: see the errors")
		case p.Kind == engine.ProblemOrphan:
			b.WriteString("; removed")
		default:
			b.WriteString("; marked damaged")
		}
	}
	return b.String()
}

// printVerifySummary writes what was checked, found and done.
func printVerifySummary(w io.Writer, rep *engine.VerifyReport, repair bool, took time.Duration) {
	fmt.Fprintf(w, "Checked %s (%s hashed) and %s in %s.\n", plural(rep.Files, "file"),
		units.FormatSize(rep.Bytes), plural(rep.Blobs, "blob"), took.Round(time.Millisecond))
	counts := rep.Counts()
	missing, corrupt := counts[engine.ProblemMissing].Found, counts[engine.ProblemCorrupt].Found
	damaged, orphans := counts[engine.ProblemDamaged].Found, counts[engine.ProblemOrphan].Found
	if len(rep.Problems) == 0 {
		fmt.Fprintln(w, "No problems found.")
	} else {
		var found []string
		for _, c := range []struct {
			n    int
			noun string
		}{{missing, "missing file"}, {corrupt, "corrupt file"}, {damaged, "damaged file"}, {orphans, "orphaned blob"}} {
			if c.n > 0 {
				found = append(found, plural(int64(c.n), c.noun))
			}
		}
		fmt.Fprintf(w, "Problems: %s.\n", strings.Join(found, ", "))
	}
	if rep.Young > 0 {
		fmt.Fprintf(w, "Left alone %s that no file references yet, younger than %s: uploads in progress.\n",
			plural(rep.Young, "blob"), units.FormatDuration(engine.OrphanGrace))
	}
	switch {
	case repair && missing+corrupt+orphans > 0:
		marked := counts[engine.ProblemMissing].Repaired + counts[engine.ProblemCorrupt].Repaired
		fmt.Fprintf(w, "Repaired: marked %s damaged (no longer listed or served until deleted or sent again) and removed %s.\n",
			plural(int64(marked), "file"), plural(int64(counts[engine.ProblemOrphan].Repaired), "orphaned blob"))
	case missing+corrupt+orphans > 0:
		fmt.Fprintln(w, `Nothing was changed; "pmgsync verify --repair" marks the missing and corrupt files damaged and removes the orphaned blobs.`)
	}
	if damaged > 0 {
		fmt.Fprintln(w, "Damaged files stay problems until they are deleted, sent again by their technician, or expire.")
	}
}

// verifyProgress is the text of verify's progress line.
func verifyProgress(v engine.VerifyProgress) string {
	line := fmt.Sprintf("checked %d/%d files, %s/%s hashed", v.Files, v.TotalFiles,
		units.FormatSize(v.Bytes), units.FormatSize(v.TotalBytes))
	if v.Blobs > 0 {
		line += fmt.Sprintf(", %d blobs looked at", v.Blobs)
	}
	return line
}
