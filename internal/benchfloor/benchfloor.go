// Package benchfloor holds what the append benchmarks of package service
// and package memstore share: the event they append and the floors they
// compare with, so that both measure against the same thing.
//
// A floor is a bare session store, a mutex, a slice and a map:
//
//   - floor-bare keeps the caller's event pointer and writes the delta into
//     the map: the least any session store does.
//   - floor-copy first takes a private deep copy of the event
//     ([eventlog.Event.Clone]), as every store that may be trusted with its
//     callers' events must (CONTRACT A8).
package benchfloor

import (
	"strconv"
	"sync"
	"time"

	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
)

// SessionLength is how many events a benchmark puts in a session before it
// moves on to a new one, so that the heap does not grow by millions of
// events and the benchmarks measure the append rather than the garbage
// collector's scans of them.
const SessionLength = 10_000

// Time is the timestamp of the first benchmark event.
var Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Event returns the i-th benchmark event: an agent's reply with one text
// part and a 3-key delta in three scopes (k, user:u, app:a).
func Event(i int) *eventlog.Event {
	return &eventlog.Event{
		ID:        "e" + strconv.Itoa(i),
		Author:    "agent",
		Timestamp: Time.Add(time.Duration(i) * time.Millisecond),
		Content:   &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{{Text: "It is sunny."}}},
		Actions: eventlog.EventActions{StateDelta: map[string]any{
			"k": i, "user:u": i, "app:a": i,
		}},
	}
}

// Floor is a bare store to compare an append with. Make one with [New].
type Floor struct {
	copy   bool
	mu     sync.Mutex
	events []*eventlog.Event
	state  map[string]any
}

// New returns a floor that keeps a private copy of each event when copy is
// set (floor-copy), and the caller's pointer otherwise (floor-bare).
func New(copy bool) *Floor { return &Floor{copy: copy, state: map[string]any{}} }

// Append stores ev, starting a new session every SessionLength events.
func (f *Floor) Append(ev *eventlog.Event) {
	if f.copy {
		ev = ev.Clone()
	}
	f.mu.Lock()
	if len(f.events) == SessionLength {
		f.events = nil
	}
	f.events = append(f.events, ev)
	for k, v := range ev.Actions.StateDelta {
		f.state[k] = v
	}
	f.mu.Unlock()
}

// Name is the floor's name in benchmark output: floor-copy or floor-bare.
func Name(copy bool) string {
	if copy {
		return "floor-copy"
	}
	return "floor-bare"
}
