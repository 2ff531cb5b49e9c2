package httpserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/pmgsync/pmgsync/httpserver"
)

const office = "https://office.example.com"

// corsHeaderNames returns the names of the Access-Control-* headers of h.
func corsHeaderNames(h http.Header) []string {
	var names []string
	for k := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			names = append(names, k)
		}
	}
	return names
}

func TestCORSNothingAllowedByDefault(t *testing.T) {
	e := newOpsEnv(t, httpserver.Options{}, nil)
	tok := e.token("maria")

	req := httptest.NewRequest(http.MethodGet, "/list?token="+tok, nil)
	req.Header.Set("Origin", office)
	resp := e.do(req)
	decode(t, resp, http.StatusNotFound)
	if names := corsHeaderNames(resp.Header); names != nil {
		t.Errorf("CORS headers %v without an allow-list", names)
	}

	req = httptest.NewRequest(http.MethodOptions, "/list", nil)
	req.Header.Set("Origin", office)
	req.Header.Set("Access-Control-Request-Method", http.MethodGet)
	resp = e.do(req)
	if got := decode(t, resp, http.StatusForbidden); got["detail"] != "esta origem web não tem permissão para usar a API" {
		t.Errorf("detail = %v", got["detail"])
	}
	if names := corsHeaderNames(resp.Header); names != nil {
		t.Errorf("refused preflight has CORS headers %v", names)
	}
}

func TestCORSAllowedOrigin(t *testing.T) {
	e := newOpsEnv(t, httpserver.Options{CORSOrigins: []string{office, "http://localhost:8080"}}, nil)
	tok := e.token("maria")
	e.put("maria", "relatorio-bomba-07.xlsx", report(7))

	tests := []struct {
		name, origin, target string
		auth                 string
		status               int
		allowed              bool
	}{
		{"list", office, "/list", tok, http.StatusOK, true},
		{"pull", office, "/pull?filename=relatorio-bomba-07.xlsx", tok, http.StatusOK, true},
		{"bad token, readable by the page", office, "/list", "nope", http.StatusForbidden, true},
		{"unknown route", office, "/nothing-here", tok, http.StatusNotFound, true},
		{"other port", "http://localhost:8080", "/list", tok, http.StatusOK, true},
		{"not on the list", "https://evil.example", "/list", tok, http.StatusOK, false},
		{"scheme differs", "http://office.example.com", "/list", tok, http.StatusOK, false},
		{"no origin", "", "/list", tok, http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			req.Header.Set("Authorization", "Bearer "+tt.auth)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			resp := e.do(req)
			body(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			h := resp.Header
			if got := h.Values("Vary"); !reflect.DeepEqual(got, []string{"Origin"}) {
				t.Errorf("Vary = %q, want Origin", got)
			}
			if h.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed")
			}
			if !tt.allowed {
				if names := corsHeaderNames(h); names != nil {
					t.Errorf("CORS headers %v for origin %q", names, tt.origin)
				}
				return
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.origin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.origin)
			}
			if got := h.Get("Access-Control-Expose-Headers"); got != "X-Request-Id, Content-Disposition, Retry-After" {
				t.Errorf("Access-Control-Expose-Headers = %q", got)
			}
		})
	}
}

