package httpserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/pmgsync/pmgsync"
)

// errStalled marks the error of a request body that made no progress for
// the stall timeout; error answers it with 408.
var errStalled = errors.New("request body stalled")

// stallGuard returns body, read so that a client that stops sending it is
// cut off: each Read first moves the connection's read deadline to timeout
// from now, so a body that keeps coming, however slowly, is never cut,
// and one that stops for timeout fails its Read with an EINVALID error
// (MsgUploadStalled) that carries errStalled. Once the body has been read
// to its end the deadline is cleared and never set again, whatever reads
// follow: net/http then watches the connection with a read of its own,
// and a deadline passing under it would cancel the request's context
// while the handler is still at work (committing the upload, say).
//
// A ResponseWriter without read deadlines (a test's ResponseRecorder, a
// wrapper that does not unwrap) leaves the body read as is. http.Server.ReadTimeout is no substitute:
// it bounds the whole body, and would cut a large upload on a slow link.
func stallGuard(w http.ResponseWriter, body io.ReadCloser, timeout time.Duration) *stallBody {
	return &stallBody{ReadCloser: body, rc: http.NewResponseController(w), timeout: timeout}
}

// abandonTimeout bounds how long the rest of a refused request's body may
// take to arrive (see stallBody.abandon).
const abandonTimeout = 10 * time.Second

type stallBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	// off is set when the connection has no read deadline to move: it has
	// none, or the body has been read whole.
	off bool
}

func (b *stallBody) Read(p []byte) (int, error) {
	if !b.off {
		// The deadline is a point on the wall clock, as the network's
		// deadlines are: no injected clock could move it.
		if err := b.rc.SetReadDeadline(time.Now().Add(b.timeout)); err != nil {
			b.off = true
		}
	}
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
	case err == io.EOF:
		if !b.off {
			b.off = true
			b.rc.SetReadDeadline(time.Time{}) // a connection that fails here fails its next read too
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w after %v: %w", errStalled, b.timeout, err)
		return n, pmgsync.WithCode(err, pmgsync.EINVALID, pmgsync.MsgUploadStalled)
	}
	return n, err
}

// abandon is called when the answer to the request begins before its body
// has been read to its end: a refusal (a bad token, a ban, a body too
// large). net/http then reads and discards what is left of the body (up to
// 256 KiB) before it sends the answer, so that the connection can serve
// another request; a client that never sends that rest would hold the
// connection, and get no answer, for ever. The rest must arrive within the
// stall timeout, and never more than abandonTimeout: past it the read
// fails, the answer goes out and the connection is closed.
func (b *stallBody) abandon() {
	if b.off {
		return
	}
	b.off = true
	b.rc.SetReadDeadline(time.Now().Add(min(b.timeout, abandonTimeout)))
}
