// Package units parses and prints the durations and sizes that operators
// type in flags, environment variables and the config file: "7d", "168h",
// "50MiB", "1GB".
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseDuration parses a Go duration ("36h", "90m") in which "d" may also be
// used as a unit of 24 hours ("7d", "1d12h", "1.5d"). It must be positive.
func ParseDuration(s string) (time.Duration, error) {
	d, ok := sumDuration(s)
	if !ok || d <= 0 {
		return 0, fmt.Errorf("invalid duration %q: use a duration such as 7d, 168h or 30m", s)
	}
	return d, nil
}

// ParseDurationOrZero is ParseDuration that also accepts zero: "0", or a
// zero in any unit ("0s", "0d").
func ParseDurationOrZero(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "0" {
		return 0, nil
	}
	d, ok := sumDuration(s)
	if !ok {
		return 0, fmt.Errorf("invalid duration %q: use 0 or a duration such as 7d, 168h or 30m", s)
	}
	return d, nil
}

// sumDuration parses the terms of ParseDuration's syntax, each a decimal
// number and a unit, and returns their sum, which may be zero; ok is
// false for no term, a bad term or an overflow.
func sumDuration(s string) (total time.Duration, ok bool) {
	rest := strings.TrimSpace(s)
	if rest == "" {
		return 0, false
	}
	for rest != "" {
		// Each term is a decimal number and a unit, as in time.ParseDuration.
		i := 0
		for i < len(rest) && (isDigit(rest[i]) || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && !isDigit(rest[j]) && rest[j] != '.' {
			j++
		}
		number, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		if number == "" || unit == "" {
			return 0, false
		}
		var term time.Duration
		if unit == "d" {
			hours, err := time.ParseDuration(number + "h")
			if err != nil || hours > math.MaxInt64/24 {
				return 0, false
			}
			term = hours * 24
		} else {
			var err error
			if term, err = time.ParseDuration(number + unit); err != nil {
				return 0, false
			}
		}
		if total > math.MaxInt64-term {
			return 0, false
		}
		total += term
	}
	return total, true
}

// FormatDuration prints d in the largest whole unit of days, hours or
// minutes that divides it ("7d", "36h"), else as time.Duration does.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1e3, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1e6, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1e9, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1e12, "tib": 1 << 40,
}

// ParseSize parses a size in bytes: a number and an optional unit, either
// binary (KiB, MiB, GiB, TiB, and K, M, G, T as their short forms) or
// decimal (KB, MB, GB, TB), case-insensitive: "50MiB", "1.5G", "52428800".
// It must not be negative.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (isDigit(t[i]) || t[i] == '.') {
		i++
	}
	number, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	n, err := strconv.ParseFloat(number, 64)
	if !ok || err != nil || n < 0 || n*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: use a size such as 50MiB, 1GiB or 52428800", s)
	}
	return int64(n * mult), nil
}

// FormatSize prints n bytes in the largest binary unit that keeps the
// number at or above 1, with up to one decimal: "50 MiB", "1.5 GiB",
// "512 bytes".
func FormatSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[u]
}
