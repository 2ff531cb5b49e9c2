package engine

import (
	"context"

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
