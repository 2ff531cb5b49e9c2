package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
)

// The exact lines of "pmgsync verify", which scripts may read.
func TestProblemLine(t *testing.T) {
	const key = "0f3a9c1e5b7d2f4a6c8e0b1d3f5a7c9e"
	marked := time.Date(2026, 12, 4, 22, 10, 0, 0, time.UTC)
	file := func(damage string) *pmgsync.File {
		f := &pmgsync.File{Name: "relatório bomba 07.xlsx", Size: 48213, SHA256: strings.Repeat("ab", 32), BlobKey: key}
		if damage != "" {
			f.Damage, f.DamagedAt = damage, marked
		}
		return f
	}
	prefix := `technician "João Silva", file "relatório bomba 07.xlsx", blob ` + key + `: `
	for _, tt := range []struct {
		p      engine.VerifyProblem
		repair bool
		want   string
	}{
		{engine.VerifyProblem{Kind: engine.ProblemMissing, Technician: "João Silva", File: file(""), BlobKey: key}, false,
			"missing: " + prefix + "the blob does not exist"},
		{engine.VerifyProblem{Kind: engine.ProblemMissing, Technician: "João Silva", File: file(pmgsync.DamageMissing), BlobKey: key, Repaired: true}, true,
			"missing: " + prefix + "the blob does not exist; marked damaged"},
		{engine.VerifyProblem{Kind: engine.ProblemCorrupt, Technician: "João Silva", File: file(""), BlobKey: key, Size: 48213, SHA256: strings.Repeat("cd", 32)}, false,
			"corrupt: " + prefix + "sha256 mismatch: the blob has " + strings.Repeat("cd", 32) + ", recorded " + strings.Repeat("ab", 32)},
		{engine.VerifyProblem{Kind: engine.ProblemCorrupt, Technician: "João Silva", File: file(""), BlobKey: key, Size: 4096}, true,
			"corrupt: " + prefix + "size mismatch: the blob has 4096 bytes, recorded 48213; NOT repaired: see the errors"},
		{engine.VerifyProblem{Kind: engine.ProblemDamaged, Technician: "João Silva", File: file(pmgsync.DamageCorrupt), BlobKey: key}, true,
			"damaged: " + prefix + "marked corrupt on " + formatTime(marked, toMinute, "") + "; not served until deleted, sent again or expired"},
		{engine.VerifyProblem{Kind: engine.ProblemOrphan, BlobKey: key, Size: 3 << 10, ModTime: marked, Repaired: true}, true,
			"orphan: blob " + key + ": no file references it (3 KiB, written " + formatTime(marked, toMinute, "") + "); removed"},
	} {
		if got := problemLine(&tt.p, tt.repair); got != tt.want {
			t.Errorf("problemLine(%s, repair %v):\n got %q\nwant %q", tt.p.Kind, tt.repair, got, tt.want)
		}
	}
}

// Progress is one line, rewritten at most every progressInterval, and
// erased at the end.
func TestVerifyProgress(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)
	p := &progressLine{w: &out, now: func() time.Time { return now }}
	show := func(v engine.VerifyProgress) { p.show(func() string { return verifyProgress(v) }) }
	show(engine.VerifyProgress{Files: 1, TotalFiles: 3, Bytes: 2048, TotalBytes: 3 << 20})
	now = now.Add(progressInterval / 2)
	show(engine.VerifyProgress{Files: 2, TotalFiles: 3, Bytes: 4096, TotalBytes: 3 << 20}) // too soon: not shown
	now = now.Add(progressInterval)
	show(engine.VerifyProgress{Files: 3, TotalFiles: 3, Bytes: 3 << 20, TotalBytes: 3 << 20, Blobs: 500})
	p.end(nil)
	want := "\rchecked 1/3 files, 2 KiB/3 MiB hashed\033[K" +
		"\rchecked 3/3 files, 3 MiB/3 MiB hashed, 500 blobs looked at\033[K" +
		"\r\033[K"
	if got := out.String(); got != want {
		t.Errorf("progress output\n got %q\nwant %q", got, want)
	}

	var none *progressLine
	none.show(func() string { t.Error("text of a progress line that is not shown"); return "" })
	none.end(nil) // no terminal, no progress: nothing to erase
}
