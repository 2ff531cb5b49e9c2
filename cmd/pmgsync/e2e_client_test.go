package main

// Helpers of the end-to-end tests that speak HTTP to a running server and
// look at what it stored.

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// detail returns the "detail" of a JSON error body, or fails the test.
func (r response) detail(t *testing.T) string {
	t.Helper()
	var v struct {
		Detail *string `json:"detail"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Detail == nil {
		t.Fatalf("body %q is not a JSON {\"detail\": …}", r.body)
	}
	return *v.Detail
}

// do sends req with client (http.DefaultClient if nil) and reads the response.
func do(t *testing.T, client *http.Client, req *http.Request) response {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Redacted(), err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// request returns a request for the server's path (which may carry a query
// that the caller has encoded) with the token as ?token= appended, unless
// the token is "".
func (s *server) request(method, path, token string, body io.Reader) *http.Request {
	s.t.Helper()
	u := s.url + path
	if token != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		u += sep + "token=" + url.QueryEscape(token)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		s.t.Fatal(err)
	}
	return req
}

// list returns the file names of /list, or nil for a 404.
func (s *server) list(token string) []string {
	s.t.Helper()
	r := do(s.t, nil, s.request("GET", "/list", token, nil))
	if r.status == http.StatusNotFound {
		return nil
	}
	if r.status != http.StatusOK {
		s.t.Fatalf("GET /list: status %d, body %s", r.status, r.body)
	}
	var v struct{ Files []string }
	if err := json.Unmarshal(r.body, &v); err != nil {
		s.t.Fatalf("GET /list: %v in %s", err, r.body)
	}
	return v.Files
}

// pull returns the response of /pull for name.
func (s *server) pull(token, name string) response {
	s.t.Helper()
	return do(s.t, nil, s.request("GET", "/pull?filename="+url.QueryEscape(name), token, nil))
}

// upload sends content as the file name and returns the response.
func (s *server) upload(token, name string, content io.Reader) response {
	s.t.Helper()
	u := s.startUpload(context.Background(), nil, token, name)
	io.Copy(u, content) // fails if the server answered early: the response tells why
	return u.finish()
}

// mustUpload uploads content as name and fails the test unless it is stored.
func (s *server) mustUpload(token, name string, content []byte) {
	s.t.Helper()
	if r := s.upload(token, name, bytes.NewReader(content)); r.status != http.StatusOK {
		s.t.Fatalf("upload %q: status %d, body %s", name, r.status, r.body)
	}
}

// pendingUpload is an upload whose file content the test streams as it
// likes: the multipart body goes through a pipe, never whole in memory.
type pendingUpload struct {
	t       *testing.T
	pw      *io.PipeWriter
	mw      *multipart.Writer
	part    io.Writer
	partErr error
	done    chan uploadResult
}

type uploadResult struct {
	resp response
	err  error
}

// startUpload sends the request of an upload of name and its multipart
// headers; the content is what the test writes next.
func (s *server) startUpload(ctx context.Context, client *http.Client, token, name string) *pendingUpload {
	s.t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req := s.request("POST", "/upload", token, pr).WithContext(ctx)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	u := &pendingUpload{t: s.t, pw: pw, mw: mw, done: make(chan uploadResult, 1)}
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			pr.CloseWithError(err)
			u.done <- uploadResult{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		pr.CloseWithError(errors.New("response received"))
		u.done <- uploadResult{resp: response{status: resp.StatusCode, header: resp.Header, body: body}, err: err}
	}()
	// An error here (the server answered before reading the body) shows in
	// the response.
	u.part, u.partErr = mw.CreateFormFile("file", name)
	return u
}

func (u *pendingUpload) Write(p []byte) (int, error) {
	if u.partErr != nil {
		return 0, u.partErr
	}
	return u.part.Write(p)
}

// finish ends the body and returns the response.
func (u *pendingUpload) finish() response {
	u.t.Helper()
	r, err := u.finishErr()
	if err != nil {
		u.t.Fatalf("upload: %v", err)
	}
	return r
}

// finishErr is finish for goroutines other than the test's, which must not
// call t.Fatal.
func (u *pendingUpload) finishErr() (response, error) {
	u.mw.Close() // fails if the server answered early: the response tells why
	u.pw.Close()
	select {
	case res := <-u.done:
		return res.resp, res.err
	case <-time.After(deadline):
		return response{}, fmt.Errorf("no response after %s", deadline)
	}
}

// result waits for the outcome of the request.
func (u *pendingUpload) result() uploadResult {
	u.t.Helper()
	select {
	case res := <-u.done:
		return res
	case <-time.After(deadline):
		u.t.Fatalf("upload: no response after %s", deadline)
		return uploadResult{}
	}
}

// randomBytes returns n pseudo-random bytes determined by seed.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	randomReader(seed).Read(b)
	return b
}

// randomReader returns an endless stream of pseudo-random bytes
// determined by seed.
func randomReader(seed uint64) io.Reader {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(key)
}

// blobFiles returns the paths of the committed blobs and of the temporary
// files under the data directory's blob store.
func blobFiles(t *testing.T, data string) (committed, temp []string) {
	t.Helper()
	root := filepath.Join(data, "blobs")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if filepath.Dir(path) == filepath.Join(root, "tmp") {
			temp = append(temp, path)
		} else {
			committed = append(committed, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return committed, temp
}

// sum returns the SHA-256 of b.
func sum(b []byte) [32]byte { return sha256.Sum256(b) }

// contentTypesXML is the [Content_Types].xml of the packages xlsx builds.
const contentTypesXML = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="bin" ContentType="application/octet-stream"/></Types>`

// xlsx returns a minimal Office Open XML package, which the server accepts
// as an .xlsx file: a ZIP archive holding [Content_Types].xml and payload,
// stored uncompressed. The same payload always gives the same bytes.
func xlsx(payload []byte) []byte {
	var b bytes.Buffer
	if err := writeXLSX(&b, bytes.NewReader(payload)); err != nil {
		panic(err) // writes to a bytes.Buffer do not fail
	}
	return b.Bytes()
}

// xlsxReader streams the package that xlsx would build from all of r.
func xlsxReader(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeXLSX(pw, r)) }()
	return pr
}

func writeXLSX(w io.Writer, r io.Reader) error {
	zw := zip.NewWriter(w)
	ct, err := zw.Create("[Content_Types].xml")
	if err != nil {
		return err
	}
	if _, err := io.WriteString(ct, contentTypesXML); err != nil {
		return err
	}
	part, err := zw.CreateHeader(&zip.FileHeader{Name: "xl/payload.bin", Method: zip.Store})
	if err != nil {
		return err
	}
	if _, err := io.Copy(part, r); err != nil {
		return err
	}
	return zw.Close()
}

// textReader returns an endless stream of pseudo-random bytes determined by
// seed, none of them NUL, which the server accepts as a .csv file.
func textReader(seed uint64) io.Reader {
	return noNUL{randomReader(seed)}
}

type noNUL struct{ r io.Reader }

func (n noNUL) Read(p []byte) (int, error) {
	m, err := n.r.Read(p)
	for i := range p[:m] {
		if p[i] == 0 {
			p[i] = '0'
		}
	}
	return m, err
}
