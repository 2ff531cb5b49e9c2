package backup

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/fsutil"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/sqlite"
)

// compression is the gzip level of archives. Most reports are xlsx files,
// ZIP archives already deflated, which no level shrinks further: the
// fastest level spends the least CPU on them and still halves csv files.
const compression = gzip.BestSpeed

// copyBuffer is the size of the buffer blobs are read through, and of the
// buffer in front of the archive's output.
const copyBuffer = 1 << 20

// Source is a data directory to back up, opened by the caller: a server
// may be using it at the same time, in this process or another.
type Source struct {
	Dir     string         // the data directory: the staging directory goes there
	DB      *sqlite.DB     // its database
	Blobs   *localfs.Store // its blob store, which must be on Dir's file system
	Version string         // the pmgsync version, recorded in the archive
	// Now is the clock of the run's record and the archive's times;
	// time.Now if nil.
	Now func() time.Time
	// Logger receives what goes wrong after the archive is written (a
	// staging directory that could not be removed); slog.Default() if nil.
	Logger *slog.Logger

	hooks hooks // for tests: none in production
}

// hooks are what a test runs at points of a backup, to change the store
// while it runs.
type hooks struct {
	afterLink     func() // right after the first pass of links
	afterSnapshot func() // right after the snapshot
}

// Options say how to run one backup.
type Options struct {
	// Trigger is pmgsync.BackupTriggerSchedule or BackupTriggerCommand
	// (the default if "").
	Trigger string
	// Progress, if not nil, is called from the backup's goroutine once the
	// files to archive are known and after each file archived.
	Progress func(Progress)
}

// Progress is how far a backup or a restore has gone.
type Progress struct {
	Files, TotalFiles int64
	Bytes, TotalBytes int64 // of the files' content
}

// Result is the outcome of a backup.
type Result struct {
	// Run is the run as recorded (see sqlite.DB.BackupRuns).
	Run *pmgsync.BackupRun
	// Manifest is the archive's manifest, without its entries; nil if
	// the backup failed before writing it.
	Manifest *Manifest
}

// ToFile writes a backup to the file path, which it replaces if it exists.
// The archive is written under a temporary name in path's directory
// (.NAME.partial-*, locked meanwhile: see RemoveStalePartials), fsynced,
// and renamed to path only once complete, so path is never a partial
// archive; on failure the temporary file is removed.
//
// The run is recorded (with Path), and so is its outcome, in the run and
// in the audit trail (ActionBackup, with the actor of ctx), whatever it is.
// Errors: a *DamagedError when the archive is in place but some files were
// left out as damaged; any other error means no archive was written.
// The result is nil only if the run could not be recorded.
func (s *Source) ToFile(ctx context.Context, path string, opts Options) (*Result, error) {
	return s.run(ctx, path, opts, func(res *Result) error {
		dir, base := filepath.Split(path)
		if dir == "" {
			dir = "."
		}
		f, err := createPartial(dir, base)
		if err != nil {
			return fmt.Errorf("create the archive: %w", err)
		}
		tmp := f.Name()
		done := false
		defer func() {
			if !done {
				f.Close()
				os.Remove(tmp)
			}
		}()
		written, err := s.archive(ctx, f, res, opts)
		res.Run.ArchiveBytes = written
		if err != nil && !errors.Is(err, ErrDamaged) {
			return err
		}
		damaged := err
		if err := f.Sync(); err != nil {
			return fmt.Errorf("write the archive: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write the archive: %w", err)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("put the archive in place: %w", err)
		}
		done = true
		if err := fsutil.SyncDir(dir); err != nil {
			return fmt.Errorf("put the archive in place: %w", err)
		}
		return damaged
	})
}

// ToWriter writes a backup to w, such as standard output; name is what the
// run's record calls it ("-" for standard output). On failure w has
// received part of an archive, which Restore refuses as truncated. Errors
// and records are those of ToFile.
func (s *Source) ToWriter(ctx context.Context, w io.Writer, name string, opts Options) (*Result, error) {
	return s.run(ctx, name, opts, func(res *Result) error {
		written, err := s.archive(ctx, w, res, opts)
		res.Run.ArchiveBytes = written
		return err
	})
}

