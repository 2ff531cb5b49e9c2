package httpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"

	"github.com/pmgsync/pmgsync/engine"
)

// FuzzPullRange pulls stored files through the real handler with arbitrary
// Range and If-Range headers: the answer must be 200 with the whole file,
// 206 with exactly the bytes its Content-Range names (each part of a
// multipart/byteranges answer alike), or 416; never anything else. A
// Range of the plain forms "bytes=A-B", "bytes=A-" and "bytes=-N" must be
// honoured exactly, unless an If-Range that does not match turns it off.
func FuzzPullRange(f *testing.F) {
	e := newEnv(f, engine.Options{})
	tok := e.token("maria")
	content := make([]byte, 1000)
	rand.NewChaCha8([32]byte{9}).Read(content)
	e.put("maria", "relatorio-bomba-07.xlsx", content)
	e.put("maria", "vazio.csv", nil)
	etag := `"` + sha(content) + `"`
	f.Add("bytes=0-99", "")
	f.Add("bytes=-10", "")
	f.Add("bytes=990-", "")
	f.Add("bytes=0-0,5-9,-1", "")
	f.Add("bytes=1000-", "")
	f.Add("bytes=5-2", "")
	f.Add("bytes=0-1", etag)
	f.Add("bytes=0-1", `"antigo"`)
	f.Add("bytes=0-1", "Tue, 01 Dec 2026 14:30:00 GMT")
	f.Fuzz(func(t *testing.T, rng, ifRange string) {
		e := e.with(t)
		for name, want := range map[string][]byte{"relatorio-bomba-07.xlsx": content, "vazio.csv": {}} {
			req := httptest.NewRequest(http.MethodGet, "/pull?"+url.Values{"token": {tok}, "filename": {name}}.Encode(), nil)
			if rng != "" {
				req.Header["Range"] = []string{rng}
			}
			if ifRange != "" {
				req.Header["If-Range"] = []string{ifRange}
			}
			resp := e.do(req)
			got := body(t, resp)
			status := resp.StatusCode
			switch status {
			case http.StatusOK:
				if got != string(want) {
					t.Fatalf("%s: Range %q, If-Range %q: 200 with %d bytes, want the whole %d", name, rng, ifRange, len(got), len(want))
				}
			case http.StatusPartialContent:
				checkPartial(t, resp.Header, got, want)
			case http.StatusRequestedRangeNotSatisfiable:
				if cr := resp.Header.Get("Content-Range"); cr != "" && cr != fmt.Sprintf("bytes */%d", len(want)) {
					t.Fatalf("%s: Range %q: 416 with Content-Range %q", name, rng, cr)
				}
			default:
				t.Fatalf("%s: Range %q, If-Range %q: status %d", name, rng, ifRange, status)
			}
			if ifRange != "" && ifRange != `"`+sha(want)+`"` || len(want) == 0 {
				continue
			}
			if first, last, ok := plainRange(rng, int64(len(want))); ok {
				wantRange := fmt.Sprintf("bytes %d-%d/%d", first, last, len(want))
				if first > last {
					wantRange = "" // unsatisfiable
				}
				if gotRange := resp.Header.Get("Content-Range"); status == http.StatusPartialContent && gotRange != wantRange ||
					status != http.StatusPartialContent && wantRange != "" {
					t.Fatalf("%s: Range %q: status %d, Content-Range %q; want %q", name, rng, status, gotRange, wantRange)
				}
			}
		}
	})
}

var contentRangeRE = regexp.MustCompile(`^bytes (\d+)-(\d+)/(\d+)$`)

// checkPartial checks that the 206 answer of header h and body b holds
// exactly the bytes of content its Content-Range says, or, if it is a
// multipart/byteranges answer, that each of its parts does.
func checkPartial(t *testing.T, h http.Header, b string, content []byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		checkRange(t, h.Get("Content-Range"), b, content)
		return
	}
	mr := multipart.NewReader(strings.NewReader(b), params["boundary"])
	parts := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart/byteranges: %v", err)
		}
		pb, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("multipart/byteranges part: %v", err)
		}
		checkRange(t, p.Header.Get("Content-Range"), string(pb), content)
		parts++
	}
	if parts < 2 {
		t.Fatalf("multipart/byteranges with %d parts", parts)
	}
}

