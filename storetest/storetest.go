// Package storetest is the contract test suite of pmgsync.MetadataStore:
// every implementation (sqlite, later postgres) runs it from its own tests
// with storetest.Run, so that they all behave alike.
//
// The suite uses nothing but the interface. Time comes from a clock the
// suite controls, so expiry and last-use coalescing are tested without
// sleeping; every time the suite sets has millisecond precision, so a store
// that keeps microseconds (PostgreSQL) passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// Opener returns a new, empty store whose clock is now. It is called once
// per subtest; Run closes every store it opens, so the opener need not.
type Opener func(t *testing.T, now func() time.Time) pmgsync.MetadataStore

// Run runs the contract tests against the stores that o opens.
func Run(t *testing.T, o Opener) {
	t.Run("Technicians", func(t *testing.T) { testTechnicians(t, o) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, o) })
	t.Run("Authenticate", func(t *testing.T) { testAuthenticate(t, o) })
	t.Run("RotateToken", func(t *testing.T) { testRotateToken(t, o) })
	t.Run("Files", func(t *testing.T) { testFiles(t, o) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, o) })
	t.Run("ReferencedBlobs", func(t *testing.T) { testReferencedBlobs(t, o) })
	t.Run("ConcurrentCommit", func(t *testing.T) { testConcurrentCommit(t, o) })
	t.Run("Quota", func(t *testing.T) { testQuota(t, o) })
	t.Run("ConcurrentQuota", func(t *testing.T) { testConcurrentQuota(t, o) })
	t.Run("Usage", func(t *testing.T) { testUsage(t, o) })
	t.Run("Stored", func(t *testing.T) { testStored(t, o) })
	t.Run("ExpiredFiles", func(t *testing.T) { testExpiredFiles(t, o) })
	t.Run("DeleteFiles", func(t *testing.T) { testDeleteFiles(t, o) })
	t.Run("Locks", func(t *testing.T) { testLocks(t, o) })
	t.Run("CleanupRuns", func(t *testing.T) { testCleanupRuns(t, o) })
	t.Run("AuditRecords", func(t *testing.T) { testAuditRecords(t, o) })
	t.Run("AppendAudit", func(t *testing.T) { testAppendAudit(t, o) })
	t.Run("ConcurrentAudit", func(t *testing.T) { testConcurrentAudit(t, o) })
	t.Run("AuditFilter", func(t *testing.T) { testAuditFilter(t, o) })
	t.Run("PruneAudit", func(t *testing.T) { testPruneAudit(t, o) })
	t.Run("ExpireTokens", func(t *testing.T) { testExpireTokens(t, o) })
	t.Run("MarkDamaged", func(t *testing.T) { testMarkDamaged(t, o) })
}

// start is the test clock's initial time: millisecond precision, in
// Brasília time so that a store must keep the instant, not the wall clock.
var start = time.Date(2025, 3, 10, 9, 15, 30, 123_000_000, time.FixedZone("BRT", -3*60*60))

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// newStore opens a fresh store with its own clock and closes it when the
// test ends.
func newStore(t *testing.T, open Opener) (pmgsync.MetadataStore, *clock) {
	t.Helper()
	c := &clock{t: start}
	s := open(t, c.Now)
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, c
}

// ctx returns the test's context, canceled when the test ends.
func ctx(t *testing.T) context.Context { return t.Context() }

// mustTechnician creates a technician named name.
func mustTechnician(t *testing.T, s pmgsync.MetadataStore, name string) *pmgsync.Technician {
	t.Helper()
	tech := &pmgsync.Technician{Name: name, Email: name + "@example.com"}
	if err := s.CreateTechnician(ctx(t), tech); err != nil {
		t.Fatalf("CreateTechnician(%q): %v", name, err)
	}
	return tech
}

// mustToken creates a token of tech for raw and returns it.
func mustToken(t *testing.T, s pmgsync.MetadataStore, tech *pmgsync.Technician, raw string) *pmgsync.Token {
	t.Helper()
	tok := &pmgsync.Token{TechnicianID: tech.ID, Label: "phone of " + tech.Name, Hint: pmgsync.TokenHint(raw)}
	if err := s.CreateToken(ctx(t), tok, pmgsync.HashToken(raw)); err != nil {
		t.Fatalf("CreateToken for %q: %v", tech.Name, err)
	}
	return tok
}