// run records a run to path, runs write, and records its outcome.
func (s *Source) run(ctx context.Context, path string, opts Options, write func(*Result) error) (*Result, error) {
	switch opts.Trigger {
	case "":
		opts.Trigger = pmgsync.BackupTriggerCommand
	case pmgsync.BackupTriggerCommand, pmgsync.BackupTriggerSchedule:
	default:
		return nil, fmt.Errorf("backup: unknown trigger %q", opts.Trigger)
	}
	run := &pmgsync.BackupRun{Trigger: opts.Trigger, Path: path, StartedAt: s.now()}
	if err := s.DB.StartBackupRun(ctx, run); err != nil {
		return nil, fmt.Errorf("backup: record the run: %w", err)
	}
	res := &Result{Run: run}
	err := write(res)
	var damaged *DamagedError
	switch {
	case err == nil:
		run.Status = pmgsync.BackupOK
	case errors.As(err, &damaged):
		run.Status, run.Error = pmgsync.BackupDamaged, err.Error()
	default:
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		err = fmt.Errorf("backup: %w", err)
		run.Status, run.Error = pmgsync.BackupFailed, err.Error()
		run.Files, run.Bytes = 0, 0 // no archive holds them
	}
	run.FinishedAt = s.now()
	// The outcome is saved even when ctx is done, so that history shows it.
	bctx := context.WithoutCancel(ctx)
	if ferr := s.DB.FinishBackupRun(bctx, run); ferr != nil {
		err = errors.Join(err, fmt.Errorf("backup: record the outcome of run %d: %w", run.ID, ferr))
	}
	if aerr := s.audit(bctx, res); aerr != nil {
		err = errors.Join(err, aerr)
	}
	return res, err
}

// audit records the run of res in the audit trail.
func (s *Source) audit(ctx context.Context, res *Result) error {
	run := res.Run
	ev := &pmgsync.AuditEvent{
		Action: pmgsync.ActionBackup,
		Size:   run.Bytes,
		Result: run.Status,
		Detail: fmt.Sprintf("run #%d (%s) to %s: %d files, %d bytes, archive %d bytes", run.ID, run.Trigger,
			run.Path, run.Files, run.Bytes, run.ArchiveBytes),
	}
	if m := res.Manifest; m != nil && run.Status != pmgsync.BackupFailed && m.MarkedDamagedCount > 0 {
		ev.Detail += fmt.Sprintf("; %d files marked damaged left out", m.MarkedDamagedCount)
	}
	if run.Error != "" {
		ev.Detail += "; " + run.Error
	}
	ev.SetActor(pmgsync.ActorFrom(ctx))
	if err := s.DB.AppendAudit(ctx, ev); err != nil {
		return fmt.Errorf("backup: record run %d in the audit trail: %w", run.ID, err)
	}
	return nil
}

func (s *Source) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Source) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// archive writes the archive to w and returns how many bytes it wrote. It
// fills in res: the run's counts and the manifest. A *DamagedError means
// the archive is complete without the damaged files.
func (s *Source) archive(ctx context.Context, w io.Writer, res *Result, opts Options) (int64, error) {
	// What backups that died left, which only a server's start removed
	// otherwise: a server may never restart, or not run at all.
	if n, err := RemoveStaleStaging(ctx, s.Dir); err != nil {
		s.logger().Warn("backup: the staging directories of dead backups could not all be removed", "removed", n, "err", err)
	} else if n > 0 {
		s.logger().Info("backup: removed the staging directories of dead backups", "count", n)
	}
	st, err := newStaging(s.Dir)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := st.remove(); err != nil {
			s.logger().Warn("backup: staging directory left for the next start-up", "err", err)
		}
	}()
	if err := s.linkAll(ctx, st); err != nil {
		return 0, err
	}
	if s.hooks.afterLink != nil {
		s.hooks.afterLink()
	}
	created := s.now()
	snap, err := s.DB.Snapshot(ctx, st.path(databaseEntry))
	if err != nil {
		return 0, fmt.Errorf("snapshot the database: %w", err)
	}
	defer snap.Close()
	if s.hooks.afterSnapshot != nil {
		s.hooks.afterSnapshot()
	}
	b := &builder{
		src: s, st: st, snap: snap, opts: opts, run: res.Run,
		m: &Manifest{
			Format: FormatName, FormatVersion: FormatVersion, PmgsyncVersion: s.Version,
			CreatedAt: created, BackupRun: res.Run.ID, Dropped: []FileRef{}, Damaged: []FileRef{}, MarkedDamaged: []FileRef{},
		},
		buf: make([]byte, copyBuffer),
	}
	if err := b.linkSnapshot(ctx); err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	err = b.write(ctx, cw)
	res.Manifest = b.m
	return cw.n, err
}