// checkRange checks that b is the range cr of content.
func checkRange(t *testing.T, cr, b string, content []byte) {
	t.Helper()
	m := contentRangeRE.FindStringSubmatch(cr)
	if m == nil {
		t.Fatalf("Content-Range %q", cr)
	}
	first, _ := strconv.Atoi(m[1])
	last, _ := strconv.Atoi(m[2])
	size, _ := strconv.Atoi(m[3])
	if size != len(content) || first > last || last >= size {
		t.Fatalf("Content-Range %q of a %d-byte file", cr, len(content))
	}
	if b != string(content[first:last+1]) {
		t.Fatalf("Content-Range %q with %d bytes that are not the file's", cr, len(b))
	}
}

var plainRangeRE = regexp.MustCompile(`^bytes=(\d{0,15})-(\d{0,15})$`)

// plainRange returns the first and last byte that a Range of one of the
// plain forms selects in a file of size bytes (first > last if none), by
// RFC 9110 section 14.1.2; ok is false for any other Range, and for a
// range whose last byte is before its first, which a server may refuse or
// ignore.
func plainRange(rng string, size int64) (first, last int64, ok bool) {
	m := plainRangeRE.FindStringSubmatch(rng)
	if m == nil || m[1] == "" && m[2] == "" {
		return 0, 0, false
	}
	a, _ := strconv.ParseInt(m[1], 10, 64)
	b, _ := strconv.ParseInt(m[2], 10, 64)
	switch {
	case m[1] == "": // the last b bytes
		return size - min(b, size), size - 1, true
	case m[2] != "" && b < a:
		return 0, 0, false
	case m[2] == "" || b >= size:
		return a, size - 1, true
	default:
		return a, b, true
	}
}

// The fixed tokens of FuzzQuery, so that its corpus can hold them.
const (
	mariaToken = "pmg_maria_fuzz_0123456789abcdef"
	joaoToken  = "pmg_joao_fuzz_fedcba9876543210"
)

