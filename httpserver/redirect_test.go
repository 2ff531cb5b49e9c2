package httpserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRedirectToHTTPS(t *testing.T) {
	tests := []struct {
		name, method, target, host, port string
		status                           int
		location                         string
	}{
		{"GET keeps path and query", "GET", "/list?token=abc&x=%C3%A7", "pmg.example.com", "443",
			http.StatusMovedPermanently, "https://pmg.example.com/list?token=abc&x=%C3%A7"},
		{"the port of HTTP is dropped", "GET", "/readyz", "pmg.example.com:80", "443",
			http.StatusMovedPermanently, "https://pmg.example.com/readyz"},
		{"another HTTPS port is kept", "HEAD", "/pull?filename=relatorio-bomba-07.xlsx", "pmg.example.com:8080", "8443",
			http.StatusMovedPermanently, "https://pmg.example.com:8443/pull?filename=relatorio-bomba-07.xlsx"},
		{"POST keeps its method", "POST", "/upload?token=abc", "pmg.example.com", "443",
			http.StatusPermanentRedirect, "https://pmg.example.com/upload?token=abc"},
		{"DELETE keeps its method", "DELETE", "/delete?filename=a.xlsx", "10.0.0.5:80", "10443",
			http.StatusPermanentRedirect, "https://10.0.0.5:10443/delete?filename=a.xlsx"},
		{"IPv6 literal", "GET", "/", "[2001:db8::1]:80", "443",
			http.StatusMovedPermanently, "https://[2001:db8::1]/"},
		{"IPv6 literal, no port", "GET", "/", "[2001:db8::1]", "8443",
			http.StatusMovedPermanently, "https://[2001:db8::1]:8443/"},
		{"escaped path", "GET", "/a%20b/c", "pmg.example.com", "443",
			http.StatusMovedPermanently, "https://pmg.example.com/a%20b/c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader("PK\x03\x04"))
			req.Host = tt.host
			w := httptest.NewRecorder()
			RedirectToHTTPS(tt.port).ServeHTTP(w, req)
			if w.Code != tt.status || w.Header().Get("Location") != tt.location {
				t.Errorf("%d %q, want %d %q", w.Code, w.Header().Get("Location"), tt.status, tt.location)
			}
			if closes := w.Header().Get("Connection") == "close"; closes != (tt.status == http.StatusPermanentRedirect) {
				t.Errorf("Connection: %q", w.Header().Get("Connection"))
			}
		})
	}
}

func TestRedirectWithoutHost(t *testing.T) {
	for lang, want := range map[string]string{
		"":      "este servidor só responde por HTTPS: use https:// e o nome do servidor",
		"en-US": "this server answers over HTTPS only: use https:// and the server's name",
	} {
		req := httptest.NewRequest("GET", "/list", nil)
		req.Host = ""
		req.Header.Set("Accept-Language", lang)
		w := httptest.NewRecorder()
		RedirectToHTTPS("443").ServeHTTP(w, req)
		var body struct{ Detail string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusBadRequest || body.Detail != want || w.Header().Get("Location") != "" {
			t.Errorf("Accept-Language %q: %d %q, Location %q", lang, w.Code, body.Detail, w.Header().Get("Location"))
		}
	}
}
