package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// DefaultACMEDirectory is Let's Encrypt's production directory.
const DefaultACMEDirectory = autocert.DefaultACMEDirectory

// ACMEOptions are the settings of an ACME source.
type ACMEOptions struct {
	// Domains are the host names to obtain certificates for, and the only
	// ones: a handshake for another name fails rather than asking the CA.
	// At least one; each must have a dot (CAs issue no certificate for
	// "localhost").
	Domains []string
	// Email is the contact given to the CA, for its notices about expiry
	// or revocation; optional.
	Email string
	// DirectoryURL is the CA's directory; DefaultACMEDirectory if empty.
	// The client trusts the system's roots: for a private CA, add its root
	// to them (on Linux, SSL_CERT_FILE names a bundle to use instead).
	DirectoryURL string
	// CacheDir keeps the account key and the certificates, so that a
	// restart neither asks the CA again nor hits its rate limits. It is
	// created with mode 0700 if it is missing. Required.
	CacheDir string
	// UserAgent is sent to the CA with each request; optional.
	UserAgent string
	// Logger receives what happens: a certificate obtained, a failure to
	// obtain one. Nowhere if nil.
	Logger *slog.Logger
}

// ACME serves certificates that it obtains from an ACME CA at the first
// handshake that needs one, keeps in its cache directory and renews 30
// days before they expire (golang.org/x/crypto/acme/autocert). The CA's
// terms of service are accepted: configuring ACME is agreeing to them.
//
// The CA proves control of a domain by one of two challenges: TLS-ALPN-01,
// answered by the HTTPS server on port 443 through TLSConfig, and tried
// first; and HTTP-01, answered on port 80 by HTTPHandler, tried only when
// HTTPHandler has been called.
type ACME struct {
	manager *autocert.Manager
	domains []string
	logger  *slog.Logger

	mu sync.Mutex
	// failLogged is when a failure to obtain each domain's certificate was
	// last logged as an error: while the CA is out of reach every handshake
	// fails, and one error a minute per domain says enough.
	failLogged map[string]time.Time
}

// failLogEvery is how often a failure to obtain a domain's certificate is
// logged as an error at most; the others go to the debug level.
const failLogEvery = time.Minute

// NewACME returns an ACME source with opts. It creates the cache directory
// and fails if that cannot be done or opts lack domains; it does not
// contact the CA.
func NewACME(opts ACMEOptions) (*ACME, error) {
	if len(opts.Domains) == 0 {
		return nil, errors.New("ACME needs at least one domain")
	}
	if opts.CacheDir == "" {
		return nil, errors.New("ACME needs a cache directory")
	}
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("create the ACME cache directory: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dir := opts.DirectoryURL
	if dir == "" {
		dir = DefaultACMEDirectory
	}
	domains := make([]string, len(opts.Domains))
	for i, d := range opts.Domains {
		domains[i] = canonicalHost(d)
	}
	a := &ACME{domains: domains, logger: logger, failLogged: make(map[string]time.Time)}
	a.manager = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      loggingCache{autocert.DirCache(opts.CacheDir), logger},
		HostPolicy: a.hostPolicy,
		Client:     &acme.Client{DirectoryURL: dir, UserAgent: opts.UserAgent},
		Email:      opts.Email,
	}
	return a, nil
}

// TLSConfig returns the configuration of an HTTPS server that serves the
// certificates of the domains and answers TLS-ALPN-01 challenges (see the
// package comment). A client that names no server (one connecting by IP
// address) gets the first domain's certificate.
func (a *ACME) TLSConfig() *tls.Config {
	return serverConfig(a.GetCertificate, acme.ALPNProto)
}

// GetCertificate is the tls.Config.GetCertificate hook of TLSConfig. A
// failure to obtain a certificate for one of the domains is logged as an
// error: until it succeeds, clients cannot connect.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName == "" {
		h := *hello
		h.ServerName = a.domains[0]
		hello = &h
	}
	cert, err := a.manager.GetCertificate(hello)
	if err != nil {
		challenge := slices.Equal(hello.SupportedProtos, []string{acme.ALPNProto})
		if !challenge && a.hostPolicy(hello.Context(), hello.ServerName) == nil && a.logFailure(hello.ServerName) {
			a.logger.Error("could not obtain the ACME certificate", "name", hello.ServerName, "err", err)
		} else {
			a.logger.Debug("TLS handshake refused", "name", hello.ServerName, "err", err)
		}
	}
	return cert, err
}

// logFailure reports whether a failure to obtain the certificate of name
// is to be logged as an error now: not if one was, less than failLogEvery
// ago.
func (a *ACME) logFailure(name string) bool {
	name = canonicalHost(name)
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	if last, ok := a.failLogged[name]; ok && now.Sub(last) < failLogEvery {
		return false
	}
	a.failLogged[name] = now // only configured domains: the map stays small
	return true
}

// HTTPHandler returns a handler for a plain-HTTP listener on port 80 that
// answers the CA's HTTP-01 challenges and passes every other request to
// fallback. Calling it lets the CA use HTTP-01 when TLS-ALPN-01 fails.
func (a *ACME) HTTPHandler(fallback http.Handler) http.Handler {
	return a.manager.HTTPHandler(fallback)
}

// hostPolicy admits the configured domains only, given with or without a
// port (an HTTP-01 request's Host has one when the CA validates on another
// port than 80, as test CAs do).
func (a *ACME) hostPolicy(_ context.Context, host string) error {
	if slices.Contains(a.domains, canonicalHost(host)) {
		return nil
	}
	return fmt.Errorf("acme: %q is not a configured domain", host)
}

// canonicalHost is host without its port or trailing dot, in lower case.
func canonicalHost(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// loggingCache is a Cache that logs the certificates stored in it, which
// is how a certificate newly obtained or renewed shows in the log, and
// the failures to store them, which autocert ignores.
type loggingCache struct {
	autocert.Cache
	logger *slog.Logger
}

func (c loggingCache) Put(ctx context.Context, key string, data []byte) error {
	err := c.Cache.Put(ctx, key, data)
	// Keys are a domain (with "+rsa" for an RSA certificate), a domain
	// with "+token" for a challenge's certificate, or the account's key.
	if strings.HasSuffix(key, "+token") || key == accountKey {
		return err
	}
	if err != nil {
		c.logger.Warn("could not store the ACME certificate: it will be asked for again at the next start", "name", key, "err", err)
		return err
	}
	attrs := []any{"name", key}
	if cert := firstCertificate(data); cert != nil {
		attrs = append(attrs, certAttrs(cert)...)
	}
	c.logger.Info("ACME certificate obtained", attrs...)
	return nil
}

// accountKey is the key under which autocert caches the account's key.
const accountKey = "acme_account+key"

// firstCertificate returns the first certificate in the PEM data, or nil.
func firstCertificate(data []byte) *x509.Certificate {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return nil
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil
			}
			return c
		}
	}
}
