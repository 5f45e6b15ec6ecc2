package eventlog

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestActiveEvents checks which events rewinds annul, on event lists
// written as "invocation" or "invocation>target" (a rewind of invocation
// to before target), one per event.
func TestActiveEvents(t *testing.T) {
	// CONTRACT T2
	for _, tc := range []struct {
		name   string
		events []string
		want   []int // indexes of the active events
	}{
		{"no events", nil, nil},
		{"no rewind keeps every event", []string{"a", "a", "b"}, []int{0, 1, 2}},
		{"a rewind annuls from its invocation's first event to itself",
			[]string{"a", "b", "b", "c", "r>b", "d"}, []int{0, 5}},
		{"a rewind to the first invocation annuls everything before it",
			[]string{"a", "a", "b", "r>a"}, nil},
		{"the first event of the invocation is the point, even when the invocation goes on later",
			[]string{"a", "b", "c", "b", "r>b"}, []int{0}},
		{"a rewind naming no earlier invocation annuls only itself",
			[]string{"a", "b", "r>zz", "c"}, []int{0, 1, 3}},
		{"a rewind does not look past itself for its invocation",
			[]string{"a", "r>b", "b"}, []int{0, 2}},
		{"a later rewind to a point after an earlier rewind leaves its annulment in place",
			// r1 annuls b..r1; r2 annuls d..r2.
			[]string{"a", "b", "c", "r1>b", "d", "e", "r2>d", "f"}, []int{0, 7}},
		{"a later rewind to a point before an earlier rewind annuls it too",
			[]string{"a", "b", "c", "r1>c", "d", "r2>b", "e"}, []int{0, 6}},
		{"a later rewind to a point inside an earlier rewind's span brings back what lies before its point",
			// r2 goes back to before c's first event: a and b stood then,
			// and r1 (which annulled b and c) is annulled itself.
			[]string{"a", "b", "c", "r1>b", "d", "r2>c", "e"}, []int{0, 1, 6}},
		{"a rewind to before an earlier rewind's own invocation undoes that rewind",
			[]string{"a", "r1>a", "b", "r2>r1", "c"}, []int{0, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := make([]*Event, len(tc.events))
			for i, s := range tc.events {
				inv, target, _ := strings.Cut(s, ">")
				events[i] = &Event{ID: s, InvocationID: inv, Actions: EventActions{RewindBeforeInvocationID: target}}
			}
			got := ActiveEvents(events)
			want := []*Event{}
			for _, i := range tc.want {
				want = append(want, events[i])
			}
			assert.Equal(t, want, got)
		})
	}
}
