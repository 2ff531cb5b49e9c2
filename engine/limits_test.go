package engine_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// newLimitFixture is newFixture with an engine built from opts.
func newLimitFixture(t *testing.T, opts engine.Options) *fixture {
	t.Helper()
	f := newFixture(t)
	opts.Now = func() time.Time { return f.now }
	f.eng = engine.New(f.meta, f.blobs, opts)
	return f
}

// workbook returns a ZIP archive holding the named parts, as a spreadsheet
// program writes an xlsx.
func workbook(t *testing.T, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range parts {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "<x/>")
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// endlessReader yields 'a' for ever, counting what it gave.
type endlessReader struct{ n int64 }

func (r *endlessReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	r.n += int64(len(p))
	return len(p), nil
}

// unreadReader fails the test if anything reads it.
type unreadReader struct{ t *testing.T }

func (r unreadReader) Read([]byte) (int, error) {
	r.t.Error("the upload's body was read")
	return 0, io.EOF
}

func wantCode(t *testing.T, err error, code, key string) {
	t.Helper()
	var e *pmgsync.Error
	if pmgsync.ErrorCode(err) != code || !errors.As(err, &e) || e.Key != key {
		t.Fatalf("err = %v, want %s with message %s", err, code, key)
	}
}

func TestUploadSizeLimit(t *testing.T) {
	ctx := context.Background()
	f := newLimitFixture(t, engine.Options{MaxUploadSize: 1000})
	joao := f.technician(t, "joao")
	if got := f.eng.MaxUploadSize(); got != 1000 {
		t.Errorf("MaxUploadSize = %d", got)
	}
	if _, err := f.eng.Upload(ctx, joao, "pmg.csv", strings.NewReader(strings.Repeat("a", 1000)), 1000); err != nil {
		t.Fatalf("upload of exactly the limit: %v", err)
	}
	_, err := f.eng.Upload(ctx, joao, "pmg.csv", strings.NewReader(strings.Repeat("b", 1001)), -1)
	wantCode(t, err, pmgsync.ETOOLARGE, pmgsync.MsgTooLarge)
	if got := pmgsync.ErrorMessage(pmgsync.PortugueseBR, err); got != "o arquivo é maior que o limite de 1000 bytes" {
		t.Errorf("message = %q", got)
	}
	// The limit holds while streaming: a body without end is cut short.
	endless := &endlessReader{}
	_, err = f.eng.Upload(ctx, joao, "pmg.csv", endless, -1)
	wantCode(t, err, pmgsync.ETOOLARGE, pmgsync.MsgTooLarge)
	if got := f.content(t, joao, "pmg.csv"); got != strings.Repeat("a", 1000) {
		t.Errorf("content = %d bytes, want the first upload's", len(got))
	}
	if n := f.blobCount(t); n != 1 {
		t.Errorf("%d blobs, want 1", n)
	}
	assertNoTemp(t, f)
}

func TestUploadSizeLimitDefault(t *testing.T) {
	f := newLimitFixture(t, engine.Options{MaxUploadSize: -5})
	if got := f.eng.MaxUploadSize(); got != engine.DefaultMaxUploadSize || engine.DefaultMaxUploadSize != 50<<20 {
		t.Errorf("MaxUploadSize = %d, want 50 MiB", got)
	}
	want := "the file is larger than the limit of 50 MiB"
	if got := pmgsync.ErrorMessage(pmgsync.English, f.eng.TooLarge()); got != want {
		t.Errorf("TooLarge = %q, want %q", got, want)
	}
}

// assertNoTemp checks that no temporary file of a refused upload is left.
func assertNoTemp(t *testing.T, f *fixture) {
	t.Helper()
	entries, err := os.ReadDir(f.dir + "/blobs/tmp")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%d temporary files left", len(entries))
	}
}

