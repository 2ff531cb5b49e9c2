package httpserver

import (
	"errors"
	"net/http"

	"github.com/pmgsync/pmgsync"
)

// statusOf maps domain error codes to HTTP statuses.
var statusOf = map[string]int{
	pmgsync.EINVALID:      http.StatusBadRequest,
	pmgsync.ENOTFOUND:     http.StatusNotFound,
	pmgsync.ECONFLICT:     http.StatusConflict,
	pmgsync.EUNAUTHORIZED: http.StatusForbidden, // the old server's status for a bad token
	pmgsync.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	pmgsync.EUNSUPPORTED:  http.StatusUnsupportedMediaType,
	pmgsync.ESTORAGE:      http.StatusInsufficientStorage, // quotas and the free-space guard
	pmgsync.EINTERNAL:     http.StatusInternalServerError,
}

// error answers a failed request: the status of err's code and a
// {"detail": …} body in the client's language. Internal errors are logged
// with the request id; their text never reaches the client. A body that
// stalled (see stallGuard) is a 408, whatever its code. A 413 or a 408 also
// closes the connection: the rest of a body that is too large is not worth
// reading, a stalled one may never come, and the connection cannot serve
// another request before it has been read.
func (s *Server) error(w http.ResponseWriter, r *http.Request, err error) {
	code := pmgsync.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if errors.Is(err, errStalled) {
		status = http.StatusRequestTimeout
	}
	if status == http.StatusRequestEntityTooLarge || status == http.StatusRequestTimeout {
		w.Header().Set("Connection", "close")
	}
	if _, bare := err.(*pmgsync.Error); status == http.StatusInternalServerError {
		s.log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "err", err)
	} else if !bare {
		// A refusal with a cause behind it (a broken connection, a zip that
		// did not open): the client sees the message, the log keeps why.
		s.log.InfoContext(r.Context(), "request refused", "request_id", RequestID(r.Context()),
			"method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, map[string]string{"detail": pmgsync.ErrorMessage(lang(r), err)})
}

// detail answers with status and the catalog message key.
func (s *Server) detail(w http.ResponseWriter, r *http.Request, status int, key string, args ...any) {
	writeJSON(w, status, map[string]string{"detail": pmgsync.Translate(lang(r), key, args...)})
}

// lang is the language of the request's user-facing text: pt-BR unless the
// client prefers English in Accept-Language.
func lang(r *http.Request) pmgsync.Lang {
	return pmgsync.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
}
