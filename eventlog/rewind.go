package eventlog

// ActiveEvents returns the events of a session (in sequence order) that
// no rewind annulled, in the same order, as a new slice (CONTRACT T2).
//
// A rewind is an event whose Actions.RewindBeforeInvocationID names an
// invocation. It annuls itself and every event from the first event
// before it that carries that InvocationID up to it. The events are read
// from the last back to the first, and the events a rewind annuls are
// passed over unread, so:
//
//   - a rewind to a point before an earlier rewind annuls that earlier
//     rewind too, and with it the earlier rewind's annulment: events the
//     earlier rewind annulled that lie before the later rewind's point
//     are active again, as the later rewind's restored state says;
//   - a rewind to a point after an earlier rewind leaves the earlier
//     rewind's annulment in place.
//
// A rewind that names an invocation no earlier event carries annuls only
// itself. The events themselves are not copied.
func ActiveEvents(events []*Event) []*Event {
	keep := make([]bool, len(events))
	n := 0
	for i := len(events) - 1; i >= 0; i-- {
		id := events[i].Actions.RewindBeforeInvocationID
		if id == "" {
			keep[i] = true
			n++
			continue
		}
		for j := range i {
			if events[j].InvocationID == id {
				i = j // the loop steps on to the event before j
				break
			}
		}
	}
	out := make([]*Event, 0, n)
	for i, e := range events {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}
