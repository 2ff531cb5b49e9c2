package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestKillDuringReplacingUpload kills the server (SIGKILL) while an upload
// that replaces a file is half sent: after a restart the old version is
// intact, nothing partial is listed, and start-up recovery removes the
// partial upload.
func TestKillDuringReplacingUpload(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tok := createToken(t, data, "maria")
	s := startServer(t, data)
	v1 := xlsx(randomBytes(1, 3<<20))
	s.mustUpload(tok, "relatorio.xlsx", v1)

	client := &http.Client{Transport: &http.Transport{}}
	u := s.startUpload(context.Background(), client, tok, "relatorio.xlsx")
	if _, err := u.Write(xlsx(randomBytes(2, 2<<20))[:1<<20]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a temporary file in blobs/tmp", func() bool {
		_, temp := blobFiles(t, data)
		return len(temp) == 1
	})
	s.signal(syscall.SIGKILL)
	s.wait()
	u.pw.CloseWithError(io.ErrClosedPipe)
	if res := u.result(); res.err == nil {
		t.Errorf("the killed server answered the upload: status %d", res.resp.status)
	}
	if _, temp := blobFiles(t, data); len(temp) != 1 {
		t.Fatalf("after the kill, %d temporary files, want the partial upload", len(temp))
	}

	s = startServer(t, data)
	if got := s.list(tok); !slices.Equal(got, []string{"relatorio.xlsx"}) {
		t.Errorf("after restart the list is %q", got)
	}
	if r := s.pull(tok, "relatorio.xlsx"); r.status != http.StatusOK || sum(r.body) != sum(v1) {
		t.Errorf("after restart the file is not the old version: status %d, %d bytes", r.status, len(r.body))
	}
	if _, ok := s.log.waitFor(`msg="start-up recovery done" temp_files=1`, s.exited); !ok {
		t.Error("start-up recovery did not report the partial upload")
	}
	eventually(t, "blobs/tmp empty", func() bool {
		_, temp := blobFiles(t, data)
		return len(temp) == 0
	})
	if committed, _ := blobFiles(t, data); len(committed) != 1 {
		t.Errorf("%d committed blobs, want 1: %q", len(committed), committed)
	}
}

// TestClientAbortsUpload closes the connection in the middle of an upload
// that replaces a file: nothing is stored and the old version stays.
func TestClientAbortsUpload(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tok := createToken(t, data, "maria")
	s := startServer(t, data)
	v1 := xlsx([]byte("version 1"))
	s.mustUpload(tok, "relatorio.xlsx", v1)

	// A raw connection, so that the test closes it exactly when it wants.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	const boundary = "pmgsyncboundary"
	fmt.Fprintf(conn, "POST /upload?token=%s HTTP/1.1\r\nHost: pmgsync\r\n"+
		"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n"+
		"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"relatorio.xlsx\"\r\n\r\n",
		url.QueryEscape(tok), boundary, 10<<20, boundary)
	if _, err := conn.Write(xlsx(randomBytes(3, 2<<20))[:1<<20]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a temporary file in blobs/tmp", func() bool {
		_, temp := blobFiles(t, data)
		return len(temp) == 1
	})
	conn.Close()

	eventually(t, "blobs/tmp empty", func() bool {
		_, temp := blobFiles(t, data)
		return len(temp) == 0
	})
	if r := s.pull(tok, "relatorio.xlsx"); r.status != http.StatusOK || !bytes.Equal(r.body, v1) {
		t.Errorf("after the abort: status %d, body %q", r.status, r.body)
	}
	if got := s.list(tok); !slices.Equal(got, []string{"relatorio.xlsx"}) {
		t.Errorf("after the abort the list is %q", got)
	}
	if committed, _ := blobFiles(t, data); len(committed) != 1 {
		t.Errorf("%d committed blobs, want 1", len(committed))
	}
}

