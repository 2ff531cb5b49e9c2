package seedimport

import (
	"fmt"
	"github.com/pmgsync/pmgsync/units"
	"strings"
)

// Report says what an import did. Running the same import again adds to
// the "present" counts instead of the "imported" ones.
type Report struct {
	TokensImported int   // tokens stored by this run
	TokensPresent  int   // tokens that an earlier run had stored
	FilesImported  int   // files stored by this run
	FilesPresent   int   // files the technician already had under that name, left as they were
	BytesImported  int64 // total size of the files stored by this run

	// Rejects are what the import left out on purpose and why: malformed
	// lines of the tokens file, technician or file names that break the
	// rules, directories of unknown tokens, nested directories, symbolic
	// links. Fix them and run the import again.
	Rejects []Problem
	// Failures are what could not be read or stored (I/O errors): the import
	// went on with everything else, and Run returned an error.
	Failures []Problem
}

// Problem is one thing left out of an import.
type Problem struct {
	Where  string // e.g. `tokens file, line 4` or `João Silva: file "a.xlsx"`
	Reason string
}

func (p Problem) String() string { return p.Where + ": " + p.Reason }

func (r *Report) reject(where, reason string) {
	r.Rejects = append(r.Rejects, Problem{Where: where, Reason: reason})
}

func (r *Report) fail(where string, err error) {
	r.Failures = append(r.Failures, Problem{Where: where, Reason: err.Error()})
}

// String summarises the report for an admin, every reject and failure
// listed on a line of its own.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tokens: %d imported, %d already present.\n", r.TokensImported, r.TokensPresent)
	fmt.Fprintf(&b, "Files: %d imported (%s), %d already present.\n", r.FilesImported, units.FormatSize(r.BytesImported), r.FilesPresent)
	fmt.Fprintf(&b, "Rejected: %d.\n", len(r.Rejects))
	for _, p := range r.Rejects {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	if len(r.Failures) > 0 {
		fmt.Fprintf(&b, "Could not be read or stored: %d.\n", len(r.Failures))
		for _, p := range r.Failures {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	return b.String()
}
