package main

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestImportSeed imports an old server's tree with the CLI, then serves it:
// the apps' old tokens pull their old reports.
func TestImportSeed(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	uploads := filepath.Join(root, "uploads")
	// Two days ago: within the default retention of seven days.
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second).UTC()
	files := map[string]string{
		"tok-joao-1/relatório PMG 01.xlsx": "joão 1",
		"tok-joao-1/relatorio-02.xlsx":     "joão 2",
		"tok-maria/pmg.xlsx":               "maria",
		"tok-maria/bad\x01name.xlsx":       "control character",
		"tok-gone/x.xlsx":                  "no token",
	}
	for p, content := range files {
		path := filepath.Join(uploads, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	tokens := filepath.Join(root, "tokens.txt")
	if err := os.WriteFile(tokens, []byte("# from main.py\ntok-joao-1 João Silva\ntok-maria Maria\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(root, "data")

	args := []string{"import-seed", "--uploads", uploads, "--tokens", tokens}
	r := cli(t, data, args...)
	for _, want := range []string{
		"João Silva (line 2): token imported; 2 file(s) imported, 0 already present\n",
		"Maria (line 3): token imported; 1 file(s) imported, 0 already present, 1 rejected\n",
		"Tokens: 2 imported, 0 already present.\n",
		"Files: 3 imported (19 bytes), 0 already present.\n",
		"Rejected: 2.\n",
		`Maria: file "bad\x01name.xlsx": the file name contains a control character`,
		`uploads entry "tok-gone": no token in the tokens file has this name; skipped`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import-seed output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := cli(t, data, args...); !strings.Contains(r.stdout, "Tokens: 0 imported, 2 already present.\nFiles: 0 imported (0 bytes), 3 already present.\n") {
		t.Errorf("second import-seed:\n%s", r.stdout)
	}

	s := startServer(t, data)
	if got := s.list("tok-joao-1"); !slices.Equal(got, []string{"relatorio-02.xlsx", "relatório PMG 01.xlsx"}) {
		t.Errorf("João lists %q", got)
	}
	resp := s.pull("tok-maria", "pmg.xlsx")
	if resp.status != http.StatusOK || !bytes.Equal(resp.body, []byte("maria")) {
		t.Errorf("Maria pulls: status %d, body %q", resp.status, resp.body)
	}
	if lm, err := http.ParseTime(resp.header.Get("Last-Modified")); err != nil || !lm.Equal(old) {
		t.Errorf("Last-Modified %q, want the old modification time %v", resp.header.Get("Last-Modified"), old)
	}
	if r := do(t, nil, s.request("GET", "/list", "tok-gone", nil)); r.status != http.StatusForbidden {
		t.Errorf("a token not in the tokens file: status %d", r.status)
	}
	s.mustUpload("tok-maria", "novo.xlsx", xlsx([]byte("after the migration")))
	if got := s.list("tok-maria"); !slices.Equal(got, []string{"novo.xlsx", "pmg.xlsx"}) {
		t.Errorf("Maria lists %q", got)
	}
}
