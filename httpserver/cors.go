package httpserver

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/pmgsync/pmgsync"
)

// The CORS answers for an allowed origin. The API takes its token as a
// Bearer header, never from a cookie, so credentials are not allowed: a
// page of an allowed origin sends the token it was given, and the browser
// adds nothing of its own.
const (
	// corsAllowHeaders are the request headers a page may send.
	corsAllowHeaders = "Authorization, Content-Type, Accept-Language, X-Request-Id"
	// corsExposeHeaders are the response headers beyond the CORS-safelisted
	// ones that a page may read: the id to quote in a support call, the
	// name of a downloaded file, and when to come back after a refusal.
	corsExposeHeaders = "X-Request-Id, Content-Disposition, Retry-After"
	// corsMaxAge is how many seconds a browser may keep a preflight's answer.
	corsMaxAge = "600"
)

// allowOrigins sets up the CORS allow-list and, over the mux, the
// protection against cross-site requests (see http.CrossOriginProtection),
// which trusts the same origins. Each origin is a web origin as browsers
// send it in the Origin header, "scheme://host[:port]" in lower case; a
// default port (":443" for https, ":80" for http) is dropped, since a
// browser never sends it. It panics if one is not an origin: the caller
// validates what it passes (see Options.CORSOrigins).
func (s *Server) allowOrigins(origins []string) {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux has not seen r: name the route it would have served, as
		// the mux itself does, for the access log and the metrics.
		_, r.Pattern = s.mux.Handler(r)
		s.detail(w, r, http.StatusForbidden, pmgsync.MsgCrossOrigin)
	}))
	s.origins = make(map[string]bool, len(origins))
	for _, o := range origins {
		o = canonicalOrigin(o)
		if err := cop.AddTrustedOrigin(o); err != nil {
			panic(fmt.Sprintf("httpserver: CORS origin %q: %v", o, err))
		}
		s.origins[o] = true
	}
	s.handler = cop.Handler(s.mux)
}

// canonicalOrigin is origin as a browser sends it: in lower case, without
// the scheme's default port.
func canonicalOrigin(origin string) string {
	o := strings.ToLower(origin)
	if host, ok := strings.CutPrefix(o, "https://"); ok {
		return "https://" + strings.TrimSuffix(host, ":443")
	}
	if host, ok := strings.CutPrefix(o, "http://"); ok {
		return "http://" + strings.TrimSuffix(host, ":80")
	}
	return o
}

// corsHeaders sets, on the answer to r, the CORS headers that let a page of
// an allowed origin read it, whatever its status: the detail of an error
// is meant for the page as much as its success is. An answer that depends
// on the Origin header says so (Vary) to the caches between.
func (s *Server) corsHeaders(h http.Header, r *http.Request) {
	if len(s.origins) == 0 {
		return
	}
	h.Add("Vary", "Origin")
	if origin := r.Header.Get("Origin"); s.origins[origin] {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
	}
}

// isPreflight reports whether r is a browser's CORS preflight: an OPTIONS
// request with an Origin and the method the page wants to use.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight answers a CORS preflight for a route that takes the methods
// allow: 204 with what a page of an allowed origin may send there, or 403
// without any CORS header for any other origin, which the browser takes
// as a refusal. Whether the method and headers asked for are among those
// allowed is for the browser to check.
func (s *Server) preflight(w http.ResponseWriter, r *http.Request, allow string) {
	if !s.origins[r.Header.Get("Origin")] {
		s.detail(w, r, http.StatusForbidden, pmgsync.MsgOriginNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", allow)
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}
