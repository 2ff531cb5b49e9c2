// Package httpserver serves pmgsync over HTTP: the classic endpoints that the
// technicians' apps already speak (/upload, /list, /pull, /delete), with the
// status codes and JSON shapes of the server pmgsync replaces, and the
// operational endpoints (/healthz, /readyz, /metrics). Handlers translate
// between HTTP and the engine; they hold no state of their own.
//
// Every request gets an id (X-Request-Id), a client address (from the
// socket, or from the forwarding headers of a trusted proxy), one line in
// the access log, its count in the metrics, and an actor in its context for
// the engine's audit trail. A handler that panics answers 500 and leaves
// the server serving.
package httpserver

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/metrics"
	"github.com/pmgsync/pmgsync/throttle"
)

// Options are the optional dependencies and settings of a Server. The zero
// value serves the classic endpoints and the health checks, trusts no proxy
// and counts nothing.
type Options struct {
	// Logger receives the access log and the errors, through RedactHandler,
	// which keeps a handler that already redacts as it is; slog.Default()
	// if nil.
	Logger *slog.Logger
	// TrustedProxies are the addresses of the reverse proxies whose
	// X-Forwarded-For, Forwarded and X-Request-Id headers are believed (see
	// ParseTrustedProxies). Empty: the socket peer is the client.
	TrustedProxies []netip.Prefix
	// Metrics, if not nil, counts the requests and what they do.
	Metrics *metrics.Metrics
	// ServeMetrics also answers GET /metrics with Metrics. Leave it off when
	// the metrics are served on a listener of their own, out of the public's
	// reach.
	ServeMetrics bool
	// Readiness are the checks of /readyz (see StoreCheck, BlobCheck,
	// FreeSpaceCheck); with none, /readyz answers as /healthz does.
	Readiness []Check
	// ReadinessTimeout bounds how long /readyz waits for all its checks;
	// DefaultReadinessTimeout if zero or negative.
	ReadinessTimeout time.Duration

	// Abuse limits: each refuses with 429 Too Many Requests, a Retry-After
	// and a JSON detail, and counts the refusal in Metrics. Their zero
	// values turn them off.
	//
	// AuthFailures, if not nil, counts the requests refused for a wrong,
	// expired or revoked token (not those with no token) by client address
	// (IPv6 by its /64). A banned address is refused for the ban, whatever
	// token it sends, and its tokens are not even looked up; the ban's
	// start is logged, counted and recorded in the audit trail (see
	// throttle.NewMemoryFailures for its limits).
	AuthFailures throttle.Failures
	// RateLimit is how many requests a second each token may make on
	// average, RateBurst how many at once (1 if less); RateLimit 0, or
	// anything but a finite positive number, turns the limit off.
	RateLimit float64
	RateBurst int
	// MaxConcurrentUploads bounds the uploads of each technician in
	// flight at once; 0 or less: no bound.
	MaxConcurrentUploads int
	// Now is the clock of the abuse limits; time.Now if nil.
	Now func() time.Time

	// CORSOrigins are the web origins whose pages may call the API from a
	// browser, each "scheme://host[:port]" in lower case as browsers send
	// it in the Origin header (a default port is ignored). Their requests
	// get the CORS headers and pass the protection against cross-site
	// requests; their preflights are answered 204. Empty: no origin is
	// allowed, and every preflight is refused with 403. New panics on an
	// entry that is not an origin.
	CORSOrigins []string
	// UploadStallTimeout cuts off a request whose body makes no progress
	// for that long (no byte arrives): it is refused with 408 and its
	// connection closed, and an upload stores nothing. A body that keeps
	// coming, however slowly, is never cut. Zero or negative: no limit.
	UploadStallTimeout time.Duration
}

// Server routes requests to the engine.
type Server struct {
	engine    *engine.Engine
	log       *slog.Logger
	trusted   []netip.Prefix
	metrics   *metrics.Metrics
	readiness []Check
	// readinessTimeout bounds the checks of /readyz.
	readinessTimeout time.Duration
	abuse            abuse
	mux              *http.ServeMux
	// handler is the mux behind the protection against cross-site requests.
	handler http.Handler
	// origins is the CORS allow-list.
	origins      map[string]bool
	stallTimeout time.Duration
	// bodyReaders are the *bufio.Reader of bodyBufferSize that uploads'
	// bodies are read through.
	bodyReaders sync.Pool
}

