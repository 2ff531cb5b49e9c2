package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/units"
)

// runAudit is "pmgsync audit verify" and "pmgsync audit list".
func runAudit(ctx context.Context, e *env, args []string) error {
	return dispatch(ctx, e, "audit", subcommands{
		"verify": runAuditVerify,
		"list":   runAuditList,
	}, args)
}

func runAuditVerify(ctx context.Context, e *env, args []string) error {
	const cmd = "audit verify"
	fs := newFlagSet(e, cmd, "[--data DIR] [--config FILE]",
		"Walks the audit trail from its oldest record and checks its hash chain: that\n"+
			"no record was modified, deleted or inserted since it was written. Records\n"+
			"removed by the retention sweep are accounted for by the sweep's own record.\n"+
			"The exit status is 0 if the trail is intact, 1 at the first broken link,\n"+
			"which is named. It may run while the server runs.")
	cf := adminFlags(fs)
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		rep, err := m.Engine.VerifyAudit(ctx)
		if err != nil {
			return err
		}
		if rep.Broken != nil {
			return fmt.Errorf("audit trail BROKEN: %s (%d records checked)", rep.Broken, rep.Records)
		}
		fmt.Fprintf(e.stdout, "audit trail intact: %d records\n", rep.Records)
		return nil
	})
}

// auditActions are the actions "audit list --action" accepts.
var auditActions = []string{
	pmgsync.ActionUpload, pmgsync.ActionDownload, pmgsync.ActionDelete, pmgsync.ActionExpire,
	pmgsync.ActionAuthFailed, pmgsync.ActionAuthBan, pmgsync.ActionTokenCreate, pmgsync.ActionTokenRevoke, pmgsync.ActionTokenExpire,
	pmgsync.ActionTokenRotate,
	pmgsync.ActionTechnicianAdd, pmgsync.ActionTechnicianChange, pmgsync.ActionTechnicianDisable,
	pmgsync.ActionImport, pmgsync.ActionBackup, pmgsync.ActionRestore, pmgsync.ActionAuditPrune, pmgsync.ActionFileDamaged,
}

// The formats of "audit list".
var auditFormats = []string{"table", "csv", "json"}

// tableFlushEvery is how many rows of an audit table are aligned together:
// the table is written as it is read, never held whole in memory.
const tableFlushEvery = 1000

func runAuditList(ctx context.Context, e *env, args []string) error {
	const cmd = "audit list"
	fs := newFlagSet(e, cmd, "[--technician NAME] [--action ACTION] [--since T] [--until T] [--limit N] [--format table|csv|json]",
		"Lists audit records, oldest first: every one, or those the flags select.\n"+
			"T is a time in RFC 3339 (2026-12-01T09:00:00-03:00) or a date (2026-12-01,\n"+
			"its start in the local time zone); --since selects records at or after T,\n"+
			"--until records before T. --limit keeps the oldest N that match. The table\n"+
			"shows times in the local time zone; csv (with a header) and json (one object\n"+
			"a line) show every field, times in UTC. Actions: "+strings.Join(auditActions, ", ")+".")
	cf := adminFlags(fs)
	var f pmgsync.AuditFilter
	var since, until string
	fs.StringVar(&f.Technician, "technician", "", "only the records about this technician")
	fs.StringVar(&f.Action, "action", "", "only the records of this `action`")
	fs.StringVar(&since, "since", "", "only the records at or after this `time`")
	fs.StringVar(&until, "until", "", "only the records before this `time`")
	fs.IntVar(&f.Limit, "limit", 0, "at most this many records, the oldest that match (0: all)")
	format := fs.String("format", "table", "output `format`: table, csv or json")
	if err := parseNone(fs, cmd, args); err != nil {
		return err
	}
	f.Technician = norm.NFC.String(f.Technician)
	if f.Action != "" && !slices.Contains(auditActions, f.Action) {
		return cmdUsageErrorf(cmd, "unknown action %q; use one of: %s", f.Action, strings.Join(auditActions, ", "))
	}
	if !slices.Contains(auditFormats, *format) {
		return cmdUsageErrorf(cmd, "unknown format %q; use table, csv or json", *format)
	}
	if f.Limit < 0 {
		return cmdUsageErrorf(cmd, "--limit must not be negative")
	}
	var err error
	if f.Since, err = parseAuditTime(since); err != nil {
		return cmdUsageErrorf(cmd, "invalid --since: %v", err)
	}
	if f.Until, err = parseAuditTime(until); err != nil {
		return cmdUsageErrorf(cmd, "invalid --until: %v", err)
	}
	return withAdmin(ctx, e, cf, func(m *Main) error {
		w := bufio.NewWriter(e.stdout)
		out := newAuditWriter(*format, w)
		n := 0
		err := m.Engine.AuditEvents(ctx, f, func(ev *pmgsync.AuditEvent) error {
			n++
			return out.write(ev)
		})
		if ferr := out.flush(); err == nil {
			err = ferr
		}
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
		if err != nil {
			return err
		}
		if n == 0 && *format == "table" {
			fmt.Fprintln(e.stderr, "No audit records match.")
		}
		return nil
	})
}

// parseAuditTime parses a time of "audit list": "" (none), RFC 3339, or a
// date, which means its start in the local time zone.
func parseAuditTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a date (2026-12-01) nor an RFC 3339 time (2026-12-01T09:00:00-03:00)", s)
}

