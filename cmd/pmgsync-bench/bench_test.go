package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync/filetype"
)

// TestReport checks that the reports the bench sends have the size asked
// for and pass pmgsync's type checks as .xlsx files.
func TestReport(t *testing.T) {
	for _, size := range []int{60 << 10, 1 << 20} {
		b, err := report(size, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != size {
			t.Errorf("report of %d bytes; want %d", len(b), size)
		}
		sniff := filetype.XLSX.Sniffer()
		if _, err := sniff.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := sniff.Close(); err != nil {
			t.Errorf("sniffer: %v", err)
		}
		if err := filetype.XLSX.CheckArchive(bytes.NewReader(b), int64(len(b))); err != nil {
			t.Errorf("archive check: %v", err)
		}
	}
	if _, err := report(100, 1); err == nil {
		t.Error("a report of 100 bytes was made; want an error")
	}
}

// TestUploadRequest checks that an upload request is the multipart form
// the classic endpoint reads.
func TestUploadRequest(t *testing.T) {
	content := []byte("PK\x03\x04 relatório")
	req, err := uploadRequest(context.Background(), "http://127.0.0.1:1", "pmg_x", "relatorio-bomba-07.xlsx", content)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	n, _ := io.Copy(&body, req.Body)
	if n != req.ContentLength {
		t.Errorf("body of %d bytes, Content-Length %d", n, req.ContentLength)
	}
	req.Body = io.NopCloser(&body)
	mr, err := req.MultipartReader()
	if err != nil {
		t.Fatal(err)
	}
	part, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(part)
	if part.FormName() != "file" || part.FileName() != "relatorio-bomba-07.xlsx" || !bytes.Equal(got, content) {
		t.Errorf("part %q, file %q, %q", part.FormName(), part.FileName(), got)
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after the file part: %v; want io.EOF", err)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer pmg_x" {
		t.Errorf("Authorization %q", got)
	}
}

func TestPercentile(t *testing.T) {
	var ls []time.Duration
	for i := 1; i <= 100; i++ {
		ls = append(ls, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}} {
		if got := percentile(ls, tc.p); got != tc.want {
			t.Errorf("p%g = %v; want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of nothing = %v", got)
	}
}

func TestGoals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pmg, ref float64
		goal     Goal
		want     bool
	}{
		{"faster than needed", 95, 100, atLeastRatio(0.9, "nginx"), true},
		{"too slow", 89, 100, atLeastRatio(0.9, "nginx"), false},
		{"no reference", 89, 0, atLeastRatio(0.9, "nginx"), false},
		{"latency within", 1.4, 1, atMostRatio(1.5, "empty store"), true},
		{"latency beyond", 1.6, 1, atMostRatio(1.5, "empty store"), false},
		{"under a bound", 149, 20, atMostValue(150, "MB"), true},
		{"over a bound", 151, 20, atMostValue(150, "MB"), false},
	} {
		if got := newRow("w", "u", tc.pmg, tc.ref, "r", tc.goal).Met; got != tc.want {
			t.Errorf("%s: met %t; want %t", tc.name, got, tc.want)
		}
	}
	var out bytes.Buffer
	writeTable(&out, &Report{Rows: []Row{
		newRow("download 20 MiB, 8 clients", "MB/s", 2900, 3100, "nginx sendfile", atLeastRatio(0.9, "nginx")),
		newRow("peak RSS", "MB", 160, 20, "at rest", atMostValue(150, "MB")),
	}})
	for _, want := range []string{"workload", "2900 MB/s", "3100 MB/s (nginx sendfile)", "0.94", "≥ 0.9 × nginx", "ok", "MISS"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSettling(t *testing.T) {
	end := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	var samples []sample
	add := func(sec int, lat time.Duration) {
		for i := range 10 {
			samples = append(samples, sample{start: end.Add(time.Duration(sec)*time.Second + time.Duration(i)*50*time.Millisecond), latency: lat})
		}
	}
	add(0, 90*time.Millisecond) // slow for two seconds after the sweep
	add(1, 80*time.Millisecond)
	add(2, 20*time.Millisecond)
	add(3, 20*time.Millisecond)
	if got := settling(samples, end, 20*time.Millisecond); got != "2s" {
		t.Errorf("settled after %s; want 2s", got)
	}
	add(4, 90*time.Millisecond)
	if got := settling(samples, end, 20*time.Millisecond); !strings.HasPrefix(got, "not within") {
		t.Errorf("settled after %s; want not within the measurement", got)
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{7: "7", 1000: "1,000", 1_000_000: "1,000,000", 100: "100"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q; want %q", n, got, want)
		}
	}
}

// TestWorkloadsAgainstTheBinary runs the workloads that need no nginx
// (lists, start-up, memory, cleanup sweep), at a small size, against the
// pmgsync binary built from this tree.
func TestWorkloadsAgainstTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs pmgsync for a minute")
	}
	work := t.TempDir()
	bin := filepath.Join(work, "pmgsync")
	build := exec.Command("go", "build", "-o", bin, "../pmgsync")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build pmgsync: %v", err)
	}
	sz := quickSizes
	sz.largeFile, sz.memoryUploads, sz.others, sz.listGrowth, sz.expired = 1<<20, 8, 5_000, [2]int{100, 1_000}, 500
	cfg := &config{pmgsync: bin, work: work, rounds: 1, duration: 300 * time.Millisecond, sizes: sz}
	var log bytes.Buffer
	b := &bench{cfg: cfg, log: &log}
	ctx := context.Background()
	for _, w := range []func(context.Context, *bench) ([]Row, error){runList, runStartup, runRSS, runCleanup} {
		rows, err := w(ctx, b)
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		for _, r := range rows {
			if r.Pmgsync <= 0 || r.Reference <= 0 {
				t.Errorf("%s: pmgsync %g, reference %g; want both measured", r.Workload, r.Pmgsync, r.Reference)
			}
		}
	}
}
