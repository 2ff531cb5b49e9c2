package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// sampleArchive returns the archive of a small store of five reports.
func sampleArchive(t *testing.T) []byte {
	t.Helper()
	s := openStore(t, filepath.Join(t.TempDir(), "data"))
	for i := range 5 {
		s.upload("maria", fmt.Sprintf("relatorio-bomba-%02d.csv", i), report(uint64(i), 64<<10))
	}
	var b bytes.Buffer
	if _, err := s.source().ToWriter(context.Background(), &b, "-", Options{}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// restoreBytes restores archive into a new directory and returns the
// error, after checking that a failure leaves nothing behind.
func restoreBytes(t *testing.T, archive []byte) (string, error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	_, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{})
	if err != nil {
		if got := siblings(t, dst); len(got) != 0 {
			t.Errorf("a failed restore left %q", got)
		}
	}
	return dst, err
}

// TestRestoreSample checks that the sample archive restores whole, which
// the tests that damage it take for granted.
func TestRestoreSample(t *testing.T) {
	t.Parallel()
	dst, err := restoreBytes(t, sampleArchive(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := openStore(t, dst).contents(); len(got) != 5 {
		t.Errorf("restored %d files, want 5", len(got))
	}
}

// TestRestoreTruncated cuts the archive short at many points: each
// restore fails as truncated and leaves no directory behind.
func TestRestoreTruncated(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	for _, n := range []int{20, 600, len(archive) / 3, len(archive) / 2, len(archive) - 600, len(archive) - 8, len(archive) - 1} {
		_, err := restoreBytes(t, archive[:n])
		if !errors.Is(err, ErrTruncated) {
			t.Errorf("cut at %d of %d bytes: %v, want ErrTruncated", n, len(archive), err)
		}
	}
	// Cut at an entry boundary, with a valid end: no manifest.
	_, err := restoreBytes(t, rewrite(t, archive, false, func(name string, body []byte) (bool, []byte) { return name != manifestEntry, body }))
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "ends before its manifest") {
		t.Errorf("without the manifest: %v", err)
	}
}

// TestRestoreBitFlip flips one bit at several places of the compressed
// archive: each restore fails with a clear message and leaves nothing.
func TestRestoreBitFlip(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	for _, off := range []int{len(archive) / 4, len(archive) / 2, 3 * len(archive) / 4, len(archive) - 5} {
		damaged := slices.Clone(archive)
		damaged[off] ^= 0x10
		_, err := restoreBytes(t, damaged)
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
			t.Errorf("bit flipped at %d of %d: %v, want ErrCorrupt", off, len(archive), err)
		}
	}
}

// TestRestoreTampered changes the content of entries inside a
// well-formed gzip stream, so that only the SHA-256 of the entries and
// the manifest can tell.
func TestRestoreTampered(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	tests := []struct {
		name string
		edit func(name string, body []byte) (bool, []byte)
		want string
	}{
		{"a blob's byte", func(name string, body []byte) (bool, []byte) {
			if strings.HasPrefix(name, blobPrefix) {
				body[100] ^= 1
			}
			return true, body
		}, "does not match its SHA-256"},
		{"a blob left out", func(name string, body []byte) (bool, []byte) {
			return !strings.HasPrefix(name, blobPrefix) || body[0] == 0, body
		}, "manifest"},
		{"the database's byte", func(name string, body []byte) (bool, []byte) {
			if name == databaseEntry {
				body[len(body)-1] ^= 1
			}
			return true, body
		}, "pmgsync.db\" does not match its SHA-256"},
	}
	for _, tt := range tests {
		_, err := restoreBytes(t, rewrite(t, archive, false, tt.edit))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want ErrCorrupt saying %q", tt.name, err, tt.want)
		}
	}
}

// TestRestoreTrailingData appends bytes after the end of the archive's
// gzip stream, a few or many: the restore fails as corrupt.
func TestRestoreTrailingData(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	for _, tail := range [][]byte{[]byte("x"), []byte("relatorio-bomba-07.csv\n"), bytes.Repeat([]byte{0}, 100<<10)} {
		_, err := restoreBytes(t, append(slices.Clone(archive), tail...))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "data follows the end of the archive") {
			t.Errorf("%d bytes after the archive: %v, want ErrCorrupt", len(tail), err)
		}
	}
}

