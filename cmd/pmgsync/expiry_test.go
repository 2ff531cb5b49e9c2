package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/pmgsync/pmgsync"
)

func TestParseExpiry(t *testing.T) {
	const day = 24 * time.Hour
	valid := []struct {
		in   string
		want time.Duration
	}{
		{"90d", 90 * day},
		{"1d", day},
		{"36h", 36 * time.Hour},
		{"1d12h", day + 12*time.Hour},
		{"1.5d", 36 * time.Hour},
		{"2h30m", 2*time.Hour + 30*time.Minute},
		{"45m", 45 * time.Minute},
		{"1d1h1m1s", day + time.Hour + time.Minute + time.Second},
		{"10000d", 10000 * day},
	}
	for _, tt := range valid {
		got, err := parseExpiry(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}

	invalid := []string{
		"", "d", "90", "-1d", "0d", "0", "0h", "1w", "1y", "1 d", "d1",
		"1..5d", "1.d.", "90days", "1e3h", "+1d", "1dd", "1d-1h",
		"200000d",              // beyond the range of a time.Duration
		"106751d106751d",       // each term fits, the sum does not
		"9999999999999999999h", // the number overflows
	}
	for _, in := range invalid {
		got, err := parseExpiry(in)
		if err == nil {
			t.Errorf("parseExpiry(%q) = %v, want an error", in, got)
			continue
		}
		if code := pmgsync.ErrorCode(err); code != pmgsync.EINVALID {
			t.Errorf("parseExpiry(%q) error code = %q, want %q", in, code, pmgsync.EINVALID)
		}
		want := "invalid expiry " + strconv.Quote(in) + ": use a duration such as 90d, 12h or 30m"
		if got := err.Error(); got != want {
			t.Errorf("parseExpiry(%q) error = %q, want %q", in, got, want)
		}
	}
}

func TestParseGrace(t *testing.T) {
	const day = 24 * time.Hour
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"7d", 7 * day},
		{"36h", 36 * time.Hour},
		{"2s", 2 * time.Second},
		{"1d12h", day + 12*time.Hour},
		{"0", 0},
		{"0s", 0},
		{"0d", 0},
		{" 0h0m ", 0},
	} {
		got, err := parseGrace(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseGrace(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "-0", "+0", "1w", "7 dias", "0x", "200000d"} {
		got, err := parseGrace(in)
		if err == nil {
			t.Errorf("parseGrace(%q) = %v, want an error", in, got)
			continue
		}
		want := "invalid grace " + strconv.Quote(in) + ": use 0 or a duration such as 7d, 12h or 30m"
		if pmgsync.ErrorCode(err) != pmgsync.EINVALID || err.Error() != want {
			t.Errorf("parseGrace(%q) error = %v (%s), want EINVALID %q", in, err, pmgsync.ErrorCode(err), want)
		}
	}
}
