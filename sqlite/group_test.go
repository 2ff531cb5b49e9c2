package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

// queueBehind holds the writer connection (and no lock) while start launches grouped
// writes, until n of them wait in the queue behind the one that leads, then
// runs then (if any) and lets them go. The leader's own write runs alone;
// the queued ones then share the next transaction.
func queueBehind(t *testing.T, db *DB, n int, start func(), then ...func()) {
	t.Helper()
	conn, err := db.writer.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		db.group.mu.Lock()
		queued := len(db.group.queue)
		db.group.mu.Unlock()
		if queued == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued; want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
	for _, f := range then {
		f()
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommit commits the uploads of twelve technicians at once, one of
// which is refused for its quota and one for a name that exists, and
// checks that the others share one transaction, that the refused ones
// changed nothing, and that the audit trail's chain holds across them.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	techs := make([]*pmgsync.Technician, 12)
	for i := range techs {
		techs[i] = &pmgsync.Technician{Name: fmt.Sprintf("tecnico-%02d", i)}
		if err := db.CreateTechnician(ctx, techs[i]); err != nil {
			t.Fatal(err)
		}
	}
	existing := &pmgsync.File{TechnicianID: techs[5].ID, Name: "relatorio-bomba-07.xlsx", Size: 10, BlobKey: "existing"}
	if _, err := db.CommitFile(ctx, existing, pmgsync.Quota{}); err != nil {
		t.Fatal(err)
	}

	errs := make([]error, len(techs))
	var writers sync.WaitGroup
	start := func() {
		for i, tech := range techs {
			writers.Go(func() {
				f := &pmgsync.File{TechnicianID: tech.ID, Name: "relatorio-bomba-07.xlsx", Size: 100, BlobKey: fmt.Sprint("blob-", i)}
				switch i {
				case 3: // over its quota
					_, errs[i] = db.CommitFile(ctx, f, pmgsync.Quota{MaxBytes: 99})
				case 5: // the name exists
					_, errs[i] = db.CreateFile(ctx, f, pmgsync.Quota{})
				default:
					_, errs[i] = db.CommitFile(ctx, f, pmgsync.Quota{})
				}
			})
			if i == 0 {
				// The first leads, alone, blocked on the writer connection.
				waitLeading(t, db)
			}
		}
	}
	queueBehind(t, db, len(techs)-1, start)
	writers.Wait()

	if got := db.group.shared.Load(); got != 1 {
		t.Errorf("%d shared transactions; want 1", got)
	}
	for i, err := range errs {
		switch i {
		case 3:
			if !pmgsync.IsCode(err, pmgsync.ESTORAGE) {
				t.Errorf("upload over quota: %v; want ESTORAGE", err)
			}
		case 5:
			if !pmgsync.IsCode(err, pmgsync.ECONFLICT) {
				t.Errorf("upload of an existing name: %v; want ECONFLICT", err)
			}
		default:
			if err != nil {
				t.Errorf("upload of %s: %v", techs[i].Name, err)
			}
		}
		files, err := db.Files(ctx, techs[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		want := "blob-" + fmt.Sprint(i)
		switch i {
		case 3:
			want = ""
		case 5:
			want = "existing"
		}
		var got string
		if len(files) == 1 {
			got = files[0].BlobKey
		}
		if len(files) > 1 || got != want {
			t.Errorf("files of %s: %v; want one with blob %q", techs[i].Name, files, want)
		}
	}
	events := checkChain(t, db, len(techs)+1+10) // technicians, the existing file, ten uploads
	uploads := make(map[string]int)
	for _, e := range events {
		if e.Action == pmgsync.ActionUpload {
			uploads[e.Technician]++
		}
	}
	for i, tech := range techs {
		want := 1 // the upload of each, or the existing file of tecnico-05
		if i == 3 {
			want = 0
		}
		if uploads[tech.Name] != want {
			t.Errorf("%d upload records of %s; want %d", uploads[tech.Name], tech.Name, want)
		}
	}
}

// TestGroupCommitSameTechnician commits two uploads of one technician with
// a quota of one file in one shared transaction: the second must see the
// first's file, and be refused.
func TestGroupCommitSameTechnician(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	maria := &pmgsync.Technician{Name: "maria"}
	if err := db.CreateTechnician(ctx, maria); err != nil {
		t.Fatal(err)
	}
	names := []string{"lead", "relatorio-bomba-07.xlsx", "relatorio-bomba-08.xlsx"}
	errs := make([]error, len(names))
	var writers sync.WaitGroup
	queueBehind(t, db, len(names)-1, func() {
		for i, name := range names {
			if i == 0 {
				// The leader writes alone, and touches no file.
				writers.Go(func() {
					errs[i] = db.writeGrouped(ctx, func(context.Context, *sql.Tx) error { return nil })
				})
				waitLeading(t, db)
				continue
			}
			writers.Go(func() {
				f := &pmgsync.File{TechnicianID: maria.ID, Name: name, Size: 100, BlobKey: "blob-" + name}
				_, errs[i] = db.CommitFile(ctx, f, pmgsync.Quota{MaxFiles: 1})
			})
			// The order of the queue is the order of the calls.
			waitQueued(t, db, i)
		}
	})
	writers.Wait()

	if got := db.group.shared.Load(); got != 1 {
		t.Errorf("%d shared transactions; want 1", got)
	}
	if errs[0] != nil || errs[1] != nil {
		t.Errorf("the leader's write: %v; the first upload: %v; want both to succeed", errs[0], errs[1])
	}
	if !pmgsync.IsCode(errs[2], pmgsync.ESTORAGE) {
		t.Errorf("the second upload: %v; want ESTORAGE", errs[2])
	}
	files, err := db.Files(ctx, maria.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Name != names[1] {
		t.Errorf("files of maria: %v; want only %s", files, names[1])
	}
}

// waitQueued waits until n grouped writes wait in the queue.
func waitQueued(t *testing.T, db *DB, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		db.group.mu.Lock()
		queued := len(db.group.queue)
		db.group.mu.Unlock()
		if queued == n {
			return
		}
	}
	t.Fatalf("%d grouped writes never waited in the queue", n)
}

// waitLeading waits until a grouped write leads.
func waitLeading(t *testing.T, db *DB) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		db.group.mu.Lock()
		leading := db.group.leading && len(db.group.queue) == 0
		db.group.mu.Unlock()
		if leading {
			return
		}
	}
	t.Fatal("no grouped write leads")
}

// checkChain checks the audit trail's hash chain, and that it holds n
// records, which it returns.
func checkChain(t *testing.T, db *DB, n int) []*pmgsync.AuditEvent {
	t.Helper()
	prev := ""
	var events []*pmgsync.AuditEvent
	err := db.AuditEvents(context.Background(), pmgsync.AuditFilter{}, func(e *pmgsync.AuditEvent) error {
		events = append(events, e)
		if e.PrevHash != prev || e.Hash != pmgsync.AuditHash(e.PrevHash, e) {
			return fmt.Errorf("record %d breaks the chain", e.ID)
		}
		prev = e.Hash
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != n {
		t.Errorf("%d audit records; want %d", len(events), n)
	}
	return events
}

// TestGroupCommitRetriesAlone breaks a shared transaction from within (as
// an error that makes SQLite roll the whole transaction back would) and
// checks that the other writes are run again alone and succeed.
func TestGroupCommitRetriesAlone(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	errBroken := errors.New("the transaction was rolled back")
	insert := func(name string) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO technicians (name, created_at) VALUES (?, 1)`, name)
			return err
		}
	}
	breaker := func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `ROLLBACK`); err != nil {
			return err
		}
		return errBroken
	}
	fns := []func(context.Context, *sql.Tx) error{insert("lead"), insert("ana"), breaker, insert("joao")}
	errs := make([]error, len(fns))
	var writers sync.WaitGroup
	queueBehind(t, db, len(fns)-1, func() {
		for i, fn := range fns {
			writers.Go(func() { errs[i] = db.writeGrouped(ctx, fn) })
			if i == 0 {
				waitLeading(t, db)
			} else {
				waitQueued(t, db, i) // in the order of fns
			}
		}
	})
	writers.Wait()
	for i, err := range errs {
		if i == 2 {
			if err == nil {
				t.Error("the breaking write succeeded")
			}
			continue
		}
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	var names []string
	rows, err := db.reader.QueryContext(ctx, `SELECT name FROM technicians ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	if fmt.Sprint(names) != "[lead ana joao]" {
		t.Errorf("technicians %v; want [lead ana joao], each once", names)
	}
	if got := db.group.retried.Load(); got != 3 {
		t.Errorf("%d writes retried alone; want 3", got)
	}
}

// TestGroupCommitCanceled cancels a write while it waits in the queue
// behind a transaction that holds the writer: the call must return at once
// with the context's error, and its function never run, while the write
// queued after it runs in its turn.
func TestGroupCommitCanceled(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pedroCtx, cancelPedro := context.WithCancel(ctx)
	defer cancelPedro()
	var ran atomic.Bool
	pedro := func(ctx context.Context, tx *sql.Tx) error {
		ran.Store(true)
		return insertTechnician("pedro")(ctx, tx)
	}
	fns := []func(context.Context, *sql.Tx) error{insertTechnician("lead"), pedro, insertTechnician("ana")}
	ctxs := []context.Context{ctx, pedroCtx, ctx}
	// Pedro's and ana's writes wait behind the leader, which waits for
	// the writer connection.
	results := runWrites(t, db, ctxs, fns, func() {
		cancelPedro()
		waitQueued(t, db, 1) // pedro's write has left the queue
	})
	for i, r := range results {
		if i == 1 {
			if !errors.Is(r.err, context.Canceled) || r.panicked != nil {
				t.Errorf("the canceled write: %v, panic %v; want %v", r.err, r.panicked, context.Canceled)
			}
			continue
		}
		if r.err != nil || r.panicked != nil {
			t.Errorf("write %d: %v, panic %v", i, r.err, r.panicked)
		}
	}
	if ran.Load() {
		t.Error("the canceled write ran")
	}
	if names := technicianNames(t, db); fmt.Sprint(names) != "[lead ana]" {
		t.Errorf("technicians %v; want [lead ana]", names)
	}
}

// TestGroupCommitCanceledDuringWrite cancels a write's context while its
// function runs in a shared transaction: the statements that follow must
// still run, and the transaction, which is everyone's, must commit once,
// with every write of the group.
func TestGroupCommitCanceledDuringWrite(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	insert := func(name string) func(context.Context, *sql.Tx) error {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO technicians (name, created_at) VALUES (?, 1)`, name)
			return err
		}
	}
	mariaCtx, cancelMaria := context.WithCancel(ctx)
	defer cancelMaria()
	maria := func(ctx context.Context, tx *sql.Tx) error {
		cancelMaria() // the caller gives up, say its client went away
		return insert("maria")(ctx, tx)
	}
	fns := []func(context.Context, *sql.Tx) error{insert("lead"), insert("ana"), maria, insert("joao")}
	ctxs := []context.Context{ctx, ctx, mariaCtx, ctx}
	errs := make([]error, len(fns))
	var writers sync.WaitGroup
	queueBehind(t, db, len(fns)-1, func() {
		for i, fn := range fns {
			writers.Go(func() { errs[i] = db.writeGrouped(ctxs[i], fn) })
			if i == 0 {
				waitLeading(t, db)
			} else {
				waitQueued(t, db, i)
			}
		}
	})
	writers.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := db.group.shared.Load(); got != 1 {
		t.Errorf("%d shared transactions; want 1", got)
	}
	if names := technicianNames(t, db); fmt.Sprint(names) != "[lead ana maria joao]" {
		t.Errorf("technicians %v; want [lead ana maria joao]", names)
	}
}

// technicianNames returns the names of the technicians in id order.
func technicianNames(t *testing.T, db *DB) []string {
	t.Helper()
	names, err := queryAll(context.Background(), db.reader, func(s scanner) (n string, err error) {
		err = s.Scan(&n)
		return n, err
	}, `SELECT name FROM technicians ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// result is what a grouped write gave its caller: an error, or a panic.
type result struct {
	err      error
	panicked any
}

// runWrites runs writes as grouped writes queued behind one that leads
// alone, in order, and returns their results, failing the test if they
// are not all back within 30 seconds. It runs then (if any) while the others
// wait in the queue.
func runWrites(t *testing.T, db *DB, ctxs []context.Context, fns []func(context.Context, *sql.Tx) error, then ...func()) []result {
	t.Helper()
	results := make([]result, len(fns))
	var writers sync.WaitGroup
	queueBehind(t, db, len(fns)-1, func() {
		for i, fn := range fns {
			writers.Go(func() {
				defer func() { results[i].panicked = recover() }()
				results[i].err = db.writeGrouped(ctxs[i], fn)
			})
			if i == 0 {
				waitLeading(t, db)
			} else {
				waitQueued(t, db, i)
			}
		}
	}, then...)
	done := make(chan struct{})
	go func() { writers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("grouped writes still wait after 30 seconds")
	}
	return results
}

// insertTechnician returns the function of a grouped write that adds a
// technician.
func insertTechnician(name string) func(context.Context, *sql.Tx) error {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO technicians (name, created_at) VALUES (?, 1)`, name)
		return err
	}
}

// checkWrites checks that the store takes a write after others.
func checkWrites(t *testing.T, db *DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- db.writeGrouped(ctx, insertTechnician("depois")) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("a later write: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("a later write still waits after 30 seconds")
	}
}

// TestGroupCommitPanic has a write panic in a shared transaction: its
// caller must panic with the same value, the other writes must commit, and
// the store must take writes after.
func TestGroupCommitPanic(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	boom := errors.New("boom")
	panicker := func(ctx context.Context, tx *sql.Tx) error {
		if err := insertTechnician("pedro")(ctx, tx); err != nil {
			return err
		}
		panic(boom)
	}
	fns := []func(context.Context, *sql.Tx) error{
		insertTechnician("lead"), insertTechnician("ana"), panicker, insertTechnician("joao"),
	}
	results := runWrites(t, db, []context.Context{ctx, ctx, ctx, ctx}, fns)
	for i, r := range results {
		if i == 2 {
			if r.panicked != boom {
				t.Errorf("the panicking write: %v, panic %v; want panic %v", r.err, r.panicked, boom)
			}
			continue
		}
		if r.err != nil || r.panicked != nil {
			t.Errorf("write %d: %v, panic %v", i, r.err, r.panicked)
		}
	}
	if got := db.group.shared.Load(); got != 1 {
		t.Errorf("%d shared transactions; want 1", got)
	}
	checkWrites(t, db)
	if names := technicianNames(t, db); fmt.Sprint(names) != "[lead ana joao depois]" {
		t.Errorf("technicians %v; want [lead ana joao depois]", names)
	}
}

// brokenContext is a context whose Err panics, as a faulty implementation
// might.
type brokenContext struct{ context.Context }

func (brokenContext) Err() error { panic("broken context") }

// TestGroupCommitAbandoned has a transaction end with a panic outside any
// write's function: the leader's caller must see the panic, every other
// write must fail, nothing of the transaction must be committed, and the
// store must take writes after.
func TestGroupCommitAbandoned(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "pmgsync.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fns := []func(context.Context, *sql.Tx) error{
		insertTechnician("lead"), insertTechnician("ana"), insertTechnician("pedro"), insertTechnician("joao"),
	}
	// The group's leader, ana's caller, checks each context before the
	// transaction.
	results := runWrites(t, db, []context.Context{ctx, ctx, brokenContext{ctx}, ctx}, fns)
	for i, r := range results {
		switch i {
		case 0:
			if r.err != nil || r.panicked != nil {
				t.Errorf("write %d: %v, panic %v", i, r.err, r.panicked)
			}
		case 1:
			if r.panicked != "broken context" {
				t.Errorf("the leader's write: %v, panic %v; want panic %q", r.err, r.panicked, "broken context")
			}
		default:
			if !errors.Is(r.err, errAbandoned) || r.panicked != nil {
				t.Errorf("write %d: %v, panic %v; want %v", i, r.err, r.panicked, errAbandoned)
			}
		}
	}
	checkWrites(t, db)
	if names := technicianNames(t, db); fmt.Sprint(names) != "[lead depois]" {
		t.Errorf("technicians %v; want [lead depois]", names)
	}
}

// TestGroupWithdraw checks which writes a canceled caller may take out of
// the queue: not one a batch has taken, nor the one whose caller is woken
// to lead, as no one else would lead then.
func TestGroupWithdraw(t *testing.T) {
	var g group
	next, queued, taken := &groupWrite{}, &groupWrite{}, &groupWrite{}
	g.queue, g.next = []*groupWrite{next, queued}, next
	if g.withdraw(next) {
		t.Error("the write woken to lead was withdrawn")
	}
	if g.withdraw(taken) {
		t.Error("a write out of the queue was withdrawn")
	}
	if !g.withdraw(queued) {
		t.Error("a queued write was not withdrawn")
	}
	if len(g.queue) != 1 || g.queue[0] != next {
		t.Errorf("queue %v; want only the write woken to lead", g.queue)
	}
}

// TestGroupCommitBusy has another process hold the write lock past the busy
// timeout: the shared transaction cannot begin, and its writes must fail
// with SQLITE_BUSY at once, none retried alone (each would wait out the
// busy timeout again).
func TestGroupCommitBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pmgsync.db")
	db, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The writer pool's one connection waits a tenth of a second for locks.
	if _, err := db.writer.ExecContext(ctx, `PRAGMA busy_timeout = 100`); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", dsn(path, url.Values{"_txlock": {"immediate"}}))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	lock, err := other.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	fns := []func(context.Context, *sql.Tx) error{
		insertTechnician("lead"), insertTechnician("ana"), insertTechnician("pedro"), insertTechnician("joao"),
	}
	results := runWrites(t, db, []context.Context{ctx, ctx, ctx, ctx}, fns)
	for i, r := range results {
		if !isBusy(r.err) || r.panicked != nil {
			t.Errorf("write %d: %v, panic %v; want SQLITE_BUSY", i, r.err, r.panicked)
		}
	}
	if got := db.group.retried.Load(); got != 0 {
		t.Errorf("%d writes retried alone; want none", got)
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	checkWrites(t, db)
	if names := technicianNames(t, db); fmt.Sprint(names) != "[depois]" {
		t.Errorf("technicians %v; want [depois]", names)
	}
}
