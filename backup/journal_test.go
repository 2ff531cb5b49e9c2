package backup

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

// FuzzJournal decodes arbitrary bytes as a journal, as a planted one is:
// no panic, and a journal that valid accepts names only entries of the
// data directory itself; and it encodes arbitrary names, which must come
// back byte for byte, UTF-8 or not.
func FuzzJournal(f *testing.F) {
	f.Add([]byte(`{"committed":true,"tmp":".restore-5f3a9c0e12b4d678","aside":".before-restore-20261204-093112","old":["blobs",{"base64":"UmVsYXTzcmlv"}],"new":["blobs","pmgsync.db"]}`))
	f.Add([]byte(`{"tmp":".restore-5f3a9c0e12b4d678","old":["../etc"],"new":[{"base64":null}]}`))
	f.Add([]byte("Relat\xf3rio-bomba-07.xlsx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var j journal
		if json.Unmarshal(b, &j) == nil && j.valid() {
			for _, name := range slices.Concat(j.Old, j.New, []string{j.Tmp, j.Aside}) {
				if name == "." || name == ".." || bytes.ContainsAny([]byte(name), "/\x00") {
					t.Fatalf("valid journal names %q", name)
				}
			}
		}

		var names nameList
		for _, name := range bytes.Split(b, []byte{0}) {
			names = append(names, string(name))
		}
		enc, err := json.Marshal(&journal{Old: names})
		if err != nil {
			t.Fatal(err)
		}
		var back journal
		if err := json.Unmarshal(enc, &back); err != nil {
			t.Fatalf("decode %s: %v", enc, err)
		}
		if !slices.Equal(back.Old, names) {
			t.Fatalf("names %q came back as %q", names, back.Old)
		}
	})
}
