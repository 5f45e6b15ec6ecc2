package service

import (
	"encoding/json"
	"fmt"

	"github.com/sessionlog/sessionlog/eventlog"
)

// MarshalJSON writes the session with its state's values as its events
// write theirs ([eventlog.AppendValue]): a float that holds a whole number
// keeps its ".0", so that the document reads back with the values that
// went in (CONTRACT V1). The handle's pin to its incarnation is not
// written: a session read back from JSON is a handle built by hand.
func (s Session) MarshalJSON() ([]byte, error) {
	type wire Session
	state, err := eventlog.AppendValue(nil, s.State)
	if err != nil {
		return nil, fmt.Errorf("encode session %s: state: %w", s.Key(), err)
	}
	return json.Marshal(struct {
		wire
		State json.RawMessage `json:"state"`
	}{wire(s), state})
}

// UnmarshalJSON reads a session as MarshalJSON writes it, its state's
// values with [eventlog.DecodeValue]: whole numbers written without a
// fraction as int, other numbers as float64.
func (s *Session) UnmarshalJSON(b []byte) error {
	type wire Session
	var out Session
	aux := struct {
		*wire
		State json.RawMessage `json:"state"`
	}{wire: (*wire)(&out)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if len(aux.State) > 0 {
		v, err := eventlog.DecodeValue(aux.State)
		if err != nil {
			return fmt.Errorf("decode session %s: state: %w", out.Key(), err)
		}
		state, ok := v.(map[string]any)
		if v != nil && !ok {
			return fmt.Errorf("decode session %s: state is not an object", out.Key())
		}
		out.State = state
	}
	*s = out
	return nil
}
