package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
)

// auditColumns are the columns of an audit record, as scanAudit reads them
// and appendAudit writes them (but id).
const auditColumns = `id, time_ns, actor_kind, actor_name, action, technician, file_name, size,
	sha256, old_sha256, client_ip, user_agent, result, request_id, detail, prev_hash, hash`

// appendAudit adds e to the end of the chain in tx, setting e.Time (from the
// store's clock if it is zero), e.PrevHash, e.Hash and e.ID. tx must be a
// writer (immediate) transaction: it holds the write lock from its start, so
// no other connection, of any process, can append between the read of the
// last hash and the insert, and the chain cannot fork.
func (db *DB) appendAudit(ctx context.Context, tx *sql.Tx, e *pmgsync.AuditEvent) error {
	var prev string
	err := tx.QueryRowContext(ctx, `SELECT hash FROM audit ORDER BY id DESC LIMIT 1`).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("audit: last hash: %w", err)
	}
	// The hash covers the time as it reads back, so that a verifier
	// recomputes the same hash from the stored row.
	e.Time = auditTime(toNanos(db.stampOr(e.Time)))
	e.PrevHash = prev
	e.Hash = pmgsync.AuditHash(prev, e)
	id, err := insert(ctx, tx, `INSERT INTO audit (time_ns, actor_kind, actor_name, action, technician,
		file_name, size, sha256, old_sha256, client_ip, user_agent, result, request_id, detail, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Time.UnixNano(), e.ActorKind, e.ActorName, e.Action, e.Technician,
		e.FileName, e.Size, e.SHA256, e.OldSHA256, e.ClientIP, e.UserAgent, e.Result, e.RequestID, e.Detail,
		e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("audit: append %s: %w", e.Action, err)
	}
	e.ID = id
	return nil
}

// record appends an event of action with the actor of ctx, result "ok" and
// the fields that fill sets (nil for none).
func (db *DB) record(ctx context.Context, tx *sql.Tx, action, technician string, fill func(e *pmgsync.AuditEvent)) error {
	e := &pmgsync.AuditEvent{Action: action, Technician: technician, Result: "ok"}
	e.SetActor(pmgsync.ActorFrom(ctx))
	if fill != nil {
		fill(e)
	}
	return db.appendAudit(ctx, tx, e)
}

// auditTime returns the time of a time_ns column. Unlike fromDB it never
// returns the zero time, whose UnixNano is not 0, so that AuditHash of a row
// read back is the hash it was written with.
func auditTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// AppendAudit adds e to the audit trail, durably, setting e.ID, e.Time (from
// the store's clock if it is zero), e.PrevHash and e.Hash. Concurrent calls
// of this process, and uploads and deletes, share a transaction and its
// fsync (see writeGrouped).
// The actor is e's own, not ctx's: the caller fills it in (SetActor).
func (db *DB) AppendAudit(ctx context.Context, e *pmgsync.AuditEvent) error {
	err := db.writeGrouped(ctx, func(ctx context.Context, tx *sql.Tx) error { return db.appendAudit(ctx, tx, e) })
	return wrap("append audit", err)
}

// auditQuery returns the query of AuditEvents for f and its arguments.
// Records come in id order, the order of the chain, so that a walk of the
// whole trail verifies it. A filter reads only the records it selects, from
// one range of an index: audit_time for times alone, audit_technician_time
// or audit_action_time with a technician or an action; SQLite then sorts
// them by id (only the first Limit of them, with a Limit), which costs what
// reading them does, whatever the size of the trail. Times are not in id
// order when a caller gives AppendAudit an earlier time, so the indexes
// cannot give id order themselves.
func auditQuery(f pmgsync.AuditFilter) (string, []any) {
	var where []string
	var args []any
	if f.Technician != "" {
		where, args = append(where, "technician = ?"), append(args, f.Technician)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "time_ns >= ?"), append(args, toNanos(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "time_ns < ?"), append(args, toNanos(f.Until))
	}
	q := `SELECT ` + auditColumns + ` FROM audit`
	if f.Technician == "" && f.Action == "" && len(where) > 0 {
		// Without statistics, SQLite reckons that scanning the table in id
		// order, which needs no sort, beats a one-sided range of the index:
		// on a long trail it does not, as the scan reads every record.
		q += ` INDEXED BY audit_time`
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY id`
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit)
	}
	return q, args
}

