package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPollInterval is how often Watch looks at the files. Each look is
// two stat calls, so looking every second costs nothing and lets a renewed
// certificate be served a second or two after it was written.
const DefaultPollInterval = time.Second

// Files serves a certificate chain and its private key from two PEM files
// (one file may hold both), and reloads them when they change (Watch) or
// when asked to (Reload). A reload that fails — a file half-written, a key
// that does not match the certificate — keeps the certificate served so
// far and logs the error: the server never stops serving HTTPS because of
// a renewal gone wrong.
//
// Why poll rather than stat the files at each handshake: a handshake then
// costs no file-system access, and a broken pair is reported once rather
// than at every connection. Why poll rather than use inotify: renewal tools
// replace files by renaming them or by switching a symbolic link (certbot's
// live/ directory), which a watch on the files would miss; a stat follows
// the link and sees the new file.
//
// The methods of Files may be called concurrently.
type Files struct {
	certFile, keyFile string
	logger            *slog.Logger
	now               func() time.Time

	cert atomic.Pointer[tls.Certificate] // what handshakes get; Leaf set

	mu sync.Mutex // serializes loads; guards tried and pending
	// tried is how the files were when they were last loaded, or last
	// failed to load: a change is a difference from it.
	tried stamp
	// pending is the change the last poll saw, loaded if the next poll
	// sees the files still as they were then; nil if none.
	pending *stamp
}

// LoadFiles loads the certificate chain in certFile and its key in keyFile
// (PEM, as tls.LoadX509KeyPair reads them) and returns a Files serving it.
// It fails, naming both files, if a file cannot be read, holds no PEM
// certificate or key, or the key does not match the certificate. An expired
// certificate, or one about to expire, is loaded but logged as an error or a
// warning. Logs go to logger (nowhere if nil); now is the clock that
// expiry is judged by (time.Now if nil).
func LoadFiles(certFile, keyFile string, logger *slog.Logger, now func() time.Time) (*Files, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	f := &Files{certFile: certFile, keyFile: keyFile, logger: logger, now: now}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load("start"); err != nil {
		return nil, err
	}
	return f, nil
}

// GetCertificate returns the certificate loaded last, whatever the client
// asks for: it is the tls.Config.GetCertificate hook.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cert.Load(), nil
}

// TLSConfig returns the configuration of an HTTPS server that serves the
// certificate loaded last (see the package comment).
func (f *Files) TLSConfig() *tls.Config { return serverConfig(f.GetCertificate) }

// Reload loads the files now, whether or not they changed (on SIGHUP, say).
// If they do not hold a valid pair, the certificate served so far stays,
// and the error is logged and returned.
func (f *Files) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reload("reload requested")
}

// Watch looks at the files every interval until ctx is done, and loads them
// once a change has settled: when one look finds them changed (another
// file, size or modification time) and the next finds them as they were
// then. That keeps a certificate and key being written one after the other
// from being loaded half-way, at the cost of one interval. A change that
// fails to load is logged once, and tried again at the files' next change.
func (f *Files) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.poll()
		}
	}
}

// poll is one look of Watch.
func (f *Files) poll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.stat()
	switch {
	case now.equal(f.tried):
		f.pending = nil // back as they were, or never changed
	case f.pending == nil || !now.equal(*f.pending):
		f.pending = &now // changed, perhaps still changing: wait for the next look
	default:
		f.reload("files changed") // the error is logged
	}
}

// reload is load for a server that has a certificate already: a failure
// keeps it and is logged. The caller holds f.mu.
func (f *Files) reload(trigger string) error {
	err := f.load(trigger)
	if err != nil {
		attrs := []any{"trigger", trigger, "err", err}
		if cur := f.cert.Load(); cur != nil {
			attrs = append(attrs, "serving_not_after", cur.Leaf.NotAfter)
		}
		f.logger.Error("TLS certificate reload failed; still serving the previous certificate", attrs...)
	}
	return err
}

// load reads the files and, if they hold a valid pair, serves it from the
// next handshake on. The caller holds f.mu.
func (f *Files) load(trigger string) error {
	// The stamp is taken before the files are read: a change made while
	// they are read is then seen by the next poll, never lost.
	f.tried, f.pending = f.stat(), nil
	cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("load the TLS certificate %s with the key %s: %w", f.certFile, f.keyFile, err)
	}
	c := cert.Leaf // parsed by LoadX509KeyPair, unless GODEBUG=x509keypairleaf=0
	if c == nil {
		return fmt.Errorf("load the TLS certificate %s: its leaf was not parsed (GODEBUG x509keypairleaf=0?)", f.certFile)
	}
	attrs := append([]any{"trigger", trigger, "file", f.certFile}, certAttrs(c)...)
	now := f.now()
	if now.After(c.NotAfter) && f.stillValid(now) {
		// A renewal gone wrong (an old certificate restored from a backup,
		// say) must not replace one that still works.
		return fmt.Errorf("the TLS certificate %s expired on %s; the one in use is still valid", f.certFile, c.NotAfter.UTC().Format(time.RFC3339))
	}
	f.cert.Store(&cert)
	f.logger.Info("TLS certificate loaded", attrs...)
	switch {
	case now.After(c.NotAfter):
		f.logger.Error("the TLS certificate has expired: clients will refuse it until it is renewed", attrs...)
	case now.Add(expiryWarning).After(c.NotAfter):
		f.logger.Warn("the TLS certificate expires soon: renew it", attrs...)
	}
	return nil
}

// stillValid reports whether the certificate in use, if any, is still
// valid at now.
func (f *Files) stillValid(now time.Time) bool {
	cur := f.cert.Load()
	if cur == nil {
		return false
	}
	return now.Before(cur.Leaf.NotAfter)
}

// stamp tells the files apart: which file each name leads to (following
// symbolic links), its size and its modification time. A file that cannot
// be stat'ed has a nil FileInfo, which is a state like any other.
type stamp struct{ cert, key os.FileInfo }

func (f *Files) stat() stamp {
	var s stamp
	if fi, err := os.Stat(f.certFile); err == nil {
		s.cert = fi
	}
	if fi, err := os.Stat(f.keyFile); err == nil {
		s.key = fi
	}
	return s
}

func (s stamp) equal(o stamp) bool { return sameFile(s.cert, o.cert) && sameFile(s.key, o.key) }

// sameFile reports whether a and b are the same file, unchanged.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
