package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/pmgsync/pmgsync/backup"
	"github.com/pmgsync/pmgsync/certs"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/httpserver"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/metrics"
	"github.com/pmgsync/pmgsync/schedule"
	"github.com/pmgsync/pmgsync/sqlite"
	"github.com/pmgsync/pmgsync/throttle"
)

// DefaultShutdownTimeout bounds how long a graceful shutdown waits for
// requests in flight. There is no write timeout: a 50 MB report may take
// minutes to download over 3G, and the shutdown must not cut it short
// sooner than necessary either.
const DefaultShutdownTimeout = 30 * time.Second

// Main is the program: the stores, the engine and, once Run has been called,
// the HTTP server, wired from a Config. The serve command and the
// administration commands use it, and so do the end-to-end tests, which
// drive it in-process. A Main is used once: Open, then (to serve) Run, then
// Close.
type Main struct {
	Config          Config
	Logger          *slog.Logger
	Now             func() time.Time // the clock; time.Now if nil
	ShutdownTimeout time.Duration    // DefaultShutdownTimeout if zero

	DB     *sqlite.DB
	Blobs  *localfs.Store
	Engine *engine.Engine
	// Metrics are the server's metrics, made by Open unless set before.
	// The HTTP server counts into them and serves them; the scheduler
	// counts its cleanup runs.
	Metrics *metrics.Metrics

	server          *http.Server
	listener        net.Listener
	metricsServer   *http.Server // nil unless Config.MetricsAddr is set
	metricsListener net.Listener
	serveErr        chan error         // receives http.Server.Serve's error, if it fails
	stopBackground  context.CancelFunc // stops the start-up recovery and the scheduler
	background      sync.WaitGroup
	cleanup         *schedule.Schedule // the cleanup schedule that Open validated; nil if off
	backups         *schedule.Schedule // the backup schedule that Open validated; nil if off

	redirectServer   *http.Server // nil unless Config.RedirectAddr is set
	redirectListener net.Listener
	certFiles        *certs.Files // nil unless the certificates come from files
	acme             *certs.ACME  // nil unless the certificates come from ACME
	dataLock         io.Closer    // marks the data directory in use (see backup.Use)
}

// NewMain returns a Main with the given settings that logs to logger.
func NewMain(cfg Config, logger *slog.Logger) *Main {
	return &Main{Config: cfg, Logger: logger}
}

// Open validates the settings, creates the data directory if it is missing,
// marks it as in use until Close (backup.Use: a restore refuses to replace
// it meanwhile, and Open fails while a restore into it runs) and opens the
// stores and the engine. It does not run the start-up
// recovery, which only the server may do (Run): an administration command
// running beside a live server must not sweep away what it is writing. The
// caller calls Close even if Open fails.
func (m *Main) Open(ctx context.Context) error {
	if m.Logger == nil {
		m.Logger = slog.Default()
	}
	// Whatever logs through Main, tokens are redacted: this is the one
	// place that makes it so (httpserver.New keeps a redacting handler as
	// it is). It comes first, so that it holds even if Open fails.
	m.Logger = slog.New(httpserver.RedactHandler(m.Logger.Handler()))
	scheds, err := m.Config.validate()
	if err != nil {
		return err
	}
	m.cleanup, m.backups = scheds.cleanup, scheds.backup
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.Metrics == nil {
		m.Metrics = metrics.New(binaryVersion())
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return fmt.Errorf("create the data directory: %w", err)
	}
	if m.dataLock, err = backup.Use(m.Config.DataDir); err != nil {
		return err
	}
	db, err := sqlite.Open(ctx, m.Config.DatabasePath(), m.Now)
	if err != nil {
		return fmt.Errorf("open the database: %w", err)
	}
	m.DB = db
	blobs, err := localfs.Open(m.Config.BlobDir())
	if err != nil {
		return fmt.Errorf("open the blob store: %w", err)
	}
	blobs.Now = m.Now // blob commit times and orphan cut-offs on one clock
	m.Blobs = blobs
	opts := m.Config.EngineOptions()
	opts.Now, opts.Logger = m.Now, m.Logger
	m.Engine = engine.New(m.DB, m.Blobs, opts)
	return nil
}

