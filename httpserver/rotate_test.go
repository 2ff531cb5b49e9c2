package httpserver_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/engine"
)

// refusal is what a client sees of a refused request.
type refusal struct {
	status      int
	contentType string
	body        string
}

// TestRotatedTokenGrace rotates a technician's token with a grace: during
// the grace both tokens reach the technician's files; after it the old
// token gets exactly the refusal of an unknown token, as an expired one
// does, on every classic endpoint and in both languages.
func TestRotatedTokenGrace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, engine.Options{})
	old := e.token("maria")
	report := xlsx("relatório da bomba 07")
	decode(t, e.upload(old, "relatorio-bomba-07.xlsx", report), http.StatusOK)
	expiring, _, _, err := e.engine.CreateToken(ctx, "maria", "tablet", e.clock.Now().Add(30*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, _, err := e.engine.RotateToken(ctx, old, "", engine.SameLifetime, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pull := func(token string) *http.Response {
		return e.get(http.MethodGet, "/pull", url.Values{"token": {token}, "filename": {"relatorio-bomba-07.xlsx"}})
	}

	e.clock.Advance(59 * time.Minute)
	for name, tok := range map[string]string{"old": old, "new": fresh} {
		if got := body(t, pull(tok)); got != string(report) {
			t.Errorf("%s token during the grace: pull = %q", name, got)
		}
		req := httptest.NewRequest(http.MethodGet, "/list", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if got := decode(t, e.do(req), http.StatusOK)["files"]; len(got.([]any)) != 1 {
			t.Errorf("%s token during the grace: list = %v", name, got)
		}
	}

	e.clock.Advance(time.Minute) // the grace is over
	if got := body(t, pull(fresh)); got != string(report) {
		t.Errorf("new token after the grace: pull = %q", got)
	}
	routes := []struct{ method, path string }{
		{http.MethodPost, "/upload"},
		{http.MethodGet, "/list"},
		{http.MethodGet, "/pull"},
		{http.MethodDelete, "/delete"},
	}
	refuse := func(token, path, method, lang string) refusal {
		t.Helper()
		req := httptest.NewRequest(method, path+"?"+url.Values{"token": {token}, "filename": {"relatorio-bomba-07.xlsx"}}.Encode(), nil)
		if lang != "" {
			req.Header.Set("Accept-Language", lang)
		}
		resp := e.do(req)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return refusal{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
	}
	for _, rt := range routes {
		for _, lang := range []string{"", "en-US,en;q=0.9"} {
			unknown := refuse("pmg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", rt.path, rt.method, lang)
			if unknown.status != http.StatusForbidden {
				t.Fatalf("%s %s with an unknown token: %+v, want 403", rt.method, rt.path, unknown)
			}
			for name, tok := range map[string]string{"rotated out": old, "expired": expiring} {
				if got := refuse(tok, rt.path, rt.method, lang); got != unknown {
					t.Errorf("%s %s (Accept-Language %q) with the %s token:\n got %+v\nwant %+v, as for an unknown token",
						rt.method, rt.path, lang, name, got, unknown)
				}
			}
		}
	}

	// With no grace the old token is refused from the very next request.
	newer, _, _, err := e.engine.RotateToken(ctx, fresh, "", engine.SameLifetime, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := refuse(fresh, "/list", http.MethodGet, ""), refuse("pmg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "/list", http.MethodGet, ""); got != want {
		t.Errorf("token rotated with no grace: %+v, want %+v", got, want)
	}
	if got := body(t, pull(newer)); got != string(report) {
		t.Errorf("its replacement: pull = %q", got)
	}
}
