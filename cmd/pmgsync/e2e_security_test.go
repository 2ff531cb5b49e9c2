package main

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
)

// TestAbuseLimitsFromSettings checks that the binary applies the abuse
// settings: a client address past auth-fail-limit is banned with 429 and
// Retry-After, even with a valid token, and a token past its rate gets 429.
func TestAbuseLimitsFromSettings(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tok := createToken(t, data, "maria")
	s := startServerWith(t, data, cleanEnv(), "--data", data,
		"--auth-fail-limit", "3", "--auth-ban", "2m", "--rate-limit", "1", "--rate-burst", "2")

	for i := range 3 {
		if r := do(t, nil, s.request("GET", "/list", "pmg_palpite"+strconv.Itoa(i), nil)); r.status != http.StatusForbidden {
			t.Fatalf("guess %d: status %d, want 403", i+1, r.status)
		}
	}
	r := do(t, nil, s.request("GET", "/list", tok, nil))
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("valid token from a banned address: status %d, want 429; body %s", r.status, r.body)
	}
	if got := r.header.Get("Retry-After"); got != "120" {
		t.Errorf("Retry-After %q, want 120 (the ban)", got)
	}
	if d := r.detail(t); d == "" {
		t.Error("429 without a detail")
	}
	if line, ok := s.log.waitFor("client banned after repeated failed authentications", s.exited); !ok {
		t.Errorf("no log line of the ban: %q", line)
	}
}

// TestRateLimitFromSettings checks rate-limit and rate-burst on the binary:
// the burst passes, the next request gets 429 with Retry-After.
func TestRateLimitFromSettings(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tok := createToken(t, data, "joao")
	s := startServerWith(t, data, cleanEnv(), "--data", data, "--rate-limit", "0.01", "--rate-burst", "2")
	s.mustUpload(tok, "relatorio-bomba-07.csv", bytes.Repeat([]byte("bomba;ok\n"), 10))
	if r := do(t, nil, s.request("GET", "/list", tok, nil)); r.status != http.StatusOK {
		t.Fatalf("second request of the burst: status %d", r.status)
	}
	r := do(t, nil, s.request("GET", "/list", tok, nil))
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("past the burst: status %d, Retry-After %q; want 429 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
}

// TestBrowserSafetyFromSettings checks, on the binary, the security headers
// of an answer, the CORS answer to a page of cors-origins, and the refusal
// of a cross-site page's delete.
func TestBrowserSafetyFromSettings(t *testing.T) {
	t.Parallel()
	const office = "https://escritorio.example.com"
	data := t.TempDir()
	tok := createToken(t, data, "ana")
	s := startServerWith(t, data, cleanEnv(), "--data", data, "--cors-origins", office)
	s.mustUpload(tok, "relatorio-bomba-07.csv", bytes.Repeat([]byte("bomba;ok\n"), 10))

	list := s.request("GET", "/list", tok, nil)
	list.Header.Set("Origin", office)
	r := do(t, nil, list)
	for k, want := range map[string]string{
		"X-Content-Type-Options":      "nosniff",
		"Referrer-Policy":             "no-referrer",
		"X-Frame-Options":             "DENY",
		"Access-Control-Allow-Origin": office,
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if csp := r.header.Get("Content-Security-Policy"); csp == "" || !bytes.Contains([]byte(csp), []byte("frame-ancestors 'none'")) {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	if r.header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}

	del := s.request("DELETE", "/delete?filename=relatorio-bomba-07.csv", tok, nil)
	del.Header.Set("Origin", "https://golpe.example")
	del.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := do(t, nil, del); r.status != http.StatusForbidden || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("cross-site delete: status %d, Access-Control-Allow-Origin %q; want 403 without CORS", r.status, r.header.Get("Access-Control-Allow-Origin"))
	}
	if got := s.list(tok); len(got) != 1 {
		t.Errorf("files after a refused cross-site delete: %q", got)
	}
}