// Run starts serving on Config.Addr — HTTPS if Config.HTTPS(), with
// HTTP/2, else HTTP —, the metrics on Config.MetricsAddr if it is set, and
// the redirect to HTTPS on Config.RedirectAddr if it is set, and returns
// once the listeners are up; Addr, MetricsAddr and RedirectAddr then tell
// the addresses, the port included when port 0 was asked for. It fails
// before listening if the certificate files do not hold a valid pair. Jobs
// run in the background until ctx is done or Close is called: the start-up
// recovery (engine.Recover), which removes what a crash left behind and
// which nothing that starts after Run can reference, the cleanup scheduler
// (see startScheduler), and the watch of the certificate files, which are
// loaded again when they change. Serve's failure, if any, arrives on Err.
func (m *Main) Run(ctx context.Context) error {
	startTime := m.Now()
	tlsConfig, err := m.openTLS()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", m.Config.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	m.listener = ln
	separateMetrics := m.Config.MetricsAddr != ""
	if separateMetrics {
		mln, err := net.Listen("tcp", m.Config.MetricsAddr)
		if err != nil {
			m.closeListeners()
			return fmt.Errorf("listen for metrics on %s: %w", m.Config.MetricsAddr, err)
		}
		m.metricsListener = mln
	}
	if m.Config.RedirectAddr != "" {
		rln, err := net.Listen("tcp", m.Config.RedirectAddr)
		if err != nil {
			m.closeListeners()
			return fmt.Errorf("listen for plain HTTP on %s: %w", m.Config.RedirectAddr, err)
		}
		m.redirectListener = rln
	}
	m.Metrics.WatchStored(m.DB.Stored, storedTimeout, m.Logger)
	failures, err := m.authFailures()
	if err != nil {
		m.closeListeners()
		return err
	}
	m.server = m.httpServer(httpserver.New(m.Engine, httpserver.Options{
		Logger:               m.Logger,
		TrustedProxies:       m.Config.TrustedProxies,
		Metrics:              m.Metrics,
		ServeMetrics:         !separateMetrics,
		Readiness:            m.readiness(),
		AuthFailures:         failures,
		RateLimit:            m.Config.RateLimit,
		RateBurst:            m.Config.RateBurst,
		MaxConcurrentUploads: m.Config.MaxConcurrentUploads,
		Now:                  m.Now,
		CORSOrigins:          m.Config.CORSOrigins,
		UploadStallTimeout:   m.Config.UploadStallTimeout,
	}))
	m.server.TLSConfig = tlsConfig
	if m.redirectListener != nil {
		// Made before the first handshake, which may ask for an ACME
		// certificate: the redirect's handler is what lets ACME use
		// HTTP-01.
		m.redirectServer = m.httpServer(m.redirectHandler())
		// It never needs a body: a whole request must come within the
		// header timeout, so that a body that never arrives cannot hold a
		// connection.
		m.redirectServer.ReadTimeout = m.Config.ReadHeaderTimeout
	}
	m.serveErr = make(chan error, 3)
	m.serve(m.server, ln)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	m.Logger.Info("listening", "addr", ln.Addr().String(), "scheme", scheme, "data", m.Config.DataDir)
	if separateMetrics {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Metrics.Handler(m.Logger))
		m.metricsServer = m.httpServer(mux)
		m.serve(m.metricsServer, m.metricsListener)
		m.Logger.Info("metrics listening", "addr", m.metricsListener.Addr().String())
	}
	if m.redirectServer != nil {
		m.serve(m.redirectServer, m.redirectListener)
		m.Logger.Info("redirect listening", "addr", m.redirectListener.Addr().String(), "acme_http01", m.acme != nil)
	}

	bg, cancel := context.WithCancel(ctx)
	m.stopBackground = cancel
	m.background.Go(func() { m.recover(bg, startTime) })
	if m.certFiles != nil {
		m.background.Go(func() { m.certFiles.Watch(bg, certs.DefaultPollInterval) })
	}
	m.startScheduler(bg, m.cleanup)
	m.startBackups(bg, m.backups)
	return nil
}

// authFailures returns the brute-force throttle the settings describe, or
// nil when it is off (auth-fail-limit 0). It counts in this process's
// memory: a restart forgets the counts and bans.
func (m *Main) authFailures() (throttle.Failures, error) {
	c := &m.Config
	if c.AuthFailLimit == 0 {
		return nil, nil // an untyped nil: Options reads it as "off"
	}
	f, err := throttle.NewMemoryFailures(throttle.FailureLimits{Limit: c.AuthFailLimit, Window: c.AuthFailWindow, Ban: c.AuthBan})
	if err != nil {
		return nil, fmt.Errorf("brute-force throttle: %w", err)
	}
	return f, nil
}

// storedTimeout bounds how long a scrape of /metrics waits for the count of
// stored files.
const storedTimeout = 5 * time.Second

// httpServer returns an HTTP server with pmgsync's limits and timeouts for
// h, which logs its own errors (a broken TLS handshake, a bad request line)
// to the Main's logger.
func (m *Main) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: m.Config.ReadHeaderTimeout,
		IdleTimeout:       m.Config.IdleTimeout,
		MaxHeaderBytes:    m.Config.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
}

// serve runs srv on ln in the background, with TLS if srv.TLSConfig is
// set; its failure goes to serveErr.
func (m *Main) serve(srv *http.Server, ln net.Listener) {
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "") // HTTP/2 too: the config offers h2
		} else {
			err = srv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			m.serveErr <- fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
		}
	}()
}

// closeListeners closes the listeners Run opened, when it fails before
// serving on them.
func (m *Main) closeListeners() {
	for _, ln := range []*net.Listener{&m.listener, &m.metricsListener, &m.redirectListener} {
		if *ln != nil {
			(*ln).Close()
			*ln = nil
		}
	}
}

