package httpserver

import (
	"context"

	"github.com/pmgsync/pmgsync"
)

type contextKey int

const (
	requestIDKey contextKey = iota
	technicianKey
	requestInfoKey
)

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func withTechnician(ctx context.Context, t *pmgsync.Technician) context.Context {
	return context.WithValue(ctx, technicianKey, t)
}

// technician returns the authenticated technician. Handlers behind
// Server.authenticated always have one.
func technician(ctx context.Context) *pmgsync.Technician {
	t, _ := ctx.Value(technicianKey).(*pmgsync.Technician)
	return t
}

// requestInfo is what the handlers learn about a request that the access
// log and the metrics, which run outside them, need to know. Only the
// request's own goroutine touches it.
type requestInfo struct {
	technicianID int64 // 0 before (or without) authentication
}

func withRequestInfo(ctx context.Context, info *requestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey, info)
}

// infoOf returns the requestInfo of ctx; a throwaway one if there is none.
func infoOf(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}
