package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// operation is one request (or one disk write) of a load: worker is the
// client's number, seq the operation's number among that client's. It
// returns the bytes it moved.
type operation func(ctx context.Context, worker, seq int) (int64, error)

// sample is one operation's timing.
type sample struct {
	start   time.Time
	latency time.Duration
}

// result is what a load measured.
type result struct {
	ops      int
	bytes    int64
	elapsed  time.Duration // from the first start to the last end
	errors   int
	firstErr error
	samples  []sample // of the operations that succeeded
}

// perSecond returns the operations a second.
func (r *result) perSecond() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// mbPerSecond returns the bytes a second, in MB (10^6 bytes).
func (r *result) mbPerSecond() float64 { return float64(r.bytes) / 1e6 / r.elapsed.Seconds() }

// latencies returns the latencies of the samples, sorted.
func (r *result) latencies() []time.Duration {
	return sortedLatencies(r.samples, func(sample) bool { return true })
}

// sortedLatencies returns the latencies of the samples keep selects, sorted.
func sortedLatencies(samples []sample, keep func(sample) bool) []time.Duration {
	var ls []time.Duration
	for _, s := range samples {
		if keep(s) {
			ls = append(ls, s.latency)
		}
	}
	slices.Sort(ls)
	return ls
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted
// latencies by the nearest-rank method; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted)) + 0.999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// load is how a load runs: workers clients, each starting its next
// operation as soon as the previous one is done (a closed loop), until
// duration has passed or, if maxOps > 0, maxOps operations have started in
// all, whichever comes first. Operations that have started finish.
type load struct {
	workers  int
	duration time.Duration
	maxOps   int
	// stop, if not nil, ends the load early when it is closed.
	stop <-chan struct{}
}

// run runs op under l. An operation's error is counted, and the first one
// kept; the load goes on.
func (l load) run(ctx context.Context, op operation) result {
	var (
		mu      sync.Mutex
		res     result
		started int
		wg      sync.WaitGroup
	)
	t0 := time.Now()
	end := t0.Add(l.duration)
	next := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil || time.Now().After(end) || l.maxOps > 0 && started >= l.maxOps {
			return false
		}
		if l.stop != nil {
			select {
			case <-l.stop:
				return false
			default:
			}
		}
		started++
		return true
	}
	for w := range l.workers {
		wg.Go(func() {
			var local []sample
			var n int64
			var ops, errs int
			var firstErr error
			for seq := 0; next(); seq++ {
				start := time.Now()
				b, err := op(ctx, w, seq)
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				local = append(local, sample{start: start, latency: time.Since(start)})
				n += b
				ops++
			}
			mu.Lock()
			defer mu.Unlock()
			res.samples = append(res.samples, local...)
			res.bytes += n
			res.ops += ops
			res.errors += errs
			if res.firstErr == nil {
				res.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(t0)
	slices.SortFunc(res.samples, func(a, b sample) int { return a.start.Compare(b.start) })
	return res
}

// err returns an error if any operation failed or none succeeded.
func (r *result) err(what string) error {
	switch {
	case r.errors > 0:
		return fmt.Errorf("%s: %d of %d operations failed; the first: %w", what, r.errors, r.errors+r.ops, r.firstErr)
	case r.ops == 0:
		return fmt.Errorf("%s: no operation completed", what)
	}
	return nil
}

// newClient returns an HTTP/1.1 client that keeps a connection alive per
// concurrent client, with buffers big enough that a 20 MB body does not
// cost thousands of small system calls on the client's side.
func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      64 << 10,
	}}
}

// do sends req and reads the whole response, which must have one of the
// statuses want, into sink (through buf, which a client reuses). It
// returns the bytes of the response's body.
func do(client *http.Client, req *http.Request, buf []byte, want ...int) (int64, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if !slices.Contains(want, resp.StatusCode) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, bytes.TrimSpace(body))
	}
	return io.CopyBuffer(discard{}, resp.Body, buf)
}

// discard is io.Discard without its ReadFrom, so that io.CopyBuffer reads
// through the caller's buffer rather than small ones of its own.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// buffers returns one read buffer per client.
func buffers(n int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 256<<10)
	}
	return bufs
}
