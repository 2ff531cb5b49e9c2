package httpserver

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"

	"github.com/pmgsync/pmgsync"
)

// recovered handles the panic v of r's handler: it logs the panic with its
// stack, tokens removed, and answers 500 with the request id, which lets an
// operator find the log line from what the client shows. If the handler
// had already begun its response, there is no answering any more; the
// connection is then cut (see ServeHTTP).
func (s *Server) recovered(rec *recorder, r *http.Request, v any) {
	s.metrics.Panic()
	id := RequestID(r.Context())
	scrub := func(text string) string {
		if tok := tokenOf(r); len(tok) >= 4 {
			text = strings.ReplaceAll(text, tok, redacted)
		}
		return Redact(text)
	}
	s.log.ErrorContext(r.Context(), "panic serving a request",
		"request_id", id, "method", r.Method, "route", route(r),
		"panic", scrub(fmt.Sprint(v)), "stack", scrub(string(debug.Stack())))
	if rec.status != 0 {
		rec.wroteBeforePanic = true
		return
	}
	// Headers the handler set for the answer it meant to give (a file's
	// Content-Disposition, say) do not belong on this one; those of every
	// answer do.
	h := rec.Header()
	for k := range h {
		if k != "X-Request-Id" {
			delete(h, k)
		}
	}
	s.commonHeaders(h, r)
	msg := pmgsync.Translate(lang(r), pmgsync.MsgInternalWithID, id)
	writeJSON(rec, http.StatusInternalServerError, map[string]string{"detail": msg, "request_id": id})
}