// TestRestoreHostile restores archives made to exhaust the restoring
// machine, each well-formed, with SHA-256 that match: a manifest too large
// for its entries, a name of 100 KiB, a blob of zeros beyond the header's
// declared totals, a header that declares more than the disk holds. Each
// is refused before its memory or disk use grows.
func TestRestoreHostile(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	header := func(edit func(*Header)) func(string, []byte) (bool, []byte) {
		return func(name string, body []byte) (bool, []byte) {
			if name == headerEntry {
				var h Header
				if err := json.Unmarshal(body, &h); err != nil {
					t.Fatal(err)
				}
				edit(&h)
				body, _ = json.Marshal(h)
			}
			return true, body
		}
	}
	firstBlob := true
	tests := []struct {
		name   string
		edit   func(name string, body []byte) (bool, []byte)
		rename func(name string) string
		want   string
	}{
		{name: "a manifest of 2 MiB", edit: func(name string, body []byte) (bool, []byte) {
			if name == manifestEntry {
				body = append([]byte(`{"padding":"`+strings.Repeat("a", 2<<20)+`",`), body[1:]...)
			}
			return true, body
		}, want: "its manifest is 2"},
		{name: "a manifest field of 1 MiB", edit: func(name string, body []byte) (bool, []byte) {
			if name == manifestEntry {
				body = append([]byte(`{"padding":"`+strings.Repeat("a", 1<<20-100)+`",`), body[1:]...)
			}
			return true, body
		}, want: "a value of the manifest is too long"},
		{name: "a manifest entry of 100 KiB", edit: func(name string, body []byte) (bool, []byte) {
			if name == manifestEntry {
				body = bytes.Replace(body, []byte(`"name":"pmgsync-backup.json"`), []byte(`"name":"`+strings.Repeat("a", 100<<10)+`"`), 1)
			}
			return true, body
		}, want: "a value of the manifest is too long"},
		{name: "a manifest entry's long name", edit: func(name string, body []byte) (bool, []byte) {
			if name == manifestEntry {
				body = bytes.Replace(body, []byte(`"name":"pmgsync-backup.json"`), []byte(`"name":"`+strings.Repeat("a", 2000)+`"`), 1)
			}
			return true, body
		}, want: "the name of entry 1 is 2000 bytes long"},
		{name: "an entry's long name", rename: func(name string) string {
			if name == databaseEntry {
				return strings.Repeat("d", 100<<10)
			}
			return name
		}, want: "is 102400 bytes long"},
		{name: "a blob of 64 MiB of zeros", edit: func(name string, body []byte) (bool, []byte) {
			if strings.HasPrefix(name, blobPrefix) && firstBlob {
				firstBlob = false
				body = make([]byte, 64<<20)
			}
			return true, body
		}, want: "(67108864 bytes) is beyond the 5 files, 327680 bytes its header declares"},
		{name: "one file more than declared", edit: header(func(h *Header) { h.Files = 4 }), want: "is beyond the 4 files"},
		{name: "negative totals", edit: header(func(h *Header) { h.Bytes = -1 }), want: "its header declares 5 files, -1 bytes"},
		{name: "more bytes than the disk has", edit: header(func(h *Header) { h.Bytes = 1 << 62 }), want: "only"},
	}
	for _, tt := range tests {
		edit := tt.edit
		if edit == nil {
			edit = func(_ string, body []byte) (bool, []byte) { return true, body }
		}
		hostile := rewriteNames(t, archive, true, tt.rename, edit)
		_, err := restoreBytes(t, hostile)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error saying %q", tt.name, err, tt.want)
		}
		if tt.name == "more bytes than the disk has" && !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("%s: %v, want ENOSPC", tt.name, err)
		} else if tt.name != "more bytes than the disk has" && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotBackup) {
			t.Errorf("%s: %v, want ErrCorrupt", tt.name, err)
		}
	}
}

// TestRestoreNotBackup gives Restore things that are not backups.
func TestRestoreNotBackup(t *testing.T) {
	t.Parallel()
	var other bytes.Buffer
	gz := gzip.NewWriter(&other)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "etc/passwd", Size: 4, Mode: 0o644})
	tw.Write([]byte("root"))
	tw.Close()
	gz.Close()
	for name, input := range map[string][]byte{
		"empty":       nil,
		"text":        []byte("relatorio-bomba-07.csv\n"),
		"another tar": other.Bytes(),
	} {
		_, err := restoreBytes(t, input)
		if !errors.Is(err, ErrNotBackup) {
			t.Errorf("%s: %v, want ErrNotBackup", name, err)
		}
	}
}

