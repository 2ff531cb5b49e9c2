package localfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Link gives the committed blob key a second name, path: a hard link, so
// that its bytes stay readable under path after the blob is deleted from
// the store, until path is removed. A backup links the blobs it is about to
// archive, so that the uploads and deletes going on meanwhile cannot take
// them away. path must not exist and must be on the store's file system
// (outside the store's directory, whose files are all the store's).
// ENOTFOUND if no blob has that key, including any key not of the form the
// store generates.
func (s *Store) Link(ctx context.Context, key, path string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localfs: link blob: %w", err)
	}
	if !ValidKey(key) {
		return notFound()
	}
	err := os.Link(s.blobPath(key), path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Lstat(s.blobPath(key)); errors.Is(serr, fs.ErrNotExist) {
			return notFound()
		}
	}
	if err != nil {
		return fmt.Errorf("localfs: link blob: %w", err)
	}
	return nil
}
