package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/certs/certstest"
)

// serial is the serial number of the certificate f serves.
func serial(t *testing.T, f *Files) int64 {
	t.Helper()
	c, err := f.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.Int64()
}

func TestLoadFiles(t *testing.T) {
	ca := certstest.NewCA(t)
	fs := certstest.NewFiles(t)
	fs.Replace(t, ca.Issue(t, 7, time.Now().Add(90*24*time.Hour)))
	logger, log := newLogger()

	f, err := LoadFiles(fs.Cert, fs.Key, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.TLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x, want TLS 1.2", cfg.MinVersion)
	}
	got, version, proto := servedSerial(t, cfg, ca)
	if got != 7 {
		t.Errorf("served serial %d, want 7", got)
	}
	if version < tls.VersionTLS12 || proto != "h2" {
		t.Errorf("negotiated version %x, protocol %q; want TLS 1.2 or later and h2", version, proto)
	}
	if !strings.Contains(log.String(), `msg="TLS certificate loaded" trigger=start file=`+fs.Cert+` names=[pmg.example.com]`) {
		t.Errorf("log:\n%s", log)
	}

	// A client that offers only TLS 1.1 is refused.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	_, err = tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "pmg.example.com", MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Error("a TLS 1.1 client was served")
	}
}

func TestLoadFilesErrors(t *testing.T) {
	ca := certstest.NewCA(t)
	good := ca.Issue(t, 1, time.Now().Add(90*24*time.Hour))
	other := ca.Issue(t, 2, time.Now().Add(90*24*time.Hour))
	tests := []struct {
		name      string
		cert, key []byte // nil: the file is missing
		want      string
	}{
		{"key of another certificate", good.Cert, other.Key, "private key does not match public key"},
		{"certificate not PEM", []byte("not a certificate\n"), good.Key, "failed to find any PEM data in certificate input"},
		{"key not PEM", good.Cert, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n"), "failed to find any PEM data in key input"},
		{"missing key", good.Cert, nil, "no such file or directory"},
		{"certificate and key swapped", good.Key, good.Cert, "PEM inputs may have been switched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := certstest.NewFiles(t)
			for path, data := range map[string][]byte{fs.Cert: tt.cert, fs.Key: tt.key} {
				if data != nil {
					if err := os.WriteFile(path, data, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			f, err := LoadFiles(fs.Cert, fs.Key, nil, nil)
			if err == nil {
				c, _ := f.GetCertificate(nil)
				t.Fatalf("loaded %v", c)
			}
			for _, want := range []string{tt.want, fs.Cert, fs.Key} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// One file may hold both the chain and the key.
func TestLoadFilesOneFile(t *testing.T) {
	ca := certstest.NewCA(t)
	p := ca.Issue(t, 3, time.Now().Add(90*24*time.Hour))
	fs := certstest.NewFiles(t)
	if err := os.WriteFile(fs.Cert, append(p.Key, p.Cert...), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadFiles(fs.Cert, fs.Cert, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := serial(t, f); got != 3 {
		t.Errorf("serial %d, want 3", got)
	}
}

func TestPollLoadsSettledChange(t *testing.T) {
	ca := certstest.NewCA(t)
	fs := certstest.NewFiles(t)
	fs.Replace(t, ca.Issue(t, 1, time.Now().Add(90*24*time.Hour)))
	logger, log := newLogger()
	f, err := LoadFiles(fs.Cert, fs.Key, logger, nil)
	if err != nil {
		t.Fatal(err)
	}

	f.poll()
	if got := serial(t, f); got != 1 {
		t.Fatalf("serial %d after a poll with no change, want 1", got)
	}
	fs.Replace(t, ca.Issue(t, 2, time.Now().Add(90*24*time.Hour)))
	f.poll() // sees the change
	if got := serial(t, f); got != 1 {
		t.Errorf("serial %d after the poll that saw the change, want 1 until the change has settled", got)
	}
	f.poll() // sees it settled
	if got := serial(t, f); got != 2 {
		t.Errorf("serial %d after the change settled, want 2", got)
	}
	got, _, _ := servedSerial(t, f.TLSConfig(), ca)
	if got != 2 {
		t.Errorf("a new connection got serial %d, want 2", got)
	}
	if n := log.count(`msg="TLS certificate loaded" trigger="files changed"`); n != 1 {
		t.Errorf("%d loads logged for the change, want 1:\n%s", n, log)
	}

	// A change still in progress at each poll waits for the end.
	fs.Replace(t, ca.Issue(t, 3, time.Now().Add(90*24*time.Hour)))
	f.poll()
	fs.Replace(t, ca.Issue(t, 4, time.Now().Add(90*24*time.Hour)))
	f.poll()
	if got := serial(t, f); got != 2 {
		t.Errorf("serial %d while the files kept changing, want 2", got)
	}
	f.poll()
	if got := serial(t, f); got != 4 {
		t.Errorf("serial %d once the files settled, want 4", got)
	}
}

func TestBadReloadKeepsCertificate(t *testing.T) {
	ca := certstest.NewCA(t)
	fs := certstest.NewFiles(t)
	first := ca.Issue(t, 1, time.Now().Add(90*24*time.Hour))
	fs.Replace(t, first)
	logger, log := newLogger()
	f, err := LoadFiles(fs.Cert, fs.Key, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	const failed = `level=ERROR msg="TLS certificate reload failed; still serving the previous certificate"`

	t.Run("key of another certificate", func(t *testing.T) {
		second := ca.Issue(t, 2, time.Now().Add(90*24*time.Hour))
		fs.Replace(t, certstest.Pair{Cert: second.Cert, Key: first.Key})
		f.poll()
		f.poll()
		if got := serial(t, f); got != 1 {
			t.Errorf("serial %d, want 1", got)
		}
		if got, _, _ := servedSerial(t, f.TLSConfig(), ca); got != 1 {
			t.Errorf("a new connection got serial %d, want 1", got)
		}
		if n := log.count(failed); n != 1 || !strings.Contains(log.String(), "private key does not match public key") {
			t.Errorf("%d failures logged, want 1:\n%s", n, log)
		}
		// Polls that find nothing new log nothing new.
		f.poll()
		f.poll()
		if n := log.count(failed); n != 1 {
			t.Errorf("%d failures logged after more polls, want still 1", n)
		}
		err := f.Reload()
		if err == nil || !strings.Contains(err.Error(), "private key does not match public key") {
			t.Errorf("Reload: %v", err)
		}
		if got := serial(t, f); got != 1 {
			t.Errorf("serial %d after Reload, want 1", got)
		}
	})

	t.Run("certificate half-written", func(t *testing.T) {
		third := ca.Issue(t, 3, time.Now().Add(90*24*time.Hour))
		fs.Replace(t, certstest.Pair{Cert: third.Cert[:len(third.Cert)/2], Key: third.Key})
		f.poll()
		f.poll()
		if got := serial(t, f); got != 1 {
			t.Errorf("serial %d, want 1", got)
		}
		// Once written whole, it is loaded.
		fs.Replace(t, third)
		f.poll()
		f.poll()
		if got := serial(t, f); got != 3 {
			t.Errorf("serial %d once the files are whole, want 3", got)
		}
	})

	t.Run("files removed", func(t *testing.T) {
		if err := os.Remove(fs.Key); err != nil {
			t.Fatal(err)
		}
		f.poll()
		f.poll()
		if got := serial(t, f); got != 3 {
			t.Errorf("serial %d, want 3", got)
		}
		if !strings.Contains(log.String(), "no such file or directory") {
			t.Errorf("the missing key is not logged:\n%s", log)
		}
	})
}

// Reload loads the files even when a poll sees no change: rewritten in
// place, at the same size and with their old modification time.
func TestReloadUnchangedStamp(t *testing.T) {
	ca := certstest.NewCA(t)
	fs := certstest.NewFiles(t)
	first, second := ca.Issue(t, 1, time.Now().Add(90*24*time.Hour)), ca.Issue(t, 2, time.Now().Add(90*24*time.Hour))
	fs.Replace(t, certstest.Pair{Cert: padded(first.Cert), Key: padded(first.Key)})
	f, err := LoadFiles(fs.Cert, fs.Key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{fs.Cert: second.Cert, fs.Key: second.Key} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, padded(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
	f.poll()
	f.poll()
	if got := serial(t, f); got != 1 {
		t.Fatalf("serial %d: the polls saw a change the test meant to hide", got)
	}
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(t, f); got != 2 {
		t.Errorf("serial %d after Reload, want 2", got)
	}
}

// padded returns pem followed by newlines, which PEM parsers skip, up to
// 2 KiB: the files of two pairs then have the same size.
func padded(pem []byte) []byte {
	const size = 2 << 10
	return append(pem, bytes.Repeat([]byte("\n"), size-len(pem))...)
}

func TestExpiryLogged(t *testing.T) {
	ca := certstest.NewCA(t)
	now := time.Now()
	tests := []struct {
		notAfter time.Time
		want     string // "" for no warning
	}{
		{now.Add(60 * 24 * time.Hour), ""},
		{now.Add(3 * 24 * time.Hour), `level=WARN msg="the TLS certificate expires soon: renew it"`},
		{now.Add(-time.Minute), `level=ERROR msg="the TLS certificate has expired: clients will refuse it until it is renewed"`},
	}
	for _, tt := range tests {
		fs := certstest.NewFiles(t)
		fs.Replace(t, ca.Issue(t, 1, tt.notAfter))
		logger, log := newLogger()
		if _, err := LoadFiles(fs.Cert, fs.Key, logger, func() time.Time { return now }); err != nil {
			t.Fatal(err)
		}
		warned := strings.Contains(log.String(), "level=WARN") || strings.Contains(log.String(), "level=ERROR")
		if tt.want == "" && warned || tt.want != "" && !strings.Contains(log.String(), tt.want) {
			t.Errorf("certificate until %s: log\n%s\nwant %q", tt.notAfter, log, tt.want)
		}
	}
}

// Watch polls on its own until its context ends.
func TestWatch(t *testing.T) {
	ca := certstest.NewCA(t)
	fs := certstest.NewFiles(t)
	fs.Replace(t, ca.Issue(t, 1, time.Now().Add(90*24*time.Hour)))
	f, err := LoadFiles(fs.Cert, fs.Key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Watch(ctx, time.Millisecond) })
	fs.Replace(t, ca.Issue(t, 2, time.Now().Add(90*24*time.Hour)))
	for stop := time.Now().Add(10 * time.Second); serial(t, f) != 2; {
		if time.Now().After(stop) {
			t.Fatal("the new certificate is still not served after 10s")
		}
		time.Sleep(time.Millisecond) // polling for the watcher's work, not a timed wait
	}
	cancel()
	wg.Wait()
}

// An expired certificate put in place of one that still works (an old one
// restored from a backup) is refused; with nothing better, it is loaded.
func TestReloadRefusesExpired(t *testing.T) {
	ca := certstest.NewCA(t)
	fs := certstest.NewFiles(t)
	fs.Replace(t, ca.Issue(t, 1, time.Now().Add(90*24*time.Hour)))
	f, err := LoadFiles(fs.Cert, fs.Key, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs.Replace(t, ca.Issue(t, 2, time.Now().Add(-time.Hour)))
	if err := f.Reload(); err == nil || !strings.Contains(err.Error(), "the one in use is still valid") {
		t.Errorf("Reload of an expired certificate: %v, want a refusal", err)
	}
	if got := serial(t, f); got != 1 {
		t.Errorf("serving certificate %d after the refused reload, want 1", got)
	}
	if _, err := LoadFiles(fs.Cert, fs.Key, nil, nil); err != nil {
		t.Errorf("LoadFiles of an expired certificate with none in use: %v", err)
	}
}
