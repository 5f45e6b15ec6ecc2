package adkgo

import (
	"fmt"
	"maps"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// The keys of an ADK event's CustomMetadata under which [ToADK] carries
// the actions that the Go ADK's session.EventActions has no field for, and
// from which [FromADK] takes them back. The "sessionlog:" prefix keeps them
// apart from a model's or an application's own metadata; the rest of each
// key is the action's wire name (actions.rewindBeforeInvocationId and so
// on). The keys are reserved: whatever an ADK event holds under one of
// them is read as that action.
const (
	// MetadataKeyRewindBeforeInvocationID carries
	// Actions.RewindBeforeInvocationID: the event is a rewind to just
	// before that invocation ([Service.Rewind]). The value is a non-empty
	// string.
	MetadataKeyRewindBeforeInvocationID = "sessionlog:rewindBeforeInvocationId"
	// MetadataKeyEndOfAgent carries Actions.EndOfAgent, which marks the
	// last event of an agent's run. The value is true; the key is absent
	// when the action is false.
	MetadataKeyEndOfAgent = "sessionlog:endOfAgent"
	// MetadataKeyRequestedAuthConfigs carries
	// Actions.RequestedAuthConfigs, the credentials function calls wait
	// for by call ID, as a map[string]any of JSON-like values.
	MetadataKeyRequestedAuthConfigs = "sessionlog:requestedAuthConfigs"
)

// carriedAction is one action carried in CustomMetadata: has reports
// whether an event's actions set it, value gives its value then, and take
// stores a value read from an ADK event, or says why it cannot be that
// action. has is apart from value so that the common case, an event
// without the action, boxes nothing.
type carriedAction struct {
	key   string
	has   func(*eventlog.EventActions) bool
	value func(*eventlog.EventActions) any
	take  func(*eventlog.EventActions, any) error
}

// carriedActions are the actions [ToADK] carries in CustomMetadata. Each
// take accepts exactly the values its value yields, so an event converts
// back to itself in either direction.
var carriedActions = [...]carriedAction{
	{
		key:   MetadataKeyRewindBeforeInvocationID,
		has:   func(a *eventlog.EventActions) bool { return a.RewindBeforeInvocationID != "" },
		value: func(a *eventlog.EventActions) any { return a.RewindBeforeInvocationID },
		take: func(a *eventlog.EventActions, v any) error {
			id, ok := v.(string)
			if !ok || id == "" {
				return fmt.Errorf("is %s, want a non-empty invocation ID", describe(v))
			}
			a.RewindBeforeInvocationID = id
			return nil
		},
	},
	{
		key:   MetadataKeyEndOfAgent,
		has:   func(a *eventlog.EventActions) bool { return a.EndOfAgent },
		value: func(*eventlog.EventActions) any { return true },
		take: func(a *eventlog.EventActions, v any) error {
			if b, ok := v.(bool); !ok || !b {
				return fmt.Errorf("is %s, want true (leave the key out for false)", describe(v))
			}
			a.EndOfAgent = true
			return nil
		},
	},
	{
		key:   MetadataKeyRequestedAuthConfigs,
		has:   func(a *eventlog.EventActions) bool { return a.RequestedAuthConfigs != nil },
		value: func(a *eventlog.EventActions) any { return a.RequestedAuthConfigs },
		take: func(a *eventlog.EventActions, v any) error {
			m, ok := v.(map[string]any)
			if !ok || m == nil {
				return fmt.Errorf("is %s, want a map[string]any of auth configs by function call ID", describe(v))
			}
			a.RequestedAuthConfigs = m
			return nil
		},
	},
}

// describe names a value's kind for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		if x == "" {
			return "an empty string"
		}
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("%t", x)
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// carriesAny reports whether a sets any of carriedActions: their has
// functions in one test the compiler inlines, which lets toADKInto skip
// withCarried for nearly every event it converts
// (TestCarriesAnyAgreesWithTheTable keeps the two in step).
func carriesAny(a *eventlog.EventActions) bool {
	return a.RewindBeforeInvocationID != "" || a.EndOfAgent || a.RequestedAuthConfigs != nil
}

// withCarried returns the CustomMetadata of the ADK event converted from a
// stored event with metadata meta and actions a: meta with each set
// carried action under its key, and without the keys of the actions that
// are not set. It returns meta itself when that changes nothing.
func withCarried(meta map[string]any, a *eventlog.EventActions) map[string]any {
	carries := carriesAny(a)
	var out map[string]any // a copy, made at the first change
	for i := range carriedActions {
		c := &carriedActions[i]
		set := carries && c.has(a)
		_, held := meta[c.key]
		if !set && !held {
			continue
		}
		if out == nil {
			out = make(map[string]any, len(meta)+1)
			maps.Copy(out, meta)
		}
		if set {
			out[c.key] = c.value(a)
		} else {
			delete(out, c.key)
		}
	}
	switch {
	case out == nil:
		return meta
	case len(out) == 0:
		return nil
	}
	return out
}

// takeCarried moves the carried actions an ADK event's CustomMetadata meta
// holds into a, and returns meta without their keys (nil when nothing else
// is left; meta itself when it holds none of them). A value of another kind
// than withCarried writes is ErrInvalidArgument naming its key.
func takeCarried(meta map[string]any, a *eventlog.EventActions) (map[string]any, error) {
	if len(meta) == 0 {
		return meta, nil
	}
	var out map[string]any
	for i := range carriedActions {
		c := &carriedActions[i]
		v, held := meta[c.key]
		if !held {
			continue
		}
		if err := c.take(a, v); err != nil {
			return nil, fmt.Errorf("%w: customMetadata[%q] %v", service.ErrInvalidArgument, c.key, err)
		}
		if out == nil {
			out = maps.Clone(meta)
		}
		delete(out, c.key)
	}
	switch {
	case out == nil:
		return meta, nil
	case len(out) == 0:
		return nil, nil
	}
	return out, nil
}
