package engine

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/pmgsync/pmgsync"
)

// The problems Verify finds, as VerifyProblem.Kind says them.
const (
	// ProblemMissing: a file whose blob does not exist.
	ProblemMissing = "missing"
	// ProblemCorrupt: a file whose blob's size or SHA-256 is not the
	// recorded one.
	ProblemCorrupt = "corrupt"
	// ProblemDamaged: a file an earlier repair marked damaged. It is not
	// served, and stays a problem until it is deleted, replaced by a new
	// upload of its name, or expires.
	ProblemDamaged = "damaged"
	// ProblemOrphan: a blob that no file references, older than
	// OrphanGrace.
	ProblemOrphan = "orphan"
)

// VerifyOptions says how to run Verify.
type VerifyOptions struct {
	// Repair removes the orphaned blobs and marks the missing and corrupt
	// files damaged (see pmgsync.File.Damage), so that they are no longer
	// served. Without it, Verify changes nothing.
	Repair bool
	// Progress, if not nil, is called from Verify's goroutine after each
	// file and after each batch of blobs, with the counts so far.
	Progress func(VerifyProgress)
}

// VerifyProgress is how far Verify has gone.
type VerifyProgress struct {
	Files, TotalFiles int64 // files checked, of the files stored when Verify started
	Bytes, TotalBytes int64 // bytes hashed, of the bytes stored when Verify started
	Blobs             int64 // blobs looked at in the search for orphans
}

// VerifyProblem is one thing Verify found wrong.
type VerifyProblem struct {
	Kind string // one of the Problem* constants
	// Technician and File are the file's, for every kind but
	// ProblemOrphan; File.Damage and File.DamagedAt are set for
	// ProblemDamaged, and for a file that Repair marked.
	Technician string
	File       *pmgsync.File
	BlobKey    string
	// Size is what the blob holds: for ProblemCorrupt, the bytes read
	// (SizeMismatch says whether they differ from File.Size); for
	// ProblemOrphan, the blob's size.
	Size int64
	// SHA256 is, for ProblemCorrupt, the blob's actual SHA-256 in hex.
	SHA256 string
	// ModTime is, for ProblemOrphan, when the blob was written.
	ModTime time.Time
	// Repaired says that Repair marked the file damaged, or removed the
	// orphan. A repair that failed is in VerifyReport.Errors.
	Repaired bool
}

// SizeMismatch reports whether a corrupt file's blob has another size
// than the recorded one (else only its SHA-256 differs).
func (p *VerifyProblem) SizeMismatch() bool {
	return p.Kind == ProblemCorrupt && p.File != nil && p.Size != p.File.Size
}

// VerifyReport is the outcome of Verify.
type VerifyReport struct {
	Files int64 // files checked, damaged ones included (those are not read)
	Bytes int64 // bytes hashed
	Blobs int64 // blobs looked at in the search for orphans
	// Young is how many blobs that no file references were left alone
	// because they are younger than OrphanGrace: an upload in progress
	// commits its blob a moment before the file that references it.
	Young int64
	// Problems are what was found, in order: files by technician and
	// name, then orphans by key.
	Problems []VerifyProblem
	// Errors are the files that could not be checked (a blob that could
	// not be read) and the repairs that failed. Verify goes on after them.
	Errors []error
}

// ProblemCount is how many problems of a kind Verify found, and how many
// of them Repair repaired.
type ProblemCount struct {
	Found, Repaired int
}

// Counts returns the problems of each kind found, by kind; a kind not
// found is absent.
func (r *VerifyReport) Counts() map[string]ProblemCount {
	counts := make(map[string]ProblemCount)
	for _, p := range r.Problems {
		c := counts[p.Kind]
		c.Found++
		if p.Repaired {
			c.Repaired++
		}
		counts[p.Kind] = c
	}
	return counts
}

// Count returns how many problems of that kind were found.
func (r *VerifyReport) Count(kind string) int { return r.Counts()[kind].Found }

