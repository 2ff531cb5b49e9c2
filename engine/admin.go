package engine

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/names"
)

// maxTechnicianName is the longest technician name, in characters.
const maxTechnicianName = 64

// CheckTechnicianName returns the NFC form of a technician name, or EINVALID
// unless it is 1 to 64 letters, digits, spaces, '.', '_', '-' or '@', without
// leading or trailing space. The old server's names ("João Silva",
// "tecnico01") all fit.
func CheckTechnicianName(name string) (string, error) {
	bad := pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgTechnicianName, name)
	if !utf8.ValidString(name) {
		return "", bad
	}
	name = norm.NFC.String(name)
	if n := utf8.RuneCountInString(name); n == 0 || n > maxTechnicianName || strings.TrimSpace(name) != name {
		return "", bad
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(" ._-@", r) {
			return "", bad
		}
	}
	return name, nil
}

// AddTechnician creates a technician. Errors: EINVALID, ECONFLICT.
func (e *Engine) AddTechnician(ctx context.Context, name, email string) (*pmgsync.Technician, error) {
	name, err := CheckTechnicianName(name)
	if err != nil {
		return nil, err
	}
	t := &pmgsync.Technician{Name: name, Email: strings.TrimSpace(email)}
	if err := e.meta.CreateTechnician(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// Technician returns the technician with that name. Errors: ENOTFOUND.
func (e *Engine) Technician(ctx context.Context, name string) (*pmgsync.Technician, error) {
	return e.meta.TechnicianByName(ctx, norm.NFC.String(name))
}

// Technicians returns every technician, sorted by name.
func (e *Engine) Technicians(ctx context.Context) ([]*pmgsync.Technician, error) {
	return e.meta.Technicians(ctx)
}

// SetTechnicianDisabled disables or re-enables a technician. A disabled
// technician's tokens are refused at once, like unknown ones. Errors: ENOTFOUND.
func (e *Engine) SetTechnicianDisabled(ctx context.Context, name string, disabled bool) (*pmgsync.Technician, error) {
	t, err := e.Technician(ctx, name)
	if err != nil {
		return nil, err
	}
	t.Disabled = disabled
	if err := e.meta.UpdateTechnician(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// technicianFor returns the named technician, creating it if it does not
// exist. A disabled one is an error: a token for it would never work.
func (e *Engine) technicianFor(ctx context.Context, name string) (t *pmgsync.Technician, created bool, err error) {
	name, err = CheckTechnicianName(name)
	if err != nil {
		return nil, false, err
	}
	t, err = e.meta.TechnicianByName(ctx, name)
	if pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		t = &pmgsync.Technician{Name: name}
		err = e.meta.CreateTechnician(ctx, t)
		if pmgsync.IsCode(err, pmgsync.ECONFLICT) { // created meanwhile by another process
			t, err = e.meta.TechnicianByName(ctx, name)
		} else {
			created = err == nil
		}
	}
	if err != nil {
		return nil, false, err
	}
	if t.Disabled {
		return nil, false, pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgTechnicianOff, name)
	}
	return t, created, nil
}

// CreateToken issues a new token for the named technician, creating the
// technician if needed, and returns the raw token, which is shown once and
// never stored, and whether it created the technician (not if another
// process did meanwhile). A zero expiresAt means the token does not expire.
// Errors: EINVALID for a bad or disabled technician name.
func (e *Engine) CreateToken(ctx context.Context, technician, label string, expiresAt time.Time) (raw string, tok *pmgsync.Token, created bool, err error) {
	t, created, err := e.technicianFor(ctx, technician)
	if err != nil {
		return "", nil, false, err
	}
	raw, tok, hash := newToken(t.ID, label, expiresAt)
	tok.Technician = t.Name
	if err := e.meta.CreateToken(ctx, tok, hash); err != nil {
		return "", nil, false, err
	}
	return raw, tok, created, nil
}

// newToken makes a new raw token for the technician techID, its Token (the
// label trimmed, the hint, the expiry in UTC; zero for none) and its hash,
// which is what the store keeps of it.
func newToken(techID int64, label string, expiresAt time.Time) (raw string, tok *pmgsync.Token, hash []byte) {
	raw = pmgsync.NewToken()
	tok = &pmgsync.Token{
		TechnicianID: techID,
		Label:        strings.TrimSpace(label),
		Hint:         pmgsync.TokenHint(raw),
		ExpiresAt:    expiresAt.UTC(),
	}
	return raw, tok, pmgsync.HashToken(raw)
}

// ExpiryAt is the expiry of a token issued at now that lives for lifetime:
// the zero time (never) for a lifetime of 0 or less.
func ExpiryAt(now time.Time, lifetime time.Duration) time.Time {
	if lifetime <= 0 {
		return time.Time{}
	}
	return now.Add(lifetime)
}

// Tokens returns the tokens of the named technician, or of everyone if name
// is "". Errors: ENOTFOUND for an unknown technician.
func (e *Engine) Tokens(ctx context.Context, technician string) ([]*pmgsync.Token, error) {
	var id int64
	if technician != "" {
		t, err := e.Technician(ctx, technician)
		if err != nil {
			return nil, err
		}
		id = t.ID
	}
	return e.meta.Tokens(ctx, id)
}

// RevokeToken revokes the token given either as the raw token or as its id
// (as `token list` shows it). A raw token is tried first, so an imported
// token that happens to be all digits is never mistaken for an id. The
// running server refuses the token from its next request on. Errors: ENOTFOUND.
func (e *Engine) RevokeToken(ctx context.Context, tokenOrID string) (*pmgsync.Token, error) {
	tok, err := e.tokenFor(ctx, tokenOrID)
	if err != nil {
		return nil, err
	}
	if err := e.meta.RevokeToken(ctx, tok.ID, e.Now()); err != nil {
		return nil, err
	}
	return e.meta.TokenByID(ctx, tok.ID)
}

// tokenFor returns the token given as the raw token or as its id, with or
// without a leading '#'; the raw token is tried first. Errors: ENOTFOUND.
func (e *Engine) tokenFor(ctx context.Context, tokenOrID string) (*pmgsync.Token, error) {
	tok, err := e.meta.TokenByHash(ctx, pmgsync.HashToken(tokenOrID))
	if pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		id, perr := strconv.ParseInt(strings.TrimPrefix(tokenOrID, "#"), 10, 64)
		if perr != nil {
			return nil, err
		}
		tok, err = e.meta.TokenByID(ctx, id)
	}
	return tok, err
}

// DefaultRotationGrace is how long a rotated token keeps working unless
// the admin says otherwise: a week, time enough to update the app on a
// phone that is out in the field.
const DefaultRotationGrace = 7 * 24 * time.Hour

// The lifetimes of RotateToken that are no duration.
const (
	// SameLifetime gives the new token the old one's lifetime.
	SameLifetime time.Duration = 0
	// NoExpiry gives the new token no expiry.
	NoExpiry time.Duration = -1
)

// RotateToken replaces a token, given as itself or as its id (as for
// RevokeToken), by a new one for the same technician, in one change of the
// store, and returns the new raw token (shown once, never stored), the new
// token, and the old one as it now is.
//
// The new token's label is label, or the old one's if label is "". It
// lives for lifetime from now; with SameLifetime (0), for as long as the
// old token was issued for (its expiry less its creation: a 90-day token
// is replaced by a 90-day token, so that a rotation never turns a token
// that expires into one that does not), or for ever if the old one never
// expired; with NoExpiry, for ever.
//
// The old token keeps working for grace, so that the app can be given the
// new one meanwhile, and then stops: its ExpiresAt becomes now+grace, or
// stays as it was if that is earlier. A grace of 0 revokes it at once (for a
// token that may have leaked, RevokeToken says so more plainly). The
// running server sees the change from its next request on.
//
// Errors: ENOTFOUND; EINVALID if the old token is revoked
// (MsgTokenRevoked) or expired (MsgTokenExpired), which leaves nothing to
// rotate, or its technician is disabled (MsgTechnicianOff), as for
// CreateToken. A negative grace is a caller's bug (the CLI refuses it
// first), reported as an internal error.
func (e *Engine) RotateToken(ctx context.Context, tokenOrID, label string, lifetime, grace time.Duration) (raw string, tok, old *pmgsync.Token, err error) {
	if grace < 0 {
		return "", nil, nil, fmt.Errorf("rotate token: negative grace %v", grace)
	}
	old, err = e.tokenFor(ctx, tokenOrID)
	if err != nil {
		return "", nil, nil, err
	}
	t, err := e.meta.TechnicianByName(ctx, old.Technician)
	if err != nil {
		return "", nil, nil, fmt.Errorf("rotate token #%d: technician: %w", old.ID, err)
	}
	if t.Disabled {
		return "", nil, nil, pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgTechnicianOff, t.Name)
	}
	if label = strings.TrimSpace(label); label == "" {
		label = old.Label
	}
	now := e.Now()
	if lifetime == SameLifetime && !old.ExpiresAt.IsZero() {
		lifetime = old.ExpiresAt.Sub(old.CreatedAt)
	}
	raw, tok, hash := newToken(old.TechnicianID, label, ExpiryAt(now, lifetime))
	if old, err = e.meta.RotateToken(ctx, old.ID, tok, hash, now, now.Add(grace)); err != nil {
		return "", nil, nil, err
	}
	return raw, tok, old, nil
}

