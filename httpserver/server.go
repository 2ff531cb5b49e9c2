// Package httpserver serves pmgsync over HTTP: the classic endpoints that the
// technicians' apps already speak (/upload, /list, /pull, /delete), with the
// status codes and JSON shapes of the server pmgsync replaces, and the
// health endpoint. Handlers translate between HTTP and the engine; they hold
// no state of their own.
package httpserver

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// Server routes requests to the engine.
type Server struct {
	engine *engine.Engine
	log    *slog.Logger
	mux    *http.ServeMux
}

// New returns a Server over eng. A nil logger means slog.Default().
func New(eng *engine.Engine, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{engine: eng, log: logger, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	// Methods are checked by the handlers rather than by the mux patterns, so
	// that a wrong method gets the JSON 405 the old server sent.
	s.mux.Handle("/upload", s.only(http.MethodPost, s.limitBody(s.authenticated(s.handleUpload))))
	s.mux.Handle("/list", s.only(http.MethodGet, s.authenticated(s.handleList)))
	s.mux.Handle("/pull", s.only(http.MethodGet, s.authenticated(s.handlePull)))
	s.mux.Handle("/delete", s.only(http.MethodDelete, s.authenticated(s.handleDelete)))
	s.mux.Handle("/healthz", s.only(http.MethodGet, http.HandlerFunc(s.handleHealthz)))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.detail(w, r, http.StatusNotFound, pmgsync.MsgNotFoundRoute)
	})
}

// ServeHTTP gives every request an id and records it in the access log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := newRequestID()
	w.Header().Set("X-Request-Id", id)
	r = r.WithContext(withRequestID(r.Context(), id))
	rec := &recorder{ResponseWriter: w}
	defer s.logRequest(r, rec, start)
	s.mux.ServeHTTP(rec, r)
}

// only lets requests with the given method through (GET also admits HEAD)
// and answers the others with 405 and an Allow header.
func (s *Server) only(method string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			allow := method
			if method == http.MethodGet {
				allow += ", " + http.MethodHead
			}
			w.Header().Set("Allow", allow)
			s.detail(w, r, http.StatusMethodNotAllowed, pmgsync.MsgMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// writeJSON writes v as the JSON body of a response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // a failure here is the client's connection going away
}

func newRequestID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
