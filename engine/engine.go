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
	"github.com/pmgsync/pmgsync/filetype"
	"github.com/pmgsync/pmgsync/names"
)

// copyBufferSize is the size of the buffer an upload is streamed through: big
// enough that a 50 MB report takes a few hundred writes, small enough that
// 64 concurrent uploads stay far below 100 MB.
const copyBufferSize = 256 << 10

// Engine runs file and token operations. It is safe for concurrent use.
type Engine struct {
	meta   pmgsync.MetadataStore
	blobs  pmgsync.BlobStore
	opts   Options
	limits limits
	now    func() time.Time
	log    *slog.Logger
	bufs   sync.Pool // of *[]byte, copyBufferSize long
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

	// MaxUploadSize is the largest file, in bytes, that Upload accepts;
	// DefaultMaxUploadSize if zero or negative.
	MaxUploadSize int64
	// AllowedTypes are the types of file that Upload accepts, as
	// extensions in any case, with or without the dot ("xlsx", ".CSV").
	// Empty means every type package filetype knows: xlsx, xlsm, xls and
	// csv. Each must be one that filetype knows how to check (validate
	// configuration with filetype.ParseList); an entry it does not know
	// is ignored, so its files are refused, never taken unchecked.
	AllowedTypes []string
	// FreeSpace reports the free and total bytes of the volume that holds
	// the blobs (see DiskFreeSpace). Nil disables the free-space guard, as
	// for a blob store with no volume of its own to fill.
	FreeSpace func() (free, total uint64, err error)
	// MinFreeBytes and MinFreePercent set the free-space guard's
	// threshold: the smaller of MinFreeBytes and MinFreePercent percent of
	// the volume's size. Zero (or negative) means DefaultMinFreeBytes and
	// DefaultMinFreePercent; a percentage over 100 counts as 100.
	MinFreeBytes   int64
	MinFreePercent int

	// AuditRetention is how long audit records are kept: Cleanup removes
	// older ones. DefaultAuditRetention if zero or negative.
	AuditRetention time.Duration
}

