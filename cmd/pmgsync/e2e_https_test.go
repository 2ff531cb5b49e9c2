package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/certs/certstest"
)

// pemSize is the size of the PEM files of issue, padded with newlines
// (which PEM readers skip), so that every pair's files have the same sizes.
const pemSize = 2 << 10

// issue returns a certificate of ca for 127.0.0.1 and pmg.example.com with
// the serial number serial, each PEM file padded to pemSize bytes.
func issue(t *testing.T, ca *certstest.CA, serial int64) certstest.Pair {
	t.Helper()
	p := ca.Issue(t, serial, time.Now().Add(90*24*time.Hour))
	pad := func(b []byte) []byte { return append(b, bytes.Repeat([]byte("\n"), pemSize-len(b))...) }
	p.Cert, p.Key = pad(p.Cert), pad(p.Key)
	return p
}

// overwrite writes p into the files in place and gives them back their
// modification times: same files, same sizes, same times, so only a
// reload on request can notice the change.
func overwrite(t *testing.T, f certstest.Files, p certstest.Pair) {
	t.Helper()
	for path, data := range map[string][]byte{f.Cert: p.Cert, f.Key: p.Key} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
}

// handshake connects to addr over TLS as an app would, trusting pool
// only, and returns the state of the connection.
func handshake(t *testing.T, addr, serverName string, pool *x509.CertPool) tls.ConnectionState {
	t.Helper()
	d := &tls.Dialer{Config: &tls.Config{RootCAs: pool, ServerName: serverName, NextProtos: []string{"h2", "http/1.1"}}}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState()
}

// servedSerial returns the serial number of the certificate that a new
// connection to addr gets.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	return handshake(t, addr, "pmg.example.com", pool).PeerCertificates[0].SerialNumber.Int64()
}

// httpsClient returns a client that trusts pool only and speaks HTTP/2
// when the server offers it; dial, if not nil, replaces the address of
// every connection (to reach a name that has no DNS entry).
func httpsClient(pool *x509.CertPool, dial string) *http.Client {
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
	}
	if dial != "" {
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return new(net.Dialer).DialContext(ctx, network, dial)
		}
	}
	return &http.Client{Transport: tr, Timeout: deadline}
}

