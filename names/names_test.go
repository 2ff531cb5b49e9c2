package names

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/pmgsync/pmgsync"
)

func TestFromUpload(t *testing.T) {
	nfd := norm.NFD.String("inspeção.xlsx")
	tests := []struct {
		in, want string
	}{
		{"relatorio.xlsx", "relatorio.xlsx"},
		{"PMG 2026-12-01 Bomba 3.xlsx", "PMG 2026-12-01 Bomba 3.xlsx"},
		{"/storage/emulated/0/Download/pmg.xlsx", "pmg.xlsx"},
		{`C:\Users\joao\Desktop\pmg.xlsx`, "pmg.xlsx"},
		{"../../etc/passwd", "passwd"},
		{`..\..\tokens.txt`, "tokens.txt"},
		{nfd, "inspeção.xlsx"},
		{"dir/" + nfd, "inspeção.xlsx"},
		{"..relatorio", "..relatorio"},
		{"...", "..."},
		{strings.Repeat("a", 255), strings.Repeat("a", 255)},
	}
	for _, tt := range tests {
		got, err := FromUpload(tt.in)
		if err != nil {
			t.Errorf("FromUpload(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("FromUpload(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFromUploadRejects(t *testing.T) {
	tests := []struct {
		in, key string
	}{
		{"", pmgsync.MsgNameEmpty},
		{"reports/", pmgsync.MsgNameEmpty},
		{`reports\`, pmgsync.MsgNameEmpty},
		{".", pmgsync.MsgNameDots},
		{"..", pmgsync.MsgNameDots},
		{"/srv/..", pmgsync.MsgNameDots},
		{"a\x00b.xlsx", pmgsync.MsgNameControl},
		{"a\nb.xlsx", pmgsync.MsgNameControl},
		{"a\x7fb.xlsx", pmgsync.MsgNameControl},
		{"a\u0085b.xlsx", pmgsync.MsgNameControl},
		{"report\u202Exslx.exe", pmgsync.MsgNameControl},
		{"a\xffb.xlsx", pmgsync.MsgNameUTF8},
		{strings.Repeat("a", 256), pmgsync.MsgNameTooLong},
		{strings.Repeat("ç", 128), pmgsync.MsgNameTooLong}, // 256 bytes in NFC
	}
	for _, tt := range tests {
		_, err := FromUpload(tt.in)
		var e *pmgsync.Error
		if !asError(err, &e) || e.Code != pmgsync.EINVALID || e.Key != tt.key {
			t.Errorf("FromUpload(%q) error = %v, want EINVALID %s", tt.in, err, tt.key)
		}
	}
}

// A name at the limit in NFD may fit in NFC: the limit applies to what is stored.
func TestLengthCountsNFC(t *testing.T) {
	in := norm.NFD.String(strings.Repeat("ç", 127)) // 381 bytes in NFD, 254 in NFC
	got, err := FromUpload(in)
	if err != nil {
		t.Fatalf("FromUpload: %v", err)
	}
	if len(got) != 254 {
		t.Errorf("len = %d, want 254", len(got))
	}
}

func TestForLookup(t *testing.T) {
	got, err := ForLookup(norm.NFD.String("inspeção.xlsx"))
	if err != nil || got != "inspeção.xlsx" {
		t.Errorf("ForLookup(NFD) = %q, %v; want NFC form", got, err)
	}
	for _, in := range []string{"../b/report.xlsx", `..\b\report.xlsx`, "/etc/passwd", "a/b"} {
		_, err := ForLookup(in)
		if code := pmgsync.ErrorCode(err); code != pmgsync.ENOTFOUND {
			t.Errorf("ForLookup(%q) code = %q, want ENOTFOUND", in, code)
		}
	}
	if _, err := ForLookup(".."); pmgsync.ErrorCode(err) != pmgsync.EINVALID {
		t.Errorf(`ForLookup("..") = %v, want EINVALID`, err)
	}
}

// FuzzFromUpload checks the promises every stored name keeps, whatever a
// client sends.
func FuzzFromUpload(f *testing.F) {
	for _, s := range []string{"relatorio.xlsx", "../../x", `a\b`, "ção", "\x00", "\u202E", ".."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, err := FromUpload(in)
		if err != nil {
			if pmgsync.ErrorCode(err) != pmgsync.EINVALID {
				t.Fatalf("FromUpload(%q): code %q, want EINVALID", in, pmgsync.ErrorCode(err))
			}
			return
		}
		switch {
		case name == "" || name == "." || name == "..":
			t.Fatalf("FromUpload(%q) = %q", in, name)
		case strings.ContainsAny(name, `/\`):
			t.Fatalf("FromUpload(%q) = %q holds a separator", in, name)
		case !utf8.ValidString(name) || !norm.NFC.IsNormalString(name):
			t.Fatalf("FromUpload(%q) = %q is not valid NFC", in, name)
		case len(name) > pmgsync.MaxNameBytes:
			t.Fatalf("FromUpload(%q) is %d bytes", in, len(name))
		}
		for _, r := range name {
			if forbidden(r) {
				t.Fatalf("FromUpload(%q) = %q holds %U", in, name, r)
			}
		}
		again, err := FromUpload(name)
		if err != nil || again != name {
			t.Fatalf("FromUpload is not idempotent on %q: %q, %v", name, again, err)
		}
		if looked, err := ForLookup(name); err != nil || looked != name {
			t.Fatalf("ForLookup(%q) = %q, %v; want the same name", name, looked, err)
		}
	})
}

func asError(err error, target **pmgsync.Error) bool {
	e, ok := err.(*pmgsync.Error)
	if ok {
		*target = e
	}
	return ok
}

// BenchmarkFromUpload validates the names of uploads as the apps send them:
// a plain ASCII report name, an accented one in NFD (as an iPhone sends
// it), and a full Android path whose directories are dropped.
func BenchmarkFromUpload(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"ascii", "relatorio-bomba-07.xlsx"},
		{"nfd", norm.NFD.String("inspeção-subestação-são-josé.xlsx")},
		{"path", "/storage/emulated/0/Download/PMG 2026-12-01 Bomba 3.xlsx"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := FromUpload(bc.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkForLookup validates the filename parameter of a pull.
func BenchmarkForLookup(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ForLookup("relatorio-bomba-07.xlsx"); err != nil {
			b.Fatal(err)
		}
	}
}
