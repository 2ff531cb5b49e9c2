package main

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// expiredBlobSize is the size of each expired file's blob: the sweep's cost
// is per file (a row, an unlink), not per byte.
const expiredBlobSize = 1 << 10

// runCleanup: the 99th percentile latency of 60 KiB uploads by 16 clients
// while the server's scheduled sweep removes 100,000 expired files, against
// the same uploads before the sweep starts. The sweep is the server's own
// (cleanup-schedule "@every N"), as it runs at night, not a second process.
//
// The store is fresh and the blobs were written just before, so the sweep
// works as it would on a machine whose disk has nothing else to do. After
// the sweep the uploads go on for a while: a mass delete leaves ext4 slow to
// create files for minutes, which shows there, apart from the sweep's own
// cost.
func runCleanup(ctx context.Context, b *bench) ([]Row, error) {
	s := b.cfg.sizes
	clients := s.smallClients
	content, err := report(s.smallFile, 5)
	if err != nil {
		return nil, err
	}
	data, err := b.dataDir("cleanup")
	if err != nil {
		return nil, err
	}
	tokens, err := seedTechnicians(ctx, data, technicians("tecnico", clients))
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	const expiredTechs = 100
	if err := seedExpired(ctx, data, expiredTechs, s.expired, expiredBlobSize); err != nil {
		return nil, err
	}
	b.logf("   seeded %d expired files with blobs in %s", s.expired, time.Since(t0).Round(10*time.Millisecond))

	// The sweep starts `baseline` after the server, time for the start-up
	// recovery to walk the blobs and for the uploads to show their pace.
	baseline := max(4*b.cfg.duration, 2*time.Second).Truncate(time.Second)
	srv, err := b.start(ctx, data, "--cleanup-schedule", fmt.Sprintf("@every %ds", int(baseline.Seconds())))
	if err != nil {
		return nil, err
	}
	f := fleetOf(srv, tokens)
	defer f.close()
	if _, err := srv.waitLog(ctx, time.Minute, "start-up recovery done"); err != nil {
		return nil, err
	}
	stop := make(chan struct{})
	results := make(chan result, 1)
	loadStart := time.Now()
	go func() {
		results <- load{workers: clients, duration: 10 * time.Minute, stop: stop}.run(ctx, f.upload(content, "relatorio"))
	}()
	outcome, waitErr := srv.waitLog(ctx, 5*time.Minute, "scheduled cleanup done", "scheduled cleanup failed")
	if waitErr == nil && outcome != "scheduled cleanup done" {
		waitErr = fmt.Errorf("the sweep failed: see %s", srv.logPath)
	}
	after := 2 * b.cfg.duration
	if waitErr == nil {
		select {
		case <-time.After(after):
		case <-ctx.Done():
		}
	}
	close(stop)
	res := <-results
	if waitErr != nil {
		return nil, waitErr
	}
	if err := res.err("upload"); err != nil {
		return nil, err
	}
	if err := srv.stop(); err != nil {
		return nil, err
	}
	run, err := firstSweep(ctx, data)
	if err != nil {
		return nil, err
	}
	if run.removed != int64(s.expired) {
		return nil, fmt.Errorf("the sweep removed %d files; want %d", run.removed, s.expired)
	}

	warm := loadStart.Add(b.cfg.duration / 2)
	before := sortedLatencies(res.samples, func(x sample) bool {
		return x.start.After(warm) && x.start.Add(x.latency).Before(run.start)
	})
	during := sortedLatencies(res.samples, func(x sample) bool {
		return x.start.Before(run.end) && x.start.Add(x.latency).After(run.start)
	})
	afterwards := sortedLatencies(res.samples, func(x sample) bool { return x.start.After(run.end) })
	if len(before) == 0 || len(during) == 0 {
		return nil, fmt.Errorf("%d uploads before the sweep and %d during it: nothing to compare", len(before), len(during))
	}
	sweep := run.end.Sub(run.start)
	row := newRow(fmt.Sprintf("p99 of %s uploads (%d clients) during a sweep of %s files", sizeName(s.smallFile), clients, count(s.expired)),
		"ms", ms(percentile(during, 99)), ms(percentile(before, 99)), "no sweep", atMostRatio(3, "no sweep"))
	row.Details = map[string]any{
		"sweep_seconds":       sweep.Seconds(),
		"files_removed":       run.removed,
		"files_per_second":    float64(run.removed) / sweep.Seconds(),
		"before":              latencyDetails(before, run.start.Sub(warm)),
		"during":              latencyDetails(during, sweep),
		"after":               latencyDetails(afterwards, after),
		"settled_after_sweep": settling(res.samples, run.end, percentile(before, 99)),
	}
	b.logf("   sweep of %d files took %s", run.removed, sweep.Round(10*time.Millisecond))
	return []Row{row}, nil
}

// latencyDetails are the figures of the latencies of one period.
func latencyDetails(sorted []time.Duration, period time.Duration) map[string]any {
	return map[string]any{
		"uploads":    len(sorted),
		"per_second": float64(len(sorted)) / period.Seconds(),
		"p50_ms":     ms(percentile(sorted, 50)),
		"p99_ms":     ms(percentile(sorted, 99)),
		"max_ms":     ms(percentile(sorted, 100)),
	}
}

// settling returns how long after end the uploads' 99th percentile, taken
// over each second, stayed above 1.5 times baseline for the last time, as
// text: "2s", or "not within the measurement" if the last second was still
// above it.
func settling(samples []sample, end time.Time, baseline time.Duration) string {
	var last time.Duration = -1
	var seconds int
	for sec := 0; ; sec++ {
		from, to := end.Add(time.Duration(sec)*time.Second), end.Add(time.Duration(sec+1)*time.Second)
		window := sortedLatencies(samples, func(x sample) bool { return !x.start.Before(from) && x.start.Before(to) })
		if len(window) == 0 {
			break
		}
		seconds = sec + 1
		if percentile(window, 99) > baseline*3/2 {
			last = time.Duration(sec+1) * time.Second
		}
	}
	switch {
	case last < 0:
		return "0s"
	case int(last/time.Second) >= seconds:
		return fmt.Sprintf("not within the %ds measured", seconds)
	}
	return last.String()
}

// sweepRun is a cleanup run as the store recorded it.
type sweepRun struct {
	start, end time.Time
	removed    int64
}

// firstSweep reads the first finished sweep of the data directory's store.
func firstSweep(ctx context.Context, data string) (*sweepRun, error) {
	db, err := openRaw(data)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var started, finished sql.NullInt64
	var run sweepRun
	err = db.QueryRowContext(ctx, `SELECT started_at, finished_at, files_removed FROM cleanup_runs
		WHERE finished_at IS NOT NULL ORDER BY id LIMIT 1`).Scan(&started, &finished, &run.removed)
	if err != nil {
		return nil, fmt.Errorf("read the sweep's record: %w", err)
	}
	run.start, run.end = time.Unix(0, started.Int64), time.Unix(0, finished.Int64)
	return &run, nil
}