func TestCORSPreflight(t *testing.T) {
	e := newOpsEnv(t, httpserver.Options{CORSOrigins: []string{office}}, nil)
	tests := []struct{ path, method, allow string }{
		{"/upload", http.MethodPost, "POST"},
		{"/list", http.MethodGet, "GET, HEAD"},
		{"/pull", http.MethodGet, "GET, HEAD"},
		{"/delete", http.MethodDelete, "DELETE"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodOptions, tt.path, nil)
			req.Header.Set("Origin", office)
			req.Header.Set("Access-Control-Request-Method", tt.method)
			req.Header.Set("Access-Control-Request-Headers", "authorization")
			resp := e.do(req)
			if b := body(t, resp); resp.StatusCode != http.StatusNoContent || b != "" {
				t.Fatalf("status %d, body %q; want 204 and nothing", resp.StatusCode, b)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":  office,
				"Access-Control-Allow-Methods": tt.allow,
				"Access-Control-Allow-Headers": "Authorization, Content-Type, Accept-Language, X-Request-Id",
				"Access-Control-Max-Age":       "600",
				"Vary":                         "Origin",
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Error("credentials allowed")
			}

			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Accept-Language", "en")
			resp = e.do(req)
			if got := decode(t, resp, http.StatusForbidden); got["detail"] != "this web origin may not call the API" {
				t.Errorf("detail = %v", got["detail"])
			}
			if names := corsHeaderNames(resp.Header); names != nil {
				t.Errorf("refused preflight has CORS headers %v", names)
			}
		})
	}
}

// An OPTIONS request that is no preflight is refused as before, Origin or
// not.
func TestOptionsWithoutPreflight(t *testing.T) {
	e := newOpsEnv(t, httpserver.Options{CORSOrigins: []string{office}}, nil)
	for _, origin := range []string{"", office} {
		req := httptest.NewRequest(http.MethodOptions, "/delete", nil)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp := e.do(req)
		decode(t, resp, http.StatusMethodNotAllowed)
		if got := resp.Header.Get("Allow"); got != "DELETE" {
			t.Errorf("origin %q: Allow = %q", origin, got)
		}
	}
	// A preflight's method without an Origin is no browser's.
	req := httptest.NewRequest(http.MethodOptions, "/delete", nil)
	req.Header.Set("Access-Control-Request-Method", http.MethodDelete)
	decode(t, e.do(req), http.StatusMethodNotAllowed)
}

// Origins are matched as browsers send them: a default port written in
// the allow-list still matches.
func TestCORSDefaultPort(t *testing.T) {
	e := newOpsEnv(t, httpserver.Options{CORSOrigins: []string{"https://office.example.com:443", "http://[::1]:80"}}, nil)
	for _, origin := range []string{office, "http://[::1]"} {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Header.Set("Origin", origin)
		if got := e.do(req).Header.Get("Access-Control-Allow-Origin"); got != origin {
			t.Errorf("Origin %q: Access-Control-Allow-Origin = %q", origin, got)
		}
	}
}

func TestCORSBadOriginPanics(t *testing.T) {
	defer func() {
		if v := recover(); v == nil || !strings.Contains(v.(string), "https://office.example.com/relatorios") {
			t.Errorf("recovered %v, want a panic that names the origin", v)
		}
	}()
	httpserver.New(nil, httpserver.Options{CORSOrigins: []string{"https://office.example.com/relatorios"}})
}

