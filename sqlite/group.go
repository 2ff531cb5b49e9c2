package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Group commit.
//
// Each write transaction ends with an fsync of the write-ahead log
// (synchronous=FULL), and the one writer connection runs transactions one
// at a time. So concurrent uploads would queue for it and each pay a whole
// fsync in turn: about a thousand commits a second on a fast disk, however
// many CPUs are idle. writeGrouped gathers the writes that arrive while a
// transaction runs into the next transaction, each in a savepoint of its
// own: N uploads then share one BEGIN, one COMMIT and one fsync, and each
// still succeeds or fails alone, as if it had run alone at its place in the
// order.

// maxGroup bounds the writes of one shared transaction, so that the write
// lock is never held for long.
const maxGroup = 64

// group is the queue of writes waiting for a shared transaction.
type group struct {
	mu      sync.Mutex
	queue   []*groupWrite
	leading bool // some caller runs the transactions of the queue
	// next is the write of the queue whose caller is woken to lead, until
	// it takes its batch: it stays, even if its context ends.
	next *groupWrite
	// shared counts the transactions committed with more than one write,
	// and retried the writes run again alone after their shared transaction
	// failed, which only the tests read.
	shared, retried atomic.Int64
}

// groupWrite is one caller's write in the queue.
type groupWrite struct {
	ctx context.Context
	fn  func(ctx context.Context, tx *sql.Tx) error
	err error
	// committed tells that err is nil for good: fn's changes are committed.
	committed bool
	// panicked tells that fn panicked with the value panicValue, which the
	// caller's writeGrouped panics with in turn.
	panicked   bool
	panicValue any
	// wake tells a waiting caller that its write is done (false), or that
	// it is to lead the next transaction (true), its own write included.
	wake chan bool
}

// writeGrouped runs fn in an immediate transaction, as write does, but
// shares the transaction with the writeGrouped calls of other goroutines
// that wait at the same time. Each fn runs in a savepoint of its own, in the
// order the calls came: it sees the changes of the writes before it, and
// its error rolls back only its own changes and is returned as is. If the
// shared transaction fails as a whole between its BEGIN and its commit (an
// error that SQLite answers by rolling back the transaction, say), each
// write is run again in a transaction of its own; fn must therefore only
// assign what it computes, as the functions given to write do. A failed
// BEGIN (SQLITE_BUSY once the busy timeout is over, say) or a failed commit
// fails every write of the transaction, as it would fail a write of its own.
//
// fn must return every error that tx gives it (it may wrap it), never go on
// after one: after some errors SQLite has rolled the whole transaction back,
// and later statements of fn would run, and commit, on their own, outside
// any transaction, while the writes of the others are lost and retried.
//
// fn is given ctx without its cancellation (context.WithoutCancel), and
// must use it, not ctx, in its statements: cancelling a statement makes
// SQLite roll back the whole transaction, which is everyone's. So ctx's
// cancellation counts only before fn starts: it then fails the call with
// ctx's error, and fn never runs, even while the call waits in the queue;
// once fn has started, the call waits for fn's result and the commit's.
//
// If fn panics, its changes are rolled back, the others' are not, and
// writeGrouped panics with the same value in its caller's goroutine, once
// the transaction is over.
//
// There is no background goroutine: the caller that finds no transaction
// running runs one with what is queued, then hands the queue to the oldest
// waiting caller, which runs the next.
func (db *DB) writeGrouped(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	w := &groupWrite{ctx: ctx, fn: fn, wake: make(chan bool, 1)}
	g := &db.group
	g.mu.Lock()
	g.queue = append(g.queue, w)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if !lead {
		select {
		case lead = <-w.wake:
		case <-ctx.Done():
			if g.withdraw(w) {
				return ctx.Err()
			}
			// Its batch has taken it, or it is to lead: its result, or
			// its turn, is coming.
			lead = <-w.wake
		}
	}
	if lead {
		db.lead()
	}
	if w.panicked {
		panic(w.panicValue)
	}
	return w.err
}

