package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/certs/certstest"
)

// TestMainHTTPS runs Main in-process with certificate files and a
// redirect listener: every server gets the settings' timeouts and header
// limit, Reload keeps the certificate when the files are bad, and Close
// shuts every listener.
func TestMainHTTPS(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	files := certstest.NewFiles(t)
	files.Replace(t, issue(t, ca, 1))
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr, cfg.RedirectAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLSCert, cfg.TLSKey = files.Cert, files.Key
	cfg.ReadHeaderTimeout, cfg.IdleTimeout, cfg.MaxHeaderBytes = 7*time.Second, 90*time.Second, 32<<10
	var log syncBuffer
	m := NewMain(cfg, slog.New(slog.NewTextHandler(&log, nil)))
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	addr, redirect := m.Addr().String(), m.RedirectAddr().String()

	for name, srv := range map[string]*http.Server{"main": m.server, "redirect": m.redirectServer} {
		if srv.ReadHeaderTimeout != 7*time.Second || srv.IdleTimeout != 90*time.Second || srv.MaxHeaderBytes != 32<<10 {
			t.Errorf("%s server: ReadHeaderTimeout %s, IdleTimeout %s, MaxHeaderBytes %d", name, srv.ReadHeaderTimeout, srv.IdleTimeout, srv.MaxHeaderBytes)
		}
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r := do(t, noFollow, mustRequest(t, "GET", "http://"+redirect+"/list?token=x"))
	if want := "https://" + addr + "/list?token=x"; r.status != http.StatusMovedPermanently || r.header.Get("Location") != want {
		t.Errorf("redirect: %d %q, want 301 %q", r.status, r.header.Get("Location"), want)
	}

	files.Replace(t, issue(t, ca, 2))
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, addr, ca.Pool); got != 2 {
		t.Errorf("serial %d after Reload, want 2", got)
	}
	if err := os.WriteFile(files.Key, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(); err == nil || !strings.Contains(err.Error(), files.Key) {
		t.Errorf("Reload of a broken key: %v", err)
	}
	if got := servedSerial(t, addr, ca.Pool); got != 2 {
		t.Errorf("serial %d after a failed Reload, want still 2", got)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{addr, redirect} {
		if conn, err := net.Dial("tcp", a); err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Close", a)
		}
	}
}

// A bad pair stops Run before it listens anywhere.
func TestMainHTTPSBadPair(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	files := certstest.NewFiles(t)
	files.Replace(t, certstest.Pair{Cert: issue(t, ca, 1).Cert, Key: issue(t, ca, 2).Key})
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr, cfg.RedirectAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.TLSCert, cfg.TLSKey = files.Cert, files.Key
	m := NewMain(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer m.Close()
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := m.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
		t.Errorf("Run: %v", err)
	}
	if m.Addr() != nil || m.RedirectAddr() != nil {
		t.Errorf("listening on %v and %v", m.Addr(), m.RedirectAddr())
	}
}

// With ACME, the redirect listener answers the challenges of the
// configured domains only, and redirects everything else; the cache is
// made in the data directory, one per CA. Nothing here reaches a CA.
func TestMainACMERedirect(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Addr, cfg.RedirectAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.ACMEDomains, cfg.ACMEDirectory = []string{"pmg.example.com"}, "https://acme.example.net:14000/dir"
	var log syncBuffer
	m := NewMain(cfg, slog.New(slog.NewTextHandler(&log, nil)))
	defer m.Close()
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := `msg="serving HTTPS" mode=acme domains=pmg.example.com directory=https://acme.example.net:14000/dir cache=` +
		filepath.Join(cfg.DataDir, "acme", "acme.example.net_14000") + " challenges=tls-alpn-01,http-01"; !strings.Contains(log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, log.String())
	}
	if fi, err := os.Stat(filepath.Join(cfg.DataDir, "acme", "acme.example.net_14000")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v", err)
	}

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	redirect := "http://" + m.RedirectAddr().String()
	challenge := func(host string) response {
		req := mustRequest(t, "GET", redirect+"/.well-known/acme-challenge/abc")
		req.Host = host
		return do(t, noFollow, req)
	}
	if r := challenge("pmg.example.com"); r.status != http.StatusNotFound {
		t.Errorf("an unknown challenge token: %d %s", r.status, r.body)
	}
	if r := challenge("other.example.com"); r.status != http.StatusForbidden {
		t.Errorf("a challenge for another domain: %d %s", r.status, r.body)
	}
	req := mustRequest(t, "GET", redirect+"/readyz")
	req.Host = "pmg.example.com"
	if r := do(t, noFollow, req); r.status != http.StatusMovedPermanently || r.header.Get("Location") != "https://pmg.example.com:"+portOf(m.Addr())+"/readyz" {
		t.Errorf("redirect: %d %q", r.status, r.header.Get("Location"))
	}
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}
