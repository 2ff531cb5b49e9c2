package backup

import (
	"archive/tar"
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/fsutil"
	"github.com/pmgsync/pmgsync/localfs"
	"github.com/pmgsync/pmgsync/sqlite"
	"github.com/pmgsync/pmgsync/units"
)

// RestoreOptions say how to restore a backup.
type RestoreOptions struct {
	// Force restores into a directory that is not empty: its contents are
	// moved aside, whole, into DIR/.before-restore-YYYYMMDD-HHMMSS, never
	// deleted.
	Force bool
	// Source names the archive in the restored directory's audit trail.
	Source string
	// Now is the clock of the audit record and of the name of the
	// directory moved aside; time.Now if nil.
	Now func() time.Time
	// Progress, if not nil, is called as the files are restored.
	Progress func(Progress)

	hooks swapHooks // for tests: none in production
}

// Restored is the outcome of a restore.
type Restored struct {
	// Manifest is the archive's manifest, without its entries.
	Manifest *Manifest
	// MovedAside is the directory, inside the data directory, where its
	// previous contents went ("" if it did not exist or was empty).
	MovedAside string
	// Resumed says that the directory held a restore interrupted while it
	// put its entries in place, which Restore finished before its own.
	Resumed bool
}

// Restore restores the backup read from r into the data directory dir,
// which must not exist, or be empty (but for a file system's lost+found
// and what earlier restores moved aside), unless opts.Force is set.
//
// It creates dir and its parents (mode 0700) if they do not exist, and
// holds an exclusive lock on dir while it runs, which the server and the
// administration commands hold shared while they use it (see Use):
// ErrInUse if one of them is running on dir; and none of them starts on
// dir meanwhile.
//
// It extracts the archive inside dir, into DIR/.restore-*, checking each
// entry against its SHA-256 as it reads it, the whole against the
// manifest, and the database's files against the blobs; it migrates the
// database to this pmgsync's schema and records the restore in the
// restored audit trail (ActionRestore, with the actor of ctx). Only when
// all of that has succeeded and is durable does it put the restored
// entries in place of dir's (moved into DIR/.before-restore-*, with
// Force), by renames within dir: dir itself is never renamed nor removed,
// so it may be a mount point. An entry of dir that cannot be moved (a
// mount point, a directory the user cannot write) makes it fail, and put
// back those it moved. On any failure before all of dir's entries are
// aside, it removes what it extracted (and dir and its parents, those it
// created), and dir is as it was. The renames are journaled: if the process dies among
// them, the next restore or Use on dir puts dir's entries back, or, once
// they were all aside, puts the restored ones in (see swap.go).
//
// Errors wrap ErrNotBackup, ErrCorrupt, ErrTruncated, ErrTooNew,
// ErrNotEmpty or ErrInUse when that is the reason, with a message that
// says more; any other error is the machine's (a full disk, which wraps
// syscall.ENOSPC when the archive's header declares more than the disk
// has free…).
func Restore(ctx context.Context, r io.Reader, dir string, opts RestoreOptions) (_ *Restored, err error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	created, err := makeDir(dir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	lock, ok, err := lockDir(dir, syscall.LOCK_EX)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("restore: %s: %w (the server, a command or another restore): stop it first", dir, ErrInUse)
	}
	committed := false
	defer func() {
		if !committed {
			removeDirs(created) // empty again, as they were not there
		}
		lock.Close()
	}()

	d, err := openSwapDir(dir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer d.Close()
	res := &Restored{}
	earlier, err := recoverSwap(d, swapHooks{})
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	res.Resumed = earlier == recoveredFinished
	defer func() {
		switch {
		case err == nil:
		case earlier == recoveredFinished:
			err = fmt.Errorf("%w; before that, it finished an earlier restore into %s, which had been interrupted "+
				"while it put its entries in place", err, dir)
		case earlier == recoveredUndone:
			err = fmt.Errorf("%w; before that, it undid an earlier restore into %s, which had been interrupted "+
				"before its commit point: the directory's entries are back in place", err, dir)
		}
	}()
	if err := removeStaleRestores(d); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	old, err := dataEntries(dir)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if len(old) > 0 && !opts.Force {
		return nil, fmt.Errorf("restore: %s: %w: restore into a new directory, or use --force to move its contents aside", dir, ErrNotEmpty)
	}

	tmp, err := makeExtractionDir(dir)
	if err != nil {
		return nil, fmt.Errorf("restore: create a directory in %s: %w", dir, err)
	}
	defer func() {
		if !committed {
			os.RemoveAll(tmp)
		}
	}()
	x := &extractor{ctx: ctx, dir: tmp, opts: opts, buf: make([]byte, copyBuffer), digest: newListDigest()}
	defer x.closeList()
	m, err := x.extract(r)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := x.checkDatabase(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := x.record(m); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := x.syncDirs(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	res.Manifest = m

	j := &journal{Tmp: filepath.Base(tmp), Old: old}
	if j.New, err = dataEntries(tmp); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if len(old) > 0 {
		if j.Aside, err = asideName(dir, opts.Now()); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		res.MovedAside = filepath.Join(dir, j.Aside)
	}
	// The entries to move aside were listed before the extraction: a
	// change since would leave an entry among the restored ones, or have
	// one missing when it is moved.
	if now, err := dataEntries(dir); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	} else if !slices.Equal(now, old) {
		return nil, fmt.Errorf("restore: the entries of %s changed while the restore ran (%q, then %q): "+
			"nothing was changed; stop whatever writes there, and restore again", dir, old, now)
	}
	committed, err = swapIn(d, j, opts.hooks)
	if err != nil && committed {
		return res, fmt.Errorf("restore: the restore is committed, its data complete and checked, but not all of it is in place: %w; "+
			"once that is fixed, the next pmgsync command on %s (the server's start, or a restore into it) puts the rest in place", err, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return res, nil
}

// makeDir creates the directory dir, and those of its parents that do
// not exist, with mode 0700, and returns those it created, the farthest
// first. It fails if dir exists and is not a directory.
func makeDir(dir string) ([]string, error) {
	var missing []string
	for p := dir; ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(p) == p {
			return nil, err
		}
		missing = append(missing, p)
	}
	var created []string
	for _, p := range slices.Backward(missing) {
		if err := os.Mkdir(p, 0o700); err == nil {
			created = append(created, p)
		} else if !errors.Is(err, fs.ErrExist) { // not made meanwhile by another
			removeDirs(created)
			return nil, err
		}
	}
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = fmt.Errorf("%s is not a directory", dir)
	}
	if err != nil {
		removeDirs(created)
		return nil, err
	}
	return created, nil
}

// removeDirs removes the directories that makeDir created, the nearest
// first, as long as they are empty.
func removeDirs(created []string) {
	for _, p := range slices.Backward(created) {
		if os.Remove(p) != nil {
			return
		}
	}
}

// blobList is the file among the restored data, removed before it is put
// in place, that lists the blobs extracted, in order, for checkDatabase.
const blobList = "restore-blobs.list"

// extractor extracts one archive into dir.
type extractor struct {
	ctx    context.Context
	dir    string
	opts   RestoreOptions
	buf    []byte
	digest *listDigest // of the entries extracted, as the manifest lists them
	header Header

	progress Progress
	lastKey  string
	fanouts  [256]bool // blobs/kk directories created
	list     *bufio.Writer
	listFile *os.File
	database bool

	// The ACME cache's entries extracted: the last one's host and name,
	// the directories created, how many and their size.
	acmeHost, acmeFile   string
	acmeDirs             []string
	acmeFiles, acmeBytes int64
}

// extract reads and checks the whole archive and returns its manifest.
func (x *extractor) extract(r io.Reader) (*Manifest, error) {
	// gzip reads br itself, an io.ByteReader, without a buffer of its own
	// that would read past the end of its stream: what br holds after the
	// stream is what follows it in the input.
	br := bufio.NewReaderSize(&source{ctx: x.ctx, r: r}, copyBuffer)
	gz, err := gzip.NewReader(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the input is empty", ErrNotBackup)
		}
		if errors.Is(err, gzip.ErrHeader) {
			return nil, fmt.Errorf("%w: it is not gzip-compressed", ErrNotBackup)
		}
		return nil, readErr("the archive", err)
	}
	gz.Multistream(false)
	tr := tar.NewReader(gz)
	if err := x.readHeader(tr); err != nil {
		return nil, err
	}
	if err := x.openList(); err != nil {
		return nil, err
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: it ends before its manifest (%d of %d files read)", ErrTruncated, x.progress.Files, x.header.Files)
		}
		if err != nil {
			return nil, readErr("the entry after "+x.lastName(), err)
		}
		if len(hdr.Name) > maxEntryName {
			return nil, fmt.Errorf("%w: the name of the entry after %s is %d bytes long", ErrCorrupt, x.lastName(), len(hdr.Name))
		}
		sum, err := entrySum(hdr)
		if err != nil {
			return nil, err
		}
		switch {
		case strings.HasPrefix(hdr.Name, blobPrefix):
			err = x.blob(tr, hdr, sum)
		case strings.HasPrefix(hdr.Name, acmePrefix):
			err = x.acme(tr, hdr, sum)
		case hdr.Name == databaseEntry && !x.database:
			x.database = true
			if err = x.checkSpace(hdr.Size, "its database"); err == nil {
				err = x.file(tr, hdr, sum, filepath.Join(x.dir, databaseEntry))
			}
		case hdr.Name == manifestEntry && x.database:
			return x.manifest(tr, gz, br, hdr, sum)
		default:
			err = fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, hdr.Name)
		}
		if err != nil {
			return nil, err
		}
	}
}

