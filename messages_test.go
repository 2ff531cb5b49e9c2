package pmgsync

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseAcceptLanguage(t *testing.T) {
	tests := []struct {
		header string
		want   Lang
	}{
		{"", PortugueseBR},
		{"pt-BR,pt;q=0.9", PortugueseBR},
		{"en-US,en;q=0.9", English},
		{"en", English},
		{"de-DE, en;q=0.5", English},
		{"en;q=0.4, pt-BR;q=0.8", PortugueseBR},
		{"fr, de", PortugueseBR},
		{"en;q=bogus", PortugueseBR},
		{"en;q=0", PortugueseBR},
		{"pt;q=0, en;q=0.1", English},
	}
	for _, tt := range tests {
		if got := ParseAcceptLanguage(tt.header); got != tt.want {
			t.Errorf("ParseAcceptLanguage(%q) = %s, want %s", tt.header, got, tt.want)
		}
	}
}

// Every message has both languages, and the two agree on their verbs, so
// that a translation cannot drop or reorder an argument.
func TestCatalogComplete(t *testing.T) {
	for key, entry := range catalog {
		en, pt := entry[0], entry[1]
		if en == "" || pt == "" {
			t.Errorf("%s: missing a language: %q / %q", key, en, pt)
		}
		if verbs(en) != verbs(pt) {
			t.Errorf("%s: verbs differ: %q vs %q", key, en, pt)
		}
	}
	if got := Translate(English, "no-such-key"); got != "no-such-key" {
		t.Errorf("unknown key = %q", got)
	}
}

func verbs(format string) string {
	var b strings.Builder
	for i := 0; i < len(format)-1; i++ {
		if format[i] == '%' {
			b.WriteByte(format[i+1])
			i++
		}
	}
	return b.String()
}

func TestErrorCodes(t *testing.T) {
	e := Errorf(ENOTFOUND, MsgNoTechnician, "maria")
	wrapped := fmt.Errorf("find: %w", e)
	if ErrorCode(wrapped) != ENOTFOUND || !IsCode(wrapped, ENOTFOUND) {
		t.Errorf("code of wrapped = %q", ErrorCode(wrapped))
	}
	if got := ErrorMessage(PortugueseBR, wrapped); got != `nenhum técnico chamado "maria"` {
		t.Errorf("pt-BR message = %q", got)
	}
	if got := e.Error(); got != `no technician named "maria"` {
		t.Errorf("Error() = %q", got)
	}
	internal := errors.New("disk I/O error at /srv/data/pmgsync.db")
	if ErrorCode(internal) != EINTERNAL || ErrorMessage(English, internal) != "internal server error" {
		t.Errorf("internal: %q %q", ErrorCode(internal), ErrorMessage(English, internal))
	}
	if ErrorCode(nil) != "" {
		t.Error("nil has a code")
	}
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		raw := NewToken()
		if !strings.HasPrefix(raw, TokenPrefix) || len(raw) != len(TokenPrefix)+32 || seen[raw] {
			t.Fatalf("NewToken() = %q", raw)
		}
		if strings.ToLower(raw) != raw {
			t.Fatalf("NewToken() = %q is not lower case", raw)
		}
		seen[raw] = true
		if hint := TokenHint(raw); hint != raw[:8] {
			t.Fatalf("TokenHint = %q", hint)
		}
	}
	if TokenHint("abc123") != "" {
		t.Error("an imported token has a hint")
	}
	if len(HashToken("x")) != 32 {
		t.Error("hash is not SHA-256")
	}
}
