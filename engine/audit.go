package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
)

// DefaultAuditRetention is how long audit records are kept when nothing
// else is configured: over a year, so that a yearly review still finds the
// same month of the year before.
const DefaultAuditRetention = 400 * 24 * time.Hour

// maxAuditName is the longest file name, in bytes, that a record of a
// refused request keeps of what the client sent: a name over
// pmgsync.MaxNameBytes is refused, and its first bytes say enough.
const maxAuditName = 2 * pmgsync.MaxNameBytes

// appendAudit appends ev to the audit trail with the actor of ctx, even if
// the client of ctx has gone away: a client that hangs up does not take its
// record with it.
func (e *Engine) appendAudit(ctx context.Context, ev *pmgsync.AuditEvent) error {
	ev.SetActor(pmgsync.ActorFrom(ctx))
	if err := e.meta.AppendAudit(context.WithoutCancel(ctx), ev); err != nil {
		return fmt.Errorf("append audit event %s: %w", ev.Action, err)
	}
	return nil
}

// audit is appendAudit for the events that change nothing else (a
// download, a refused request), whose request must go on even if the
// record cannot be written: a failure is logged as an error, loudly, and
// not returned.
func (e *Engine) audit(ctx context.Context, ev *pmgsync.AuditEvent) {
	if err := e.appendAudit(ctx, ev); err != nil {
		e.log.ErrorContext(ctx, "AUDIT RECORD LOST: could not write an audit event",
			"action", ev.Action, "result", ev.Result, "technician", ev.Technician,
			"file", ev.FileName, "request_id", ev.RequestID, "err", err)
	}
}

// AuditRefused records a technician's upload, download or delete that was
// refused with err (action is pmgsync.ActionUpload, ActionDownload or
// ActionDelete; filename is the name as the client sent it). Upload, Open
// and Delete record their own refusals: this is for the server's refusals
// of a request that never reached them, such as a body over the size limit
// refused by its Content-Length. A failure to write the record is logged,
// not returned.
func (e *Engine) AuditRefused(ctx context.Context, tech *pmgsync.Technician, action, filename string, err error) {
	ev := &pmgsync.AuditEvent{
		Action:   action,
		FileName: auditName(filename),
		Result:   refusalResult(err),
		Detail:   pmgsync.ErrorMessage(pmgsync.English, err),
	}
	if tech != nil {
		ev.Technician = tech.Name
	}
	e.audit(ctx, ev)
}

// refusalResult is the Result of a refused request: the code of err, with a
// body cut off by the HTTP server's size cap counted as too large, as the
// client is told.
func refusalResult(err error) string {
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		return pmgsync.ETOOLARGE
	}
	return pmgsync.ErrorCode(err)
}

