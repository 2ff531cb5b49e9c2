package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// oldFile is a report of the old server to import, uploaded age ago.
type oldFile struct {
	token, name string
	age         time.Duration
}

// importOld imports files with import-seed, each with its modification
// time age ago, so that they are as old on the server: the way to have
// expired files without waiting. tokens maps each token to its technician.
// The content of each file is xlsx(its name).
func importOld(t *testing.T, data string, tokens map[string]string, files []oldFile) {
	t.Helper()
	root := t.TempDir()
	uploads := filepath.Join(root, "uploads")
	for _, f := range files {
		path := filepath.Join(uploads, f.token, f.name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, xlsx([]byte(f.name)), 0o644); err != nil {
			t.Fatal(err)
		}
		mtime := time.Now().Add(-f.age)
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	var list strings.Builder
	for tok, tech := range tokens {
		fmt.Fprintf(&list, "%s %s\n", tok, tech)
	}
	tokensFile := writeFile(t, root, "tokens.txt", list.String())
	cli(t, data, "import-seed", "--uploads", uploads, "--tokens", tokensFile)
}

// TestTechnicianSet overrides a technician's retention and quotas, checks
// them in "technician list", and checks that the running server applies a
// quota override from the next upload on.
func TestTechnicianSet(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	cli(t, data, "technician", "add", "maria")
	cli(t, data, "technician", "add", "pedro")

	r := cli(t, data, "technician", "set", "maria", "--retention", "30d", "--quota-files", "500")
	if want := "Technician \"maria\": retention 30d, quota-bytes inherit (global: unlimited), quota-files 500.\n"; r.stdout != want {
		t.Errorf("set says %q, want %q", r.stdout, want)
	}
	row := func(name string) []string {
		t.Helper()
		for line := range strings.Lines(cli(t, data, "technician", "list").stdout) {
			if f := strings.Fields(line); len(f) > 0 && f[0] == name {
				return f
			}
		}
		t.Fatalf("technician list has no %s", name)
		return nil
	}
	header := strings.Fields(strings.SplitN(cli(t, data, "technician", "list").stdout, "\n", 2)[0])
	if want := []string{"NAME", "EMAIL", "STATUS", "RETENTION", "QUOTA", "BYTES", "QUOTA", "FILES", "CREATED"}; !slices.Equal(header, want) {
		t.Errorf("technician list header %q", header)
	}
	// NAME EMAIL(-) STATUS RETENTION QUOTA-BYTES QUOTA-FILES CREATED…
	if got := row("maria")[3:6]; !slices.Equal(got, []string{"30d", "inherit", "500"}) {
		t.Errorf("maria's overrides %q", got)
	}
	if got := row("pedro")[3:6]; !slices.Equal(got, []string{"inherit", "inherit", "inherit"}) {
		t.Errorf("pedro's overrides %q", got)
	}
	// Flags not given stay as they are.
	cli(t, data, "technician", "set", "maria", "--retention", "inherit", "--quota-bytes", "2GiB")
	if got := row("maria")[3:6]; !slices.Equal(got, []string{"inherit", "2GiB", "500"}) {
		t.Errorf("maria's overrides after a second set %q", got)
	}
	cli(t, data, "technician", "set", "maria", "--quota-files", "unlimited", "--quota-bytes", "inherit")
	if got := row("maria")[3:6]; !slices.Equal(got, []string{"inherit", "inherit", "unlimited"}) {
		t.Errorf("maria's overrides after a third set %q", got)
	}

	for _, tt := range []struct {
		args   []string
		code   int
		stderr string // a substring
	}{
		{[]string{"nobody", "--retention", "1d"}, 1, "pmgsync: no technician named \"nobody\"\n"},
		{[]string{"maria"}, 2, "nothing to set: give --retention, --quota-bytes or --quota-files"},
		{[]string{"maria", "--retention", "7x"}, 2, `invalid value "7x" for flag -retention: use a duration such as 30d or 72h, or inherit`},
		{[]string{"maria", "--quota-files", "0"}, 2, "use a whole number of files such as 500, unlimited or inherit"},
		{[]string{"maria", "--quota-bytes", "lots"}, 2, "use a size such as 2GiB or 500MB, unlimited or inherit"},
		{[]string{"--retention", "1d"}, 2, "missing technician name"},
	} {
		r := runBin(t, cleanEnv(), append([]string{"technician", "set", "--data", data}, tt.args...)...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("technician set %q: exit %d, stderr %q; want %d, %q", tt.args, r.code, r.stderr, tt.code, tt.stderr)
		}
	}

	// A quota override takes effect in the running server at once.
	tok := createToken(t, data, "pedro")
	s := startServer(t, data)
	cli(t, data, "technician", "set", "pedro", "--quota-files", "1")
	s.mustUpload(tok, "a.xlsx", xlsx([]byte("a")))
	s.mustUpload(tok, "a.xlsx", xlsx([]byte("a, again"))) // a replacement is not one more file
	if r := s.upload(tok, "b.xlsx", bytes.NewReader(xlsx([]byte("b")))); r.status != http.StatusInsufficientStorage {
		t.Errorf("upload over the file quota: status %d, body %s", r.status, r.body)
	}
	cli(t, data, "technician", "set", "pedro", "--quota-files", "inherit")
	s.mustUpload(tok, "b.xlsx", xlsx([]byte("b")))
	s.stop()
}

// cleanupLine matches a line of "pmgsync cleanup" about one file.
var cleanupLine = regexp.MustCompile(`^(removed|would remove): "([^"]+)" "([^"]+)", [^,]+, uploaded [^,]+, expired .+$`)

// cleanupFiles returns the technician/name of each file a cleanup printed,
// sorted, and the verb of the lines.
func cleanupFiles(t *testing.T, out string) (files []string, verbs []string) {
	t.Helper()
	for line := range strings.Lines(out) {
		if m := cleanupLine.FindStringSubmatch(strings.TrimSuffix(line, "\n")); m != nil {
			files = append(files, m[2]+"/"+m[3])
			if !slices.Contains(verbs, m[1]) {
				verbs = append(verbs, m[1])
			}
		}
	}
	slices.Sort(files)
	return files, verbs
}

// TestCleanupCommand sweeps expired files by hand: a dry run that removes
// nothing, then a real run while the server runs, which removes only what
// has expired (a technician's own retention included), then the history.
func TestCleanupCommand(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	const day = 24 * time.Hour
	importOld(t, data, map[string]string{"tok-velho": "velho", "tok-longo": "longo"}, []oldFile{
		{"tok-velho", "a.xlsx", 10 * day},
		{"tok-velho", "b.xlsx", 8 * day},
		{"tok-velho", "c.xlsx", 1 * day},
		{"tok-longo", "x.xlsx", 10 * day}, // kept: longo keeps files for 30 days
	})
	cli(t, data, "technician", "set", "longo", "--retention", "30d")
	expired := []string{"velho/a.xlsx", "velho/b.xlsx"}

	r := cli(t, data, "cleanup", "--dry-run")
	if files, verbs := cleanupFiles(t, r.stdout); !slices.Equal(files, expired) || !slices.Equal(verbs, []string{"would remove"}) {
		t.Errorf("dry run lists %q with %q:\n%s", files, verbs, r.stdout)
	}
	if !regexp.MustCompile(`(?m)^Dry run #\d+ in [^:]+: 2 expired files \(\d+ bytes\) would be removed; nothing was removed\.$`).MatchString(r.stdout) {
		t.Errorf("dry run summary:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "Global retention 7d (from default)") {
		t.Errorf("cleanup does not say which retention it applies:\n%s", r.stdout)
	}
	if committed, _ := blobFiles(t, data); len(committed) != 4 {
		t.Errorf("after the dry run, %d blobs, want 4", len(committed))
	}

	s := startServer(t, data)
	if got := s.list("tok-velho"); !slices.Equal(got, []string{"c.xlsx"}) {
		t.Errorf("velho lists %q before the sweep: expired files must be gone already", got)
	}
	r = cli(t, data, "cleanup")
	if files, verbs := cleanupFiles(t, r.stdout); !slices.Equal(files, expired) || !slices.Equal(verbs, []string{"removed"}) {
		t.Errorf("cleanup lists %q with %q:\n%s", files, verbs, r.stdout)
	}
	if !regexp.MustCompile(`(?m)^Cleanup #\d+ in [^:]+: removed 2 expired files \(\d+ bytes\) and 0 orphaned blobs\.$`).MatchString(r.stdout) {
		t.Errorf("cleanup summary:\n%s", r.stdout)
	}
	if committed, _ := blobFiles(t, data); len(committed) != 2 {
		t.Errorf("after the cleanup, %d blobs, want 2", len(committed))
	}
	if r := s.pull("tok-velho", "c.xlsx"); r.status != http.StatusOK || !bytes.Equal(r.body, xlsx([]byte("c.xlsx"))) {
		t.Errorf("a live file after the cleanup: status %d", r.status)
	}
	if got := s.list("tok-longo"); !slices.Equal(got, []string{"x.xlsx"}) {
		t.Errorf("longo lists %q after the cleanup", got)
	}
	r = cli(t, data, "cleanup")
	if !strings.Contains(r.stdout, "removed 0 expired files") {
		t.Errorf("second cleanup:\n%s", r.stdout)
	}
	s.stop()

	h := cli(t, data, "cleanup", "history").stdout
	lines := strings.Split(strings.TrimSpace(h), "\n")
	if len(lines) != 4 {
		t.Fatalf("history has %d lines, want a header and 3 runs:\n%s", len(lines), h)
	}
	if got := strings.Fields(lines[0]); !slices.Equal(got, []string{"ID", "START", "END", "TRIGGER", "DRY", "RUN", "FILES", "BYTES", "ORPHANS", "ERRORS"}) {
		t.Errorf("history header %q", got)
	}
	// Newest first: the empty run, the real one, the dry run. START and END
	// take 4 fields each (date, time, zone); END may say "unfinished".
	for i, want := range [][]string{{"manual", "no", "0"}, {"manual", "no", "2"}, {"manual", "yes", "2"}} {
		f := strings.Fields(lines[i+1])
		if len(f) < 12 || !slices.Equal(f[7:10], want) || f[len(f)-1] != "0" {
			t.Errorf("history row %d: %q, want TRIGGER, DRY RUN, FILES %q and no errors", i, f, want)
		}
	}
	if got := cli(t, data, "cleanup", "history", "--limit", "1").stdout; strings.Count(got, "\n") != 2 {
		t.Errorf("history --limit 1:\n%s", got)
	}
}

// TestScheduledCleanup runs the server with a schedule of every second: the
// scheduler sweeps the expired files on its own and records the run, and
// the server still stops cleanly.
func TestScheduledCleanup(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	importOld(t, data, map[string]string{"tok-velho": "velho"}, []oldFile{
		{"tok-velho", "a.xlsx", 10 * 24 * time.Hour},
		{"tok-velho", "b.xlsx", 9 * 24 * time.Hour},
		{"tok-velho", "c.xlsx", time.Hour},
	})
	s := startServerWith(t, data, cleanEnv("PMGSYNC_TIMEZONE=America/Manaus"), "--cleanup-schedule", "@every 1s")
	line, ok := s.log.waitFor(`msg="cleanup scheduled"`, s.exited)
	if !ok || !strings.Contains(line, `schedule="@every 1s" timezone=America/Manaus next=`) || !strings.Contains(line, "-04:00") {
		t.Errorf("start-up log of the schedule: %q", line)
	}
	line, ok = s.log.waitFor(`msg="scheduled cleanup done"`, s.exited)
	if !ok {
		t.Fatal("no scheduled cleanup logged")
	}
	if logField(line, "files") != "2" || logField(line, "level") != "INFO" {
		t.Errorf("first scheduled cleanup: %q", line)
	}
	if committed, _ := blobFiles(t, data); len(committed) != 1 {
		t.Errorf("after the scheduled cleanup, %d blobs, want 1", len(committed))
	}
	s.stop()
	h := cli(t, data, "cleanup", "history").stdout
	if !strings.Contains(h, "schedule") {
		t.Errorf("history has no scheduled run:\n%s", h)
	}
}
