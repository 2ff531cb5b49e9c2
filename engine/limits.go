package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"syscall"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/filetype"
	"github.com/pmgsync/pmgsync/units"
)

// Defaults of the upload limits in Options.
const (
	// DefaultMaxUploadSize is the largest file Upload accepts unless
	// configured otherwise: far above a PMG report (tens to hundreds of
	// KiB), far below what fills a small VM's disk.
	DefaultMaxUploadSize = 50 << 20
	// DefaultMinFreeBytes and DefaultMinFreePercent make the free-space
	// guard's threshold: uploads stop while the blob volume has less than
	// 1 GiB or 5% of its size free, whichever is smaller (5% of a 10 GiB
	// disk is 512 MiB; 1 GiB of a 2 TB one).
	DefaultMinFreeBytes   = 1 << 30
	DefaultMinFreePercent = 5
)

// limits are the resolved upload limits of an Engine. They never change
// after New.
type limits struct {
	maxSize        int64
	allowed        []filetype.Type // in the configured order, for messages
	freeSpace      func() (free, total uint64, err error)
	minFreeBytes   uint64
	minFreePercent uint64
}

func newLimits(opts Options) limits {
	l := limits{
		maxSize:        opts.MaxUploadSize,
		freeSpace:      opts.FreeSpace,
		minFreeBytes:   uint64(max(opts.MinFreeBytes, 0)),
		minFreePercent: uint64(min(max(opts.MinFreePercent, 0), 100)),
	}
	if l.maxSize <= 0 {
		l.maxSize = DefaultMaxUploadSize
	}
	if l.minFreeBytes == 0 {
		l.minFreeBytes = DefaultMinFreeBytes
	}
	if l.minFreePercent == 0 {
		l.minFreePercent = DefaultMinFreePercent
	}
	for _, s := range opts.AllowedTypes {
		// An entry filetype cannot check is left out: such files are
		// refused rather than taken unchecked. cmd validates its
		// configuration with filetype.ParseList, so this only drops what a
		// caller of New got wrong.
		if t, ok := filetype.Parse(s); ok && !slices.Contains(l.allowed, t) {
			l.allowed = append(l.allowed, t)
		}
	}
	if len(opts.AllowedTypes) == 0 {
		l.allowed = filetype.Known()
	}
	return l
}

// MaxUploadSize returns the largest file, in bytes, that Upload accepts.
func (e *Engine) MaxUploadSize() int64 { return e.limits.maxSize }

// AllowedTypes returns the types of file that Upload accepts, as
// extensions without the dot, in their configured order.
func (e *Engine) AllowedTypes() []string {
	s := make([]string, len(e.limits.allowed))
	for i, t := range e.limits.allowed {
		s[i] = string(t)
	}
	return s
}

// TooLarge returns the ETOOLARGE error of an upload over the size limit,
// with the message naming the limit. The HTTP server uses it when it
// refuses a body by its length before the engine sees it.
func (e *Engine) TooLarge() error {
	return pmgsync.Errorf(pmgsync.ETOOLARGE, pmgsync.MsgTooLarge, units.FormatSize(e.limits.maxSize))
}

// checkType returns the type of a file name by its extension: EUNSUPPORTED
// with MsgTypeNotAllowed unless it is one of the allowed types.
func (e *Engine) checkType(name string) (filetype.Type, error) {
	ext := filetype.Ext(name)
	if t, ok := filetype.Parse(ext); ok && slices.Contains(e.limits.allowed, t) {
		return t, nil
	}
	return "", pmgsync.Errorf(pmgsync.EUNSUPPORTED, pmgsync.MsgTypeNotAllowed, ext, filetype.Join(e.limits.allowed))
}

// typeMismatch returns the EUNSUPPORTED error of content that is not of
// the type its name claims, keeping the reason for the log.
func (e *Engine) typeMismatch(t filetype.Type, reason error) error {
	return pmgsync.WithCode(reason, pmgsync.EUNSUPPORTED, pmgsync.MsgTypeMismatch, string(t), filetype.Join(e.limits.allowed))
}

