package main

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTokenRotate rotates a technician's token with the CLI while the
// server runs: during the grace both tokens work; after it the old one gets
// the very refusal of an unknown token. The binary's clock is the wall
// clock, so the grace is a few seconds of real time.
func TestTokenRotate(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	old := createToken(t, data, "maria", "--label", "Galaxy A14 da Maria")
	expired := createToken(t, data, "maria", "--expires", "1ms")
	s := startServer(t, data)
	report := xlsx([]byte("relatório da bomba 07"))
	s.mustUpload(old, "relatorio-bomba-07.xlsx", report)
	files := []string{"relatorio-bomba-07.xlsx"}

	// The grace must outlast the CLI's exit and two requests, on a busy
	// machine too.
	const grace = 4 * time.Second
	before := time.Now()
	r := cli(t, data, "token", "rotate", "1", "--grace", "4s")
	statusOld := do(t, nil, s.request("GET", "/list", old, nil)).status
	newTok := strings.TrimSuffix(r.stdout, "\n")
	statusNew := do(t, nil, s.request("GET", "/list", newTok, nil)).status
	if elapsed := time.Since(before); elapsed >= grace {
		t.Fatalf("the rotation and the requests during its grace took %v, not less than the %v grace", elapsed, grace)
	}
	if !tokenPattern.MatchString(newTok) || newTok == old {
		t.Fatalf("stdout %q is not the new token alone", r.stdout)
	}
	for _, want := range []string{
		`Rotated token #1 of technician "maria": the new token is #3, label "Galaxy A14 da Maria"; it never expires.`,
		"The old token #1 keeps working until ",
		"Give the new token to the technician now",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary %q lacks %q", r.stderr, want)
		}
	}
	if statusOld != http.StatusOK || statusNew != http.StatusOK {
		t.Fatalf("during the grace: old token %d, new token %d; want 200 for both", statusOld, statusNew)
	}

	// After the grace, the old token is refused as an unknown or expired
	// one is, to the byte.
	time.Sleep(time.Until(before.Add(grace))) // the binary's clock cannot be set
	refused := func(tok string) response {
		return do(t, nil, s.request("GET", "/list", tok, nil))
	}
	eventually(t, "the old token refused after the grace", func() bool {
		return refused(old).status == http.StatusForbidden
	})
	unknown := refused("pmg_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	for name, tok := range map[string]string{"rotated-out": old, "expired": expired} {
		got := refused(tok)
		if got.status != unknown.status || !bytes.Equal(got.body, unknown.body) ||
			got.header.Get("Content-Type") != unknown.header.Get("Content-Type") {
			t.Errorf("%s token: %d %q %s; want %d %q %s, as for an unknown token", name,
				got.status, got.header.Get("Content-Type"), got.body,
				unknown.status, unknown.header.Get("Content-Type"), unknown.body)
		}
	}
	if unknown.status != http.StatusForbidden || unknown.detail(t) != "Token inválido" {
		t.Errorf("unknown token: %d %s", unknown.status, unknown.body)
	}
	if got := s.list(newTok); !slices.Equal(got, files) {
		t.Errorf("new token after the grace lists %q, want %q", got, files)
	}
	if r := s.pull(newTok, files[0]); r.status != http.StatusOK || !bytes.Equal(r.body, report) {
		t.Errorf("new token after the grace: pull %d", r.status)
	}
	list := cli(t, data, "token", "list", "--technician", "maria").stdout
	for _, row := range strings.Split(list, "\n") {
		fields := strings.Fields(row)
		if len(fields) == 0 || fields[0] == "ID" {
			continue
		}
		want := map[string]string{"1": "expired", "2": "expired", "3": "active"}[fields[0]]
		if status := fields[len(fields)-1]; status != want {
			t.Errorf("token list shows #%s %s, want %s:\n%s", fields[0], status, want, list)
		}
	}

	// With --grace 0 and a new label, by the token itself: the old one is
	// revoked at once.
	r = cli(t, data, "token", "rotate", newTok, "--grace", "0", "--label", "Moto G54 da Maria", "--expires", "90d")
	newer := strings.TrimSuffix(r.stdout, "\n")
	if !tokenPattern.MatchString(newer) {
		t.Fatalf("stdout %q is not the new token alone", r.stdout)
	}
	for _, want := range []string{`the new token is #4, label "Moto G54 da Maria"; it expires `, "The old token #3 is revoked."} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("summary %q lacks %q", r.stderr, want)
		}
	}
	if got := refused(newTok); got.status != http.StatusForbidden || !bytes.Equal(got.body, unknown.body) {
		t.Errorf("token rotated with no grace: %d %s, want the refusal of an unknown token", got.status, got.body)
	}
	if got := s.list(newer); !slices.Equal(got, files) {
		t.Errorf("its replacement lists %q, want %q", got, files)
	}

	// What cannot be rotated says why, and changes nothing.
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"token", "rotate", "3"}, "pmgsync: token #3 is revoked and cannot be rotated; issue a new one with \"pmgsync token create\"\n"},
		{[]string{"token", "rotate", old}, "pmgsync: token #1 has expired and cannot be rotated; issue a new one with \"pmgsync token create\"\n"},
		{[]string{"token", "rotate", "99"}, "pmgsync: no such token\n"},
	} {
		r := runBin(t, cleanEnv(), append(tt.args, "--data", data)...)
		if r.code != 1 || r.stderr != tt.stderr || r.stdout != "" {
			t.Errorf("pmgsync %q: exit %d, stdout %q, stderr %q; want 1, no output, %q", tt.args, r.code, r.stdout, r.stderr, tt.stderr)
		}
	}
	if n := strings.Count(cli(t, data, "token", "list").stdout, "\n"); n != 5 {
		t.Errorf("token list has %d lines, want a header and 4 tokens", n)
	}

	// Each rotation is one audit record, and the trail is intact.
	recs := auditList(t, data, "--action", "token.rotate")
	if len(recs) != 2 {
		t.Fatalf("%d token.rotate records, want 2: %+v", len(recs), recs)
	}
	for i, want := range []string{`token #1 label "Galaxy A14 da Maria" replaced by token #3`, `token #3 label "Galaxy A14 da Maria" replaced by token #4 label "Moto G54 da Maria"; the old one revoked`} {
		if rec := recs[i]; rec.ActorKind != "cli" || rec.Technician != "maria" || !strings.Contains(rec.Detail, want) {
			t.Errorf("record %d: %+v, want by the CLI about maria, detail with %q", i, rec, want)
		}
	}
	if out := cli(t, data, "audit", "verify").stdout; !strings.HasPrefix(out, "audit trail intact") {
		t.Errorf("audit verify: %q", out)
	}
	s.stop()
}

// TestTokenRotateLifetime checks that a 90-day token's replacement lives 90
// days too, unless --expires says otherwise.
func TestTokenRotateLifetime(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	createToken(t, data, "maria", "--label", "Moto G54 da Maria", "--expires", "90d")
	r := cli(t, data, "token", "rotate", "1")
	if want := `the new token is #2, label "Moto G54 da Maria"; it expires ` + time.Now().Add(90*24*time.Hour).Format("2006-01-02"); !strings.Contains(r.stderr, want) {
		t.Errorf("summary %q lacks %q", r.stderr, want)
	}
	r = cli(t, data, "token", "rotate", "2", "--expires", "never")
	if want := `the new token is #3, label "Moto G54 da Maria"; it never expires.`; !strings.Contains(r.stderr, want) {
		t.Errorf("summary %q lacks %q", r.stderr, want)
	}
}
