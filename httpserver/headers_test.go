package httpserver_test

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/httpserver"
	"github.com/pmgsync/pmgsync/sqlite"
)

// securityHeaders are the headers every answer carries.
var securityHeaders = map[string]string{
	"Content-Security-Policy":      "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Resource-Policy": "same-origin",
}

func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, v := range securityHeaders {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

// TestSecurityHeaders checks the security headers on answers of every
// kind, errors included.
func TestSecurityHeaders(t *testing.T) {
	var panicToken string
	e := newOpsEnv(t, httpserver.Options{CORSOrigins: []string{office}}, func(db *sqlite.DB) pmgsync.MetadataStore {
		return panickyStore{db, &panicToken}
	})
	tok := e.token("maria")
	e.put("maria", "relatorio-bomba-07.xlsx", []byte("0123456789"))
	pull := "/pull?" + url.Values{"token": {tok}, "filename": {"relatorio-bomba-07.xlsx"}}.Encode()

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"healthz", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/healthz", nil) }, 200},
		{"download", func() *http.Request { return httptest.NewRequest(http.MethodGet, pull, nil) }, 200},
		{"range", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, pull, nil)
			r.Header.Set("Range", "bytes=2-4")
			return r
		}, 206},
		{"unsatisfiable range", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, pull, nil)
			r.Header.Set("Range", "bytes=20-")
			return r
		}, 416},
		{"not modified", func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, pull, nil)
			r.Header.Set("If-None-Match", `"`+sha([]byte("0123456789"))+`"`)
			return r
		}, 304},
		{"head", func() *http.Request { return httptest.NewRequest(http.MethodHead, pull, nil) }, 200},
		{"no such route", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/nothing-here", nil) }, 404},
		{"no such file", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/pull?token="+tok+"&filename=outro.xlsx", nil)
		}, 404},
		{"bad token", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/list?token=nope", nil) }, 403},
		{"wrong method", func() *http.Request { return httptest.NewRequest(http.MethodPut, "/upload", nil) }, 405},
		{"bad upload", func() *http.Request {
			return httptest.NewRequest(http.MethodPost, "/upload?token="+tok, strings.NewReader("x"))
		}, 400},
		{"too large", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/upload?token="+tok, strings.NewReader("x"))
			r.ContentLength = 1 << 40
			return r
		}, 413},
		{"cross-site", func() *http.Request {
			r := httptest.NewRequest(http.MethodDelete, "/delete?token="+tok+"&filename=x", nil)
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			return r
		}, 403},
		{"preflight", func() *http.Request {
			r := httptest.NewRequest(http.MethodOptions, "/list", nil)
			r.Header.Set("Origin", office)
			r.Header.Set("Access-Control-Request-Method", "GET")
			return r
		}, 204},
		{"refused preflight", func() *http.Request {
			r := httptest.NewRequest(http.MethodOptions, "/list", nil)
			r.Header.Set("Origin", "https://evil.example")
			r.Header.Set("Access-Control-Request-Method", "GET")
			return r
		}, 403},
		{"panic", func() *http.Request { return httptest.NewRequest(http.MethodGet, "/list?token="+tok, nil) }, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := e.do(tt.req())
			body(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			checkSecurityHeaders(t, resp.Header)
			if got := resp.Header.Get("Strict-Transport-Security"); got != "" {
				t.Errorf("Strict-Transport-Security %q over plain HTTP", got)
			}
		})
	}
}

// TestSecurityHeadersThroughServer checks the headers as a client gets
// them, and that the panic's 500 keeps them along with CORS's.
func TestSecurityHeadersThroughServer(t *testing.T) {
	var tok string
	e := newOpsEnv(t, httpserver.Options{CORSOrigins: []string{office}}, func(db *sqlite.DB) pmgsync.MetadataStore {
		return panickyStore{db, &tok}
	})
	tok = e.token("maria")
	srv := httptest.NewServer(e.server)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/list?token="+tok, nil)
	req.Header.Set("Origin", office)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	decode(t, resp, http.StatusInternalServerError)
	checkSecurityHeaders(t, resp.Header)
	if resp.Header.Get("Access-Control-Allow-Origin") != office || resp.Header.Get("Vary") != "Origin" {
		t.Errorf("the 500 lost its CORS headers: %v", resp.Header)
	}
}

