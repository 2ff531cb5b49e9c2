package httpserver

import (
	"io"
	"net/http"
	"time"
)

// logRequest writes one access-log line for a finished request: method,
// route (the pattern that served it; the path too for the catch-all route,
// but never the query string, which carries tokens on the classic
// endpoints), status, bytes in and out, duration, request id, the
// technician's id (0 if the request was not authenticated) and the client
// address.
func (s *Server) logRequest(r *http.Request, rec *recorder, status int, bytesIn int64, d time.Duration, clientIP string) {
	attrs := []any{
		"method", r.Method,
		"route", route(r),
		"status", status,
		"bytes_in", bytesIn,
		"bytes_out", rec.written,
		"duration", d,
		"request_id", RequestID(r.Context()),
		"technician", infoOf(r.Context()).technicianID,
		"client_ip", clientIP,
	}
	if r.Pattern == "/" {
		attrs = append(attrs, "path", r.URL.Path)
	}
	s.log.InfoContext(r.Context(), "request", attrs...)
}

// recorder is a ResponseWriter that remembers the status and counts the
// bytes written. It passes ReadFrom through, so that a download from an
// *os.File still reaches the kernel's sendfile, and it unwraps for
// http.ResponseController.
type recorder struct {
	http.ResponseWriter
	status  int
	written int64
	// wroteBeforePanic is set when the handler panicked after its response
	// had begun.
	wroteBeforePanic bool
	// beforeHeader, if not nil, is called once, when the response begins.
	beforeHeader func()
}

// begin records the status of a response that begins, once.
func (w *recorder) begin(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	if w.beforeHeader != nil {
		w.beforeHeader()
	}
}

func (w *recorder) WriteHeader(status int) {
	w.begin(status)
	w.ResponseWriter.WriteHeader(status)
}

func (w *recorder) Write(p []byte) (int, error) {
	w.begin(http.StatusOK)
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *recorder) ReadFrom(src io.Reader) (int64, error) {
	w.begin(http.StatusOK)
	var n int64
	var err error
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{w.ResponseWriter}, src)
	}
	w.written += n
	return n, err
}

func (w *recorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }
