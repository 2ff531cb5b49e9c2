package seedimport

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/sqlite"
)

// longRetention keeps the old files visible: they carry dates of months
// ago, and these tests are about what is imported, not what expires.
const longRetention = 20 * 365 * 24 * time.Hour

// newEngine returns an engine on a real SQLite file and blob directory.
func newEngine(t *testing.T) *engine.Engine {
	t.Helper()
	db, blobs := newStores(t)
	return engine.New(db, blobs, engine.Options{Retention: longRetention})
}

// newStores opens a real SQLite file and blob directory.
func newStores(t *testing.T) (*sqlite.DB, *localfs.Store) {
	t.Helper()
	dir := t.TempDir()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return db, blobs
}

// oldFile is a file of the old server's uploads tree.
type oldFile struct {
	path    string // under uploads/
	content string
	mtime   time.Time
}

const (
	tokJoao    = "abc123joao"
	tokMaria   = "Maria-Token_2023"
	tokPedro   = "pedro0001"
	tokLink    = "linktoken"
	tokBadName = "badname99"
)

var (
	jan = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	mar = time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
)

// writeOldServer builds an uploads tree and a tokens file as the old server
// left them, with every case the import must handle, and returns their paths.
func writeOldServer(t *testing.T) (uploads, tokens string) {
	t.Helper()
	root := t.TempDir()
	uploads = filepath.Join(root, "uploads")
	files := []oldFile{
		{tokJoao + "/plain.xlsx", "plain", jan},
		{tokJoao + "/relato\u0301rio.xlsx", "nfd", mar}, // NFD, as macOS writes names
		{tokJoao + "/café.csv", "nfc cafe", jan},
		{tokJoao + "/cafe\u0301.csv", "nfd cafe", jan},
		{tokJoao + "/bad\nname.xlsx", "newline", jan},
		{tokJoao + "/\xff\xfe.xlsx", "not utf-8", jan},
		{tokJoao + "/a\\b.xlsx", "backslash", jan},
		{tokJoao + "/nested/deep.xlsx", "nested", jan},
		{tokMaria + "/vazio.xlsx", "", mar},
		{tokMaria + "/Relatório Março.xlsx", "maria", mar},
		{"deadbeef/orphan.xlsx", "unknown token", jan},
		{tokBadName + "/x.xlsx", "bad technician name", jan},
	}
	for _, f := range files {
		p := filepath.Join(uploads, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, f.mtime, f.mtime); err != nil {
			t.Fatal(err)
		}
	}
	// Links are never followed: one in a token directory, one as a token
	// directory, both to real data.
	secret := filepath.Join(root, "secret.xlsx")
	if err := os.WriteFile(secret, []byte("outside"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(uploads, tokJoao, "link.xlsx")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(uploads, tokMaria), filepath.Join(uploads, tokLink)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(uploads, "stray.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	tokens = filepath.Join(root, "tokens.txt")
	text := "# TOKENS_VALIDOS of the old main.py\n" +
		"\n" +
		tokJoao + " João Silva\n" +
		tokMaria + "\t  maria\r\n" +
		"lonelytoken\n" +
		tokJoao + " João Silva\n" +
		tokPedro + " Pedro de Souza  \n" +
		tokLink + " Link Owner\n" +
		tokBadName + " bad/name\n" +
		"   # an indented comment\n"
	if err := os.WriteFile(tokens, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return uploads, tokens
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	eng := newEngine(t)
	uploads, tokens := writeOldServer(t)

	var progress bytes.Buffer
	rep, err := Run(ctx, eng, uploads, tokens, &progress)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, rep)
	}
	if rep.TokensImported != 4 || rep.TokensPresent != 0 || rep.FilesImported != 5 || rep.FilesPresent != 0 {
		t.Errorf("first run counts: %+v", rep)
	}
	if want := int64(len("plain") + len("nfd") + len("nfd cafe") + len("maria")); rep.BytesImported != want {
		t.Errorf("BytesImported %d, want %d", rep.BytesImported, want)
	}
	if len(rep.Failures) != 0 {
		t.Errorf("failures: %v", rep.Failures)
	}
	wantRejects := []Problem{
		{"tokens file, line 5", "malformed line: want TOKEN NAME"},
		{"tokens file, line 6", "the same token as on line 3; ignored"},
		{`João Silva: file "a\\b.xlsx"`, "backslash"},
		{`João Silva: file "bad\nname.xlsx"`, "the file name contains a control character"},
		// ReadDir's byte order puts the NFD spelling first.
		{`João Silva: file "café.csv"`, "the same name, once Unicode-normalised, as the technician's file \"cafe\u0301.csv\", imported first (spelled \"cafe\\u0301.csv\" and \"caf\\u00e9.csv\")"},
		{`João Silva: file "link.xlsx"`, "symbolic link; not followed"},
		{`João Silva: directory "nested"`, "nested directory; skipped"},
		{`João Silva: file "\xff\xfe.xlsx"`, "the file name is not valid UTF-8"},
		{"Link Owner: upload directory", "symbolic link; not followed"},
		{"tokens file, line 9", `invalid technician name "bad/name": use 1 to 64 letters, digits, spaces, '.', '_', '-' or '@'; its upload directory was skipped`},
		{`uploads entry "deadbeef"`, "no token in the tokens file has this name; skipped"},
		{`uploads entry "stray.txt"`, "not a token directory; skipped"},
	}
	checkRejects(t, rep.Rejects, wantRejects)

	// Old tokens work unchanged.
	for tok, name := range map[string]string{tokJoao: "João Silva", tokMaria: "maria", tokPedro: "Pedro de Souza", tokLink: "Link Owner"} {
		tech, _, err := eng.Authenticate(ctx, tok)
		if err != nil || tech.Name != name {
			t.Errorf("Authenticate(%q) = %v, %v; want technician %q", tok, tech, err, name)
		}
	}
	if _, _, err := eng.Authenticate(ctx, tokBadName); err == nil {
		t.Error("the token of a rejected line authenticates")
	}

	// Files are there with their content and their old modification time.
	joao, _, _ := eng.Authenticate(ctx, tokJoao)
	checkFiles(t, eng, joao, map[string]oldFile{
		"café.csv":       {content: "nfd cafe", mtime: jan},
		"plain.xlsx":     {content: "plain", mtime: jan},
		"relatório.xlsx": {content: "nfd", mtime: mar},
	})
	maria, _, _ := eng.Authenticate(ctx, tokMaria)
	checkFiles(t, eng, maria, map[string]oldFile{
		"Relatório Março.xlsx": {content: "maria", mtime: mar},
		"vazio.xlsx":           {content: "", mtime: mar},
	})

	for _, want := range []string{
		"João Silva (line 3): token imported; 3 file(s) imported, 0 already present, 6 rejected\n",
		"maria (line 4): token imported; 2 file(s) imported, 0 already present\n",
		"Pedro de Souza (line 7): token imported; no upload directory\n",
		"Link Owner (line 8): token imported; upload directory rejected\n",
		"line 9: token rejected\n",
	} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	summary := rep.String()
	for _, want := range []string{"Tokens: 4 imported, 0 already present.", "Files: 5 imported (21 bytes), 0 already present.", "Rejected: 12.", "  tokens file, line 5: malformed line"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}

	// A second run imports nothing twice, and leaves alone a file the
	// technician has replaced since.
	newer := minimalXLSX(t)
	if _, err := eng.Upload(ctx, maria, "vazio.xlsx", bytes.NewReader(newer), -1); err != nil {
		t.Fatal(err)
	}
	rep2, err := Run(ctx, eng, uploads, tokens, nil)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if rep2.TokensImported != 0 || rep2.TokensPresent != 4 || rep2.FilesImported != 0 || rep2.FilesPresent != 5 || rep2.BytesImported != 0 {
		t.Errorf("second run counts: %+v", rep2)
	}
	checkRejects(t, rep2.Rejects, wantRejects)
	checkFiles(t, eng, joao, map[string]oldFile{
		"café.csv":       {content: "nfd cafe", mtime: jan},
		"plain.xlsx":     {content: "plain", mtime: jan},
		"relatório.xlsx": {content: "nfd", mtime: mar},
	})
	_, content, err := eng.Open(ctx, maria, "vazio.xlsx")
	if err != nil {
		t.Fatal(err)
	}
	defer content.Close()
	if b, _ := io.ReadAll(content); !bytes.Equal(b, newer) {
		t.Errorf("the second run replaced a newer version with %q", b)
	}
}

// checkRejects checks that got has one reject per want, in order, each with
// the same Where and a Reason that contains want's.
func checkRejects(t *testing.T, got, want []Problem) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d rejects, want %d:\n%v", len(got), len(want), got)
	}
	for i := range min(len(got), len(want)) {
		if got[i].Where != want[i].Where || !strings.Contains(got[i].Reason, want[i].Reason) {
			t.Errorf("reject %d = %q: %q; want %q: …%q…", i, got[i].Where, got[i].Reason, want[i].Where, want[i].Reason)
		}
	}
}

