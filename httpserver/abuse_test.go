package httpserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/httpserver"
	"github.com/pmgsync/pmgsync/metrics"
	"github.com/pmgsync/pmgsync/sqlite"
	"github.com/pmgsync/pmgsync/throttle"
)

// lookupCounter is a metadata store that counts token lookups.
type lookupCounter struct {
	*sqlite.DB
	lookups *atomic.Int64
}

func (s lookupCounter) Authenticate(ctx context.Context, hash []byte, now time.Time) (*pmgsync.Technician, *pmgsync.Token, error) {
	s.lookups.Add(1)
	return s.DB.Authenticate(ctx, hash, now)
}

// abuseEnv is an opsEnv whose abuse limits run on the environment's
// settable clock, over a store that counts token lookups.
type abuseEnv struct {
	*opsEnv
	lookups atomic.Int64
	metrics *metrics.Metrics
}

// newAbuseEnv starts a server with opts, the default failure limits (20
// within 10 minutes, a ban of 15) if opts has none, and metrics.
func newAbuseEnv(t *testing.T, opts httpserver.Options) *abuseEnv {
	t.Helper()
	a := &abuseEnv{metrics: metrics.New("test")}
	opts.Metrics = a.metrics
	opts.Now = func() time.Time { return a.clock.Now() }
	a.opsEnv = newOpsEnv(t, opts, func(db *sqlite.DB) pmgsync.MetadataStore { return lookupCounter{db, &a.lookups} })
	return a
}

func defaultFailures(t *testing.T) throttle.Failures {
	t.Helper()
	f, err := throttle.NewMemoryFailures(throttle.FailureLimits{Limit: 20, Window: 10 * time.Minute, Ban: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// list asks for the files of token from the socket peer, with the
// headers given as name, value pairs.
func (a *abuseEnv) list(peer, token string, header ...string) *http.Response {
	a.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/list?token="+url.QueryEscape(token), nil)
	req.RemoteAddr = peer
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return a.do(req)
}

// tooMany checks that resp is a 429 with the given Retry-After and a
// detail that contains want.
func tooMany(t *testing.T, resp *http.Response, retryAfter, want string) {
	t.Helper()
	if got := resp.Header.Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After = %q, want %q", got, retryAfter)
	}
	if d := decode(t, resp, http.StatusTooManyRequests)["detail"].(string); !strings.Contains(d, want) {
		t.Errorf("detail %q lacks %q", d, want)
	}
}

func (a *abuseEnv) throttled(t *testing.T, authBan, rateLimit, uploads, bans int) {
	t.Helper()
	want := fmt.Sprintf(`
# HELP pmgsync_auth_bans_total Client addresses banned for repeated failed authentications.
# TYPE pmgsync_auth_bans_total counter
pmgsync_auth_bans_total %d
# HELP pmgsync_throttled_requests_total Requests refused with 429 by the abuse limits, by reason: "auth_ban", "rate_limit", "uploads_in_flight".
# TYPE pmgsync_throttled_requests_total counter
pmgsync_throttled_requests_total{reason="auth_ban"} %d
pmgsync_throttled_requests_total{reason="rate_limit"} %d
pmgsync_throttled_requests_total{reason="uploads_in_flight"} %d
`, bans, authBan, rateLimit, uploads)
	if err := testutil.GatherAndCompare(a.metrics.Registry(), strings.NewReader(want),
		"pmgsync_auth_bans_total", "pmgsync_throttled_requests_total"); err != nil {
		t.Error(err)
	}
}

// logLineOf returns the first line of log that holds substr.
func logLineOf(t *testing.T, log, substr string) string {
	t.Helper()
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, substr) {
			return line
		}
	}
	t.Fatalf("no log line with %q in:\n%s", substr, log)
	return ""
}

