// Package certstest makes TLS certificates for tests: a certificate
// authority that the test's clients trust, and server certificates it signs,
// in PEM, written to files the way renewal tools write them.
package certstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ServerName is the DNS name of the certificates Issue makes; they are
// also valid for 127.0.0.1.
const ServerName = "pmg.example.com"

// CA is a certificate authority made for one test.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// Pool holds Cert alone: the RootCAs of the test's clients.
	Pool *x509.CertPool
}

// NewCA returns a new certificate authority, valid from an hour ago for a
// year.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Oficina PMG test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{Cert: cert, Key: key, Pool: pool}
}

// Pair is a certificate and its private key, in PEM.
type Pair struct {
	Cert, Key []byte
	Serial    int64
}

// Issue returns a server certificate for ServerName and 127.0.0.1, signed
// by ca, with the serial number serial (which tells certificates apart in
// a test), valid from an hour ago until notAfter.
func (ca *CA) Issue(t testing.TB, serial int64, notAfter time.Time) Pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: ServerName},
		DNSNames:     []string{ServerName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return Pair{
		Cert:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Key:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Serial: serial,
	}
}

// Files are the paths of a certificate file and its key file, in a
// directory of the test's.
type Files struct{ Cert, Key string }

// NewFiles returns the paths fullchain.pem and privkey.pem in a new
// temporary directory; the files do not exist yet.
func NewFiles(t testing.TB) Files {
	dir := t.TempDir()
	return Files{Cert: filepath.Join(dir, "fullchain.pem"), Key: filepath.Join(dir, "privkey.pem")}
}

// Replace puts p in the files, the certificate first, by renaming a new
// file over each, as renewal tools do.
func (f Files) Replace(t testing.TB, p Pair) {
	t.Helper()
	for _, w := range []struct {
		path string
		data []byte
	}{{f.Cert, p.Cert}, {f.Key, p.Key}} {
		tmp := w.path + ".new"
		if err := os.WriteFile(tmp, w.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, w.path); err != nil {
			t.Fatal(err)
		}
	}
}
