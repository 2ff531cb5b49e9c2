package engine

import (
	"context"
	"fmt"

	"github.com/pmgsync/pmgsync"
)

// servable returns the technician's live file of that exact name if its
// content can be served: ENOTFOUND (MsgFileNotFound) as file does, and
// ENOTFOUND with MsgFileDamaged, which tells the technician to send it
// again, for a file marked damaged. A damaged file can still be deleted
// (Delete looks it up with file) and replaced by an upload.
func (e *Engine) servable(ctx context.Context, tech *pmgsync.Technician, name string) (*pmgsync.File, error) {
	f, err := e.file(ctx, tech, name)
	if err != nil {
		return nil, err
	}
	if f.Damage != "" {
		return nil, pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgFileDamaged, f.Name)
	}
	return f, nil
}

// blobMissing handles a download of f whose blob is gone while its row
// still names it (a disk error, a blob removed by hand): f is marked
// damaged (missing), as "pmgsync verify --repair" would, so that it is no
// longer listed, and the technician is told to send the file again, which
// replaces it. The loss is logged as an error: the operator should run
// "pmgsync verify" to find any other. A mark that cannot be written is
// logged too, and the answer is the same.
func (e *Engine) blobMissing(ctx context.Context, f *pmgsync.File, cause error) error {
	detail := fmt.Sprintf("missing: the blob %s was not found when the file was downloaded", f.BlobKey)
	e.log.ErrorContext(ctx, "a file's blob is missing: the file is marked damaged; run pmgsync verify",
		"file_id", f.ID, "technician_id", f.TechnicianID, "file", f.Name, "blob", f.BlobKey, "err", cause)
	if _, err := e.meta.MarkDamaged(context.WithoutCancel(ctx), f.ID, pmgsync.DamageMissing, detail, e.Now()); err != nil {
		e.log.ErrorContext(ctx, "could not mark the file damaged", "file_id", f.ID, "err", err)
	}
	return pmgsync.Errorf(pmgsync.ENOTFOUND, pmgsync.MsgFileDamaged, f.Name)
}
