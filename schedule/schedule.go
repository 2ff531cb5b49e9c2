// Package schedule says when a recurring job runs, from a cron expression
// read in a time zone, and runs it at those times. It wraps the parser of
// github.com/robfig/cron/v3 and adds a rule for the days on which daylight
// saving time moves the clocks (see Schedule.Next).
//
// Zones are loaded by the caller (time.LoadLocation); a binary that must find
// them without the system's zoneinfo imports time/tzdata.
package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a parsed schedule in a time zone. It is immutable and safe for
// concurrent use.
type Schedule struct {
	spec string
	loc  *time.Location
	// Exactly one of these is set.
	wall  *cron.SpecSchedule         // fields matched against wall-clock time, in UTC
	every cron.ConstantDelaySchedule // for "@every <duration>"
}

// Syntax says what Parse accepts, for an operator; ParseError's message
// ends with it.
const Syntax = `use five cron fields (minute hour day-of-month month day-of-week) such as "0 3 * * *", ` +
	`or @yearly, @monthly, @weekly, @daily, @hourly, or "@every 10m"`

// ParseError is the error of Parse: why Spec is not a schedule.
type ParseError struct {
	Spec string // the schedule as given to Parse
	Err  error  // why it is refused, without the schedule or Syntax
}

// Error names the schedule, says why it is refused and what is accepted.
func (e *ParseError) Error() string {
	return fmt.Sprintf("invalid schedule %q: %v; %s", e.Spec, e.Err, Syntax)
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

// Parse parses spec, a standard five-field cron expression ("0 3 * * *":
// minute, hour, day of month, month, day of week) or a descriptor (@yearly,
// @annually, @monthly, @weekly, @daily, @midnight, @hourly, or
// "@every <duration>" with a whole number of seconds, at least 1s, such as
// "@every 10m"). The fields are read in loc (UTC if nil). The time zone is
// set only by loc: a "TZ=" or "CRON_TZ=" prefix is rejected.
//
// The error is a *ParseError, whose message names spec and says what is
// accepted. A calendar expression that matches no date ("0 0 30 2 *") is an
// error too.
func Parse(spec string, loc *time.Location) (*Schedule, error) {
	s, err := parse(strings.TrimSpace(spec), loc)
	if err != nil {
		return nil, &ParseError{Spec: spec, Err: err}
	}
	return s, nil
}

func parse(spec string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	switch {
	case spec == "":
		return nil, errors.New("it is empty")
	case strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ="):
		return nil, errors.New("the time zone is a setting of its own, not part of the schedule")
	}
	s := &Schedule{spec: spec, loc: loc}
	if spec == "@every" || strings.HasPrefix(spec, "@every ") {
		d, err := time.ParseDuration(strings.TrimSpace(strings.TrimPrefix(spec, "@every")))
		switch {
		case err != nil:
			return nil, fmt.Errorf("bad duration after @every: %w", err)
		case d < time.Second || d%time.Second != 0:
			return nil, fmt.Errorf("the interval %v is not a whole number of seconds of at least 1s", d)
		}
		s.every = cron.Every(d)
		return s, nil
	}
	parser := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	parsed, err := parser.Parse(spec)
	if err != nil {
		return nil, err
	}
	wall, ok := parsed.(*cron.SpecSchedule)
	if !ok { // every other descriptor is a SpecSchedule
		return nil, fmt.Errorf("unexpected schedule type %T", parsed)
	}
	// Matching in UTC, which has no daylight saving time, is matching the
	// wall clock; Next maps the match to an instant in loc.
	w := *wall
	w.Location = time.UTC
	s.wall = &w
	// cron looks five years ahead; any date that exists comes up by then
	// (February 29 included), so a reference in the past proves the point.
	if w.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, errors.New("it matches no date")
	}
	return s, nil
}

// String returns the schedule as it was written, with its time zone for a
// calendar schedule: "0 3 * * * (America/Sao_Paulo)", "@every 10m".
func (s *Schedule) String() string {
	if s.wall == nil {
		return s.spec
	}
	return s.spec + " (" + s.loc.String() + ")"
}

// Next returns the first time strictly after `after` at which the job is
// due, in the schedule's time zone, or the zero time if a calendar schedule
// has none within five years.
//
// "@every d" is due d after `after` (rounded down to the second), whatever
// the zone. A calendar schedule is due at the wall-clock times it matches,
// and on the days that daylight saving time starts or ends it follows the
// rule of Vixie cron, so that a daily job runs once every day:
//   - a time that the clocks skip (02:30 when they jump from 02:00 to 03:00)
//     is due at the instant of the jump;
//   - a time that the clocks show twice (01:30 when they go back from 02:00
//     to 01:00) is due only the first time.
func (s *Schedule) Next(after time.Time) time.Time {
	if s.wall == nil {
		return s.every.Next(after).In(s.loc)
	}
	a := after.In(s.loc)
	wall := time.Date(a.Year(), a.Month(), a.Day(), a.Hour(), a.Minute(), a.Second(), a.Nanosecond(), time.UTC)
	// Each turn moves to a later wall-clock match, at least a minute on.
	// Only a match that was first shown at or before `after` (after is in
	// the repeated hour of a change) takes another turn; a day of turns
	// gets past any such repeat.
	for range 24*60 + 1 {
		wall = s.wall.Next(wall)
		if wall.IsZero() {
			return time.Time{}
		}
		if t := s.instant(wall); t.After(after) {
			return t
		}
	}
	return time.Time{}
}

// instant maps a wall-clock time (as a UTC time) to the instant in s.loc
// at which it is due: the first instant that shows it, or, if the clocks skip
// it, the instant they jump.
func (s *Schedule) instant(wall time.Time) time.Time {
	// A zone's offset changes at most once within a day of any instant, so
	// the offsets a day before and a day after are the only ones that can
	// show this wall time.
	_, offBefore := wall.Add(-24 * time.Hour).In(s.loc).Zone()
	_, offAfter := wall.Add(24 * time.Hour).In(s.loc).Zone()
	var first time.Time
	for _, off := range []int{offBefore, offAfter} {
		t := wall.Add(-time.Duration(off) * time.Second).In(s.loc)
		if sameWall(t, wall) && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	if !first.IsZero() {
		return first
	}
	// Skipped: at the new offset's reading of wall, the old offset is still
	// in force; its zone ends at the jump.
	_, end := wall.Add(-time.Duration(offAfter) * time.Second).In(s.loc).ZoneBounds()
	return end.In(s.loc)
}

// sameWall reports whether t shows the wall-clock time wall (a UTC time).
func sameWall(t, wall time.Time) bool {
	y, mo, d := t.Date()
	wy, wmo, wd := wall.Date()
	return y == wy && mo == wmo && d == wd &&
		t.Hour() == wall.Hour() && t.Minute() == wall.Minute() && t.Second() == wall.Second()
}
