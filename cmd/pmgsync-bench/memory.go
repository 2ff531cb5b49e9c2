package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// runRSS: the server's peak resident memory while 64 clients each upload a
// 20 MiB report at once, against its resident memory at rest just before.
// The peak is the kernel's high-water mark (VmHWM) of a fresh process.
func runRSS(ctx context.Context, b *bench) ([]Row, error) {
	s := b.cfg.sizes
	clients := s.memoryUploads
	content, err := report(s.largeFile, 4)
	if err != nil {
		return nil, err
	}
	f, err := b.newFleet(ctx, "memory", clients)
	if err != nil {
		return nil, err
	}
	defer f.close()

	// At rest: every technician has listed (404, no files yet) once.
	err = f.repeat(ctx, "list at rest", clients, func(ctx context.Context, w, _ int) (int64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.url+"/list", nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+f.tokens[w])
		return f.do(w, req, http.StatusNotFound)
	})
	if err != nil {
		return nil, err
	}
	time.Sleep(500 * time.Millisecond)
	restRSS, _, err := f.srv.memory()
	if err != nil {
		return nil, err
	}

	// Sample the resident size during the uploads too, to see its shape.
	var (
		mu      sync.Mutex
		sampled int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if rss, _, err := f.srv.memory(); err == nil {
				mu.Lock()
				sampled = max(sampled, rss)
				mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	up := load{workers: clients, maxOps: clients, duration: time.Hour}.run(ctx, f.upload(content, "relatorio-grande"))
	close(stop)
	wg.Wait()
	if err := up.err("upload"); err != nil {
		return nil, err
	}
	_, peak, err := f.srv.memory()
	if err != nil {
		return nil, err
	}
	const mb = 1e6
	row := newRow(fmt.Sprintf("peak RSS, %d concurrent %s uploads", clients, sizeName(s.largeFile)), "MB",
		float64(peak)/mb, float64(restRSS)/mb, "same process at rest", atMostValue(150, "MB"))
	row.Details = map[string]any{
		"peak_vmhwm_mb":      float64(peak) / mb,
		"max_sampled_rss_mb": float64(sampled) / mb,
		"rest_rss_mb":        float64(restRSS) / mb,
		"uploads":            loadDetails(&up),
	}
	return []Row{row}, nil
}
