package schedule

import (
	"context"
	"time"
)

// Clock is the time source of Run: the real one, or a fake in tests.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// RealClock is the system clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// After returns time.After(d).
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// maxWait is the longest Run waits without reading the clock again. A
// timer measures elapsed time, which stops while a VM is suspended and
// ignores steps of the wall clock, so a wait of hours is taken in short
// steps that each compare clock.Now with the due time.
const maxWait = time.Minute

// Run calls job at every time s is due, until ctx is done, and then returns.
// It logs nothing; job does its own reporting.
//
// Jobs run one at a time, on Run's goroutine, with ctx. The next due time is
// computed from clock.Now() when a job returns, so the times that a long job
// overran are skipped, not run late one after another. The wall clock going
// back never runs a due time twice. Run returns once ctx is done, at the
// latest when the job in progress returns; a schedule that is never due
// again just waits for ctx. A panic in job is not recovered.
func Run(ctx context.Context, s *Schedule, clock Clock, job func(ctx context.Context)) {
	var last time.Time // the due time of the last job run
	for {
		from := clock.Now()
		if from.Before(last) {
			from = last
		}
		next := s.Next(from)
		if next.IsZero() {
			<-ctx.Done()
			return
		}
		if !waitUntil(ctx, clock, next) {
			return
		}
		job(ctx)
		last = next
	}
}

// waitUntil waits until clock reads t or later, and reports false if ctx is
// done first.
func waitUntil(ctx context.Context, clock Clock, t time.Time) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		d := t.Sub(clock.Now())
		if d <= 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-clock.After(min(d, maxWait)):
		}
	}
}
