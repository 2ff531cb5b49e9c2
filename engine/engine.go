// Package engine is the storage engine of pmgsync: it puts the metadata
// store and the blob store together behind the operations the server and the
// CLI offer, and it owns the commit point of DESIGN.md. An upload streams
// into a new blob while it is hashed; the blob is made durable; then one
// metadata transaction makes it the current version of its name; only then
// is the version it replaced deleted. A crash at any instant leaves the old
// version or the new one, plus at worst an orphaned blob that Recover removes.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/names"
)

// copyBufferSize is the size of the buffer an upload is streamed through: big
// enough that a 50 MB report takes a few hundred writes, small enough that
// 64 concurrent uploads stay far below 100 MB.
const copyBufferSize = 256 << 10

// Engine runs file and token operations. It is safe for concurrent use.
type Engine struct {
	meta  pmgsync.MetadataStore
	blobs pmgsync.BlobStore
	opts  Options
	now   func() time.Time
	log   *slog.Logger
	bufs  sync.Pool // of *[]byte, copyBufferSize long
}

// Options are the settings and optional dependencies of an Engine. The
// zero value of each field means its default.
type Options struct {
	Now    func() time.Time // the clock; time.Now if nil
	Logger *slog.Logger     // slog.Default() if nil

	// Retention is how long files are kept after their upload, unless their
	// technician overrides it; DefaultRetention if zero.
	Retention time.Duration
	// QuotaBytes and QuotaFiles bound what each technician stores, unless
	// the technician overrides them; zero means no limit.
	QuotaBytes int64
	QuotaFiles int64
}

// New returns an Engine over the given stores. It does not own them: the
// caller closes the metadata store after the last call.
func New(meta pmgsync.MetadataStore, blobs pmgsync.BlobStore, opts Options) *Engine {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	e := &Engine{meta: meta, blobs: blobs, opts: opts, now: opts.Now, log: opts.Logger}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.bufs.New = func() any { b := make([]byte, copyBufferSize); return &b }
	return e
}

// Now returns the engine's clock reading, in UTC.
func (e *Engine) Now() time.Time { return e.now().UTC() }

// Upload stores the content read from r as the technician's file named by
// filename (see names.FromUpload) and returns it. The file is committed only
// when r has been read to EOF and the bytes are durable; if r fails (a client
// that disconnects) nothing is stored and the previous version, if any,
// stays. Errors: EINVALID for a bad name or an interrupted body.
func (e *Engine) Upload(ctx context.Context, tech *pmgsync.Technician, filename string, r io.Reader) (*pmgsync.File, error) {
	name, err := names.FromUpload(filename)
	if err != nil {
		return nil, err
	}
	return e.store(ctx, tech, name, r, time.Time{}, true)
}

// store writes r into a new blob and commits it as tech's file name, uploaded
// at uploadedAt (now if zero). Unless replace is set, a file of that name
// that exists at the commit stays and store returns ECONFLICT.
func (e *Engine) store(ctx context.Context, tech *pmgsync.Technician, name string, r io.Reader, uploadedAt time.Time, replace bool) (*pmgsync.File, error) {
	w, err := e.blobs.Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	defer w.Abort()

	h := sha256.New()
	size, err := e.copy(w, h, r)
	if err != nil {
		return nil, err
	}
	if err := w.Commit(); err != nil {
		return nil, fmt.Errorf("commit blob: %w", err)
	}
	now := e.Now()
	if uploadedAt.IsZero() {
		uploadedAt = now
	}
	f := &pmgsync.File{
		TechnicianID: tech.ID,
		Name:         name,
		Size:         size,
		SHA256:       hex.EncodeToString(h.Sum(nil)),
		BlobKey:      w.Key(),
		UploadedAt:   uploadedAt,
	}
	// The body has been read whole: a client that goes away now must not
	// leave the committed blob without its metadata row.
	ctx = context.WithoutCancel(ctx)
	var replaced *pmgsync.File
	quota := e.quota(tech, now)
	if replace {
		replaced, err = e.meta.CommitFile(ctx, f, quota)
	} else {
		replaced, err = e.meta.CreateFile(ctx, f, quota)
	}
	if err != nil {
		e.deleteBlob(ctx, f.BlobKey)
		return nil, fmt.Errorf("commit file: %w", err)
	}
	e.live(tech, f, now)
	if replaced != nil {
		e.deleteBlob(ctx, replaced.BlobKey)
	}
	return f, nil
}

