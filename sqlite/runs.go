package sqlite

import (
	"context"
	"database/sql"

	"github.com/pmgsync/pmgsync"
)

// execer is what *sql.DB and *sql.Tx have in common to run a statement.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// finishRun runs on x the UPDATE query, with args, that saves the outcome
// of one run record: a backup's or a cleanup's. ENOTFOUND
// (MsgNotFoundRoute: there is no message of its own, as no user names a
// run) if it changed no row.
func finishRun(ctx context.Context, x execer, query string, args ...any) error {
	res, err := x.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNotFoundRoute)
	}
	return nil
}