func (x *extractor) lastName() string {
	switch {
	case x.database:
		return databaseEntry
	case x.lastKey != "":
		return blobEntry(x.lastKey)
	}
	return headerEntry
}

// readHeader reads and checks the archive's first entry.
func (x *extractor) readHeader(tr *tar.Reader) error {
	hdr, err := tr.Next()
	if err == io.EOF {
		return fmt.Errorf("%w: the archive is empty", ErrNotBackup)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return readErr("its first entry", err)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotBackup, err)
	}
	if len(hdr.Name) > maxEntryName {
		return fmt.Errorf("%w: the name of its first entry is %d bytes long", ErrNotBackup, len(hdr.Name))
	}
	if hdr.Name != headerEntry {
		return fmt.Errorf("%w: its first entry is %q, not %s", ErrNotBackup, hdr.Name, headerEntry)
	}
	sum, err := entrySum(hdr)
	if err != nil {
		return err
	}
	const maxHeader = 1 << 20
	if hdr.Size > maxHeader {
		return fmt.Errorf("%w: its header is %d bytes long", ErrCorrupt, hdr.Size)
	}
	body, err := io.ReadAll(tr)
	if err != nil {
		return readErr(headerEntry, err)
	}
	if sha256Hex(body) != sum {
		return fmt.Errorf("%w: %s does not match its SHA-256", ErrCorrupt, headerEntry)
	}
	if err := json.Unmarshal(body, &x.header); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, headerEntry, err)
	}
	if x.header.Format != FormatName {
		return fmt.Errorf("%w: its format is %q", ErrNotBackup, x.header.Format)
	}
	if x.header.FormatVersion > FormatVersion || x.header.FormatVersion < 1 {
		return fmt.Errorf("%w: its format version is %d, and this pmgsync reads version %d: restore it with pmgsync %s or later",
			ErrTooNew, x.header.FormatVersion, FormatVersion, x.header.PmgsyncVersion)
	}
	if x.header.Files < 0 || x.header.Bytes < 0 {
		return fmt.Errorf("%w: its header declares %d files, %d bytes", ErrCorrupt, x.header.Files, x.header.Bytes)
	}
	if err := x.checkSpace(x.header.Bytes, "its files"); err != nil {
		return err
	}
	x.digest.add(Entry{Name: headerEntry, Size: hdr.Size, SHA256: sum})
	x.progress.TotalFiles, x.progress.TotalBytes = x.header.Files, x.header.Bytes
	x.report()
	return nil
}

