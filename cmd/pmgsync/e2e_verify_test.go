package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// verifyLine matches a problem line of "pmgsync verify": kind, technician,
// file (both empty for an orphan), blob key and what is wrong.
var verifyLine = regexp.MustCompile(`^(missing|corrupt|damaged|orphan): (?:technician "([^"]*)", file "([^"]*)", )?blob ([0-9a-f]{32}): (.+)$`)

// verifyProblems returns the problem lines of a verify's output as
// "kind technician/file|blob: what", sorted, and fails the test on any
// line that is neither a problem nor part of the summary.
func verifyProblems(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	summary := false
	for line := range strings.Lines(out) {
		line = strings.TrimSuffix(line, "\n")
		m := verifyLine.FindStringSubmatch(line)
		if m == nil {
			if !strings.HasPrefix(line, "Checked ") && !summary {
				t.Errorf("verify printed %q before its summary", line)
			}
			summary = true
			continue
		}
		if summary {
			t.Errorf("problem line %q after the summary", line)
		}
		what := m[4]
		if m[1] != "orphan" {
			what = m[2] + "/" + m[3]
		}
		got = append(got, m[1]+" "+what+": "+m[5])
	}
	slices.Sort(got)
	return got
}

// blobOf returns the path of the committed blob that holds content.
func blobOf(t *testing.T, data string, content []byte) string {
	t.Helper()
	committed, _ := blobFiles(t, data)
	for _, path := range committed {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(b, content) {
			return path
		}
	}
	t.Fatalf("no blob holds the %d bytes", len(content))
	return ""
}

