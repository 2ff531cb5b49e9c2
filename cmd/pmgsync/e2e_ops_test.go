package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// httpGet fetches url and returns the status and body.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// With --metrics-addr, /metrics is served on that listener and not on the
// main one; the health endpoints stay on the main one, and the logs are
// JSON when asked.
func TestServeMetricsAddr(t *testing.T) {
	data := t.TempDir()
	tok := createToken(t, data, "joao")
	s := startServerWith(t, data, cleanEnv("PMGSYNC_LOG_LEVEL=debug"), "--metrics-addr", "127.0.0.1:0")
	line, ok := s.log.waitFor("msg=\"metrics listening\"", s.exited)
	if !ok {
		t.Fatalf("no metrics listener in the log:\n%s", s.log)
	}
	metricsURL := "http://" + logField(line, "addr") + "/metrics"

	if code, _ := httpGet(t, s.url+"/list?token="+tok); code != http.StatusNotFound {
		t.Errorf("list: %d", code)
	}
	if code, body := httpGet(t, s.url+"/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the main listener: %d %s", code, body)
	}
	if code, body := httpGet(t, s.url+"/readyz"); code != http.StatusOK || !strings.Contains(body, `"ok"`) {
		t.Errorf("/readyz: %d %s", code, body)
	}
	code, body := httpGet(t, metricsURL)
	if code != http.StatusOK {
		t.Fatalf("/metrics on the metrics listener: %d %s", code, body)
	}
	for _, want := range []string{
		`pmgsync_http_requests_total{code="404",route="/list"} 1`,
		`pmgsync_http_requests_total{code="404",route="/"} 1`, // /metrics on the main listener
		`pmgsync_build_info{goversion="go`, `version="` + testVersion + `"} 1`,
		"pmgsync_stored_files 0", "pmgsync_stored_bytes 0",
		"go_goroutines ", "process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := httpGet(t, "http://"+logField(line, "addr")+"/list"); code != http.StatusNotFound {
		t.Errorf("the metrics listener serves /list: %d", code)
	}
	s.stop()
	if strings.Contains(s.log.String(), tok) {
		t.Errorf("the log holds the token:\n%s", s.log)
	}
}

// Without --metrics-addr, /metrics is on the main listener.
func TestServeMetricsOnMain(t *testing.T) {
	data := t.TempDir()
	tok := createToken(t, data, "joao")
	s := startServer(t, data)
	httpGet(t, s.url+"/list?token="+tok)
	code, body := httpGet(t, s.url+"/metrics")
	if code != http.StatusOK || !strings.Contains(body, `pmgsync_http_requests_total{code="404",route="/list"} 1`) {
		t.Errorf("/metrics: %d\n%s", code, body)
	}
	s.stop()
	if !strings.Contains(s.log.String(), "route=/list status=404") || strings.Contains(s.log.String(), tok) {
		t.Errorf("log:\n%s", s.log)
	}
}

// --log-format json makes every line a JSON object, --log-level hides what
// is below it, and the logger of the Main built on it redacts tokens in
// either format.
func TestNewLogger(t *testing.T) {
	for _, format := range []string{logText, logJSON} {
		var buf strings.Builder
		cfg := DefaultConfig()
		cfg.DataDir = t.TempDir()
		cfg.LogFormat, cfg.LogLevel = format, slog.LevelWarn
		m := NewMain(cfg, newLogger(&buf, &cfg))
		if err := m.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		m.Close()
		logger := m.Logger
		logger.Info("hidden")
		logger.Warn("shown", "url", "/pull?token=s3cret&filename=a", "err", errors.New("GET /list?token=s3cret"))
		out := buf.String()
		if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") || strings.Contains(out, "s3cret") {
			t.Errorf("%s log:\n%s", format, out)
		}
		if format == logJSON {
			var v map[string]any
			if err := json.Unmarshal([]byte(out), &v); err != nil || v["url"] != "/pull?token=REDACTED&filename=a" {
				t.Errorf("json log %q: %v", out, err)
			}
		}
	}
}
