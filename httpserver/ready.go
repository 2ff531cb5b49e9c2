package httpserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
)

// DefaultReadinessTimeout bounds how long /readyz waits for all its
// checks unless Options.ReadinessTimeout says otherwise: a store that takes
// longer to answer is not ready to serve.
const DefaultReadinessTimeout = 2 * time.Second

// A Check is one condition of readiness for /readyz.
type Check struct {
	// Name says what is checked, e.g. "database".
	Name string
	// Run returns nil if the dependency can serve requests. A *NotReady
	// error's Reason is shown to the client of /readyz; any other error
	// only in the log, the client sees "<Name>: not ready".
	Run func(ctx context.Context) error
}

// NotReady is the failure of a Check, with a reason fit for the client of
// /readyz (no paths, no internal error text) and the cause for the log.
type NotReady struct {
	Reason string
	Err    error
}

func (e *NotReady) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *NotReady) Unwrap() error { return e.Err }

// handleReadyz answers 200 {"status":"ok"} if every readiness check
// passes within the readiness timeout, else 503 {"detail": the reasons, joined
// by "; "}. Failures are logged with their causes.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.readinessTimeout)
	defer cancel()
	var reasons []string
	for _, c := range s.readiness {
		err := c.Run(ctx)
		if err == nil {
			continue
		}
		reason := c.Name + ": not ready"
		if nr, ok := errors.AsType[*NotReady](err); ok {
			reason = c.Name + ": " + nr.Reason
		}
		reasons = append(reasons, reason)
		s.log.WarnContext(ctx, "not ready", "check", c.Name, "request_id", RequestID(ctx), "err", err)
	}
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"detail": strings.Join(reasons, "; ")})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// pinger is the ability of a metadata store to check, cheaply, that it
// answers.
type pinger interface {
	Ping(ctx context.Context) error
}

// StoreCheck returns a Check named "database" that the metadata store
// answers: with its Ping method if it has one (sqlite.DB's also takes the
// write lock, so that a database locked by a writer is not ready), else by looking up a
// technician who cannot exist (the empty name), a one-row indexed read.
func StoreCheck(meta pmgsync.MetadataStore) Check {
	return Check{Name: "database", Run: func(ctx context.Context) error {
		var err error
		if p, ok := meta.(pinger); ok {
			err = p.Ping(ctx)
		} else if _, err = meta.TechnicianByName(ctx, ""); pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			err = nil
		}
		// A lock is named first: a Ping that waits for the write lock
		// until the deadline says so.
		switch {
		case err == nil:
			return nil
		case strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "SQLITE_BUSY"):
			return &NotReady{Reason: "the database is locked", Err: err}
		case errors.Is(err, context.DeadlineExceeded):
			return &NotReady{Reason: "the database does not answer", Err: err}
		}
		return &NotReady{Reason: "the database is unreachable", Err: err}
	}}
}

// BlobCheck returns a Check named "blob store" that a blob can be created
// and written in blobs; the blob is aborted, never committed.
func BlobCheck(blobs pmgsync.BlobStore) Check {
	return Check{Name: "blob store", Run: func(ctx context.Context) error {
		w, err := blobs.Create(ctx)
		if err != nil {
			return &NotReady{Reason: "cannot create a blob", Err: err}
		}
		defer w.Abort()
		if _, err := w.Write([]byte("readyz")); err != nil {
			return &NotReady{Reason: "cannot write a blob", Err: err}
		}
		return nil
	}}
}

// FreeSpaceCheck returns a Check named "disk" that check, the engine's
// free-space guard (engine.Engine.CheckFreeSpace), lets uploads through,
// so that a server refusing every upload for want of space is taken out of
// rotation.
func FreeSpaceCheck(check func(ctx context.Context) error) Check {
	return Check{Name: "disk", Run: func(ctx context.Context) error {
		err := check(ctx)
		switch {
		case err == nil:
			return nil
		case pmgsync.IsCode(err, pmgsync.ESTORAGE):
			return &NotReady{Reason: "disk full: free space below the guard", Err: err}
		}
		return &NotReady{Reason: "cannot tell the free space", Err: err}
	}}
}