// readiness returns the checks of /readyz: the database answers, a blob
// can be written, and the engine's free-space guard lets uploads through
// (always, when the guard is off).
func (m *Main) readiness() []httpserver.Check {
	return []httpserver.Check{
		httpserver.StoreCheck(m.DB),
		httpserver.BlobCheck(m.Blobs),
		httpserver.FreeSpaceCheck(m.Engine.CheckFreeSpace),
	}
}

// recover runs the start-up recovery and logs what it removed. A failure
// is logged, not fatal: what it left is retried at the next start.
func (m *Main) recover(ctx context.Context, startTime time.Time) {
	stats, err := m.Engine.Recover(ctx, startTime)
	if err != nil {
		m.Logger.Error("start-up recovery failed", "temp_files", stats.TempFiles, "orphan_blobs", stats.OrphanBlobs, "err", err)
		return
	}
	m.Logger.Info("start-up recovery done", "temp_files", stats.TempFiles, "orphan_blobs", stats.OrphanBlobs)
}

// Addr returns the address the server listens on, or nil before Run.
func (m *Main) Addr() net.Addr {
	if m.listener == nil {
		return nil
	}
	return m.listener.Addr()
}

// MetricsAddr returns the address the metrics listener listens on, or nil
// before Run or if Config.MetricsAddr is not set.
func (m *Main) MetricsAddr() net.Addr {
	if m.metricsListener == nil {
		return nil
	}
	return m.metricsListener.Addr()
}

// Err returns a channel that receives an error if an HTTP server stops on
// its own, which it should not. Nil before Run.
func (m *Main) Err() <-chan error { return m.serveErr }

// Close stops the server gracefully, if it runs: it closes the metrics and
// redirect listeners, stops accepting connections and waits for the
// requests in flight to finish, for at most ShutdownTimeout, after which it
// cuts the remaining connections. Then it stops the start-up recovery, the
// scheduler, interrupting a sweep in progress (which stops between two
// batches), and the watch of the certificate files, and closes the
// database. It returns an error if requests had to be cut or a store
// failed to close.
func (m *Main) Close() error {
	var errs []error
	if m.metricsServer != nil {
		m.metricsServer.Close() // scrapes are short; nothing to wait for
	}
	if m.redirectServer != nil {
		m.redirectServer.Close() // redirects are shorter still
	}
	if m.server != nil {
		timeout := m.ShutdownTimeout
		if timeout == 0 {
			timeout = DefaultShutdownTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := m.server.Shutdown(ctx)
		cancel()
		if err != nil {
			m.server.Close()
			errs = append(errs, fmt.Errorf("requests still in flight after %s were cut: %w", timeout, err))
		}
	}
	if m.stopBackground != nil {
		m.stopBackground()
		m.background.Wait()
	}
	if m.DB != nil {
		if err := m.DB.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close the database: %w", err))
		}
	}
	if m.dataLock != nil {
		m.dataLock.Close()
	}
	return errors.Join(errs...)
}

// runServe is "pmgsync serve".
func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "serve", "[--config FILE] [--addr ADDR] [--data DIR] [SETTING FLAGS]",
		"Runs the server until SIGTERM or SIGINT, then lets the requests in flight\n"+
			"finish (for at most 30s) and exits. SIGHUP reloads the HTTPS certificate\n"+
			"files (--tls-cert, --tls-key). Every setting is a flag, a PMGSYNC_*\n"+
			"environment variable and a key of the TOML config file; a flag wins over the\n"+
			"environment, which wins over the file. \"pmgsync config\" shows the result.")
	cf := defineConfigFlags(fs)
	if err := parseNone(fs, "serve", args); err != nil {
		return err
	}
	cfg, err := cf.load(e.lookupEnv)
	if err != nil {
		return err
	}

	// SIGHUP reloads the certificate files. It is caught from here on,
	// HTTPS or not, so that it never kills the server, as it would by
	// default.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	m := NewMain(cfg, newLogger(e.stderr, &cfg))
	err = m.Open(ctx)
	logger := m.Logger // Open made it redact tokens, even if it failed
	logConfig(logger, &cfg)
	if err == nil {
		err = m.Run(ctx)
	}
wait:
	for err == nil {
		select {
		case <-ctx.Done():
			logger.Info("shutting down: waiting for the requests in flight", "timeout", DefaultShutdownTimeout)
			break wait
		case err = <-m.Err():
		case <-hup:
			m.Reload() // logs the outcome; a failure keeps the certificate served
		}
	}
	if cerr := m.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// newLogger returns the logger that cfg describes, writing to w. It does
// not redact tokens: Main.Open does that for whatever logs through the
// Main, which is why nothing logs through this logger before.
func newLogger(w io.Writer, cfg *Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler
	if cfg.LogFormat == logJSON {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h)
}

// logConfig logs the effective settings, each with its source.
func logConfig(logger *slog.Logger, cfg *Config) {
	attrs := make([]any, 0, len(settings)+1)
	if cfg.File != "" {
		attrs = append(attrs, slog.String("config", cfg.File))
	}
	for _, s := range settings {
		attrs = append(attrs, slog.Group(s.name, slog.String("value", s.get(cfg)), slog.String("from", cfg.Source(s.name))))
	}
	logger.Info("configuration", attrs...)
}
