package httpserver

import (
	"bufio"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/metrics"
)

// maxPartsBeforeFile bounds how many other form fields an upload may carry
// before its file part.
const maxPartsBeforeFile = 16

// fileJSON is the JSON form of a file in upload and delete responses. The
// first two fields are the old server's; the others were added after.
type fileJSON struct {
	Status     string `json:"status"`
	Filename   string `json:"filename"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	UploadedAt string `json:"uploaded_at"`
	ExpiresAt  string `json:"expires_at"`
}

func newFileJSON(f *pmgsync.File) fileJSON {
	return fileJSON{
		Status:     "ok",
		Filename:   f.Name,
		Size:       f.Size,
		SHA256:     f.SHA256,
		UploadedAt: f.UploadedAt.UTC().Format(time.RFC3339Nano),
		ExpiresAt:  f.ExpiresAt.UTC().Format(time.RFC3339Nano),
	}
}

// handleUpload stores the multipart field "file" of a POST /upload. The part
// is streamed into the engine as it arrives; nothing is held in memory. The
// engine applies the limits (size, type, quota, free space); the body's
// Content-Length, when there is one, lets it refuse early an upload for
// which the disk has no room. The body is read through a pooled buffer of
// bodyBufferSize, set as r.Body for the handler's duration.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	body := s.bodyReaders.Get().(*bufio.Reader)
	raw := r.Body
	body.Reset(raw)
	r.Body = struct {
		io.Reader
		io.Closer
	}{body, raw}
	defer func() {
		r.Body = raw
		body.Reset(nil)
		s.bodyReaders.Put(body)
	}()
	part, filename, err := filePart(r)
	if err != nil {
		err = s.bodyTooLarge(err)
		s.engine.AuditRefused(r.Context(), technician(r.Context()), pmgsync.ActionUpload, "", err)
		s.error(w, r, err)
		return
	}
	f, err := s.engine.Upload(r.Context(), technician(r.Context()), filename, clientBody{part}, r.ContentLength)
	if err != nil {
		s.error(w, r, s.bodyTooLarge(err))
		return
	}
	s.metrics.Operation(metrics.OpUpload, f.Size)
	writeJSON(w, http.StatusOK, newFileJSON(f))
}

// bodyBufferSize is the buffer an upload's body is read through. The
// multipart reader reads 4 KiB at a time; through this buffer, the
// connection is read in system calls of up to 256 KiB instead.
const bodyBufferSize = 256 << 10

// filePart returns the part of r's multipart body whose form name is
// "file", and its filename as the client sent it (directory and all: the
// engine takes the base name with both '/' and '\' as separators, which
// multipart.Part.FileName would not).
//
// Errors: EINVALID for a body that is not a multipart form with a file
// part; the *http.MaxBytesError of a body over limitBody's cap and the
// error of a body that stalled (see stallGuard), as they are.
func filePart(r *http.Request) (*multipart.Part, string, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, "", pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgMissingFilePart)
	}
	for range maxPartsBeforeFile + 1 {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		var mbe *http.MaxBytesError
		var domain *pmgsync.Error
		if errors.As(err, &mbe) || errors.As(err, &domain) {
			return nil, "", err // over the cap, or a body that stalled
		}
		if err != nil {
			return nil, "", pmgsync.WithCode(err, pmgsync.EINVALID, pmgsync.MsgBadMultipart)
		}
		_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		if err != nil || params["name"] != "file" {
			continue
		}
		filename, ok := params["filename"]
		if !ok {
			break // a plain form field named file: no file was sent
		}
		return part, filename, nil
	}
	return nil, "", pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgMissingFilePart)
}

// handleList answers GET /list with the technician's file names, sorted, or
// 404 when there are none, as the old server did.
func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	names, err := s.engine.ListNames(r.Context(), technician(r.Context()))
	if err != nil {
		s.error(w, r, err)
		return
	}
	if len(names) == 0 {
		s.detail(w, r, http.StatusNotFound, pmgsync.MsgNoFiles)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"files": names})
}

// handlePull answers GET /pull?filename=NAME with the file's bytes, and
// records in the audit trail what was sent.
func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) {
	name, ok := filenameParam(r)
	if !ok {
		s.refuseMissingFilename(w, r, pmgsync.ActionDownload)
		return
	}
	f, content, err := s.engine.Open(r.Context(), technician(r.Context()), name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	defer content.Close()
	serveFile(w, r, f, content)
	// Only now is it known what reached the client: a HEAD or a 304 sent
	// no content and is neither counted nor audited.
	if rec, ok := w.(*recorder); ok && r.Method == http.MethodGet {
		if rec.status == http.StatusOK || rec.status == http.StatusPartialContent {
			s.metrics.Operation(metrics.OpDownload, rec.written)
		}
		s.engine.AuditDownload(r.Context(), technician(r.Context()), f, rec.status, rec.written)
	}
}

// handleDelete answers DELETE /delete?filename=NAME.
func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	name, ok := filenameParam(r)
	if !ok {
		s.refuseMissingFilename(w, r, pmgsync.ActionDelete)
		return
	}
	f, err := s.engine.Delete(r.Context(), technician(r.Context()), name)
	if err != nil {
		s.error(w, r, err)
		return
	}
	s.metrics.Operation(metrics.OpDelete, f.Size)
	writeJSON(w, http.StatusOK, newFileJSON(f))
}

// refuseMissingFilename answers a pull or delete (action) without a
// filename parameter, and records the refusal in the audit trail.
func (s *Server) refuseMissingFilename(w http.ResponseWriter, r *http.Request, action string) {
	err := pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgMissingFilename)
	s.engine.AuditRefused(r.Context(), technician(r.Context()), action, "", err)
	s.error(w, r, err)
}

func filenameParam(r *http.Request) (string, bool) {
	q := r.URL.Query()
	if !q.Has("filename") {
		return "", false
	}
	return q.Get("filename"), true
}

// clientBody marks the failures to read an upload's body as the client's:
// a connection that broke or timed out, a multipart body cut short. The
// cause stays in the chain for the log; a body over the size cap keeps its
// *http.MaxBytesError for bodyTooLarge, and an error that already says
// what went wrong (a body that stalled) is left as it is.
type clientBody struct{ r io.Reader }

func (b clientBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	var mbe *http.MaxBytesError
	var domain *pmgsync.Error
	if err == nil || err == io.EOF || errors.As(err, &mbe) || errors.As(err, &domain) {
		return n, err
	}
	return n, pmgsync.WithCode(err, pmgsync.EINVALID, pmgsync.MsgUploadAborted)
}