// entrySum returns the SHA-256 that the entry's header records.
func entrySum(hdr *tar.Header) (string, error) {
	if hdr.Typeflag != tar.TypeReg {
		return "", fmt.Errorf("%w: entry %q is not a regular file", ErrCorrupt, hdr.Name)
	}
	sum := hdr.PAXRecords[paxSHA256]
	if len(sum) != sha256.Size*2 || strings.ToLower(sum) != sum {
		return "", fmt.Errorf("%w: entry %q has no SHA-256", ErrCorrupt, hdr.Name)
	}
	if _, err := hex.DecodeString(sum); err != nil {
		return "", fmt.Errorf("%w: entry %q has no SHA-256", ErrCorrupt, hdr.Name)
	}
	return sum, nil
}

// closeList closes the list of blobs if checkDatabase did not.
func (x *extractor) closeList() {
	if x.listFile != nil {
		x.listFile.Close()
	}
}

func (x *extractor) openList() error {
	f, err := os.OpenFile(filepath.Join(x.dir, blobList), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	x.listFile, x.list = f, bufio.NewWriter(f)
	return nil
}

// blob extracts a blob entry to blobs/kk/<key>.
func (x *extractor) blob(tr *tar.Reader, hdr *tar.Header, sum string) error {
	if x.database || x.acmeFiles > 0 {
		return fmt.Errorf("%w: blob entry %q after the database", ErrCorrupt, hdr.Name)
	}
	rest := strings.TrimPrefix(hdr.Name, blobPrefix)
	fan, key, ok := strings.Cut(rest, "/")
	if !ok || !localfs.ValidKey(key) || fan != key[:2] {
		return fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, hdr.Name)
	}
	if key <= x.lastKey {
		return fmt.Errorf("%w: entry %q is out of order", ErrCorrupt, hdr.Name)
	}
	// The header's totals bound what is written, so that an archive that
	// holds more than it declares, such as a small one that expands into
	// gigabytes of zeros, is refused before it fills the disk.
	if x.progress.Files >= x.header.Files || hdr.Size > x.header.Bytes-x.progress.Bytes {
		return fmt.Errorf("%w: entry %q (%d bytes) is beyond the %d files, %d bytes its header declares",
			ErrCorrupt, hdr.Name, hdr.Size, x.header.Files, x.header.Bytes)
	}
	x.lastKey = key
	fanDir := filepath.Join(x.dir, "blobs", fan)
	if i, _ := strconv.ParseUint(fan, 16, 8); !x.fanouts[i] {
		if err := os.MkdirAll(fanDir, 0o700); err != nil {
			return err
		}
		x.fanouts[i] = true
	}
	if err := x.file(tr, hdr, sum, filepath.Join(fanDir, key)); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(x.list, "%s %s %d\n", key, sum, hdr.Size); err != nil {
		return err
	}
	x.progress.Files++
	x.progress.Bytes += hdr.Size
	x.report()
	return nil
}

