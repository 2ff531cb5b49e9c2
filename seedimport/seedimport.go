// Package seedimport imports the data of the server that pmgsync replaces,
// so that every app in the field keeps working with its old token and finds
// its reports.
//
// The old server kept the bytes of each report at uploads/{token}/{filename}
// and its tokens in a Python dict, TOKENS_VALIDOS, in its code. The import
// reads that dict written out as a text file, one "TOKEN NAME" a line, and
// the uploads directory. Each token is stored unchanged (hashed, like every
// token) for the technician NAME, created if needed; each regular file in
// uploads/{token}/ becomes that technician's report, uploaded at the file's
// modification time, so that retention goes on where it was. Nothing else is
// followed or imported: symbolic links, nested directories and directories
// of tokens not in the file are reported and skipped, as are names that
// break the upload rules. An import can be run again: what is already there
// is left as it is.
package seedimport

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/engine"
	"github.com/pmgsync/pmgsync/names"
)

// Run imports the tokens listed in tokensFile and the files under
// uploadsDir into eng, writing a line per token to progress (which may be
// nil). The returned Report says what was imported, what was already there
// and what was left out and why. The error is non-nil if the tokens file or
// the uploads directory cannot be read (then nothing is imported), if ctx
// is done, or if some entries could not be read or stored (then everything
// else is imported and Report.Failures lists them). Rejected entries are not
// an error.
func Run(ctx context.Context, eng *engine.Engine, uploadsDir, tokensFile string, progress io.Writer) (Report, error) {
	var rep Report
	if progress == nil {
		progress = io.Discard
	}
	f, err := os.Open(tokensFile)
	if err != nil {
		return rep, fmt.Errorf("open the tokens file: %w", err)
	}
	lines, err := parseTokens(f, &rep)
	f.Close()
	if err != nil {
		return rep, fmt.Errorf("read the tokens file %s: %w", tokensFile, err)
	}
	entries, err := os.ReadDir(uploadsDir)
	if err != nil {
		return rep, fmt.Errorf("read the uploads directory: %w", err)
	}
	// Directories are looked up by the names ReadDir returned, never by
	// joining a token read from the file into a path.
	dirs := make(map[string]fs.DirEntry, len(entries))
	for _, d := range entries {
		dirs[d.Name()] = d
	}

	im := &importer{eng: eng, uploads: uploadsDir, rep: &rep, progress: progress, names: make(map[int64]map[string]string)}
	for _, tl := range lines {
		d := dirs[tl.token]
		delete(dirs, tl.token)
		if err := im.importToken(ctx, tl, d); err != nil {
			return rep, err
		}
	}
	for _, d := range entries {
		if _, left := dirs[d.Name()]; !left {
			continue
		}
		where := "uploads entry " + strconv.Quote(d.Name())
		if d.IsDir() {
			rep.reject(where, "no token in the tokens file has this name; skipped")
		} else {
			rep.reject(where, "not a token directory; skipped")
		}
	}
	if n := len(rep.Failures); n > 0 {
		return rep, fmt.Errorf("%d item(s) could not be read or stored; see the report", n)
	}
	return rep, nil
}

// importer holds the state of one Run.
type importer struct {
	eng      *engine.Engine
	uploads  string
	rep      *Report
	progress io.Writer
	// names maps, per technician id, each stored name that a file of this
	// run was imported under, or found present under, to the name of that
	// file, so that two files that become one name (an NFD and an NFC
	// spelling, or one name in two token directories of the same
	// technician) are reported instead of silently dropped.
	names map[int64]map[string]string
}

// counts are the outcomes of the files of one token directory.
type counts struct{ imported, present, rejected, failed int }

func (c counts) String() string {
	s := fmt.Sprintf("%d file(s) imported, %d already present", c.imported, c.present)
	if c.rejected > 0 {
		s += fmt.Sprintf(", %d rejected", c.rejected)
	}
	if c.failed > 0 {
		s += fmt.Sprintf(", %d could not be read", c.failed)
	}
	return s
}