// checkFiles checks that tech has exactly the files want, with their content
// and with the modification time as upload time.
func checkFiles(t *testing.T, eng *engine.Engine, tech *pmgsync.Technician, want map[string]oldFile) {
	t.Helper()
	ctx := context.Background()
	files, err := eng.List(ctx, tech)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	var wantNames []string
	for name := range want {
		wantNames = append(wantNames, name)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("%s has %q, want %q", tech.Name, names, wantNames)
	}
	for name, w := range want {
		f, content, err := eng.Open(ctx, tech, name)
		if err != nil {
			t.Errorf("open %s's %q: %v", tech.Name, name, err)
			continue
		}
		b, err := io.ReadAll(content)
		content.Close()
		if err != nil || string(b) != w.content {
			t.Errorf("%s's %q = %q, %v; want %q", tech.Name, name, b, err, w.content)
		}
		if !f.UploadedAt.Equal(w.mtime) {
			t.Errorf("%s's %q uploaded at %v, want the old modification time %v", tech.Name, name, f.UploadedAt, w.mtime)
		}
	}
}

// TestRunNormalisedTwinOfRejected checks that a file is not refused as the
// duplicate of its other Unicode spelling when that one was not imported.
func TestRunNormalisedTwinOfRejected(t *testing.T) {
	ctx := context.Background()
	db, blobs := newStores(t)
	eng := engine.New(db, blobs, engine.Options{Retention: longRetention, QuotaBytes: 10})
	dir := t.TempDir()
	uploads := filepath.Join(dir, "uploads")
	// ReadDir's byte order puts the NFD spelling first; it is over quota.
	for name, content := range map[string]string{"cafe\u0301.csv": "nfd, too large", "café.csv": "nfc"} {
		p := filepath.Join(uploads, tokMaria, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, jan, jan); err != nil {
			t.Fatal(err)
		}
	}
	tokens := filepath.Join(dir, "tokens.txt")
	if err := os.WriteFile(tokens, []byte(tokMaria+" maria\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	rep, err := Run(ctx, eng, uploads, tokens, nil)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, rep)
	}
	checkRejects(t, rep.Rejects, []Problem{{"maria: file \"cafe\u0301.csv\"", "quota"}})
	if rep.FilesImported != 1 {
		t.Errorf("%d files imported, want 1", rep.FilesImported)
	}
	maria, _, err := eng.Authenticate(ctx, tokMaria)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, eng, maria, map[string]oldFile{"café.csv": {content: "nfc", mtime: jan}})
}

