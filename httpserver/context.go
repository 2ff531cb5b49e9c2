package httpserver

import (
	"context"

	"github.com/pmgsync/pmgsync"
)

type contextKey int

const (
	requestIDKey contextKey = iota
	technicianKey
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
