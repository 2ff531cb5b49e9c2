// Package filetype recognises the kinds of file pmgsync accepts, the
// spreadsheets of PMG reports, by extension and by content. It holds pure
// functions and types: it does no I/O beyond the readers it is given, and
// it keeps no state between calls.
//
// A file's content is checked in two steps. A Sniffer watches the bytes as
// they stream by and fails as soon as they cannot be a file of the claimed
// type (a renamed executable fails at its first bytes). Types whose check
// needs random access to the whole file (the ZIP packages xlsx and xlsm,
// whose directory is at the end) are then checked with Type.CheckArchive.
package filetype

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// Type is a kind of file, named by its extension in lower case without the
// dot, as in "xlsx".
type Type string

// The types this package can check.
const (
	// XLSX is an Office Open XML workbook: a ZIP package that holds
	// [Content_Types].xml.
	XLSX Type = "xlsx"
	// XLSM is a macro-enabled Office Open XML workbook, a package like XLSX.
	XLSM Type = "xlsm"
	// XLS is an Excel 97–2003 workbook: an OLE2 compound file.
	XLS Type = "xls"
	// CSV is delimited text. Any text is accepted; NUL bytes are not, since
	// they never occur in text and always occur in binary files.
	CSV Type = "csv"
)

// Known returns every type this package can check, which is also the
// default list of allowed types. Each call returns a new slice.
func Known() []Type { return []Type{XLSX, XLSM, XLS, CSV} }

// Parse returns the type named by ext, as a file name or an operator spells
// it: any case, with or without a leading dot, surrounding space ignored
// (".XLSX" and " xlsx" are XLSX). ok is false for a type it cannot check.
func Parse(ext string) (t Type, ok bool) {
	t = Type(strings.ToLower(strings.TrimPrefix(strings.TrimSpace(ext), ".")))
	switch t {
	case XLSX, XLSM, XLS, CSV:
		return t, true
	}
	return "", false
}

// ParseList parses a comma-separated list of types, as an operator writes
// it in a flag or a config file ("xlsx, xls,.CSV"), into their names in
// order without duplicates. It fails, naming the entry, for a type this
// package cannot check, and for a list with no type at all.
func ParseList(s string) ([]string, error) {
	var list []string
	seen := make(map[Type]bool)
	for _, entry := range strings.Split(s, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		t, ok := Parse(entry)
		if !ok {
			return nil, fmt.Errorf("unknown file type %q: known types are %s", strings.TrimSpace(entry), Join(Known()))
		}
		if !seen[t] {
			seen[t] = true
			list = append(list, string(t))
		}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no file type in %q: known types are %s", s, Join(Known()))
	}
	return list, nil
}

// Join lists types for a message: "xlsx, xlsm, xls, csv".
func Join(types []Type) string {
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// Ext returns the extension of a file's base name in lower case without
// the dot ("xlsx" for "PMG.XLSX"), or "" if it has none.
func Ext(name string) string {
	return strings.ToLower(strings.TrimPrefix(path.Ext(name), "."))
}

// MismatchError says that content is not a valid file of the type it
// claims to be, and why (for the log: the person who sent it only needs
// to know which types are accepted).
type MismatchError struct {
	Type   Type
	Reason string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("filetype: not a valid %s file: %s", e.Type, e.Reason)
}

func mismatch(t Type, format string, args ...any) *MismatchError {
	return &MismatchError{Type: t, Reason: fmt.Sprintf(format, args...)}
}

// Check reports whether content, whole, is a valid file of type t: nil, or
// a *MismatchError. It runs the Sniffer and CheckArchive, which is what a
// streaming caller does in two steps.
func Check(t Type, content []byte) error {
	s := t.Sniffer()
	if _, err := s.Write(content); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	return t.CheckArchive(bytes.NewReader(content), int64(len(content)))
}