// importToken imports one token and, if d is its upload directory (it may
// be nil), its files. It returns only ctx's error.
func (im *importer) importToken(ctx context.Context, tl tokenLine, d fs.DirEntry) error {
	where := fmt.Sprintf("tokens file, line %d", tl.line)
	imported, tech, err := im.eng.ImportToken(ctx, tl.token, tl.technician)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var reason string
		switch pmgsync.ErrorCode(err) {
		case pmgsync.EINTERNAL:
			im.rep.fail(where, err)
			fmt.Fprintf(im.progress, "line %d: the token could not be stored\n", tl.line)
			return nil
		case pmgsync.ECONFLICT:
			reason = "the token already belongs to another technician"
		default:
			reason = pmgsync.ErrorMessage(pmgsync.English, err)
		}
		if d != nil {
			reason += "; its upload directory was skipped"
		}
		im.rep.reject(where, reason)
		fmt.Fprintf(im.progress, "line %d: token rejected\n", tl.line)
		return nil
	}
	state := "already present"
	if imported {
		im.rep.TokensImported++
		state = "imported"
	} else {
		im.rep.TokensPresent++
	}

	var files string
	switch {
	case d == nil:
		files = "no upload directory"
	case d.Type()&fs.ModeSymlink != 0:
		im.rep.reject(fmt.Sprintf("%s: upload directory", tech.Name), "symbolic link; not followed")
		files = "upload directory rejected"
	case !d.IsDir():
		im.rep.reject(fmt.Sprintf("%s: upload directory", tech.Name), "not a directory; skipped")
		files = "upload directory rejected"
	default:
		c, err := im.importDir(ctx, tech, filepath.Join(im.uploads, d.Name()))
		if err != nil {
			return err
		}
		files = c.String()
	}
	fmt.Fprintf(im.progress, "%s (line %d): token %s; %s\n", tech.Name, tl.line, state, files)
	return nil
}

// importDir imports the entries of dir, one token's upload directory, for
// tech. It returns only ctx's error.
func (im *importer) importDir(ctx context.Context, tech *pmgsync.Technician, dir string) (counts, error) {
	var c counts
	entries, err := os.ReadDir(dir)
	if err != nil {
		im.rep.fail(fmt.Sprintf("%s: upload directory", tech.Name), err)
		c.failed++
		return c, nil
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		im.importEntry(ctx, tech, dir, e, &c)
	}
	return c, ctx.Err()
}

// replacedMidway is the reason to reject a file that is not the one ReadDir
// listed any more.
const replacedMidway = "the file was replaced while being imported; import again"

// importEntry imports one entry of a token directory, counting the outcome.
func (im *importer) importEntry(ctx context.Context, tech *pmgsync.Technician, dir string, e fs.DirEntry, c *counts) {
	where := fmt.Sprintf("%s: file %s", tech.Name, strconv.Quote(e.Name()))
	reject := func(reason string) {
		im.rep.reject(where, reason)
		c.rejected++
	}
	fail := func(err error) {
		im.rep.fail(where, err)
		c.failed++
	}
	switch t := e.Type(); {
	case t&fs.ModeSymlink != 0:
		reject("symbolic link; not followed")
		return
	case t.IsDir():
		where = fmt.Sprintf("%s: directory %s", tech.Name, strconv.Quote(e.Name()))
		reject("nested directory; skipped (the old server kept files only at the top of a token directory)")
		return
	case !t.IsRegular():
		reject("not a regular file; skipped")
		return
	}
	// An upload named `a\b.xlsx` is stored as "b.xlsx" (phones and Windows
	// send paths); importing this file under a name its owner never used
	// could replace another report.
	if strings.Contains(e.Name(), `\`) {
		reject(`the name contains a backslash, which the server takes for a folder separator; rename the file and import again`)
		return
	}
	name, err := names.FromUpload(e.Name())
	if err != nil {
		reject(pmgsync.ErrorMessage(pmgsync.English, err))
		return
	}
	if im.names[tech.ID] == nil {
		im.names[tech.ID] = make(map[string]string)
	}
	if from, dup := im.names[tech.ID][name]; dup {
		reject(fmt.Sprintf("the same name, once Unicode-normalised, as the technician's file %s, imported first (spelled %s and %s); skipped",
			strconv.Quote(from), strconv.QuoteToASCII(from), strconv.QuoteToASCII(e.Name())))
		return
	}

	path := filepath.Join(dir, e.Name())
	info, err := os.Lstat(path)
	if err != nil {
		fail(err)
		return
	}
	if !info.Mode().IsRegular() { // replaced since ReadDir; opening a FIFO would block
		reject(replacedMidway)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		fail(err)
		return
	}
	defer f.Close()
	if opened, err := f.Stat(); err != nil {
		fail(err)
		return
	} else if !os.SameFile(info, opened) {
		reject(replacedMidway)
		return
	}
	// A failed read of f comes back as an internal error (the engine only
	// calls a read error the client's when the reader says so): reported as
	// a failure of this file, not as a rejected name.
	file, imported, err := im.eng.ImportFile(ctx, tech, e.Name(), f, info.ModTime())
	if err == nil {
		// Only a file the technician now has makes its twins duplicates: a
		// twin of one that failed or was rejected may take its place.
		im.names[tech.ID][name] = e.Name()
	}
	switch {
	case err == nil && imported:
		c.imported++
		im.rep.FilesImported++
		im.rep.BytesImported += file.Size
	case err == nil:
		c.present++
		im.rep.FilesPresent++
	case ctx.Err() != nil:
		// importDir returns ctx's error.
	case pmgsync.ErrorCode(err) != pmgsync.EINTERNAL:
		reject(pmgsync.ErrorMessage(pmgsync.English, err))
	default:
		fail(err)
	}
}
