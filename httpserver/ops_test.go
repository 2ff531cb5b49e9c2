package httpserver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/httpserver"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/metrics"
	"github.com/pmgsync/pmgsync/sqlite"
)

// opsEnv is a server built with httpserver.Options over a real SQLite file
// and blob directory, whose metadata store wrap may replace.
type opsEnv struct {
	*env
	meta  *sqlite.DB
	blobs *localfs.Store
	logs  *syncBuffer
}

func newOpsEnv(t *testing.T, opts httpserver.Options, wrap func(*sqlite.DB) pmgsync.MetadataStore) *opsEnv {
	t.Helper()
	dir := t.TempDir()
	c := &clock{now: time.Date(2026, 12, 1, 14, 30, 0, 0, time.UTC)}
	meta, err := sqlite.Open(context.Background(), filepath.Join(dir, "pmgsync.db"), c.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	blobs, err := localfs.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var store pmgsync.MetadataStore = meta
	if wrap != nil {
		store = wrap(meta)
	}
	eng := engine.New(store, blobs, engine.Options{Now: c.Now, Logger: opts.Logger})
	e := &env{t: t, clock: c, engine: eng, server: httpserver.New(eng, opts), dir: dir}
	return &opsEnv{env: e, meta: meta, blobs: blobs, logs: logs}
}

// TestClientIP checks that the forwarding headers count only from trusted
// proxies, walked from the right; the client address shows in the access
// log and in the audit record of a refused token.
func TestClientIP(t *testing.T) {
	trusted, err := httpserver.ParseTrustedProxies("10.0.0.0/8, 192.168.1.1, ::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		peer   string
		header map[string]string
		want   string
	}{
		{"no proxy", "203.0.113.9:4000", nil, "203.0.113.9"},
		{"untrusted peer's XFF ignored", "203.0.113.9:4000", map[string]string{"X-Forwarded-For": "1.2.3.4"}, "203.0.113.9"},
		{"untrusted peer's Forwarded ignored", "203.0.113.9:4000", map[string]string{"Forwarded": "for=1.2.3.4"}, "203.0.113.9"},
		{"trusted proxy", "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"},
		{"spoofed entry left of the real client", "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "198.51.100.7, 192.168.1.1, 10.9.9.9"}, "198.51.100.7"},
		{"every hop trusted", "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "10.0.0.5, 10.0.0.6"}, "10.0.0.5"},
		{"garbage stops the walk", "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "198.51.100.7, nonsense, 10.0.0.6"}, "10.0.0.6"},
		{"trusted peer without header", "10.1.2.3:5000", nil, "10.1.2.3"},
		{"port in XFF", "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "198.51.100.7:1234"}, "198.51.100.7"},
		{"Forwarded", "[::1]:5000", map[string]string{"Forwarded": `for=198.51.100.7;proto=https, for="[2001:db8::17]:4711"`}, "2001:db8::17"},
		{"Forwarded unknown hop", "[::1]:5000", map[string]string{"Forwarded": `for=198.51.100.7, for=unknown`}, "::1"},
		{"XFF wins over Forwarded", "10.1.2.3:5000", map[string]string{"X-Forwarded-For": "198.51.100.7", "Forwarded": "for=6.6.6.6"}, "198.51.100.7"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:5000", map[string]string{"X-Forwarded-For": "198.51.100.7"}, "198.51.100.7"},
	}
	e := newOpsEnv(t, httpserver.Options{TrustedProxies: trusted}, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/list?token=nope", nil)
			req.RemoteAddr = tt.peer
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp := e.do(req)
			resp.Body.Close()
			id := resp.Header.Get("X-Request-Id")
			line := logLine(t, e.logs.String(), "request_id="+id)
			if got := field(line, "client_ip"); got != tt.want {
				t.Errorf("client_ip = %q, want %q (%s)", got, tt.want, line)
			}
			ev := auditRecord(t, e.meta, id)
			if ev.Action != pmgsync.ActionAuthFailed || ev.ClientIP != tt.want || ev.ActorKind != pmgsync.ActorTechnician {
				t.Errorf("audit record %+v, want auth.failed from %s", ev, tt.want)
			}
		})
	}
}

// TestRequestID checks that an X-Request-Id is taken from a trusted proxy
// only, and only when it is a sane one.
func TestRequestID(t *testing.T) {
	trusted, _ := httpserver.ParseTrustedProxies("10.0.0.1")
	e := newOpsEnv(t, httpserver.Options{TrustedProxies: trusted}, nil)
	tok := e.token("joao")
	tests := []struct {
		peer, id string
		kept     bool
	}{
		{"10.0.0.1:1", "abc-123_X.y:z", true},
		{"10.0.0.1:1", strings.Repeat("a", 64), true},
		{"10.0.0.1:1", strings.Repeat("a", 65), false},
		{"10.0.0.1:1", "bad id\nlevel=ERROR", false},
		{"10.0.0.1:1", "ação", false},
		{"203.0.113.9:1", "abc-123", false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/list?token="+tok, nil)
		req.RemoteAddr = tt.peer
		req.Header.Set("X-Request-Id", tt.id)
		resp := e.do(req)
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if tt.kept && got != tt.id || !tt.kept && (got == tt.id || len(got) != 24 || seen[got]) {
			t.Errorf("from %s, X-Request-Id %q: answered with %q (kept: %v)", tt.peer, tt.id, got, tt.kept)
		}
		seen[got] = true
		if !strings.Contains(e.logs.String(), "request_id="+got+" technician=1") {
			t.Errorf("the access log lacks request id %q", got)
		}
	}
}

// brokenStore is a metadata store whose pings and technician lookups fail
// with err.
type brokenStore struct {
	*sqlite.DB
	err error
}

func (s brokenStore) TechnicianByName(context.Context, string) (*pmgsync.Technician, error) {
	return nil, s.err
}

func (s brokenStore) Ping(context.Context) error { return s.err }

func TestReadyz(t *testing.T) {
	free := uint64(10 << 30)
	probe := func() (uint64, uint64, error) { return free, 100 << 30, nil }
	// guard is the disk check of an engine over e's stores whose
	// free-space guard keeps 1 GiB, measured by p.
	guard := func(e *opsEnv, p func() (uint64, uint64, error)) httpserver.Check {
		eng := engine.New(e.meta, e.blobs, engine.Options{FreeSpace: p, MinFreeBytes: 1 << 30, MinFreePercent: 5})
		return httpserver.FreeSpaceCheck(eng.CheckFreeSpace)
	}
	tests := []struct {
		name   string
		setup  func(e *opsEnv) []httpserver.Check
		status int
		detail string
	}{
		{"ready", func(e *opsEnv) []httpserver.Check {
			return []httpserver.Check{httpserver.StoreCheck(e.meta), httpserver.BlobCheck(e.blobs), guard(e, probe)}
		}, 200, ""},
		{"no checks", func(e *opsEnv) []httpserver.Check { return nil }, 200, ""},
		{"database closed", func(e *opsEnv) []httpserver.Check {
			e.meta.Close()
			return []httpserver.Check{httpserver.StoreCheck(e.meta)}
		}, 503, "database: the database is unreachable"},
		{"database locked", func(e *opsEnv) []httpserver.Check {
			return []httpserver.Check{httpserver.StoreCheck(brokenStore{e.meta, errors.New("database is locked (5) (SQLITE_BUSY)")})}
		}, 503, "database: the database is locked"},
		{"database write-locked by another connection", func(e *opsEnv) []httpserver.Check {
			// Another process's writer in the middle of a transaction:
			// WAL readers go on, so only a probe of the write lock sees it.
			other, err := sql.Open("sqlite", "file:"+filepath.Join(e.dir, "pmgsync.db")+"?_busy_timeout=10000")
			if err != nil {
				t.Fatal(err)
			}
			conn, err := other.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
				t.Fatal(err)
			}
			e.t.Cleanup(func() {
				conn.ExecContext(context.Background(), "ROLLBACK")
				conn.Close()
				other.Close()
			})
			return []httpserver.Check{httpserver.StoreCheck(e.meta)}
		}, 503, "database: the database is locked"},
		{"database slow", func(e *opsEnv) []httpserver.Check {
			return []httpserver.Check{httpserver.StoreCheck(brokenStore{e.meta, fmt.Errorf("query: %w", context.DeadlineExceeded)})}
		}, 503, "database: the database does not answer"},
		{"blob store unwritable", func(e *opsEnv) []httpserver.Check {
			// A file where the temporary directory should be: not even
			// root can create a blob there.
			tmp := filepath.Join(e.dir, "blobs", "tmp")
			if err := os.RemoveAll(tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(tmp, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return []httpserver.Check{httpserver.StoreCheck(e.meta), httpserver.BlobCheck(e.blobs)}
		}, 503, "blob store: cannot create a blob"},
		{"disk below the guard", func(e *opsEnv) []httpserver.Check {
			free = 512 << 20
			return []httpserver.Check{guard(e, probe)}
		}, 503, "disk: disk full: free space below the guard"},
		{"free-space probe fails", func(e *opsEnv) []httpserver.Check {
			failing := func() (uint64, uint64, error) { return 0, 0, errors.New("statfs /secret/path: EIO") }
			return []httpserver.Check{guard(e, failing)}
		}, 503, "disk: cannot tell the free space"},
		{"two failures", func(e *opsEnv) []httpserver.Check {
			free = 0
			e.meta.Close()
			return []httpserver.Check{httpserver.StoreCheck(e.meta), guard(e, probe)}
		}, 503, "database: the database is unreachable; disk: disk full: free space below the guard"},
		{"a check of another kind", func(e *opsEnv) []httpserver.Check {
			return []httpserver.Check{{Name: "queue", Run: func(context.Context) error { return errors.New("internal detail") }}}
		}, 503, "queue: not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			free = 10 << 30
			// Two environments: the first only lends its stores to the checks.
			base := newOpsEnv(t, httpserver.Options{}, nil)
			e := newOpsEnv(t, httpserver.Options{Readiness: tt.setup(base), ReadinessTimeout: 500 * time.Millisecond}, nil)
			got := decode(t, e.get(http.MethodGet, "/readyz", nil), tt.status)
			if tt.status == 200 && got["status"] != "ok" || tt.status != 200 && got["detail"] != tt.detail {
				t.Errorf("body %v, want detail %q", got, tt.detail)
			}
			if n := countTemp(t, base.dir); n != 0 && tt.name == "ready" {
				t.Errorf("%d temporary blobs left by the check", n)
			}
			if tt.status != 200 && !strings.Contains(e.logs.String(), "msg=\"not ready\"") {
				t.Errorf("the failure is not logged:\n%s", e.logs)
			}
			if strings.Contains(fmt.Sprint(got), "/secret/path") || strings.Contains(fmt.Sprint(got), "internal detail") {
				t.Errorf("internal error text in the answer: %v", got)
			}
		})
	}
	t.Run("healthz", func(t *testing.T) {
		e := newOpsEnv(t, httpserver.Options{}, nil)
		if got := decode(t, e.get(http.MethodGet, "/healthz", nil), 200); got["status"] != "ok" {
			t.Errorf("healthz: %v", got)
		}
	})
}

// panickyStore panics when a technician's files are listed, with a message
// holding a URL with a token, as a careless panic might.
type panickyStore struct {
	*sqlite.DB
	token *string
}

func (s panickyStore) Files(context.Context, int64) ([]*pmgsync.File, error) {
	panic("listing failed for GET /list?token=" + *s.token + "&x=1, Authorization: Bearer " + *s.token)
}

// LiveFileNames is what /list reads of a store that has it, as sqlite.DB does.
func (s panickyStore) LiveFileNames(ctx context.Context, id int64, _ time.Time) ([]string, error) {
	s.Files(ctx, id)
	return nil, nil
}

// TestPanicRecovered checks that a panic answers 500 with the request id,
// is logged with its stack and without the token, is counted, and that
// the server serves on.
func TestPanicRecovered(t *testing.T) {
	var tok string
	m := metrics.New("test")
	e := newOpsEnv(t, httpserver.Options{Metrics: m}, func(db *sqlite.DB) pmgsync.MetadataStore { return panickyStore{db, &tok} })
	tok = e.token("joao")
	srv := httptest.NewServer(e.server)
	defer srv.Close()
	for range 2 {
		resp, err := http.Get(srv.URL + "/list?token=" + tok)
		if err != nil {
			t.Fatal(err)
		}
		id := resp.Header.Get("X-Request-Id")
		got := decode(t, resp, http.StatusInternalServerError)
		if got["request_id"] != id || !strings.Contains(got["detail"].(string), id) || !strings.HasPrefix(got["detail"].(string), "erro interno do servidor") {
			t.Errorf("body %v, request id %q", got, id)
		}
	}
	// The server still serves.
	decode(t, e.upload(tok, "pmg.xlsx", report(1)), http.StatusOK)
	log := e.logs.String()
	for _, want := range []string{`msg="panic serving a request"`, "panicky", "runtime/debug.Stack", "route=/list status=500", "token=REDACTED", "Bearer REDACTED"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, tok) {
		t.Errorf("log holds the token:\n%s", log)
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP pmgsync_http_panics_total Handler panics recovered (each answered with a 500).
# TYPE pmgsync_http_panics_total counter
pmgsync_http_panics_total 2
`), "pmgsync_http_panics_total"); err != nil {
		t.Error(err)
	}
}

// TestMetricsCounted runs a scripted sequence of requests and checks every
// counter it moves, then scrapes /metrics.
func TestMetricsCounted(t *testing.T) {
	m := metrics.New("v9.9.9")
	e := newOpsEnv(t, httpserver.Options{Metrics: m, ServeMetrics: true}, nil)
	tok := e.token("joao")
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	decode(t, e.upload(tok, "a.xlsx", report(1)), 200)
	decode(t, e.upload(tok, "b.xlsx", report(2)), 200)
	decode(t, e.upload("wrong", "c.xlsx", report(3)), 403)
	decode(t, e.get(http.MethodGet, "/list", q("token", tok)), 200)
	decode(t, e.get(http.MethodGet, "/list", nil), 403)
	body(t, e.get(http.MethodGet, "/pull", q("token", tok, "filename", "a.xlsx")))
	decode(t, e.get(http.MethodGet, "/pull", q("token", tok, "filename", "zzz.xlsx")), 404)
	decode(t, e.get(http.MethodDelete, "/delete", q("token", tok, "filename", "b.xlsx")), 200)
	decode(t, e.get(http.MethodGet, "/nowhere", nil), 404)

	want := fmt.Sprintf(`
# HELP pmgsync_auth_failures_total Requests refused for a missing, unknown, expired or revoked token.
# TYPE pmgsync_auth_failures_total counter
pmgsync_auth_failures_total 2
# HELP pmgsync_downloaded_bytes_total Bytes of file content sent by pulls.
# TYPE pmgsync_downloaded_bytes_total counter
pmgsync_downloaded_bytes_total %d
# HELP pmgsync_http_requests_total HTTP requests answered, by route pattern and status code.
# TYPE pmgsync_http_requests_total counter
pmgsync_http_requests_total{code="200",route="/delete"} 1
pmgsync_http_requests_total{code="200",route="/list"} 1
pmgsync_http_requests_total{code="200",route="/pull"} 1
pmgsync_http_requests_total{code="200",route="/upload"} 2
pmgsync_http_requests_total{code="403",route="/list"} 1
pmgsync_http_requests_total{code="403",route="/upload"} 1
pmgsync_http_requests_total{code="404",route="/"} 1
pmgsync_http_requests_total{code="404",route="/pull"} 1
# HELP pmgsync_operations_total Successful file operations by technicians: upload, download, delete.
# TYPE pmgsync_operations_total counter
pmgsync_operations_total{op="delete"} 1
pmgsync_operations_total{op="download"} 1
pmgsync_operations_total{op="upload"} 2
# HELP pmgsync_uploaded_bytes_total Bytes of the files stored by successful uploads.
# TYPE pmgsync_uploaded_bytes_total counter
pmgsync_uploaded_bytes_total %d
`, len(report(1)), len(report(1))+len(report(2)))
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"pmgsync_auth_failures_total", "pmgsync_downloaded_bytes_total", "pmgsync_http_requests_total",
		"pmgsync_operations_total", "pmgsync_uploaded_bytes_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "pmgsync_http_request_duration_seconds"); n != 5 {
		t.Errorf("%d latency histograms, want one per route seen (5)", n)
	}

	scrape := body(t, e.get(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`pmgsync_http_request_duration_seconds_count{route="/upload"} 3`,
		`pmgsync_build_info{goversion="go`,
		`version="v9.9.9"} 1`,
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		if !strings.Contains(scrape, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	t.Run("not served unless asked", func(t *testing.T) {
		e := newOpsEnv(t, httpserver.Options{Metrics: m}, nil)
		decode(t, e.get(http.MethodGet, "/metrics", nil), 404)
	})
}

// TestLogsNeverHoldTokens runs a session of uploads, bad tokens, pulls,
// deletes, refusals and a panic, and greps the whole log for every token
// used.
func TestLogsNeverHoldTokens(t *testing.T) {
	var panicTok string
	e := newOpsEnv(t, httpserver.Options{Metrics: metrics.New("test")}, func(db *sqlite.DB) pmgsync.MetadataStore {
		return panickyStore{db, &panicTok}
	})
	joao, maria := e.token("joao"), e.token("maria")
	panicTok = maria
	bad := []string{"bad-token-0123456789abcdef", "revoked-or-not-9f8e7d6c5b4a", joao + "x"}
	srv := httptest.NewServer(e.server)
	defer srv.Close()
	do := func(method, target, bearer string, upload bool) {
		var req *http.Request
		if upload {
			b, ct := multipartBody(t, "pmg.xlsx", report(7))
			req, _ = http.NewRequest(method, srv.URL+target, b)
			req.Header.Set("Content-Type", ct)
		} else {
			req, _ = http.NewRequest(method, srv.URL+target, nil)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, tok := range append([]string{joao}, bad...) {
		do(http.MethodPost, "/upload?token="+url.QueryEscape(tok), "", true)
		do(http.MethodPost, "/upload", tok, true)
		do(http.MethodGet, "/pull?filename=pmg.xlsx&token="+url.QueryEscape(tok), "", false)
		do(http.MethodGet, "/pull?token="+url.QueryEscape(tok), "", false) // no filename
		do(http.MethodGet, "/pull?filename=none.xlsx", tok, false)
		do(http.MethodPut, "/upload?token="+url.QueryEscape(tok), "", false)
		do(http.MethodGet, "/elsewhere?token="+url.QueryEscape(tok), "", false)
		do(http.MethodGet, "//list?token="+url.QueryEscape(tok), "", false) // a redirect
	}
	do(http.MethodGet, "/list?token="+maria, "", false) // the panic
	do(http.MethodGet, "/list", maria, false)           // again, with the header
	do(http.MethodDelete, "/delete?filename=pmg.xlsx&token="+joao, "", false)

	log := e.logs.String()
	if !strings.Contains(log, "panic serving a request") || !strings.Contains(log, "msg=request") {
		t.Fatalf("the session did not log what it should:\n%s", log)
	}
	for _, tok := range append([]string{joao, maria}, bad...) {
		if strings.Contains(log, tok) {
			t.Errorf("the log holds token %q:\n%s", tok, log)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET /pull?token=abc123&filename=x", "GET /pull?token=REDACTED&filename=x"},
		{"/list?filename=a&TOKEN=abc", "/list?filename=a&TOKEN=REDACTED"},
		{`url="http://h/upload?token=a%2Fb"`, `url="http://h/upload?token=REDACTED"`},
		{"/x?token%3Dabc", "/x?token%3DREDACTED"},
		{"Authorization: Bearer abc.def", "Authorization: Bearer REDACTED"},
		{"token=abc", "token=REDACTED"},
		{"mytoken=abc", "mytoken=abc"},
		{"no secrets here", "no secrets here"},
	}
	for _, tt := range tests {
		if got := httpserver.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTrustedProxiesFormat(t *testing.T) {
	p, err := httpserver.ParseTrustedProxies(" 10.1.2.3/8 ,, 127.0.0.1, 2001:db8::/32 ")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("2001:db8::/32")}
	if fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("parsed %v, want %v", p, want)
	}
	if got := httpserver.FormatTrustedProxies(p); got != "10.0.0.0/8,127.0.0.1,2001:db8::/32" {
		t.Errorf("formatted %q", got)
	}
}

// logLine returns the line of log that holds substr.
func logLine(t *testing.T, log, substr string) string {
	t.Helper()
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, substr) && strings.Contains(line, "msg=request ") {
			return line
		}
	}
	t.Fatalf("no access-log line with %q in:\n%s", substr, log)
	return ""
}

// field returns the value of key in a slog text line.
func field(line, key string) string {
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// auditRecord returns the audit record of the request with that id.
func auditRecord(t *testing.T, db *sqlite.DB, requestID string) *pmgsync.AuditEvent {
	t.Helper()
	var found *pmgsync.AuditEvent
	err := db.AuditEvents(context.Background(), pmgsync.AuditFilter{}, func(ev *pmgsync.AuditEvent) error {
		if ev.RequestID == requestID {
			found = ev
		}
		return nil
	})
	if err != nil || found == nil {
		t.Fatalf("no audit record of request %s: %v", requestID, err)
	}
	return found
}

// downloads returns the download records of the audit trail, oldest first.
func downloads(t *testing.T, db *sqlite.DB) []*pmgsync.AuditEvent {
	t.Helper()
	var all []*pmgsync.AuditEvent
	err := db.AuditEvents(context.Background(), pmgsync.AuditFilter{Action: pmgsync.ActionDownload}, func(ev *pmgsync.AuditEvent) error {
		all = append(all, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// A download is recorded once its response is sent, with what was sent: a
// HEAD and a 304 send no content and leave no record, a range records the
// bytes it sent.
func TestPullAudit(t *testing.T) {
	e := newOpsEnv(t, httpserver.Options{}, nil)
	tok := e.token("joao")
	content := []byte("a;b\n1;2\n")
	e.put("joao", "pmg.csv", content)
	target := "/pull?" + url.Values{"token": {tok}, "filename": {"pmg.csv"}}.Encode()
	etag := `"` + sha(content) + `"`
	tests := []struct {
		name   string
		method string
		header map[string]string
		status int
		want   *pmgsync.AuditEvent // nil: no record
	}{
		{"GET", http.MethodGet, nil, 200, &pmgsync.AuditEvent{Result: "ok"}},
		{"HEAD", http.MethodHead, nil, 200, nil},
		{"not modified", http.MethodGet, map[string]string{"If-None-Match": etag}, 304, nil},
		{"range", http.MethodGet, map[string]string{"Range": "bytes=0-2"}, 206, &pmgsync.AuditEvent{Result: "206", Detail: "3 of 8 bytes sent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(downloads(t, e.meta))
			req := httptest.NewRequest(tt.method, target, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp := e.do(req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			after := downloads(t, e.meta)
			if tt.want == nil {
				if len(after) != before {
					t.Fatalf("%d records, want none: %+v", len(after)-before, after[before:])
				}
				return
			}
			if len(after) != before+1 {
				t.Fatalf("%d records, want 1", len(after)-before)
			}
			got := after[len(after)-1]
			if got.Technician != "joao" || got.FileName != "pmg.csv" || got.Size != 8 || got.SHA256 != sha(content) ||
				got.Result != tt.want.Result || got.Detail != tt.want.Detail || got.RequestID != resp.Header.Get("X-Request-Id") {
				t.Errorf("record %+v, want result %q, detail %q", got, tt.want.Result, tt.want.Detail)
			}
		})
	}
}