// mustCommit commits a version of name for tech whose blob key is key.
func mustCommit(t *testing.T, s pmgsync.MetadataStore, tech *pmgsync.Technician, name, key string, uploaded time.Time) (*pmgsync.File, *pmgsync.File) {
	t.Helper()
	f := newFile(tech, name, key, uploaded)
	replaced, err := s.CommitFile(ctx(t), f, pmgsync.Quota{})
	if err != nil {
		t.Fatalf("CommitFile(%q, %q): %v", name, key, err)
	}
	return f, replaced
}

func newFile(tech *pmgsync.Technician, name, key string, uploaded time.Time) *pmgsync.File {
	return &pmgsync.File{
		TechnicianID: tech.ID,
		Name:         name,
		Size:         int64(len(key)) * 1000,
		SHA256:       fmt.Sprintf("%064x", len(name)*7919+len(key)),
		BlobKey:      key,
		UploadedAt:   uploaded,
	}
}

// wantError fails the test unless err is a *pmgsync.Error with that code and
// message key.
func wantError(t *testing.T, err error, code, key string) {
	t.Helper()
	var e *pmgsync.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a *pmgsync.Error %s/%s", err, err, code, key)
	}
	if e.Code != code || e.Key != key {
		t.Fatalf("error = %s/%s (%v), want %s/%s", e.Code, e.Key, e, code, key)
	}
}

// The string forms below compare values field by field, times as instants.

func ts(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func techString(t *pmgsync.Technician) string {
	if t == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{ID:%d Name:%q Email:%q Disabled:%v CreatedAt:%s Retention:%d QuotaBytes:%d QuotaFiles:%d}",
		t.ID, t.Name, t.Email, t.Disabled, ts(t.CreatedAt), int64(t.Retention), t.QuotaBytes, t.QuotaFiles)
}

func tokenString(t *pmgsync.Token) string {
	if t == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{ID:%d TechnicianID:%d Technician:%q Label:%q Hint:%q CreatedAt:%s LastUsedAt:%s ExpiresAt:%s RevokedAt:%s}",
		t.ID, t.TechnicianID, t.Technician, t.Label, t.Hint,
		ts(t.CreatedAt), ts(t.LastUsedAt), ts(t.ExpiresAt), ts(t.RevokedAt))
}

func fileString(f *pmgsync.File) string {
	if f == nil {
		return "<nil>"
	}
	return fmt.Sprintf("{ID:%d TechnicianID:%d Name:%q Size:%d SHA256:%s BlobKey:%q UploadedAt:%s Damage:%q DamagedAt:%s}",
		f.ID, f.TechnicianID, f.Name, f.Size, f.SHA256, f.BlobKey, ts(f.UploadedAt), f.Damage, ts(f.DamagedAt))
}

func sameTech(t *testing.T, what string, got, want *pmgsync.Technician) {
	t.Helper()
	if g, w := techString(got), techString(want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func sameToken(t *testing.T, what string, got, want *pmgsync.Token) {
	t.Helper()
	if g, w := tokenString(got), tokenString(want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func sameFile(t *testing.T, what string, got, want *pmgsync.File) {
	t.Helper()
	if g, w := fileString(got), fileString(want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// sameFileList fails the test unless got are the files want, in order.
func sameFileList(t *testing.T, what string, got, want []*pmgsync.File) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d files, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		sameFile(t, fmt.Sprintf("%s: file %d", what, i), got[i], want[i])
	}
}

// sameFiles fails the test unless the technician's files are want, which
// must be sorted by name.
func sameFiles(t *testing.T, what string, s pmgsync.MetadataStore, technicianID int64, want ...*pmgsync.File) {
	t.Helper()
	got, err := s.Files(ctx(t), technicianID)
	if err != nil {
		t.Fatalf("%s: Files: %v", what, err)
	}
	sameFileList(t, what, got, want)
}
