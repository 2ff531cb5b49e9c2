package backup

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The HTTPS server's ACME cache, DATA/acme/<CA host>/<name>: the account's
// key and the certificates with their keys, which golang.org/x/crypto's
// autocert writes (each by a rename of a whole new file, so a file read is
// one version of it). A backup holds them as entries acme/<host>/<name>,
// so that a restored server keeps its account and certificates instead of
// asking the CA again, whose rate limits (Let's Encrypt: 5 certificates
// for the same names a week) a few restores can exhaust.
const (
	acmeDir    = "acme"
	acmePrefix = acmeDir + "/"
	// maxACMEFile, maxACMEFiles and maxACMEBytes bound what a restore
	// accepts of the ACME cache, a few files of a few kilobytes.
	maxACMEFile  = 1 << 20
	maxACMEFiles = 1000
	maxACMEBytes = 16 << 20
)

// acme archives the regular files of DATA/acme/*/, in the order of their
// names. A file too large to be autocert's, or not a regular file, is left
// out with a warning; one that cannot be read fails the backup.
func (b *builder) acme(tw *tar.Writer) error {
	root := filepath.Join(b.src.Dir, acmeDir)
	hosts, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the ACME cache: %w", err)
	}
	for _, host := range hosts {
		if !host.IsDir() || !validACMEName(host.Name()) {
			b.src.logger().Warn("backup: not a CA's directory of the ACME cache, left out", "path", filepath.Join(root, host.Name()))
			continue
		}
		files, err := os.ReadDir(filepath.Join(root, host.Name()))
		if err != nil {
			return fmt.Errorf("read the ACME cache: %w", err)
		}
		for _, f := range files {
			path := filepath.Join(root, host.Name(), f.Name())
			if !f.Type().IsRegular() || !validACMEName(f.Name()) {
				b.src.logger().Warn("backup: not a file of the ACME cache, left out", "path", path)
				continue
			}
			body, err := readSmall(path, maxACMEFile)
			if errors.Is(err, fs.ErrNotExist) {
				continue // a temporary file of autocert, renamed meanwhile
			}
			if errors.Is(err, errTooLarge) {
				b.src.logger().Warn("backup: a file too large for the ACME cache, left out", "path", path)
				continue
			}
			if err != nil {
				return fmt.Errorf("read the ACME cache: %w", err)
			}
			fi, err := f.Info()
			if err != nil {
				return fmt.Errorf("read the ACME cache: %w", err)
			}
			name := acmePrefix + host.Name() + "/" + f.Name()
			if err := b.entry(tw, name, fi.ModTime(), bytes.NewReader(body), sha256Hex(body), int64(len(body))); err != nil {
				return err
			}
			b.m.ACMEFiles++
		}
	}
	return nil
}

var errTooLarge = errors.New("file too large")

// readSmall reads the regular file at path, without following a symbolic
// link, if it has at most limit bytes; errTooLarge if not.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge
	}
	return body, nil
}

// validACMEName reports whether name can be a directory or file name of
// the ACME cache in an archive: one path element, of a sane length.
func validACMEName(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= 255 && !strings.ContainsAny(name, "/\\\x00")
}

// acme extracts an entry acme/<host>/<name> to acme/<host>/<name>, with
// mode 0700 for the directories and 0600 for the file, as autocert makes
// them. The entries come by host, then by name, as a backup reads the
// directories.
func (x *extractor) acme(tr *tar.Reader, hdr *tar.Header, sum string) error {
	host, file, ok := strings.Cut(strings.TrimPrefix(hdr.Name, acmePrefix), "/")
	switch {
	case x.header.FormatVersion < 2 || x.database:
		return fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, hdr.Name)
	case !ok || !validACMEName(host) || !validACMEName(file):
		return fmt.Errorf("%w: unexpected entry %q", ErrCorrupt, hdr.Name)
	case host < x.acmeHost || host == x.acmeHost && file <= x.acmeFile:
		return fmt.Errorf("%w: entry %q is out of order", ErrCorrupt, hdr.Name)
	case hdr.Size > maxACMEFile || x.acmeFiles >= maxACMEFiles || hdr.Size > maxACMEBytes-x.acmeBytes:
		return fmt.Errorf("%w: entry %q (%d bytes) is beyond what an ACME cache holds", ErrCorrupt, hdr.Name, hdr.Size)
	}
	dir := filepath.Join(x.dir, acmeDir, host)
	if host != x.acmeHost {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		x.acmeDirs = append(x.acmeDirs, dir)
	}
	x.acmeHost, x.acmeFile = host, file
	if err := x.file(tr, hdr, sum, filepath.Join(dir, file)); err != nil {
		return err
	}
	x.acmeFiles++
	x.acmeBytes += hdr.Size
	return nil
}
