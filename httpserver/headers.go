package httpserver

import (
	"net/http"
	"strings"
)

// apiCSP is the Content-Security-Policy of the API's answers, none of which
// is a page: were one rendered anyway (a download opened in a tab, an error
// shown by a browser), it may load, run, frame, submit and be framed by
// nothing.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// hsts is the Strict-Transport-Security of an answer over HTTPS: a year.
const hsts = "max-age=31536000"

// commonHeaders sets the headers that every answer to r carries, errors
// and 404s included: the security headers and, for a page of an allowed
// origin, the CORS ones (see corsHeaders). A handler that serves something
// else than the API, such as a page, sets its own policy over these.
//
// Cross-Origin-Resource-Policy: same-origin keeps other sites from
// embedding the answers (an <img> or <script> pointing at a download)
// without breaking the pages of the CORS allow-list: browsers apply it to
// no-cors requests only, and a page's fetch is a CORS request.
func (s *Server) commonHeaders(h http.Header, r *http.Request) {
	h.Set("Content-Security-Policy", apiCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	if s.overHTTPS(r) {
		h.Set("Strict-Transport-Security", hsts)
	}
	s.corsHeaders(h, r)
}

// overHTTPS reports whether the client sent r over HTTPS: to this server,
// or to a trusted proxy that says so in X-Forwarded-Proto or, if there is
// none, in the proto= of Forwarded. The first hop's word counts, the
// scheme the client itself used; a client that forges it can only make
// its own browser insist on HTTPS, and browsers ignore the header on an
// answer that came over plain HTTP anyway.
func (s *Server) overHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !s.trusts(peerAddr(r)) {
		return false
	}
	return strings.EqualFold(forwardedProto(r.Header), "https")
}

// forwardedProto is the scheme that the first proxy in front of the server
// recorded in h, or "".
func forwardedProto(h http.Header) string {
	if v := h.Get("X-Forwarded-Proto"); v != "" {
		first, _, _ := strings.Cut(v, ",")
		return strings.TrimSpace(first)
	}
	first, _, _ := strings.Cut(h.Get("Forwarded"), ",")
	for k, v := range forwardedPairs(first) {
		if strings.EqualFold(k, "proto") {
			return v
		}
	}
	return ""
}
