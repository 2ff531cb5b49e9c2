package filetype_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/pmgsync/pmgsync/filetype"
)

// workbook returns a ZIP archive holding the named parts, each with a
// little XML, the way a spreadsheet program writes an xlsx.
func workbook(t testing.TB, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range parts {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><x/>`)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const ole2 = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"

func TestCheck(t *testing.T) {
	xlsx := workbook(t, "[Content_Types].xml", "_rels/.rels", "xl/workbook.xml")
	exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"), make([]byte, 100)...)
	tests := []struct {
		name    string
		typ     filetype.Type
		content []byte
		ok      bool
	}{
		{"xlsx", filetype.XLSX, xlsx, true},
		{"xlsm", filetype.XLSM, xlsx, true},
		{"xlsx lower-case part name", filetype.XLSX, workbook(t, "[content_types].xml"), true},
		{"xlsx without content types", filetype.XLSX, workbook(t, "xl/workbook.xml"), false},
		{"xlsx empty zip", filetype.XLSX, workbook(t), false},
		{"xlsx truncated", filetype.XLSX, xlsx[:len(xlsx)-10], false},
		{"xlsx local header only", filetype.XLSX, []byte("PK\x03\x04"), false},
		{"xlsx executable", filetype.XLSX, exe, false},
		{"xlsx text", filetype.XLSX, []byte("a;b\n1;2\n"), false},
		{"xlsx ole2", filetype.XLSX, []byte(ole2 + "rest"), false},
		{"xls", filetype.XLS, []byte(ole2 + strings.Repeat("\x00", 504)), true},
		{"xls signature only", filetype.XLS, []byte(ole2), true},
		{"xls short", filetype.XLS, []byte(ole2[:7]), false},
		{"xls executable", filetype.XLS, exe, false},
		{"xls zip", filetype.XLS, xlsx, false},
		{"csv", filetype.CSV, []byte("equipamento;data;status\nbomba 3;2026-12-01;ok\n"), true},
		{"csv utf-8 bom", filetype.CSV, []byte("\xEF\xBB\xBFinspeção;ok\r\n"), true},
		{"csv latin-1", filetype.CSV, []byte("inspe\xe7\xe3o;ok\n"), true},
		{"csv nul", filetype.CSV, []byte("a;b\n\x00"), false},
		{"csv executable", filetype.CSV, exe, false},
		{"csv utf-16", filetype.CSV, []byte("\xFF\xFEa\x00;\x00b\x00"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := filetype.Check(tt.typ, tt.content)
			if tt.ok {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var m *filetype.MismatchError
			if !errors.As(err, &m) || m.Type != tt.typ || m.Reason == "" {
				t.Fatalf("Check = %v, want a *MismatchError for %s", err, tt.typ)
			}
		})
	}
}

// The sniffer fails at the first bytes that rule the type out, so that a
// renamed executable is refused before the rest of it is read.
func TestSnifferFailsEarly(t *testing.T) {
	for _, typ := range []filetype.Type{filetype.XLSX, filetype.XLSM, filetype.XLS} {
		s := typ.Sniffer()
		if _, err := s.Write([]byte("M")); err == nil {
			t.Errorf("%s: first byte M accepted", typ)
		}
		if _, err := s.Write([]byte(ole2)); err == nil {
			t.Errorf("%s: write after a mismatch accepted", typ)
		}
	}
	s := filetype.CSV.Sniffer()
	if _, err := s.Write([]byte("a;b\n")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Write([]byte("c\x00d"))
	if err == nil || !strings.Contains(err.Error(), "offset 5") {
		t.Errorf("NUL at offset 5: %v", err)
	}
	if s.Close() == nil {
		t.Error("Close after a mismatch = nil")
	}
}

func TestSnifferByteAtATime(t *testing.T) {
	s := filetype.XLS.Sniffer()
	for i := range len(ole2) {
		if _, err := s.Write([]byte{ole2[i]}); err != nil {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckArchiveOtherTypes(t *testing.T) {
	for _, typ := range []filetype.Type{filetype.XLS, filetype.CSV} {
		if typ.HasArchiveCheck() {
			t.Errorf("%s has an archive check", typ)
		}
		if err := typ.CheckArchive(failingReaderAt{}, 100); err != nil {
			t.Errorf("%s: CheckArchive read its input: %v", typ, err)
		}
	}
}

// failingReaderAt is a disk that fails every read.
type failingReaderAt struct{}

func (failingReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("I/O error") }

// A read error is the caller's problem, not a verdict on the content.
func TestCheckArchiveReadError(t *testing.T) {
	err := filetype.XLSX.CheckArchive(failingReaderAt{}, 4096)
	var m *filetype.MismatchError
	if err == nil || errors.As(err, &m) || !strings.Contains(err.Error(), "I/O error") {
		t.Errorf("CheckArchive = %v, want the read error", err)
	}
}

// A ZIP directory of more than 1 MiB is refused without being read whole.
func TestCheckArchiveBoundsDirectory(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range 20000 {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: strings.Repeat("x", 40) + string(rune('a'+i%26)), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := zw.Create("[Content_Types].xml")
	io.WriteString(w, "<x/>")
	zw.Close()
	r := &countingReaderAt{r: bytes.NewReader(buf.Bytes())}
	err := filetype.XLSX.CheckArchive(r, int64(buf.Len()))
	var m *filetype.MismatchError
	if !errors.As(err, &m) {
		t.Fatalf("CheckArchive = %v, want a mismatch", err)
	}
	if r.n > 1<<20 {
		t.Errorf("read %d bytes, want at most 1 MiB", r.n)
	}
}

type countingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

func TestParse(t *testing.T) {
	for in, want := range map[string]filetype.Type{"xlsx": filetype.XLSX, ".XLSM": filetype.XLSM, " Xls ": filetype.XLS, "csv": filetype.CSV} {
		if got, ok := filetype.Parse(in); !ok || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"", ".", "exe", "xlsx.exe", "pdf"} {
		if got, ok := filetype.Parse(in); ok {
			t.Errorf("Parse(%q) = %q, want unknown", in, got)
		}
	}
}

func TestParseList(t *testing.T) {
	got, err := filetype.ParseList(" XLSX, .csv,xlsx,, xls ")
	if want := []string{"xlsx", "csv", "xls"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseList = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []string{"", " , ", "xlsx,exe", "pdf"} {
		if got, err := filetype.ParseList(bad); err == nil {
			t.Errorf("ParseList(%q) = %q, want an error", bad, got)
		}
	}
	if _, err := filetype.ParseList("xlsx,exe"); err == nil || !strings.Contains(err.Error(), `"exe"`) {
		t.Errorf("error %v does not name the unknown type", err)
	}
}

func TestExt(t *testing.T) {
	for name, want := range map[string]string{
		"PMG.XLSX":            "xlsx",
		"relatório.final.csv": "csv",
		"sem-extensao":        "",
		"ponto.":              "",
		".xlsx":               "xlsx",
		"relatorio.xlsx.exe":  "exe",
	} {
		if got := filetype.Ext(name); got != want {
			t.Errorf("Ext(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestKnownAndJoin(t *testing.T) {
	known := filetype.Known()
	if got := filetype.Join(known); got != "xlsx, xlsm, xls, csv" {
		t.Errorf("Join(Known()) = %q", got)
	}
	known[0] = "exe"
	if filetype.Known()[0] != filetype.XLSX {
		t.Error("Known returns a shared slice")
	}
}
