package sqlite

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// TestLastUsedOneWriteAMinute counts what Authenticate writes while one
// token is used many times: the rows changed by the writer pool's only
// connection, as SQLite's total_changes() counts them. Uses within a
// minute of the recorded one change nothing, and a burst of concurrent
// first uses changes the token once.
func TestLastUsedOneWriteAMinute(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	maria := &pmgsync.Technician{Name: "maria"}
	if err := db.CreateTechnician(ctx, maria); err != nil {
		t.Fatal(err)
	}
	raw := pmgsync.NewToken()
	tok := &pmgsync.Token{TechnicianID: maria.ID, Label: "Galaxy A14 da Maria"}
	if err := db.CreateToken(ctx, tok, pmgsync.HashToken(raw)); err != nil {
		t.Fatal(err)
	}

	// writes returns how many rows the writer connection has changed since
	// the previous call.
	var total int64
	writes := func() int64 {
		t.Helper()
		var n int64
		if err := db.writer.QueryRowContext(ctx, "SELECT total_changes()").Scan(&n); err != nil {
			t.Fatal(err)
		}
		d := n - total
		total = n
		return d
	}
	writes()
	auth := func(now time.Time) {
		t.Helper()
		if _, _, err := db.Authenticate(ctx, pmgsync.HashToken(raw), now); err != nil {
			t.Errorf("Authenticate at %v: %v", now, err)
		}
	}
	lastUsed := func() time.Time {
		t.Helper()
		got, err := db.TokenByID(ctx, tok.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.LastUsedAt
	}

	// The app's first requests of the day, all at once: one write.
	t0 := time.Date(2026, 12, 1, 7, 30, 0, 0, time.UTC)
	const burst = 32
	var wg sync.WaitGroup
	for i := range burst {
		wg.Go(func() { auth(t0.Add(time.Duration(i) * time.Millisecond)) })
	}
	wg.Wait()
	if n := writes(); n != 1 {
		t.Errorf("%d concurrent requests wrote %d rows, want 1", burst, n)
	}
	first := lastUsed()
	if first.Before(t0) || !first.Before(t0.Add(burst*time.Millisecond)) {
		t.Errorf("LastUsedAt = %v, want one of the burst's times", first)
	}

	// 200 more requests in the rest of the minute: no write.
	for i := range 200 {
		auth(first.Add(time.Duration(i) * 300 * time.Millisecond)) // up to 59.7s later
	}
	if n := writes(); n != 0 {
		t.Errorf("200 requests within the minute wrote %d rows, want 0", n)
	}
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("LastUsedAt = %v, want %v", got, first)
	}

	// Over a minute later: one write, then none again for a minute.
	later := first.Add(time.Minute + time.Second)
	for i := range 100 {
		auth(later.Add(time.Duration(i) * 500 * time.Millisecond))
	}
	if n := writes(); n != 1 {
		t.Errorf("100 requests in the next minute wrote %d rows, want 1", n)
	}
	if got := lastUsed(); !got.Equal(later) {
		t.Errorf("LastUsedAt = %v, want %v", got, later)
	}
}
