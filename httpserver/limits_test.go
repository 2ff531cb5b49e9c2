package httpserver_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// untouchable is a request body that fails the test if it is read.
type untouchable struct{ t *testing.T }

func (u untouchable) Read([]byte) (int, error) {
	u.t.Error("the request body was read")
	return 0, io.EOF
}

// assertNothingStored checks that the technician has no files and that no
// blob, committed or temporary, is left on disk.
func assertNothingStored(t *testing.T, e *env, tok string) {
	t.Helper()
	decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusNotFound)
	if n := countBlobs(t, e.dir); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	if n := countTemp(t, e.dir); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

// A declared length over the limit is refused before the body is read.
func TestUploadTooLargeByContentLength(t *testing.T) {
	e := newEnv(t, engine.Options{MaxUploadSize: 1000})
	tok := e.token("joao")
	// The limit is on the file; the multipart framing around it gets a
	// 64 KiB allowance.
	req := httptest.NewRequest(http.MethodPost, "/upload?token="+tok, untouchable{t})
	req.ContentLength = 1000 + 64<<10 + 1
	req.Header.Set("Content-Type", "multipart/form-data; boundary=X")
	resp := e.do(req)
	if got := resp.Header.Get("Connection"); got != "close" {
		t.Errorf("Connection = %q, want close", got)
	}
	got := decode(t, resp, http.StatusRequestEntityTooLarge)
	if want := "o arquivo é maior que o limite de 1000 bytes"; got["detail"] != want {
		t.Errorf("detail = %v, want %q", got["detail"], want)
	}
	assertNothingStored(t, e, tok)

	// The refusal is recorded with the technician whose token it carried.
	if ev := lastAudit(t, e); ev.Action != pmgsync.ActionUpload || ev.Result != pmgsync.ETOOLARGE || ev.Technician != "joao" {
		t.Errorf("record %+v, want joao's upload refused as too large", ev)
	}

	// Without a valid token, the token is checked first: the refusal is
	// a refused token, recorded and counted as one.
	req = httptest.NewRequest(http.MethodPost, "/upload?token=pmg_bogus", untouchable{t})
	req.ContentLength = 50 << 20
	decode(t, e.do(req), http.StatusForbidden)
	if ev := lastAudit(t, e); ev.Action != pmgsync.ActionAuthFailed {
		t.Errorf("record %+v, want auth.failed", ev)
	}
}

// lastAudit returns the newest record of the audit trail.
func lastAudit(t *testing.T, e *env) *pmgsync.AuditEvent {
	t.Helper()
	var last *pmgsync.AuditEvent
	err := e.engine.AuditEvents(context.Background(), pmgsync.AuditFilter{}, func(ev *pmgsync.AuditEvent) error {
		last = ev
		return nil
	})
	if err != nil || last == nil {
		t.Fatalf("no audit record: %v", err)
	}
	return last
}

func TestUploadTooLargeWithinAllowance(t *testing.T) {
	e := newEnv(t, engine.Options{MaxUploadSize: 1000})
	tok := e.token("joao")
	t.Run("exactly the limit", func(t *testing.T) {
		decode(t, e.upload(tok, "limite.csv", bytes.Repeat([]byte("a"), 1000)), http.StatusOK)
		e.get(http.MethodDelete, "/delete", url.Values{"token": {tok}, "filename": {"limite.csv"}})
	})
	t.Run("one byte over", func(t *testing.T) {
		// The declared length is within the allowance: the file's bytes
		// are counted as they arrive.
		resp := e.upload(tok, "pmg.csv", bytes.Repeat([]byte("a"), 1001))
		if resp.Header.Get("Connection") != "close" {
			t.Error("no Connection: close")
		}
		decode(t, resp, http.StatusRequestEntityTooLarge)
		assertNothingStored(t, e, tok)
	})
	t.Run("fields over the allowance", func(t *testing.T) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("notes", strings.Repeat("n", 70<<10))
		fw, _ := mw.CreateFormFile("file", "pmg.csv")
		fw.Write([]byte("a;b\n"))
		mw.Close()
		req := httptest.NewRequest(http.MethodPost, "/upload?token="+tok, io.MultiReader(&buf)) // no declared length
		req.Header.Set("Content-Type", mw.FormDataContentType())
		got := decode(t, e.do(req), http.StatusRequestEntityTooLarge)
		if want := "o arquivo é maior que o limite de 1000 bytes"; got["detail"] != want {
			t.Errorf("detail = %v", got["detail"])
		}
		assertNothingStored(t, e, tok)
	})
}