// file extracts the current entry to path, checks it against sum and makes
// it durable.
func (x *extractor) file(tr *tar.Reader, hdr *tar.Header, sum, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(io.MultiWriter(f, h), tr, x.buf); err != nil {
		return readErr(hdr.Name, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		return fmt.Errorf("%w: entry %q does not match its SHA-256", ErrCorrupt, hdr.Name)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	x.digest.add(Entry{Name: hdr.Name, Size: hdr.Size, SHA256: sum})
	return nil
}

// manifest reads the manifest, checks the archive against it and checks
// that nothing follows it.
func (x *extractor) manifest(tr *tar.Reader, gz *gzip.Reader, br *bufio.Reader, hdr *tar.Header, sum string) (*Manifest, error) {
	if limit := maxManifestSize(x.digest.n); hdr.Size > limit {
		return nil, fmt.Errorf("%w: its manifest is %d bytes long, more than its %d entries need", ErrCorrupt, hdr.Size, x.digest.n)
	}
	h := sha256.New()
	m, listed, err := readManifest(io.TeeReader(tr, h))
	if err != nil {
		var re *readError
		if errors.As(err, &re) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, readErr(manifestEntry, err)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, manifestEntry, err)
	}
	if _, err := io.Copy(h, tr); err != nil {
		return nil, readErr(manifestEntry, err)
	}
	if hex.EncodeToString(h.Sum(nil)) != sum {
		return nil, fmt.Errorf("%w: %s does not match its SHA-256", ErrCorrupt, manifestEntry)
	}
	if _, err := tr.Next(); err != io.EOF {
		if err == nil {
			return nil, fmt.Errorf("%w: an entry follows the manifest", ErrCorrupt)
		}
		return nil, readErr("the end of the archive", err)
	}
	// The end of the gzip stream carries its CRC-32 and length.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, readErr("the end of the archive", err)
	}
	switch _, err := br.ReadByte(); {
	case err == nil:
		return nil, fmt.Errorf("%w: data follows the end of the archive", ErrCorrupt)
	case err != io.EOF:
		return nil, readErr("the end of the archive", err)
	}
	switch {
	case listed.n != x.digest.n || listed.sum() != x.digest.sum():
		return nil, fmt.Errorf("%w: its entries are not those its manifest lists", ErrCorrupt)
	case m.Format != FormatName || m.FormatVersion != x.header.FormatVersion || !m.CreatedAt.Equal(x.header.CreatedAt) ||
		m.BackupRun != x.header.BackupRun:
		return nil, fmt.Errorf("%w: its manifest does not match its header", ErrCorrupt)
	case m.Files != x.progress.Files || m.Bytes != x.progress.Bytes:
		return nil, fmt.Errorf("%w: it holds %d files (%d bytes), its manifest says %d (%d bytes)",
			ErrCorrupt, x.progress.Files, x.progress.Bytes, m.Files, m.Bytes)
	case m.ACMEFiles != x.acmeFiles:
		return nil, fmt.Errorf("%w: it holds %d files of the ACME cache, its manifest says %d", ErrCorrupt, x.acmeFiles, m.ACMEFiles)
	}
	if err := x.list.Flush(); err != nil {
		return nil, err
	}
	return m, nil
}

