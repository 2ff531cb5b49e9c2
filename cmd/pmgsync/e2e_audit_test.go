package main

import (
	"database/sql"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// auditList runs "audit list --format json" with args and returns the
// records.
func auditList(t *testing.T, data string, args ...string) []auditJSONRecord {
	t.Helper()
	r := cli(t, data, append([]string{"audit", "list", "--format", "json"}, args...)...)
	var recs []auditJSONRecord
	for line := range strings.Lines(r.stdout) {
		var rec auditJSONRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q of audit list: %v", line, err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// What technicians do through HTTP and admins through the CLI is in the
// audit trail, which "audit list" shows in every format and "audit verify"
// finds intact, until a row is changed with SQL.
func TestAuditTrail(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	s := startServer(t, data)
	tok := createToken(t, data, "maria", "--label", "phone")
	s.mustUpload(tok, "a.xlsx", xlsx([]byte("a")))
	s.mustUpload(tok, "b.xlsx", xlsx([]byte("b")))
	if r := s.pull(tok, "a.xlsx"); r.status != http.StatusOK {
		t.Fatalf("pull: status %d", r.status)
	}
	if r := s.pull(tok, "nada.xlsx"); r.status != http.StatusNotFound {
		t.Fatalf("pull of a missing file: status %d", r.status)
	}
	if r := do(t, nil, s.request("GET", "/list", "not-a-token", nil)); r.status != http.StatusForbidden {
		t.Fatalf("bad token: status %d", r.status)
	}

	recs := auditList(t, data)
	type summary struct{ actor, action, technician, file, result string }
	var got []summary
	for _, rec := range recs {
		got = append(got, summary{rec.ActorKind, rec.Action, rec.Technician, rec.FileName, rec.Result})
	}
	want := []summary{
		{pmgsync.ActorCLI, pmgsync.ActionTechnicianAdd, "maria", "", "ok"},
		{pmgsync.ActorCLI, pmgsync.ActionTokenCreate, "maria", "", "ok"},
		{pmgsync.ActorTechnician, pmgsync.ActionUpload, "maria", "a.xlsx", "ok"},
		{pmgsync.ActorTechnician, pmgsync.ActionUpload, "maria", "b.xlsx", "ok"},
		{pmgsync.ActorTechnician, pmgsync.ActionDownload, "maria", "a.xlsx", "ok"},
		{pmgsync.ActorTechnician, pmgsync.ActionDownload, "maria", "nada.xlsx", pmgsync.ENOTFOUND},
	}
	if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) || got[len(want)].action != pmgsync.ActionAuthFailed || got[len(want)].result != "403" {
		t.Fatalf("audit list:\n got %+v\nwant %+v and auth.failed 403", got, want)
	}
	for _, rec := range recs {
		if strings.Contains(rec.Detail+rec.FileName+rec.ActorName, tok) || strings.Contains(rec.Detail, "not-a-token") {
			t.Errorf("record %d holds a token: %+v", rec.ID, rec)
		}
	}
	if sum := sum(xlsx([]byte("a"))); recs[2].SHA256 != hex.EncodeToString(sum[:]) || recs[4].SHA256 != recs[2].SHA256 || recs[4].Size != recs[2].Size {
		t.Errorf("upload %+v and download %+v do not name the same content", recs[2], recs[4])
	}

	// Filters, and the csv format.
	r := cli(t, data, "audit", "list", "--format", "csv", "--technician", "maria", "--action", "upload",
		"--since", time.Now().Add(-time.Hour).Format(time.RFC3339))
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, r.stdout)
	}
	if len(rows) != 3 || !slices.Equal(rows[0], auditCSVHeader) || rows[1][6] != "a.xlsx" || rows[2][6] != "b.xlsx" {
		t.Errorf("csv of maria's uploads:\n%s", r.stdout)
	}
	if recs := auditList(t, data, "--until", "2000-01-01"); len(recs) != 0 {
		t.Errorf("--until 2000-01-01 lists %d records", len(recs))
	}
	if recs := auditList(t, data, "--limit", "2"); len(recs) != 2 || recs[1].Action != pmgsync.ActionTokenCreate {
		t.Errorf("--limit 2 lists %+v", recs)
	}
	if out := cli(t, data, "audit", "list").stdout; !strings.Contains(out, "auth.failed") || !strings.Contains(out, "cli") {
		t.Errorf("audit list table:\n%s", out)
	}

	r = cli(t, data, "audit", "verify")
	if wantOut := "audit trail intact: " + strconv.Itoa(len(recs)) + " records\n"; r.stdout != wantOut {
		t.Errorf("audit verify says %q, want %q", r.stdout, wantOut)
	}

	// A row rewritten behind the server's back.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "pmgsync.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET result = 'ok' WHERE id = ?`, recs[5].ID); err != nil {
		t.Fatal(err)
	}
	res := runBin(t, cleanEnv(), "audit", "verify", "--data", data)
	if wantErr := "record " + strconv.FormatInt(recs[5].ID, 10) + " was modified"; res.code != 1 || !strings.Contains(res.stderr, wantErr) {
		t.Errorf("audit verify after an edit: exit %d, stderr %q; want 1 and %q", res.code, res.stderr, wantErr)
	}
}
