package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// swapDir is the data directory of a swap, whose entries the swap reaches
// through an os.Root: no name, not even one that a planted journal gives,
// leads out of the directory.
type swapDir struct {
	path string // for messages
	root *os.Root
}

func openSwapDir(path string) (*swapDir, error) {
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, err
	}
	return &swapDir{path: path, root: root}, nil
}

func (d *swapDir) Close() error { return d.root.Close() }

// join returns the path of name, in the directory, for messages.
func (d *swapDir) join(name ...string) string {
	return filepath.Join(append([]string{d.path}, name...)...)
}

// lexists reports whether name is an entry (a symbolic link included).
func (d *swapDir) lexists(name string) (bool, error) {
	_, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// sync makes the entries of the directory name durable.
func (d *swapDir) sync(name string) error {
	f, err := d.root.Open(name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ownDir reports whether name is an entry, and fails if it is one but not
// a directory of the current user's: a swap moves entries through no
// other, for one that a symbolic link or another user put there could
// lead elsewhere.
func (d *swapDir) ownDir(name string) (bool, error) {
	fi, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, fmt.Errorf("%q is %s, not a directory", d.join(name), kind(fi.Mode()))
	}
	if uid := owner(fi); uid != os.Geteuid() {
		return false, fmt.Errorf("%q belongs to user %d, not to this process's user %d", d.join(name), uid, os.Geteuid())
	}
	return true, nil
}

// kind describes the type of a file of mode m.
func kind(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "a regular file"
	case fs.ModeDir:
		return "a directory"
	case fs.ModeSymlink:
		return "a symbolic link"
	case fs.ModeNamedPipe:
		return "a named pipe"
	case fs.ModeSocket:
		return "a socket"
	}
	return "a device"
}

// owner returns the uid of the owner of the file fi describes.
func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// moveOnce renames from to to, unless that was done before a crash: from
// is gone, to is there. That both or neither are there is an error: the
// directory changed under the swap.
func (d *swapDir) moveOnce(from, to string) error {
	done, err := d.lexists(to)
	if err != nil {
		return err
	}
	if done {
		if left, err := d.lexists(from); err != nil || left {
			if err == nil {
				err = fmt.Errorf("cannot move %q to %q: both exist", d.join(from), d.join(to))
			}
			return err
		}
		return nil
	}
	if err := d.root.Rename(from, to); err != nil {
		return fmt.Errorf("move %q to %q: %w", d.join(from), d.join(to), err)
	}
	return nil
}
