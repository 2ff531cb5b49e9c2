package httpserver_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/httpserver"
)

// rawUpload writes to conn the head of a POST /upload whose multipart body
// is body, with its Content-Length.
func rawUpload(t *testing.T, conn net.Conn, tok, contentType string, body []byte) {
	t.Helper()
	head := fmt.Sprintf("POST /upload?token=%s HTTP/1.1\r\nHost: pmg.example.com\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
		url.QueryEscape(tok), contentType, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
}

func dial(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// A failsafe against a server that never answers, not a measurement.
	conn.SetDeadline(time.Now().Add(time.Minute))
	return conn
}

// TestUploadStalled sends half an upload and then nothing: the server cuts
// it off after the stall timeout with a 408 and closes the connection, and
// nothing of it is kept.
func TestUploadStalled(t *testing.T) {
	t.Parallel()
	const stall = 300 * time.Millisecond
	e := newOpsEnv(t, httpserver.Options{UploadStallTimeout: stall}, nil)
	tok := e.token("maria")
	srv := httptest.NewServer(e.server)
	defer srv.Close()

	content := xlsxWith(bytes.Repeat([]byte("<v>bomba 07: pressão ok</v>"), 10000))
	payload, contentType := multipartBody(t, "relatorio-bomba-07.xlsx", content)
	raw, _ := io.ReadAll(payload)
	conn := dial(t, srv)
	rawUpload(t, conn, tok, contentType, raw)
	if _, err := conn.Write(raw[:len(raw)/2]); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()

	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to the stalled upload: %v", err)
	}
	// Not a measurement of speed: a deadline that is never moved again
	// cannot pass before the timeout.
	if waited := time.Since(sent); waited < stall {
		t.Errorf("cut off after %v, before the stall timeout of %v", waited, stall)
	}
	if !resp.Close {
		t.Error("the 408 does not close the connection")
	}
	if got := decode(t, resp, http.StatusRequestTimeout); got["detail"] != "o envio parou de mandar dados e foi interrompido; tente novamente" {
		t.Errorf("detail = %v", got["detail"])
	}
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		t.Errorf("after the 408: %q, %v; want the connection closed", rest, err)
	}

	decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusNotFound)
	if n := countTemp(t, e.dir); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
	if n := countBlobs(t, e.dir); n != 0 {
		t.Errorf("%d blobs left", n)
	}
	if got := lastAudit(t, e.env); got.Action != pmgsync.ActionUpload || got.Result != pmgsync.EINVALID || !strings.Contains(got.Detail, "stopped sending data") {
		t.Errorf("audit: %+v, want a refused upload that stalled", got)
	}
	if line := logLine(t, e.logs.String(), "route=/upload"); field(line, "status") != "408" {
		t.Errorf("access log: %s", line)
	}
	if !strings.Contains(e.logs.String(), "request body stalled after 300ms") {
		t.Errorf("the log does not say why:\n%s", e.logs)
	}
}

// TestUploadStalledBeforeFile stalls in the multipart headers, before the
// file part has begun.
func TestUploadStalledBeforeFile(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t, httpserver.Options{UploadStallTimeout: 300 * time.Millisecond}, nil)
	tok := e.token("maria")
	srv := httptest.NewServer(e.server)
	defer srv.Close()

	raw := []byte("--X\r\nContent-Disposition: form-data; name=\"device\"\r\n\r\nGalaxy A14\r\n--X\r\nContent-Disposition: form-da")
	conn := dial(t, srv)
	rawUpload(t, conn, tok, "multipart/form-data; boundary=X", append(raw, make([]byte, 4096)...))
	conn.Write(raw)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to the stalled upload: %v", err)
	}
	if got := decode(t, resp, http.StatusRequestTimeout); got["detail"] != "o envio parou de mandar dados e foi interrompido; tente novamente" {
		t.Errorf("detail = %v", got["detail"])
	}
}

