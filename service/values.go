package service

import (
	"strings"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// applyToHandle applies an appended event's delta to the caller's handle
// (CONTRACT A5): the keys the store kept with the values it kept, so that
// the handle holds what a later Get returns (CONTRACT V1), and the temp:
// keys of the caller's delta as the caller gave them, since they live in
// the handle only (CONTRACT A4). Stored values are shared read-only with
// the store's event, so nested maps and slices are copied (CONTRACT G4).
func applyToHandle(state, stored, delta map[string]any) {
	for k, v := range stored {
		switch {
		case projection.IsRemoved(v):
			delete(state, k)
		case eventlog.NeedsClone(v):
			state[k] = eventlog.CloneValue(v)
		default:
			state[k] = v
		}
	}
	if len(stored) == len(delta) {
		return // no temp: keys
	}
	for k, v := range delta {
		if !strings.HasPrefix(k, eventlog.TempPrefix) {
			continue
		}
		if projection.IsRemoved(v) {
			delete(state, k)
		} else {
			state[k] = v
		}
	}
}
