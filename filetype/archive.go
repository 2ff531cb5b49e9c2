package filetype

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"strings"
)

// contentTypesPart is the part every Office Open XML package must hold
// (ECMA-376 part 2, the Open Packaging Conventions).
const contentTypesPart = "[Content_Types].xml"

// maxArchiveRead bounds the bytes CheckArchive reads: the end of the file,
// where it looks for the ZIP directory, and the directory itself. A real
// workbook's directory takes a few KiB (about 80 bytes a part); 1 MiB is
// over ten thousand parts. The bound keeps the memory that archive/zip
// spends on directory entries small, however many entries a crafted file
// declares.
const maxArchiveRead = 1 << 20

// HasArchiveCheck reports whether CheckArchive has anything to check for
// t, so that a caller can skip opening the file for the other types.
func (t Type) HasArchiveCheck() bool { return t == XLSX || t == XLSM }

// CheckArchive checks what a Sniffer cannot: for XLSX and XLSM, that the
// size bytes of r are a ZIP archive whose central directory lists
// [Content_Types].xml (compared without regard to case, as OPC part names
// are). It reads only the end of the file and its directory, at most
// 1 MiB, and decompresses nothing. For other types it reads nothing and
// returns nil. It returns a *MismatchError when the content is not valid,
// and any other error only when reading r fails.
func (t Type) CheckArchive(r io.ReaderAt, size int64) error {
	if !t.HasArchiveCheck() {
		return nil
	}
	br := &budgetReaderAt{r: r, left: maxArchiveRead}
	zr, err := zip.NewReader(br, size)
	switch {
	case br.readErr != nil:
		return fmt.Errorf("filetype: read archive: %w", br.readErr)
	case br.exhausted:
		return mismatch(t, "the ZIP directory is larger than %d bytes", maxArchiveRead)
	case errors.Is(err, zip.ErrInsecurePath) && zr != nil:
		// Only reported when GODEBUG asks for it; names are never used as
		// paths here, so the archive is still good enough to look into.
	case err != nil:
		return mismatch(t, "not a ZIP archive: %v", err)
	}
	for _, f := range zr.File {
		if strings.EqualFold(f.Name, contentTypesPart) {
			return nil
		}
	}
	return mismatch(t, "the ZIP archive holds no %s", contentTypesPart)
}

// budgetReaderAt passes reads through to r until left bytes have been
// read, then fails them all, remembering why reads failed so that
// CheckArchive can tell a crafted file from a failing disk.
type budgetReaderAt struct {
	r         io.ReaderAt
	left      int64
	exhausted bool
	readErr   error // the first error of r other than io.EOF
}

func (b *budgetReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > b.left {
		b.exhausted = true
		return 0, errors.New("filetype: read budget exhausted")
	}
	n, err := b.r.ReadAt(p, off)
	b.left -= int64(n)
	if err != nil && !errors.Is(err, io.EOF) && b.readErr == nil {
		b.readErr = err
	}
	return n, err
}