// TestCrossOriginProtection checks who may send a request that changes
// something: the apps (no Origin, no Sec-Fetch-Site) and same-origin pages
// always; pages of the CORS allow-list; no other page.
func TestCrossOriginProtection(t *testing.T) {
	tests := []struct {
		name    string
		cors    []string
		headers map[string]string
		allowed bool
	}{
		{"app", nil, nil, true},
		{"app, with an allow-list", []string{office}, nil, true},
		{"app with a user agent", nil, map[string]string{"User-Agent": "okhttp/4.12.0"}, true},
		{"same-origin page", nil, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}, true},
		{"typed in the address bar", nil, map[string]string{"Sec-Fetch-Site": "none"}, true},
		{"old browser, same origin", nil, map[string]string{"Origin": "http://example.com"}, true},
		{"allowed page", []string{office}, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": office}, true},
		{"allowed page, other site", []string{office}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": office}, true},
		{"allowed page, old browser", []string{office}, map[string]string{"Origin": office}, true},
		{"cross-site page", nil, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, false},
		{"cross-site page, with an allow-list", []string{office}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, false},
		{"same-site page not on the list", []string{office}, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://intranet.example.com"}, false},
		{"cross-site page, old browser", nil, map[string]string{"Origin": "https://evil.example"}, false},
		{"sandboxed page", nil, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "null"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newOpsEnv(t, httpserver.Options{CORSOrigins: tt.cors}, nil)
			tok := e.token("maria")
			e.put("maria", "relatorio-bomba-07.xlsx", report(7))
			with := func(req *http.Request) *http.Request {
				for k, v := range tt.headers {
					req.Header.Set(k, v)
				}
				req.Header.Set("Authorization", "Bearer "+tok)
				return req
			}
			body, contentType := multipartBody(t, "relatorio-bomba-08.xlsx", report(8))
			up := with(httptest.NewRequest(http.MethodPost, "/upload", body))
			up.Header.Set("Content-Type", contentType)
			del := with(httptest.NewRequest(http.MethodDelete, "/delete?filename=relatorio-bomba-07.xlsx", nil))
			if !tt.allowed {
				del.Header.Set("Accept-Language", "en")
			}
			upResp, delResp := e.do(up), e.do(del)

			// Reading is always allowed: GET is safe, and a page needs the
			// token to read anything.
			list := decode(t, e.do(with(httptest.NewRequest(http.MethodGet, "/list", nil))), http.StatusOK)
			if tt.allowed {
				decode(t, upResp, http.StatusOK)
				decode(t, delResp, http.StatusOK)
				if want := []any{"relatorio-bomba-08.xlsx"}; !reflect.DeepEqual(list["files"], want) {
					t.Errorf("files %v, want %v", list["files"], want)
				}
				return
			}
			if got := decode(t, upResp, http.StatusForbidden); got["detail"] != "requisição de outra origem recusada" {
				t.Errorf("upload detail = %v", got["detail"])
			}
			if got := decode(t, delResp, http.StatusForbidden); got["detail"] != "cross-origin request refused" {
				t.Errorf("delete detail = %v", got["detail"])
			}
			if want := []any{"relatorio-bomba-07.xlsx"}; !reflect.DeepEqual(list["files"], want) {
				t.Errorf("files %v after refused requests, want %v", list["files"], want)
			}
			if names := corsHeaderNames(delResp.Header); names != nil {
				t.Errorf("refusal has CORS headers %v", names)
			}
			if line := logLine(t, e.logs.String(), "method=DELETE"); field(line, "route") != "/delete" || field(line, "status") != "403" {
				t.Errorf("access log: %s", line)
			}
		})
	}
}

// A page of the allow-list deletes through the real server, as a browser
// sends it: the preflight first, then the DELETE.
func TestCORSDeleteThroughServer(t *testing.T) {
	e := newOpsEnv(t, httpserver.Options{CORSOrigins: []string{office}}, nil)
	tok := e.token("maria")
	e.put("maria", "relatorio-bomba-07.xlsx", report(7))
	srv := httptest.NewServer(e.server)
	defer srv.Close()
	target := srv.URL + "/delete?" + url.Values{"filename": {"relatorio-bomba-07.xlsx"}}.Encode()

	pre, _ := http.NewRequest(http.MethodOptions, target, nil)
	pre.Header.Set("Origin", office)
	pre.Header.Set("Sec-Fetch-Site", "cross-site")
	pre.Header.Set("Access-Control-Request-Method", http.MethodDelete)
	pre.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := srv.Client().Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Methods") != "DELETE" {
		t.Fatalf("preflight: %d, methods %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Methods"))
	}

	del, _ := http.NewRequest(http.MethodDelete, target, nil)
	del.Header.Set("Origin", office)
	del.Header.Set("Sec-Fetch-Site", "cross-site")
	del.Header.Set("Sec-Fetch-Mode", "cors")
	del.Header.Set("Authorization", "Bearer "+tok)
	resp, err = srv.Client().Do(del)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, resp, http.StatusOK); got["filename"] != "relatorio-bomba-07.xlsx" {
		t.Errorf("delete: %v", got)
	}
	if resp.Header.Get("Access-Control-Allow-Origin") != office {
		t.Errorf("Access-Control-Allow-Origin = %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}
