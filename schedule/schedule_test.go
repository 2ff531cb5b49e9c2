package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones resolve without the system's zoneinfo
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// TestNext follows each schedule from `after` through successive due times,
// given in UTC so that the zone's offset on each day shows.
func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name, spec, zone, after string
		want                    []string
	}{
		{"Brazil has no DST since 2019: 03:00 is always 06:00 UTC", "0 3 * * *", "America/Sao_Paulo",
			"2026-03-10T12:00:00Z", []string{"2026-03-11T06:00:00Z", "2026-03-12T06:00:00Z", "2026-03-13T06:00:00Z"}},
		{"@daily is local midnight", "@daily", "America/Sao_Paulo",
			"2026-03-10T12:00:00Z", []string{"2026-03-11T03:00:00Z", "2026-03-12T03:00:00Z"}},
		{"03:00 in New York as DST starts (March 8)", "0 3 * * *", "America/New_York",
			"2026-03-06T12:00:00Z", []string{"2026-03-07T08:00:00Z", "2026-03-08T07:00:00Z", "2026-03-09T07:00:00Z"}},
		{"03:00 in New York as DST ends (November 1)", "0 3 * * *", "America/New_York",
			"2026-10-30T12:00:00Z", []string{"2026-10-31T07:00:00Z", "2026-11-01T08:00:00Z", "2026-11-02T08:00:00Z"}},
		{"02:30 skipped by the jump runs at the jump (03:00 EDT)", "30 2 * * *", "America/New_York",
			"2026-03-06T12:00:00Z", []string{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		{"01:30 shown twice runs the first time only", "30 1 * * *", "America/New_York",
			"2026-10-30T12:00:00Z", []string{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"half-hourly across the jump: 02:00 and 02:30 run once, at 03:00", "*/30 * * * *", "America/New_York",
			"2026-03-08T06:00:00Z", []string{"2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"}},
		{"hourly across the repeat: the second 01:00 is not due", "@hourly", "America/New_York",
			"2026-11-01T03:30:00Z", []string{"2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z"}},
		{"from inside the repeat, the repeated minutes are past", "* * * * *", "America/New_York",
			"2026-11-01T06:10:30Z", []string{"2026-11-01T07:00:00Z", "2026-11-01T07:01:00Z"}},
		{"03:00 in Lisbon as summer time starts (March 29)", "0 3 * * *", "Europe/Lisbon",
			"2026-03-27T12:00:00Z", []string{"2026-03-28T03:00:00Z", "2026-03-29T02:00:00Z", "2026-03-30T02:00:00Z"}},
		{"03:00 in Lisbon as summer time ends (October 25)", "0 3 * * *", "Europe/Lisbon",
			"2026-10-23T12:00:00Z", []string{"2026-10-24T02:00:00Z", "2026-10-25T03:00:00Z", "2026-10-26T03:00:00Z"}},
		{"01:30 in Lisbon, skipped then shown twice", "30 1 * * *", "Europe/Lisbon",
			"2026-03-28T00:00:00Z", []string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		{"01:30 in Lisbon, shown twice", "30 1 * * *", "Europe/Lisbon",
			"2026-10-24T00:00:00Z", []string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"weekdays at 22:15", "15 22 * * 1-5", "UTC",
			"2026-12-04T22:15:00Z", []string{"2026-12-07T22:15:00Z", "2026-12-08T22:15:00Z"}},
		{"@every 10m counts from `after`, to the second, in any zone", "@every 10m", "America/New_York",
			"2026-11-01T05:55:07.5Z", []string{"2026-11-01T06:05:07Z", "2026-11-01T06:15:07Z"}},
		{"spaces around the spec", "  @every 1h30m ", "UTC",
			"2026-01-01T00:00:00Z", []string{"2026-01-01T01:30:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc := zone(t, tc.zone)
			s, err := Parse(tc.spec, loc)
			if err != nil {
				t.Fatal(err)
			}
			at := utc(tc.after)
			for _, w := range tc.want {
				next := s.Next(at)
				if want := utc(w); !next.Equal(want) {
					t.Fatalf("Next(%s) = %s (%s), want %s (%s)", at.Format(time.RFC3339),
						next.UTC().Format(time.RFC3339), next.Format(time.RFC3339),
						want.Format(time.RFC3339), want.In(loc).Format(time.RFC3339))
				}
				if next.Location() != loc {
					t.Errorf("Next returned a time in %v, want %v", next.Location(), loc)
				}
				at = next
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for spec, why := range map[string]string{
		"":                               "empty",
		"bogus":                          "expected exactly 5 fields",
		"0 3 * *":                        "expected exactly 5 fields",
		"0 0 3 * * *":                    "expected exactly 5 fields", // no seconds field
		"61 * * * *":                     "above maximum",
		"0 24 * * *":                     "above maximum",
		"0 3 * * 8":                      "above maximum",
		"*/0 * * * *":                    "step",
		"@fortnightly":                   "unrecognized descriptor",
		"@everyday":                      "unrecognized descriptor",
		"@every":                         "bad duration",
		"@every ten minutes":             "bad duration",
		"@every 0s":                      "at least 1s",
		"@every -10m":                    "at least 1s",
		"@every 1.5s":                    "whole number of seconds",
		"TZ=America/Sao_Paulo 0 3 * * *": "time zone is a setting",
		"CRON_TZ=UTC 0 3 * * *":          "time zone is a setting",
		"TZ=Europe/Lisbon":               "time zone is a setting",
		"0 0 30 2 *":                     "matches no date",
		"0 0 31 4,6,9,11 *":              "matches no date",
	} {
		t.Run(spec, func(t *testing.T) {
			s, err := Parse(spec, time.UTC)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", spec, s)
			}
			msg := err.Error()
			if !strings.Contains(msg, why) || !strings.Contains(msg, `invalid schedule "`+spec+`"`) ||
				!strings.Contains(msg, `"0 3 * * *"`) {
				t.Errorf("error %q should name the spec, say %q and show what is accepted", msg, why)
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Spec != spec || !strings.Contains(pe.Err.Error(), why) ||
				strings.Contains(pe.Err.Error(), Syntax) {
				t.Errorf("error %#v should be a *ParseError of %q whose Err says only %q", err, spec, why)
			}
		})
	}
}

func TestString(t *testing.T) {
	sp := zone(t, "America/Sao_Paulo")
	for _, tc := range []struct {
		spec string
		loc  *time.Location
		want string
	}{
		{"0 3 * * *", sp, "0 3 * * * (America/Sao_Paulo)"},
		{" @daily", nil, "@daily (UTC)"},
		{"@every 10m", sp, "@every 10m"},
	} {
		s, err := Parse(tc.spec, tc.loc)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

// FuzzParse checks that no spec makes Parse panic, and that a parsed
// schedule's next time is later than the time it follows.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0 3 * * *", "@every 10m", "@daily", "TZ=UTC", "*/5 1-3 1,15 JAN-MAR MON-FRI", "1-100/7 * * * *"} {
		f.Add(s)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	from := time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec, ny)
		if err != nil {
			return
		}
		if next := s.Next(from); !next.IsZero() && !next.After(from) {
			t.Errorf("Parse(%q).Next(%v) = %v, not after", spec, from, next)
		}
	})
}