// Repaired returns how many problems of that kind Repair repaired.
func (r *VerifyReport) Repaired(kind string) int { return r.Counts()[kind].Repaired }

// Verify checks the stores against each other: that the blob of every
// file, of every technician, exists and has the recorded size and SHA-256,
// and that every blob older than OrphanGrace is some file's. It reports
// files already marked damaged as such, without reading them again. With
// opts.Repair it removes the orphans and marks the missing and corrupt files
// damaged (with a file.damaged record in the audit trail, whose actor is
// ctx's), so that they are hidden from listings and refused to downloads
// (see Open) until they are deleted or sent again; it never deletes a
// file's record.
//
// It may run while the server runs, in its process or another. Each blob is
// streamed through SHA-256 with a buffer of fixed size, so memory does not
// grow with the size of files, nor with their number beyond one
// technician's list of files and the problems found. A file deleted or
// replaced while Verify runs is not reported, nor is a file stored after
// Verify listed its technician's files.
//
// The error is for a check that could not go on: the stores could not be
// listed, or ctx is done (the error then wraps ctx.Err()); the report then
// holds what was found so far.
func (e *Engine) Verify(ctx context.Context, opts VerifyOptions) (*VerifyReport, error) {
	v := &verifier{e: e, opts: opts, rep: &VerifyReport{}}
	total, err := e.meta.Stored(ctx)
	if err != nil {
		return v.rep, fmt.Errorf("verify: count the stored files: %w", err)
	}
	v.total = total
	if err := v.files(ctx); err != nil {
		return v.rep, fmt.Errorf("verify: %w", err)
	}
	if err := v.orphans(ctx); err != nil {
		return v.rep, fmt.Errorf("verify: %w", err)
	}
	return v.rep, nil
}

// verifier is the state of one run of Verify.
type verifier struct {
	e     *Engine
	opts  VerifyOptions
	rep   *VerifyReport
	total pmgsync.Usage // what was stored when Verify started
}

// report calls the Progress hook, if any, with the counts so far.
func (v *verifier) report() {
	if v.opts.Progress != nil {
		v.opts.Progress(VerifyProgress{Files: v.rep.Files, TotalFiles: v.total.Files,
			Bytes: v.rep.Bytes, TotalBytes: v.total.Bytes, Blobs: v.rep.Blobs})
	}
}

// files checks the files of every technician, in name order.
func (v *verifier) files(ctx context.Context) error {
	techs, err := v.e.meta.Technicians(ctx)
	if err != nil {
		return fmt.Errorf("list technicians: %w", err)
	}
	for _, tech := range techs {
		files, err := v.e.meta.Files(ctx, tech.ID)
		if err != nil {
			return fmt.Errorf("list the files of %q: %w", tech.Name, err)
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := v.file(ctx, tech, f); err != nil {
				return err
			}
			v.rep.Files++
			v.report()
		}
	}
	return nil
}

// file checks one file of tech. It returns only an error that stops the
// check (ctx done); others go to the report's Errors.
func (v *verifier) file(ctx context.Context, tech *pmgsync.Technician, f *pmgsync.File) error {
	p := VerifyProblem{Technician: tech.Name, File: f, BlobKey: f.BlobKey}
	if f.Damage != "" {
		p.Kind = ProblemDamaged
		v.rep.Problems = append(v.rep.Problems, p)
		return nil
	}
	size, sum, err := v.hash(ctx, f.BlobKey)
	switch {
	case pmgsync.IsCode(err, pmgsync.ENOTFOUND):
		// A delete or a replacement since the list was read removes the
		// blob after the row: only a row that is still there is missing
		// its blob.
		still, gerr := v.e.meta.FileByName(ctx, tech.ID, f.Name)
		if pmgsync.IsCode(gerr, pmgsync.ENOTFOUND) || (gerr == nil && still.ID != f.ID) {
			return nil
		}
		if gerr != nil {
			v.fail(fmt.Errorf("file %q of %q: look it up again: %w", f.Name, tech.Name, gerr))
			return ctx.Err()
		}
		p.Kind = ProblemMissing
	case err != nil:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v.fail(fmt.Errorf("file %q of %q: read blob %s: %w", f.Name, tech.Name, f.BlobKey, err))
		return nil
	case size == f.Size && sum == f.SHA256:
		return nil
	default:
		p.Kind, p.Size, p.SHA256 = ProblemCorrupt, size, sum
	}
	if v.opts.Repair {
		if !v.mark(ctx, &p) {
			return ctx.Err() // the file went meanwhile: nothing to report
		}
	}
	v.rep.Problems = append(v.rep.Problems, p)
	return nil
}