// Authenticate returns the technician and token for a raw token. An empty,
// unknown, expired or revoked token, or one of a disabled technician, gets
// the same EUNAUTHORIZED error, and is recorded in the audit trail
// (auth.failed, without the token; a record that cannot be written is
// logged and changes nothing for the caller).
func (e *Engine) Authenticate(ctx context.Context, raw string) (*pmgsync.Technician, *pmgsync.Token, error) {
	if raw == "" {
		e.auditAuthFailed(ctx, raw)
		return nil, nil, pmgsync.Errorf(pmgsync.EUNAUTHORIZED, pmgsync.MsgBadToken)
	}
	t, tok, err := e.meta.Authenticate(ctx, pmgsync.HashToken(raw), e.Now())
	if err != nil {
		if pmgsync.IsCode(err, pmgsync.EUNAUTHORIZED) {
			e.auditAuthFailed(ctx, raw)
		}
		return nil, nil, err
	}
	return t, tok, nil
}

// ImportToken stores a token of the old server unchanged (hashed) for the
// named technician, creating the technician if needed. It reports whether
// the token was new: importing the same token twice changes nothing.
// Errors: EINVALID for a bad name; ECONFLICT if the token belongs to
// another technician; the store's errors, such as a failed lookup of the
// token, as they are.
func (e *Engine) ImportToken(ctx context.Context, raw, technician string) (imported bool, t *pmgsync.Technician, err error) {
	if raw == "" {
		return false, nil, fmt.Errorf("import token: empty token")
	}
	t, _, err = e.technicianFor(ctx, technician)
	if err != nil {
		return false, nil, err
	}
	hash := pmgsync.HashToken(raw)
	if old, err := e.meta.TokenByHash(ctx, hash); err == nil {
		if old.TechnicianID != t.ID {
			return false, nil, pmgsync.Errorf(pmgsync.ECONFLICT, pmgsync.MsgTokenExists)
		}
		return false, t, nil
	} else if !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		return false, nil, err
	}
	tok := &pmgsync.Token{TechnicianID: t.ID, Technician: t.Name, Label: "importado do servidor antigo"}
	if err := e.meta.CreateToken(ctx, tok, hash); err != nil {
		return false, nil, err
	}
	return true, t, nil
}

