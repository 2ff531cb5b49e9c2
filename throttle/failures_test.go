package throttle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 14, 30, 0, 0, time.UTC)

func newFailures(t testing.TB, limits FailureLimits) *MemoryFailures {
	t.Helper()
	f, err := NewMemoryFailures(limits)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fail counts a failure of key at now and returns the verdict.
func fail(t testing.TB, f Failures, key string, now time.Time) Ban {
	t.Helper()
	b, err := f.Fail(context.Background(), key, now)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func banned(t testing.TB, f Failures, key string, now time.Time) Ban {
	t.Helper()
	b, err := f.Banned(context.Background(), key, now)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFailuresThreshold(t *testing.T) {
	f := newFailures(t, FailureLimits{Limit: 3, Window: 10 * time.Minute, Ban: 15 * time.Minute})
	const ip = "198.51.100.7"
	for i := range 2 {
		now := t0.Add(time.Duration(i) * time.Second)
		if b := fail(t, f, ip, now); b.Active() {
			t.Fatalf("failure %d: banned %+v, want not yet", i+1, b)
		}
		if b := banned(t, f, ip, now); b.Active() {
			t.Fatalf("after failure %d: Banned %+v", i+1, b)
		}
	}
	now := t0.Add(2 * time.Second)
	want := Ban{Until: now.Add(15 * time.Minute), Started: true}
	if b := fail(t, f, ip, now); b != want {
		t.Fatalf("third failure: %+v, want %+v", b, want)
	}
	if b := banned(t, f, ip, now); b.Until != want.Until || b.Started {
		t.Errorf("Banned = %+v, want until %v, not started", b, want.Until)
	}
	if b := banned(t, f, "203.0.113.9", now); b.Active() {
		t.Errorf("another address is banned: %+v", b)
	}
	// A failure that was under way when the ban began neither starts nor
	// extends it.
	later := now.Add(time.Minute)
	if b := fail(t, f, ip, later); b.Until != want.Until || b.Started {
		t.Errorf("failure during the ban: %+v, want the same ban, not started", b)
	}
}

func TestFailuresWindowSlides(t *testing.T) {
	f := newFailures(t, FailureLimits{Limit: 3, Window: 10 * time.Minute, Ban: time.Hour})
	const ip = "198.51.100.7"
	steps := []struct {
		at     time.Duration
		banned bool
	}{
		{0, false},
		{6 * time.Minute, false},
		// The first failure is exactly a window old: it no longer counts.
		{10 * time.Minute, false},
		// Within (2m, 12m]: the failures at 6m, 10m and 12m.
		{12 * time.Minute, true},
	}
	for _, s := range steps {
		if b := fail(t, f, ip, t0.Add(s.at)); b.Active() != s.banned {
			t.Fatalf("failure at +%v: banned = %v, want %v", s.at, b.Active(), s.banned)
		}
	}

	// Just inside the window, the limit is reached.
	g := newFailures(t, FailureLimits{Limit: 2, Window: 10 * time.Minute, Ban: time.Hour})
	fail(t, g, ip, t0)
	if b := fail(t, g, ip, t0.Add(10*time.Minute-time.Nanosecond)); !b.Started {
		t.Errorf("two failures a nanosecond less than the window apart: %+v, want a ban", b)
	}
}

func TestFailuresBanExpires(t *testing.T) {
	f := newFailures(t, FailureLimits{Limit: 2, Window: 10 * time.Minute, Ban: 15 * time.Minute})
	const ip = "2001:db8::/64"
	fail(t, f, ip, t0)
	b := fail(t, f, ip, t0.Add(time.Minute))
	until := t0.Add(16 * time.Minute)
	if !b.Started || b.Until != until {
		t.Fatalf("ban %+v, want one until %v", b, until)
	}
	if got := b.RetryAfter(t0.Add(time.Minute)); got != 15*time.Minute {
		t.Errorf("RetryAfter at the start = %v, want 15m", got)
	}
	if b := banned(t, f, ip, until.Add(-time.Nanosecond)); !b.Active() {
		t.Errorf("a nanosecond before its end the ban is over")
	}
	if b := banned(t, f, ip, until); b.Active() {
		t.Errorf("at its end the ban holds: %+v", b)
	}
	if n := f.Len(); n != 0 {
		t.Errorf("%d keys tracked after the ban ended, want 0", n)
	}
	// The count starts afresh: one failure is not a ban...
	if b := fail(t, f, ip, until); b.Active() {
		t.Errorf("the first failure after a ban: %+v, want no ban", b)
	}
	// ...and the limit gets a new ban, with a new start.
	if b := fail(t, f, ip, until.Add(time.Second)); !b.Started || b.Until != until.Add(time.Second+15*time.Minute) {
		t.Errorf("second ban %+v", b)
	}
}

// The ban of one key also ends for Fail without a call of Banned.
func TestFailuresBanExpiresOnFail(t *testing.T) {
	f := newFailures(t, FailureLimits{Limit: 1, Window: time.Minute, Ban: time.Minute})
	if b := fail(t, f, "a", t0); !b.Started {
		t.Fatalf("limit 1: %+v, want a ban", b)
	}
	if b := fail(t, f, "a", t0.Add(time.Minute)); !b.Started || b.Until != t0.Add(2*time.Minute) {
		t.Errorf("a failure as the ban ends: %+v, want a new ban", b)
	}
}

func TestFailuresMemoryBound(t *testing.T) {
	f := newFailures(t, FailureLimits{Limit: 3, Window: 10 * time.Minute, Ban: 15 * time.Minute, MaxKeys: 100})
	const attacker = "198.51.100.7"
	for i := range 3 {
		fail(t, f, attacker, t0.Add(time.Duration(i)*time.Second))
	}
	now := t0.Add(time.Minute)
	// A client rotating through 10,000 addresses, one failure each.
	for i := range 10_000 {
		fail(t, f, fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&0xff, i&0xff), now)
		if n := f.Len(); n > 100 {
			t.Fatalf("%d keys tracked, bound is 100", n)
		}
	}
	if b := banned(t, f, attacker, now); !b.Active() {
		t.Errorf("rotating addresses lifted the ban of %s", attacker)
	}
	// Once their failures have left the window, a failure drops them all.
	fail(t, f, "203.0.113.9", now.Add(10*time.Minute))
	if n := f.Len(); n != 2 {
		t.Errorf("%d keys tracked a window later, want 2: the ban and the new failure", n)
	}
	fail(t, f, "203.0.113.10", now.Add(15*time.Minute))
	if n := f.Len(); n != 2 {
		t.Errorf("%d keys tracked after the ban ended, want 2: the two recent failures", n)
	}
}

// Counting keys give way before banned ones, the least recently failed
// first; when every key is banned, the ban that ends first.
func TestFailuresEviction(t *testing.T) {
	f := newFailures(t, FailureLimits{Limit: 2, Window: time.Hour, Ban: time.Hour, MaxKeys: 3})
	fail(t, f, "banned", t0)
	fail(t, f, "banned", t0)
	fail(t, f, "old", t0.Add(time.Second))
	fail(t, f, "recent", t0.Add(2*time.Second))
	fail(t, f, "old", t0.Add(3*time.Second)) // now the most recent: a ban
	fail(t, f, "new", t0.Add(4*time.Second)) // evicts "recent", the only one counting
	if b := fail(t, f, "recent", t0.Add(5*time.Second)); b.Active() {
		t.Errorf("recent was not forgotten: its second failure banned it")
	}
	for _, k := range []string{"banned", "old"} {
		if !banned(t, f, k, t0.Add(5*time.Second)).Active() {
			t.Errorf("%s lost its ban to eviction", k)
		}
	}

	g := newFailures(t, FailureLimits{Limit: 1, Window: time.Hour, Ban: time.Hour, MaxKeys: 2})
	fail(t, g, "first", t0)
	fail(t, g, "second", t0.Add(time.Second))
	fail(t, g, "third", t0.Add(2*time.Second))
	now := t0.Add(3 * time.Second)
	if banned(t, g, "first", now).Active() || !banned(t, g, "second", now).Active() || !banned(t, g, "third", now).Active() {
		t.Errorf("with every key banned, the ban that ends first should give way")
	}
}

func TestNewMemoryFailuresErrors(t *testing.T) {
	for _, l := range []FailureLimits{
		{Limit: 0, Window: time.Minute, Ban: time.Minute},
		{Limit: 1, Window: 0, Ban: time.Minute},
		{Limit: 1, Window: time.Minute, Ban: -time.Minute},
		{Limit: 1, Window: time.Minute, Ban: time.Minute, MaxKeys: -1},
	} {
		if _, err := NewMemoryFailures(l); err == nil {
			t.Errorf("NewMemoryFailures(%+v) accepted", l)
		}
	}
}

// Concurrent failures of one key: exactly one starts the ban, and every
// failure after the limit sees it.
func TestFailuresConcurrent(t *testing.T) {
	const limit, clients = 10, 64
	f := newFailures(t, FailureLimits{Limit: limit, Window: time.Minute, Ban: time.Minute, MaxKeys: 16})
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		started, active int
	)
	for i := range clients {
		wg.Go(func() {
			ctx := context.Background()
			// Others fail on keys of their own meanwhile, past the bound.
			_, err1 := f.Fail(ctx, fmt.Sprintf("other-%d", i), t0)
			b, err2 := f.Fail(ctx, "shared", t0)
			_, err3 := f.Banned(ctx, "shared", t0)
			if err := errors.Join(err1, err2, err3); err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if b.Started {
				started++
			}
			if b.Active() {
				active++
			}
		})
	}
	wg.Wait()
	if started != 1 || active != clients-limit+1 {
		t.Errorf("started %d bans and saw %d, want 1 and %d", started, active, clients-limit+1)
	}
	if n := f.Len(); n > 16 {
		t.Errorf("%d keys tracked, bound is 16", n)
	}
}

func TestBanRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		left, want time.Duration
	}{
		{15 * time.Minute, 15 * time.Minute},
		{1200 * time.Millisecond, 2 * time.Second},
		{time.Nanosecond, time.Second},
		{0, time.Second},
		{-time.Second, time.Second},
	} {
		if got := (Ban{Until: t0.Add(tt.left)}).RetryAfter(t0); got != tt.want {
			t.Errorf("RetryAfter with %v left = %v, want %v", tt.left, got, tt.want)
		}
	}
}

// BenchmarkFailures is the hot path of a server under a guessing attack
// from many addresses: the ban check of every request, and the count of
// each failure.
func BenchmarkFailures(b *testing.B) {
	f := newFailures(b, FailureLimits{Limit: 20, Window: 10 * time.Minute, Ban: 15 * time.Minute})
	keys := make([]string, 4096)
	for i := range keys {
		keys[i] = fmt.Sprintf("198.51.%d.%d", i>>8, i&0xff)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			k := keys[i%len(keys)]
			now := t0.Add(time.Duration(i) * time.Millisecond)
			if ban, _ := f.Banned(ctx, k, now); !ban.Active() {
				f.Fail(ctx, k, now)
			}
			i++
		}
	})
}