func TestUploadTypes(t *testing.T) {
	ctx := context.Background()
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00"), bytes.Repeat([]byte{0}, 4096)...)
	tests := []struct {
		name    string
		allowed []string
		file    string
		content []byte
		code    string // "" for success
		key     string
	}{
		{"xlsx", nil, "pmg.xlsx", workbook(t, "[Content_Types].xml", "xl/workbook.xml"), "", ""},
		{"xlsm", nil, "pmg.XLSM", workbook(t, "[Content_Types].xml"), "", ""},
		{"xls", nil, "pmg.xls", append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), make([]byte, 512)...), "", ""},
		{"csv", nil, "pmg.csv", []byte("equipamento;status\nbomba;ok\n"), "", ""},
		{"exe as xlsx", nil, "relatorio.xlsx", exe, pmgsync.EUNSUPPORTED, pmgsync.MsgTypeMismatch},
		{"exe as xls", nil, "relatorio.xls", exe, pmgsync.EUNSUPPORTED, pmgsync.MsgTypeMismatch},
		{"exe as csv", nil, "relatorio.csv", exe, pmgsync.EUNSUPPORTED, pmgsync.MsgTypeMismatch},
		{"zip without content types", nil, "pmg.xlsx", workbook(t, "xl/workbook.xml"), pmgsync.EUNSUPPORTED, pmgsync.MsgTypeMismatch},
		{"empty", nil, "pmg.xlsx", nil, pmgsync.EINVALID, pmgsync.MsgEmptyFile},
		{"empty csv", nil, "pmg.csv", nil, pmgsync.EINVALID, pmgsync.MsgEmptyFile},
		{"csv not allowed", []string{"xlsx", ".XLS"}, "pmg.csv", []byte("a;b\n"), pmgsync.EUNSUPPORTED, pmgsync.MsgTypeNotAllowed},
		{"xls allowed", []string{"xlsx", ".XLS"}, "pmg.xls", []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), "", ""},
		{"unknown entry ignored", []string{"exe", "csv"}, "setup.exe", exe, pmgsync.EUNSUPPORTED, pmgsync.MsgTypeNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newLimitFixture(t, engine.Options{AllowedTypes: tt.allowed})
			joao := f.technician(t, "joao")
			file, err := f.eng.Upload(ctx, joao, tt.file, bytes.NewReader(tt.content), int64(len(tt.content)))
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := f.content(t, joao, file.Name); got != string(tt.content) {
					t.Errorf("stored %d bytes, want %d", len(got), len(tt.content))
				}
				return
			}
			wantCode(t, err, tt.code, tt.key)
			if n := f.blobCount(t); n != 0 {
				t.Errorf("%d blobs left", n)
			}
			assertNoTemp(t, f)
			if files, _ := f.eng.List(ctx, joao); len(files) != 0 {
				t.Errorf("files = %v", files)
			}
		})
	}
}

func TestUploadTypeMessages(t *testing.T) {
	ctx := context.Background()
	f := newLimitFixture(t, engine.Options{})
	joao := f.technician(t, "joao")
	if got := strings.Join(f.eng.AllowedTypes(), ","); got != "xlsx,xlsm,xls,csv" {
		t.Errorf("AllowedTypes = %s", got)
	}
	// The extension is refused before a byte is read.
	_, err := f.eng.Upload(ctx, joao, "relatorio.pdf", unreadReader{t}, -1)
	wantCode(t, err, pmgsync.EUNSUPPORTED, pmgsync.MsgTypeNotAllowed)
	want := `files of type "pdf" are not accepted; allowed types: xlsx, xlsm, xls, csv`
	if got := pmgsync.ErrorMessage(pmgsync.English, err); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	_, err = f.eng.Upload(ctx, joao, "relatorio.xlsx", strings.NewReader("MZ"), -1)
	want = "o conteúdo do arquivo não é um arquivo xlsx válido; tipos permitidos: xlsx, xlsm, xls, csv"
	if got := pmgsync.ErrorMessage(pmgsync.PortugueseBR, err); got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
}