// TestHSTS checks that Strict-Transport-Security is sent exactly when the
// client came over HTTPS: to the server itself, or to a trusted proxy
// that says so.
func TestHSTS(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	e := newOpsEnv(t, httpserver.Options{TrustedProxies: proxies}, nil)
	tests := []struct {
		name, target, peer string
		headers            map[string]string
		want               bool
	}{
		{"plain HTTP", "http://pmg.example.com/healthz", "203.0.113.9:4000", nil, false},
		{"TLS", "https://pmg.example.com/healthz", "203.0.113.9:4000", nil, true},
		{"TLS, on a 404", "https://pmg.example.com/nothing-here", "203.0.113.9:4000", nil, true},
		{"trusted proxy, https", "http://pmg.example.com/healthz", "10.1.2.3:4000", map[string]string{"X-Forwarded-Proto": "https"}, true},
		{"trusted proxy, HTTPS chain", "http://pmg.example.com/healthz", "10.1.2.3:4000", map[string]string{"X-Forwarded-Proto": "HTTPS, http"}, true},
		{"trusted proxy, http", "http://pmg.example.com/healthz", "10.1.2.3:4000", map[string]string{"X-Forwarded-Proto": "http"}, false},
		{"trusted proxy, Forwarded", "http://pmg.example.com/healthz", "10.1.2.3:4000", map[string]string{"Forwarded": `for=198.51.100.7;proto="https", for=10.1.2.4`}, true},
		{"trusted proxy, Forwarded http", "http://pmg.example.com/healthz", "10.1.2.3:4000", map[string]string{"Forwarded": "for=198.51.100.7;proto=http"}, false},
		{"trusted proxy, says nothing", "http://pmg.example.com/healthz", "10.1.2.3:4000", nil, false},
		{"untrusted peer says https", "http://pmg.example.com/healthz", "203.0.113.9:4000", map[string]string{"X-Forwarded-Proto": "https"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			req.RemoteAddr = tt.peer
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp := e.do(req)
			body(t, resp)
			got := resp.Header.Get("Strict-Transport-Security")
			if want := map[bool]string{true: "max-age=31536000"}[tt.want]; got != want {
				t.Errorf("Strict-Transport-Security = %q, want %q", got, want)
			}
		})
	}
}

// TestDownloadNeverInline stores files whose names a browser would render
// (the import from the old server took any name) with content that looks
// like a page, and checks that a download can only be saved: an
// attachment, of a type no browser renders as a page, with sniffing off and
// a policy that would run nothing anyway.
func TestDownloadNeverInline(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("maria")
	page := []byte("<!DOCTYPE html><html><body><script>alert(document.domain)</script></body></html>")
	rendered := []string{"text/html", "application/xhtml", "image/svg", "text/xml", "application/xml", "javascript", "text/plain"}
	for _, name := range []string{
		"relatorio.html", "relatorio.HTM", "relatorio.svg", "relatorio.xhtml", "relatorio.xml",
		"relatorio.js", "relatorio.txt", "relatorio.csv", "relatorio.xlsx.html", "relatório sem extensão",
	} {
		t.Run(name, func(t *testing.T) {
			e.put("maria", name, page)
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp := e.get(method, "/pull", url.Values{"token": {tok}, "filename": {name}})
				body(t, resp)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", method, resp.StatusCode)
				}
				h := resp.Header
				if cd := h.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") {
					t.Errorf("%s: Content-Disposition %q", method, cd)
				}
				ct := strings.ToLower(h.Get("Content-Type"))
				for _, r := range rendered {
					if strings.Contains(ct, r) {
						t.Errorf("%s: Content-Type %q is rendered by browsers", method, ct)
					}
				}
				checkSecurityHeaders(t, h)
			}
		})
	}
}
