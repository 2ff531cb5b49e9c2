package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/schedule"
	"github.com/pmgsync/pmgsync/units"
)

// startScheduler runs the sweep of expired files on sched, in the
// background until ctx is done; nil means the schedule is off. It logs the
// schedule and its next run first, so that an operator sees at start-up
// when the sweep will happen in the zone they meant.
func (m *Main) startScheduler(ctx context.Context, sched *schedule.Schedule) {
	m.startScheduled(ctx, sched, m.Config.CleanupSchedule,
		"scheduled cleanup is off: run \"pmgsync cleanup\" to sweep expired files", "cleanup scheduled", nil,
		m.scheduledCleanup)
}

// startScheduled runs job on sched in the background until ctx is done,
// after logging on with the schedule's expression expr, its time zone,
// attrs and its next run; if sched is nil (off) it logs off and expr
// instead, and runs nothing.
func (m *Main) startScheduled(ctx context.Context, sched *schedule.Schedule, expr, off, on string, attrs []any,
	job func(context.Context, *schedule.Schedule)) {
	if sched == nil {
		m.Logger.Info(off, "schedule", expr)
		return
	}
	logAttrs := append([]any{"schedule", expr, "timezone", m.Config.Timezone.String()}, attrs...)
	m.Logger.Info(on, append(logAttrs, "next", formatNext(sched, m.Now()))...)
	m.background.Go(func() {
		schedule.Run(ctx, sched, nowClock(m.Now), func(ctx context.Context) { job(ctx, sched) })
	})
}

// nowClock is the schedule.Clock that reads the time from a Main's clock,
// so that the scheduler fires when the next run it logs is due. Its waits
// are real timers: schedule.Run rereads Now after each one.
type nowClock func() time.Time

var _ schedule.Clock = nowClock(nil)

func (c nowClock) Now() time.Time                       { return c() }
func (nowClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// formatNext is the next time sched is due after now, for the log.
func formatNext(sched *schedule.Schedule, now time.Time) string {
	next := sched.Next(now)
	if next.IsZero() {
		return "never"
	}
	return next.Format(time.RFC3339)
}

// scheduledCleanup runs one sweep of sched and logs its outcome and the
// next run. Another sweep running (a manual one, or another replica's) is
// normal, not an error: it does the same work, so this one is skipped.
func (m *Main) scheduledCleanup(ctx context.Context, sched *schedule.Schedule) {
	run, err := m.Engine.Cleanup(ctx, engine.CleanupOptions{Trigger: engine.TriggerSchedule})
	m.Metrics.Cleanup(run, err)
	next := slog.String("next", formatNext(sched, m.Now()))
	switch {
	case pmgsync.IsCode(err, pmgsync.ECONFLICT):
		m.Logger.Info("scheduled cleanup skipped: another cleanup is running",
			"detail", pmgsync.ErrorMessage(pmgsync.English, err), next)
	case err != nil && ctx.Err() != nil:
		m.Logger.Info("scheduled cleanup interrupted by the shutdown", append(runAttrs(run), "err", err)...)
	case err != nil:
		m.Logger.Error("scheduled cleanup failed", append(runAttrs(run), "err", err, next)...)
	case run.Errors != "":
		m.Logger.Warn("scheduled cleanup done, with errors", append(runAttrs(run), "errors", run.Errors, next)...)
	default:
		m.Logger.Info("scheduled cleanup done", append(runAttrs(run), next)...)
	}
}

// runAttrs are the log attributes of a cleanup run; none for nil.
func runAttrs(run *pmgsync.CleanupRun) []any {
	if run == nil {
		return nil
	}
	attrs := []any{"run", run.ID, "files", run.FilesRemoved, "bytes", run.BytesRemoved,
		"size", units.FormatSize(run.BytesRemoved), "orphans", run.OrphansRemoved}
	if !run.FinishedAt.IsZero() {
		attrs = append(attrs, "duration", run.FinishedAt.Sub(run.StartedAt).Round(time.Millisecond))
	}
	return attrs
}
