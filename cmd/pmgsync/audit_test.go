package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseAuditTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2026-12-01", time.Date(2026, 12, 1, 0, 0, 0, 0, time.Local)},
		{"2026-12-01T09:00:00-03:00", time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)},
		{"2026-12-01T09:00:00.5Z", time.Date(2026, 12, 1, 9, 0, 0, 5e8, time.UTC)},
	}
	for _, tt := range tests {
		got, err := parseAuditTime(tt.in)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseAuditTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"yesterday", "2026-13-01", "01/12/2026", "2026-12-01 09:00"} {
		if _, err := parseAuditTime(bad); err == nil {
			t.Errorf("parseAuditTime(%q) succeeded", bad)
		}
	}
}

func TestAuditUsage(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	tests := []struct {
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{[]string{"audit"}, 2, "", "audit needs a subcommand: list, verify"},
		{[]string{"audit", "help"}, 0, "pmgsync audit list [--technician NAME]", ""},
		{[]string{"audit", "list", "--action", "nope", "--data", data}, 2, "", `unknown action "nope"`},
		{[]string{"audit", "list", "--format", "xml", "--data", data}, 2, "", `unknown format "xml"`},
		{[]string{"audit", "list", "--since", "ontem", "--data", data}, 2, "", `invalid --since: "ontem"`},
		{[]string{"audit", "list", "--limit", "-1", "--data", data}, 2, "", "--limit must not be negative"},
		{[]string{"audit", "verify", "extra", "--data", data}, 2, "", `unexpected argument "extra"`},
		{[]string{"audit", "verify", "--data", data}, 0, "audit trail intact: 0 records\n", ""},
		{[]string{"audit", "list", "--data", data}, 0, "", "No audit records match."},
		{[]string{"audit", "list", "--format", "csv", "--data", data}, 0, "id,time,actor_kind,", ""},
	}
	for _, tt := range tests {
		stdout, stderr, code := runWithEnv(nil, tt.args...)
		if code != tt.code || !strings.Contains(stdout, tt.wantStdout) || !strings.Contains(stderr, tt.wantStderr) {
			t.Errorf("pmgsync %q: exit %d, stdout %q, stderr %q;\nwant exit %d, stdout with %q, stderr with %q",
				tt.args, code, stdout, stderr, tt.code, tt.wantStdout, tt.wantStderr)
		}
	}
}
