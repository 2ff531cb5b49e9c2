package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pmgsync/pmgsync/fsutil"
)

// diskWriter is the disk's reference for a durable upload: it writes the
// same bytes to a new file, fsyncs it, renames it into another directory
// and fsyncs that directory, which is what pmgsync's blob store asks of the
// disk for each upload, and nothing else: no network, no hashing, no
// database.
type diskWriter struct {
	tmp, final string
}

// newDiskWriter makes the directories of a disk reference in a fresh
// directory for purpose.
func (b *bench) newDiskWriter(purpose string) (*diskWriter, error) {
	dir, err := b.dataDir(purpose)
	if err != nil {
		return nil, err
	}
	d := &diskWriter{tmp: filepath.Join(dir, "tmp"), final: filepath.Join(dir, "final")}
	for _, p := range []string{d.tmp, d.final} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// op returns the operation that writes content durably once per call.
func (d *diskWriter) op(content []byte) operation {
	return func(ctx context.Context, worker, seq int) (int64, error) {
		name := fmt.Sprintf("w%02d-%06d", worker, seq)
		tmp := filepath.Join(d.tmp, name)
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return 0, err
		}
		_, err = f.Write(content)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, filepath.Join(d.final, name))
		}
		if err == nil {
			err = fsutil.SyncDir(d.final)
		}
		if err != nil {
			return 0, err
		}
		return int64(len(content)), nil
	}
}
