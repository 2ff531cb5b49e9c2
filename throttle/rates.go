package throttle

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rates is a token bucket per key (golang.org/x/time/rate): each key may
// make Limit requests a second on average and Burst at once. A bucket
// left idle until it is full again is dropped, which changes nothing (a
// new bucket starts full), so that memory follows the keys active in the
// last Burst/Limit seconds. The keys are meant to be ones a client cannot
// make up, such as authenticated tokens; nothing else bounds their number.
//
// Each replica of a server keeps its own buckets: behind a load balancer
// that spreads one client's requests, the limit is per replica.
type Rates[K comparable] struct {
	limit rate.Limit
	burst int
	// idle is how long a bucket takes to fill up from empty: the buckets
	// are swept for full ones at most once per idle.
	idle time.Duration

	mu        sync.Mutex
	buckets   map[K]*rate.Limiter
	lastSweep time.Time
}

// NewRates returns the buckets of limit requests a second, burst at once,
// or an error for a limit that is not positive and finite or a burst under
// one.
func NewRates[K comparable](limit float64, burst int) (*Rates[K], error) {
	if !(limit > 0) || math.IsInf(limit, 1) {
		return nil, fmt.Errorf("rate %g: it must be a positive number of requests a second", limit)
	}
	if burst < 1 {
		return nil, fmt.Errorf("burst %d: allow at least one request at once", burst)
	}
	idle := time.Duration(float64(burst) / limit * float64(time.Second))
	if idle <= 0 || idle > 24*time.Hour {
		idle = 24 * time.Hour // the buckets of a very slow rate are swept daily
	}
	return &Rates[K]{
		limit:   rate.Limit(limit),
		burst:   burst,
		idle:    idle,
		buckets: make(map[K]*rate.Limiter),
	}, nil
}

// Allow takes one request of key at now from its bucket. If the bucket is
// empty, nothing is taken and retryAfter is how long until it holds a
// request again, in whole seconds rounded up (as an HTTP Retry-After says
// it), at least one.
func (r *Rates[K]) Allow(key K, now time.Time) (ok bool, retryAfter time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sweep(now)
	lim := r.buckets[key]
	if lim == nil {
		lim = rate.NewLimiter(r.limit, r.burst)
		r.buckets[key] = lim
	}
	res := lim.ReserveN(now, 1) // never fails: burst is at least one
	delay := res.DelayFrom(now)
	if delay == 0 {
		return true, 0
	}
	res.CancelAt(now)
	return false, wholeSeconds(delay)
}

// sweep drops the buckets full at now, at most once per r.idle: each
// bucket is looked at about once per refill time, so the cost per request
// stays constant.
func (r *Rates[K]) sweep(now time.Time) {
	if now.Sub(r.lastSweep) < r.idle {
		return
	}
	r.lastSweep = now
	for k, lim := range r.buckets {
		if lim.TokensAt(now) >= float64(r.burst) {
			delete(r.buckets, k)
		}
	}
}

// Len reports how many buckets r holds.
func (r *Rates[K]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}