// TestRestoreTooNew restores an archive of a newer format.
func TestRestoreTooNew(t *testing.T) {
	t.Parallel()
	archive := rewrite(t, sampleArchive(t), true, func(name string, body []byte) (bool, []byte) {
		if name == headerEntry {
			var h Header
			json.Unmarshal(body, &h)
			h.FormatVersion, h.PmgsyncVersion = FormatVersion+1, "v9.0.0"
			body, _ = json.Marshal(h)
		}
		return true, body
	})
	_, err := restoreBytes(t, archive)
	if !errors.Is(err, ErrTooNew) || !strings.Contains(err.Error(), "pmgsync v9.0.0 or later") {
		t.Errorf("%v, want ErrTooNew", err)
	}
}

// TestRestoreNonEmpty restores into a directory that holds files: refused
// without Force, and the directory untouched; with Force, the old contents
// are moved aside whole.
func TestRestoreNonEmpty(t *testing.T) {
	t.Parallel()
	archive := sampleArchive(t)
	dst := oldData(t)

	_, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{})
	if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore into a non-empty directory: %v, want ErrNotEmpty", err)
	}
	if got := siblings(t, dst); !slices.Equal(got, []string{"data"}) {
		t.Errorf("beside the directory: %q", got)
	}
	checkOldData(t, dst) // the refused restore changed nothing

	res, err := Restore(context.Background(), bytes.NewReader(archive), dst, RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := dst + "/.before-restore-"; !strings.HasPrefix(res.MovedAside, want) {
		t.Errorf("moved aside to %q, want %s…", res.MovedAside, want)
	}
	checkOldData(t, res.MovedAside)
	if got := openStore(t, dst).contents(); len(got) != 5 {
		t.Errorf("restored %d files, want 5", len(got))
	}

	// An empty directory is replaced without Force.
	empty := t.TempDir()
	if _, err := Restore(context.Background(), bytes.NewReader(archive), empty, RestoreOptions{}); err != nil {
		t.Errorf("restore into an empty directory: %v", err)
	}
}

// TestRestoreInUse restores into a directory that a pmgsync process
// uses: refused, even with Force; and a process cannot start using a
// directory being restored into.
func TestRestoreInUse(t *testing.T) {
	t.Parallel()
	dst := t.TempDir()
	os.WriteFile(filepath.Join(dst, "pmgsync.db"), []byte("x"), 0o600)
	use, err := Use(dst)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Use(dst) // the server and a command at once
	if err != nil {
		t.Fatal(err)
	}
	second.Close()
	_, err = Restore(context.Background(), bytes.NewReader(sampleArchive(t)), dst, RestoreOptions{Force: true})
	if !errors.Is(err, ErrInUse) {
		t.Errorf("restore into a directory in use: %v, want ErrInUse", err)
	}
	use.Close()

	lock, ok, err := lockDir(dst, 2 /* LOCK_EX */)
	if err != nil || !ok {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := Use(dst); !errors.Is(err, ErrInUse) {
		t.Errorf("Use during a restore: %v, want ErrInUse", err)
	}
}

// rewrite decompresses archive, passes each entry to edit, which says
// whether to keep it and with what content, and compresses the result
// again, with each entry's recorded SHA-256 as it was, or made to match
// the new content if resum is set.
func rewrite(t *testing.T, archive []byte, resum bool, edit func(name string, body []byte) (bool, []byte)) []byte {
	t.Helper()
	return rewriteNames(t, archive, resum, nil, edit)
}

// rewriteNames is rewrite that also renames the entries with rename, if
// not nil.
func rewriteNames(t *testing.T, archive []byte, resum bool, rename func(string) string, edit func(name string, body []byte) (bool, []byte)) []byte {
	t.Helper()
	gr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gr)
	var out bytes.Buffer
	gw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gw)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		keep, body := edit(hdr.Name, body)
		if !keep {
			continue
		}
		hdr.Size = int64(len(body))
		if rename != nil {
			hdr.Name = rename(hdr.Name)
		}
		if resum {
			hdr.PAXRecords[paxSHA256] = sha256Hex(body)
			hdr.Xattrs = nil //lint:ignore SA1019 the reader fills it from the record, and it would win over it
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	gw.Close()
	return out.Bytes()
}
