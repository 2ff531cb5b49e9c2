package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
)

// redacted replaces a secret in logs.
const redacted = "REDACTED"

// secretPattern matches what carries a token in text: the value of a token
// query parameter or form field (raw or percent-encoded "token="), and the
// credentials of an Authorization header.
var secretPattern = regexp.MustCompile(`(?i)((?:^|[?&;\s"'(])token(?:=|%3D))[^&\s"';)]*|(\b(?:Bearer|Basic)\s+)[^\s"';,)]+`)

// Redact returns s with every token it carries, as a token query parameter
// or in an Authorization header's credentials, replaced by REDACTED. Text
// that is or holds a URL must go through it before it is logged.
func Redact(s string) string {
	if !mayHoldSecret(s) {
		return s
	}
	return secretPattern.ReplaceAllStringFunc(s, func(m string) string {
		sub := secretPattern.FindStringSubmatch(m)
		if sub[1] != "" {
			return sub[1] + redacted
		}
		return sub[2] + redacted
	})
}

// mayHoldSecret is a quick test that lets most text skip the pattern.
func mayHoldSecret(s string) bool {
	l := strings.ToLower(s)
	return strings.Contains(l, "token") || strings.Contains(l, "bearer") || strings.Contains(l, "basic")
}

// RedactHandler returns a slog.Handler that passes every record to h with
// its message and every string, error and Stringer value put through
// Redact, so that a token in any log line (a URL in an error from the
// net/http server, a panic's message) is hidden whatever logged it.
func RedactHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(redactHandler); ok {
		return h
	}
	return redactHandler{h}
}

type redactHandler struct{ h slog.Handler }

func (r redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

func (r redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return redactHandler{r.h.WithAttrs(red)}
}

func (r redactHandler) WithGroup(name string) slog.Handler { return redactHandler{r.h.WithGroup(name)} }

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		red := make([]slog.Attr, len(attrs))
		for i, g := range attrs {
			red[i] = redactAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(red...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, Redact(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, Redact(x.String()))
		case []byte:
			return slog.String(a.Key, Redact(string(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