// TestAuthBan: twenty wrong tokens from one address within ten minutes get
// it refused for fifteen, valid token or not, without a token lookup; a
// success between the failures does not reset the count; other addresses
// are served; the ban is logged, counted and recorded once, and it ends on
// the clock.
func TestAuthBan(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{AuthFailures: defaultFailures(t)})
	maria := a.token("maria")
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	const attacker, other = "198.51.100.7:40000", "203.0.113.9:40000"

	var banStart string
	for i := range 20 {
		if i == 10 { // maria, behind the same carrier NAT
			decode(t, a.list(attacker, maria), http.StatusOK)
		}
		a.clock.Advance(10 * time.Second)
		resp := a.list(attacker, fmt.Sprintf("pmg_guess%02d", i))
		banStart = resp.Header.Get("X-Request-Id")
		decode(t, resp, http.StatusForbidden)
	}
	lookups := a.lookups.Load()

	// The 21st guess, and maria's valid token, are refused unchecked.
	tooMany(t, a.list(attacker, "pmg_guess20"), "900", "tente novamente em 15m")
	a.clock.Advance(time.Minute)
	tooMany(t, a.list(attacker, maria, "Accept-Language", "en"), "840", "try again in 14m")
	if n := a.lookups.Load(); n != lookups {
		t.Errorf("%d token lookups during the ban, want none", n-lookups)
	}
	// Nor is a banned request recorded: only the ban's start is.
	refused := a.list(attacker, maria)
	refused.Body.Close()
	if err := a.meta.AuditEvents(context.Background(), pmgsync.AuditFilter{}, func(ev *pmgsync.AuditEvent) error {
		if ev.RequestID == refused.Header.Get("X-Request-Id") {
			t.Errorf("a refused request was recorded: %+v", ev)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var bans []*pmgsync.AuditEvent
	a.meta.AuditEvents(context.Background(), pmgsync.AuditFilter{Action: pmgsync.ActionAuthBan}, func(ev *pmgsync.AuditEvent) error {
		bans = append(bans, ev)
		return nil
	})
	if len(bans) != 1 || bans[0].ClientIP != "198.51.100.7" || bans[0].Result != "429" || bans[0].RequestID != banStart ||
		!strings.Contains(bans[0].Detail, "refused until 2026-12-01T14:48:20Z") {
		t.Errorf("ban records %+v, want one of 198.51.100.7's 20th failure, until 14:48:20", bans)
	}
	if n := strings.Count(a.logs.String(), "client banned after repeated failed authentications"); n != 1 {
		t.Errorf("the ban was logged %d times, want once", n)
	}
	line := logLineOf(t, a.logs.String(), "client banned")
	if field(line, "level") != "WARN" || field(line, "client_ip") != "198.51.100.7" {
		t.Errorf("log line %s", line)
	}

	// Another address is served, and its failures are its own.
	decode(t, a.list(other, maria), http.StatusOK)
	decode(t, a.list(other, "pmg_guess"), http.StatusForbidden)
	a.throttled(t, 3, 0, 0, 1)

	// The ban ends on the clock: a second before, still refused; then
	// maria is served, and the count has started afresh.
	a.clock.Advance(14*time.Minute - time.Second)
	tooMany(t, a.list(attacker, maria), "1", "tente novamente em 1s")
	a.clock.Advance(time.Second)
	decode(t, a.list(attacker, maria), http.StatusOK)
	for i := range 19 {
		decode(t, a.list(attacker, fmt.Sprintf("pmg_again%02d", i)), http.StatusForbidden)
	}
	decode(t, a.list(attacker, maria), http.StatusOK)
	a.throttled(t, 4, 0, 0, 1)
}

// Failures leave the window: twenty spread over more than ten minutes are
// no ban.
func TestAuthBanWindow(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{AuthFailures: defaultFailures(t)})
	maria := a.token("maria")
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	for i := range 40 {
		a.clock.Advance(32 * time.Second) // at most 19 within any 10 minutes
		decode(t, a.list("198.51.100.7:1", fmt.Sprintf("pmg_guess%02d", i)), http.StatusForbidden)
	}
	decode(t, a.list("198.51.100.7:1", maria), http.StatusOK)
}

// Behind a trusted proxy, the client it forwards for is counted, not the
// proxy; a client that sends its own X-Forwarded-For straight to the server
// is counted by its socket address, whatever it claims.
func TestAuthBanBehindProxy(t *testing.T) {
	trusted, err := httpserver.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	a := newAbuseEnv(t, httpserver.Options{AuthFailures: defaultFailures(t), TrustedProxies: trusted})
	maria := a.token("maria")
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	const proxy = "10.0.0.2:50000"
	for i := range 20 {
		resp := a.list(proxy, fmt.Sprintf("pmg_guess%02d", i), "X-Forwarded-For", "198.51.100.7")
		decode(t, resp, http.StatusForbidden)
	}
	tooMany(t, a.list(proxy, maria, "X-Forwarded-For", "198.51.100.7"), "900", "15m")
	decode(t, a.list(proxy, maria, "X-Forwarded-For", "198.51.100.8"), http.StatusOK)
	decode(t, a.list(proxy, maria), http.StatusOK) // the proxy itself

	for i := range 20 {
		spoofed := fmt.Sprintf("192.0.2.%d", i)
		decode(t, a.list("203.0.113.9:1", fmt.Sprintf("pmg_guess%02d", i), "X-Forwarded-For", spoofed), http.StatusForbidden)
	}
	tooMany(t, a.list("203.0.113.9:1", maria, "X-Forwarded-For", "192.0.2.99"), "900", "15m")
}

// An IPv6 client is counted by its /64, which it could otherwise rotate
// through.
func TestAuthBanIPv6(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{AuthFailures: defaultFailures(t)})
	maria := a.token("maria")
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	for i := range 20 {
		peer := fmt.Sprintf("[2001:db8:aa:1::%x]:443", i+1)
		decode(t, a.list(peer, fmt.Sprintf("pmg_guess%02d", i)), http.StatusForbidden)
	}
	tooMany(t, a.list("[2001:db8:aa:1:ffff::1]:443", maria), "900", "15m")
	decode(t, a.list("[2001:db8:aa:2::1]:443", maria), http.StatusOK)
}