// A renamed executable is refused at its first bytes, not after the whole
// body has been read and stored.
func TestUploadMismatchFailsWhileStreaming(t *testing.T) {
	f := newLimitFixture(t, engine.Options{})
	joao := f.technician(t, "joao")
	r := io.MultiReader(strings.NewReader("MZ\x90\x00"), &endlessReader{})
	_, err := f.eng.Upload(context.Background(), joao, "relatorio.xls", r, -1)
	wantCode(t, err, pmgsync.EUNSUPPORTED, pmgsync.MsgTypeMismatch)
}

// freeSpace is an injectable free-space probe: it answers from its
// answers in turn, repeating the last, and counts its calls.
type freeSpace struct {
	mu      sync.Mutex
	answers [][2]uint64 // free, total
	err     error
	calls   int
}

func (p *freeSpace) probe() (uint64, uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.answers[min(p.calls, len(p.answers)-1)]
	p.calls++
	return a[0], a[1], p.err
}

func TestFreeSpaceGuard(t *testing.T) {
	const gib = 1 << 30
	ctx := context.Background()
	content := []byte("a;b\n1;2\n")
	tests := []struct {
		name     string
		opts     engine.Options
		answers  [][2]uint64
		expected int64
		refused  bool
	}{
		// 5% of 1 TiB is over the 1 GiB default: the threshold is 1 GiB.
		{"big disk above", engine.Options{}, [][2]uint64{{gib + 100, 1 << 40}}, -1, false},
		{"big disk below", engine.Options{}, [][2]uint64{{gib - 1, 1 << 40}}, -1, true},
		{"expected size crosses", engine.Options{}, [][2]uint64{{gib + 100, 1 << 40}}, 101, true},
		{"expected size fits", engine.Options{}, [][2]uint64{{gib + 100, 1 << 40}}, 100, false},
		// 5% of 10 GiB is 512 MiB, smaller than 1 GiB.
		{"small disk above", engine.Options{}, [][2]uint64{{600 << 20, 10 * gib}}, -1, false},
		{"small disk below", engine.Options{}, [][2]uint64{{500 << 20, 10 * gib}}, -1, true},
		{"configured bytes", engine.Options{MinFreeBytes: 1000, MinFreePercent: 50}, [][2]uint64{{999, 1 << 40}}, -1, true},
		{"configured percent", engine.Options{MinFreeBytes: 1 << 40, MinFreePercent: 10}, [][2]uint64{{101, 1000}}, -1, false},
		// Room at the start, none left once the blob is written.
		{"full at the commit", engine.Options{}, [][2]uint64{{2 * gib, 1 << 40}, {gib - 1, 1 << 40}}, -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &freeSpace{answers: tt.answers}
			tt.opts.FreeSpace = p.probe
			f := newLimitFixture(t, tt.opts)
			joao := f.technician(t, "joao")
			_, err := f.eng.Upload(ctx, joao, "pmg.csv", bytes.NewReader(content), tt.expected)
			if !tt.refused {
				if err != nil {
					t.Fatal(err)
				}
				if p.calls != 2 {
					t.Errorf("probe called %d times, want before the upload and before the commit", p.calls)
				}
				return
			}
			wantCode(t, err, pmgsync.ESTORAGE, pmgsync.MsgDiskFull)
			if n := f.blobCount(t); n != 0 {
				t.Errorf("%d blobs left", n)
			}
		})
	}
}

