// Package metrics holds pmgsync's Prometheus metrics, on a registry of their
// own rather than the client library's global one, so that two servers in
// one process (as in the tests) never share counts. The HTTP server counts
// requests and transfers into it, the scheduler counts cleanup runs, and
// Handler serves all of it in the Prometheus text format.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pmgsync/pmgsync"
)

// Operations counted by Operation.
const (
	OpUpload   = "upload"
	OpDownload = "download"
	OpDelete   = "delete"
)

// Reasons of the requests refused by the abuse limits, counted by
// Throttled.
const (
	ThrottleAuthBan         = "auth_ban"          // from a client address banned for failed authentications
	ThrottleRateLimit       = "rate_limit"        // over its token's rate limit
	ThrottleUploadsInFlight = "uploads_in_flight" // an upload over its technician's bound of uploads at once
)

// Metrics are pmgsync's metrics. The zero value is not usable; a nil
// *Metrics is, and counts nothing, so that code can count unconditionally.
// It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	uploaded     prometheus.Counter
	downloaded   prometheus.Counter
	operations   *prometheus.CounterVec
	authFailures prometheus.Counter
	panics       prometheus.Counter
	cleanupRuns  *prometheus.CounterVec
	cleanupFiles prometheus.Counter
	cleanupBytes prometheus.Counter
	throttled    *prometheus.CounterVec
	authBans     prometheus.Counter
	backupRuns   *prometheus.CounterVec
	lastBackup   prometheus.Gauge

	mu           sync.Mutex
	lastBackupAt time.Time // what lastBackup shows
}

// New returns the metrics of a process running version, on a new registry
// that also holds the Go runtime's and the process's collectors and
// pmgsync_build_info.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	f := factory{reg}
	m := &Metrics{
		reg: reg,
		requests: f.counterVec("pmgsync_http_requests_total",
			"HTTP requests answered, by route pattern and status code.", "route", "code"),
		duration: f.histogramVec(prometheus.HistogramOpts{
			Name: "pmgsync_http_request_duration_seconds",
			Help: "Time from a request's arrival to the end of its response, by route pattern.",
			// Uploads and downloads of 50 MB over 3G take minutes.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, "route"),
		uploaded: f.counter("pmgsync_uploaded_bytes_total",
			"Bytes of the files stored by successful uploads."),
		downloaded: f.counter("pmgsync_downloaded_bytes_total",
			"Bytes of file content sent by pulls."),
		operations: f.counterVec("pmgsync_operations_total",
			"Successful file operations by technicians: upload, download, delete.", "op"),
		authFailures: f.counter("pmgsync_auth_failures_total",
			"Requests refused for a missing, unknown, expired or revoked token."),
		panics: f.counter("pmgsync_http_panics_total",
			"Handler panics recovered (each answered with a 500)."),
		cleanupRuns: f.counterVec("pmgsync_cleanup_runs_total",
			`Scheduled cleanup runs by result: "ok", "errors" (done, with blob errors), "failed", "skipped" (another sweep was running).`, "result"),
		cleanupFiles: f.counter("pmgsync_cleanup_files_removed_total",
			"Expired files removed by scheduled cleanup runs."),
		cleanupBytes: f.counter("pmgsync_cleanup_bytes_removed_total",
			"Bytes of the expired files removed by scheduled cleanup runs."),
		throttled: f.counterVec("pmgsync_throttled_requests_total",
			`Requests refused with 429 by the abuse limits, by reason: "auth_ban", "rate_limit", "uploads_in_flight".`, "reason"),
		authBans: f.counter("pmgsync_auth_bans_total",
			"Client addresses banned for repeated failed authentications."),
		backupRuns: f.counterVec("pmgsync_backup_runs_total",
			`Scheduled backups by result: "ok", "damaged" (written, without files whose bytes no longer match their SHA-256), "failed" (no archive).`, "result"),
		lastBackup: f.gauge("pmgsync_backup_last_success_timestamp_seconds",
			"Unix time at which the last successful backup finished; 0 if none is known. Read from the backup history at start-up, then set by each scheduled backup."),
	}
	for _, op := range []string{OpUpload, OpDownload, OpDelete} {
		m.operations.WithLabelValues(op) // present at 0 from the start
	}
	for _, reason := range []string{ThrottleAuthBan, ThrottleRateLimit, ThrottleUploadsInFlight} {
		m.throttled.WithLabelValues(reason)
	}
	build := f.gaugeVec("pmgsync_build_info",
		"Always 1; its labels tell the version of pmgsync and of Go that built it.", "version", "goversion")
	build.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry returns the registry the metrics are on, for a caller that adds
// collectors of its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format. A
// collector that fails is logged to logger and left out of the answer,
// rather than failing the whole scrape.
func (m *Metrics) Handler(logger *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	})
}

