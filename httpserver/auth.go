package httpserver

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/pmgsync/pmgsync"
)

// maxUserAgent bounds the bytes of a User-Agent that go into an audit
// record: enough for any real app, not a 64 KiB header per refused request.
const maxUserAgent = 256

// authenticated admits only requests with an active token and puts its
// technician in the request's context, and the technician as the actor of
// what the engine does for the request (see pmgsync.WithActor). The token
// comes from the Authorization header ("Bearer T", for new clients) or else
// from the token query parameter (the classic apps). Every refusal gets the
// same 403 body, so that a guesser learns nothing about which tokens exist.
// With the abuse limits on, a client address banned for its failures gets
// 429 before its token is looked at, a refused token counts towards a ban,
// and a token over its rate gets 429 (see abuse.go).
func (s *Server) authenticated(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, banned := s.refuseBanned(w, r)
		if banned {
			return
		}
		raw := tokenOf(r)
		t, tok, err := s.engine.Authenticate(r.Context(), raw)
		if err != nil {
			if pmgsync.IsCode(err, pmgsync.EUNAUTHORIZED) {
				s.metrics.AuthFailure()
				// No token is no guess, and costs no lookup; a token that
				// exists but is no longer active (a phone still syncing
				// after a rotation or a revocation) is no guess either.
				if raw != "" && !errors.Is(err, pmgsync.ErrInactiveToken) {
					s.countFailure(r, key)
				}
			}
			s.error(w, r, err)
			return
		}
		if s.refuseRate(w, r, tok.ID) {
			return
		}
		infoOf(r.Context()).technicianID = t.ID
		ctx := withTechnician(r.Context(), t)
		a := pmgsync.ActorFrom(ctx)
		a.Name = t.Name
		next(w, r.WithContext(pmgsync.WithActor(ctx, a)))
	})
}

// actor is who a request acts for before it is authenticated: an anonymous
// technician, with where the request came from, so that the audit record
// of a refused token says from where it was tried.
func (s *Server) actor(r *http.Request, clientIP, requestID string) pmgsync.Actor {
	ua := r.Header.Get("User-Agent")
	if len(ua) > maxUserAgent {
		cut := maxUserAgent
		for cut > 0 && !utf8.RuneStart(ua[cut]) { // not inside a character
			cut--
		}
		ua = ua[:cut]
	}
	return pmgsync.Actor{
		Kind:      pmgsync.ActorTechnician,
		ClientIP:  clientIP,
		UserAgent: strings.ToValidUTF8(ua, "\uFFFD"),
		RequestID: requestID,
	}
}

// tokenOf returns the raw token a request carries, or "".
func tokenOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
	}
	return r.URL.Query().Get("token")
}