// TestConcurrentUploadsOfOneName uploads eight different contents under one
// name at once: one of them wins whole, and no other blob is left.
func TestConcurrentUploadsOfOneName(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tok := createToken(t, data, "maria")
	s := startServer(t, data)

	const n = 8
	sums := make(map[[32]byte]int)
	contents := make([][]byte, n)
	for i := range contents {
		contents[i] = xlsx(randomBytes(uint64(100+i), 256<<10+i))
		sums[sum(contents[i])] = i
	}
	var wg sync.WaitGroup
	results := make([]response, n)
	errs := make([]error, n)
	for i := range n {
		u := s.startUpload(context.Background(), nil, tok, "mesmo.xlsx")
		wg.Go(func() {
			u.Write(contents[i])
			results[i], errs[i] = u.finishErr()
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i].status != http.StatusOK {
			t.Errorf("upload %d: %v, status %d, body %s", i, errs[i], results[i].status, results[i].body)
		}
	}
	if got := s.list(tok); !slices.Equal(got, []string{"mesmo.xlsx"}) {
		t.Errorf("list %q", got)
	}
	r := s.pull(tok, "mesmo.xlsx")
	if _, ok := sums[sum(r.body)]; r.status != http.StatusOK || !ok {
		t.Errorf("pull: status %d, %d bytes equal to none of the uploads", r.status, len(r.body))
	}
	committed, temp := blobFiles(t, data)
	if len(committed) != 1 || len(temp) != 0 {
		t.Errorf("%d committed blobs and %d temporary files, want 1 and 0", len(committed), len(temp))
	}
}

// TestGracefulShutdown sends SIGTERM while a download and an upload are in
// flight: both finish, then the server exits with status 0, and the upload
// is there after a restart.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tok := createToken(t, data, "maria")
	s := startServer(t, data)
	// Bigger than what the loopback socket buffers hold, so that the server
	// is still sending when the signal comes.
	big := xlsx(randomBytes(4, 24<<20))
	s.mustUpload(tok, "grande.xlsx", big)

	// The download: the body's first bytes are read, the rest waits.
	resp, err := http.Get(s.url + "/pull?filename=grande.xlsx&token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}

	// The upload: half sent, the server writing it to a temporary file.
	client := &http.Client{Transport: &http.Transport{}}
	u := s.startUpload(context.Background(), client, tok, "novo.xlsx")
	newContent := xlsx(randomBytes(5, 2<<20))
	if _, err := u.Write(newContent[:1<<20]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a temporary file in blobs/tmp", func() bool {
		_, temp := blobFiles(t, data)
		return len(temp) == 1
	})

	s.signal(syscall.SIGTERM)
	if _, ok := s.log.waitFor("shutting down", s.exited); !ok {
		t.Fatal("the server did not log its shutdown")
	}
	// New connections are refused from now on.
	eventually(t, "new connections refused", func() bool {
		resp, err := (&http.Client{Transport: &http.Transport{}}).Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err != nil
	})

	if _, err := u.Write(newContent[1<<20:]); err != nil {
		t.Fatal(err)
	}
	if r := u.finish(); r.status != http.StatusOK {
		t.Errorf("upload in flight at SIGTERM: status %d, body %s", r.status, r.body)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("download in flight at SIGTERM: %v", err)
	}
	if got := append(head, rest...); sum(got) != sum(big) {
		t.Errorf("download in flight at SIGTERM: %d bytes, not the file", len(got))
	}
	if code := s.wait(); code != 0 {
		t.Errorf("exit status %d, want 0", code)
	}
	if !strings.Contains(s.log.String(), "msg=stopped") {
		t.Error("the server did not log that it stopped")
	}

	s = startServer(t, data)
	if r := s.pull(tok, "novo.xlsx"); r.status != http.StatusOK || sum(r.body) != sum(newContent) {
		t.Errorf("after restart, the upload finished during shutdown: status %d, %d bytes", r.status, len(r.body))
	}
}