// checkDatabase checks that the restored database's files are exactly the
// restored blobs, with the recorded sizes and SHA-256, by walking both in
// the order of blob keys. A file marked damaged may lack its blob: a
// backup leaves it out.
func (x *extractor) checkDatabase() error {
	if _, err := x.listFile.Seek(0, io.SeekStart); err != nil {
		return err
	}
	list := &blobLines{s: bufio.NewScanner(x.listFile)}
	snap, err := sqlite.OpenSnapshot(filepath.Join(x.dir, databaseEntry))
	if err != nil {
		return err
	}
	defer snap.Close()
	err = snap.Files(x.ctx, func(tech string, f *pmgsync.File) error {
		b, ok, err := list.peek()
		if err != nil {
			return err
		}
		switch {
		case ok && b.key < f.BlobKey:
			return fmt.Errorf("%w: blob %s belongs to no file of its database", ErrCorrupt, b.key)
		case !ok || b.key > f.BlobKey:
			if f.Damage != "" {
				return nil
			}
			return fmt.Errorf("%w: %q of %q has no content in the archive", ErrCorrupt, f.Name, tech)
		case b.sum != f.SHA256 || b.size != f.Size:
			return fmt.Errorf("%w: the content of %q of %q is not what its database records", ErrCorrupt, f.Name, tech)
		}
		list.next()
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("%w: check its database: %v", ErrCorrupt, err)
	}
	if b, ok, err := list.peek(); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: blob %s belongs to no file of its database", ErrCorrupt, b.key)
	}
	err = x.listFile.Close()
	x.listFile = nil
	if err != nil {
		return err
	}
	return os.Remove(filepath.Join(x.dir, blobList))
}

// blobLines reads the list of the blobs extracted, one line ahead.
type blobLines struct {
	s      *bufio.Scanner
	line   blobLine
	peeked bool
}

type blobLine struct {
	key, sum string
	size     int64
}

