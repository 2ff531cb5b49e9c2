package main

import (
	"math"
	"time"

	"github.com/pmgsync/pmgsync"
)

// parseExpiry parses the lifetime of a token: a Go duration ("36h",
// "90m") in which "d" may also be used as a unit of 24 hours ("90d",
// "1d12h", "1.5d"). It must be positive. Errors: EINVALID with the
// MsgTokenExpiry message.
func parseExpiry(s string) (time.Duration, error) {
	bad := pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgTokenExpiry, s)
	var total time.Duration
	for rest := s; rest != ""; {
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
			return 0, bad
		}
		var term time.Duration
		if unit == "d" {
			hours, err := time.ParseDuration(number + "h")
			if err != nil || hours > math.MaxInt64/24 {
				return 0, bad
			}
			term = hours * 24
		} else {
			var err error
			if term, err = time.ParseDuration(number + unit); err != nil {
				return 0, bad
			}
		}
		if total > math.MaxInt64-term {
			return 0, bad
		}
		total += term
	}
	if total <= 0 {
		return 0, bad
	}
	return total, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