// AuditEvents calls fn for each record f selects, oldest (lowest id) first,
// in one read transaction, so that the records are one consistent snapshot
// even while others are appended. It stops at fn's first error and returns
// it as is.
func (db *DB) AuditEvents(ctx context.Context, f pmgsync.AuditFilter, fn func(*pmgsync.AuditEvent) error) error {
	var fnErr error
	err := db.read(ctx, func(tx *sql.Tx) error {
		q, args := auditQuery(f)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanAudit(rows)
			if err != nil {
				return err
			}
			if fnErr = fn(e); fnErr != nil {
				return fnErr
			}
		}
		return rows.Err()
	})
	if fnErr != nil {
		return fnErr
	}
	return wrap("audit events", err)
}

// PruneAudit removes the records older than before and returns how many it
// removed. It removes the start of the chain up to the first record at or
// after before, so that what remains is one unbroken chain: a record older
// than before that was appended after a newer one (a clock set back) is kept
// until that one goes too. If it removes any, it appends an audit.prune
// event with the actor of ctx whose Detail names how many and the Hash of
// the last one removed, which the oldest remaining record's PrevHash is.
func (db *DB) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		var cut int64
		err := tx.QueryRowContext(ctx, `SELECT coalesce(
			(SELECT id FROM audit NOT INDEXED WHERE time_ns >= ? ORDER BY id LIMIT 1),
			(SELECT coalesce(max(id), 0) + 1 FROM audit))`, toNanos(before)).Scan(&cut)
		if err != nil {
			return err
		}
		var last sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT count(*),
			(SELECT hash FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT 1)
			FROM audit WHERE id < ?1`, cut).Scan(&n, &last)
		if err != nil || n == 0 {
			return err
		}
		// The event is appended before the delete so that it chains after
		// the last record even when every record goes.
		err = db.record(ctx, tx, pmgsync.ActionAuditPrune, "", func(e *pmgsync.AuditEvent) {
			e.Detail = fmt.Sprintf("removed %d records; last hash %s", n, last.String)
		})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM audit WHERE id < ?`, cut)
		return err
	})
	if err != nil {
		return 0, wrap("prune audit", err)
	}
	return n, nil
}

// ExpireTokens records a token.expire event, with the actor of ctx, for each
// token that expired at or before now, is not revoked and has not been
// recorded yet, marks it recorded, and returns those tokens in id order. A
// token whose expiry is recorded is not recorded again, even if its
// ExpiresAt changes.
func (db *DB) ExpireTokens(ctx context.Context, now time.Time) ([]*pmgsync.Token, error) {
	var toks []*pmgsync.Token
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		toks, err = queryAll(ctx, tx, scanTokenRow, tokenSelect+` WHERE t.expires_at IS NOT NULL AND t.expires_at <= ?
			AND t.revoked_at IS NULL AND t.expiry_audited = 0 ORDER BY t.id`, toNanos(now))
		if err != nil {
			return err
		}
		for _, tok := range toks {
			if _, err := tx.ExecContext(ctx, `UPDATE tokens SET expiry_audited = 1 WHERE id = ?`, tok.ID); err != nil {
				return err
			}
			err := db.record(ctx, tx, pmgsync.ActionTokenExpire, tok.Technician, func(e *pmgsync.AuditEvent) {
				e.Detail = tokenDetail(tok)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("expire tokens", err)
	}
	return toks, nil
}

// tokenDetail is the Detail of a token's events: its id and label, never
// anything of its secret.
func tokenDetail(tok *pmgsync.Token) string {
	return fmt.Sprintf("token #%d label %q", tok.ID, tok.Label)
}

// scanAudit scans the columns of auditColumns.
func scanAudit(s scanner) (*pmgsync.AuditEvent, error) {
	var e pmgsync.AuditEvent
	var ns int64
	err := s.Scan(&e.ID, &ns, &e.ActorKind, &e.ActorName, &e.Action, &e.Technician, &e.FileName, &e.Size,
		&e.SHA256, &e.OldSHA256, &e.ClientIP, &e.UserAgent, &e.Result, &e.RequestID, &e.Detail, &e.PrevHash, &e.Hash)
	if err != nil {
		return nil, err
	}
	e.Time = auditTime(ns)
	return &e, nil
}