// tokenLookupFails is a store whose lookups of tokens fail, as on a disk
// error.
type tokenLookupFails struct{ *sqlite.DB }

func (tokenLookupFails) TokenByHash(context.Context, []byte) (*pmgsync.Token, error) {
	return nil, errors.New("disk I/O error")
}

// TestRunTokenLookupFails checks that a token whose lookup fails is a
// failure to report, not a token to store again, nor one taken for another
// technician's.
func TestRunTokenLookupFails(t *testing.T) {
	ctx := context.Background()
	db, blobs := newStores(t)
	dir := t.TempDir()
	uploads := filepath.Join(dir, "uploads")
	if err := os.Mkdir(uploads, 0o755); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens.txt")
	if err := os.WriteFile(tokens, []byte(tokMaria+" maria\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := engine.Options{Retention: longRetention}
	if _, err := Run(ctx, engine.New(db, blobs, opts), uploads, tokens, nil); err != nil {
		t.Fatalf("first Run: %v", err)
	}

	rep, err := Run(ctx, engine.New(tokenLookupFails{db}, blobs, opts), uploads, tokens, nil)
	if err == nil || len(rep.Failures) != 1 || rep.Failures[0].Where != "tokens file, line 1" ||
		!strings.Contains(rep.Failures[0].Reason, "disk I/O error") {
		t.Errorf("Run with failing lookups: %v, failures %v; want the token's line failed", err, rep.Failures)
	}
	if len(rep.Rejects) != 0 || rep.TokensImported != 0 || rep.TokensPresent != 0 {
		t.Errorf("Run with failing lookups: %+v; want nothing rejected, imported or present", rep)
	}
}

func TestRunUnreadable(t *testing.T) {
	eng := newEngine(t)
	uploads, tokens := writeOldServer(t)
	if _, err := Run(context.Background(), eng, uploads, filepath.Join(t.TempDir(), "missing.txt"), nil); err == nil {
		t.Error("Run with a missing tokens file succeeded")
	}
	if _, err := Run(context.Background(), eng, filepath.Join(t.TempDir(), "missing"), tokens, nil); err == nil {
		t.Error("Run with a missing uploads directory succeeded")
	}
	techs, err := eng.Technicians(context.Background())
	if err != nil || len(techs) != 0 {
		t.Errorf("after failed runs, technicians %v, %v; want none", techs, err)
	}
}

func TestParseTokens(t *testing.T) {
	in := "\uFEFFtok1 João Silva\r\n" +
		"  tok2\t\tMaria  da Penha \t\n" +
		"#tok3 commented out\n" +
		"\t\n" +
		"tok4\n" +
		"tok5 x\n"
	var rep Report
	got, err := parseTokens(strings.NewReader(in), &rep)
	if err != nil {
		t.Fatal(err)
	}
	want := []tokenLine{{1, "tok1", "João Silva"}, {2, "tok2", "Maria  da Penha"}, {6, "tok5", "x"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	checkRejects(t, rep.Rejects, []Problem{{"tokens file, line 5", "malformed line"}})
}

// minimalXLSX returns the smallest workbook the type check accepts: a ZIP
// container holding [Content_Types].xml.
func minimalXLSX(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("[Content_Types].xml")
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