// A body with no declared length (chunked) that streams past the limit, for
// ever, gets 413 while it is still being sent, and its connection is
// closed: the server neither waits for its end nor keeps reading it.
func TestUploadTooLargeWhileStreaming(t *testing.T) {
	e := newEnv(t, engine.Options{MaxUploadSize: 64 << 10})
	tok := e.token("joao")
	srv := httptest.NewServer(e.server)
	defer srv.Close()
	got := refusedWhileSending(t, srv, tok, -1)
	if want := "o arquivo é maior que o limite de 64 KiB"; got["detail"] != want {
		t.Errorf("detail = %v, want %q", got["detail"], want)
	}
	assertNothingStored(t, e, tok)
}

// The same through a real connection for a body whose declared length is
// over the limit: the 413 comes before the body is read.
func TestUploadTooLargeByContentLengthConnection(t *testing.T) {
	e := newEnv(t, engine.Options{MaxUploadSize: 64 << 10})
	tok := e.token("joao")
	srv := httptest.NewServer(e.server)
	defer srv.Close()
	refusedWhileSending(t, srv, tok, 1<<30)
	assertNothingStored(t, e, tok)
}

// refusedWhileSending posts to srv an upload whose csv file never ends,
// declaring contentLength (-1 for none: chunked), and checks that the
// server answers 413 while the body is still being sent, that the answer
// closes the connection, and that the client's writes then fail. It
// returns the answer's JSON.
func refusedWhileSending(t *testing.T, srv *httptest.Server, tok string, contentLength int64) map[string]any {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	writeErr := make(chan error, 1)
	go func() {
		err := endlessCSV(mw)
		pw.CloseWithError(err)
		writeErr <- err
	}()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/upload?token="+tok, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.ContentLength = contentLength

	type result struct {
		resp *http.Response
		err  error
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		answered <- result{resp, err}
	}()
	// The body never ends: an answer can only come while it is being sent.
	var resp *http.Response
	select {
	case r := <-answered:
		if r.err != nil {
			t.Fatalf("request: %v", r.err)
		}
		resp = r.resp
	case <-time.After(time.Minute): // a failsafe, not a measurement
		pr.CloseWithError(fmt.Errorf("test gave up"))
		t.Fatal("no answer while the body was streaming")
	}
	if !resp.Close { // the client saw Connection: close
		t.Error("the 413 does not close the connection")
	}
	got := decode(t, resp, http.StatusRequestEntityTooLarge)
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("the endless body was written whole")
		}
	case <-time.After(time.Minute): // a failsafe, not a measurement
		pr.CloseWithError(fmt.Errorf("test gave up"))
		t.Fatal("the client could still write after the 413")
	}
	return got
}

// endlessCSV writes a multipart upload whose csv file never ends, until a
// write fails, and returns that error.
func endlessCSV(mw *multipart.Writer) error {
	fw, err := mw.CreateFormFile("file", "sem-fim.csv")
	if err != nil {
		return err
	}
	line := []byte(strings.Repeat("bomba;ok;", 100) + "\n")
	for {
		if _, err := fw.Write(line); err != nil {
			return err
		}
	}
}