// mark marks p's file damaged and reports whether p is still a problem: a
// file deleted or replaced since it was read is not.
func (v *verifier) mark(ctx context.Context, p *VerifyProblem) bool {
	f := p.File
	damage, detail := pmgsync.DamageCorrupt, ""
	switch {
	case p.Kind == ProblemMissing:
		damage, detail = pmgsync.DamageMissing, fmt.Sprintf("blob %s not found", f.BlobKey)
	case p.SizeMismatch():
		detail = fmt.Sprintf("size mismatch: blob %s has %d bytes, recorded %d", f.BlobKey, p.Size, f.Size)
	default:
		detail = fmt.Sprintf("sha256 mismatch: blob %s has %s", f.BlobKey, p.SHA256)
	}
	marked, err := v.e.meta.MarkDamaged(ctx, f.ID, damage, detail, v.e.Now())
	if pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
		return false
	}
	if err != nil {
		v.fail(fmt.Errorf("file %q of %q: mark it damaged: %w", f.Name, p.Technician, err))
		return true
	}
	p.File, p.Repaired = marked, true
	return true
}

// hash streams the blob key through SHA-256 and returns its size and hex
// digest. ENOTFOUND if the blob does not exist.
func (v *verifier) hash(ctx context.Context, key string) (int64, string, error) {
	rc, err := v.e.blobs.Open(ctx, key)
	if err != nil {
		return 0, "", err
	}
	defer rc.Close()
	bp := v.e.bufs.Get().(*[]byte)
	defer v.e.bufs.Put(bp)
	h := sha256.New()
	// ctxReader hides the file's WriterTo, so that the copy goes through
	// the pooled buffer and stops when ctx is done.
	n, err := io.CopyBuffer(h, ctxReader{ctx: ctx, r: rc}, *bp)
	v.rep.Bytes += n
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// orphans looks for blobs that no file references, in batches, and with
// Repair removes those older than OrphanGrace.
func (v *verifier) orphans(ctx context.Context) error {
	cutoff := v.e.Now().Add(-OrphanGrace)
	var found []VerifyProblem
	err := v.e.unreferencedBlobs(ctx, func(b pmgsync.BlobInfo) error {
		if !b.ModTime.Before(cutoff) {
			v.rep.Young++
		} else {
			found = append(found, VerifyProblem{Kind: ProblemOrphan, BlobKey: b.Key, Size: b.Size, ModTime: b.ModTime})
		}
		return nil
	}, func(n int) {
		v.rep.Blobs += int64(n)
		v.report()
	})
	slices.SortFunc(found, func(a, b VerifyProblem) int { return cmp.Compare(a.BlobKey, b.BlobKey) })
	if err == nil && v.opts.Repair {
		for i := range found {
			if err = ctx.Err(); err != nil {
				break
			}
			if derr := v.e.blobs.Delete(ctx, found[i].BlobKey); derr != nil {
				v.fail(fmt.Errorf("remove orphaned blob %s: %w", found[i].BlobKey, derr))
				continue
			}
			found[i].Repaired = true
		}
	}
	v.rep.Problems = append(v.rep.Problems, found...)
	return err
}

// fail keeps err in the report: a file that could not be checked, or a
// repair that failed.
func (v *verifier) fail(err error) {
	v.rep.Errors = append(v.rep.Errors, err)
}

// ctxReader reads from r until ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
