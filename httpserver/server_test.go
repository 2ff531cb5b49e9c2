package httpserver_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/httpserver"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/sqlite"
)

// clock is a settable clock for the engine and the store.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is a server on a real SQLite file and a real blob directory.
type env struct {
	t      testing.TB
	clock  *clock
	engine *engine.Engine
	server *httpserver.Server
	dir    string
}

// newEnv starts an environment whose engine has the given options; their
// clock, if unset, is the environment's settable one.
func newEnv(t testing.TB, opts engine.Options) *env {
	t.Helper()
	dir := t.TempDir()
	c := &clock{now: time.Date(2026, 12, 1, 14, 30, 0, 0, time.UTC)}
	if opts.Now == nil {
		opts.Now = c.Now
	}
	meta, err := sqlite.Open(context.Background(), filepath.Join(dir, "pmgsync.db"), c.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	eng := engine.New(meta, blobs, opts)
	return &env{t: t, clock: c, engine: eng, server: httpserver.New(eng, httpserver.Options{}), dir: dir}
}

// with returns a copy of e that reports to t: fuzz targets must not use the
// *testing.F they were set up with.
func (e *env) with(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// token creates a technician with a token and returns the raw token.
func (e *env) token(technician string) string {
	e.t.Helper()
	raw, _, _, err := e.engine.CreateToken(context.Background(), technician, "", time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

// put stores content as the technician's file name the way the import
// from the old server does, without the upload limits: for files of any
// type, such as the old server kept.
func (e *env) put(technician, name string, content []byte) {
	e.t.Helper()
	ctx := context.Background()
	tech, err := e.engine.Technician(ctx, technician)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, ok, err := e.engine.ImportFile(ctx, tech, name, bytes.NewReader(content), e.clock.Now()); err != nil || !ok {
		e.t.Fatalf("import %q: %v, %v", name, ok, err)
	}
}

// do runs a request through the server and returns the response.
func (e *env) do(req *http.Request) *http.Response {
	e.t.Helper()
	rec := httptest.NewRecorder()
	e.server.ServeHTTP(rec, req)
	return rec.Result()
}

// upload posts content as the multipart field "file" named filename.
func (e *env) upload(token, filename string, content []byte) *http.Response {
	e.t.Helper()
	body, contentType := multipartBody(e.t, filename, content)
	req := httptest.NewRequest(http.MethodPost, "/upload?token="+url.QueryEscape(token), body)
	req.Header.Set("Content-Type", contentType)
	return e.do(req)
}

func (e *env) get(method, path string, params url.Values) *http.Response {
	e.t.Helper()
	return e.do(httptest.NewRequest(method, path+"?"+params.Encode(), nil))
}

func multipartBody(t testing.TB, filename string, content []byte) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

// decode reads a JSON body into a map, checking the status first.
func decode(t *testing.T, resp *http.Response, wantStatus int) map[string]any {
	t.Helper()
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, wantStatus, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return v
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func sha(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// report returns the n-th of a series of distinct, valid xlsx reports.
func report(n int) []byte {
	return xlsx(fmt.Sprintf("relatório de manutenção preventiva %d", n))
}

// xlsx returns a minimal xlsx package, the same for the same text, holding
// [Content_Types].xml and a worksheet with text, stored uncompressed so
// that the text can be found in the bytes.
func xlsx(text string) []byte {
	return xlsxWith([]byte("<worksheet><v>" + text + "</v></worksheet>"))
}

// xlsxWith returns an xlsx package whose worksheet part is payload.
func xlsxWith(payload []byte) []byte {
	var buf bytes.Buffer
	if err := writeXLSX(&buf, bytes.NewReader(payload)); err != nil {
		panic(err) // writing to memory does not fail
	}
	return buf.Bytes()
}

// writeXLSX streams an xlsx package whose worksheet part is read from
// sheet into w.
func writeXLSX(w io.Writer, sheet io.Reader) error {
	zw := zip.NewWriter(w)
	parts := []struct {
		name string
		r    io.Reader
	}{
		{"[Content_Types].xml", strings.NewReader(`<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`)},
		{"xl/worksheets/sheet1.xml", sheet},
	}
	for _, p := range parts {
		pw, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Store})
		if err != nil {
			return err
		}
		if _, err := io.Copy(pw, p.r); err != nil {
			return err
		}
	}
	return zw.Close()
}

func httptestRequest(method, target string, body io.Reader) *http.Request {
	return httptest.NewRequest(method, target, body)
}

// countTemp counts the temporary files of uploads in flight or left over.
func countTemp(t *testing.T, dir string) int {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "blobs", "tmp", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(matches)
}

// countBlobs counts the committed blobs under the environment's blob store.
func countBlobs(t *testing.T, dir string) int {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "blobs", "[0-9a-f][0-9a-f]", "*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(matches)
}
