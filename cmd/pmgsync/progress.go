package main

import (
	"fmt"
	"io"
	"time"
)

// progressInterval is how often a progress line is rewritten at most.
const progressInterval = 250 * time.Millisecond

// progressLine shows how far a long command (backup, restore, verify) has
// gone, on one line of a terminal that is rewritten in place at most every
// progressInterval. A nil *progressLine shows nothing: commands make one
// only when standard error is a terminal, never in a log or a cron mail.
type progressLine struct {
	w     io.Writer
	now   func() time.Time
	last  time.Time
	shown bool
}

// newProgressLine returns a progress line on w if w is a terminal, and nil
// otherwise.
func newProgressLine(w io.Writer) *progressLine {
	if !isTerminal(w) {
		return nil
	}
	return &progressLine{w: w, now: time.Now}
}

// show rewrites the line with text(), unless it was rewritten less than
// progressInterval ago; text is not called then.
func (p *progressLine) show(text func() string) {
	if p == nil {
		return
	}
	now := p.now()
	if p.shown && now.Sub(p.last) < progressInterval {
		return
	}
	p.last, p.shown = now, true
	// \r goes back to the start of the line, \033[K erases the rest of it.
	fmt.Fprintf(p.w, "\r%s\033[K", text())
}

// end finishes the line, if one was shown: with final, it is rewritten
// with final and kept; without, it is erased, so that what follows starts
// on a clean line.
func (p *progressLine) end(final func() string) {
	if p == nil || !p.shown {
		return
	}
	if final != nil {
		fmt.Fprintf(p.w, "\r%s\033[K\n", final())
		return
	}
	fmt.Fprint(p.w, "\r\033[K")
}