// New returns an Engine over the given stores. It does not own them: the
// caller closes the metadata store after the last call.
func New(meta pmgsync.MetadataStore, blobs pmgsync.BlobStore, opts Options) *Engine {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.AuditRetention <= 0 {
		opts.AuditRetention = DefaultAuditRetention
	}
	e := &Engine{meta: meta, blobs: blobs, opts: opts, limits: newLimits(opts), now: opts.Now, log: opts.Logger}
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
// when r has been read to EOF, its content has passed the checks below and
// the bytes are durable; if anything fails nothing is stored (no blob is
// left behind) and the previous version, if any, stays.
//
// expectedSize is what the caller knows of the size in advance, at least
// the number of bytes r will yield (an HTTP request's Content-Length, say),
// or -1 if it knows nothing; it only serves to refuse early an upload for
// which there is no room.
//
// Errors (whatever the error, nothing is stored; the name, the extension
// and the free space are checked before a byte of r is read):
//   - EINVALID for a bad name (see names), an interrupted body
//     (MsgUploadAborted) or an empty file (MsgEmptyFile);
//   - EUNSUPPORTED for an extension that is not one of the allowed types
//     (MsgTypeNotAllowed), or content that is not what its extension says
//     (MsgTypeMismatch; see package filetype);
//   - ETOOLARGE (MsgTooLarge) as soon as more than MaxUploadSize bytes
//     have been read;
//   - ESTORAGE when the technician's quota would be exceeded
//     (MsgQuotaBytes, MsgQuotaFiles) or the free-space guard refuses
//     (MsgDiskFull), which it does both before reading, counting
//     expectedSize, and before the commit, once the blob is written.
//
// The store records a committed upload in the audit trail; Upload records a
// refused one, with the error's code as its result.
func (e *Engine) Upload(ctx context.Context, tech *pmgsync.Technician, filename string, r io.Reader, expectedSize int64) (*pmgsync.File, error) {
	f, err := e.upload(ctx, tech, filename, r, expectedSize)
	if err != nil {
		e.AuditRefused(ctx, tech, pmgsync.ActionUpload, filename, err)
	}
	return f, err
}

func (e *Engine) upload(ctx context.Context, tech *pmgsync.Technician, filename string, r io.Reader, expectedSize int64) (*pmgsync.File, error) {
	name, err := names.FromUpload(filename)
	if err != nil {
		return nil, err
	}
	typ, err := e.checkType(name)
	if err != nil {
		return nil, err
	}
	if err := e.checkFreeSpace(ctx, expectedSize); err != nil {
		return nil, err
	}
	return e.write(ctx, tech, name, r, time.Time{}, true, typ)
}

// store writes r into a new blob and commits it as tech's file name, uploaded
// at uploadedAt (now if zero). Unless replace is set, a file of that name
// that exists at the commit stays and store returns ECONFLICT. Of the upload
// limits it applies only the free-space guard and the quota: it is how files
// the old server kept are imported, whatever their size and type.
func (e *Engine) store(ctx context.Context, tech *pmgsync.Technician, name string, r io.Reader, uploadedAt time.Time, replace bool) (*pmgsync.File, error) {
	if err := e.checkFreeSpace(ctx, -1); err != nil {
		return nil, err
	}
	return e.write(ctx, tech, name, r, uploadedAt, replace, "")
}

// write is store, with the size and content checks of Upload for a file of
// type typ unless typ is "".
func (e *Engine) write(ctx context.Context, tech *pmgsync.Technician, name string, r io.Reader, uploadedAt time.Time, replace bool, typ filetype.Type) (*pmgsync.File, error) {
	w, err := e.blobs.Create(ctx)
	if err != nil {
		return nil, fmt.Errorf("create blob: %w", err)
	}
	defer w.Abort()

	h := sha256.New()
	var sniff *filetype.Sniffer
	var maxSize int64 = -1
	if typ != "" {
		sniff, maxSize = typ.Sniffer(), e.limits.maxSize
	}
	size, err := e.copy(w, h, r, maxSize, sniff, typ)
	if err != nil {
		return nil, err
	}
	if sniff != nil {
		if size == 0 {
			return nil, pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgEmptyFile)
		}
		if err := sniff.Close(); err != nil {
			return nil, e.typeMismatch(typ, err)
		}
	}
	if err := w.Commit(); err != nil {
		return nil, fmt.Errorf("commit blob: %w", err)
	}
	// The body has been read whole and the blob is durable: from here on,
	// a client that goes away must not leave the blob without its metadata
	// row, nor a refused blob on disk.
	ctx = context.WithoutCancel(ctx)
	if typ != "" {
		if err := e.checkArchive(ctx, typ, w.Key(), size); err != nil {
			e.deleteBlob(ctx, w.Key())
			return nil, err
		}
	}
	if err := e.checkFreeSpace(ctx, 0); err != nil {
		e.deleteBlob(ctx, w.Key())
		return nil, err
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

// copy streams r into w and h through a pooled buffer, which it fills
// before passing it on: a multipart body yields a few KiB per read, and a
// write to a file costs much the same for 4 KiB as for 256 KiB, so that
// writing each read as it comes would make a 20 MB upload thousands of
// system calls slower than the disk. Unless maxSize is negative, it fails
// with ETOOLARGE as soon as a buffer takes r past maxSize bytes, before
// writing any of them; unless sniff is nil, it shows sniff every byte
// before writing it, and fails with EUNSUPPORTED (a mismatch for typ) as
// soon as sniff refuses. A read error is the client's (EINVALID); a write
// error is ours.
func (e *Engine) copy(w io.Writer, h hash.Hash, r io.Reader, maxSize int64, sniff *filetype.Sniffer, typ filetype.Type) (int64, error) {
	bp := e.bufs.Get().(*[]byte)
	defer e.bufs.Put(bp)
	buf := *bp
	var n int64
	for {
		m, rerr := fill(r, buf)
		if m > 0 {
			if maxSize >= 0 && n+int64(m) > maxSize {
				return n, e.TooLarge()
			}
			chunk := buf[:m]
			if sniff != nil {
				if _, err := sniff.Write(chunk); err != nil {
					return n, e.typeMismatch(typ, err)
				}
			}
			h.Write(chunk)
			if _, err := w.Write(chunk); err != nil {
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
			// Whose fault a failed read is depends on the reader: httpserver
			// marks a client's broken body as EINVALID; anything else, such
			// as a disk failure under an import, is internal.
			return n, fmt.Errorf("read upload: %w", rerr)
		}
	}
}

// fill reads from r into buf until buf is full or r fails, and returns
// the bytes read and r's error (io.EOF at the end of r), as io.ReadFull
// does but without turning a short read before io.EOF into an error, nor an
// io.ErrUnexpectedEOF of r (a truncated multipart body) into something else.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Open returns the technician's file named by filename (see names.ForLookup)
// and its content, which the caller closes. Errors: ENOTFOUND, EINVALID;
// ENOTFOUND with MsgFileDamaged for a file marked damaged (see Verify),
// which the technician must send again.
// A refusal is recorded in the audit trail; a success is not, since only
// the caller knows whether, and how much of, the content reached the
// client: it records that with AuditDownload.
func (e *Engine) Open(ctx context.Context, tech *pmgsync.Technician, filename string) (*pmgsync.File, io.ReadSeekCloser, error) {
	f, content, err := e.open(ctx, tech, filename)
	if err != nil {
		e.AuditRefused(ctx, tech, pmgsync.ActionDownload, filename, err)
		return nil, nil, err
	}
	return f, content, nil
}

func (e *Engine) open(ctx context.Context, tech *pmgsync.Technician, filename string) (*pmgsync.File, io.ReadSeekCloser, error) {
	name, err := names.ForLookup(filename)
	if err != nil {
		return nil, nil, err
	}
	f, err := e.servable(ctx, tech, name)
	if err != nil {
		return nil, nil, err
	}
	// Between reading the row and opening its blob, an upload of the same
	// name or a delete may commit and remove the blob: read the row again
	// and follow it. Only a row that still names a missing blob is our fault.
	for attempt := 0; ; attempt++ {
		content, err := e.blobs.Open(ctx, f.BlobKey)
		if err == nil {
			return f, content, nil
		}
		if !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			return nil, nil, fmt.Errorf("open blob %s of file %d: %w", f.BlobKey, f.ID, err)
		}
		now, nerr := e.servable(ctx, tech, name)
		if nerr != nil {
			return nil, nil, nerr
		}
		if now.BlobKey == f.BlobKey {
			return nil, nil, e.blobMissing(ctx, f, err)
		}
		if attempt == maxOpenRetries {
			err = fmt.Errorf("open blob %s of file %d: %w", f.BlobKey, f.ID, err)
			return nil, nil, pmgsync.WithCode(err, pmgsync.EINTERNAL, pmgsync.MsgInternal)
		}
		f = now
	}
}

// maxOpenRetries bounds how often Open follows a file replaced while it was
// being opened.
const maxOpenRetries = 3

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

// List returns the technician's live files sorted by name, but for those
// marked damaged, which cannot be downloaded.
func (e *Engine) List(ctx context.Context, tech *pmgsync.Technician) ([]*pmgsync.File, error) {
	files, err := e.meta.Files(ctx, tech.ID)
	if err != nil {
		return nil, err
	}
	now := e.Now()
	live := files[:0]
	for _, f := range files {
		if e.live(tech, f, now) && f.Damage == "" {
			live = append(live, f)
		}
	}
	return live, nil
}

// liveNamer is an ability a MetadataStore may have: the names of a
// technician's files uploaded after cutoff and not marked damaged, sorted in
// byte order, read without the rest of their rows (see
// sqlite.DB.LiveFileNames), which makes a long list several times cheaper.
type liveNamer interface {
	LiveFileNames(ctx context.Context, technicianID int64, cutoff time.Time) ([]string, error)
}

// ListNames returns the names of the files List returns, in the same
// order: what the classic /list answers.
func (e *Engine) ListNames(ctx context.Context, tech *pmgsync.Technician) ([]string, error) {
	if ln, ok := e.meta.(liveNamer); ok {
		return ln.LiveFileNames(ctx, tech.ID, e.cutoff(tech, e.Now()))
	}
	files, err := e.List(ctx, tech)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	return names, nil
}

// Delete removes the technician's file named by filename and returns it.
// Errors: ENOTFOUND, EINVALID. The store records a delete in the audit
// trail; Delete records a refused one.
func (e *Engine) Delete(ctx context.Context, tech *pmgsync.Technician, filename string) (*pmgsync.File, error) {
	f, err := e.delete(ctx, tech, filename)
	if err != nil {
		e.AuditRefused(ctx, tech, pmgsync.ActionDelete, filename, err)
	}
	return f, err
}

func (e *Engine) delete(ctx context.Context, tech *pmgsync.Technician, filename string) (*pmgsync.File, error) {
	name, err := names.ForLookup(filename)
	if err != nil {
		return nil, err
	}
	// An expired file is already gone for the client, and stays for the
	// sweep to remove and record.
	if _, err := e.file(ctx, tech, name); err != nil {
		return nil, err
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
