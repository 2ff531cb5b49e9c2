package main

import (
	"time"

	"github.com/pmgsync/pmgsync"
	"github.com/pmgsync/pmgsync/units"
)

// parseExpiry parses the lifetime of a token: a Go duration ("36h",
// "90m") in which "d" may also be used as a unit of 24 hours ("90d",
// "1d12h", "1.5d"), see units.ParseDuration. Errors: EINVALID with the
// MsgTokenExpiry message.
func parseExpiry(s string) (time.Duration, error) {
	d, err := units.ParseDuration(s)
	if err != nil {
		return 0, pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgTokenExpiry, s)
	}
	return d, nil
}

// parseGrace parses how long a rotated token keeps working: 0 (in any
// unit: "0", "0s", "0d") for not at all, or a lifetime as parseExpiry
// reads it. Errors: EINVALID with the MsgTokenGrace message.
func parseGrace(s string) (time.Duration, error) {
	d, err := units.ParseDurationOrZero(s)
	if err != nil {
		return 0, pmgsync.Errorf(pmgsync.EINVALID, pmgsync.MsgTokenGrace, s)
	}
	return d, nil
}