// Below the threshold, uploads are refused while reads and deletes go on.
func TestFreeSpaceGuardKeepsReadsAndDeletes(t *testing.T) {
	ctx := context.Background()
	p := &freeSpace{answers: [][2]uint64{{10 << 30, 1 << 40}}}
	f := newLimitFixture(t, engine.Options{FreeSpace: p.probe})
	joao := f.technician(t, "joao")
	if _, err := f.eng.Upload(ctx, joao, "pmg.csv", strings.NewReader("v1"), -1); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.answers = [][2]uint64{{1 << 20, 1 << 40}}
	p.mu.Unlock()

	_, err := f.eng.Upload(ctx, joao, "other.csv", unreadReader{t}, -1)
	wantCode(t, err, pmgsync.ESTORAGE, pmgsync.MsgDiskFull)
	// Imports are held back too.
	_, _, err = f.eng.ImportFile(ctx, joao, "old.csv", unreadReader{t}, t0)
	wantCode(t, err, pmgsync.ESTORAGE, pmgsync.MsgDiskFull)

	if got := f.content(t, joao, "pmg.csv"); got != "v1" {
		t.Errorf("content = %q", got)
	}
	if files, err := f.eng.List(ctx, joao); err != nil || len(files) != 1 {
		t.Errorf("List = %v, %v", files, err)
	}
	if _, err := f.eng.Delete(ctx, joao, "pmg.csv"); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func TestFreeSpaceProbeError(t *testing.T) {
	p := &freeSpace{answers: [][2]uint64{{0, 0}}, err: errors.New("statfs: I/O error")}
	f := newLimitFixture(t, engine.Options{FreeSpace: p.probe})
	joao := f.technician(t, "joao")
	_, err := f.eng.Upload(context.Background(), joao, "pmg.csv", unreadReader{t}, -1)
	if pmgsync.ErrorCode(err) != pmgsync.EINTERNAL || !strings.Contains(err.Error(), "I/O error") {
		t.Errorf("err = %v, want an internal error wrapping the probe's", err)
	}
}

// Files of the old server are imported whatever their type and size.
func TestImportIgnoresSizeAndType(t *testing.T) {
	f := newLimitFixture(t, engine.Options{MaxUploadSize: 10})
	joao := f.technician(t, "joao")
	content := "MZ not a spreadsheet, and longer than ten bytes"
	if _, ok, err := f.eng.ImportFile(context.Background(), joao, "notas.txt", strings.NewReader(content), t0); err != nil || !ok {
		t.Fatalf("ImportFile = %v, %v", ok, err)
	}
	if got := f.content(t, joao, "notas.txt"); got != content {
		t.Errorf("content = %q", got)
	}
}

func TestDiskFreeSpace(t *testing.T) {
	free, total, err := engine.DiskFreeSpace(t.TempDir())()
	if err != nil || total == 0 || free > total {
		t.Errorf("DiskFreeSpace = %d, %d, %v", free, total, err)
	}
	if _, _, err := engine.DiskFreeSpace(t.TempDir() + "/missing")(); err == nil {
		t.Error("DiskFreeSpace of a missing directory: no error")
	}
}

// seekOnlyBlobs is a blob store whose blobs are not io.ReaderAt, as an
// object store's are not.
type seekOnlyBlobs struct{ pmgsync.BlobStore }

func (s seekOnlyBlobs) Open(ctx context.Context, key string) (io.ReadSeekCloser, error) {
	rc, err := s.BlobStore.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	return struct{ io.ReadSeekCloser }{rc}, nil
}

func TestArchiveCheckWithoutReaderAt(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.eng = engine.New(f.meta, seekOnlyBlobs{f.blobs}, engine.Options{Now: func() time.Time { return f.now }})
	joao := f.technician(t, "joao")
	good := workbook(t, "_rels/.rels", "[Content_Types].xml")
	if _, err := f.eng.Upload(ctx, joao, "pmg.xlsx", bytes.NewReader(good), -1); err != nil {
		t.Fatal(err)
	}
	_, err := f.eng.Upload(ctx, joao, "pmg.xlsx", bytes.NewReader(workbook(t, "_rels/.rels")), -1)
	wantCode(t, err, pmgsync.EUNSUPPORTED, pmgsync.MsgTypeMismatch)
	if got := f.content(t, joao, "pmg.xlsx"); got != string(good) {
		t.Error("the refused upload replaced the file")
	}
	if n := f.blobCount(t); n != 1 {
		t.Errorf("%d blobs, want 1", n)
	}
}
