package main

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pmgsync/pmgsync/certs"
	"github.com/pmgsync/pmgsync/httpserver"
)

// openTLS returns the TLS configuration of the main listener, or nil if
// HTTPS is off, and logs where its certificates come from. Certificate
// files are loaded now, so that a bad pair stops the server at start-up
// with a message naming the files; ACME certificates are obtained at the
// first handshake that needs them.
func (m *Main) openTLS() (*tls.Config, error) {
	switch {
	case m.Config.TLSCert != "":
		f, err := certs.LoadFiles(m.Config.TLSCert, m.Config.TLSKey, m.Logger, m.Now)
		if err != nil {
			return nil, err
		}
		m.certFiles = f
		m.Logger.Info("serving HTTPS", "mode", "files", "cert", m.Config.TLSCert, "key", m.Config.TLSKey,
			"reload", "when the files change, and on SIGHUP")
		return f.TLSConfig(), nil
	case len(m.Config.ACMEDomains) > 0:
		dir := acmeCacheDir(&m.Config)
		a, err := certs.NewACME(certs.ACMEOptions{
			Domains:      m.Config.ACMEDomains,
			Email:        m.Config.ACMEEmail,
			DirectoryURL: m.Config.ACMEDirectory,
			CacheDir:     dir,
			UserAgent:    "pmgsync/" + binaryVersion(),
			Logger:       m.Logger,
		})
		if err != nil {
			return nil, err
		}
		m.acme = a
		challenges := "tls-alpn-01"
		if m.Config.RedirectAddr != "" {
			challenges += ",http-01"
		}
		m.Logger.Info("serving HTTPS", "mode", "acme", "domains", strings.Join(m.Config.ACMEDomains, ","),
			"directory", m.Config.ACMEDirectory, "cache", dir, "challenges", challenges)
		return a.TLSConfig(), nil
	}
	return nil, nil
}

// acmeCacheDir is where the ACME account key and certificates are kept:
// DATA/acme/HOST, one directory per CA, so that certificates of a staging
// or test CA are never served once the production one is configured.
func acmeCacheDir(c *Config) string {
	host := "default"
	if u, err := url.Parse(c.ACMEDirectory); err == nil && u.Host != "" {
		host = strings.ReplaceAll(u.Host, ":", "_")
	}
	return filepath.Join(c.DataDir, "acme", host)
}

// redirectHandler is the handler of the plain-HTTP listener: it answers
// the ACME HTTP-01 challenges when ACME is on, and redirects everything
// else to HTTPS on the main listener's port.
func (m *Main) redirectHandler() http.Handler {
	port := strconv.Itoa(m.listener.Addr().(*net.TCPAddr).Port)
	h := httpserver.RedirectToHTTPS(port)
	if m.acme != nil {
		h = m.acme.HTTPHandler(h)
	}
	return h
}

// Reload loads the HTTPS certificate files again, whether or not they
// changed; "pmgsync serve" calls it on SIGHUP. If they do not hold a valid
// pair, the certificate served so far stays and the error, which is also
// logged, is returned. Without certificate files there is nothing to
// reload: ACME certificates renew on their own.
func (m *Main) Reload() error {
	if m.certFiles == nil {
		m.Logger.Info("reload requested: nothing to reload without tls-cert and tls-key")
		return nil
	}
	return m.certFiles.Reload()
}

// RedirectAddr returns the address the redirecting plain-HTTP listener
// listens on, or nil before Run or if Config.RedirectAddr is not set.
func (m *Main) RedirectAddr() net.Addr {
	if m.redirectListener == nil {
		return nil
	}
	return m.redirectListener.Addr()
}