func TestUploadTypesHTTP(t *testing.T) {
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"), bytes.Repeat([]byte{0}, 8192)...)
	ole2 := append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), bytes.Repeat([]byte{0}, 504)...)
	zipOnly := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("xl/workbook.xml")
		io.WriteString(w, "<workbook/>")
		zw.Close()
		return buf.Bytes()
	}()
	const allowed = "tipos permitidos: xlsx, xlsm, xls, csv"
	tests := []struct {
		name, file string
		content    []byte
		status     int
		detail     string // a part of it
	}{
		{"minimal xlsx", "relatorio.xlsx", report(1), http.StatusOK, ""},
		{"minimal xlsm", "relatorio.xlsm", report(2), http.StatusOK, ""},
		{"xls", "relatorio.xls", ole2, http.StatusOK, ""},
		{"csv", "relatorio.csv", []byte("equipamento;status\nbomba 3;ok\n"), http.StatusOK, ""},
		{"executable as xlsx", "relatorio.xlsx", exe, http.StatusUnsupportedMediaType, "não é um arquivo xlsx válido; " + allowed},
		{"executable as xls", "relatorio.xls", exe, http.StatusUnsupportedMediaType, "não é um arquivo xls válido; " + allowed},
		{"executable as csv", "relatorio.csv", exe, http.StatusUnsupportedMediaType, "não é um arquivo csv válido; " + allowed},
		{"csv with NUL", "relatorio.csv", []byte("a;b\n1;\x002\n"), http.StatusUnsupportedMediaType, "não é um arquivo csv válido"},
		{"zip without content types", "relatorio.xlsx", zipOnly, http.StatusUnsupportedMediaType, "não é um arquivo xlsx válido"},
		{"executable by name", "setup.exe", exe, http.StatusUnsupportedMediaType, `arquivos do tipo "exe" não são aceitos; ` + allowed},
		{"no extension", "relatorio", []byte("a;b\n"), http.StatusUnsupportedMediaType, allowed},
		{"empty", "relatorio.xlsx", nil, http.StatusBadRequest, "o arquivo está vazio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, engine.Options{})
			tok := e.token("joao")
			got := decode(t, e.upload(tok, tt.file, tt.content), tt.status)
			if tt.status == http.StatusOK {
				pull := e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {tt.file}})
				if b := body(t, pull); b != string(tt.content) {
					t.Errorf("pull = %d bytes, want %d", len(b), len(tt.content))
				}
				return
			}
			if d, _ := got["detail"].(string); !strings.Contains(d, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", d, tt.detail)
			}
			assertNothingStored(t, e, tok)
		})
	}
}

// A refused upload leaves the version it would have replaced.
func TestRefusedUploadKeepsPreviousVersion(t *testing.T) {
	e := newEnv(t, engine.Options{MaxUploadSize: 1 << 10})
	tok := e.token("joao")
	decode(t, e.upload(tok, "pmg.xlsx", report(1)), http.StatusOK)
	decode(t, e.upload(tok, "pmg.xlsx", []byte("MZ\x90\x00")), http.StatusUnsupportedMediaType)
	decode(t, e.upload(tok, "pmg.xlsx", xlsx(strings.Repeat("x", 2<<10))), http.StatusRequestEntityTooLarge)
	if b := body(t, e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {"pmg.xlsx"}})); b != string(report(1)) {
		t.Error("a refused upload replaced the file")
	}
	if n := countBlobs(t, e.dir); n != 1 {
		t.Errorf("%d blobs, want 1", n)
	}
}