// auditName returns a client's file name as a record keeps it: valid UTF-8
// (anything else replaced by U+FFFD), at most maxAuditName bytes.
func auditName(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= maxAuditName {
		return s
	}
	cut := maxAuditName
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// AuditDownload records that f, opened with Open, was sent to its
// technician with the given HTTP status and bytes of content. Only a
// response that carries content is recorded: 200 (Result "ok") and 206
// (Result "206", a range of the file); any other status (304 Not Modified,
// 412, 416) sent none and is not, nor should a HEAD request be. When fewer
// bytes than the file's Size were sent (a range, or a client that went away)
// the Detail says how many. A failure to write the record is logged, not
// returned.
func (e *Engine) AuditDownload(ctx context.Context, tech *pmgsync.Technician, f *pmgsync.File, status int, bytes int64) {
	ev := &pmgsync.AuditEvent{
		Action:     pmgsync.ActionDownload,
		Technician: tech.Name,
		FileName:   f.Name,
		Size:       f.Size,
		SHA256:     f.SHA256,
	}
	switch status {
	case http.StatusOK:
		ev.Result = "ok"
	case http.StatusPartialContent:
		ev.Result = strconv.Itoa(status)
	default:
		return
	}
	if bytes != f.Size {
		ev.Detail = fmt.Sprintf("%d of %d bytes sent", bytes, f.Size)
	}
	e.audit(ctx, ev)
}

// auditAuthFailed records a refused token. The token itself is never
// recorded, nor whose it might be: only that one was missing or refused.
func (e *Engine) auditAuthFailed(ctx context.Context, raw string) {
	ev := &pmgsync.AuditEvent{Action: pmgsync.ActionAuthFailed, Result: "403"}
	if raw == "" {
		ev.Detail = "no token"
	}
	e.audit(ctx, ev)
}

// AuditAuthBan records that the client of ctx (its actor's address) was
// banned until until for repeated failed authentications. One record is
// written when a ban begins, none for the requests it refuses: each would
// be a write that a guesser could make the server do for free. A failure
// to write the record is logged, not returned.
func (e *Engine) AuditAuthBan(ctx context.Context, until time.Time) {
	ev := &pmgsync.AuditEvent{
		Action: pmgsync.ActionAuthBan,
		Result: strconv.Itoa(http.StatusTooManyRequests),
		Detail: "repeated failed authentications; refused until " + until.UTC().Format(time.RFC3339),
	}
	e.audit(ctx, ev)
}

// Import results, as RecordImport records them.
const (
	ImportOK     = "ok"     // everything was imported, or left out on purpose
	ImportFailed = "failed" // some items could not be read or stored, or the run stopped
)

// RecordImport records a run of the old server's import, with summary
// (what it imported, found present and left out) as the record's Detail;
// failed is the error the run ended with, or nil. Unlike the records of a
// client's request, a failure to write this one is returned: the admin who
// ran the import is there to see it.
func (e *Engine) RecordImport(ctx context.Context, summary string, failed error) error {
	ev := &pmgsync.AuditEvent{Action: pmgsync.ActionImport, Result: ImportOK, Detail: summary}
	if failed != nil {
		ev.Result = ImportFailed
	}
	if err := e.appendAudit(ctx, ev); err != nil {
		return fmt.Errorf("record the import in the audit trail: %w", err)
	}
	return nil
}

// AuditEvents calls fn for the audit records f selects, oldest first,
// without holding them all in memory, and stops at fn's first error, which
// it returns.
func (e *Engine) AuditEvents(ctx context.Context, f pmgsync.AuditFilter, fn func(*pmgsync.AuditEvent) error) error {
	return e.meta.AuditEvents(ctx, f, fn)
}

// expireAudit is the audit part of a sweep: it records the tokens that have
// expired by now and removes the audit records past their retention. It
// logs what it did; what fails goes to the run's errors.
func (s *sweep) expireAudit(ctx context.Context) {
	toks, err := s.e.meta.ExpireTokens(ctx, s.now)
	if err != nil {
		s.record(fmt.Errorf("record expired tokens: %w", err))
	} else if len(toks) > 0 {
		s.e.log.InfoContext(ctx, "recorded expired tokens", "count", len(toks))
	}
	n, err := s.e.meta.PruneAudit(ctx, s.now.Add(-s.e.opts.AuditRetention))
	if err != nil {
		s.record(fmt.Errorf("prune the audit trail: %w", err))
	} else if n > 0 {
		s.e.log.InfoContext(ctx, "pruned audit records past their retention", "count", n, "retention", s.e.opts.AuditRetention)
	}
}

// What is wrong at a broken link of the audit trail, as AuditBreak.Kind
// says it.
const (
	// BreakModified: the record's hash does not match its content, so the
	// record, or its hash, was changed after it was written.
	BreakModified = "modified"
	// BreakMissing: the record does not point to the record before it, so
	// a record between them was deleted, or this one or the one before was
	// inserted (or changed and given a new hash). For the oldest record,
	// that the record it points to is gone without an audit.prune record
	// to say so: the start of the trail was cut off.
	BreakMissing = "missing or inserted"
)

// AuditReport is the outcome of VerifyAudit.
type AuditReport struct {
	// Records is how many records were checked: all of them if the trail
	// is intact, else up to and with the first broken link.
	Records int64
	// Broken is the first broken link, or nil if the trail is intact.
	Broken *AuditBreak
}

// AuditBreak is a broken link of the audit trail.
type AuditBreak struct {
	ID     int64  // the record where the chain breaks
	PrevID int64  // the record before it, 0 for the oldest
	Kind   string // BreakModified or BreakMissing
}

// String says, for an admin, where the chain breaks and what that means.
func (b *AuditBreak) String() string {
	switch {
	case b.Kind == BreakModified:
		return fmt.Sprintf("record %d was modified: its hash does not match its content", b.ID)
	case b.PrevID == 0:
		return fmt.Sprintf("record %d, the oldest, follows a record that is missing and that no audit.prune record names: older records were deleted", b.ID)
	default:
		return fmt.Sprintf("record %d does not follow record %d: a record between them was deleted, or one of them was inserted or rewritten", b.ID, b.PrevID)
	}
}

// errStop ends a walk of the audit trail early.
var errStop = errors.New("stop")

// VerifyAudit walks the audit trail, oldest first, and checks every link of
// its hash chain: that each record's Hash is pmgsync.AuditHash of its
// content chained after its PrevHash, and that its PrevHash is the Hash of
// the record before it. The oldest record may point to a record removed by
// PruneAudit only if an audit.prune record names that record's hash. It
// reports the first broken link, if any; the error is only for a trail that
// could not be read. It streams the records, so a trail of any length takes
// little memory.
func (e *Engine) VerifyAudit(ctx context.Context) (AuditReport, error) {
	var (
		rep       AuditReport
		prev      *pmgsync.AuditEvent
		firstPrev string // the PrevHash of the oldest record
		firstID   int64
	)
	err := e.meta.AuditEvents(ctx, pmgsync.AuditFilter{}, func(ev *pmgsync.AuditEvent) error {
		rep.Records++
		if ev.Hash != pmgsync.AuditHash(ev.PrevHash, ev) {
			rep.Broken = &AuditBreak{ID: ev.ID, Kind: BreakModified}
		} else if prev == nil {
			firstPrev, firstID = ev.PrevHash, ev.ID
		} else if ev.PrevHash != prev.Hash {
			rep.Broken = &AuditBreak{ID: ev.ID, PrevID: prev.ID, Kind: BreakMissing}
		}
		if rep.Broken != nil {
			rep.Broken.PrevID = prevID(prev)
			return errStop
		}
		prev = ev
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return AuditReport{}, fmt.Errorf("verify the audit trail: %w", err)
	}
	if firstPrev == "" {
		return rep, nil
	}
	// The oldest record points to one that is gone: fine if a prune
	// removed it and said so. Its record is newer than any record it
	// pruned, so it is still there unless the trail was cut off.
	named, err := e.pruneNames(ctx, firstPrev)
	if err != nil {
		return AuditReport{}, err
	}
	if !named {
		rep = AuditReport{Records: 1, Broken: &AuditBreak{ID: firstID, Kind: BreakMissing}}
	}
	return rep, nil
}

func prevID(prev *pmgsync.AuditEvent) int64 {
	if prev == nil {
		return 0
	}
	return prev.ID
}

// pruneNames reports whether an audit.prune record names hash as the last
// record it removed.
func (e *Engine) pruneNames(ctx context.Context, hash string) (bool, error) {
	found := false
	err := e.meta.AuditEvents(ctx, pmgsync.AuditFilter{Action: pmgsync.ActionAuditPrune}, func(ev *pmgsync.AuditEvent) error {
		if strings.Contains(ev.Detail, hash) {
			found = true
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return false, fmt.Errorf("verify the audit trail: read the prune records: %w", err)
	}
	return found, nil
}
