// Package throttle counts failures and requests per key and decides
// refusals: a ban for a key with too many failures (Failures, with an
// in-memory MemoryFailures), a token bucket per key (Rates), and a bound on
// what one key has in flight at once (Slots).
//
// Every decision takes the time as an argument, so that the caller's clock,
// not the wall clock, rules, and tests prove expiry without sleeping. All
// types are safe for concurrent use and bound their own memory.
package throttle

import (
	"context"
	"time"
)

// Failures counts failures per key (a client address, say) and bans a key
// that fails too often. What "too often" and "how long" mean is the
// implementation's configuration (see FailureLimits).
//
// MemoryFailures keeps the counts in the process: with several replicas
// behind a load balancer, each counts on its own, so a client may fail up
// to replicas × the limit before every replica refuses it. An
// implementation on a store that the replicas share (PostgreSQL, Redis)
// makes the limit hold across them.
type Failures interface {
	// Banned reports the ban of key in effect at now, if any: a zero Ban
	// when key is not banned. Only a store that could not be asked
	// returns an error.
	Banned(ctx context.Context, key string, now time.Time) (Ban, error)
	// Fail counts one failure of key at now and reports the ban of key in
	// effect after it: the ban this failure started (Ban.Started), one
	// that was already in effect (a failure that was under way when the
	// ban began is not counted), or a zero Ban. Only a store that could
	// not be asked returns an error.
	Fail(ctx context.Context, key string, now time.Time) (Ban, error)
}

// Ban is a key's ban.
type Ban struct {
	// Until is when the ban ends, the first instant the key is admitted
	// again; zero when the key is not banned.
	Until time.Time
	// Started is set by Failures.Fail when the failure it counted is the
	// one that began the ban: exactly one caller sees it per ban, so that
	// the ban is logged and recorded once.
	Started bool
}

// Active reports whether b is a ban (rather than the zero Ban).
func (b Ban) Active() bool { return !b.Until.IsZero() }

// RetryAfter is how long from now until b ends, in whole seconds rounded
// up (as an HTTP Retry-After says it), and at least one second.
func (b Ban) RetryAfter(now time.Time) time.Duration {
	return wholeSeconds(b.Until.Sub(now))
}

// wholeSeconds rounds d up to whole seconds, at least one.
func wholeSeconds(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
