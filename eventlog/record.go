package eventlog

import (
	"encoding/json"
	"fmt"
	"time"
)

// SessionKey names a session: the app it belongs to, the user who owns it,
// and its ID. Keys compare exactly, field by field; no choice of characters
// makes two different keys the same.
type SessionKey struct {
	AppName   string `json:"appName"`
	UserID    string `json:"userId"`
	SessionID string `json:"id"`
}

// String formats the key for messages. Each part is quoted, so the output is
// unambiguous whatever characters the parts hold.
func (k SessionKey) String() string {
	return fmt.Sprintf("%q/%q/%q", k.AppName, k.UserID, k.SessionID)
}

// Position orders every record of a store. Positions grow with every append
// and are never reused; 0 means "before the first record", so reading after
// position 0 reads the whole log.
type Position uint64

// Kind says what a record records.
type Kind uint8

// The kinds of record.
const (
	// KindSessionCreated records a session's creation with its initial
	// state (temp: keys already dropped).
	KindSessionCreated Kind = iota + 1
	// KindEventAppended records one event appended to a session.
	KindEventAppended
	// KindSessionDeleted records a session's deletion.
	KindSessionDeleted
	// KindStateRetained is what a deleted session leaves in the log: the
	// app: and user: state one of its records wrote, at that record's
	// original position. App and user state outlive the sessions that wrote
	// them, so a rebuild must still see these writes.
	KindStateRetained
)

var kindNames = [...]string{
	KindSessionCreated: "sessionCreated",
	KindEventAppended:  "eventAppended",
	KindSessionDeleted: "sessionDeleted",
	KindStateRetained:  "stateRetained",
}

// String returns the kind's name as it appears in JSON.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k >= KindSessionCreated && k <= KindStateRetained }

// MarshalText encodes the kind by name.
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("eventlog: %w: record kind %d is not defined", ErrInvalidArgument, uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes a kind from its name.
func (k *Kind) UnmarshalText(b []byte) error {
	for i, name := range kindNames {
		if name != "" && name == string(b) {
			*k = Kind(i)
			return nil
		}
	}
	return fmt.Errorf("eventlog: %w: record kind %q is not defined", ErrInvalidArgument, b)
}

// Record is one entry of the log. Stored records are immutable and the
// store's own, handed to readers without a copy: never change a record or
// its event after handing it to a store, nor one a store returned.
type Record struct {
	// Position is the record's place in the store-wide order; the store
	// assigns it, unless a record handed to [Store.Append] holds one (an
	// import), which the store keeps.
	Position Position   `json:"position"`
	Kind     Kind       `json:"kind"`
	Key      SessionKey `json:"key"`
	// Seq is the session's sequence number of an appended event (1, 2, 3,
	// ...); 0 for the other kinds. An event record handed to
	// [Store.Append] with Seq 0 gets the next one from the store.
	Seq uint64 `json:"seq,omitempty"`
	// Time is when the record happened: the creation or deletion time, or
	// the event's timestamp.
	Time time.Time `json:"time"`
	// Event is the appended event of a KindEventAppended record.
	Event *Event `json:"event,omitempty"`
	// State is the initial state of a KindSessionCreated record, or the
	// app: and user: writes of a KindStateRetained record. Keys carry their
	// scope prefix; values may be the Removed sentinel.
	State map[string]any `json:"state,omitempty"`

	// Incarnation, on a KindEventAppended record handed to
	// [Store.Append], pins the session instance the event is for: the
	// position of its creation record. When the session at the key is
	// another incarnation (the one meant was deleted, and another created
	// in its place), the store refuses the append with ErrNotFound. Zero
	// accepts any. It is a condition of the append, not part of the
	// record: it is neither stored nor encoded.
	Incarnation Position `json:"-"`
}

// MarshalJSON writes the record with its time in the one form
// [FormatTimestamp] documents and its state values by [AppendValue].
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record
	return json.Marshal(struct {
		plain
		Time  string   `json:"time"`
		State valueMap `json:"state,omitempty"`
	}{plain(r), FormatTimestamp(r.Time), r.State})
}

// UnmarshalJSON reads a record; its time may take any form [ParseTimestamp]
// accepts, and its state values read by [DecodeValue].
func (r *Record) UnmarshalJSON(b []byte) error {
	type plain Record
	var aux struct {
		plain
		Time  json.RawMessage `json:"time"`
		State valueMap        `json:"state"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	t, err := ParseTimestamp(aux.Time)
	if err != nil {
		return fmt.Errorf("record time: %w", err)
	}
	*r = Record(aux.plain)
	r.Time = t
	r.State = aux.State
	return nil
}

// Scope selects the records a reader follows: a whole app (UserID and
// SessionID empty), one user in an app (SessionID empty), or one session.
// An empty AppName selects the whole store, which only [Store.Read] accepts.
type Scope struct {
	AppName   string
	UserID    string
	SessionID string
	// Incarnation, for a session scope, pins the session instance: the
	// Position of its creation record. A session deleted and created again
	// under the same key is another incarnation, and reading the old one
	// gives ErrNotFound. Zero accepts whichever incarnation is live.
	Incarnation Position
}

// SessionScope returns the scope of one session incarnation.
func SessionScope(key SessionKey, incarnation Position) Scope {
	return Scope{AppName: key.AppName, UserID: key.UserID, SessionID: key.SessionID, Incarnation: incarnation}
}

// String formats the scope for messages: "store", "app %q", "user %q of
// app %q" or a session key.
func (s Scope) String() string {
	switch {
	case s.AppName == "":
		return "store"
	case s.IsSession():
		return "session " + s.Key().String()
	case s.UserID != "":
		return fmt.Sprintf("user %q of app %q", s.UserID, s.AppName)
	}
	return fmt.Sprintf("app %q", s.AppName)
}

// IsSession reports whether the scope names one session.
func (s Scope) IsSession() bool { return s.SessionID != "" }

// Key returns the session key of a session scope.
func (s Scope) Key() SessionKey {
	return SessionKey{AppName: s.AppName, UserID: s.UserID, SessionID: s.SessionID}
}

// Contains reports whether rec is in the scope (ignoring Incarnation).
func (s Scope) Contains(rec *Record) bool {
	switch {
	case s.AppName == "":
		return true
	case rec.Key.AppName != s.AppName:
		return false
	case s.UserID == "" && s.SessionID == "":
		return true
	case rec.Key.UserID != s.UserID:
		return false
	default:
		return s.SessionID == "" || rec.Key.SessionID == s.SessionID
	}
}
