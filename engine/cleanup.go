package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
)

// The triggers of a cleanup run, as recorded in pmgsync.CleanupRun.Trigger.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// CleanupLease is how long the cleanup lock holds without renewal: a sweep
// whose process dies blocks the next one for at most this long. A sweep
// renews it every minute, between batches, so the lease only has to outlast
// a minute and one batch, or the orphan sweep.
const CleanupLease = 5 * time.Minute

// renewEvery is how often a running sweep extends its lease.
const renewEvery = time.Minute

const (
	// cleanupLock is the name of the store lock that keeps two sweeps, in
	// any processes, from running at once.
	cleanupLock = "cleanup"
	// cleanupBatch is how many files one metadata transaction deletes: few
	// enough that the write lock is held for milliseconds, so uploads, which
	// need it for their commit, wait at most that long.
	cleanupBatch = 500
	// cleanupPause is a real-time pause between batches. In this process
	// the store's writer pool already lets uploads in between batches, but a
	// server beside a `pmgsync cleanup` process only gets the SQLite write
	// lock when its busy handler happens to retry while the lock is free.
	cleanupPause = 5 * time.Millisecond
	// maxRunErrors bounds the error lines kept in a run's record, so that a
	// blob store that fails every delete does not make a huge row.
	maxRunErrors = 100
	// defaultHistory is how many runs CleanupHistory returns for a limit <= 0.
	defaultHistory = 20
)

// CleanupOptions says how to run one sweep.
type CleanupOptions struct {
	// Trigger is TriggerSchedule or TriggerManual (the default if "").
	Trigger string
	// DryRun finds the files the sweep would remove, and records the run,
	// but removes nothing, not even orphaned blobs.
	DryRun bool
	// Progress, if not nil, is called for each file removed or, in a dry
	// run, that would be removed, with the file's ExpiresAt set. It is
	// called from Cleanup's goroutine, after the file's row is gone (in a
	// real run) and before its blob is deleted.
	Progress func(technician string, f *pmgsync.File)
}

// Cleanup removes every technician's expired files (uploaded at or before
// the start of the run minus the technician's retention) and, unless it is a
// dry run, the orphaned blobs older than OrphanGrace. It is the one sweep
// that the scheduler and `pmgsync cleanup` both run, in the server's
// process or another one on the same stores.
//
// Two sweeps never run at once: Cleanup holds the store lock "cleanup" while
// it runs, and if another sweep holds it, returns ECONFLICT with
// MsgCleanupRunning and does nothing. A sweeper that dies without releasing
// the lock holds it for at most CleanupLease.
//
// Files are removed in batches of a few hundred, each in a short
// transaction, so uploads and reads go on while 100,000 files are removed. A
// file whose blob is already missing is removed without complaint; other
// blob errors are recorded in the run's Errors and the sweep goes on (the
// blob is then an orphan that a later sweep retries).
//
// A run that is not a dry run then keeps the audit trail: it records the
// tokens that have expired (token.expire) and removes the audit records
// older than AuditRetention; a failure of either is one line of the run's
// Errors.
//
// Every run is recorded, dry runs too, and the record is returned. If ctx
// is done between batches, the run stops, is recorded with an
// "interrupted" line in its Errors, and Cleanup returns the record with an
// error wrapping ctx.Err(). Any other error that stops the sweep is also
// returned with the record, once the record is saved; the record is nil
// only if the run could not start.
func (e *Engine) Cleanup(ctx context.Context, opts CleanupOptions) (*pmgsync.CleanupRun, error) {
	switch opts.Trigger {
	case "":
		opts.Trigger = TriggerManual
	case TriggerManual, TriggerSchedule:
	default:
		return nil, fmt.Errorf("cleanup: unknown trigger %q", opts.Trigger)
	}
	holder := lockHolder()
	now := e.Now()
	ok, err := e.meta.TryLock(ctx, cleanupLock, holder, now, now.Add(CleanupLease))
	if err != nil {
		return nil, fmt.Errorf("cleanup: take the lock: %w", err)
	}
	if !ok {
		return nil, pmgsync.Errorf(pmgsync.ECONFLICT, pmgsync.MsgCleanupRunning, e.runningSweep(ctx))
	}
	// The lock goes even if ctx is done: else the next sweep waits out the lease.
	defer func() {
		if err := e.meta.Unlock(context.WithoutCancel(ctx), cleanupLock, holder); err != nil {
			e.log.WarnContext(ctx, "cleanup lock left to expire", "holder", holder, "err", err)
		}
	}()

	run := &pmgsync.CleanupRun{Trigger: opts.Trigger, DryRun: opts.DryRun, StartedAt: now}
	if err := e.meta.StartCleanupRun(ctx, run); err != nil {
		return nil, fmt.Errorf("cleanup: record the run: %w", err)
	}
	s := &sweep{e: e, opts: opts, run: run, holder: holder, now: now, renewed: now}
	err = s.expired(ctx)
	if err == nil && !opts.DryRun {
		var n int
		n, err = e.sweepOrphans(ctx, now.Add(-OrphanGrace))
		run.OrphansRemoved = int64(n)
		if err != nil && ctx.Err() == nil {
			// Only the orphans are left behind: the next run retries them.
			s.record(fmt.Errorf("orphan sweep: %w", err))
			err = nil
		}
		if err == nil {
			s.expireAudit(ctx)
		}
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("cleanup interrupted: %w", ctxErr)
			s.record(err)
		} else {
			s.record(err)
			err = fmt.Errorf("cleanup: %w", err)
		}
	}
	run.Errors = s.errorText()
	run.FinishedAt = e.Now()
	// The outcome is saved even when ctx is done, so that history shows
	// what the interrupted run did.
	if ferr := e.meta.FinishCleanupRun(context.WithoutCancel(ctx), run); ferr != nil {
		err = errors.Join(err, fmt.Errorf("cleanup: record the outcome of run %d: %w", run.ID, ferr))
	}
	return run, err
}

