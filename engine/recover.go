package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/pmgsync/pmgsync"
)

// sweepBatch is how many blob keys one metadata query checks at a time.
const sweepBatch = 500

// OrphanGrace is how long a committed blob is left alone before the sweep
// may call it an orphan. A blob is committed a moment before the metadata
// transaction that references it, and that transaction may wait out a busy
// database (up to its busy timeout) in a process the sweeper cannot see,
// such as an import running beside the server.
const OrphanGrace = time.Minute

// tempRemover is the optional ability of a blob store to remove the temporary
// files that writers in dead processes left behind (localfs has it).
type tempRemover interface {
	RemoveTemp(ctx context.Context) (int, error)
}

// RecoverStats says what Recover removed.
type RecoverStats struct {
	TempFiles   int // partial uploads of processes that died
	OrphanBlobs int // committed blobs that no file references
}

// Recover removes what a crash can leave behind: temporary files of writers
// that no longer run, and blobs committed before `before` minus OrphanGrace
// that no file references (a crash between a blob's commit and its metadata
// commit, or between a replacing commit and the old blob's deletion). Younger
// blobs are left alone, since an upload in flight, in this process or
// another, may be about to reference them; the server passes its start time,
// and a later sweep removes the orphans that were too young then.
func (e *Engine) Recover(ctx context.Context, before time.Time) (RecoverStats, error) {
	var stats RecoverStats
	if tr, ok := e.blobs.(tempRemover); ok {
		n, err := tr.RemoveTemp(ctx)
		stats.TempFiles = n
		if err != nil {
			return stats, fmt.Errorf("remove temporary files: %w", err)
		}
	}
	n, err := e.sweepOrphans(ctx, before.Add(-OrphanGrace))
	stats.OrphanBlobs = n
	return stats, err
}

func (e *Engine) sweepOrphans(ctx context.Context, before time.Time) (int, error) {
	removed := 0
	err := e.unreferencedBlobs(ctx, func(b pmgsync.BlobInfo) error {
		if !b.ModTime.Before(before) {
			return nil
		}
		if err := e.blobs.Delete(ctx, b.Key); err != nil {
			return fmt.Errorf("delete orphaned blob %s: %w", b.Key, err)
		}
		removed++
		return nil
	}, nil)
	if removed > 0 {
		e.log.InfoContext(ctx, "removed orphaned blobs", "count", removed)
	}
	return removed, err
}

// unreferencedBlobs walks the blobs and calls fn with each that no file
// references, checking their references sweepBatch at a time; batchDone,
// if not nil, is called after each batch with how many blobs it held. It
// stops at the first error, of the walk, of the check or of fn.
func (e *Engine) unreferencedBlobs(ctx context.Context, fn func(pmgsync.BlobInfo) error, batchDone func(n int)) error {
	batch := make([]pmgsync.BlobInfo, 0, sweepBatch)
	keys := make([]string, 0, sweepBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		keys = keys[:0]
		for _, b := range batch {
			keys = append(keys, b.Key)
		}
		referenced, err := e.meta.ReferencedBlobs(ctx, keys)
		if err != nil {
			return fmt.Errorf("check blob references: %w", err)
		}
		for _, b := range batch {
			if referenced[b.Key] {
				continue
			}
			if err := fn(b); err != nil {
				return err
			}
		}
		if batchDone != nil {
			batchDone(len(batch))
		}
		batch = batch[:0]
		return nil
	}
	err := e.blobs.Walk(ctx, func(b pmgsync.BlobInfo) error {
		batch = append(batch, b)
		if len(batch) == sweepBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return err
}