// linkAll links every committed blob into the staging directory. A blob
// deleted meanwhile is skipped: its row was deleted before it, so it is not
// in the snapshot that follows.
func (s *Source) linkAll(ctx context.Context, st *staging) error {
	err := s.Blobs.Walk(ctx, func(b pmgsync.BlobInfo) error {
		err := s.Blobs.Link(ctx, b.Key, st.path(b.Key))
		if pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("link the blobs: %w", err)
	}
	return nil
}

// builder writes the archive of one backup.
type builder struct {
	src  *Source
	st   *staging
	snap *sqlite.Snapshot
	opts Options
	run  *pmgsync.BackupRun
	m    *Manifest
	buf  []byte

	progress Progress
	list     *manifestWriter
}

// linkSnapshot links, from the live store, the blobs of the snapshot's
// rows that the first pass did not (committed after it passed them). A row
// whose blob is gone by then was deleted or replaced after the snapshot,
// or its blob was lost, as the live row of its name tells: a replaced one
// is rewritten to its live version, whose blob is linked, as if the backup
// had been taken a moment later for that file; a deleted one is dropped
// from the snapshot; one whose row is still live while its blob is not is
// damaged (missing), dropped from the snapshot and reported as such. A row
// already marked damaged keeps its mark and has no blob in the archive. It
// counts what is left to archive.
func (b *builder) linkSnapshot(ctx context.Context) error {
	var dropped []int64
	replaced := make(map[int64]*pmgsync.File)
	deleted := 0
	err := b.snap.Files(ctx, func(tech string, f *pmgsync.File) error {
		if f.Damage != "" {
			b.marked(tech, f)
			return nil
		}
		cur, found, err := b.link(ctx, f)
		if err != nil {
			return fmt.Errorf("link blob %s of %q of %q: %w", f.BlobKey, f.Name, tech, err)
		}
		switch found {
		case fileDeleted:
			dropped = append(dropped, f.ID)
			deleted++
			b.m.DroppedCount++
			if len(b.m.Dropped) < maxListed {
				b.m.Dropped = append(b.m.Dropped, ref(tech, f, ""))
			}
			return nil
		case blobMissing:
			dropped = append(dropped, f.ID)
			b.damaged(tech, cur, problemMissing)
			return nil
		case fileMarked:
			replaced[f.ID] = cur
			b.marked(tech, cur)
			return nil
		}
		if cur.ID != f.ID {
			replaced[f.ID] = cur
		}
		b.progress.TotalFiles++
		b.progress.TotalBytes += cur.Size
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the snapshot: %w", err)
	}
	if err := b.snap.DropFiles(ctx, dropped); err != nil {
		return err
	}
	if err := b.snap.ReplaceFiles(ctx, replaced); err != nil {
		return err
	}
	if deleted > 0 {
		b.src.logger().Info("backup: files deleted after the snapshot left out", "count", deleted)
	}
	if len(replaced) > 0 {
		b.src.logger().Info("backup: files replaced after the snapshot archived in their new version", "count", len(replaced))
	}
	return nil
}

// problemMissing is the problem of a damaged file whose blob is gone.
const problemMissing = "missing from disk"

// What link found of a snapshot's row.
type linkFound int

const (
	blobLinked  linkFound = iota // the blob of the version returned is staged
	fileDeleted                  // the file was deleted after the snapshot
	blobMissing                  // the version returned is live, its blob lost
	fileMarked                   // the version returned is live, marked damaged
)

// linkAttempts bounds the versions of one file that link follows, each
// replaced in its turn before its blob could be linked.
const linkAttempts = 8

// link links into the staging directory the blob of the snapshot's row f,
// if the first pass did not, and returns the version of the file linked:
// f, or the live version that replaced f after the snapshot if f's blob is
// gone. Or it says that the file was deleted, that the live version's
// blob is missing although its row is there (a lost blob, since a blob is
// removed only after its row), or that the live version has been marked
// damaged meanwhile.
func (b *builder) link(ctx context.Context, f *pmgsync.File) (*pmgsync.File, linkFound, error) {
	cur := f
	for range linkAttempts {
		err := b.stage(ctx, cur.BlobKey)
		if !pmgsync.IsCode(err, pmgsync.ENOTFOUND) {
			if err != nil {
				return nil, 0, err
			}
			return cur, blobLinked, nil
		}
		// Looked up after the blob was found missing: a row still live
		// now was live then, ids are never reused, and its blob should
		// have been there.
		live, err := b.src.DB.FileByName(ctx, f.TechnicianID, f.Name)
		switch {
		case pmgsync.IsCode(err, pmgsync.ENOTFOUND):
			return nil, fileDeleted, nil
		case err != nil:
			return nil, 0, fmt.Errorf("look up the live version: %w", err)
		case live.Damage != "":
			return live, fileMarked, nil
		case live.ID == cur.ID:
			return cur, blobMissing, nil
		}
		cur = live
	}
	return nil, fileDeleted, nil // replaced over and over: left out as if deleted
}

// stage links the blob key into the staging directory unless it is there.
// ENOTFOUND if the blob does not exist.
func (b *builder) stage(ctx context.Context, key string) error {
	_, err := os.Lstat(b.st.path(key))
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return b.src.Blobs.Link(ctx, key, b.st.path(key))
}

func ref(tech string, f *pmgsync.File, problem string) FileRef {
	return FileRef{Technician: tech, Name: f.Name, Size: f.Size, SHA256: f.SHA256, BlobKey: f.BlobKey, Problem: problem}
}

// write writes the archive's entries to w.
func (b *builder) write(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, copyBuffer)
	gz, err := gzip.NewWriterLevel(bw, compression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	if b.list, err = newManifestWriter(b.st.path(manifestEntry), b.m); err != nil {
		return err
	}
	defer b.list.close()

	hdr, err := json.MarshalIndent(Header{
		Format: FormatName, FormatVersion: FormatVersion, PmgsyncVersion: b.m.PmgsyncVersion,
		CreatedAt: b.m.CreatedAt, BackupRun: b.m.BackupRun,
		Files: b.progress.TotalFiles, Bytes: b.progress.TotalBytes,
	}, "", "  ")
	if err != nil {
		return err
	}
	if err := b.entry(tw, headerEntry, b.m.CreatedAt, strings.NewReader(string(hdr)+"\n"), sha256Hex(append(hdr, '\n')), int64(len(hdr)+1)); err != nil {
		return err
	}
	b.report()

	if err := b.blobs(ctx, tw); err != nil {
		return err
	}
	if err := b.acme(tw); err != nil {
		return err
	}
	if err := b.database(ctx, tw); err != nil {
		return err
	}
	if err := b.manifest(tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if b.m.DamagedCount > 0 {
		return &DamagedError{Count: b.m.DamagedCount, Files: b.m.Damaged}
	}
	return nil
}

// blobs archives the blob of every row of the snapshot not marked
// damaged, checking it against the row first; a damaged one is left out,
// with its row.
func (b *builder) blobs(ctx context.Context, tw *tar.Writer) error {
	var damaged []int64
	err := b.snap.Files(ctx, func(tech string, f *pmgsync.File) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.Damage != "" {
			return nil
		}
		problem, err := b.blob(tw, f)
		if err != nil {
			return fmt.Errorf("archive %q of %q (blob %s): %w", f.Name, tech, f.BlobKey, err)
		}
		if problem != "" {
			damaged = append(damaged, f.ID)
			b.damaged(tech, f, problem)
			return nil
		}
		b.progress.Files++
		b.progress.Bytes += f.Size
		b.report()
		return nil
	})
	if err != nil {
		return err
	}
	if err := b.snap.DropFiles(ctx, damaged); err != nil {
		return err
	}
	b.m.Files, b.m.Bytes = b.progress.Files, b.progress.Bytes
	b.run.Files, b.run.Bytes = b.m.Files, b.m.Bytes
	return nil
}

// marked counts and lists f, already marked damaged, whose bytes are left
// out of the backup and whose row stays, marked.
func (b *builder) marked(tech string, f *pmgsync.File) {
	b.m.MarkedDamagedCount++
	if len(b.m.MarkedDamaged) < maxListed {
		b.m.MarkedDamaged = append(b.m.MarkedDamaged, ref(tech, f,
			fmt.Sprintf("marked %s on %s", f.Damage, f.DamagedAt.UTC().Format(time.RFC3339))))
	}
}

// damaged counts, lists and logs f, left out of the backup for problem.
func (b *builder) damaged(tech string, f *pmgsync.File, problem string) {
	b.m.DamagedCount++
	if len(b.m.Damaged) < maxListed {
		b.m.Damaged = append(b.m.Damaged, ref(tech, f, problem))
	}
	b.src.logger().Error("backup: DAMAGED FILE left out of the backup: its bytes are missing or do not match its record",
		"technician", tech, "file", f.Name, "blob", f.BlobKey, "problem", problem)
}

// blob archives f's linked blob if its size and SHA-256 are those
// recorded, and otherwise says what does not match.
func (b *builder) blob(tw *tar.Writer, f *pmgsync.File) (problem string, err error) {
	file, err := os.Open(b.st.path(f.BlobKey))
	if err != nil {
		return "", err
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return "", err
	}
	if fi.Size() != f.Size {
		return fmt.Sprintf("%d bytes on disk, %d recorded", fi.Size(), f.Size), nil
	}
	sum, err := b.openEntry(tw, blobEntry(f.BlobKey), f.UploadedAt, file, f.Size, f.SHA256)
	if err != nil {
		return "", err
	}
	if sum != f.SHA256 {
		return fmt.Sprintf("SHA-256 %s on disk, %s recorded", sum, f.SHA256), nil
	}
	return "", nil
}

// database archives the snapshot, once it holds the outcome of the run as
// it will be recorded if the archive completes (but for the archive's size,
// not known yet), so that a directory restored from it shows the backup it
// came from.
func (b *builder) database(ctx context.Context, tw *tar.Writer) error {
	techs, err := b.snap.Technicians(ctx)
	if err != nil {
		return err
	}
	b.m.Technicians = techs
	done := *b.run
	done.FinishedAt, done.Status = b.src.now(), pmgsync.BackupOK
	if b.m.DamagedCount > 0 {
		done.Status = pmgsync.BackupDamaged
		done.Error = (&DamagedError{Count: b.m.DamagedCount, Files: b.m.Damaged}).Error()
	}
	if err := b.snap.FinishBackupRun(ctx, &done); err != nil {
		return err
	}
	if err := b.snap.Close(); err != nil {
		return fmt.Errorf("close the snapshot: %w", err)
	}
	return b.fileEntry(tw, databaseEntry, b.snap.Path(), b.m.CreatedAt)
}

// manifest finishes the manifest and archives it.
func (b *builder) manifest(tw *tar.Writer) error {
	if err := b.list.finish(b.m); err != nil {
		return fmt.Errorf("write the manifest: %w", err)
	}
	return b.fileEntry(tw, manifestEntry, b.list.path, b.src.now())
}

// fileEntry archives the staging file at path as name: hashed first, then
// read again into the archive.
func (b *builder) fileEntry(tw *tar.Writer, name, path string, mtime time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = b.openEntry(tw, name, mtime, f, fi.Size(), "")
	return err
}

// openEntry archives f, open at its start and of size bytes, as name:
// hashed first, then read again from its start into the archive. If want
// is set and is not f's SHA-256, it archives nothing and returns no error:
// the caller tells by the SHA-256 it returns.
func (b *builder) openEntry(tw *tar.Writer, name string, mtime time.Time, f *os.File, size int64, want string) (sum string, err error) {
	if sum, err = b.hash(f); err != nil {
		return "", err
	}
	if want != "" && sum != want {
		return sum, nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	return sum, b.entry(tw, name, mtime, f, sum, size)
}

// hash returns the SHA-256 of what r yields.
func (b *builder) hash(r io.Reader) (string, error) {
	h := sha256.New()
	if _, err := io.CopyBuffer(h, r, b.buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// entry writes an entry of size bytes read from r, which must hash to sum,
// and lists it in the manifest. r yielding other bytes than it did when
// sum was computed fails the backup: the archive would vouch for them.
func (b *builder) entry(tw *tar.Writer, name string, mtime time.Time, r io.Reader, sum string, size int64) error {
	hdr := &tar.Header{
		Typeflag:   tar.TypeReg,
		Name:       name,
		Size:       size,
		Mode:       0o600,
		ModTime:    mtime.UTC().Truncate(time.Second),
		Format:     tar.FormatPAX,
		PAXRecords: map[string]string{paxSHA256: sum},
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tw, h), io.LimitReader(r, size), b.buf)
	if err != nil {
		return fmt.Errorf("write the archive: %w", err)
	}
	if n != size || hex.EncodeToString(h.Sum(nil)) != sum {
		return fmt.Errorf("%s changed while it was archived", name)
	}
	return b.list.add(Entry{Name: name, Size: size, SHA256: sum})
}

func (b *builder) report() {
	if b.opts.Progress != nil {
		b.opts.Progress(b.progress)
	}
}

func sha256Hex(p []byte) string {
	sum := sha256.Sum256(p)
	return hex.EncodeToString(sum[:])
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
