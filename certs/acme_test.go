package certs

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/certs/certstest"
	"golang.org/x/crypto/acme/autocert"
)

// newTestACME returns an ACME source for pmg.example.com whose CA is a
// server that counts the requests it gets and answers none of them.
func newTestACME(t *testing.T) (*ACME, *logBuffer, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	ca := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "not a CA", http.StatusNotFound) // a 5xx would be retried for minutes
	}))
	t.Cleanup(ca.Close)
	logger, log := newLogger()
	a, err := NewACME(ACMEOptions{
		Domains:      []string{"pmg.example.com", "PMG.Example.org."},
		Email:        "ti@example.com",
		DirectoryURL: ca.URL + "/directory",
		CacheDir:     filepath.Join(t.TempDir(), "acme", "ca"),
		Logger:       logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, log, &calls
}

func TestNewACME(t *testing.T) {
	a, _, _ := newTestACME(t)
	cfg := a.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	if want := []string{"h2", "http/1.1", "acme-tls/1"}; !slices.Equal(cfg.NextProtos, want) {
		t.Errorf("NextProtos %q, want %q", cfg.NextProtos, want)
	}

	dir := filepath.Join(t.TempDir(), "data", "acme")
	if _, err := NewACME(ACMEOptions{Domains: []string{"pmg.example.com"}, CacheDir: dir}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache directory: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if _, err := NewACME(ACMEOptions{CacheDir: dir}); err == nil {
		t.Error("no error without domains")
	}
	if _, err := NewACME(ACMEOptions{Domains: []string{"pmg.example.com"}}); err == nil {
		t.Error("no error without a cache directory")
	}
}

func TestACMEHostPolicy(t *testing.T) {
	a, _, _ := newTestACME(t)
	for host, want := range map[string]bool{
		"pmg.example.com":      true,
		"PMG.EXAMPLE.COM":      true,
		"pmg.example.com.":     true,
		"pmg.example.com:5002": true, // an HTTP-01 Host with a port
		"pmg.example.org":      true,
		"example.com":          false,
		"evil.pmg.example.com": false,
		"10.0.0.5":             false,
		"":                     false,
	} {
		if got := a.hostPolicy(context.Background(), host) == nil; got != want {
			t.Errorf("host %q allowed: %t, want %t", host, got, want)
		}
	}
}

// A handshake for a name that is not configured fails without asking the
// CA, and is not logged as an error.
func TestACMEOtherNameRefused(t *testing.T) {
	a, log, calls := newTestACME(t)
	_, err := a.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.example.com", SupportedProtos: []string{"h2"}})
	if err == nil || !strings.Contains(err.Error(), `"other.example.com" is not a configured domain`) {
		t.Errorf("error %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the CA got %d requests", n)
	}
	if strings.Contains(log.String(), "level=ERROR") {
		t.Errorf("logged as an error:\n%s", log)
	}
}

// A configured name whose certificate cannot be obtained is logged as an
// error; a client naming no server is taken to ask for the first domain.
func TestACMEFailureLogged(t *testing.T) {
	a, log, calls := newTestACME(t)
	_, err := a.GetCertificate(&tls.ClientHelloInfo{
		SupportedProtos:   []string{"h2", "http/1.1"},
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SupportedVersions: []uint16{tls.VersionTLS13},
	})
	if err == nil {
		t.Fatal("a certificate from a CA that answers nothing")
	}
	if calls.Load() == 0 {
		t.Error("the CA was not asked")
	}
	if !strings.Contains(log.String(), `level=ERROR msg="could not obtain the ACME certificate" name=pmg.example.com`) {
		t.Errorf("log:\n%s", log)
	}
	// While the CA stays out of reach, every handshake fails: the error is
	// logged once a minute, not once a handshake.
	for range 3 {
		a.GetCertificate(&tls.ClientHelloInfo{ServerName: "pmg.example.com", SupportedProtos: []string{"h2"}})
	}
	if n := strings.Count(log.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error lines for 4 failed handshakes within a minute, want 1:\n%s", n, log)
	}
}

func TestLoggingCache(t *testing.T) {
	ca := certstest.NewCA(t)
	p := ca.Issue(t, 9, time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC))
	logger, log := newLogger()
	c := loggingCache{autocert.DirCache(t.TempDir()), logger}
	ctx := context.Background()
	for _, key := range []string{"acme_account+key", "pmg.example.com+token", "pmg.example.com"} {
		if err := c.Put(ctx, key, append(p.Key, p.Cert...)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Get(ctx, "pmg.example.com"); err != nil || len(got) == 0 {
		t.Errorf("Get: %d bytes, %v", len(got), err)
	}
	want := `level=INFO msg="ACME certificate obtained" name=pmg.example.com names=[pmg.example.com] issuer="Oficina PMG test CA" not_after=2027-03-01T00:00:00.000Z`
	if log.count("ACME certificate obtained") != 1 || !strings.Contains(log.String(), want) {
		t.Errorf("log:\n%s\nwant one line with %s", log, want)
	}

	// A failure to store is logged, and returned.
	c = loggingCache{autocert.DirCache(filepath.Join(t.TempDir(), "file")), logger}
	if err := os.WriteFile(string(c.Cache.(autocert.DirCache)), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "pmg.example.com", p.Cert); err == nil {
		t.Error("Put into a file succeeded")
	}
	if !strings.Contains(log.String(), `level=WARN msg="could not store the ACME certificate`) {
		t.Errorf("log:\n%s", log)
	}
}
