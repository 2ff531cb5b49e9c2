package httpserver

import (
	"net/http"
	"strings"
)

// authenticated admits only requests with an active token and puts its
// technician in the request's context. The token comes from the
// Authorization header ("Bearer T", for new clients) or else from the token
// query parameter (the classic apps). Every refusal gets the same 403 body,
// so that a guesser learns nothing about which tokens exist.
func (s *Server) authenticated(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, _, err := s.engine.Authenticate(r.Context(), tokenOf(r))
		if err != nil {
			s.error(w, r, err)
			return
		}
		next(w, r.WithContext(withTechnician(r.Context(), t)))
	})
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
