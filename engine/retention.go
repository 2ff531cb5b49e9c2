package engine

import (
	"time"

	"github.com/pmgsync/pmgsync"
)

// DefaultRetention is how long files are kept after their upload when
// nothing else is configured: the old server's seven days.
const DefaultRetention = 7 * 24 * time.Hour

// retention returns how long tech's files are kept.
func (e *Engine) retention(tech *pmgsync.Technician) time.Duration {
	if tech.Retention > 0 {
		return tech.Retention
	}
	return e.opts.Retention
}

// cutoff returns the instant at or before which tech's files have expired
// at time now.
func (e *Engine) cutoff(tech *pmgsync.Technician, now time.Time) time.Time {
	return now.Add(-e.retention(tech))
}

// live reports whether f, a file of tech, is still served at time now, and
// sets its ExpiresAt. An expired file is gone for every client at once,
// before any sweep deletes it.
func (e *Engine) live(tech *pmgsync.Technician, f *pmgsync.File, now time.Time) bool {
	f.ExpiresAt = f.UploadedAt.Add(e.retention(tech))
	return now.Before(f.ExpiresAt)
}

// quota returns the limits that apply to tech at time now: its own
// overrides, else the global ones.
func (e *Engine) quota(tech *pmgsync.Technician, now time.Time) pmgsync.Quota {
	pick := func(own, global int64) int64 {
		switch {
		case own == pmgsync.Unlimited:
			return 0
		case own > 0:
			return own
		}
		return global
	}
	return pmgsync.Quota{
		MaxBytes:  pick(tech.QuotaBytes, e.opts.QuotaBytes),
		MaxFiles:  pick(tech.QuotaFiles, e.opts.QuotaFiles),
		LiveAfter: e.cutoff(tech, now),
	}
}
