package schedule

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when the test moves it. Every After
// call is handed to the test on waits, which fires it when it likes.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	at time.Time
	d  time.Duration
	c  chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, waits: make(chan fakeWait, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	w := fakeWait{at: c.Now().Add(d), d: d, c: make(chan time.Time, 1)}
	c.waits <- w
	return w.c
}

// runner runs Run on a fake clock and records the clock's reading at each
// job.
type runner struct {
	t      *testing.T
	clock  *fakeClock
	cancel context.CancelFunc
	jobs   chan time.Time
	done   chan struct{}
}

func startRun(t *testing.T, spec string, loc *time.Location, start time.Time, job func(ctx context.Context, c *fakeClock)) *runner {
	t.Helper()
	s, err := Parse(spec, loc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{t: t, clock: newFakeClock(start), cancel: cancel, jobs: make(chan time.Time, 100), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		Run(ctx, s, r.clock, func(ctx context.Context) {
			r.jobs <- r.clock.Now()
			if job != nil {
				job(ctx, r.clock)
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// guard fails a test that would otherwise hang; nothing waits on it in a
// passing test.
const guard = 10 * time.Second

// nextJob lets time pass, firing each wait of Run when it is due, until a
// job runs, and returns the clock's reading at the job.
func (r *runner) nextJob() time.Time {
	r.t.Helper()
	for {
		select {
		case at := <-r.jobs:
			return at
		case w := <-r.waits():
			if w.d <= 0 || w.d > maxWait {
				r.t.Fatalf("Run waits %v; want (0, %v]", w.d, maxWait)
			}
			r.clock.set(w.at)
			w.c <- w.at
		case <-time.After(guard):
			r.t.Fatal("no job ran")
		}
	}
}

func (r *runner) waits() chan fakeWait { return r.clock.waits }

func TestRunFiresAtDueTimes(t *testing.T) {
	r := startRun(t, "0 3 * * *", zone(t, "America/Sao_Paulo"), utc("2026-03-10T12:00:00Z"), nil)
	for _, want := range []string{"2026-03-11T06:00:00Z", "2026-03-12T06:00:00Z", "2026-03-13T06:00:00Z"} {
		if got := r.nextJob(); !got.Equal(utc(want)) {
			t.Fatalf("job at %v, want %s", got, want)
		}
	}
}

func TestRunEvery(t *testing.T) {
	r := startRun(t, "@every 10m", time.UTC, utc("2026-03-10T12:00:00Z"), func(ctx context.Context, c *fakeClock) {
		c.set(c.Now().Add(2 * time.Minute)) // the job takes two minutes
	})
	// The interval counts from the end of the previous job.
	for _, want := range []string{"2026-03-10T12:10:00Z", "2026-03-10T12:22:00Z", "2026-03-10T12:34:00Z"} {
		if got := r.nextJob(); !got.Equal(utc(want)) {
			t.Fatalf("job at %v, want %s", got, want)
		}
	}
}

// A job that overruns the next due times skips them: it never runs twice at
// once, nor several times in a row to catch up.
func TestRunSkipsOverrunSlots(t *testing.T) {
	var mu sync.Mutex
	running, first := 0, true
	r := startRun(t, "*/10 * * * *", time.UTC, utc("2026-03-10T00:00:30Z"), func(ctx context.Context, c *fakeClock) {
		mu.Lock()
		running++
		if running > 1 {
			t.Error("two jobs at once")
		}
		long := first
		first = false
		mu.Unlock()
		if long {
			c.set(c.Now().Add(25 * time.Minute))
		}
		mu.Lock()
		running--
		mu.Unlock()
	})
	for _, want := range []string{"2026-03-10T00:10:00Z", "2026-03-10T00:40:00Z", "2026-03-10T00:50:00Z"} {
		if got := r.nextJob(); !got.Equal(utc(want)) {
			t.Fatalf("job at %v, want %s", got, want)
		}
	}
}

// Steps of the wall clock: back, a due time is not run again; forward (a
// VM resumed after hours), the missed time runs once, at once.
func TestRunClockSteps(t *testing.T) {
	r := startRun(t, "0 3 * * *", time.UTC, utc("2026-03-10T12:00:00Z"), func(ctx context.Context, c *fakeClock) {
		if c.Now().Equal(utc("2026-03-11T03:00:00Z")) {
			c.set(utc("2026-03-11T02:59:00Z")) // NTP steps the clock back
		}
	})
	if got := r.nextJob(); !got.Equal(utc("2026-03-11T03:00:00Z")) {
		t.Fatalf("first job at %v", got)
	}
	// The clock reads 02:59 again; the next wait ends at 03:00, which
	// must not run twice. Then the VM sleeps until the 13th, 05:00.
	w := <-r.waits()
	if !w.at.Equal(utc("2026-03-11T03:00:00Z")) {
		t.Fatalf("wait until %v, want 03:00", w.at)
	}
	r.clock.set(utc("2026-03-13T05:00:00Z"))
	w.c <- w.at
	for _, want := range []string{"2026-03-13T05:00:00Z", "2026-03-14T03:00:00Z"} {
		if got := r.nextJob(); !got.Equal(utc(want)) {
			t.Fatalf("job at %v, want %s", got, want)
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		r := startRun(t, "@hourly", time.UTC, utc("2026-03-10T12:00:00Z"), nil)
		<-r.waits()
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(guard):
			t.Fatal("Run did not return")
		}
		if len(r.jobs) != 0 {
			t.Error("a job ran")
		}
	})
	t.Run("during a job", func(t *testing.T) {
		var r *runner
		ready := make(chan struct{})
		r = startRun(t, "@every 1m", time.UTC, utc("2026-03-10T12:00:00Z"), func(ctx context.Context, c *fakeClock) {
			<-ready
			r.cancel()
			if ctx.Err() == nil {
				t.Error("the job's context is not Run's")
			}
		})
		close(ready)
		r.nextJob()
		select {
		case <-r.done:
		case <-time.After(guard):
			t.Fatal("Run did not return")
		}
		if n := len(r.jobs); n != 0 {
			t.Errorf("%d more jobs ran after the cancellation", n)
		}
	})
}

func TestRealClock(t *testing.T) {
	var c Clock = RealClock{}
	before := time.Now()
	if got := <-c.After(time.Millisecond); got.Before(before) || c.Now().Before(before) {
		t.Errorf("RealClock is not the system clock")
	}
}
