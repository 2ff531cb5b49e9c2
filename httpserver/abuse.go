package httpserver

import (
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/metrics"
	"github.com/pmgsync/pmgsync/throttle"
	"github.com/pmgsync/pmgsync/units"
)

// abuse are the abuse limits of a Server (see Options): each is nil when
// it is off.
//
// Failed authentications are counted by client address. Everyone behind a
// banned address is refused for the ban, even with a valid token, and so
// are the technicians who share a carrier's NAT with a guesser: letting a
// valid token through would mean checking each guess, which is what the
// ban is there to stop. For the same reason a success does not reset the
// count, else a guesser would only need a technician's request now and
// then. That is the trade-off: a refusal of minutes for a few, who see a
// clear message and a Retry-After, against an unbounded search by one.
// Only requests refused for a token count, never the ones refused during
// a ban, so a ban ends on time however hard its client keeps trying.
//
// None of the refusals is written to the audit trail but the start of a
// ban: a record per refused request would be a write that anyone could
// make the server do for free.
type abuse struct {
	failures throttle.Failures
	rates    *throttle.Rates[int64] // by token id
	uploads  *throttle.Slots[int64] // by technician id
	now      func() time.Time
}

func newAbuse(opts Options) abuse {
	a := abuse{failures: opts.AuthFailures, now: opts.Now}
	if a.now == nil {
		a.now = time.Now
	}
	if opts.RateLimit > 0 {
		// NewRates refuses only what the Options contract turns off: a
		// rate that is not a finite positive number.
		a.rates, _ = throttle.NewRates[int64](opts.RateLimit, max(opts.RateBurst, 1))
	}
	if opts.MaxConcurrentUploads > 0 {
		a.uploads, _ = throttle.NewSlots[int64](opts.MaxConcurrentUploads)
	}
	return a
}

// banKey is what failed authentications are counted by: the client's
// address, or for IPv6 its /64, the block that one subscriber (one phone
// on a mobile network) is given whole and can rotate through at will.
func banKey(clientIP string) string {
	a, err := netip.ParseAddr(clientIP)
	if err != nil {
		return clientIP // an address ServeHTTP could not make out, as it is
	}
	if a = a.Unmap().WithZone(""); a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// refuseBanned answers 429 if the client of r is banned for failed
// authentications, without looking at its token, and reports whether it
// did. key is the client's key for countFailure; "" with the throttle off.
// If the store of failures cannot be asked, the request is let through
// and the error logged: an outage of the throttle must not become an
// outage of the service.
func (s *Server) refuseBanned(w http.ResponseWriter, r *http.Request) (key string, refused bool) {
	if s.abuse.failures == nil {
		return "", false
	}
	key = banKey(pmgsync.ActorFrom(r.Context()).ClientIP) // the address ServeHTTP found
	now := s.abuse.now()
	ban, err := s.abuse.failures.Banned(r.Context(), key, now)
	if err != nil {
		s.log.ErrorContext(r.Context(), "throttle: check a ban; request let through", "request_id", RequestID(r.Context()),
			"client", key, "err", err)
		return key, false
	}
	if !ban.Active() {
		return key, false
	}
	retry := ban.RetryAfter(now)
	s.tooMany(w, r, metrics.ThrottleAuthBan, retry, pmgsync.MsgAuthBanned, units.FormatDuration(retry))
	return key, true
}

// countFailure counts a failed authentication of the client of r under
// key. The failure that starts a ban is logged at Warn, counted, and
// recorded in the audit trail, once per ban.
func (s *Server) countFailure(r *http.Request, key string) {
	if s.abuse.failures == nil {
		return
	}
	ctx := r.Context()
	ban, err := s.abuse.failures.Fail(ctx, key, s.abuse.now())
	if err != nil {
		s.log.ErrorContext(ctx, "throttle: count a failed authentication", "request_id", RequestID(ctx),
			"client", key, "err", err)
		return
	}
	if !ban.Started {
		return
	}
	s.metrics.AuthBan()
	s.log.WarnContext(ctx, "client banned after repeated failed authentications", "request_id", RequestID(ctx),
		"client_ip", pmgsync.ActorFrom(ctx).ClientIP, "client", key, "until", ban.Until.UTC())
	s.engine.AuditAuthBan(ctx, ban.Until)
}

// refuseRate answers 429 if the token tokenID has used up its rate, and
// reports whether it did.
func (s *Server) refuseRate(w http.ResponseWriter, r *http.Request, tokenID int64) bool {
	if s.abuse.rates == nil {
		return false
	}
	ok, retry := s.abuse.rates.Allow(tokenID, s.abuse.now())
	if ok {
		return false
	}
	s.tooMany(w, r, metrics.ThrottleRateLimit, retry, pmgsync.MsgRateLimited, units.FormatDuration(retry))
	return true
}

// uploadSlot bounds the uploads of each technician in flight at once: an
// upload over the bound is answered 429 before its body is read. The slot
// is given back when next returns, or panics. It runs behind
// authenticated.
func (s *Server) uploadSlot(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slots := s.abuse.uploads
		if slots == nil {
			next.ServeHTTP(w, r)
			return
		}
		id := technician(r.Context()).ID
		if !slots.Acquire(id) {
			s.tooMany(w, r, metrics.ThrottleUploadsInFlight, time.Second, pmgsync.MsgTooManyUploads, slots.Max())
			return
		}
		defer slots.Release(id)
		next.ServeHTTP(w, r)
	})
}

// tooMany answers 429 Too Many Requests with a Retry-After of retry
// (whole seconds) and the catalog message key, and counts the refusal
// for reason. The message says the wait as "15m" or "2s", which reads the
// same in both languages.
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, reason string, retry time.Duration, key string, args ...any) {
	s.metrics.Throttled(reason)
	w.Header().Set("Retry-After", strconv.FormatInt(int64(retry/time.Second), 10))
	s.detail(w, r, http.StatusTooManyRequests, key, args...)
}
