package backup

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkBackupRestore2GB backs up, then restores, a store of 100
// files of 20 MiB of random bytes (as incompressible as the xlsx reports,
// which are ZIP archives), made once in a temporary directory, and reports
// the throughput of each, in MB of files a second, and the peak memory of
// the process during them: its resident set (VmHWM, reset after the setup)
// and the Go heap in use, sampled every 10 ms. Run it alone, without the
// race detector:
//
//	go test -run '^$' -bench BackupRestore2GB -benchtime 1x ./backup/
func BenchmarkBackupRestore2GB(b *testing.B) {
	const files, size = 100, 20 << 20
	ctx := context.Background()
	dir := b.TempDir()
	s := openStore(b, filepath.Join(dir, "data"))
	tech, err := s.engine.AddTechnician(ctx, "maria", "")
	if err != nil {
		b.Fatal(err)
	}
	for i := range files {
		r := io.LimitReader(rand.NewChaCha8([32]byte{byte(i)}), size)
		if _, _, err := s.engine.ImportFile(ctx, tech, fmt.Sprintf("relatorio-bomba-%03d.xlsx", i), r, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	total := float64(files * size)
	resetPeakRSS()

	var backupTime, restoreTime time.Duration
	heap := sampleHeap()
	for b.Loop() {
		archive := filepath.Join(dir, "pmgsync.tar.gz")
		start := time.Now()
		res, err := s.source().ToFile(ctx, archive, Options{})
		if err != nil {
			b.Fatal(err)
		}
		backupTime += time.Since(start)
		if res.Run.Files != files {
			b.Fatalf("%d files archived", res.Run.Files)
		}
		restored := filepath.Join(dir, "restored")
		start = time.Now()
		f, err := os.Open(archive)
		if err != nil {
			b.Fatal(err)
		}
		_, err = Restore(ctx, f, restored, RestoreOptions{})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		restoreTime += time.Since(start)
		b.StopTimer()
		os.RemoveAll(restored)
		os.Remove(archive)
		b.StartTimer()
	}
	peakHeap := heap()
	n := float64(b.N)
	b.ReportMetric(total/1e6/(backupTime.Seconds()/n), "backup-MB/s")
	b.ReportMetric(total/1e6/(restoreTime.Seconds()/n), "restore-MB/s")
	b.ReportMetric(float64(peakRSS())/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
}

// resetPeakRSS resets the process's peak resident set size (VmHWM).
func resetPeakRSS() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSS returns the process's peak resident set size, in bytes, since
// its start or the last resetPeakRSS; 0 if unknown.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// sampleHeap samples the heap in use every 10 ms until the returned
// function is called, which returns the largest sample.
func sampleHeap() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(stop)
		wg.Wait()
		return peak.Load()
	}
}
