package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"
)

// fleet is a pmgsync server seeded for a load and the clients that put it
// under that load: client w sends its requests as technician w, with
// tokens[w], and reads their responses through bufs[w]. Its operations
// may also go to another server (nginx), through the same clients.
type fleet struct {
	srv    *server
	tokens []string
	client *http.Client // a kept-alive connection per client
	bufs   [][]byte
}

// newFleet seeds a fresh data directory with one technician (and token)
// per client, starts a server on it with the flags extra, and makes the
// clients. The caller closes the fleet.
func (b *bench) newFleet(ctx context.Context, purpose string, clients int, extra ...string) (*fleet, error) {
	data, err := b.dataDir(purpose)
	if err != nil {
		return nil, err
	}
	tokens, err := seedTechnicians(ctx, data, technicians("tecnico", clients))
	if err != nil {
		return nil, err
	}
	srv, err := b.start(ctx, data, extra...)
	if err != nil {
		return nil, err
	}
	return fleetOf(srv, tokens), nil
}

// fleetOf returns the fleet of a server already seeded with a technician
// for each of tokens, one client each. Closing it stops srv.
func fleetOf(srv *server, tokens []string) *fleet {
	return &fleet{srv: srv, tokens: tokens, client: newClient(len(tokens)), bufs: buffers(len(tokens))}
}

// clients returns how many clients the fleet has.
func (f *fleet) clients() int { return len(f.bufs) }

// close closes the clients' idle connections, then stops the server.
func (f *fleet) close() {
	f.client.CloseIdleConnections()
	f.srv.stop()
}

// do sends req as client w and reads the whole response, which must have
// one of the statuses want; it returns the size of the body.
func (f *fleet) do(w int, req *http.Request, want ...int) (int64, error) {
	return do(f.client, req, f.bufs[w], want...)
}

// repeat runs op n times in all, spread over the clients, untimed (to
// seed, or to warm up connections and caches), and returns the error of
// any that failed, marked with what.
func (f *fleet) repeat(ctx context.Context, what string, n int, op operation) error {
	res := load{workers: f.clients(), maxOps: n, duration: time.Hour}.run(ctx, op)
	return res.err(what)
}

// upload returns the operation of a pmgsync upload of content by client
// w, under a new name each time: prefix-WW-SSSSSS.xlsx.
func (f *fleet) upload(content []byte, prefix string) operation {
	return func(ctx context.Context, w, seq int) (int64, error) {
		name := fmt.Sprintf("%s-%02d-%06d.xlsx", prefix, w, seq)
		req, err := uploadRequest(ctx, f.srv.url, f.tokens[w], name, content)
		if err != nil {
			return 0, err
		}
		if _, err := f.do(w, req, http.StatusOK); err != nil {
			return 0, err
		}
		return int64(len(content)), nil
	}
}

// put returns the operation of a WebDAV PUT of content by client w to
// url(w, seq), a new URL each time, which nginx must answer with 201 or
// 204.
func (f *fleet) put(content []byte, url func(w, seq int) string) operation {
	return func(ctx context.Context, w, seq int) (int64, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, url(w, seq), bytes.NewReader(content))
		if err != nil {
			return 0, err
		}
		if _, err := f.do(w, req, http.StatusCreated, http.StatusNoContent); err != nil {
			return 0, err
		}
		return int64(len(content)), nil
	}
}