// checkArchive runs t's archive check (see filetype.Type.CheckArchive) on
// the committed blob key of size bytes.
func (e *Engine) checkArchive(ctx context.Context, t filetype.Type, key string, size int64) error {
	if !t.HasArchiveCheck() {
		return nil
	}
	rc, err := e.blobs.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("open blob %s to check its type: %w", key, err)
	}
	defer rc.Close()
	ra, ok := rc.(io.ReaderAt) // an *os.File for local blobs
	if !ok {
		ra = &seekReaderAt{r: rc}
	}
	err = t.CheckArchive(ra, size)
	if mm := (*filetype.MismatchError)(nil); errors.As(err, &mm) {
		return e.typeMismatch(t, err)
	}
	if err != nil {
		return fmt.Errorf("check type of blob %s: %w", key, err)
	}
	return nil
}

// seekReaderAt reads a blob that is not an io.ReaderAt at offsets by
// seeking. It is safe for concurrent use, though archive/zip, its user,
// reads one part at a time.
type seekReaderAt struct {
	mu sync.Mutex
	r  io.ReadSeeker
}

func (s *seekReaderAt) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.r.Seek(off, io.SeekStart); err != nil {
		return 0, err
	}
	return io.ReadFull(s.r, p)
}

// checkFreeSpace is the free-space guard: ESTORAGE with MsgDiskFull if
// writing incoming more bytes (0 if unknown) would leave the blob volume
// with less free space than the threshold. Without a probe it allows
// everything; a failing probe is an internal error, since a volume whose
// space cannot be told is no place to write to. A refusal is logged.
func (e *Engine) checkFreeSpace(ctx context.Context, incoming int64) error {
	err := e.freeSpace(incoming)
	if pmgsync.IsCode(err, pmgsync.ESTORAGE) {
		e.log.WarnContext(ctx, "upload refused: the blob volume is low on free space",
			"incoming", max(incoming, 0), "err", err)
	}
	return err
}

// CheckFreeSpace is the free-space guard for no incoming bytes, as a
// readiness check: ESTORAGE with MsgDiskFull while the blob volume has less
// free space than the threshold of Options.MinFreeBytes and MinFreePercent
// (every upload is then refused), an internal error if the probe fails, and
// nil when there is no probe (Options.FreeSpace is nil). It logs nothing,
// so that it may run as often as readiness is probed.
func (e *Engine) CheckFreeSpace(ctx context.Context) error {
	return e.freeSpace(0)
}

// freeSpace is the guard's test, without the log. The error of a refusal
// holds the figures, for the log.
func (e *Engine) freeSpace(incoming int64) error {
	if e.limits.freeSpace == nil {
		return nil
	}
	free, total, err := e.limits.freeSpace()
	if err != nil {
		return fmt.Errorf("free-space probe: %w", err)
	}
	threshold := min(e.limits.minFreeBytes, total/100*e.limits.minFreePercent+total%100*e.limits.minFreePercent/100)
	need := threshold
	if incoming > 0 {
		need = addSat(need, uint64(incoming))
	}
	if free >= need {
		return nil
	}
	cause := fmt.Errorf("%d bytes free of %d, the guard keeps %d and %d more are incoming", free, total, threshold, max(incoming, 0))
	return pmgsync.WithCode(cause, pmgsync.ESTORAGE, pmgsync.MsgDiskFull)
}

// addSat returns a+b, or the largest uint64 if that overflows.
func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// DiskFreeSpace returns a free-space probe for Options.FreeSpace that
// reports, for the file system holding dir, the bytes an unprivileged
// process may still write (statfs's available blocks, not counting the
// blocks reserved for root) and the file system's size.
func DiskFreeSpace(dir string) func() (free, total uint64, err error) {
	return func() (uint64, uint64, error) {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			return 0, 0, fmt.Errorf("statfs %s: %w", dir, err)
		}
		bsize := uint64(st.Bsize)
		return uint64(st.Bavail) * bsize, uint64(st.Blocks) * bsize, nil
	}
}
