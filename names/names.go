// Package names turns the file names that clients send into the names under
// which reports are stored and looked up. A name is only ever a key in the
// metadata store, never a path; these rules keep keys unambiguous and safe to
// show: one Unicode form (NFC), no directory part, no control characters.
package names

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/pmgsync/pmgsync"
)

// FromUpload returns the stored name for the filename of an upload: its base
// name (whatever precedes the last '/' or '\' is dropped, as phones and
// Windows browsers send full paths) in NFC. It returns an EINVALID
// *pmgsync.Error when the base name is empty, "." or "..", holds a control or
// bidirectional-override character, is not valid UTF-8, or is longer than
// pmgsync.MaxNameBytes in NFC.
func FromUpload(filename string) (string, error) {
	if i := strings.LastIndexAny(filename, `/\`); i >= 0 {
		filename = filename[i+1:]
	}
	return check(filename)
}

// ForLookup returns the stored name that a filename parameter of a pull or a
// delete designates: the same rules as FromUpload, except that a name with a
// '/' or '\' designates nothing (ENOTFOUND) instead of being cut to its base,
// so that "../other/report.xlsx" can never reach any file.
func ForLookup(filename string) (string, error) {
	if strings.ContainsAny(filename, `/\`) {
		return "", pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
	}
	return check(filename)
}

func check(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgNameUTF8)
	}
	name = norm.NFC.String(name)
	switch name {
	case "":
		return "", pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgNameEmpty)
	case ".", "..":
		return "", pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgNameDots, name)
	}
	for _, r := range name {
		if forbidden(r) {
			return "", pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgNameControl)
		}
	}
	if len(name) > pmgsync.MaxNameBytes {
		return "", pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgNameTooLong, len(name), pmgsync.MaxNameBytes)
	}
	return name, nil
}

// forbidden reports whether r may not appear in a name: C0 and C1 control
// characters, DEL, and the bidirectional embedding, override and isolate
// characters that make "report\u202Exslx.exe" display as "reportexe.xlsx".
func forbidden(r rune) bool {
	if unicode.IsControl(r) {
		return true
	}
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}
