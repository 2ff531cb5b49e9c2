package main

// The ACME tests obtain real certificates from Pebble, Let's Encrypt's test
// CA, which validates the challenges against the pmgsync binary itself:
// Pebble resolves the domain with its test DNS server (pebble-challtestsrv),
// which answers 127.0.0.1 for every name, and connects to the ports given
// in its config, where pmgsync listens.

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// acmeDomain is the name the tests obtain certificates for. autocert
// refuses names without a dot.
const acmeDomain = "pmg.pmgsync.test"

// pebbleModule is the module of Pebble, a tool of this module (go.mod).
const pebbleModule = "github.com/letsencrypt/pebble/v2"

// buildPebble builds pebble and pebble-challtestsrv into a temporary
// directory and returns it, with the module's directory (for its test
// certificates). Without them the test fails under CI=true and is skipped
// elsewhere.
func buildPebble(t *testing.T) (bin, moduleDir string) {
	t.Helper()
	bin = t.TempDir()
	out, err := exec.Command("go", "build", "-o", bin+string(filepath.Separator),
		pebbleModule+"/cmd/pebble", pebbleModule+"/cmd/pebble-challtestsrv").CombinedOutput()
	if err == nil {
		var dir []byte
		dir, err = exec.Command("go", "list", "-m", "-f", "{{.Dir}}", pebbleModule).Output()
		moduleDir = strings.TrimSpace(string(dir))
	}
	if err != nil {
		msg := fmt.Sprintf("build Pebble: %v\n%s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin, moduleDir
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// hostPort is 127.0.0.1:port.
func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// startProcess starts a helper program, collects its output and kills it
// at the end of the test, showing its output if the test failed.
func startProcess(t *testing.T, env []string, name string, args ...string) *logLines {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one stream, in order
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := newLogLines()
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.add(sc.Text())
		}
		cmd.Wait() // only after the pipe has been read to its end
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(name), log)
		}
	})
	return log
}

// pebble is a running Pebble with its DNS server.
type pebble struct {
	directory string         // the ACME directory URL
	roots     string         // the URL of its root certificate
	minica    string         // the file of the CA of its own HTTPS certificate
	client    *http.Client   // trusts minica
	log       *logLines      // Pebble's output
	root      *x509.CertPool // its root for the certificates it issues
}

