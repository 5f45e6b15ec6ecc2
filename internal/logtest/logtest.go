// Package logtest records what code logs through log/slog, so that tests
// can assert each line's level, message and attributes.
package logtest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Line is one logged record: its level, message and attributes, the
// attributes of groups named "group.key".
type Line struct {
	Level   slog.Level
	Message string
	Attrs   map[string]slog.Value
}

// String writes the line as a text handler would, for failure messages.
func (l Line) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", l.Level, l.Message)
	keys := make([]string, 0, len(l.Attrs))
	for k := range l.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%v", k, l.Attrs[k])
	}
	return b.String()
}

// Recorder keeps every line logged through its loggers, at every level.
// It is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	lines []Line
	added chan struct{} // closed and replaced at each line
}

// New returns an empty recorder.
func New() *Recorder { return &Recorder{added: make(chan struct{})} }

// Logger returns a logger that records into r.
func (r *Recorder) Logger() *slog.Logger { return slog.New(&handler{r: r}) }

// Lines returns a copy of the lines recorded so far, in order.
func (r *Recorder) Lines() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lines)
}

// Find returns the lines with message msg, in order.
func (r *Recorder) Find(msg string) []Line {
	var out []Line
	for _, l := range r.Lines() {
		if l.Message == msg {
			out = append(out, l)
		}
	}
	return out
}

// Wait returns the first line with message msg, waiting up to timeout for
// it; it fails the test if none comes.
func (r *Recorder) Wait(t testing.TB, msg string, timeout time.Duration) Line {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		added := r.added
		for _, l := range r.lines {
			if l.Message == msg {
				r.mu.Unlock()
				return l
			}
		}
		r.mu.Unlock()
		select {
		case <-added:
		case <-deadline.C:
			t.Fatalf("no line %q was logged within %v; logged:\n%s", msg, timeout, r)
			return Line{}
		}
	}
}

// String lists the recorded lines, one a line.
func (r *Recorder) String() string {
	var b strings.Builder
	for _, l := range r.Lines() {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func (r *Recorder) add(l Line) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, l)
	close(r.added)
	r.added = make(chan struct{})
}

// CaptureDefault makes slog.Default record into a new recorder until the
// test ends, when the previous default logger is restored. Tests that use
// it must not run in parallel with others that log through the default.
func CaptureDefault(t testing.TB) *Recorder {
	t.Helper()
	prev := slog.Default()
	r := New()
	slog.SetDefault(r.Logger())
	t.Cleanup(func() { slog.SetDefault(prev) })
	return r
}

// handler is a slog.Handler that records into r.
type handler struct {
	r      *Recorder
	prefix string      // the open groups, each followed by a dot
	attrs  []slog.Attr // from WithAttrs, keys already prefixed
}

func (h *handler) Enabled(context.Context, slog.Level) bool { return true }

func (h *handler) Handle(_ context.Context, rec slog.Record) error {
	l := Line{Level: rec.Level, Message: rec.Message, Attrs: map[string]slog.Value{}}
	for _, a := range h.attrs {
		l.Attrs[a.Key] = a.Value
	}
	rec.Attrs(func(a slog.Attr) bool {
		addAttr(l.Attrs, h.prefix, a)
		return true
	})
	h.r.add(l)
	return nil
}

func addAttr(into map[string]slog.Value, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			addAttr(into, p, g)
		}
		return
	}
	into[prefix+a.Key] = v
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	m := map[string]slog.Value{}
	for _, a := range attrs {
		addAttr(m, h.prefix, a)
	}
	out := &handler{r: h.r, prefix: h.prefix, attrs: slices.Clone(h.attrs)}
	for k, v := range m {
		out.attrs = append(out.attrs, slog.Attr{Key: k, Value: v})
	}
	return out
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{r: h.r, prefix: h.prefix + name + ".", attrs: h.attrs}
}