// auditWriter writes audit records in one format.
type auditWriter interface {
	write(*pmgsync.AuditEvent) error
	flush() error
}

func newAuditWriter(format string, w io.Writer) auditWriter {
	switch format {
	case "csv":
		return newAuditCSV(w)
	case "json":
		return &auditJSON{enc: json.NewEncoder(w)}
	default:
		return &auditTable{w: w}
	}
}

// auditTable writes records as a table, aligned tableFlushEvery rows at a
// time.
type auditTable struct {
	w    io.Writer
	t    *table
	rows int
}

func (a *auditTable) write(ev *pmgsync.AuditEvent) error {
	if a.t == nil {
		a.t = newTable(a.w, "ID", "TIME", "ACTOR", "ACTION", "TECHNICIAN", "FILE", "SIZE", "RESULT", "CLIENT IP", "DETAIL")
	}
	size := ""
	if ev.Size > 0 || ev.SHA256 != "" {
		size = units.FormatSize(ev.Size)
	}
	a.t.row(strconv.FormatInt(ev.ID, 10), formatTime(ev.Time, toSecond, ""), actorName(ev), ev.Action,
		ev.Technician, ev.FileName, size, ev.Result, ev.ClientIP, ev.Detail)
	if a.rows++; a.rows%tableFlushEvery == 0 {
		return a.t.flush()
	}
	return nil
}

func (a *auditTable) flush() error {
	if a.t == nil {
		return nil
	}
	return a.t.flush()
}

// actorName shows who did what a record records: "cli:ops", "system".
func actorName(ev *pmgsync.AuditEvent) string {
	if ev.ActorName == "" {
		return ev.ActorKind
	}
	return ev.ActorKind + ":" + ev.ActorName
}

// auditCSVHeader names the columns of "audit list --format csv", which
// are also the keys of the json format.
var auditCSVHeader = []string{"id", "time", "actor_kind", "actor_name", "action", "technician", "file_name", "size",
	"sha256", "old_sha256", "client_ip", "user_agent", "result", "request_id", "detail", "prev_hash", "hash"}

type auditCSV struct {
	w      *csv.Writer
	header bool
}

func newAuditCSV(w io.Writer) *auditCSV { return &auditCSV{w: csv.NewWriter(w)} }

func (a *auditCSV) write(ev *pmgsync.AuditEvent) error {
	if !a.header {
		a.header = true
		if err := a.w.Write(auditCSVHeader); err != nil {
			return err
		}
	}
	return a.w.Write([]string{strconv.FormatInt(ev.ID, 10), ev.Time.UTC().Format(time.RFC3339Nano),
		ev.ActorKind, ev.ActorName, ev.Action, ev.Technician, ev.FileName, strconv.FormatInt(ev.Size, 10),
		ev.SHA256, ev.OldSHA256, ev.ClientIP, ev.UserAgent, ev.Result, ev.RequestID, ev.Detail, ev.PrevHash, ev.Hash})
}

// flush writes the header even when no record matched, so that a script
// always gets the columns.
func (a *auditCSV) flush() error {
	if !a.header {
		a.header = true
		if err := a.w.Write(auditCSVHeader); err != nil {
			return err
		}
	}
	a.w.Flush()
	return a.w.Error()
}

// auditJSONRecord is one line of "audit list --format json".
type auditJSONRecord struct {
	ID         int64  `json:"id"`
	Time       string `json:"time"`
	ActorKind  string `json:"actor_kind"`
	ActorName  string `json:"actor_name"`
	Action     string `json:"action"`
	Technician string `json:"technician"`
	FileName   string `json:"file_name"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	OldSHA256  string `json:"old_sha256"`
	ClientIP   string `json:"client_ip"`
	UserAgent  string `json:"user_agent"`
	Result     string `json:"result"`
	RequestID  string `json:"request_id"`
	Detail     string `json:"detail"`
	PrevHash   string `json:"prev_hash"`
	Hash       string `json:"hash"`
}

type auditJSON struct{ enc *json.Encoder }

func (a *auditJSON) write(ev *pmgsync.AuditEvent) error {
	return a.enc.Encode(auditJSONRecord{
		ID: ev.ID, Time: ev.Time.UTC().Format(time.RFC3339Nano), ActorKind: ev.ActorKind, ActorName: ev.ActorName,
		Action: ev.Action, Technician: ev.Technician, FileName: ev.FileName, Size: ev.Size,
		SHA256: ev.SHA256, OldSHA256: ev.OldSHA256, ClientIP: ev.ClientIP, UserAgent: ev.UserAgent,
		Result: ev.Result, RequestID: ev.RequestID, Detail: ev.Detail, PrevHash: ev.PrevHash, Hash: ev.Hash,
	})
}

func (a *auditJSON) flush() error { return nil }

// cliActor is the actor of the administration commands: the CLI, named by
// the operating-system user who runs it, if known, and by who became that
// user with sudo.
func cliActor(e *env) pmgsync.Actor {
	a := pmgsync.Actor{Kind: pmgsync.ActorCLI}
	if u, err := user.Current(); err == nil {
		a.Name = u.Username
	}
	if sudo, ok := e.lookupEnv("SUDO_USER"); ok && sudo != "" && sudo != a.Name {
		a.Name += " (sudo from " + sudo + ")"
	}
	return a
}
