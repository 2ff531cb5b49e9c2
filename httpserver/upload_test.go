package httpserver_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/pmgsync/pmgsync/engine"
)

func TestUploadBadRequests(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	target := "/upload?token=" + tok

	tests := []struct {
		name, contentType, body string
	}{
		{"not multipart", "application/octet-stream", "PK\x03\x04"},
		{"no content type", "", "PK\x03\x04"},
		{"no file field", "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nv\r\n--X--\r\n"},
		{"file field without filename", "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nv\r\n--X--\r\n"},
		{"truncated", "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"pmg.xlsx\"\r\n\r\nPK\x03\x04half a rep"},
		{"garbage", "multipart/form-data; boundary=X", "\x00\x01\x02"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			got := decode(t, e.do(req), http.StatusBadRequest)
			if got["detail"] == "" {
				t.Error("no detail")
			}
		})
	}
	decode(t, e.get(http.MethodGet, "/list", url.Values{"token": {tok}}), http.StatusNotFound)
	if n := countBlobs(t, e.dir); n != 0 {
		t.Errorf("%d blobs left by failed uploads", n)
	}
}

func TestUploadSkipsOtherFields(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("device", "Galaxy A14")
	fw, _ := mw.CreateFormFile("file", "pmg.xlsx")
	fw.Write(report(7))
	mw.Close()
	req := httptest.NewRequest(http.MethodPost, "/upload", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+tok)
	if got := decode(t, e.do(req), http.StatusOK); got["sha256"] != sha(report(7)) {
		t.Errorf("sha256 = %v", got["sha256"])
	}
}

// randomReader yields n pseudo-random bytes without holding them.
type randomReader struct {
	rng *rand.ChaCha8
	n   int64
}

func (r *randomReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	r.rng.Read(p)
	r.n -= int64(len(p))
	return len(p), nil
}

// TestUploadMemoryFlat streams a 200 MB upload (an xlsx package, so that
// the type check runs on it too) through the handler and checks that the
// bytes allocated while serving it stay a small, fixed amount: the body is
// never held in memory.
func TestUploadMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB upload")
	}
	const size = 200 << 20
	e := newEnv(t, engine.Options{MaxUploadSize: size + 1<<20})
	tok := e.token("joao")

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	h := sha256.New()
	var sent countingWriter
	go func() {
		fw, err := mw.CreateFormFile("file", "grande.xlsx")
		if err == nil {
			sheet := &randomReader{rng: rand.NewChaCha8([32]byte{1}), n: size}
			err = writeXLSX(io.MultiWriter(fw, h, &sent), sheet)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req := httptest.NewRequest(http.MethodPost, "/upload?token="+tok, pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got := decode(t, e.do(req), http.StatusOK)
	runtime.ReadMemStats(&after)

	if got["sha256"] != hex.EncodeToString(h.Sum(nil)) || got["size"] != float64(sent.n) || sent.n < size {
		t.Fatalf("upload = %v, sent %d bytes", got, sent.n)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("allocated %d KiB to stream %d MiB", allocated>>10, size>>20)
	if allocated > 8<<20 {
		t.Errorf("allocated %d bytes for a %d byte upload; want under 8 MiB", allocated, size)
	}
}

// countingWriter counts the bytes written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// BenchmarkUpload60KB measures the whole upload path for a typical report.
func BenchmarkUpload60KB(b *testing.B) {
	benchUpload(b, 60<<10)
}

// BenchmarkUpload20MB measures the streaming throughput of one large upload.
func BenchmarkUpload20MB(b *testing.B) { benchUpload(b, 20<<20) }

func benchUpload(b *testing.B, size int) {
	e := newEnv(b, engine.Options{})
	tok := e.token("joao")
	sheet := make([]byte, size)
	rand.NewChaCha8([32]byte{2}).Read(sheet)
	content := xlsxWith(sheet)
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "pmg.xlsx")
	fw.Write(content)
	mw.Close()
	payload := buf.Bytes()
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/upload?token=%s", tok), bytes.NewReader(payload))
		req.Header.Set("Content-Type", mw.FormDataContentType())
		rec := httptest.NewRecorder()
		e.server.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
