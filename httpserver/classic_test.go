package httpserver_test

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/pmgsync/pmgsync/engine"
)

func TestUploadListPullDelete(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	content := report(1)

	got := decode(t, e.upload(tok, "PMG-bomba-3.xlsx", content), http.StatusOK)
	want := map[string]any{
		"status":      "ok",
		"filename":    "PMG-bomba-3.xlsx",
		"size":        float64(len(content)),
		"sha256":      sha(content),
		"uploaded_at": "2026-12-01T14:30:00Z",
		"expires_at":  "2026-12-08T14:30:00Z",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("upload response = %v, want %v", got, want)
	}

	e.upload(tok, "A-first.xlsx", report(2))
	list := decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusOK)
	if want := []any{"A-first.xlsx", "PMG-bomba-3.xlsx"}; !reflect.DeepEqual(list["files"], want) {
		t.Errorf("list = %v, want %v", list["files"], want)
	}

	resp := e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {"PMG-bomba-3.xlsx"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pull status = %d", resp.StatusCode)
	}
	if b := body(t, resp); b != string(content) {
		t.Errorf("pull body = %q, want %q", b, content)
	}

	del := decode(t, e.get(http.MethodDelete, "/delete", url.Values{"token": {tok}, "filename": {"PMG-bomba-3.xlsx"}}), http.StatusOK)
	if del["status"] != "ok" || del["filename"] != "PMG-bomba-3.xlsx" || del["sha256"] != sha(content) {
		t.Errorf("delete response = %v", del)
	}
	decode(t, e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {"PMG-bomba-3.xlsx"}}), http.StatusNotFound)
	decode(t, e.get(http.MethodDelete, "/delete", url.Values{"token": {tok}, "filename": {"PMG-bomba-3.xlsx"}}), http.StatusNotFound)
	e.get(http.MethodDelete, "/delete", url.Values{"token": {tok}, "filename": {"A-first.xlsx"}})

	empty := decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusNotFound)
	if empty["detail"] != "Nenhum arquivo encontrado" {
		t.Errorf("empty list detail = %v", empty["detail"])
	}
}

func TestReplaceKeepsOneVersion(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	e.upload(tok, "pmg.xlsx", report(1))
	e.clock.Advance(time.Hour)
	got := decode(t, e.upload(tok, "pmg.xlsx", report(2)), http.StatusOK)
	if got["uploaded_at"] != "2026-12-01T15:30:00Z" {
		t.Errorf("uploaded_at = %v, want the replacement's time", got["uploaded_at"])
	}
	if b := body(t, e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {"pmg.xlsx"}})); b != string(report(2)) {
		t.Errorf("pull = %q, want the new version", b)
	}
	if n := countBlobs(t, e.dir); n != 1 {
		t.Errorf("%d blobs on disk, want 1: the replaced version must be deleted", n)
	}
}

