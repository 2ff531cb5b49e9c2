// Package certs provides the server's TLS certificates: from PEM files,
// reloaded when they change, or from an ACME CA (Let's Encrypt by default),
// obtained and renewed on their own.
//
// Either source gives a *tls.Config for an HTTPS server (TLSConfig): TLS 1.2
// at least, HTTP/2 offered before HTTP/1.1, and the certificate chosen at
// each handshake, so that a new one is served from the next connection on
// without a restart.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"time"
)

// MinVersion is the oldest TLS version the server speaks. TLS 1.0 and 1.1
// are deprecated (RFC 8996); every Android and iOS version the apps run on
// speaks 1.2.
const MinVersion = tls.VersionTLS12

// serverConfig returns the TLS configuration of an HTTPS server whose
// certificate getCert chooses, offering HTTP/2, HTTP/1.1 and then extra
// application protocols.
func serverConfig(getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), extra ...string) *tls.Config {
	return &tls.Config{
		MinVersion:     MinVersion,
		GetCertificate: getCert,
		NextProtos:     append([]string{"h2", "http/1.1"}, extra...),
	}
}

// certAttrs are the log attributes that tell which certificate c is.
func certAttrs(c *x509.Certificate) []any {
	return []any{
		slog.Any("names", c.DNSNames),
		slog.String("issuer", c.Issuer.CommonName),
		slog.Time("not_after", c.NotAfter),
	}
}

// expiryWarning is how long before its end a certificate loaded from files
// is logged as about to expire. ACME renews 30 days ahead; whatever renews
// the files should too.
const expiryWarning = 14 * 24 * time.Hour
