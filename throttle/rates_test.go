package throttle

import (
	"sync"
	"testing"
	"time"
)

func TestRates(t *testing.T) {
	r, err := NewRates[int64](1, 2)
	if err != nil {
		t.Fatal(err)
	}
	const maria, joao = 1, 2
	for i := range 2 {
		if ok, _ := r.Allow(maria, t0); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, retry := r.Allow(maria, t0)
	if ok || retry != time.Second {
		t.Errorf("past the burst: ok %v, retry after %v; want refused, 1s", ok, retry)
	}
	if ok, _ := r.Allow(joao, t0); !ok {
		t.Errorf("another key was refused")
	}
	// A refused request takes nothing: a second later, one is allowed.
	if ok, _ := r.Allow(maria, t0.Add(time.Second)); !ok {
		t.Errorf("refused after the bucket refilled by one")
	}
	if ok, _ := r.Allow(maria, t0.Add(time.Second)); ok {
		t.Errorf("allowed twice after the bucket refilled by one")
	}
}

// Retry-After is the reservation's delay rounded up to whole seconds.
func TestRatesRetryAfter(t *testing.T) {
	r, err := NewRates[string](0.1, 1) // one request every ten seconds
	if err != nil {
		t.Fatal(err)
	}
	r.Allow("maria", t0)
	for _, tt := range []struct {
		at, want time.Duration
	}{
		{0, 10 * time.Second},
		{3 * time.Second, 7 * time.Second},
		{9500 * time.Millisecond, time.Second},
	} {
		if ok, got := r.Allow("maria", t0.Add(tt.at)); ok || got != tt.want {
			t.Errorf("at +%v: ok %v, retry after %v; want refused, %v", tt.at, ok, got, tt.want)
		}
	}
	if ok, _ := r.Allow("maria", t0.Add(10*time.Second)); !ok {
		t.Errorf("refused once the bucket holds a request again")
	}
}

// Buckets idle until full are dropped; an active one is kept, with its
// count.
func TestRatesIdleDropped(t *testing.T) {
	r, err := NewRates[int](50, 100) // refills in 2s
	if err != nil {
		t.Fatal(err)
	}
	for k := range 1000 {
		r.Allow(k, t0)
	}
	for range 99 {
		r.Allow(-1, t0.Add(time.Second))
	}
	if n := r.Len(); n != 1001 {
		t.Fatalf("%d buckets, want 1001", n)
	}
	r.Allow(-2, t0.Add(2*time.Second))
	if n := r.Len(); n != 2 {
		t.Errorf("%d buckets after 2s, want 2 (the active one and the new one)", n)
	}
	// The active bucket kept its count: 99 taken at +1s, 50 back by +2s.
	allowed := 0
	for range 100 {
		if ok, _ := r.Allow(-1, t0.Add(2*time.Second)); ok {
			allowed++
		}
	}
	if allowed != 51 {
		t.Errorf("%d allowed from the kept bucket, want 51", allowed)
	}
}

func TestNewRatesErrors(t *testing.T) {
	for _, tt := range []struct {
		limit float64
		burst int
	}{{0, 1}, {-1, 1}, {1, 0}} {
		if _, err := NewRates[int](tt.limit, tt.burst); err == nil {
			t.Errorf("NewRates(%v, %d) accepted", tt.limit, tt.burst)
		}
	}
}

func TestRatesConcurrent(t *testing.T) {
	r, err := NewRates[int64](1, 50)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 200 {
		wg.Go(func() {
			ok, _ := r.Allow(7, t0)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				allowed++
			}
		})
	}
	wg.Wait()
	if allowed != 50 {
		t.Errorf("%d of 200 concurrent requests allowed, want the burst, 50", allowed)
	}
}

func BenchmarkRatesAllow(b *testing.B) {
	r, err := NewRates[int64](50, 100)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Allow(int64(i%512), t0.Add(time.Duration(i)*time.Millisecond))
			i++
		}
	})
}
