package httpserver

import (
	"errors"
	"net/http"

	"github.com/pmgsync/pmgsync"
)

// multipartAllowance is how many bytes an upload's body may hold beyond
// the file itself: the multipart boundaries and part headers, the file
// name, and a few small form fields that some apps send before the file.
const multipartAllowance = 64 << 10

// limitBody keeps an upload's body within the engine's size limit plus
// multipartAllowance. A body whose Content-Length is already over that is
// refused with 413 before a byte of it is read; any other body is capped,
// so that a client that streams a chunked body, or one longer than it
// declared, cannot make the server read more than that either. The engine
// counts the file's own bytes against the limit exactly, as they arrive.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.engine.MaxUploadSize() + multipartAllowance
		if r.ContentLength > limit {
			err := s.engine.TooLarge()
			s.engine.AuditRefused(r.Context(), technician(r.Context()), pmgsync.ActionUpload, "", err)
			s.error(w, r, err)
			return
		}
		// MaxBytesReader gets the server's own ResponseWriter, not the
		// access log's wrapper, so that hitting the cap also tells the
		// server to close the connection instead of reading on.
		r.Body = http.MaxBytesReader(innermost(w), r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// innermost returns the ResponseWriter that w wraps, through every layer
// that has an Unwrap method, as http.ResponseController finds it.
func innermost(w http.ResponseWriter) http.ResponseWriter {
	for {
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
}

// bodyTooLarge translates err into the engine's ETOOLARGE if the body cap
// of limitBody caused it, which happens when the multipart headers and
// fields before the file take more than their allowance; otherwise it
// returns err unchanged.
func (s *Server) bodyTooLarge(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return s.engine.TooLarge()
	}
	return err
}
