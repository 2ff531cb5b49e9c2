package httpserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/pmgsync/pmgsync/engine"
)

// FuzzUploadName uploads arbitrary names and contents through the real
// handler: it must answer 200, 400 (a bad name, an empty file) or 415 (a
// type that is not allowed, or content that is not of its type), never
// anything else, and what it stores must come back byte for byte under a
// clean name.
func FuzzUploadName(f *testing.F) {
	e := newEnv(f, engine.Options{})
	tok := e.token("joao")
	for _, seed := range []struct {
		name string
		body []byte
	}{
		{"pmg.xlsx", []byte("PK\x03\x04")},
		{"../../etc/passwd", []byte("root")},
		{`C:\relatórios\inspeção.xlsx`, nil},
		{"a\x00b", []byte{0}},
		{"\"quoted\".csv", []byte("a;b\n")},
		{strings.Repeat("ç", 200), []byte("x")},
	} {
		f.Add(seed.name, seed.body)
	}
	f.Fuzz(func(t *testing.T, name string, content []byte) {
		e := e.with(t)
		resp := e.upload(tok, name, content)
		if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnsupportedMediaType {
			io.Copy(io.Discard, resp.Body)
			return
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("upload %q: status %d: %s", name, resp.StatusCode, body(t, resp))
		}
		var got struct{ Filename string }
		json.NewDecoder(resp.Body).Decode(&got)
		stored := got.Filename
		if stored == "" || strings.ContainsAny(stored, `/\`) || !utf8.ValidString(stored) || !norm.NFC.IsNormalString(stored) || len(stored) > 255 {
			t.Fatalf("upload %q stored as %q", name, stored)
		}
		pull := e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {stored}})
		if b := body(t, pull); pull.StatusCode != http.StatusOK || b != string(content) {
			t.Fatalf("pull %q: status %d, %d bytes, want %d", stored, pull.StatusCode, len(b), len(content))
		}
		if del := e.get(http.MethodDelete, "/delete", url.Values{"token": {tok}, "filename": {stored}}); del.StatusCode != http.StatusOK {
			t.Fatalf("delete %q: status %d", stored, del.StatusCode)
		}
	})
}

// FuzzUploadBody sends arbitrary bytes as a multipart body: malformed input
// is a 400, a file of a type that is not allowed a 415, and neither stores
// anything; never a 500. The size limit is set low, so that the 413 of a
// file part over it is explored too.
//
// The seeds include a small valid xlsx and csv, which are stored.
func FuzzUploadBody(f *testing.F) {
	e := newEnv(f, engine.Options{MaxUploadSize: 512})
	tok := e.token("joao")
	f.Add([]byte("--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pmg.xlsx\"\r\n\r\nPK\r\n--X--\r\n"))
	f.Add([]byte("--X\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''inspe%C3%A7%C3%A3o.xlsx\r\n\r\nPK\r\n--X--\r\n"))
	f.Add([]byte("--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nno end"))
	f.Add([]byte("--X--\r\n"))
	f.Add([]byte(""))
	f.Add([]byte("--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pmg.csv\"\r\n\r\na;b\r\n1;2\r\n--X--\r\n"))
	f.Add([]byte("--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pmg.xlsx\"\r\n\r\n" + string(xlsx("1")) + "\r\n--X--\r\n"))
	f.Add([]byte("--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pmg.csv\"\r\n\r\n" + strings.Repeat("a;b\n", 200) + "\r\n--X--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e := e.with(t)
		req := httptest.NewRequest(http.MethodPost, "/upload?token="+tok, bytes.NewReader(raw))
		req.Header.Set("Content-Type", "multipart/form-data; boundary=X")
		resp := e.do(req)
		io.Copy(io.Discard, resp.Body)
		switch resp.StatusCode {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		default:
			t.Fatalf("status %d for %q", resp.StatusCode, raw)
		}
	})
}
