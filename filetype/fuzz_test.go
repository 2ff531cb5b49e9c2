package filetype_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/pmgsync/pmgsync/filetype"
)

// FuzzCheck feeds arbitrary content to every type's checks: they never
// panic, give the same verdict however the content is split into writes,
// return only mismatches for content held in memory, and accept exactly
// what their type's definition says.
func FuzzCheck(f *testing.F) {
	f.Add(workbook(f, "[Content_Types].xml", "xl/workbook.xml"), uint16(3))
	f.Add(workbook(f, "xl/workbook.xml"), uint16(0))
	f.Add([]byte(ole2+"\x00\x00"), uint16(4))
	f.Add([]byte("a;b\n1;2\n"), uint16(1))
	f.Add([]byte("MZ\x90\x00"), uint16(2))
	f.Add([]byte("PK\x05\x06"+strings.Repeat("\x00", 18)), uint16(0))
	f.Fuzz(func(t *testing.T, content []byte, split uint16) {
		cut := int(split) % (len(content) + 1)
		for _, typ := range filetype.Known() {
			err := filetype.Check(typ, content)
			var m *filetype.MismatchError
			if err != nil && !errors.As(err, &m) {
				t.Fatalf("%s: Check = %v, want nil or a mismatch", typ, err)
			}

			s := typ.Sniffer()
			_, werr := s.Write(content[:cut])
			if werr == nil {
				_, werr = s.Write(content[cut:])
			}
			whole := typ.Sniffer()
			_, wholeErr := whole.Write(content)
			if (werr == nil) != (wholeErr == nil) {
				t.Fatalf("%s: split at %d gives %v, one write gives %v", typ, cut, werr, wholeErr)
			}

			var want bool
			switch typ {
			case filetype.CSV:
				want = bytes.IndexByte(content, 0) < 0
			case filetype.XLS:
				want = bytes.HasPrefix(content, []byte(ole2))
			case filetype.XLSX, filetype.XLSM:
				want = bytes.HasPrefix(content, []byte("PK\x03\x04")) && holdsContentTypes(content)
			}
			if got := err == nil; got != want {
				t.Fatalf("%s: Check = %v, want accepted = %v", typ, err, want)
			}
		}
	})
}

// holdsContentTypes is the definition CheckArchive implements, for content
// whose directory is within its bound.
func holdsContentTypes(content []byte) bool {
	zr, err := zip.NewReader(bytes.NewReader(content), int64(len(content)))
	if err != nil {
		return false
	}
	for _, f := range zr.File {
		if strings.EqualFold(f.Name, "[Content_Types].xml") {
			return true
		}
	}
	return false
}