// plantOrphan writes a blob that no file references where the blob store
// keeps blobs, written age ago, and returns its key.
func plantOrphan(t *testing.T, data string, age time.Duration) string {
	t.Helper()
	var b [16]byte
	rand.Read(b[:])
	key := hex.EncodeToString(b[:])
	path := filepath.Join(data, "blobs", key[:2], key)
	if err := os.WriteFile(path, []byte("a blob no file references"), 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Now().Add(-age)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	return key
}

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// TestVerify damages a data directory under a running server (a missing
// blob, a blob with one byte flipped, two old orphans and a young one),
// then checks it: verify reports and changes nothing, verify --repair
// removes the orphans and marks the two files, which the server then hides
// and refuses, and later checks report them until they are sent again or
// deleted.
func TestVerify(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tok := createToken(t, data, "maria")
	s := startServerWith(t, data, cleanEnv(), "--cleanup-schedule", "off")
	// Orphans planted before the start-up recovery ends might be its.
	if _, ok := s.log.waitFor(`msg="start-up recovery done"`, s.exited); !ok {
		t.Fatal("no start-up recovery")
	}
	pump7, pump8, valve := xlsx([]byte("bomba 07")), xlsx([]byte("bomba 08")), xlsx([]byte("válvula 02"))
	s.mustUpload(tok, "relatorio-bomba-07.xlsx", pump7)
	s.mustUpload(tok, "relatorio-bomba-08.xlsx", pump8)
	s.mustUpload(tok, "relatorio-valvula-02.xlsx", valve)

	// A sound data directory: exit 0.
	r := runBin(t, cleanEnv(), "verify", "--data", data)
	if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Checked 3 files (") ||
		!strings.Contains(r.stdout, "and 3 blobs in ") || !strings.HasSuffix(r.stdout, "No problems found.\n") {
		t.Fatalf("verify of a sound directory: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	missingBlob := blobOf(t, data, pump7)
	if err := os.Remove(missingBlob); err != nil {
		t.Fatal(err)
	}
	corruptBlob := blobOf(t, data, pump8)
	flipped := slices.Clone(pump8)
	flipped[len(flipped)/2] ^= 0x01
	if err := os.WriteFile(corruptBlob, flipped, 0o600); err != nil {
		t.Fatal(err)
	}
	orphans := []string{plantOrphan(t, data, 2*time.Hour), plantOrphan(t, data, 48*time.Hour)}
	slices.Sort(orphans)
	young := plantOrphan(t, data, 0)
	missingKey, corruptKey := filepath.Base(missingBlob), filepath.Base(corruptBlob)

	// verify: exit 3, the four problems, nothing changed.
	r = runBin(t, cleanEnv(), "verify", "--data", data)
	want := []string{
		`corrupt maria/relatorio-bomba-08.xlsx: sha256 mismatch: the blob has ` + hex.EncodeToString(sumOf(flipped)) +
			`, recorded ` + hex.EncodeToString(sumOf(pump8)),
		`missing maria/relatorio-bomba-07.xlsx: the blob does not exist`,
		`orphan ` + orphans[0] + `: no file references it (25 bytes, written `,
		`orphan ` + orphans[1] + `: no file references it (25 bytes, written `,
	}
	checkVerify(t, "verify", r, want)
	for _, line := range []string{
		"Checked 3 files (",
		"Problems: 1 missing file, 1 corrupt file, 2 orphaned blobs.\n",
		"Left alone 1 blob that no file references yet, younger than 1m: uploads in progress.\n",
		`Nothing was changed; "pmgsync verify --repair" marks`,
	} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("verify's summary lacks %q:\n%s", line, r.stdout)
		}
	}
	if !strings.Contains(r.stdout, "blob "+missingKey+": ") || !strings.Contains(r.stdout, "blob "+corruptKey+": ") {
		t.Errorf("verify does not name the damaged files' blobs %s, %s:\n%s", missingKey, corruptKey, r.stdout)
	}
	for _, key := range append(orphans, young) {
		if !exists(t, filepath.Join(data, "blobs", key[:2], key)) {
			t.Errorf("verify without --repair removed blob %s", key)
		}
	}
	if got := s.list(tok); len(got) != 3 {
		t.Errorf("after verify the server lists %q, want the 3 files", got)
	}

	// verify --repair: exit 3, the same problems, repaired.
	r = runBin(t, cleanEnv(), "verify", "--repair", "--data", data)
	checkVerify(t, "verify --repair", r, want)
	for i, suffix := range []string{"; marked damaged", "; marked damaged", "; removed", "; removed"} {
		if line := verifyProblems(t, r.stdout)[i]; !strings.HasSuffix(line, suffix) {
			t.Errorf("verify --repair: %q does not end with %q", line, suffix)
		}
	}
	if !strings.Contains(r.stdout, "Repaired: marked 2 files damaged (no longer listed or served until deleted or sent again) and removed 2 orphaned blobs.\n") {
		t.Errorf("verify --repair does not say what it did:\n%s", r.stdout)
	}
	for _, key := range orphans {
		if exists(t, filepath.Join(data, "blobs", key[:2], key)) {
			t.Errorf("verify --repair left orphan %s", key)
		}
	}
	if !exists(t, filepath.Join(data, "blobs", young[:2], young)) || !exists(t, corruptBlob) {
		t.Errorf("verify --repair removed the young orphan or the corrupt file's blob")
	}

	// The running server hides the damaged files and says why it refuses them.
	if got := s.list(tok); !slices.Equal(got, []string{"relatorio-valvula-02.xlsx"}) {
		t.Errorf("after the repair the server lists %q, want only the sound file", got)
	}
	for _, name := range []string{"relatorio-bomba-07.xlsx", "relatorio-bomba-08.xlsx"} {
		resp := s.pull(tok, name)
		if resp.status != http.StatusNotFound || !strings.Contains(resp.detail(t), "danificado no servidor e precisa ser enviado novamente") {
			t.Errorf("pull of damaged %s: %d %s", name, resp.status, resp.body)
		}
	}
	if resp := s.pull(tok, "relatorio-valvula-02.xlsx"); resp.status != http.StatusOK || !bytes.Equal(resp.body, valve) {
		t.Errorf("pull of the sound file: %d", resp.status)
	}
	if code, body := httpGet(t, s.url+"/metrics"); code != http.StatusOK || !strings.Contains(body, "\npmgsync_damaged_files 2\n") {
		t.Errorf("/metrics: %d, want pmgsync_damaged_files 2", code)
	}
	marks := auditList(t, data, "--action", "file.damaged")
	if len(marks) != 2 || marks[0].ActorKind != "cli" || marks[0].FileName != "relatorio-bomba-07.xlsx" ||
		!strings.HasPrefix(marks[0].Detail, "missing: ") || !strings.HasPrefix(marks[1].Detail, "corrupt: sha256 mismatch") {
		t.Errorf("file.damaged records: %+v", marks)
	}
	cli(t, data, "audit", "verify")

	// A second verify reports the two damaged files: still problems, exit 3.
	r = runBin(t, cleanEnv(), "verify", "--data", data)
	checkVerify(t, "second verify", r, []string{
		"damaged maria/relatorio-bomba-07.xlsx: marked missing on ",
		"damaged maria/relatorio-bomba-08.xlsx: marked corrupt on ",
	})
	if !strings.Contains(r.stdout, "Problems: 2 damaged files.\n") {
		t.Errorf("second verify's summary:\n%s", r.stdout)
	}

	// Sent again, and deleted: nothing left to report.
	s.mustUpload(tok, "relatorio-bomba-08.xlsx", pump8)
	if resp := s.pull(tok, "relatorio-bomba-08.xlsx"); resp.status != http.StatusOK || !bytes.Equal(resp.body, pump8) {
		t.Errorf("pull of the file sent again: %d", resp.status)
	}
	if resp := do(t, nil, s.request("DELETE", "/delete?filename=relatorio-bomba-07.xlsx", tok, nil)); resp.status != http.StatusOK {
		t.Errorf("delete of the missing file: %d %s", resp.status, resp.body)
	}
	r = runBin(t, cleanEnv(), "verify", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "No problems found.\n") {
		t.Errorf("verify after the files were sent again and deleted: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.stop()
}

// checkVerify fails the test unless r exited with status 3 and printed the
// problems want (each a prefix of a sorted problem line).
func checkVerify(t *testing.T, what string, r cliResult, want []string) {
	t.Helper()
	if r.code != exitProblems || r.stderr != "" {
		t.Errorf("%s: exit %d, want %d; stderr:\n%s", what, r.code, exitProblems, r.stderr)
	}
	got := verifyProblems(t, r.stdout)
	ok := len(got) == len(want)
	for i := range want {
		ok = ok && strings.HasPrefix(got[i], want[i])
	}
	if !ok {
		t.Errorf("%s: problems\n %q\nwant lines starting with\n %q\nstdout:\n%s", what, got, want, r.stdout)
	}
}

func sumOf(b []byte) []byte {
	s := sum(b)
	return s[:]
}

// verify's usage errors and a data directory it cannot open.
func TestVerifyFailures(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	notDir := writeFile(t, data, "not-a-directory", "")
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"verify", "extra", "--data", data}, 2, `unexpected argument "extra"`},
		{[]string{"verify", "--repare", "--data", data}, 2, "flag provided but not defined: -repare"},
		{[]string{"verify", "--data", notDir}, 1, "pmgsync: create the data directory"},
		{[]string{"verify", "-h"}, 0, "Exit status: 0 no problems; 3 problems found"},
	} {
		r := runBin(t, cleanEnv(), tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("pmgsync %q: exit %d, stderr %q; want %d, %q", tt.args, r.code, r.stderr, tt.code, tt.stderr)
		}
	}
	// An empty data directory is a sound one.
	r := runBin(t, cleanEnv(), "verify", "--data", filepath.Join(data, "new"))
	if r.code != 0 || !strings.Contains(r.stdout, "Checked 0 files (0 bytes hashed) and 0 blobs in ") {
		t.Errorf("verify of a new data directory: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