// ImportFile stores r as the technician's file name with the given upload
// time (the old server's modification time, so that retention goes on where
// it was), unless the technician already has a file of that name, in which
// case it returns imported=false and the file is left as it is, even if it
// was uploaded while r was being read. The name follows the upload rules
// (names.FromUpload). Errors: EINVALID for a bad name.
func (e *Engine) ImportFile(ctx context.Context, tech *pmgsync.Technician, filename string, r io.Reader, uploadedAt time.Time) (f *pmgsync.File, imported bool, err error) {
	name, err := names.FromUpload(filename)
	if err != nil {
		return nil, false, err
	}
	if f, err := e.meta.FileByName(ctx, tech.ID, name); err == nil {
		return f, false, nil // the usual case on a second run: skip without reading r
	} else if !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		return nil, false, err
	}
	f, err = e.store(ctx, tech, name, r, uploadedAt.UTC(), false)
	if pmgsync.IsCode(err, pmgsync.ECONFLICT) {
		f, err = e.meta.FileByName(ctx, tech.ID, name)
		return f, false, err
	}
	if err != nil {
		return nil, false, err
	}
	return f, true, nil
}

// TechnicianSettings changes a technician's overrides of the global
// settings. A nil field leaves that override as it is.
type TechnicianSettings struct {
	// Retention is how long the technician's files are kept after upload;
	// 0 means "inherit the global retention". It applies at once to the
	// files already stored, since expiry is computed, not stored.
	Retention *time.Duration
	// QuotaBytes and QuotaFiles bound what the technician stores; 0 means
	// "inherit the global quota" and pmgsync.Unlimited lifts it.
	QuotaBytes *int64
	QuotaFiles *int64
}

// SetTechnicianSettings changes the overrides of the named technician and
// returns the technician as saved. Errors: ENOTFOUND. A negative retention
// or a quota below pmgsync.Unlimited is a caller's bug (the CLI refuses
// them first), reported as an internal error.
func (e *Engine) SetTechnicianSettings(ctx context.Context, name string, s TechnicianSettings) (*pmgsync.Technician, error) {
	if s.Retention != nil && *s.Retention < 0 {
		return nil, fmt.Errorf("set technician %q: negative retention %v", name, *s.Retention)
	}
	if s.QuotaBytes != nil && *s.QuotaBytes < pmgsync.Unlimited {
		return nil, fmt.Errorf("set technician %q: invalid byte quota %d", name, *s.QuotaBytes)
	}
	if s.QuotaFiles != nil && *s.QuotaFiles < pmgsync.Unlimited {
		return nil, fmt.Errorf("set technician %q: invalid file quota %d", name, *s.QuotaFiles)
	}
	t, err := e.Technician(ctx, name)
	if err != nil {
		return nil, err
	}
	if s.Retention != nil {
		t.Retention = *s.Retention
	}
	if s.QuotaBytes != nil {
		t.QuotaBytes = *s.QuotaBytes
	}
	if s.QuotaFiles != nil {
		t.QuotaFiles = *s.QuotaFiles
	}
	if err := e.meta.UpdateTechnician(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}