// startPebble starts Pebble, validating HTTP-01 challenges on httpPort and
// TLS-ALPN-01 challenges on tlsPort of 127.0.0.1, where every name
// resolves.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	bin, moduleDir := buildPebble(t)
	dns := hostPort(freePort(t))
	startProcess(t, os.Environ(), filepath.Join(bin, "pebble-challtestsrv"),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", // no AAAA: pmgsync listens on 127.0.0.1
		"-dnsserver", dns, "-management", hostPort(freePort(t)),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, network, dns)
	}}
	eventually(t, "the test DNS server answers", func() bool {
		addrs, err := resolver.LookupHost(context.Background(), acmeDomain)
		return err == nil && len(addrs) == 1 && addrs[0] == "127.0.0.1"
	})

	certs := filepath.Join(moduleDir, "test", "certs")
	listen, management := hostPort(freePort(t)), hostPort(freePort(t))
	config, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":           listen,
		"managementListenAddress": management,
		"certificate":             filepath.Join(certs, "localhost", "cert.pem"),
		"privateKey":              filepath.Join(certs, "localhost", "key.pem"),
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"keyAlgorithm":            "ecdsa",
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	configFile := writeFile(t, t.TempDir(), "pebble-config.json", string(config))
	p := &pebble{
		directory: "https://" + listen + "/dir",
		roots:     "https://" + management + "/roots/0",
		minica:    filepath.Join(certs, "pebble.minica.pem"),
	}
	p.log = startProcess(t, append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"),
		filepath.Join(bin, "pebble"), "-config", configFile, "-dnsserver", dns)

	minica, err := os.ReadFile(p.minica)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(minica) {
		t.Fatalf("no certificate in %s", p.minica)
	}
	p.client = httpsClient(pool, "")
	eventually(t, "Pebble answers", func() bool {
		resp, err := p.client.Get(p.directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	// The root that signs what Pebble issues, made when it started.
	resp, err := p.client.Get(p.roots)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	root, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d, %v", p.roots, resp.StatusCode, err)
	}
	p.root = x509.NewCertPool()
	if !p.root.AppendCertsFromPEM(root) {
		t.Fatalf("no certificate at %s:\n%s", p.roots, root)
	}
	return p
}

// TestACMEWithPebble has pmgsync obtain its certificate from Pebble, by
// each challenge in turn: the first handshake for the domain makes it ask
// the CA, which validates the challenge against pmgsync; the chain it then
// serves verifies with Pebble's root, and the API works over it.
func TestACMEWithPebble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// redirect says whether pmgsync has a plain-HTTP listener; HTTP-01
		// needs one.
		redirect bool
	}{
		// pmgsync's HTTPS port is Pebble's TLS-ALPN-01 port; nothing
		// listens on its HTTP-01 port.
		{"tls-alpn-01", false},
		// pmgsync's redirect listener is on Pebble's HTTP-01 port;
		// nothing listens on its TLS-ALPN-01 port, so that the challenge
		// autocert tries first fails and it falls back to HTTP-01.
		{"http-01", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			httpPort, tlsPort := freePort(t), freePort(t)
			p := startPebble(t, httpPort, tlsPort)

			data := t.TempDir()
			token := createToken(t, data, "maria")
			// pmgsync trusts Pebble's HTTPS certificate through
			// SSL_CERT_FILE, as it would a private CA's.
			env := cleanEnv("SSL_CERT_FILE=" + p.minica)
			args := []string{"--acme-domain", acmeDomain, "--acme-email", "ti@pmgsync.test", "--acme-directory", p.directory}
			httpsPort := tlsPort
			if tt.redirect {
				httpsPort = freePort(t)
				args = append(args, "--redirect-addr", hostPort(httpPort))
			}
			args = append(args, "--addr", hostPort(httpsPort)) // after startServerWith's own --addr: the last one wins
			s := startServerWith(t, data, env, args...)
			s.url = "https://" + net.JoinHostPort(acmeDomain, strconv.Itoa(httpsPort))
			if _, ok := s.log.waitFor(`msg="serving HTTPS" mode=acme domains=`+acmeDomain, s.exited); !ok {
				t.Fatalf("the mode is not logged:\n%s", s.log)
			}

			// The first request triggers the issuance, and its handshake
			// waits for it; its certificate must chain to Pebble's root.
			client := httpsClient(p.root, hostPort(httpsPort))
			resp, err := client.Get(s.url + "/healthz")
			if err != nil {
				t.Fatalf("first request: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
				t.Errorf("first request: status %d, protocol %s", resp.StatusCode, resp.Proto)
			}
			leaf := resp.TLS.PeerCertificates[0]
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeDomain || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
				t.Errorf("certificate for %q issued by %q", leaf.DNSNames, leaf.Issuer.CommonName)
			}
			if _, ok := s.log.waitFor(`msg="ACME certificate obtained" name=`+acmeDomain, s.exited); !ok {
				t.Errorf("the certificate is not logged:\n%s", s.log)
			}
			checkUploadAndList(t, s, client, token)

			// Pebble validated the challenge of the test, over the port of
			// the test, and no other.
			if _, ok := p.log.waitFor("set VALID by completed challenge", nil); !ok {
				t.Error("Pebble validated no challenge")
			}
			httpValidation := fmt.Sprintf("Attempting to validate w/ HTTP: http://%s/.well-known/acme-challenge/",
				net.JoinHostPort(acmeDomain, strconv.Itoa(httpPort)))
			if tried := strings.Contains(p.log.String(), httpValidation); tried != tt.redirect {
				t.Errorf("HTTP-01 validation tried: %t, want %t", tried, tt.redirect)
			}

			// The account and the certificate are kept in the data
			// directory, out of everyone else's reach.
			cache := filepath.Join(data, "acme", strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(p.directory, "https://"), "/dir"), ":", "_"))
			for _, path := range []string{filepath.Join(data, "acme"), cache} {
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("%s: %v; want a directory with mode 0700", path, err)
				}
			}
			if _, err := os.Stat(filepath.Join(cache, acmeDomain)); err != nil {
				t.Errorf("the certificate is not cached: %v", err)
			}
			s.stop()
		})
	}
}
