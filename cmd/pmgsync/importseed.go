package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/pmgsync/pmgsync/seedimport"
	"github.com/pmgsync/pmgsync/units"
)

// runImportSeed is "pmgsync import-seed".
func runImportSeed(ctx context.Context, e *env, args []string) error {
	const cmd = "import-seed"
	fs := newFlagSet(e, cmd, "--uploads DIR --tokens FILE [--data DIR] [--config FILE]",
		"Imports the tokens and reports of the old server, so that the apps in the field\n"+
			"keep working with their tokens. FILE lists the old TOKENS_VALIDOS, one\n"+
			"\"TOKEN NAME\" a line (NAME may have spaces; blank lines and # comments are\n"+
			"skipped); DIR is the old server's uploads directory, which holds uploads/TOKEN/FILE.\n"+
			"Files keep their modification time as upload time. Running it again imports\n"+
			"nothing twice. Rejected names are reported; the exit status is 1 only if\n"+
			"something could not be read.")
	cf := adminFlags(fs)
	uploads := fs.String("uploads", "", "the old server's uploads `directory` (required)")
	tokens := fs.String("tokens", "", "the `file` of old tokens, one \"TOKEN NAME\" a line (required)")
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	if *uploads == "" || *tokens == "" {
		return cmdUsageErrorf(cmd, "--uploads and --tokens are required")
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		rep, err := seedimport.Run(ctx, m.Engine, *uploads, *tokens, e.stdout)
		fmt.Fprint(e.stdout, rep)
		return errors.Join(err, m.Engine.RecordImport(ctx, importSummary(rep, *uploads, *tokens), err))
	})
}

// importSummary is the audit record's account of an import: the counts of
// the report, without the list of what was left out, which can be long.
func importSummary(rep seedimport.Report, uploads, tokens string) string {
	return fmt.Sprintf("uploads %q, tokens %q: tokens %d imported, %d present; files %d imported (%s), %d present; %d rejected, %d failed",
		uploads, tokens, rep.TokensImported, rep.TokensPresent, rep.FilesImported, units.FormatSize(rep.BytesImported),
		rep.FilesPresent, len(rep.Rejects), len(rep.Failures))
}
