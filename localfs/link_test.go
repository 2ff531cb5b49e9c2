package localfs

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pmgsync/pmgsync"
)

// TestLink links a blob, deletes it from the store and still reads it
// through the link; a missing or malformed key is ENOTFOUND.
func TestLink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(filepath.Join(root, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("relatorio-bomba-07"))
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "staging-"+w.Key())
	if err := s.Link(ctx, w.Key(), link); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, w.Key()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(link); err != nil || string(b) != "relatorio-bomba-07" {
		t.Errorf("through the link after the delete: %q, %v", b, err)
	}
	for _, key := range []string{w.Key(), "../../etc/passwd", "00000000000000000000000000000000"} {
		if err := s.Link(ctx, key, filepath.Join(root, "other")); !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			t.Errorf("Link(%q) = %v, want ENOTFOUND", key, err)
		}
	}
	w2, err := s.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w2.Write([]byte("relatorio-bomba-08"))
	if err := w2.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Link(ctx, w2.Key(), link); err == nil || pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		t.Errorf("a link over an existing file: %v, want an error other than ENOTFOUND", err)
	}
}