// FuzzQuery sends arbitrary query strings and Authorization headers to
// /list, /pull and /delete: the answer is one of the documented 200, 400,
// 403 and 404, never anything else; nothing succeeds without a token; and
// whatever the filename (path separators, "..", percent-encoded, overlong
// or look-alike), a request reaches only the files of the technician whose
// token it carries, by their exact names.
func FuzzQuery(f *testing.F) {
	e := newEnv(f, engine.Options{})
	ctx := context.Background()
	files := map[string]map[string]string{
		"maria": {
			"relatorio-bomba-07.xlsx": "maria: bomba 07, pressão ok",
			"inspeção março.xlsx":     "maria: inspeção de março",
			"..xlsx":                  "maria: pontos",
		},
		"joao": {
			"relatorio-bomba-07.xlsx": "joao: bomba 07, vazamento",
			"segredo.xlsx":            "joao: só do joao",
		},
	}
	tokens := map[string]string{"maria": mariaToken, "joao": joaoToken}
	for tech, tok := range tokens {
		if _, _, err := e.engine.ImportToken(ctx, tok, tech); err != nil {
			f.Fatal(err)
		}
		for name, content := range files[tech] {
			e.put(tech, name, []byte(content))
		}
	}
	f.Add("token="+mariaToken+"&filename=relatorio-bomba-07.xlsx", "")
	f.Add("filename=segredo.xlsx", "Bearer "+mariaToken)
	f.Add("token="+mariaToken+"&filename=..%2Fjoao%2Fsegredo.xlsx", "")
	f.Add("token="+joaoToken+"&filename=inspe%C3%A7%C3%A3o+mar%C3%A7o.xlsx", "Bearer "+mariaToken)
	f.Add("token="+mariaToken, "")

	f.Fuzz(func(t *testing.T, rawQuery, authorization string) {
		e := e.with(t)
		request := func(method, path string) (*http.Request, *http.Response) {
			req := httptest.NewRequest(method, path, nil)
			req.URL.RawQuery = rawQuery
			if authorization != "" {
				req.Header["Authorization"] = []string{authorization}
			}
			resp := e.do(req)
			switch resp.StatusCode {
			case http.StatusOK, http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound:
			default:
				t.Fatalf("%s %s?%s (Authorization %q): status %d", method, path, rawQuery, authorization, resp.StatusCode)
			}
			return req, resp
		}
		// The technicians whose token the request carries somewhere.
		var carried []string
		q, _ := url.ParseQuery(rawQuery)
		for tech, tok := range tokens {
			if strings.Contains(authorization, tok) || slices.ContainsFunc(q["token"], func(v string) bool { return strings.Contains(v, tok) }) {
				carried = append(carried, tech)
			}
		}
		succeeded := func(path string, resp *http.Response) bool {
			if resp.StatusCode != http.StatusOK {
				return false
			}
			if len(carried) == 0 {
				t.Fatalf("%s?%s (Authorization %q): 200 without a token", path, rawQuery, authorization)
			}
			return true
		}

		req, resp := request(http.MethodGet, "/list")
		if succeeded("/list", resp) {
			var got struct{ Files []string }
			json.NewDecoder(resp.Body).Decode(&got)
			if !slices.ContainsFunc(carried, func(tech string) bool { return reflect.DeepEqual(got.Files, sortedNames(files[tech])) }) {
				t.Fatalf("list?%s: %q, not the files of %v", rawQuery, got.Files, carried)
			}
		}
		resp.Body.Close()

		// Whose file of the name asked for, if any, the content is.
		owner := func(content string) string {
			name := norm.NFC.String(req.URL.Query().Get("filename"))
			for _, tech := range carried {
				if c, ok := files[tech][name]; ok && c == content {
					return tech
				}
			}
			return ""
		}
		_, resp = request(http.MethodGet, "/pull")
		if got := body(t, resp); succeeded("/pull", resp) && owner(got) == "" {
			t.Fatalf("pull?%s (Authorization %q): %q, no file of that name of %v", rawQuery, authorization, got, carried)
		}

		_, resp = request(http.MethodDelete, "/delete")
		var deleted struct{ Filename, SHA256 string }
		json.NewDecoder(resp.Body).Decode(&deleted)
		resp.Body.Close()
		gone := ""
		if succeeded("/delete", resp) {
			for _, tech := range carried {
				if c, ok := files[tech][deleted.Filename]; ok && sha([]byte(c)) == deleted.SHA256 && owner(c) == tech {
					gone = tech
				}
			}
			if gone == "" {
				t.Fatalf("delete?%s (Authorization %q): deleted %+v, no file of that name of %v", rawQuery, authorization, deleted, carried)
			}
		}
		// Nothing else changed, and what was deleted comes back for the
		// next input.
		for tech := range files {
			got, err := e.engine.Technician(ctx, tech)
			if err != nil {
				t.Fatal(err)
			}
			list, err := e.engine.List(ctx, got)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range list {
				names = append(names, f.Name)
			}
			want := sortedNames(files[tech])
			if tech == gone {
				want = slices.DeleteFunc(want, func(n string) bool { return n == deleted.Filename })
				e.put(tech, deleted.Filename, []byte(files[tech][deleted.Filename]))
			}
			if !reflect.DeepEqual(names, want) {
				t.Fatalf("after %q (Authorization %q), %s has %q, want %q", rawQuery, authorization, tech, names, want)
			}
		}
	})
}

// sortedNames returns the names of files, sorted.
func sortedNames(files map[string]string) []string {
	return slices.Sorted(maps.Keys(files))
}
