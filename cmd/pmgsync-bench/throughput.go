package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// measured is one figure of one round, with its details.
type measured struct {
	value   float64
	details map[string]any
}

// measureFunc measures one round of one side (reference or pmgsync).
type measureFunc func(ctx context.Context) (measured, error)

// alternate measures the reference and pmgsync in turn, rounds times, so
// that both see the same share of whatever else the machine is doing, and
// returns the best figure of each (the highest: a throughput can only be
// lowered by noise) with every round in its details.
func (b *bench) alternate(ctx context.Context, ref, pmg measureFunc) (bestRef, bestPmg measured, err error) {
	var refRounds, pmgRounds []map[string]any
	for range b.cfg.rounds {
		r, err := ref(ctx)
		if err != nil {
			return measured{}, measured{}, fmt.Errorf("reference: %w", err)
		}
		p, err := pmg(ctx)
		if err != nil {
			return measured{}, measured{}, fmt.Errorf("pmgsync: %w", err)
		}
		refRounds, pmgRounds = append(refRounds, r.details), append(pmgRounds, p.details)
		if r.value > bestRef.value {
			bestRef = r
		}
		if p.value > bestPmg.value {
			bestPmg = p
		}
		b.logf("   round: reference %s, pmgsync %s", format(r.value), format(p.value))
	}
	bestRef.details = map[string]any{"best": bestRef.details, "rounds": refRounds}
	bestPmg.details = map[string]any{"best": bestPmg.details, "rounds": pmgRounds}
	return bestRef, bestPmg, nil
}

// measure returns the measureFunc of one side: op run by every client of f
// for the configured duration, with meter reading the CPU time of the
// server op goes to (nil: none) and figure taking the side's figure from
// the result. If profile is not "", f's server is profiled meanwhile,
// under that name. what names the side in errors.
func (b *bench) measure(f *fleet, op operation, meter cpuMeter, figure func(*result) float64, what, profile string) measureFunc {
	return func(ctx context.Context) (m measured, err error) {
		err = b.profiled(ctx, f.srv, profile, func() error {
			res, details := measureLoad(ctx, load{workers: f.clients(), duration: b.cfg.duration}, op, meter)
			m = measured{figure(&res), details}
			return res.err(what)
		})
		return m, err
	}
}

