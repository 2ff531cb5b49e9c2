package units

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	good := map[string]time.Duration{
		"7d": 7 * day, "168h": 168 * time.Hour, "1d12h": 36 * time.Hour, "1.5d": 36 * time.Hour,
		"30m": 30 * time.Minute, "90d": 90 * day, " 2h ": 2 * time.Hour,
	}
	for in, want := range good {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "d", "-1d", "0d", "7 days", "1w", "99999999999999d", "1d-2h"} {
		if got, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseDurationOrZero(t *testing.T) {
	good := map[string]time.Duration{
		"0": 0, " 0 ": 0, "0s": 0, "0d": 0, "0h0m": 0, "0.0d": 0, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour,
	}
	for in, want := range good {
		if got, err := ParseDurationOrZero(in); err != nil || got != want {
			t.Errorf("ParseDurationOrZero(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "00", "7", "d", "-0s", "+0s", "-1d", "0 days", "1w", "99999999999999d", "1d-2h"} {
		if got, err := ParseDurationOrZero(in); err == nil {
			t.Errorf("ParseDurationOrZero(%q) = %v, want an error", in, got)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		7 * 24 * time.Hour: "7d", 36 * time.Hour: "36h", 90 * time.Minute: "90m", 1500 * time.Millisecond: "1.5s", 0: "0",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"50MiB": 50 << 20, "50M": 50 << 20, "50mb": 50_000_000, "1GiB": 1 << 30, "1.5G": 3 << 29,
		"52428800": 52428800, "0": 0, "10 KiB": 10 << 10, "2TB": 2e12,
	}
	for in, want := range good {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "50 XB", "1e3", "99999999999TiB", "8388608TiB", "50MiBs"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		512: "512 bytes", 50 << 20: "50 MiB", 3 << 29: "1.5 GiB", 1 << 30: "1 GiB", 1536: "1.5 KiB",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