// A request without a token is no guess: it costs no lookup and does not
// count.
func TestAuthBanIgnoresMissingTokens(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{AuthFailures: defaultFailures(t)})
	maria := a.token("maria")
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	for range 30 {
		decode(t, a.list("198.51.100.7:1", ""), http.StatusForbidden)
	}
	decode(t, a.list("198.51.100.7:1", maria), http.StatusOK)
}

// A token that exists but is no longer active (a phone still syncing with
// a revoked token) gets the same 403 as a guess but is no guess: it never
// gets its address banned, and the technicians behind it keep working.
func TestAuthBanIgnoresInactiveTokens(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{AuthFailures: defaultFailures(t)})
	maria := a.token("maria")
	old := a.token("maria")
	if _, err := a.engine.RevokeToken(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	unknown := decode(t, a.list("198.51.100.7:1", "pmg_palpite"), http.StatusForbidden)
	for range 30 {
		if got := decode(t, a.list("198.51.100.7:1", old), http.StatusForbidden); got["detail"] != unknown["detail"] {
			t.Fatalf("revoked token: detail %q, unknown token: %q", got["detail"], unknown["detail"])
		}
	}
	decode(t, a.list("198.51.100.7:1", maria), http.StatusOK)
}

// Without AuthFailures, nothing is ever banned.
func TestNoAuthBanByDefault(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{})
	maria := a.token("maria")
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	for i := range 50 {
		decode(t, a.list("198.51.100.7:1", fmt.Sprintf("pmg_guess%02d", i)), http.StatusForbidden)
	}
	decode(t, a.list("198.51.100.7:1", maria), http.StatusOK)
	a.throttled(t, 0, 0, 0, 0)
}

// failingFailures is a store of failures that cannot be reached.
type failingFailures struct{}

func (failingFailures) Banned(context.Context, string, time.Time) (throttle.Ban, error) {
	return throttle.Ban{}, errors.New("connection refused")
}

func (failingFailures) Fail(context.Context, string, time.Time) (throttle.Ban, error) {
	return throttle.Ban{}, errors.New("connection refused")
}

// A store of failures that fails lets requests through, and logs why.
func TestAuthBanStoreDown(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{AuthFailures: failingFailures{}})
	maria := a.token("maria")
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	decode(t, a.list("198.51.100.7:1", "pmg_guess"), http.StatusForbidden)
	decode(t, a.list("198.51.100.7:1", maria), http.StatusOK)
	for _, msg := range []string{"throttle: check a ban; request let through", "throttle: count a failed authentication"} {
		if line := logLineOf(t, a.logs.String(), msg); field(line, "level") != "ERROR" || field(line, "client") != "198.51.100.7" {
			t.Errorf("log line %s", line)
		}
	}
}

// TestRateLimit: a token past its burst gets 429 with the Retry-After of
// its bucket, other tokens are served, and the clock refills it.
func TestRateLimit(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{RateLimit: 0.5, RateBurst: 3})
	maria, joao := a.token("maria"), a.token("joao")
	a.put("maria", "relatorio-bomba-07.xlsx", report(7))
	a.put("joao", "relatorio-bomba-08.xlsx", report(8))
	for range 3 {
		decode(t, a.list("198.51.100.7:1", maria), http.StatusOK)
	}
	tooMany(t, a.list("198.51.100.7:1", maria), "2", "requisições demais; tente novamente em 2s")
	a.clock.Advance(1500 * time.Millisecond)
	tooMany(t, a.list("198.51.100.7:1", maria, "Accept-Language", "en"), "1", "too many requests; try again in 1s")
	decode(t, a.list("198.51.100.7:1", joao), http.StatusOK)
	// Uploads, pulls and deletes draw on the same bucket.
	tooMany(t, a.upload(maria, "relatorio-bomba-09.xlsx", report(9)), "1", "1")
	a.clock.Advance(500 * time.Millisecond)
	decode(t, a.upload(maria, "relatorio-bomba-09.xlsx", report(9)), http.StatusOK)
	tooMany(t, a.list("198.51.100.7:1", maria), "2", "2")
	a.throttled(t, 0, 4, 0, 0)
}