// loadDetails are the details of a throughput measurement.
func loadDetails(r *result) map[string]any {
	ls := r.latencies()
	return map[string]any{
		"operations": r.ops,
		"seconds":    r.elapsed.Seconds(),
		"mb":         float64(r.bytes) / 1e6,
		"per_second": r.perSecond(),
		"mb_per_s":   r.mbPerSecond(),
		"p50_ms":     ms(percentile(ls, 50)),
		"p99_ms":     ms(percentile(ls, 99)),
		"max_ms":     ms(percentile(ls, 100)),
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// sizeName is a size as the table says it: 20 MiB, 60 KiB.
func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// technicians returns n technician names: prefix-00, prefix-01…
func technicians(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return names
}

// runDownload: a 20 MiB report downloaded by 8 clients at once, against
// nginx sending the same file with sendfile.
func runDownload(ctx context.Context, b *bench) ([]Row, error) {
	s := b.cfg.sizes
	clients := s.downloadClients
	content, err := report(s.largeFile, 1)
	if err != nil {
		return nil, err
	}
	const name = "relatorio-grande.xlsx"
	nginxFile := filepath.Join(b.cfg.nginxRoot, "files", name)
	if err := os.MkdirAll(filepath.Dir(nginxFile), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(nginxFile, content, 0o644); err != nil {
		return nil, err
	}
	f, err := b.newFleet(ctx, "download", clients)
	if err != nil {
		return nil, err
	}
	defer f.close()
	// Each technician stores the report once.
	err = f.repeat(ctx, "store the report", clients, func(ctx context.Context, w, _ int) (int64, error) {
		req, err := uploadRequest(ctx, f.srv.url, f.tokens[w], name, content)
		if err != nil {
			return 0, err
		}
		return f.do(w, req, http.StatusOK)
	})
	if err != nil {
		return nil, err
	}

	// get downloads url, as technician w if auth is set.
	get := func(url string, auth bool) operation {
		return func(ctx context.Context, w, _ int) (int64, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return 0, err
			}
			if auth {
				req.Header.Set("Authorization", "Bearer "+f.tokens[w])
			}
			n, err := f.do(w, req, http.StatusOK)
			if err == nil && n != int64(len(content)) {
				err = fmt.Errorf("GET %s: %d bytes; want %d", url, n, len(content))
			}
			return n, err
		}
	}
	nginxOp := get(b.cfg.nginx+"/files/"+name, false)
	pmgOp := get(f.srv.url+"/pull?filename="+name, true)
	// Warm up: connections, page cache.
	for _, op := range []operation{nginxOp, pmgOp} {
		if err := f.repeat(ctx, "warm-up", clients, op); err != nil {
			return nil, err
		}
	}
	ref, pmg, err := b.alternate(ctx,
		b.measure(f, nginxOp, nginxMeter(b.cfg.nginxPID), (*result).mbPerSecond, "download", ""),
		b.measure(f, pmgOp, pidMeter(f.srv.pid()), (*result).mbPerSecond, "download", "download"))
	if err != nil {
		return nil, err
	}
	row := newRow(fmt.Sprintf("download %s, %d clients", sizeName(s.largeFile), clients), "MB/s",
		pmg.value, ref.value, "nginx sendfile", atLeastRatio(0.9, "nginx"))
	row.Details = map[string]any{"pmgsync": pmg.details, "nginx": ref.details}
	return []Row{row}, nil
}

// runUploadLarge: a 20 MiB report uploaded (multipart, acknowledged once
// durable) by one client, against the disk writing the same bytes with
// fsync and a rename.
func runUploadLarge(ctx context.Context, b *bench) ([]Row, error) {
	s := b.cfg.sizes
	const clients = 1
	content, err := report(s.largeFile, 2)
	if err != nil {
		return nil, err
	}
	f, err := b.newFleet(ctx, "upload-large", clients)
	if err != nil {
		return nil, err
	}
	defer f.close()
	disk, err := b.newDiskWriter("disk-large")
	if err != nil {
		return nil, err
	}
	pmgOp := f.upload(content, "relatorio-grande")
	if err := f.repeat(ctx, "warm-up", 2, pmgOp); err != nil {
		return nil, err
	}
	ref, pmg, err := b.alternate(ctx,
		b.measure(f, disk.op(content), nil, (*result).mbPerSecond, "disk write", ""),
		b.measure(f, pmgOp, pidMeter(f.srv.pid()), (*result).mbPerSecond, "upload", "upload-large"))
	if err != nil {
		return nil, err
	}
	// nginx taking the same bytes by PUT, without fsync, for context: what
	// the network path alone costs.
	nginxOp := f.put(content, func(w, seq int) string {
		return fmt.Sprintf("%s/dav/grande/%02d-%06d.xlsx", b.cfg.nginx, w, seq)
	})
	nginxRes, nginxDetails := measureLoad(ctx, load{workers: clients, duration: b.cfg.duration}, nginxOp, nginxMeter(b.cfg.nginxPID))
	if err := nginxRes.err("nginx PUT"); err != nil {
		return nil, err
	}
	workload := fmt.Sprintf("upload %s, multipart, durable, %d client", sizeName(s.largeFile), clients)
	row := newRow(workload, "MB/s", pmg.value, ref.value, "disk write+fsync+rename", atLeastRatio(0.8, "disk"))
	row.Details = map[string]any{"pmgsync": pmg.details, "disk": ref.details}
	put := newRow(workload, "MB/s", pmg.value, nginxRes.mbPerSecond(), "nginx PUT, no fsync", noGoal)
	put.Details = map[string]any{"nginx": nginxDetails}
	return []Row{row, put}, nil
}

// runUploadSmall: a 60 KiB report uploaded by 16 clients at once, against
// nginx taking the same bytes by WebDAV PUT (which does not fsync). The
// disk's own rate for the same durable writes is measured too, for the
// record.
func runUploadSmall(ctx context.Context, b *bench) ([]Row, error) {
	s := b.cfg.sizes
	clients := s.smallClients
	content, err := report(s.smallFile, 3)
	if err != nil {
		return nil, err
	}
	f, err := b.newFleet(ctx, "upload-small", clients)
	if err != nil {
		return nil, err
	}
	defer f.close()
	disk, err := b.newDiskWriter("disk-small")
	if err != nil {
		return nil, err
	}
	pmgOp := f.upload(content, "relatorio")
	nginxOp := f.put(content, func(w, seq int) string {
		return fmt.Sprintf("%s/dav/c%02d/%06d.xlsx", b.cfg.nginx, w, seq)
	})
	for _, op := range []operation{nginxOp, pmgOp} {
		if err := f.repeat(ctx, "warm-up", 4*clients, op); err != nil {
			return nil, err
		}
	}
	ref, pmg, err := b.alternate(ctx,
		b.measure(f, nginxOp, nginxMeter(b.cfg.nginxPID), (*result).perSecond, "nginx PUT", ""),
		b.measure(f, pmgOp, pidMeter(f.srv.pid()), (*result).perSecond, "upload", "upload-small"))
	if err != nil {
		return nil, err
	}
	// The disk's own rate for the same durable writes, for context.
	diskRes, diskDetails := measureLoad(ctx, load{workers: clients, duration: b.cfg.duration}, disk.op(content), nil)
	if err := diskRes.err("disk write"); err != nil {
		return nil, err
	}
	workload := fmt.Sprintf("upload %s, %d clients", sizeName(s.smallFile), clients)
	row := newRow(workload, "uploads/s", pmg.value, ref.value, "nginx PUT, no fsync", atLeastRatio(0.5, "nginx PUT"))
	row.Details = map[string]any{"pmgsync": pmg.details, "nginx": ref.details}
	durable := newRow(workload, "uploads/s", pmg.value, diskRes.perSecond(), "disk write+fsync+rename", noGoal)
	durable.Details = map[string]any{"disk": diskDetails}
	return []Row{row, durable}, nil
}