func TestBadTokenSame403(t *testing.T) {
	e := newEnv(t, engine.Options{})
	good := e.token("joao")
	revoked := e.token("joao")
	if _, err := e.engine.RevokeToken(t.Context(), revoked); err != nil {
		t.Fatal(err)
	}
	expiring, _, _, err := e.engine.CreateToken(t.Context(), "joao", "", e.clock.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	disabled := e.token("maria")
	e.clock.Advance(2 * time.Hour)
	if _, err := e.engine.SetTechnicianDisabled(t.Context(), "maria", true); err != nil {
		t.Fatal(err)
	}

	bad := map[string]string{
		"missing":  "",
		"unknown":  "pmg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"revoked":  revoked,
		"expired":  expiring,
		"disabled": disabled,
	}
	routes := []struct{ method, path string }{
		{http.MethodPost, "/upload"},
		{http.MethodGet, "/list"},
		{http.MethodGet, "/pull"},
		{http.MethodDelete, "/delete"},
	}
	for name, tok := range bad {
		for _, rt := range routes {
			t.Run(name+rt.path, func(t *testing.T) {
				params := url.Values{"filename": {"pmg.xlsx"}}
				if tok != "" {
					params.Set("token", tok)
				}
				got := decode(t, e.get(rt.method, rt.path, params), http.StatusForbidden)
				if want := map[string]any{"detail": "Token inválido"}; !reflect.DeepEqual(got, want) {
					t.Errorf("body = %v, want %v", got, want)
				}
			})
		}
	}
	// The good token still works, through the header as well.
	req := httptestRequest(http.MethodGet, "/list", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	decode(t, e.do(req), http.StatusNotFound) // authenticated: no files yet
}

func TestEnglishDetail(t *testing.T) {
	e := newEnv(t, engine.Options{})
	req := httptestRequest(http.MethodGet, "/list?token=nope", nil)
	req.Header.Set("Accept-Language", "en-US,en;q=0.9,pt;q=0.5")
	if got := decode(t, e.do(req), http.StatusForbidden)["detail"]; got != "Invalid token" {
		t.Errorf("detail = %v, want English", got)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	tests := []struct{ method, path, allow string }{
		{http.MethodGet, "/upload", "POST"},
		{http.MethodPut, "/upload", "POST"},
		{http.MethodPost, "/list", "GET, HEAD"},
		{http.MethodDelete, "/pull", "GET, HEAD"},
		{http.MethodGet, "/delete", "DELETE"},
		{http.MethodPost, "/delete", "DELETE"},
	}
	for _, tt := range tests {
		resp := e.get(tt.method, tt.path, url.Values{"token": {tok}})
		got := decode(t, resp, http.StatusMethodNotAllowed)
		if got["detail"] != "Método não permitido" || resp.Header.Get("Allow") != tt.allow {
			t.Errorf("%s %s: detail %v, Allow %q", tt.method, tt.path, got["detail"], resp.Header.Get("Allow"))
		}
	}
	decode(t, e.get(http.MethodGet, "/nothing-here", nil), http.StatusNotFound)
}

func TestNamesNFCAndBaseName(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	nfd := norm.NFD.String("inspeção.xlsx")
	if got := decode(t, e.upload(tok, `C:\Users\joao\`+nfd, report(1)), http.StatusOK); got["filename"] != "inspeção.xlsx" {
		t.Errorf("stored name = %q, want NFC base name", got["filename"])
	}
	list := decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusOK)
	if want := []any{"inspeção.xlsx"}; !reflect.DeepEqual(list["files"], want) {
		t.Errorf("list = %q, want %q", list["files"], want)
	}
	for _, form := range []string{"inspeção.xlsx", nfd} {
		resp := e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {form}})
		if resp.StatusCode != http.StatusOK {
			t.Errorf("pull %+q: status %d", form, resp.StatusCode)
		}
	}
}

func TestBadNames(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	// Control characters cannot be sent raw in a MIME header; clients send
	// them percent-encoded in filename*, which the server decodes.
	encoded := map[string]string{
		"a\x00.xlsx": "a%00.xlsx",
		"a\r\n.xlsx": "a%0D%0A.xlsx",
		"a\xff.xlsx": "a%FF.xlsx",
		"rlo":        "relat%E2%80%AExslx.exe",
	}
	for _, name := range []string{"", ".", "..", "dir/..", strings.Repeat("x", 256)} {
		encoded[name] = extValue(name)
	}
	for name, value := range encoded {
		body := "--X\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''" + value + "\r\n\r\nPK\r\n--X--\r\n"
		req := httptestRequest(http.MethodPost, "/upload?token="+tok, strings.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=X")
		got := decode(t, e.do(req), http.StatusBadRequest)
		if d, _ := got["detail"].(string); !strings.Contains(d, "nome do arquivo") {
			t.Errorf("upload %q: detail %q", name, d)
		}
	}
	decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusNotFound)
	decode(t, e.get(http.MethodGet, "/pull", url.Values{"token": {tok}}), http.StatusBadRequest)
	decode(t, e.get(http.MethodDelete, "/delete", url.Values{"token": {tok}}), http.StatusBadRequest)
	decode(t, e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {".."}}), http.StatusBadRequest)
}

func TestIsolation(t *testing.T) {
	e := newEnv(t, engine.Options{})
	a, b := e.token("ana"), e.token("bruno")
	secret := xlsx("relatório do Bruno")
	decode(t, e.upload(b, "bruno.xlsx", secret), http.StatusOK)
	decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {a}}), http.StatusNotFound)

	tricks := []string{
		"bruno.xlsx",
		"../bruno/bruno.xlsx",
		`..\bruno\bruno.xlsx`,
		"../" + b + "/bruno.xlsx",
		"%2e%2e%2fbruno.xlsx",
		"..%2Fbruno.xlsx",
		"/bruno.xlsx",
		"/" + b + "/bruno.xlsx",
		b + "/bruno.xlsx",
	}
	for _, name := range tricks {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			path := map[string]string{http.MethodGet: "/pull", http.MethodDelete: "/delete"}[method]
			resp := e.get(method, path, url.Values{"token": {a}, "filename": {name}})
			if resp.StatusCode == http.StatusOK {
				t.Errorf("%s %q with A's token: 200", method, name)
			}
			if got := body(t, resp); strings.Contains(got, string(secret)) {
				t.Errorf("%s %q leaked B's file", method, name)
			}
		}
	}
	// An upload with a path in its name stays A's own file.
	decode(t, e.upload(a, "../"+b+"/bruno.xlsx", xlsx("ana")), http.StatusOK)
	if got := body(t, e.get(http.MethodGet, "/pull", url.Values{"token": {b}, "filename": {"bruno.xlsx"}})); got != string(secret) {
		t.Errorf("B's file changed to %q", got)
	}
}

// extValue percent-encodes every byte of s.
func extValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}
