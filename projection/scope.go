package projection

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/sessionlog/sessionlog/eventlog"
)

// The key prefixes that choose a state key's scope.
const (
	AppPrefix  = eventlog.AppPrefix
	UserPrefix = eventlog.UserPrefix
	TempPrefix = eventlog.TempPrefix
)

// RemovedJSON is how [Removed] is written in JSON, the string the ADK
// runtimes use for it; decoding that string gives a value [IsRemoved]
// recognises.
const RemovedJSON = "__ADK_SENTINEL_REMOVED__"

// Removal is the type of the [Removed] sentinel. Being a string type, it
// encodes as its JSON string and prints as it, with no methods of its own.
type Removal string

// Removed, as a value in a state delta, deletes the key from its scope.
const Removed Removal = RemovedJSON

var removedJSONBytes, _ = json.Marshal(RemovedJSON)

// IsRemoved reports whether a delta value means "delete this key": the
// [Removed] sentinel, or its JSON string as a string or as raw JSON (how it
// reads back from the wire).
func IsRemoved(v any) bool {
	switch v := v.(type) {
	case Removal:
		return v == Removed
	case string:
		return v == RemovedJSON
	case json.RawMessage:
		return bytes.Equal(v, removedJSONBytes)
	}
	return false
}

// where is the scope a state key belongs to.
type where uint8

const (
	inSession where = iota
	inApp
	inUser
	inTemp
)

// scopeOf returns the scope of a delta key and the key's name within it.
func scopeOf(key string) (where, string) {
	switch {
	case strings.HasPrefix(key, AppPrefix):
		return inApp, key[len(AppPrefix):]
	case strings.HasPrefix(key, UserPrefix):
		return inUser, key[len(UserPrefix):]
	case strings.HasPrefix(key, TempPrefix):
		return inTemp, key
	}
	return inSession, key
}

// IsOwn reports whether a state key is the session's own: it has none of
// the app:, user: and temp: prefixes.
func IsOwn(key string) bool {
	in, _ := scopeOf(key)
	return in == inSession
}

// set writes v at key in m, or deletes key when v is [Removed].
func set(m map[string]any, key string, v any) {
	if IsRemoved(v) {
		delete(m, key)
	} else {
		m[key] = v
	}
}

// Split sorts a delta by scope: app: and user: keys lose their prefix,
// temp: keys are dropped, the rest is session state. It allocates only the
// maps it fills.
func Split(delta map[string]any) (app, user, session map[string]any) {
	put := func(m *map[string]any, k string, v any) {
		if *m == nil {
			*m = make(map[string]any)
		}
		(*m)[k] = v
	}
	for k, v := range delta {
		switch in, name := scopeOf(k); in {
		case inApp:
			put(&app, name, v)
		case inUser:
			put(&user, name, v)
		case inSession:
			put(&session, name, v)
		}
	}
	return app, user, session
}

// WritesShared reports whether a delta writes app or user state.
func WritesShared(delta map[string]any) bool {
	for k := range delta {
		if in, _ := scopeOf(k); in == inApp || in == inUser {
			return true
		}
	}
	return false
}

// CloneWithoutTemp returns a deep copy of delta without its temp: keys (nil
// for nil).
func CloneWithoutTemp(delta map[string]any) map[string]any {
	out, _ := CloneForLog(delta)
	return out
}

// CloneForLog is [CloneWithoutTemp] that also reports, from the same pass,
// whether the copy writes app or user state ([WritesShared]).
func CloneForLog(delta map[string]any) (out map[string]any, shared bool) {
	if delta == nil {
		return nil, false
	}
	out = make(map[string]any, len(delta))
	for k, v := range delta {
		switch in, _ := scopeOf(k); in {
		case inTemp:
			continue
		case inApp, inUser:
			shared = true
		}
		out[k] = eventlog.CloneValue(v)
	}
	return out, shared
}

// ApplyDelta applies a delta to a merged view of state (as a session handle
// holds it): every key, whatever its prefix, is set, or deleted when its
// value is [Removed].
func ApplyDelta(state, delta map[string]any) {
	for k, v := range delta {
		set(state, k, v)
	}
}

// Entry is one key of app or user state. Writes to app and user state can
// come from many sessions at once and a store may fold them in any order,
// so each entry remembers the position of the record that wrote it and an
// older write never replaces a newer one. A removed key stays as an entry
// with Removed set, for the same reason.
type Entry struct {
	Value    any
	Position eventlog.Position
	Removed  bool
	// changes is the key's history, when the fold keeps one
	// ([AppState.KeepHistory]): kept on the entry that a write looks up
	// anyway, so that recording a change costs no second lookup.
	changes *changes
}

// Shared is app or user state, the state that the sessions of an app or of
// a user share: entries by key, kept with the scope prefix ("app:k",
// "user:k") as a handle's merged state shows them, so that a read merges
// them without building a single string. Entries are pointers so
// that a write finds and updates its entry with one map lookup.
type Shared map[string]*Entry

// write applies one shared write at a position, keeping the newest, and
// records it in the key's history when keep is set.
func (s Shared) write(key string, v any, pos eventlog.Position, keep bool) {
	e := s[key]
	fresh := e == nil
	if fresh {
		e = new(Entry)
		s[key] = e
	}
	if keep {
		if e.changes == nil {
			e.changes = new(changes)
		}
		e.changes.add(uint64(pos))
	}
	if !fresh && e.Position > pos {
		return
	}
	if IsRemoved(v) {
		e.Value, e.Position, e.Removed = nil, pos, true
		return
	}
	e.Value, e.Position, e.Removed = v, pos, false
}

// Clone copies the entries, so that the copy does not change with s (the
// values themselves are not copied), without their histories.
func (s Shared) Clone() Shared {
	out := make(Shared, len(s))
	for k, e := range s {
		c := *e
		c.changes = nil
		out[k] = &c
	}
	return out
}

// mergeInto adds the live entries to out, deep-copying values so that out
// belongs to its caller.
func (s Shared) mergeInto(out map[string]any) {
	for k, e := range s {
		if !e.Removed {
			out[k] = eventlog.CloneValue(e.Value)
		}
	}
}

// Values returns the live keys, without their scope prefix, and their
// values (not copied).
func (s Shared) Values() map[string]any {
	out := make(map[string]any, len(s))
	for k, e := range s {
		if !e.Removed {
			_, name := scopeOf(k)
			out[name] = e.Value
		}
	}
	return out
}
