package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pmgsync/pmgsync"
)

// lastUsedGranularity is how stale LastUsedAt may get: Authenticate writes
// it only when it is older than this, so a busy token costs a write a
// minute, not one per request.
const lastUsedGranularity = time.Minute

// tokenColumns are the columns of a token of tokenTables, with its
// technician's name, as scanToken reads them.
const tokenColumns = `t.id, t.technician_id, te.name, t.label, t.hint,
	t.created_at, t.last_used_at, t.expires_at, t.revoked_at`

// tokenTables are the tokens, t, with their technicians, te.
const tokenTables = `tokens t JOIN technicians te ON te.id = t.technician_id`

// tokenSelect reads tokens; callers add WHERE or ORDER BY.
const tokenSelect = `SELECT ` + tokenColumns + ` FROM ` + tokenTables

// authenticateQuery reads a token and all of its technician.
const authenticateQuery = `SELECT ` + tokenColumns + `, ` + technicianDetails +
	` FROM ` + tokenTables + ` WHERE t.hash = ?`

// CreateToken stores tok under hash, setting tok.ID, tok.CreatedAt (from the
// store's clock) and tok.Technician. Label, Hint, ExpiresAt, LastUsedAt and
// RevokedAt are stored as given. It records token.create with the actor of
// ctx (Detail: the token's id and label). ENOTFOUND (MsgNoTechnician with the id) if
// tok.TechnicianID does not exist; ECONFLICT (MsgTokenExists) if a token with
// that hash exists, whoever it belongs to.
func (db *DB) CreateToken(ctx context.Context, tok *pmgsync.Token, hash []byte) error {
	var (
		id      int64
		name    string
		created time.Time
	)
	err := db.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT name FROM technicians WHERE id = ?`, tok.TechnicianID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNoTechnician, strconv.FormatInt(tok.TechnicianID, 10))
		} else if err != nil {
			return err
		}
		if id, created, err = db.insertToken(ctx, tx, tok, hash); err != nil {
			return err
		}
		return db.record(ctx, tx, pmgsync.ActionTokenCreate, name, func(e *pmgsync.AuditEvent) {
			e.Detail = tokenDetail(&pmgsync.Token{ID: id, Label: tok.Label})
		})
	})
	if err != nil {
		return wrap("create token", err)
	}
	tok.ID, tok.CreatedAt, tok.Technician = id, created, name
	return nil
}

// insertToken adds tok, for the existing technician tok.TechnicianID, under
// hash in tx, created now by the store's clock, and returns its id and
// creation time; it changes nothing of tok. ECONFLICT (MsgTokenExists) if a
// token with that hash exists, whoever it belongs to.
func (db *DB) insertToken(ctx context.Context, tx *sql.Tx, tok *pmgsync.Token, hash []byte) (int64, time.Time, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE hash = ?`, hash).Scan(&n); err != nil {
		return 0, time.Time{}, err
	}
	if n > 0 {
		return 0, time.Time{}, pmgsync.Errorf(pmgsync.ECONFLICT, pmgsync.MsgTokenExists)
	}
	created := db.stamp()
	id, err := insert(ctx, tx, `INSERT INTO tokens
		(technician_id, hash, label, hint, created_at, last_used_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		tok.TechnicianID, hash, tok.Label, tok.Hint, toNanos(created),
		toDB(tok.LastUsedAt), toDB(tok.ExpiresAt), toDB(tok.RevokedAt))
	return id, created, err
}

// Authenticate returns the technician and token for hash if the token is
// active at now and its technician is not disabled. EUNAUTHORIZED
// (MsgBadToken) for an unknown, revoked or expired token and for a disabled
// technician alike, so a caller cannot tell them apart.
//
// The lookup is a read that takes no write lock. Only when the token's
// LastUsedAt is zero or more than a minute before now does a second, write
// transaction set it to now (and the returned token shows it); the write is
// conditional, so concurrent requests, even from several processes, write
// at most once. A token revoked between the two transactions is reported
// authenticated: the request is ordered before the revocation.
func (db *DB) Authenticate(ctx context.Context, hash []byte, now time.Time) (*pmgsync.Technician, *pmgsync.Token, error) {
	var tech pmgsync.Technician
	// One statement: no transaction (see querier).
	details := technicianRow{t: &tech}
	tok, err := scanToken(db.reader.QueryRowContext(ctx, authenticateQuery, hash), details.dest()...)
	details.done()
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, pmgsync.Errorf(pmgsync.EUNAUTHORIZED, pmgsync.MsgBadToken)
	}
	if err == nil && (!tok.Active(now) || tech.Disabled) {
		return nil, nil, pmgsync.WithCode(pmgsync.ErrInactiveToken, pmgsync.EUNAUTHORIZED, pmgsync.MsgBadToken)
	}
	if err != nil {
		return nil, nil, wrap("authenticate", err)
	}
	tech.ID, tech.Name = tok.TechnicianID, tok.Technician

	if tok.LastUsedAt.IsZero() || tok.LastUsedAt.Before(now.Add(-lastUsedGranularity)) {
		used := stored(now)
		var n int64
		err := db.write(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used_at = ?
				WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
				toNanos(used), tok.ID, toNanos(now.Add(-lastUsedGranularity)))
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return nil, nil, wrap("authenticate: record use", err)
		}
		if n > 0 {
			tok.LastUsedAt = used
		}
	}
	return &tech, tok, nil
}

// TokenByHash returns the token with that hash, active or not. ENOTFOUND
// (MsgNoToken).
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*pmgsync.Token, error) {
	var tok *pmgsync.Token
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		tok, err = scanToken(tx.QueryRowContext(ctx, tokenSelect+` WHERE t.hash = ?`, hash))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNoToken)
	}
	return tok, wrap("token by hash", err)
}

// TokenByID returns the token with that id, active or not. ENOTFOUND
// (MsgNoToken).
func (db *DB) TokenByID(ctx context.Context, id int64) (*pmgsync.Token, error) {
	var tok *pmgsync.Token
	err := db.read(ctx, func(tx *sql.Tx) (err error) {
		tok, err = scanToken(tx.QueryRowContext(ctx, tokenSelect+` WHERE t.id = ?`, id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNoToken)
	}
	return tok, wrap("token by id", err)
}

// Tokens returns the tokens of the technician with id technicianID (none if
// there is no such technician), or all tokens if technicianID is 0, sorted
// by technician name (byte order) then id.
func (db *DB) Tokens(ctx context.Context, technicianID int64) ([]*pmgsync.Token, error) {
	var toks []*pmgsync.Token
	err := db.read(ctx, func(tx *sql.Tx) error {
		query, args := tokenSelect+` ORDER BY te.name, t.id`, []any{}
		if technicianID != 0 {
			query, args = tokenSelect+` WHERE t.technician_id = ? ORDER BY t.id`, []any{technicianID}
		}
		var err error
		toks, err = queryAll(ctx, tx, scanTokenRow, query, args...)
		return err
	})
	return toks, wrap("tokens", err)
}

// RevokeToken marks the token revoked at time at (the store's clock if at is
// zero), effective at once for every process, and records token.revoke with
// the actor of ctx. Revoking a revoked token keeps the first time, records
// nothing and is not an error. ENOTFOUND (MsgNoToken).
func (db *DB) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	at = db.stampOr(at)
	err := db.write(ctx, func(tx *sql.Tx) error {
		tok, err := scanToken(tx.QueryRowContext(ctx, tokenSelect+` WHERE t.id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNoToken)
		}
		if err != nil || !tok.RevokedAt.IsZero() {
			return err
		}
		if _, err = tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ?`, toNanos(at), id); err != nil {
			return err
		}
		return db.record(ctx, tx, pmgsync.ActionTokenRevoke, tok.Technician, func(e *pmgsync.AuditEvent) {
			e.Detail = tokenDetail(tok)
		})
	})
	return wrap("revoke token", err)
}

// RotateToken replaces the token oldID by newTok in one transaction: it
// inserts newTok under newHash for the old token's technician (Label, Hint,
// ExpiresAt, LastUsedAt and RevokedAt as given; newTok.ID, TechnicianID,
// Technician and CreatedAt, from the store's clock, are set on success),
// then revokes the old token at now if oldExpiresAt is at or before now, or
// else sets its expiry to oldExpiresAt unless it expires earlier already,
// and records token.rotate with the actor of ctx (Detail: both tokens' ids
// and labels, and when the old one ends). It returns the old token as it
// now is. A zero now is the store's clock.
//
// The old token is read and changed under the write lock, so two
// rotations, or a rotation and a revocation, of one token from any
// processes are ordered: the second sees what the first did. Errors:
// ENOTFOUND (MsgNoToken); EINVALID (MsgTokenRevoked or MsgTokenExpired,
// with the old token's id) for a token revoked, or expired at now;
// ECONFLICT (MsgTokenExists) for a hash that is taken. On error nothing
// changes.
func (db *DB) RotateToken(ctx context.Context, oldID int64, newTok *pmgsync.Token, newHash []byte, now, oldExpiresAt time.Time) (*pmgsync.Token, error) {
	now = db.stampOr(now)
	var (
		old     *pmgsync.Token
		id      int64
		created time.Time
	)
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		old, err = scanToken(tx.QueryRowContext(ctx, tokenSelect+` WHERE t.id = ?`, oldID))
		if errors.Is(err, sql.ErrNoRows) {
			return pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgNoToken)
		} else if err != nil {
			return err
		}
		switch {
		case !old.RevokedAt.IsZero():
			return pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgTokenRevoked, old.ID)
		case !old.Active(now):
			return pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgTokenExpired, old.ID)
		}
		fresh := *newTok
		fresh.TechnicianID = old.TechnicianID
		if id, created, err = db.insertToken(ctx, tx, &fresh, newHash); err != nil {
			return err
		}
		var end string
		if oldExpiresAt.After(now) {
			if old.ExpiresAt.IsZero() || oldExpiresAt.Before(old.ExpiresAt) {
				old.ExpiresAt = stored(oldExpiresAt)
			}
			_, err = tx.ExecContext(ctx, `UPDATE tokens SET expires_at = ? WHERE id = ?`, toNanos(old.ExpiresAt), old.ID)
			end = "expires " + old.ExpiresAt.Format(time.RFC3339)
		} else {
			old.RevokedAt = now
			_, err = tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ?`, toNanos(now), old.ID)
			end = "revoked"
		}
		if err != nil {
			return err
		}
		return db.record(ctx, tx, pmgsync.ActionTokenRotate, old.Technician, func(e *pmgsync.AuditEvent) {
			e.Detail = fmt.Sprintf("%s replaced by token #%d label %q; the old one %s",
				tokenDetail(old), id, newTok.Label, end)
		})
	})
	if err != nil {
		return nil, wrap("rotate token", err)
	}
	newTok.ID, newTok.TechnicianID, newTok.Technician, newTok.CreatedAt = id, old.TechnicianID, old.Technician, created
	return old, nil
}

// scanTokenRow scans the columns of tokenSelect.
func scanTokenRow(s scanner) (*pmgsync.Token, error) { return scanToken(s) }

// scanToken scans the columns of tokenSelect, then extra.
func scanToken(s scanner, extra ...any) (*pmgsync.Token, error) {
	var tok pmgsync.Token
	var created, used, expires, revoked sql.NullInt64
	dest := append([]any{&tok.ID, &tok.TechnicianID, &tok.Technician, &tok.Label, &tok.Hint,
		&created, &used, &expires, &revoked}, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	tok.CreatedAt, tok.LastUsedAt = fromDB(created), fromDB(used)
	tok.ExpiresAt, tok.RevokedAt = fromDB(expires), fromDB(revoked)
	return &tok, nil
}
