package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/filetype"
)

// chunkedReader yields its content a few bytes at a time, as a multipart
// body does (mime/multipart reads through a 4 KiB buffer), then err.
type chunkedReader struct {
	data  []byte
	chunk int
	err   error // at the end; io.EOF if nil
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.chunk)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// countingWriter counts the writes made to it.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestCopyFillsItsBuffer checks that the bytes of a body that arrives in
// small reads go on in writes of a whole buffer, hashed and sniffed whole,
// and that the error that ends a body comes out as it went in.
func TestCopyFillsItsBuffer(t *testing.T) {
	e := New(nil, nil, Options{})
	content := make([]byte, 2*copyBufferSize+1000)
	rand.NewChaCha8([32]byte{7}).Read(content)
	copy(content, "PK\x03\x04")
	t.Run("whole body", func(t *testing.T) {
		var w countingWriter
		h := sha256.New()
		sniff := filetype.XLSX.Sniffer()
		n, err := e.copy(&w, h, &chunkedReader{data: content, chunk: 4096}, -1, sniff, filetype.XLSX)
		if err != nil || n != int64(len(content)) {
			t.Fatalf("copy = %d, %v; want %d, nil", n, err, len(content))
		}
		if !bytes.Equal(w.Bytes(), content) {
			t.Error("the bytes written are not the body")
		}
		if got, want := hex.EncodeToString(h.Sum(nil)), fmt.Sprintf("%x", sha256.Sum256(content)); got != want {
			t.Errorf("sha256 %s; want %s", got, want)
		}
		if w.writes != 3 {
			t.Errorf("%d writes for %d bytes; want 3 (two full buffers and the rest)", w.writes, len(content))
		}
		if err := sniff.Close(); err != nil {
			t.Errorf("sniffer: %v", err)
		}
	})
	t.Run("truncated body", func(t *testing.T) {
		var w countingWriter
		r := &chunkedReader{data: content[:5000], chunk: 4096, err: io.ErrUnexpectedEOF}
		_, err := e.copy(&w, sha256.New(), r, -1, nil, filetype.XLSX)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("copy of a truncated body: %v; want it to wrap io.ErrUnexpectedEOF", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		var w countingWriter
		r := &chunkedReader{data: content, chunk: 4096}
		_, err := e.copy(&w, sha256.New(), r, copyBufferSize+10, nil, filetype.XLSX)
		if !pmgsync.IsCode(err, pmgsync.ETOOLARGE) {
			t.Errorf("copy over the limit: %v; want ETOOLARGE", err)
		}
		if w.Len() != copyBufferSize {
			t.Errorf("%d bytes written; want the first buffer's %d, none past the limit", w.Len(), copyBufferSize)
		}
	})
}

// BenchmarkCopy measures the hash-and-write pipeline of an upload: a
// report arriving in the 4 KiB reads of a multipart body, sniffed, hashed
// and written to a file (not synced: that is the blob store's commit).
func BenchmarkCopy(b *testing.B) {
	for _, size := range []int{60 << 10, 20 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			e := New(nil, nil, Options{})
			content := make([]byte, size)
			rand.NewChaCha8([32]byte{8}).Read(content)
			copy(content, "PK\x03\x04")
			f, err := os.Create(filepath.Join(b.TempDir(), "blob"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					b.Fatal(err)
				}
				r := &chunkedReader{data: content, chunk: 4096}
				if _, err := e.copy(f, sha256.New(), r, -1, filetype.XLSX.Sniffer(), filetype.XLSX); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