// uploadAll uploads the contents concurrently, each under its own name,
// and returns how many got each status.
func uploadAll(t *testing.T, e *env, tok string, contents [][]byte) map[int]int {
	t.Helper()
	var mu sync.Mutex
	statuses := make(map[int]int)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, content := range contents {
		wg.Go(func() {
			<-start
			resp := e.upload(tok, fmt.Sprintf("relatorio-%02d.csv", i), content)
			io.Copy(io.Discard, resp.Body)
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

func TestQuotaFilesRace(t *testing.T) {
	e := newEnv(t, engine.Options{QuotaFiles: 10})
	tok := e.token("joao")
	contents := make([][]byte, 16)
	for i := range contents {
		contents[i] = fmt.Appendf(nil, "relatorio;%d\n", i)
	}
	got := uploadAll(t, e, tok, contents)
	if got[http.StatusOK] != 10 || got[http.StatusInsufficientStorage] != 6 {
		t.Errorf("statuses = %v, want 10 × 200 and 6 × 507", got)
	}
	list := decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusOK)
	if n := len(list["files"].([]any)); n != 10 {
		t.Errorf("%d files listed, want 10", n)
	}
	if n := countBlobs(t, e.dir); n != 10 {
		t.Errorf("%d blobs, want 10: refused uploads must leave none", n)
	}
	resp := e.upload(tok, "mais-um.csv", []byte("a\n"))
	if d := decode(t, resp, http.StatusInsufficientStorage)["detail"]; d != "cota de arquivos excedida: o limite é de 10 arquivos por técnico" {
		t.Errorf("detail = %v", d)
	}
}

func TestQuotaBytesRace(t *testing.T) {
	const size = 10 << 10
	const quota = 5*size + size/2
	e := newEnv(t, engine.Options{QuotaBytes: quota})
	tok := e.token("joao")
	contents := make([][]byte, 16)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{byte('a' + i)}, size)
	}
	got := uploadAll(t, e, tok, contents)
	if got[http.StatusOK] != 5 || got[http.StatusInsufficientStorage] != 11 {
		t.Errorf("statuses = %v, want 5 × 200 and 11 × 507", got)
	}
	files, err := e.engine.List(context.Background(), technicianNamed(t, e, "joao"))
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	if total > quota {
		t.Errorf("%d bytes stored, over the quota of %d", total, quota)
	}
	if n := countBlobs(t, e.dir); n != len(files) {
		t.Errorf("%d blobs for %d files", n, len(files))
	}
}

// Replacing a file counts only the difference in size against the quota,
// and no new file against the file quota.
func TestQuotaReplacementCountsDifference(t *testing.T) {
	const size = 1000
	e := newEnv(t, engine.Options{QuotaBytes: 2 * size, QuotaFiles: 2})
	tok := e.token("joao")
	csv := func(n int) []byte { return bytes.Repeat([]byte("a"), n) }
	decode(t, e.upload(tok, "a.csv", csv(size)), http.StatusOK)
	decode(t, e.upload(tok, "b.csv", csv(size)), http.StatusOK) // at both quotas now
	decode(t, e.upload(tok, "a.csv", csv(size)), http.StatusOK) // same size: no difference
	got := decode(t, e.upload(tok, "a.csv", csv(size+1)), http.StatusInsufficientStorage)
	if want := "cota de armazenamento excedida: o limite é de 2 KiB por técnico"; got["detail"] != want {
		t.Errorf("detail = %v, want %q", got["detail"], want)
	}
	decode(t, e.upload(tok, "a.csv", csv(size-10)), http.StatusOK) // shrinks: 10 bytes free
	decode(t, e.upload(tok, "b.csv", csv(size+10)), http.StatusOK) // grows into them
	decode(t, e.upload(tok, "c.csv", csv(1)), http.StatusInsufficientStorage)
	if b := body(t, e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {"a.csv"}})); len(b) != size-10 {
		t.Errorf("a.csv has %d bytes, want %d", len(b), size-10)
	}
	if n := countBlobs(t, e.dir); n != 2 {
		t.Errorf("%d blobs, want 2", n)
	}
}

func technicianNamed(t *testing.T, e *env, name string) *pmgsync.Technician {
	t.Helper()
	tech, err := e.engine.Technician(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return tech
}

// probe is a free-space probe whose answer the test sets.
type probe struct {
	mu          sync.Mutex
	free, total uint64
}

func (p *probe) set(free uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free = free
}

func (p *probe) FreeSpace() (uint64, uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.free, p.total, nil
}

func TestFreeSpaceGuardHTTP(t *testing.T) {
	const gib = 1 << 30
	p := &probe{free: 10 * gib, total: 100 * gib} // threshold: 1 GiB, less than 5%
	e := newEnv(t, engine.Options{FreeSpace: p.FreeSpace})
	tok := e.token("joao")
	decode(t, e.upload(tok, "pmg.xlsx", report(1)), http.StatusOK)
	decode(t, e.upload(tok, "outro.xlsx", report(2)), http.StatusOK)

	p.set(gib - 1)
	got := decode(t, e.upload(tok, "novo.xlsx", report(3)), http.StatusInsufficientStorage)
	if want := "o servidor está com pouco espaço em disco; tente novamente mais tarde"; got["detail"] != want {
		t.Errorf("detail = %v, want %q", got["detail"], want)
	}
	decode(t, e.upload(tok, "pmg.xlsx", report(4)), http.StatusInsufficientStorage) // a replacement too
	// Reads and deletes go on.
	if b := body(t, e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {"pmg.xlsx"}})); b != string(report(1)) {
		t.Error("pull while the disk is low failed")
	}
	list := decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusOK)
	if n := len(list["files"].([]any)); n != 2 {
		t.Errorf("list = %v", list)
	}
	decode(t, e.get(http.MethodDelete, "/delete", url.Values{"token": {tok}, "filename": {"outro.xlsx"}}), http.StatusOK)

	// The declared length counts: room for the threshold, not for the body.
	p.set(gib + 100)
	decode(t, e.upload(tok, "novo.xlsx", report(3)), http.StatusInsufficientStorage)
	if n := countBlobs(t, e.dir); n != 1 {
		t.Errorf("%d blobs, want 1", n)
	}

	p.set(2 * gib)
	decode(t, e.upload(tok, "novo.xlsx", report(3)), http.StatusOK)
}
