package backup

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBackupACME backs up a data directory whose HTTPS server keeps an
// ACME account and certificates in DATA/acme: they are in the archive,
// checked like the rest, and a restore puts them back with their modes,
// also over a directory that has certificates of its own (moved aside).
func TestBackupACME(t *testing.T) {
	t.Parallel()
	src := openStore(t, t.TempDir())
	src.upload("maria", "relatorio-bomba-07.csv", report(1, 1000))
	cache := map[string]string{
		"acme-v02.api.letsencrypt.org/acme_account+key":    "-----BEGIN EC PRIVATE KEY-----\nconta\n",
		"acme-v02.api.letsencrypt.org/pmg.example.com":     "-----BEGIN EC PRIVATE KEY-----\nchave\n-----BEGIN CERTIFICATE-----\ncert\n",
		"acme-v02.api.letsencrypt.org/pmg.example.com+rsa": "rsa",
		"acme-v02.api.letsencrypt.org-staging/x":           "staging", // sorts after the host above as a path, before it as a name
	}
	writeCache(t, filepath.Join(src.dir, acmeDir), cache)
	// Not autocert's: left out.
	if err := os.Symlink("/etc/passwd", filepath.Join(src.dir, acmeDir, "acme-v02.api.letsencrypt.org", "link")); err != nil {
		t.Fatal(err)
	}

	path, res, err := backupFile(t, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.ACMEFiles != 4 {
		t.Errorf("manifest: %d files of the ACME cache, want 4", res.Manifest.ACMEFiles)
	}
	names := entryNames(t, path)
	if i := slices.Index(names, acmePrefix+"acme-v02.api.letsencrypt.org/acme_account+key"); i < 0 || names[len(names)-2] != databaseEntry {
		t.Errorf("entries %q", names)
	}

	dst := filepath.Join(t.TempDir(), "data")
	writeCache(t, filepath.Join(dst, acmeDir), map[string]string{"acme-v02.api.letsencrypt.org/pmg.example.com": "antigo"})
	restored, err := restoreFile(t, path, dst, RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if restored.Manifest.ACMEFiles != 4 {
		t.Errorf("restored manifest %+v", restored.Manifest)
	}
	for name, want := range cache {
		p := filepath.Join(dst, acmeDir, filepath.FromSlash(name))
		got, err := os.ReadFile(p)
		if err != nil || string(got) != want {
			t.Errorf("restored %s: %q %v, want %q", name, got, err, want)
			continue
		}
		for p, mode := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700 | os.ModeDir, filepath.Join(dst, acmeDir): 0o700 | os.ModeDir} {
			if fi, err := os.Lstat(p); err != nil || fi.Mode() != mode {
				t.Errorf("%s: mode %v %v, want %v", p, fi.Mode(), err, mode)
			}
		}
	}
	if _, err := os.Lstat(filepath.Join(dst, acmeDir, "acme-v02.api.letsencrypt.org", "link")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the symbolic link was restored: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(restored.MovedAside, acmeDir, "acme-v02.api.letsencrypt.org", "pmg.example.com")); err != nil || string(got) != "antigo" {
		t.Errorf("the previous certificate, moved aside: %q %v", got, err)
	}
}

// TestRestoreACMEHostile restores archives whose ACME entries would write
// outside acme/, or more than a cache holds: refused as corrupt.
func TestRestoreACMEHostile(t *testing.T) {
	t.Parallel()
	s := openStore(t, filepath.Join(t.TempDir(), "data"))
	s.upload("maria", "relatorio-bomba-07.csv", report(1, 1000))
	writeCache(t, filepath.Join(s.dir, acmeDir), map[string]string{"ca/acme_account+key": "conta"})
	var b bytes.Buffer
	if _, err := s.source().ToWriter(context.Background(), &b, "-", Options{}); err != nil {
		t.Fatal(err)
	}
	archive := b.Bytes()
	for _, tt := range []struct {
		rename string
		body   []byte
		want   string
	}{
		{rename: "acme/../../../tmp/x", want: "unexpected entry"},
		{rename: "acme/ca/sub/x", want: "unexpected entry"},
		{rename: "acme/ca", want: "unexpected entry"},
		{body: make([]byte, 2<<20), want: "beyond what an ACME cache holds"},
	} {
		hostile := rewriteNames(t, archive, true, func(name string) string {
			if strings.HasPrefix(name, acmePrefix) && tt.rename != "" {
				return tt.rename
			}
			return name
		}, func(name string, body []byte) (bool, []byte) {
			if strings.HasPrefix(name, acmePrefix) && tt.body != nil {
				return true, tt.body
			}
			return true, body
		})
		if _, err := restoreBytes(t, hostile); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v, want ErrCorrupt saying %q", tt.rename, err, tt.want)
		}
	}
}

// writeCache writes the files of an ACME cache in dir, by "host/name".
func writeCache(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
