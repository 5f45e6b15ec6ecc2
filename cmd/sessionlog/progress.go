package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressDelay is how long a step runs before its progress shows: a
// quick command prints nothing.
const progressDelay = time.Second

// progressEvery is how often the progress line is rewritten.
const progressEvery = 200 * time.Millisecond

// progress shows how far a long step has got on one line of a terminal,
// rewritten in place: the records done, the rate and, when the total is
// known, the time left. It writes nothing when its writer is not a
// terminal, or before the step has run for progressDelay, and it blanks its
// line when the step ends. Its methods are called from the goroutine that
// runs the step; a nil *progress does nothing.
type progress struct {
	w     io.Writer
	now   func() time.Time
	label string // what is being done: "export"
	unit  string // what is counted: "records"
	total int64  // 0: not known
	done  int64
	start time.Time
	next  time.Time // when the line may next be rewritten
	width int       // the length of the line on screen, 0 if none
}

// newProgress returns the progress of a step named label, counting unit,
// of total items if total > 0. It is nil, and shows nothing, unless tty.
func newProgress(w io.Writer, tty bool, now func() time.Time, label, unit string, total int64) *progress {
	if !tty {
		return nil
	}
	start := now()
	return &progress{w: w, now: now, label: label, unit: unit, total: total, start: start, next: start.Add(progressDelay)}
}

// phase starts counting something else, from zero, on the same line.
func (p *progress) phase(label, unit string, total int64) {
	if p == nil {
		return
	}
	p.label, p.unit, p.total, p.done = label, unit, total, 0
	p.start = p.now()
	if p.width == 0 {
		p.next = p.start.Add(progressDelay)
	}
}

// add counts n more items done, and rewrites the line if it is time to.
func (p *progress) add(n int) {
	if p == nil {
		return
	}
	p.done += int64(n)
	now := p.now()
	if now.Before(p.next) {
		return
	}
	p.next = now.Add(progressEvery)
	p.show(p.line(now.Sub(p.start)))
}

// line formats the progress after elapsed.
func (p *progress) line(elapsed time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d", p.label, p.done)
	if p.total > 0 {
		fmt.Fprintf(&b, " of %d %s (%d%%)", p.total, p.unit, p.done*100/p.total)
	} else {
		fmt.Fprintf(&b, " %s", p.unit)
	}
	if elapsed <= 0 || p.done == 0 {
		return b.String()
	}
	rate := float64(p.done) / elapsed.Seconds()
	fmt.Fprintf(&b, ", %.0f/s", rate)
	if p.total > 0 && p.done < p.total {
		left := time.Duration(float64(p.total-p.done) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", %s left", left.Round(time.Second))
	}
	return b.String()
}

// show replaces the line on screen with s.
func (p *progress) show(s string) {
	pad := max(p.width-len(s), 0)
	fmt.Fprintf(p.w, "\r%s%s", s, strings.Repeat(" ", pad))
	if pad > 0 {
		fmt.Fprintf(p.w, "\r%s", s) // the cursor back to the end of s
	}
	p.width = len(s)
}

// finish blanks the line, if one was shown, so that what the command
// prints next starts on a clean line.
func (p *progress) finish() {
	if p == nil || p.width == 0 {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
	p.width = 0
}

// isTerminal reports whether w is a terminal (a character device), with
// the standard library only.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
