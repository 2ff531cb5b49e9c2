package backup

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestManifestRoundTrip writes a manifest as a backup does and reads it
// back as a restore does.
func TestManifestRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "manifest.json")
	m := &Manifest{Format: FormatName, FormatVersion: FormatVersion, PmgsyncVersion: "v1.2.3",
		CreatedAt: time.Date(2026, 12, 4, 5, 30, 0, 123, time.UTC), BackupRun: 7, Dropped: []FileRef{}, Damaged: []FileRef{}}
	mw, err := newManifestWriter(path, m)
	if err != nil {
		t.Fatal(err)
	}
	want := newListDigest()
	for _, e := range []Entry{{headerEntry, 10, strings.Repeat("a", 64)}, {blobEntry(strings.Repeat("b", 32)), 4, strings.Repeat("c", 64)}} {
		want.add(e)
		if err := mw.add(e); err != nil {
			t.Fatal(err)
		}
	}
	m.Files, m.Bytes, m.Technicians, m.ACMEFiles = 1, 4, 2, 3
	m.Damaged, m.DamagedCount = []FileRef{{Technician: "maria", Name: "relatorio-bomba-07.xlsx", Problem: "3 bytes on disk, 4 recorded"}}, 1
	m.Dropped, m.DroppedCount = []FileRef{{Technician: "pedro", Name: "relatorio-bomba-08.xlsx", Size: 7, SHA256: strings.Repeat("d", 64)}}, 2
	m.MarkedDamaged, m.MarkedDamagedCount = []FileRef{{Technician: "maria", Name: "relatorio-bomba-09.xlsx", Problem: "missing"}}, 1
	if err := mw.finish(m); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, digest, err := readManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	if digest.n != 2 || digest.sum() != want.sum() {
		t.Errorf("entries digest of %d entries differs", digest.n)
	}
	// Every field but the entries, which the digest stands for, comes back.
	if !reflect.DeepEqual(got, m) {
		t.Errorf("read back %+v, want %+v", got, m)
	}
}

// FuzzReadManifest feeds the manifest parser, which reads untrusted
// input, whatever comes: it returns an error or a manifest, never panics.
func FuzzReadManifest(f *testing.F) {
	f.Add(`{"format":"pmgsync-backup","format_version":1,"entries":[{"name":"a","size":1,"sha256":"x"}],"files":1}`)
	f.Add(`{"entries":[`)
	f.Add(`{"files":1}{}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, s string) {
		m, d, err := readManifest(strings.NewReader(s))
		if err == nil && (m == nil || d == nil) {
			t.Fatal("no manifest and no error")
		}
	})
}
