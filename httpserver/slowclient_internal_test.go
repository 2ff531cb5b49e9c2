package httpserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestStallGuardClearsDeadline checks that a body read to its end leaves
// no read deadline behind, even when it is read again: net/http watches
// the connection once the body is done, and a deadline passing then would
// cancel the request's context while the handler is still at work on it
// (committing an upload, say).
func TestStallGuardClearsDeadline(t *testing.T) {
	t.Parallel()
	const stall = 200 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = stallGuard(w, r.Body, stall)
		if b, err := io.ReadAll(r.Body); err != nil || string(b) != "relatorio-bomba-07" {
			t.Errorf("body %q, %v", b, err)
		}
		// Readers such as multipart's may read again after the end.
		if n, err := r.Body.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("read after the end: %d, %v", n, err)
		}
		// Work that takes longer than the stall timeout, after the body.
		select {
		case <-r.Context().Done():
			t.Error("the request's context was cancelled after its body was read")
		case <-time.After(3 * stall):
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("relatorio-bomba-07"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
		t.Errorf("answer %q", b)
	}
}
