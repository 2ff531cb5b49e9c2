package httpserver

import (
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/pmgsync/pmgsync"
)

// contentTypes are the types of the reports pmgsync is made for, fixed here
// rather than read from the machine's mime.types, which differs by system.
var contentTypes = map[string]string{
	".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
	".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
	".xls":  "application/vnd.ms-excel",
	".csv":  "text/csv; charset=utf-8",
	".pdf":  "application/pdf",
	".zip":  "application/zip",
}

// contentType returns the content type for a file name by its extension.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	return "application/octet-stream"
}

// serveFile sends a stored file with http.ServeContent, which handles Range
// (206), HEAD and the conditional headers against the ETag and
// Last-Modified set here. content is an *os.File for local blobs, which
// ServeContent hands to the kernel's sendfile.
func serveFile(w http.ResponseWriter, r *http.Request, f *pmgsync.File, content io.ReadSeeker) {
	h := w.Header()
	h.Set("Content-Type", contentType(f.Name))
	h.Set("Content-Disposition", contentDisposition(f.Name))
	h.Set("ETag", `"`+f.SHA256+`"`)
	h.Set("Cache-Control", "private, no-cache")
	http.ServeContent(w, withoutEmptyRanges(r, f.Size), "", f.UploadedAt, content)
}

// withoutEmptyRanges works around golang/go#81262: ServeContent answers a
// range that selects no byte, a suffix range of length zero ("bytes=-0")
// or any suffix range of an empty file, with a 206 or a multipart part
// whose Content-Range ends before it begins. It returns r with the Range
// header of an empty file removed (RFC 9110 lets a server ignore Range),
// and otherwise with the zero-length suffix ranges left out of it, and a
// range that ServeContent answers with 416, as RFC 9110 wants, if none is
// left; or r itself if there is nothing to remove. The ranges are split
// and trimmed as ServeContent does.
func withoutEmptyRanges(r *http.Request, size int64) *http.Request {
	const space = " \t\r\n"
	specs, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes=")
	if !ok {
		return r
	}
	rng := ""
	if size > 0 {
		var kept []string
		dropped, left := false, false
		for spec := range strings.SplitSeq(specs, ",") {
			start, end, ok := strings.Cut(strings.Trim(spec, space), "-")
			end = strings.Trim(end, space)
			if n, err := strconv.ParseInt(end, 10, 64); ok && strings.Trim(start, space) == "" && err == nil && n == 0 && end[0] != '-' {
				dropped = true
				continue
			}
			kept = append(kept, spec)
			left = left || strings.Trim(spec, space) != ""
		}
		if !dropped {
			return r
		}
		rng = "bytes=" + strings.Join(kept, ",")
		if !left {
			rng = "bytes=" + strconv.FormatInt(size, 10) + "-" // starts past the end: 416
		}
	}
	r = r.WithContext(r.Context())
	r.Header = r.Header.Clone()
	if rng == "" {
		r.Header.Del("Range")
	} else {
		r.Header.Set("Range", rng)
	}
	return r
}

// contentDisposition returns an attachment disposition for name: a plain
// ASCII filename for old clients and, when the name is not plain ASCII, the
// exact name as an RFC 5987 filename* that current clients prefer.
func contentDisposition(name string) string {
	fallback := asciiFallback(name)
	v := `attachment; filename="` + fallback + `"`
	if fallback != name {
		v += "; filename*=UTF-8''" + extValue(name)
	}
	return v
}

// asciiFallback spells name in printable ASCII that needs no escaping in a
// quoted string: accents dropped ("inspeção" → "inspecao"), other
// characters, '"' and '\' replaced by '_'.
func asciiFallback(name string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(name) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r >= 0x20 && r < 0x7f && r != '"' && r != '\\':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// extValue percent-encodes s as the value-chars of an RFC 5987 ext-value:
// every byte but the attr-chars.
func extValue(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