// checkUploadAndList uploads a report over client and finds it in /list.
func checkUploadAndList(t *testing.T, s *server, client *http.Client, token string) {
	t.Helper()
	content := xlsx([]byte("pressão 12,5 bar; bomba 07 revisada"))
	u := s.startUpload(context.Background(), client, token, "relatorio-bomba-07.xlsx")
	if _, err := u.Write(content); err != nil {
		t.Fatal(err)
	}
	if r := u.finish(); r.status != http.StatusOK {
		t.Fatalf("upload over HTTPS: status %d, body %s", r.status, r.body)
	}
	r := do(t, client, s.request("GET", "/list", token, nil))
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"relatorio-bomba-07.xlsx"`) {
		t.Fatalf("list over HTTPS: status %d, body %s", r.status, r.body)
	}
	if r := do(t, client, s.request("GET", "/pull?filename=relatorio-bomba-07.xlsx", token, nil)); !bytes.Equal(r.body, content) {
		t.Errorf("pull over HTTPS: status %d, %d bytes", r.status, len(r.body))
	}
}

// TestHTTPSFromFiles serves HTTPS from certificate files: TLS 1.2 at
// least, HTTP/2, the classic endpoints; the redirect listener; and the
// certificate replaced without a restart, when the files change and on
// SIGHUP, a bad pair leaving the old certificate in place.
func TestHTTPSFromFiles(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	token := createToken(t, data, "maria")
	ca := certstest.NewCA(t)
	files := certstest.NewFiles(t)
	files.Replace(t, issue(t, ca, 1))
	s := startServerWith(t, data, cleanEnv(), "--tls-cert", files.Cert, "--tls-key", files.Key, "--redirect-addr", "127.0.0.1:0")
	addr := strings.TrimPrefix(s.url, "http://")
	s.url = "https://" + addr
	if _, ok := s.log.waitFor(`msg="serving HTTPS" mode=files cert=`+files.Cert, s.exited); !ok {
		t.Fatalf("the mode is not logged:\n%s", s.log)
	}
	client := httpsClient(ca.Pool, "")

	t.Run("TLS 1.2 at least and HTTP/2", func(t *testing.T) {
		resp, err := client.Get(s.url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.ProtoMajor != 2 {
			t.Errorf("status %d, TLS %v, protocol %s; want 200 over TLS 1.2+ and HTTP/2", resp.StatusCode, resp.TLS, resp.Proto)
		}
		d := &tls.Dialer{Config: &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS11}}
		if conn, err := d.DialContext(context.Background(), "tcp", addr); err == nil {
			conn.Close()
			t.Error("a TLS 1.1 client was served")
		}
		// Plain HTTP on the HTTPS port gets no answer from the API.
		r := do(t, nil, mustRequest(t, "GET", "http://"+addr+"/list?token="+token))
		if r.status != http.StatusBadRequest {
			t.Errorf("plain HTTP on the HTTPS port: status %d, body %s", r.status, r.body)
		}
	})

	t.Run("upload and list over HTTPS", func(t *testing.T) {
		checkUploadAndList(t, s, client, token)
	})

	t.Run("redirect listener", func(t *testing.T) {
		line, ok := s.log.waitFor(`msg="redirect listening"`, s.exited)
		if !ok {
			t.Fatalf("no redirect listener in the log:\n%s", s.log)
		}
		plain := "http://" + logField(line, "addr")
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, tt := range []struct {
			method string
			status int
		}{{"GET", http.StatusMovedPermanently}, {"POST", http.StatusPermanentRedirect}, {"DELETE", http.StatusPermanentRedirect}} {
			r := do(t, noFollow, mustRequest(t, tt.method, plain+"/pull?filename=relat%C3%B3rio+1.xlsx&token=abc"))
			if want := s.url + "/pull?filename=relat%C3%B3rio+1.xlsx&token=abc"; r.status != tt.status || r.header.Get("Location") != want {
				t.Errorf("%s: %d %q, want %d %q", tt.method, r.status, r.header.Get("Location"), tt.status, want)
			}
		}
		// A client that follows it ends up served over HTTPS.
		resp, err := client.Get(plain + "/list?token=" + token)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil {
			t.Errorf("after the redirect: status %d, TLS %v", resp.StatusCode, resp.TLS)
		}
	})

	t.Run("files replaced", func(t *testing.T) {
		files.Replace(t, issue(t, ca, 2))
		// The certificate is served from the next handshake on by the
		// time the load is logged.
		if _, ok := s.log.waitFor(`msg="TLS certificate loaded" trigger="files changed"`, s.exited); !ok {
			t.Fatalf("no reload in the log:\n%s", s.log)
		}
		if got := servedSerial(t, addr, ca.Pool); got != 2 {
			t.Errorf("a new connection got serial %d, want 2", got)
		}
	})

	t.Run("SIGHUP", func(t *testing.T) {
		overwrite(t, files, issue(t, ca, 3)) // no change that a poll can see
		s.signal(syscall.SIGHUP)
		if _, ok := s.log.waitFor(`msg="TLS certificate loaded" trigger="reload requested"`, s.exited); !ok {
			t.Fatalf("no reload in the log:\n%s", s.log)
		}
		if got := servedSerial(t, addr, ca.Pool); got != 3 {
			t.Errorf("a new connection got serial %d, want 3", got)
		}
	})

	t.Run("bad pair keeps the certificate", func(t *testing.T) {
		files.Replace(t, certstest.Pair{Cert: issue(t, ca, 4).Cert, Key: issue(t, ca, 5).Key})
		const failed = `level=ERROR msg="TLS certificate reload failed; still serving the previous certificate" trigger="files changed"`
		line, ok := s.log.waitFor(failed, s.exited)
		if !ok || !strings.Contains(line, "private key does not match public key") {
			t.Fatalf("no failed reload in the log:\n%s", s.log)
		}
		s.signal(syscall.SIGHUP)
		if _, ok := s.log.waitFor(`msg="TLS certificate reload failed; still serving the previous certificate" trigger="reload requested"`, s.exited); !ok {
			t.Errorf("the failed reload on SIGHUP is not logged:\n%s", s.log)
		}
		if got := servedSerial(t, addr, ca.Pool); got != 3 {
			t.Errorf("serial %d served, want still 3", got)
		}
		checkUploadAndList(t, s, httpsClient(ca.Pool, ""), token)
	})

	s.stop()
}

// mustRequest returns a request without a body.
func mustRequest(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// A certificate and key that do not match stop serve at start-up, with a
// message that names the files.
func TestHTTPSBadPairStopsServe(t *testing.T) {
	t.Parallel()
	ca := certstest.NewCA(t)
	files := certstest.NewFiles(t)
	files.Replace(t, certstest.Pair{Cert: issue(t, ca, 1).Cert, Key: issue(t, ca, 2).Key})
	r := runBin(t, cleanEnv(), "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--tls-cert", files.Cert, "--tls-key", files.Key)
	want := "pmgsync: load the TLS certificate " + files.Cert + " with the key " + files.Key + ": tls: private key does not match public key\n"
	if r.code != 1 || !strings.HasSuffix(r.stderr, want) || strings.Contains(r.stderr, "msg=listening") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and a last line %q", r.code, r.stderr, want)
	}
}

// SIGHUP does not stop a server without HTTPS: it has nothing to reload.
func TestSIGHUPWithoutHTTPS(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	s.signal(syscall.SIGHUP)
	if _, ok := s.log.waitFor("nothing to reload", s.exited); !ok {
		t.Fatalf("SIGHUP not handled:\n%s", s.log)
	}
	if code, _ := httpGet(t, s.url+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after SIGHUP: %d", code)
	}
	s.stop()
}