// copy streams r into w and h through a pooled buffer. A read error is the
// client's (EINVALID); a write error is ours.
func (e *Engine) copy(w io.Writer, h hash.Hash, r io.Reader) (int64, error) {
	bp := e.bufs.Get().(*[]byte)
	defer e.bufs.Put(bp)
	buf := *bp
	var n int64
	for {
		m, rerr := r.Read(buf)
		if m > 0 {
			h.Write(buf[:m])
			if _, err := w.Write(buf[:m]); err != nil {
				return n, fmt.Errorf("write blob: %w", err)
			}
			n += int64(m)
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			var domain *pmgsync.Error
			if errors.As(rerr, &domain) {
				return n, rerr
			}
			return n, withCode(fmt.Errorf("read upload: %w", rerr), pmgsync.EINVALID, pmgsync.MsgUploadAborted)
		}
	}
}

// codedError gives an error the code and message of a domain error while
// keeping the whole chain for the log: pmgsync.ErrorCode finds code first.
type codedError struct {
	code *pmgsync.Error
	err  error
}

func withCode(err error, code, key string, args ...any) error {
	return &codedError{code: pmgsync.Errorf(code, key, args...), err: err}
}

func (e *codedError) Error() string   { return e.err.Error() }
func (e *codedError) Unwrap() []error { return []error{e.code, e.err} }

// Open returns the technician's file named by filename (see names.ForLookup)
// and its content, which the caller closes. Errors: ENOTFOUND, EINVALID.
func (e *Engine) Open(ctx context.Context, tech *pmgsync.Technician, filename string) (*pmgsync.File, io.ReadSeekCloser, error) {
	name, err := names.ForLookup(filename)
	if err != nil {
		return nil, nil, err
	}
	f, err := e.file(ctx, tech, name)
	if err != nil {
		return nil, nil, err
	}
	content, err := e.blobs.Open(ctx, f.BlobKey)
	if err != nil {
		// The metadata says the file exists: a missing blob is our fault.
		err = fmt.Errorf("open blob %s of file %d: %w", f.BlobKey, f.ID, err)
		return nil, nil, withCode(err, pmgsync.EINTERNAL, pmgsync.MsgInternal)
	}
	return f, content, nil
}

// file returns the technician's live file of that exact name. ENOTFOUND
// also for an expired one.
func (e *Engine) file(ctx context.Context, tech *pmgsync.Technician, name string) (*pmgsync.File, error) {
	f, err := e.meta.FileByName(ctx, tech.ID, name)
	if err != nil {
		return nil, err
	}
	if !e.live(tech, f, e.Now()) {
		return nil, pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgFileNotFound)
	}
	return f, nil
}

// List returns the technician's live files sorted by name.
func (e *Engine) List(ctx context.Context, tech *pmgsync.Technician) ([]*pmgsync.File, error) {
	files, err := e.meta.Files(ctx, tech.ID)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	live := files[:0]
	for _, f := range files {
		if e.live(tech, f, now) {
			live = append(live, f)
		}
	}
	return live, nil
}

// Delete removes the technician's file named by filename and returns it.
// Errors: ENOTFOUND, EINVALID.
func (e *Engine) Delete(ctx context.Context, tech *pmgsync.Technician, filename string) (*pmgsync.File, error) {
	name, err := names.ForLookup(filename)
	if err != nil {
		return nil, err
	}
	if _, err := e.file(ctx, tech, name); err != nil {
		return nil, err // an expired file is already gone for the client
	}
	f, err := e.meta.DeleteFile(ctx, tech.ID, name)
	if err != nil {
		return nil, err
	}
	e.deleteBlob(context.WithoutCancel(ctx), f.BlobKey)
	return f, nil
}

// deleteBlob removes a blob that no row references any more. A failure only
// leaves an orphan for Recover, so it is logged, not returned.
func (e *Engine) deleteBlob(ctx context.Context, key string) {
	if err := e.blobs.Delete(ctx, key); err != nil {
		e.log.WarnContext(ctx, "blob left for the orphan sweep", "blob", key, "err", err)
	}
}