// Request counts a finished request to route (the pattern that served it)
// with the given status code, which took d.
func (m *Metrics) Request(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// Operation counts one successful op (OpUpload, OpDownload, OpDelete)
// that moved n bytes: uploaded for an upload, sent for a download.
func (m *Metrics) Operation(op string, n int64) {
	if m == nil {
		return
	}
	m.operations.WithLabelValues(op).Inc()
	switch op {
	case OpUpload:
		m.uploaded.Add(float64(n))
	case OpDownload:
		m.downloaded.Add(float64(n))
	}
}

// AuthFailure counts a request refused for its token.
func (m *Metrics) AuthFailure() {
	if m != nil {
		m.authFailures.Inc()
	}
}

// Throttled counts a request refused by an abuse limit, for reason
// (ThrottleAuthBan, ThrottleRateLimit, ThrottleUploadsInFlight).
func (m *Metrics) Throttled(reason string) {
	if m != nil {
		m.throttled.WithLabelValues(reason).Inc()
	}
}

// AuthBan counts the start of a ban of a client address.
func (m *Metrics) AuthBan() {
	if m != nil {
		m.authBans.Inc()
	}
}

// Panic counts a handler panic that was recovered.
func (m *Metrics) Panic() {
	if m != nil {
		m.panics.Inc()
	}
}

// Cleanup counts a scheduled cleanup run that returned run and err (see
// engine.Cleanup); another sweep already running (ECONFLICT) counts as
// skipped.
func (m *Metrics) Cleanup(run *pmgsync.CleanupRun, err error) {
	if m == nil {
		return
	}
	result := "ok"
	switch {
	case pmgsync.IsCode(err, pmgsync.ECONFLICT):
		result = "skipped"
	case err != nil:
		result = "failed"
	case run != nil && run.Errors != "":
		result = "errors"
	}
	m.cleanupRuns.WithLabelValues(result).Inc()
	if run != nil && !run.DryRun {
		m.cleanupFiles.Add(float64(run.FilesRemoved))
		m.cleanupBytes.Add(float64(run.BytesRemoved))
	}
}

// Results of a scheduled backup, as Backup counts them.
const (
	BackupOK      = "ok"
	BackupDamaged = "damaged"
	BackupFailed  = "failed"
)

// Backup counts a scheduled backup with the given result (BackupOK,
// BackupDamaged, BackupFailed) that finished at finished; a successful one
// also sets the time of the last success.
func (m *Metrics) Backup(result string, finished time.Time) {
	if m == nil {
		return
	}
	m.backupRuns.WithLabelValues(result).Inc()
	if result == BackupOK {
		m.LastBackup(finished)
	}
}

// LastBackup sets the time of the last successful backup, if it is later
// than the one known: at start-up the server reads it from the history,
// which has the backups taken by command as well.
func (m *Metrics) LastBackup(t time.Time) {
	if m == nil || t.IsZero() {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.After(m.lastBackupAt) {
		m.lastBackupAt = t
		m.lastBackup.Set(float64(t.UnixNano()) / 1e9)
	}
}

// StoredFunc reports how many files the metadata store holds, their total
// size and how many of them are damaged (see pmgsync.MetadataStore.Stored).
type StoredFunc func(ctx context.Context) (pmgsync.Usage, error)

// WatchStored adds the gauges pmgsync_stored_files, pmgsync_stored_bytes
// and pmgsync_damaged_files, which call stored at each scrape, with at most
// timeout to answer. When stored fails, the failure is logged and the
// gauges are left out of that scrape: a stale number would look like a
// real one.
func (m *Metrics) WatchStored(stored StoredFunc, timeout time.Duration, logger *slog.Logger) {
	m.reg.MustRegister(&storedCollector{stored: stored, timeout: timeout, log: logger})
}

var (
	storedFilesDesc = prometheus.NewDesc("pmgsync_stored_files",
		"Files in the metadata store, expired ones not yet swept included.", nil, nil)
	storedBytesDesc = prometheus.NewDesc("pmgsync_stored_bytes",
		"Total size of the files in the metadata store.", nil, nil)
	damagedFilesDesc = prometheus.NewDesc("pmgsync_damaged_files",
		`Files marked damaged by "pmgsync verify --repair", not served until deleted, sent again or expired.`, nil, nil)
)

type storedCollector struct {
	stored  StoredFunc
	timeout time.Duration
	log     *slog.Logger
}

func (c *storedCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storedFilesDesc
	ch <- storedBytesDesc
	ch <- damagedFilesDesc
}

func (c *storedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	u, err := c.stored(ctx)
	if err != nil {
		c.log.Warn("metrics: count the stored files", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(storedFilesDesc, prometheus.GaugeValue, float64(u.Files))
	ch <- prometheus.MustNewConstMetric(storedBytesDesc, prometheus.GaugeValue, float64(u.Bytes))
	ch <- prometheus.MustNewConstMetric(damagedFilesDesc, prometheus.GaugeValue, float64(u.Damaged))
}

// factory makes metrics registered on reg.
type factory struct{ reg prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogramVec(opts prometheus.HistogramOpts, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(opts, labels)
	f.reg.MustRegister(h)
	return h
}
