package backup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestRecoveryHostileJournal plants journals of an interrupted restore in
// a data directory, as whoever could write there would to make the next
// start of the server (as root, perhaps) move files it should not: Use
// must refuse each, say so in a message that prints no raw bytes of it,
// and move nothing, in the data directory or outside it.
func TestRecoveryHostileJournal(t *testing.T) {
	t.Parallel()
	const (
		tmp   = restorePrefix + "5f3a9c0e12b4d678"
		aside = asidePrefix + "20261204-093112"
	)
	tests := []struct {
		name  string
		root  bool // needs root, to give a file to another user
		plant func(t *testing.T, dst, outside string) string
	}{
		{"extraction directory linked out of the data directory", false, func(t *testing.T, dst, outside string) string {
			symlink(t, outside, filepath.Join(dst, tmp))
			return `{"committed":true,"tmp":"` + tmp + `","new":["segredo.db"]}`
		}},
		{"directory of the previous entries linked out of the data directory", false, func(t *testing.T, dst, outside string) string {
			mkdir(t, filepath.Join(dst, tmp))
			symlink(t, outside, filepath.Join(dst, aside))
			return `{"tmp":"` + tmp + `","aside":"` + aside + `","old":["segredo.db"]}`
		}},
		{"directory of the previous entries linked within the data directory", false, func(t *testing.T, dst, outside string) string {
			mkdir(t, filepath.Join(dst, tmp))
			symlink(t, "blobs", filepath.Join(dst, aside))
			old := names(t, filepath.Join(dst, "blobs"))
			return `{"tmp":"` + tmp + `","aside":"` + aside + `","old":["` + strings.Join(old, `","`) + `"]}`
		}},
		{"extraction directory of another user", true, func(t *testing.T, dst, outside string) string {
			mkdir(t, filepath.Join(dst, tmp))
			if err := os.WriteFile(filepath.Join(dst, tmp, "segredo.db"), []byte("SQLite format 3\x00"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(filepath.Join(dst, tmp), 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return `{"committed":true,"tmp":"` + tmp + `","new":["segredo.db"]}`
		}},
		{"journal linked out of the data directory", false, func(t *testing.T, dst, outside string) string {
			path := filepath.Join(outside, "journal")
			if err := os.WriteFile(path, []byte(`{"committed":true,"tmp":"`+tmp+`","new":[]}`), 0o600); err != nil {
				t.Fatal(err)
			}
			symlink(t, path, filepath.Join(dst, journalName))
			return ""
		}},
		{"journal larger than any restore writes", false, func(t *testing.T, dst, outside string) string {
			return `{"committed":true,"tmp":"` + tmp + `","new":[]}` + strings.Repeat(" ", 2<<20)
		}},
		{"journal that names entries with bytes that are not text", false, func(t *testing.T, dst, outside string) string {
			return `{"committed":true,"tmp":"` + tmp + `","new":["../` + "\xff\xfe" + `"]}` + "\r\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.root && os.Geteuid() != 0 {
				t.Skip("only root can give a directory to another user")
			}
			dst := oldData(t)
			outside := filepath.Join(t.TempDir(), "outra-app")
			mkdir(t, outside)
			if err := os.WriteFile(filepath.Join(outside, "segredo.db"), []byte("SQLite format 3\x00"), 0o600); err != nil {
				t.Fatal(err)
			}
			if j := tt.plant(t, dst, outside); j != "" {
				if err := os.WriteFile(filepath.Join(dst, journalName), []byte(j), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before, outsideBefore := names(t, dst), names(t, outside)
			blobsBefore := names(t, filepath.Join(dst, "blobs"))

			u, err := Use(dst)
			if err == nil {
				u.Close()
				t.Error("Use took up a planted journal")
			} else if !utf8.ValidString(err.Error()) || strings.IndexFunc(err.Error(), func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
				t.Errorf("the error prints raw bytes: %q", err.Error())
			}
			checkEntries(t, outside, outsideBefore)
			checkEntries(t, dst, before)
			checkEntries(t, filepath.Join(dst, "blobs"), blobsBefore)
		})
	}
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, path string) {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
}
