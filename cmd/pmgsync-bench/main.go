// Command pmgsync-bench measures a pmgsync binary against what the machine it
// runs on can do, and prints one table: every figure of pmgsync next to a
// reference measured in the same run (nginx serving and storing the same
// bytes, the disk writing them with fsync, or pmgsync itself on an empty
// store), their ratio and the goal that ratio must meet.
//
// It starts the pmgsync binary itself, on 127.0.0.1, once per workload that
// needs a store of its own, each time on a fresh data directory under -work,
// and seeds those stores directly through SQL while the server is stopped
// (see seed.go). nginx is started by the caller (scripts/bench) and named by
// -nginx and -nginx-root. Every client is a net/http client with keep-alive.
//
// Usage:
//
//	pmgsync-bench -pmgsync ./pmgsync -nginx http://127.0.0.1:18080 \
//	    -nginx-root /tmp/x/www -work /tmp/x/work [-quick] [-json bench-results.json]
//
// Exit status: 0 when every workload ran (whether or not it met its goal),
// 1 when one failed to run, 2 for a usage mistake.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// config is what the command line asks for.
type config struct {
	pmgsync   string        // the binary under test
	nginx     string        // base URL of the reference nginx
	nginxRoot string        // the directory nginx serves /files/ from
	nginxPID  string        // nginx's pid file, to meter its CPU; "" for none
	work      string        // scratch directory, on the disk under test
	jsonOut   string        // where the results go as JSON; "" for nowhere
	quick     bool          // smaller sizes and shorter runs, to try the harness
	rounds    int           // alternations of reference and pmgsync per throughput workload
	duration  time.Duration // of each timed measurement
	only      []string      // workloads to run; all if empty
	pprof     bool          // capture the servers' profiles (a binary built with -tags pprof)
	sizes     sizes
}

// workload is one line group of the table.
type workload struct {
	name string
	run  func(ctx context.Context, b *bench) ([]Row, error)
}

// workloads in the order they run. The cleanup sweep comes last: a mass
// delete slows this kind of disk for minutes afterwards, which would
// distort whatever ran after it.
var workloads = []workload{
	{"download", runDownload},
	{"upload-large", runUploadLarge},
	{"upload-small", runUploadSmall},
	{"list", runList},
	{"startup", runStartup},
	{"rss", runRSS},
	{"cleanup", runCleanup},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "pmgsync-bench:", err)
		return 2
	}
	b := &bench{cfg: cfg, log: stderr}
	started := time.Now()
	report := Report{Started: started.UTC(), Quick: cfg.quick, Machine: describeMachine(cfg.work)}
	failed := false
	for _, w := range workloads {
		if len(cfg.only) > 0 && !slices.Contains(cfg.only, w.name) {
			continue
		}
		b.logf("== %s", w.name)
		t0 := time.Now()
		rows, err := w.run(ctx, b)
		report.Rows = append(report.Rows, rows...)
		if err != nil {
			failed = true
			b.logf("%s failed: %v", w.name, err)
			report.Failures = append(report.Failures, fmt.Sprintf("%s: %v", w.name, err))
		}
		b.logf("   %s took %s", w.name, time.Since(t0).Round(100*time.Millisecond))
		if ctx.Err() != nil {
			break
		}
	}
	report.Seconds = time.Since(started).Seconds()
	fmt.Fprintln(stdout)
	writeTable(stdout, &report)
	if cfg.jsonOut != "" {
		if err := writeJSON(cfg.jsonOut, &report); err != nil {
			fmt.Fprintln(stderr, "pmgsync-bench:", err)
			failed = true
		}
	}
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("pmgsync-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	var only string
	fs.StringVar(&cfg.pmgsync, "pmgsync", "", "the pmgsync `binary` to measure (required)")
	fs.StringVar(&cfg.nginx, "nginx", "", "base `URL` of the reference nginx, which serves -nginx-root at /files/ and takes WebDAV PUT at /dav/ (required)")
	fs.StringVar(&cfg.nginxRoot, "nginx-root", "", "the `directory` nginx serves at /files/ (required)")
	fs.StringVar(&cfg.nginxPID, "nginx-pid", "", "nginx's pid `file`, to measure the CPU time nginx spends per request")
	fs.StringVar(&cfg.work, "work", "", "scratch `directory` on the disk to measure; data directories are made under it (required)")
	fs.StringVar(&cfg.jsonOut, "json", "", "also write the results as JSON to this `file`")
	fs.BoolVar(&cfg.quick, "quick", false, "smaller sizes and shorter runs, to try the harness in a minute")
	fs.IntVar(&cfg.rounds, "rounds", 0, "how many times each throughput workload alternates reference and pmgsync; the best of each counts (default 2, 1 with -quick)")
	fs.DurationVar(&cfg.duration, "duration", 0, "how long each timed measurement runs (default 5s, 1s with -quick)")
	fs.StringVar(&only, "only", "", "comma-separated workloads to run (download, upload-large, upload-small, list, startup, rss, cleanup); all if empty")
	fs.BoolVar(&cfg.pprof, "pprof", false, "save CPU, allocation, mutex and blocking profiles of pmgsync under each workload in <work>/profiles (the binary must be built with -tags pprof)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for name, v := range map[string]string{"-pmgsync": cfg.pmgsync, "-nginx": cfg.nginx, "-nginx-root": cfg.nginxRoot, "-work": cfg.work} {
		if v == "" {
			return nil, fmt.Errorf("%s is required", name)
		}
	}
	cfg.nginx = strings.TrimSuffix(cfg.nginx, "/")
	for _, w := range strings.Split(only, ",") {
		if w = strings.TrimSpace(w); w == "" {
			continue
		}
		if !slices.ContainsFunc(workloads, func(x workload) bool { return x.name == w }) {
			return nil, fmt.Errorf("-only: no workload %q", w)
		}
		cfg.only = append(cfg.only, w)
	}
	cfg.sizes = fullSizes
	if cfg.quick {
		cfg.sizes = quickSizes
	}
	if cfg.rounds <= 0 {
		cfg.rounds = cfg.sizes.rounds
	}
	if cfg.duration <= 0 {
		cfg.duration = cfg.sizes.duration
	}
	var err error
	if cfg.pmgsync, err = filepath.Abs(cfg.pmgsync); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.pmgsync); err != nil {
		return nil, fmt.Errorf("-pmgsync: %w", err)
	}
	if err := os.MkdirAll(cfg.work, 0o700); err != nil {
		return nil, fmt.Errorf("-work: %w", err)
	}
	return cfg, nil
}

// bench is the state shared by the workloads of one run.
type bench struct {
	cfg *config
	log io.Writer
	n   int // data directories made so far, to name the next one
	// lists are the stores of the list and start-up workloads, once seeded.
	lists *listStores
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// dataDir returns a new, empty directory under the work directory, named
// after what it is for.
func (b *bench) dataDir(purpose string) (string, error) {
	b.n++
	dir := filepath.Join(b.cfg.work, fmt.Sprintf("%02d-%s", b.n, purpose))
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	return dir, os.MkdirAll(dir, 0o700)
}

// writeJSON writes the report to path.
func writeJSON(path string, r *Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