// errAbandoned is the error of the writes of a transaction that ended with
// a panic outside their functions (see runGroup).
var errAbandoned = errors.New("the shared transaction was abandoned: a panic ended it")

// withdraw removes w from the queue, unless a batch has taken it or its
// caller is woken to lead, and reports whether it did.
func (g *group) withdraw(w *groupWrite) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	i := slices.Index(g.queue, w)
	if i < 0 || w == g.next {
		return false
	}
	g.queue = slices.Delete(g.queue, i, i+1)
	return true
}

// lead runs the next transaction of the queue, whose first write is the
// caller's, then wakes the others of that transaction and hands the queue
// on.
func (db *DB) lead() {
	g := &db.group
	g.mu.Lock()
	g.next = nil
	n := min(len(g.queue), maxGroup)
	batch := make([]*groupWrite, n)
	copy(batch, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()
	// Hand on even if runGroup panics, so that no caller waits for good.
	defer db.handOn(batch)
	db.runGroup(batch)
}

// handOn wakes the writes of batch but the first, whose caller leads, and
// hands the queue on to the oldest waiting caller.
func (db *DB) handOn(batch []*groupWrite) {
	g := &db.group
	g.mu.Lock()
	var next *groupWrite
	if len(g.queue) > 0 {
		next = g.queue[0]
		g.next = next
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, w := range batch[1:] {
		w.wake <- false
	}
	if next != nil {
		next.wake <- true
	}
}

// runGroup runs the writes of batch in one transaction and sets their
// errors. Functions that panic fail alone (see groupWrite.run); on a panic
// outside them, the transaction is rolled back and every write not
// committed fails with errAbandoned, before the panic goes on.
func (db *DB) runGroup(batch []*groupWrite) {
	defer func() {
		for _, w := range batch {
			if !w.committed && w.err == nil {
				w.err = errAbandoned
			}
		}
	}()
	var live []*groupWrite
	for _, w := range batch {
		if w.err = w.ctx.Err(); w.err == nil {
			live = append(live, w)
		}
	}
	if len(live) == 1 {
		live[0].alone(db)
		return
	}
	if len(live) == 0 {
		return
	}
	// The transaction is everyone's: no single caller's ctx may end it.
	ctx := context.Background()
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		// Alone, each would wait for the lock as long again, in turn.
		for _, w := range live {
			w.err = err
		}
		return
	}
	defer tx.Rollback() // after a commit, a no-op
	if err := runSavepoints(ctx, tx, live); err != nil {
		tx.Rollback()
		for _, w := range live {
			if !w.panicked { // its result is the panic, rerun or not
				db.group.retried.Add(1)
				w.alone(db)
			}
		}
		return
	}
	if err := tx.Commit(); err != nil {
		for _, w := range live {
			if w.err == nil {
				w.err = err
			}
		}
		return
	}
	for _, w := range live {
		w.committed = w.err == nil
	}
	db.group.shared.Add(1)
}

// runSavepoints runs each write of batch in a savepoint of tx, and sets its
// error. It fails if a savepoint cannot be made, rolled back or released:
// the transaction is then unusable.
func runSavepoints(ctx context.Context, tx *sql.Tx, batch []*groupWrite) error {
	for _, w := range batch {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT grouped`); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		if w.err = w.run(tx); w.err != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO grouped`); err != nil {
				return fmt.Errorf("rollback to savepoint: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE grouped`); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	return nil
}

// run runs w's function in tx, with w's context without its cancellation.
// If the function panics, run records the panic in w and returns an error.
func (w *groupWrite) run(tx *sql.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			w.panicked, w.panicValue = true, v
			err = fmt.Errorf("grouped write panicked: %v", v)
		}
	}()
	return w.fn(context.WithoutCancel(w.ctx), tx)
}

// alone runs w's function in a transaction of its own and sets its error.
func (w *groupWrite) alone(db *DB) {
	w.err = db.write(context.WithoutCancel(w.ctx), w.run)
	w.committed = w.err == nil
}