// heldUpload is an upload whose body is sent as the test decides.
type heldUpload struct {
	pw   *io.PipeWriter
	part io.Writer
	mw   *multipart.Writer
	resp chan *http.Response
}

// holdUpload starts an upload of name with token and returns once the
// server has read the start of its body, and so holds its slot: a write to
// a pipe returns only when it has been read.
func (a *abuseEnv) holdUpload(t *testing.T, token, name string) *heldUpload {
	t.Helper()
	pr, pw := io.Pipe()
	h := &heldUpload{pw: pw, mw: multipart.NewWriter(pw), resp: make(chan *http.Response, 1)}
	req := httptest.NewRequest(http.MethodPost, "/upload?token="+token, pr)
	req.Header.Set("Content-Type", h.mw.FormDataContentType())
	go func() {
		rec := httptest.NewRecorder()
		a.server.ServeHTTP(rec, req)
		h.resp <- rec.Result()
	}()
	written := make(chan error, 1)
	go func() {
		part, err := h.mw.CreateFormFile("file", name)
		h.part = part
		written <- err
	}()
	select {
	case err := <-written:
		if err != nil {
			t.Fatal(err)
		}
	case resp := <-h.resp:
		pw.CloseWithError(errors.New("not read"))
		t.Fatalf("upload of %s answered %d before its body was read", name, resp.StatusCode)
	}
	return h
}

// finish sends the rest of the upload and returns the answer.
func (h *heldUpload) finish(content []byte) *http.Response {
	h.part.Write(content)
	h.mw.Close()
	h.pw.Close()
	return <-h.resp
}

// abort cuts the upload off, as a lost connection does.
func (h *heldUpload) abort() *http.Response {
	h.pw.CloseWithError(io.ErrUnexpectedEOF)
	return <-h.resp
}

// TestUploadsInFlight: with 16 uploads of a technician held open, the 17th
// gets 429; another technician is served; once one ends, a new one goes
// through.
func TestUploadsInFlight(t *testing.T) {
	a := newAbuseEnv(t, httpserver.Options{MaxConcurrentUploads: 16})
	maria, joao := a.token("maria"), a.token("joao")
	var held []*heldUpload
	for i := range 16 {
		held = append(held, a.holdUpload(t, maria, fmt.Sprintf("relatorio-bomba-%02d.xlsx", i)))
	}
	tooMany(t, a.upload(maria, "relatorio-bomba-16.xlsx", report(16)), "1", "envios simultâneos demais (o limite é 16)")
	decode(t, a.upload(joao, "relatorio-bomba-16.xlsx", report(16)), http.StatusOK)
	// Other requests of maria's are not bounded.
	decode(t, a.list("198.51.100.7:1", maria), http.StatusNotFound)

	// One ends: a new one goes through, and the bound holds again.
	decode(t, held[0].finish(report(0)), http.StatusOK)
	again := a.holdUpload(t, maria, "relatorio-bomba-17.xlsx")
	tooMany(t, a.upload(maria, "relatorio-bomba-18.xlsx", report(18)), "1", "16")
	// One is cut off: its slot is free too.
	held[1].abort().Body.Close()
	decode(t, a.upload(maria, "relatorio-bomba-18.xlsx", report(18)), http.StatusOK)
	decode(t, again.finish(report(17)), http.StatusOK)
	for _, h := range held[2:] {
		h.abort().Body.Close()
	}
	a.throttled(t, 0, 0, 2, 0)
}

// panicOnce is a metadata store whose first commit of a file panics.
type panicOnce struct {
	*sqlite.DB
	done *atomic.Bool
}

func (s panicOnce) CommitFile(ctx context.Context, f *pmgsync.File, q pmgsync.Quota) (*pmgsync.File, error) {
	if s.done.CompareAndSwap(false, true) {
		panic("commit failed")
	}
	return s.DB.CommitFile(ctx, f, q)
}

// An upload that panics gives its slot back.
func TestUploadSlotReleasedOnPanic(t *testing.T) {
	var done atomic.Bool
	e := newOpsEnv(t, httpserver.Options{MaxConcurrentUploads: 1}, func(db *sqlite.DB) pmgsync.MetadataStore { return panicOnce{db, &done} })
	maria := e.token("maria")
	decode(t, e.upload(maria, "relatorio-bomba-07.xlsx", report(7)), http.StatusInternalServerError)
	decode(t, e.upload(maria, "relatorio-bomba-07.xlsx", report(7)), http.StatusOK)
}
