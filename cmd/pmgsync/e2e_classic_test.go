package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestClassicEndpoints checks the contract of DESIGN.md that the apps in the
// field rely on: statuses, JSON bodies, {"detail": …} errors, 405 for a
// wrong method, one 403 for every bad token, and the token accepted both as
// ?token= and as Authorization: Bearer.
func TestClassicEndpoints(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	token := createToken(t, data, "maria")
	revoked := createToken(t, data, "maria", "--label", "old phone")
	cli(t, data, "token", "revoke", revoked)
	expired := createToken(t, data, "maria", "--expires", "1ms")
	disabled := createToken(t, data, "pedro")
	cli(t, data, "technician", "disable", "pedro")
	// The bad-token cases below are more guesses than the brute-force
	// throttle allows one address; its own tests are in e2e_security_test.go.
	s := startServerWith(t, data, cleanEnv(), "--auth-fail-limit", "0")

	t.Run("list with no files is 404", func(t *testing.T) {
		r := do(t, nil, s.request("GET", "/list", token, nil))
		if r.status != http.StatusNotFound {
			t.Fatalf("status %d, want 404; body %s", r.status, r.body)
		}
		if got, want := r.detail(t), "Nenhum arquivo encontrado"; got != want {
			t.Errorf("detail %q, want %q", got, want)
		}
		req := s.request("GET", "/list", token, nil)
		req.Header.Set("Accept-Language", "en-US,en;q=0.9")
		if got, want := do(t, nil, req).detail(t), "No files found"; got != want {
			t.Errorf("detail in English %q, want %q", got, want)
		}
	})

	files := map[string][]byte{
		"b.xlsx":         xlsx([]byte("b content")),
		"a.xlsx":         xlsx([]byte("a content")),
		"C.xlsx":         xlsx([]byte("C content")),
		"relatório.xlsx": xlsx([]byte("relatório content")),
		"notas.csv":      []byte("bomba;pressão\n3;12,5\n"),
	}
	t.Run("upload", func(t *testing.T) {
		for name, content := range files {
			r := s.upload(token, name, bytes.NewReader(content))
			if r.status != http.StatusOK {
				t.Fatalf("upload %q: status %d, body %s", name, r.status, r.body)
			}
			var got struct {
				Status, Filename, SHA256 string
				Size                     int64
			}
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			digest := sha256.Sum256(content)
			if got.Status != "ok" || got.Filename != name || got.Size != int64(len(content)) || got.SHA256 != hex.EncodeToString(digest[:]) {
				t.Errorf("upload %q: body %s", name, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("upload %q: Content-Type %q", name, ct)
			}
		}
	})

	t.Run("list is sorted", func(t *testing.T) {
		got := s.list(token)
		want := []string{"C.xlsx", "a.xlsx", "b.xlsx", "notas.csv", "relatório.xlsx"}
		if !slices.Equal(got, want) {
			t.Errorf("files %q, want %q", got, want)
		}
	})

	t.Run("pull with ?token= and with Bearer", func(t *testing.T) {
		for name, content := range files {
			if r := s.pull(token, name); r.status != http.StatusOK || !bytes.Equal(r.body, content) {
				t.Errorf("pull %q: status %d, body %q", name, r.status, r.body)
			}
			req := s.request("GET", "/pull?filename="+url.QueryEscape(name), "", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if r := do(t, nil, req); r.status != http.StatusOK || !bytes.Equal(r.body, content) {
				t.Errorf("pull %q with Bearer: status %d, body %q", name, r.status, r.body)
			}
		}
	})

	t.Run("Bearer for list, upload and delete", func(t *testing.T) {
		bearer := func(req *http.Request) *http.Request {
			req.Header.Set("Authorization", "Bearer "+token)
			return req
		}
		r := do(t, nil, bearer(s.request("GET", "/list", "", nil)))
		if r.status != http.StatusOK || !strings.Contains(string(r.body), `"a.xlsx"`) {
			t.Errorf("list: status %d, body %s", r.status, r.body)
		}
		r = do(t, nil, bearer(s.request("DELETE", "/delete?filename=b.xlsx", "", nil)))
		if r.status != http.StatusOK {
			t.Errorf("delete: status %d, body %s", r.status, r.body)
		}
		s.mustUpload(token, "b.xlsx", files["b.xlsx"])
	})

	t.Run("pull and delete of a missing file are 404", func(t *testing.T) {
		if r := s.pull(token, "missing.xlsx"); r.status != http.StatusNotFound || r.detail(t) == "" {
			t.Errorf("pull: status %d, body %s", r.status, r.body)
		}
		r := do(t, nil, s.request("DELETE", "/delete?filename=missing.xlsx", token, nil))
		if r.status != http.StatusNotFound || r.detail(t) == "" {
			t.Errorf("delete: status %d, body %s", r.status, r.body)
		}
	})

	t.Run("delete", func(t *testing.T) {
		r := do(t, nil, s.request("DELETE", "/delete?filename="+url.QueryEscape("relatório.xlsx"), token, nil))
		if r.status != http.StatusOK {
			t.Fatalf("status %d, body %s", r.status, r.body)
		}
		var got struct{ Status, Filename string }
		if err := json.Unmarshal(r.body, &got); err != nil || got.Status != "ok" || got.Filename != "relatório.xlsx" {
			t.Errorf("body %s", r.body)
		}
		if r := s.pull(token, "relatório.xlsx"); r.status != http.StatusNotFound {
			t.Errorf("pull after delete: status %d", r.status)
		}
		r = do(t, nil, s.request("DELETE", "/delete?filename="+url.QueryEscape("relatório.xlsx"), token, nil))
		if r.status != http.StatusNotFound {
			t.Errorf("second delete: status %d", r.status)
		}
	})

	t.Run("wrong method is 405", func(t *testing.T) {
		for _, tt := range []struct{ method, path, allow string }{
			{"GET", "/upload", "POST"},
			{"PUT", "/upload", "POST"},
			{"POST", "/list", "GET, HEAD"},
			{"DELETE", "/pull?filename=a.xlsx", "GET, HEAD"},
			{"GET", "/delete?filename=a.xlsx", "DELETE"},
			{"POST", "/delete?filename=a.xlsx", "DELETE"},
		} {
			r := do(t, nil, s.request(tt.method, tt.path, token, nil))
			if r.status != http.StatusMethodNotAllowed || r.detail(t) == "" {
				t.Errorf("%s %s: status %d, body %s", tt.method, tt.path, r.status, r.body)
			}
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
			}
		}
		if got := s.list(token); !slices.Contains(got, "a.xlsx") {
			t.Errorf("a.xlsx gone after a DELETE /pull and a GET /delete: %q", got)
		}
	})

	t.Run("every bad token gets the same 403", func(t *testing.T) {
		badTokens := map[string]string{
			"missing":             "",
			"unknown":             "pmg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			"revoked":             revoked,
			"expired":             expired,
			"disabled technician": disabled,
		}
		var want []byte
		for what, bad := range badTokens {
			for _, tt := range []struct {
				method, path string
				body         io.Reader
			}{
				{"GET", "/list", nil},
				{"GET", "/pull?filename=a.xlsx", nil},
				{"DELETE", "/delete?filename=a.xlsx", nil},
				{"POST", "/upload", strings.NewReader("not even multipart")},
			} {
				for _, bearer := range []bool{false, true} {
					req := s.request(tt.method, tt.path, bad, tt.body)
					if bearer {
						req = s.request(tt.method, tt.path, "", tt.body)
						req.Header.Set("Authorization", "Bearer "+bad)
					}
					r := do(t, nil, req)
					if r.status != http.StatusForbidden {
						t.Errorf("%s token, %s %s (Bearer %t): status %d, want 403", what, tt.method, tt.path, bearer, r.status)
					}
					if want == nil {
						want = r.body
						r.detail(t)
					} else if !bytes.Equal(r.body, want) {
						t.Errorf("%s token, %s %s (Bearer %t): body %q, want %q", what, tt.method, tt.path, bearer, r.body, want)
					}
				}
			}
		}
		if got := s.list(token); !slices.Contains(got, "a.xlsx") {
			t.Errorf("a.xlsx gone after refused deletes: %q", got)
		}
	})

	t.Run("upload refused with a token is not stored", func(t *testing.T) {
		r := s.upload(revoked, "intruder.xlsx", strings.NewReader("x"))
		if r.status != http.StatusForbidden {
			t.Errorf("status %d", r.status)
		}
		if got := s.list(token); slices.Contains(got, "intruder.xlsx") {
			t.Errorf("intruder.xlsx stored: %q", got)
		}
	})
}

// TestLargeFileRoundTrip uploads a file of exactly the default size limit,
// 50 MiB, streamed from a generator, and pulls it back byte for byte.
func TestLargeFileRoundTrip(t *testing.T) {
	t.Parallel()
	const size = 50 << 20
	data := t.TempDir()
	token := createToken(t, data, "maria")
	s := startServer(t, data)

	sent := sha256.New()
	r := s.upload(token, "grande.csv", io.TeeReader(io.LimitReader(textReader(50), size), sent))
	if r.status != http.StatusOK {
		t.Fatalf("upload: status %d, body %s", r.status, r.body)
	}
	var got struct {
		Size   int64
		SHA256 string
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(sent.Sum(nil))
	if got.Size != size || got.SHA256 != want {
		t.Errorf("upload answered size %d, sha256 %s; want %d, %s", got.Size, got.SHA256, size, want)
	}

	resp, err := http.Get(s.url + "/pull?filename=grande.csv&token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	received := sha256.New()
	n, err := io.Copy(received, resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || n != size || hex.EncodeToString(received.Sum(nil)) != want {
		t.Errorf("pull: status %d, %d bytes, sha256 %x; want 200, %d bytes, %s", resp.StatusCode, n, received.Sum(nil), size, want)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "52428800" {
		t.Errorf("Content-Length %q", cl)
	}
}

// TestIsolation checks that a technician's token reaches nothing of another
// technician's, whatever the file name says.
func TestIsolation(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tokA := createToken(t, data, "ana")
	tokB := createToken(t, data, "bruno")
	s := startServer(t, data)
	secret := xlsx([]byte("bruno's report"))
	s.mustUpload(tokB, "segredo.xlsx", secret)
	s.mustUpload(tokA, "ana.xlsx", xlsx([]byte("ana's report")))

	if got := s.list(tokA); !slices.Equal(got, []string{"ana.xlsx"}) {
		t.Errorf("A lists %q", got)
	}
	req := s.request("GET", "/list?token="+url.QueryEscape(tokB), "", nil)
	req.Header.Set("Authorization", "Bearer "+tokA)
	if r := do(t, nil, req); !strings.Contains(string(r.body), "ana.xlsx") || strings.Contains(string(r.body), "segredo") {
		t.Errorf("Bearer A with ?token=B lists %s", r.body)
	}

	abs := strings.TrimPrefix(data, "/")
	// Raw query values, sent as they are: some encoded once, some twice.
	attacks := []string{
		"segredo.xlsx",
		url.QueryEscape("../" + tokB + "/segredo.xlsx"),
		url.QueryEscape(`..\` + tokB + `\segredo.xlsx`),
		url.QueryEscape(`..\\` + tokB + `\\segredo.xlsx`),
		url.QueryEscape(tokB + "/segredo.xlsx"),
		url.QueryEscape("../../" + tokB + "/segredo.xlsx"),
		url.QueryEscape("/" + abs + "/segredo.xlsx"),
		url.QueryEscape("/etc/passwd"),
		url.QueryEscape(`C:\` + tokB + `\segredo.xlsx`),
		"..%2F" + tokB + "%2Fsegredo.xlsx",
		"%2e%2e%2f" + tokB + "%2fsegredo.xlsx",
		"%2E%2E%2F" + tokB + "%2Fsegredo.xlsx",
		"..%5C" + tokB + "%5Csegredo.xlsx",
		"%252e%252e%252f" + tokB + "%252fsegredo.xlsx",
		"..%252F" + tokB + "%252Fsegredo.xlsx",
		"%2Fsegredo.xlsx",
		"segredo.xlsx%00",
		url.QueryEscape(tokB),
		url.QueryEscape(tokB + "segredo.xlsx"),
		"..",
		".",
		"",
	}
	for _, q := range attacks {
		r := do(t, nil, s.request("GET", "/pull?filename="+q, tokA, nil))
		if r.status == http.StatusOK || bytes.Contains(r.body, []byte("bruno's report")) {
			t.Errorf("A pulls filename=%s: status %d, body %q", q, r.status, r.body)
		}
		r = do(t, nil, s.request("DELETE", "/delete?filename="+q, tokA, nil))
		if r.status == http.StatusOK {
			t.Errorf("A deletes filename=%s: status %d, body %s", q, r.status, r.body)
		}
	}
	// Paths around the endpoints themselves.
	for _, p := range []string{"/pull/../list", "/%2e%2e/pull?filename=segredo.xlsx", "/" + tokB + "/segredo.xlsx", "/uploads/" + tokB + "/segredo.xlsx"} {
		r := do(t, nil, s.request("GET", p, tokA, nil))
		if bytes.Contains(r.body, []byte("bruno's report")) || bytes.Contains(r.body, []byte("segredo")) {
			t.Errorf("GET %s with A's token: status %d, body %q", p, r.status, r.body)
		}
	}

	// An upload whose name points into B's space is stored in A's, under its
	// base name.
	for _, name := range []string{"../" + tokB + "/segredo.xlsx", `..\` + tokB + `\segredo.xlsx`, "/" + abs + "/blobs/segredo.xlsx"} {
		if r := s.upload(tokA, name, bytes.NewReader(xlsx([]byte("A overwrites?")))); r.status != http.StatusOK {
			t.Errorf("A uploads %q: status %d, body %s", name, r.status, r.body)
		}
	}
	if got := s.list(tokA); !slices.Equal(got, []string{"ana.xlsx", "segredo.xlsx"}) {
		t.Errorf("A lists %q after uploading under B's paths", got)
	}
	if got := s.list(tokB); !slices.Equal(got, []string{"segredo.xlsx"}) {
		t.Errorf("B lists %q", got)
	}
	if r := s.pull(tokB, "segredo.xlsx"); r.status != http.StatusOK || !bytes.Equal(r.body, secret) {
		t.Errorf("B's file after A's attempts: status %d, body %q", r.status, r.body)
	}
}