// pacedReader yields data in chunks of size, one per tick.
type pacedReader struct {
	data  []byte
	chunk int
	tick  <-chan time.Time
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if len(p.data) == 0 {
		return 0, io.EOF
	}
	<-p.tick
	n := copy(b[:min(len(b), p.chunk)], p.data)
	p.data = p.data[n:]
	return n, nil
}

// TestUploadSlowButSteady sends 512 KiB at 64 KiB/s, in 8 KiB chunks every
// 125 ms, with a stall timeout of 1 s: the upload takes eight times the
// timeout, and is stored whole.
func TestUploadSlowButSteady(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t, httpserver.Options{UploadStallTimeout: time.Second}, nil)
	tok := e.token("maria")
	srv := httptest.NewServer(e.server)
	defer srv.Close()

	sheet := make([]byte, 512<<10)
	rand.NewChaCha8([32]byte{7}).Read(sheet)
	content := xlsxWith(sheet)
	payload, contentType := multipartBody(t, "relatorio-bomba-07.xlsx", content)
	raw, _ := io.ReadAll(payload)
	ticker := time.NewTicker(125 * time.Millisecond)
	defer ticker.Stop()
	conn := dial(t, srv)
	rawUpload(t, conn, tok, contentType, raw)
	go io.Copy(conn, &pacedReader{data: raw, chunk: 8 << 10, tick: ticker.C})

	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	got := decode(t, resp, http.StatusOK)
	if got["sha256"] != sha(content) || got["size"] != float64(len(content)) {
		t.Errorf("upload = %v, want %d bytes with sha256 %s", got, len(content), sha(content))
	}
	pull := e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {"relatorio-bomba-07.xlsx"}})
	if b := body(t, pull); b != string(content) {
		t.Errorf("stored %d bytes, want the %d sent", len(b), len(content))
	}
}

// TestHeaderLimits checks the limits that the http.Server, not the
// handler, puts on a request's headers, as Main sets them: a client that
// stops in the middle of its headers is disconnected after
// ReadHeaderTimeout without an answer, and headers over MaxHeaderBytes get
// a 431.
func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	e := newOpsEnv(t, httpserver.Options{UploadStallTimeout: time.Minute}, nil)
	srv := httptest.NewUnstartedServer(e.server)
	srv.Config.ReadHeaderTimeout = 300 * time.Millisecond
	srv.Config.MaxHeaderBytes = 4 << 10
	srv.Start()
	defer srv.Close()

	t.Run("slow headers", func(t *testing.T) {
		conn := dial(t, srv)
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: pmg.example.com\r\nUser-Agent: lento")
		if rest, err := io.ReadAll(conn); err != nil || len(rest) != 0 {
			t.Errorf("got %q, %v; want the connection closed without an answer", rest, err)
		}
	})
	t.Run("oversized headers", func(t *testing.T) {
		conn := dial(t, srv)
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: pmg.example.com\r\nX-Padding: %s\r\n\r\n", strings.Repeat("a", 16<<10))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("status %d, want 431", resp.StatusCode)
		}
	})
}

// TestRefusedBodyNeverSent checks that a request refused before its body
// is read (here for a bad token) gets its answer and loses its connection
// within the stall timeout, even though its body never comes: net/http
// would otherwise wait for the body for ever before it answers.
func TestRefusedBodyNeverSent(t *testing.T) {
	t.Parallel()
	const stall = 300 * time.Millisecond
	e := newOpsEnv(t, httpserver.Options{UploadStallTimeout: stall}, nil)
	srv := httptest.NewServer(e.server)
	defer srv.Close()

	for _, head := range []string{
		"POST /upload?token=pmg_palpite HTTP/1.1\r\nHost: pmg.example.com\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n",
		"GET /list?token=pmg_palpite HTTP/1.1\r\nHost: pmg.example.com\r\nContent-Length: 100000\r\n\r\n",
	} {
		conn := dial(t, srv)
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%q: no answer: %v", head, err)
		}
		decode(t, resp, http.StatusForbidden)
		if !resp.Close {
			t.Errorf("%q: the connection is kept for a body that never came", head)
		}
	}
}