// CleanupHistory returns the latest limit cleanup runs (20 if limit <= 0),
// newest first. A run whose FinishedAt is zero is running, or its process
// died.
func (e *Engine) CleanupHistory(ctx context.Context, limit int) ([]*pmgsync.CleanupRun, error) {
	if limit <= 0 {
		limit = defaultHistory
	}
	runs, err := e.meta.CleanupRuns(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("cleanup history: %w", err)
	}
	return runs, nil
}

// sweep is the state of one Cleanup run.
type sweep struct {
	e       *Engine
	opts    CleanupOptions
	run     *pmgsync.CleanupRun
	holder  string
	now     time.Time // the run's start: every cutoff counts from it
	renewed time.Time // when the lock's lease was last extended
	errs    []string
	more    int // errors beyond maxRunErrors, counted only
}

// expired removes, or in a dry run lists, every technician's expired files.
// It returns the error that stopped it; errors it can go on after are
// recorded instead.
func (s *sweep) expired(ctx context.Context) error {
	techs, err := s.e.meta.Technicians(ctx)
	if err != nil {
		return fmt.Errorf("list technicians: %w", err)
	}
	for _, tech := range techs {
		if s.opts.DryRun {
			err = s.list(ctx, tech)
		} else {
			err = s.remove(ctx, tech)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// remove deletes tech's expired files batch by batch. Files uploaded
// meanwhile are younger than the cutoff, and a version replaced meanwhile
// has a new id that DeleteFiles leaves alone, so the sweep never removes a
// file a client could still see.
func (s *sweep) remove(ctx context.Context, tech *pmgsync.Technician) error {
	cutoff := s.e.cutoff(tech, s.now)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := s.e.meta.ExpiredFiles(ctx, tech.ID, cutoff, cleanupBatch)
		if err != nil {
			return fmt.Errorf("find expired files of %q: %w", tech.Name, err)
		}
		if len(batch) == 0 {
			return nil
		}
		ids := make([]int64, len(batch))
		for i, f := range batch {
			ids[i] = f.ID
		}
		removed, err := s.e.meta.DeleteFiles(ctx, ids)
		if err != nil {
			return fmt.Errorf("delete expired files of %q: %w", tech.Name, err)
		}
		// The rows are gone: their blobs go too, whatever ctx says, or they
		// wait for an orphan sweep.
		bctx := context.WithoutCancel(ctx)
		for _, f := range removed {
			s.e.live(tech, f, s.now) // sets ExpiresAt for Progress
			s.run.FilesRemoved++
			s.run.BytesRemoved += f.Size
			if s.opts.Progress != nil {
				s.opts.Progress(tech.Name, f)
			}
			if err := s.e.blobs.Delete(bctx, f.BlobKey); err != nil {
				s.record(fmt.Errorf("delete blob %s of file %d (%q of %q): %w", f.BlobKey, f.ID, f.Name, tech.Name, err))
			}
		}
		if err := s.renew(ctx); err != nil {
			return err
		}
		// A short batch was the last one. An empty result of DeleteFiles
		// means every file of the batch was replaced meanwhile: rare, and
		// stopping then rules out looping on a store that keeps returning
		// rows it does not delete.
		if len(batch) < cleanupBatch || len(removed) == 0 {
			return nil
		}
		if err := pause(ctx, cleanupPause); err != nil {
			return err
		}
	}
}

// list counts and reports, without removing them, tech's files that the
// sweep would remove: the ones the engine already hides from clients.
func (s *sweep) list(ctx context.Context, tech *pmgsync.Technician) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	files, err := s.e.meta.Files(ctx, tech.ID)
	if err != nil {
		return fmt.Errorf("list files of %q: %w", tech.Name, err)
	}
	for _, f := range files {
		if s.e.live(tech, f, s.now) {
			continue
		}
		s.run.FilesRemoved++
		s.run.BytesRemoved += f.Size
		if s.opts.Progress != nil {
			s.opts.Progress(tech.Name, f)
		}
	}
	return s.renew(ctx)
}

// renew extends the lock's lease once a minute (a write transaction per
// batch would compete with uploads for nothing). Losing the lock (a sweep
// stalled for longer than the lease, then taken over by another) stops
// this sweep; the two would only have repeated each other's deletes.
func (s *sweep) renew(ctx context.Context) error {
	now := s.e.Now()
	if now.Sub(s.renewed) < renewEvery {
		return nil
	}
	ok, err := s.e.meta.TryLock(ctx, cleanupLock, s.holder, now, now.Add(CleanupLease))
	if err != nil {
		return fmt.Errorf("renew the cleanup lock: %w", err)
	}
	if !ok {
		return errors.New("the cleanup lock expired and another sweep took it; stopped")
	}
	s.renewed = now
	return nil
}

// record keeps err as one line of the run's Errors.
func (s *sweep) record(err error) {
	if len(s.errs) == maxRunErrors {
		s.more++
		return
	}
	s.errs = append(s.errs, strings.ReplaceAll(err.Error(), "\n", "; "))
}

func (s *sweep) errorText() string {
	lines := s.errs
	if s.more > 0 {
		lines = append(lines, fmt.Sprintf("… and %d more errors", s.more))
	}
	return strings.Join(lines, "\n")
}

// runningSweep describes the sweep that holds the lock, for
// MsgCleanupRunning. The lock's holder is not readable through the store, so
// the description comes from the newest run record, which is the holder's
// unless it is between taking the lock and recording its run.
func (e *Engine) runningSweep(ctx context.Context) string {
	// The words of the description would not be translated: it is only
	// the run's number, as `pmgsync cleanup history` shows it, and its start.
	runs, err := e.meta.CleanupRuns(ctx, 1)
	if err != nil || len(runs) == 0 || !runs[0].FinishedAt.IsZero() {
		return "?"
	}
	return fmt.Sprintf("#%d, %s", runs[0].ID, runs[0].StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// lockHolder returns a name for this sweep, unique among all processes,
// that says where it runs.
func lockHolder() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s pid %d %s", host, os.Getpid(), rand.Text()[:10])
}

// pause waits d of real time, or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
