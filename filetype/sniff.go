package filetype

import (
	"bytes"
	"strings"
)

// Signatures that files of a type begin with.
const (
	// zipLocalHeader begins a ZIP archive whose first entry is a file, as
	// every Office Open XML package written by a spreadsheet program does.
	zipLocalHeader = "PK\x03\x04"
	// ole2Signature begins every OLE2 compound file, the container of xls.
	ole2Signature = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"
)

// Sniffer checks, as the bytes of a file pass through its Write, that they
// can be a file of its type. It keeps at most a few bytes of its own, so it
// can watch a stream of any length. It is not safe for concurrent use.
type Sniffer struct {
	typ  Type
	sig  string // the signature the content must begin with; "" for none
	head []byte // the first bytes seen, up to len(sig)
	n    int64  // bytes seen
	err  error  // the first mismatch, returned from then on
}

// Sniffer returns a new Sniffer for content that claims to be of type t.
// For a type this package does not know it accepts any content.
func (t Type) Sniffer() *Sniffer {
	s := &Sniffer{typ: t}
	switch t {
	case XLSX, XLSM:
		s.sig = zipLocalHeader
	case XLS:
		s.sig = ole2Signature
	}
	s.head = make([]byte, 0, len(s.sig))
	return s
}

// Write looks at the next bytes of the content. It returns len(p), nil while
// the content seen so far can begin a file of the type, and a
// *MismatchError as soon as it cannot, and from then on. Feeding the
// content in any number of writes gives the same verdict.
func (s *Sniffer) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if need := len(s.sig) - len(s.head); need > 0 {
		got := p[:min(need, len(p))]
		if !strings.HasPrefix(s.sig[len(s.head):], string(got)) {
			s.err = mismatch(s.typ, "the content begins with % x, not with the signature % x", append(s.head, got...), s.sig)
			return 0, s.err
		}
		s.head = append(s.head, got...)
	}
	if s.typ == CSV {
		if i := bytes.IndexByte(p, 0); i >= 0 {
			s.err = mismatch(s.typ, "NUL byte at offset %d: binary content", s.n+int64(i))
			return 0, s.err
		}
	}
	s.n += int64(len(p))
	return len(p), nil
}

// Close gives the verdict on the content written, taken as a whole: nil,
// or a *MismatchError (for a content shorter than its type's signature,
// say). It does not run CheckArchive, which needs random access.
func (s *Sniffer) Close() error {
	if s.err != nil {
		return s.err
	}
	if len(s.head) < len(s.sig) {
		s.err = mismatch(s.typ, "only %d bytes: too short for the signature % x", s.n, s.sig)
	}
	return s.err
}
