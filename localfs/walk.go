package localfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pmgsync/pmgsync"
)

// dirChunk is how many directory entries Walk and RemoveTemp read at a time,
// so that their memory stays bounded whatever the number of blobs.
const dirChunk = 512

// Walk calls fn for every committed blob, in no particular order, with its
// size and its commit time as ModTime. Temporary files and any file in the
// fan-out directories that is not a blob the store could have committed
// there are skipped. A blob deleted or committed while Walk runs may or may
// not be reported. Walk reads directories in chunks, so its memory does not
// grow with the number of blobs.
//
// It stops at fn's first error and returns it unwrapped; when ctx is done it
// stops before the next call of fn and returns an error wrapping ctx.Err().
func (s *Store) Walk(ctx context.Context, fn func(pmgsync.BlobInfo) error) error {
	for _, fan := range fanouts() {
		err := readDirChunks(ctx, "walk", filepath.Join(s.dir, fan), func(d fs.DirEntry) error {
			key := d.Name()
			if !ValidKey(key) || key[:2] != fan || !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted since the directory was read
			}
			if err != nil {
				return fmt.Errorf("localfs: walk: %w", err)
			}
			return fn(pmgsync.BlobInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// RemoveTemp removes the temporary files of writers that no longer run, the
// partial blobs of processes that died, and returns how many it removed.
// A file is removed only while RemoveTemp holds its flock, which a live
// writer in this or any other process keeps until Commit or Abort, so it is
// safe while other processes write blobs: the server calls it at start-up
// even though CLI commands may be writing at the same time. Files in tmp/
// whose names the store does not create are left alone. When ctx is done it
// stops and returns an error wrapping ctx.Err(), with the count so far.
func (s *Store) RemoveTemp(ctx context.Context) (removed int, err error) {
	err = readDirChunks(ctx, "remove temporary files", s.tmp, func(d fs.DirEntry) error {
		if !isTempName(d.Name()) || !d.Type().IsRegular() {
			return nil
		}
		ok, err := removeIfOrphan(filepath.Join(s.tmp, d.Name()))
		if err != nil {
			return fmt.Errorf("localfs: remove temporary files: %w", err)
		}
		if ok {
			removed++
		}
		return nil
	})
	return removed, err
}

// removeIfOrphan removes the temporary file at path if no live writer holds
// its lock, and reports whether it did. A file that disappears meanwhile
// (its writer committed or aborted) is not an error.
func removeIfOrphan(path string) (bool, error) {
	// O_NOFOLLOW: tmp/ holds only our regular files; never follow a link
	// planted there to lock or remove something else.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close() // releases our lock, after the removal
	// Either a live writer holds the lock, or the writer committed (renamed
	// the file away) and closed it between our open and our lock.
	if ours, err := lockTemp(f, path); err != nil || !ours {
		return false, err
	}
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// readDirChunks calls visit for each entry of directory dir, reading at most
// dirChunk entries at a time. It checks ctx before each visit and returns an
// error wrapping ctx.Err() once ctx is done. Its own errors are wrapped with
// op; visit's are returned unwrapped.
func readDirChunks(ctx context.Context, op, dir string, visit func(fs.DirEntry) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localfs: %s: %w", op, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("localfs: %s: %w", op, err)
	}
	defer d.Close()
	for {
		entries, rerr := d.ReadDir(dirChunk)
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("localfs: %s: %w", op, err)
			}
			if err := visit(e); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("localfs: %s: %w", op, rerr)
		}
	}
}