// New returns a Server over eng.
func New(eng *engine.Engine, opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{
		engine:           eng,
		log:              slog.New(RedactHandler(logger.Handler())),
		trusted:          opts.TrustedProxies,
		metrics:          opts.Metrics,
		readiness:        opts.Readiness,
		readinessTimeout: opts.ReadinessTimeout,
		abuse:            newAbuse(opts),
		mux:              http.NewServeMux(),
		stallTimeout:     opts.UploadStallTimeout,
	}
	s.bodyReaders.New = func() any { return bufio.NewReaderSize(nil, bodyBufferSize) }
	if s.readinessTimeout <= 0 {
		s.readinessTimeout = DefaultReadinessTimeout
	}
	s.routes(opts.ServeMetrics && opts.Metrics != nil)
	s.allowOrigins(opts.CORSOrigins)
	return s
}

func (s *Server) routes(serveMetrics bool) {
	// Methods are checked by the handlers rather than by the mux patterns, so
	// that a wrong method gets the JSON 405 the old server sent.
	// The token is checked before the size, so that an oversized upload
	// with a bad token is counted and recorded as a refused token; the
	// check reads nothing of the body.
	s.mux.Handle("/upload", s.only(http.MethodPost, s.authenticated(s.uploadSlot(s.limitBody(http.HandlerFunc(s.handleUpload))).ServeHTTP)))
	s.mux.Handle("/list", s.only(http.MethodGet, s.authenticated(s.handleList)))
	s.mux.Handle("/pull", s.only(http.MethodGet, s.authenticated(s.handlePull)))
	s.mux.Handle("/delete", s.only(http.MethodDelete, s.authenticated(s.handleDelete)))
	s.mux.Handle("/healthz", s.only(http.MethodGet, http.HandlerFunc(s.handleHealthz)))
	s.mux.Handle("/readyz", s.only(http.MethodGet, http.HandlerFunc(s.handleReadyz)))
	if serveMetrics {
		s.mux.Handle("/metrics", s.only(http.MethodGet, s.metrics.Handler(s.log)))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.detail(w, r, http.StatusNotFound, pmgsync.MsgNotFoundRoute)
	})
}

// ServeHTTP gives every request an id, a client address and an actor for
// the audit trail, the security and CORS headers (see commonHeaders), and
// a body that must keep coming (see Options.UploadStallTimeout); it
// refuses cross-site requests of browsers (see Options.CORSOrigins),
// recovers from a panic of its handler, and records the request in the
// access log and the metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := s.requestID(r)
	ip := s.clientIP(r)
	w.Header().Set("X-Request-Id", id)
	s.commonHeaders(w.Header(), r)
	ctx := withRequestInfo(withRequestID(r.Context(), id), &requestInfo{})
	r = r.WithContext(pmgsync.WithActor(ctx, s.actor(r, ip, id)))
	rec := &recorder{ResponseWriter: w}
	if s.stallTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
		guard := stallGuard(w, r.Body, s.stallTimeout)
		r.Body, rec.beforeHeader = guard, guard.abandon
	}
	body := &countingBody{ReadCloser: r.Body}
	if r.Body != nil {
		r.Body = body
	}
	defer func() {
		v := recover()
		if v != nil && v != http.ErrAbortHandler {
			s.recovered(rec, r, v)
		}
		s.finish(r, rec, body.n, start, ip)
		if v != nil && (v == http.ErrAbortHandler || rec.wroteBeforePanic) {
			// The response is cut short: let net/http close the
			// connection, so the client cannot take it for a whole one.
			panic(http.ErrAbortHandler)
		}
	}()
	s.handler.ServeHTTP(rec, r)
}

// route is the pattern that served r, the label of its metrics.
func route(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched" // a redirect of the mux, to a cleaned path
	}
	return r.Pattern
}

// finish records a request that is done in the access log and the metrics.
func (s *Server) finish(r *http.Request, rec *recorder, bytesIn int64, start time.Time, clientIP string) {
	d := time.Since(start)
	status := rec.status
	if status == 0 {
		status = http.StatusOK // a handler that wrote nothing
	}
	s.metrics.Request(route(r), status, d)
	s.logRequest(r, rec, status, bytesIn, d, clientIP)
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// only lets requests with the given method through (GET also admits HEAD),
// answers a browser's CORS preflight (see preflight), and answers the
// others with 405 and an Allow header.
func (s *Server) only(method string, next http.Handler) http.Handler {
	allow := method
	if method == http.MethodGet {
		allow += ", " + http.MethodHead
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPreflight(r) {
			s.preflight(w, r, allow)
			return
		}
		if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", allow)
			s.detail(w, r, http.StatusMethodNotAllowed, pmgsync.MsgMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSON writes v as the JSON body of a response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // a failure here is the client's connection going away
}

// countingBody counts the bytes read from a request's body.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}
