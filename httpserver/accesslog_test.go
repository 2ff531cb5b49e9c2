package httpserver_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/httpserver"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAccessLogNeverHoldsTokens(t *testing.T) {
	e := newEnv(t, engine.Options{})
	var logs syncBuffer
	srv := httptest.NewServer(httpserver.New(e.engine, httpserver.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))}))
	defer srv.Close()
	tok := e.token("joao")

	body, contentType := multipartBody(t, "pmg.xlsx", report(1))
	resp, err := http.Post(srv.URL+"/upload?token="+tok, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(srv.URL + "/pull?" + url.Values{"token": {tok}, "filename": {"pmg.xlsx"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != string(report(1)) {
		t.Errorf("pull through a real connection = %q", got)
	}
	http.Get(srv.URL + "/list?token=wrong-" + tok)

	log := logs.String()
	for _, want := range []string{"method=POST route=/upload status=200", "route=/pull status=200 bytes_in=0 bytes_out=" + itoa(len(report(1))), "route=/list status=403", "request_id="} {
		if !strings.Contains(log, want) {
			t.Errorf("access log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, tok) {
		t.Errorf("access log holds a token:\n%s", log)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// A body cut short is the client's fault (400, "upload interrupted", no
// internal text), and the log keeps the cause behind the refusal.
func TestInterruptedBodyRefusedAndLogged(t *testing.T) {
	e := newEnv(t, engine.Options{})
	var logs syncBuffer
	srv := httpserver.New(e.engine, httpserver.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tok := e.token("joao")
	body := "--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pmg.csv\"\r\n\r\na;b\n1;2"
	req := httptest.NewRequest(http.MethodPost, "/upload?token="+tok, strings.NewReader(body))
	req.Header.Set("Content-Type", "multipart/form-data; boundary=X")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	got := decode(t, rec.Result(), http.StatusBadRequest)
	if got["detail"] != "o envio foi interrompido antes de terminar" {
		t.Errorf("detail = %q", got["detail"])
	}
	if log := logs.String(); !strings.Contains(log, `msg="request refused"`) || !strings.Contains(log, "unexpected EOF") {
		t.Errorf("log lacks the refusal's cause:\n%s", log)
	}
}
