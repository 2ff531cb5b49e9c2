package pmgsync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Audit actions: what an AuditEvent records.
const (
	ActionUpload            = "upload"             // a new file (OldSHA256 empty) or a replacement
	ActionDownload          = "download"           // a pull
	ActionDelete            = "delete"             // a delete by a client
	ActionExpire            = "expire"             // a file removed by the retention sweep
	ActionAuthFailed        = "auth.failed"        // a request with a missing, unknown, expired or revoked token
	ActionAuthBan           = "auth.ban"           // a client address banned for repeated failed authentications
	ActionTokenCreate       = "token.create"       // a token issued (or imported)
	ActionTokenRevoke       = "token.revoke"       // a token revoked
	ActionTokenExpire       = "token.expire"       // a token found past its expiry by the sweep
	ActionTokenRotate       = "token.rotate"       // a token replaced by a new one; the old one ends after a grace period
	ActionTechnicianAdd     = "technician.add"     // a technician created
	ActionTechnicianChange  = "technician.change"  // email, retention or quota changed
	ActionTechnicianDisable = "technician.disable" // disabled (Result "disabled") or enabled ("enabled")
	ActionImport            = "import"             // a run of import-seed (Detail: its summary)
	ActionBackup            = "backup"             // a backup taken
	ActionRestore           = "restore"            // a backup restored
	ActionAuditPrune        = "audit.prune"        // audit records past their retention removed
	ActionFileDamaged       = "file.damaged"       // a file marked damaged by "verify --repair" (Detail: what is wrong)
)

// Actor kinds: who did what an AuditEvent records.
const (
	ActorTechnician = "technician" // through the API, with a token
	ActorAdmin      = "admin"      // through the admin console
	ActorCLI        = "cli"        // an administration command
	ActorSystem     = "system"     // the server itself: sweeps, start-up
)

// Actor is who a change is done for, with where the request came from. It
// travels in the context (WithActor), so that a store records it in the
// same transaction as the change it describes.
type Actor struct {
	Kind      string // one of the Actor* constants
	Name      string // technician or admin name; "" for the CLI and the system
	ClientIP  string
	UserAgent string
	RequestID string
}

type actorKey struct{}

// WithActor returns ctx carrying a.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, or the system if there is none.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: ActorSystem}
}

// AuditEvent is one record of the audit trail. Records form a hash chain:
// each holds the hash of the record before it (PrevHash) and its own (Hash,
// see AuditHash), so that a record modified, deleted or inserted after the
// fact breaks the chain at that point.
type AuditEvent struct {
	ID         int64
	Time       time.Time
	ActorKind  string
	ActorName  string
	Action     string // one of the Action* constants
	Technician string // the technician the action concerns, if any
	FileName   string
	Size       int64
	SHA256     string
	OldSHA256  string // the replaced version's, for an upload that replaced a file
	ClientIP   string
	UserAgent  string
	Result     string // "ok", an HTTP status such as "403", or an error code such as "too_large"
	RequestID  string
	Detail     string // free text: a token's id and label, an import's summary…
	PrevHash   string
	Hash       string
}

// SetActor fills in the actor fields of e from a.
func (e *AuditEvent) SetActor(a Actor) {
	e.ActorKind, e.ActorName = a.Kind, a.Name
	e.ClientIP, e.UserAgent, e.RequestID = a.ClientIP, a.UserAgent, a.RequestID
}

// AuditHash returns the hash of e chained after prev (the previous record's
// Hash, "" for the first): the SHA-256, in hex, of prev and every field of e
// but ID, PrevHash and Hash, each written with its length so that no two
// different records share an encoding. The ID is left out so that the chain
// does not depend on how a store numbers rows.
func AuditHash(prev string, e *AuditEvent) string {
	var b strings.Builder
	field := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
		b.WriteByte(';')
	}
	field(prev)
	field(strconv.FormatInt(e.Time.UnixNano(), 10))
	for _, s := range []string{e.ActorKind, e.ActorName, e.Action, e.Technician, e.FileName} {
		field(s)
	}
	field(strconv.FormatInt(e.Size, 10))
	for _, s := range []string{e.SHA256, e.OldSHA256, e.ClientIP, e.UserAgent, e.Result, e.RequestID, e.Detail} {
		field(s)
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// AuditFilter selects audit records. Zero fields select everything.
type AuditFilter struct {
	Technician string
	Action     string
	Since      time.Time // at or after
	Until      time.Time // before
	Limit      int       // at most this many (the oldest that match); 0 for all
}
