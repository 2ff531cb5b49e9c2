package httpserver_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/pmgsync/pmgsync/engine"
)

func TestDownloadHeaders(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	content := []byte("0123456789abcdefghij")
	e.put("joao", "relatório março.xlsx", content)
	etag := `"` + sha(content) + `"`
	target := "/pull?" + url.Values{"token": {tok}, "filename": {"relatório março.xlsx"}}.Encode()

	resp := e.do(httptestRequest(http.MethodGet, target, nil))
	h := resp.Header
	want := map[string]string{
		"Content-Type":           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"Content-Disposition":    `attachment; filename="relatorio marco.xlsx"; filename*=UTF-8''relat%C3%B3rio%20mar%C3%A7o.xlsx`,
		"X-Content-Type-Options": "nosniff",
		"Etag":                   etag,
		"Last-Modified":          "Tue, 01 Dec 2026 14:30:00 GMT",
		"Accept-Ranges":          "bytes",
		"Content-Length":         "20",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}

	tests := []struct {
		name, header, value string
		status              int
		body                string
	}{
		{"range", "Range", "bytes=5-9", http.StatusPartialContent, "56789"},
		{"suffix range", "Range", "bytes=-3", http.StatusPartialContent, "hij"},
		{"unsatisfiable", "Range", "bytes=50-60", http.StatusRequestedRangeNotSatisfiable, ""},
		// Ranges that select no byte (golang/go#81262).
		{"empty suffix", "Range", "bytes=-0", http.StatusRequestedRangeNotSatisfiable, ""},
		{"empty suffix among others", "Range", "bytes=0-1, -00", http.StatusPartialContent, "01"},
		{"if-none-match", "If-None-Match", etag, http.StatusNotModified, ""},
		{"if-none-match other", "If-None-Match", `"other"`, http.StatusOK, string(content)},
		{"if-modified-since", "If-Modified-Since", "Tue, 01 Dec 2026 14:30:00 GMT", http.StatusNotModified, ""},
		{"if-match other", "If-Match", `"other"`, http.StatusPreconditionFailed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptestRequest(http.MethodGet, target, nil)
			req.Header.Set(tt.header, tt.value)
			resp := e.do(req)
			got := body(t, resp)
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.body != "" && got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
		})
	}

	t.Run("if-range stale", func(t *testing.T) {
		req := httptestRequest(http.MethodGet, target, nil)
		req.Header.Set("Range", "bytes=0-1")
		req.Header.Set("If-Range", `"stale"`)
		resp := e.do(req)
		if got := body(t, resp); resp.StatusCode != http.StatusOK || got != string(content) {
			t.Errorf("status %d body %q, want the whole file", resp.StatusCode, got)
		}
	})
	t.Run("empty suffix content range", func(t *testing.T) {
		req := httptestRequest(http.MethodGet, target, nil)
		req.Header.Set("Range", "bytes=-0")
		if got := e.do(req).Header.Get("Content-Range"); got != "bytes */20" {
			t.Errorf("Content-Range = %q, want bytes */20", got)
		}
	})
	t.Run("range of an empty file", func(t *testing.T) {
		e.put("joao", "vazio.csv", nil)
		req := httptestRequest(http.MethodGet, "/pull?"+url.Values{"token": {tok}, "filename": {"vazio.csv"}}.Encode(), nil)
		req.Header.Set("Range", "bytes=-5")
		resp := e.do(req)
		if got := body(t, resp); resp.StatusCode != http.StatusOK || got != "" || resp.Header.Get("Content-Range") != "" {
			t.Errorf("status %d, body %q, Content-Range %q; want 200 and nothing", resp.StatusCode, got, resp.Header.Get("Content-Range"))
		}
	})
	t.Run("head", func(t *testing.T) {
		resp := e.do(httptestRequest(http.MethodHead, target, nil))
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != "20" {
			t.Errorf("HEAD: %d, length %q", resp.StatusCode, resp.Header.Get("Content-Length"))
		}
	})
}

func TestContentTypes(t *testing.T) {
	e := newEnv(t, engine.Options{})
	tok := e.token("joao")
	for name, want := range map[string]string{
		"a.XLSX":   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		"b.xls":    "application/vnd.ms-excel",
		"c.csv":    "text/csv; charset=utf-8",
		"d.xlsm":   "application/vnd.ms-excel.sheet.macroEnabled.12",
		"e.html":   "application/octet-stream",
		"no-ext":   "application/octet-stream",
		"plain.rs": "application/octet-stream",
	} {
		// Files of every type reach the store through the import from the
		// old server, which took anything.
		e.put("joao", name, []byte("<html><script>alert(1)</script>"))
		resp := e.get(http.MethodGet, "/pull", url.Values{"token": {tok}, "filename": {name}})
		if got := resp.Header.Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, want %q", name, got, want)
		}
		if got := resp.Header.Get("Content-Disposition"); got != `attachment; filename="`+name+`"` {
			t.Errorf("%s: Content-Disposition %q", name, got)
		}
	}
}