// peek returns the next blob of the list without consuming it; false at
// the end of the list.
func (l *blobLines) peek() (blobLine, bool, error) {
	if l.peeked {
		return l.line, true, nil
	}
	if !l.s.Scan() {
		return blobLine{}, false, l.s.Err()
	}
	if _, err := fmt.Sscanf(l.s.Text(), "%s %s %d", &l.line.key, &l.line.sum, &l.line.size); err != nil {
		return blobLine{}, false, err
	}
	l.peeked = true
	return l.line, true, nil
}

// next consumes the blob that peek returned.
func (l *blobLines) next() { l.peeked = false }

// record migrates the restored database to this pmgsync's schema and
// records the restore in its audit trail.
func (x *extractor) record(m *Manifest) error {
	db, err := sqlite.Open(x.ctx, filepath.Join(x.dir, databaseEntry), x.opts.Now)
	if errors.Is(err, sqlite.ErrSchemaTooNew) {
		return fmt.Errorf("%w: %v; restore it with pmgsync %s or later", ErrTooNew, err, m.PmgsyncVersion)
	}
	if err != nil {
		return fmt.Errorf("open the restored database: %w", err)
	}
	detail := fmt.Sprintf("from %s: backup run #%d of %s by pmgsync %s: %d files, %d bytes, %d technicians",
		x.opts.Source, m.BackupRun, m.CreatedAt.UTC().Format(time.RFC3339), m.PmgsyncVersion, m.Files, m.Bytes, m.Technicians)
	if m.DroppedCount > 0 || m.DamagedCount > 0 {
		detail += fmt.Sprintf("; left out of the backup: %d files deleted while it ran, %d damaged files", m.DroppedCount, m.DamagedCount)
	}
	if m.MarkedDamagedCount > 0 {
		detail += fmt.Sprintf("; %d files marked damaged, without their bytes", m.MarkedDamagedCount)
	}
	ev := &pmgsync.AuditEvent{Action: pmgsync.ActionRestore, Size: m.Bytes, Result: "ok", Detail: detail}
	ev.SetActor(pmgsync.ActorFrom(x.ctx))
	err = db.AppendAudit(x.ctx, ev)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("record the restore in the audit trail: %w", err)
	}
	return nil
}

// syncDirs makes the restored directories' entries durable (the files
// were fsynced as they were written).
func (x *extractor) syncDirs() error {
	for _, dir := range x.acmeDirs {
		if err := fsutil.SyncDir(dir); err != nil {
			return err
		}
	}
	if len(x.acmeDirs) > 0 {
		if err := fsutil.SyncDir(filepath.Join(x.dir, acmeDir)); err != nil {
			return err
		}
	}
	for i, made := range x.fanouts {
		if made {
			if err := fsutil.SyncDir(filepath.Join(x.dir, "blobs", fmt.Sprintf("%02x", i))); err != nil {
				return err
			}
		}
	}
	if _, err := os.Stat(filepath.Join(x.dir, "blobs")); err == nil {
		if err := fsutil.SyncDir(filepath.Join(x.dir, "blobs")); err != nil {
			return err
		}
	}
	return fsutil.SyncDir(x.dir)
}

// checkSpace fails, wrapping syscall.ENOSPC, if the file system of the
// restored directory has less than n bytes free for what.
func (x *extractor) checkSpace(n int64, what string) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(x.dir, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: x.dir, Err: err}
	}
	if free := int64(st.Bavail) * st.Bsize; n > free {
		return fmt.Errorf("%s take %s, and only %s are free there: %w", what, units.FormatSize(n), units.FormatSize(free), syscall.ENOSPC)
	}
	return nil
}

func (x *extractor) report() {
	if x.opts.Progress != nil {
		x.opts.Progress(x.progress)
	}
}

// source reads the archive, stopping when ctx is done, and marks its
// errors as the input's (readError), so that they are told apart from
// the errors of writing the restored files.
type source struct {
	ctx context.Context
	r   io.Reader
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// readErr describes an error met reading what: the end of the input is a
// truncated archive, a damaged stream a corrupt one.
func readErr(what string, err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: it ends in the middle of %s", ErrTruncated, what)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &corrupt),
		errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrInsecurePath):
		return fmt.Errorf("%w: reading %s: %v", ErrCorrupt, what, err)
	}
	return fmt.Errorf("read %s: %w", what, err)
}
