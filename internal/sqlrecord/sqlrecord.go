// Package sqlrecord is the part of sessionlog's SQL stores (pgstore,
// sqlitestore) that no SQL dialect changes: how a record becomes a row (its
// JSON body, its state writes by scope, the sortable text of its time) and
// how rows become records, states and views again. The SQL itself stays
// with each store, since the dialects differ.
package sqlrecord

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// The scopes of a state write, as the stores' state tables number them.
const (
	ScopeSession int16 = 0
	ScopeApp     int16 = 1
	ScopeUser    int16 = 2
)

// Writes are a record's state writes: keys without their prefix, each
// value encoded as JSON on its own (nil removes the key), and the scope
// of each.
type Writes struct {
	Keys   [][]byte
	Values [][]byte
	Scopes []int16
}

// WritesOf returns the writes the fold applies for rec, a record as
// readers decode it: a creation's and an event's keys in every scope, a
// retained record's app: and user: keys; never a temp: key. A value that
// cannot be encoded as JSON is ErrInvalidArgument. The writes are sorted by
// scope, then key byte by byte: a store whose writers lock state rows
// takes them in that one order, so that two writers never wait for each
// other in a cycle.
func WritesOf(rec *eventlog.Record) (Writes, error) {
	var w Writes
	for k, v := range rec.Writes() {
		var key string
		var scope int16
		switch {
		case strings.HasPrefix(k, eventlog.AppPrefix):
			key, scope = k[len(eventlog.AppPrefix):], ScopeApp
		case strings.HasPrefix(k, eventlog.UserPrefix):
			key, scope = k[len(eventlog.UserPrefix):], ScopeUser
		case strings.HasPrefix(k, eventlog.TempPrefix) || rec.Kind == eventlog.KindStateRetained:
			continue
		default:
			key, scope = k, ScopeSession
		}
		var value []byte
		if !projection.IsRemoved(v) {
			var err error
			if value, err = eventlog.AppendValue(nil, v); err != nil {
				return Writes{}, fmt.Errorf("%w: state %q cannot be encoded as JSON: %w", eventlog.ErrInvalidArgument, k, err)
			}
		}
		w.Keys, w.Values, w.Scopes = append(w.Keys, []byte(key)), append(w.Values, value), append(w.Scopes, scope)
	}
	sort.Sort(byScopeAndKey(w))
	return w, nil
}

// byScopeAndKey sorts state writes by scope, then key.
type byScopeAndKey Writes

func (w byScopeAndKey) Len() int { return len(w.Keys) }
func (w byScopeAndKey) Less(i, j int) bool {
	if w.Scopes[i] != w.Scopes[j] {
		return w.Scopes[i] < w.Scopes[j]
	}
	return bytes.Compare(w.Keys[i], w.Keys[j]) < 0
}
func (w byScopeAndKey) Swap(i, j int) {
	w.Keys[i], w.Keys[j] = w.Keys[j], w.Keys[i]
	w.Values[i], w.Values[j] = w.Values[j], w.Values[i]
	w.Scopes[i], w.Scopes[j] = w.Scopes[j], w.Scopes[i]
}

// Encoded is a record as an SQL store keeps it: its JSON body, the record
// as readers decode that body, the time of it that a session's row keeps
// (SortableTime), and its state writes.
type Encoded struct {
	Body []byte
	Rec  *eventlog.Record
	Time string
	Writes
}

// Encode encodes rec, refusing what JSON cannot hold (a function, a
// channel, NaN) as ErrInvalidArgument, before any write. The state writes
// come from the decoded record, so that the state tables hold exactly what
// a fold of the log gives.
func Encode(rec *eventlog.Record) (Encoded, error) {
	if rec == nil {
		return Encoded{}, fmt.Errorf("append: %w: no record", eventlog.ErrInvalidArgument)
	}
	// The record's own MarshalJSON gives what json.Marshal would: it is
	// json.Marshal's output already, which json.Marshal would scan,
	// compact and escape again without changing a byte.
	body, err := rec.MarshalJSON()
	if err != nil {
		return Encoded{}, fmt.Errorf("append %s record to %s: %w: it cannot be encoded as JSON: %w",
			rec.Kind, rec.Key, eventlog.ErrInvalidArgument, err)
	}
	out, err := Decode(0, rec.Seq, body)
	if err != nil {
		return Encoded{}, fmt.Errorf("append %s record to %s: %w: %w", rec.Kind, rec.Key, eventlog.ErrInvalidArgument, err)
	}
	w, err := WritesOf(out)
	if err != nil {
		return Encoded{}, fmt.Errorf("append %s record to %s: %w", rec.Kind, rec.Key, err)
	}
	return Encoded{Body: body, Rec: out, Time: SortableTime(out.Time), Writes: w}, nil
}

// Decode reads a record's body; its position, and an event's sequence
// number, are the row's columns'.
func Decode(pos eventlog.Position, seq uint64, body []byte) (*eventlog.Record, error) {
	rec := new(eventlog.Record)
	// The record's own UnmarshalJSON checks the body as it decodes it;
	// through json.Unmarshal the whole body would be scanned once more
	// first, a quarter of a small record's decoding time.
	if err := rec.UnmarshalJSON(body); err != nil {
		return nil, fmt.Errorf("record at position %d is damaged: %w", pos, err)
	}
	if !rec.Kind.Valid() {
		return nil, fmt.Errorf("record at position %d is damaged: it has no kind", pos)
	}
	rec.Position = pos
	if rec.Kind == eventlog.KindEventAppended {
		rec.Seq = seq
	}
	return rec, nil
}

// DecodeState builds a merged state from its keys (with their scope
// prefixes) and JSON values, read as every store reads them (CONTRACT V1).
func DecodeState(keys, vals [][]byte) (map[string]any, error) {
	state := make(map[string]any, len(keys))
	if err := DecodeInto(state, keys, vals); err != nil {
		return nil, err
	}
	return state, nil
}

// DecodeInto is DecodeState into state, for a state merged from several
// lists of keys and values.
func DecodeInto(state map[string]any, keys, vals [][]byte) error {
	for i, k := range keys {
		if err := DecodeKey(state, k, vals[i]); err != nil {
			return err
		}
	}
	return nil
}

// DecodeKey decodes one key's stored value into state.
func DecodeKey(state map[string]any, key, value []byte) error {
	v, err := eventlog.DecodeValue(value)
	if err != nil {
		return fmt.Errorf("state %q is damaged: %w", key, err)
	}
	state[string(key)] = v
	return nil
}

// SortableTime is a last update time as a sessions table keeps it: RFC
// 3339 in UTC with all nine fractional digits, so that the text sorts as
// the time does, byte by byte (for years 0 to 9999), and a recent-first
// listing can order by it.
func SortableTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000") + "Z"
}

// ParseTime reads a time as a session's row keeps it.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("last update time %q is damaged: %w", s, err)
	}
	return t.UTC(), nil
}

// AsOf turns v, a session's view as it is now, into its view as it stood
// after version *opts.AsOf (CONTRACT T1): its own state, version and last
// update time folded from its creation record and records (its events, in
// sequence order, at least up to that version), its app: and user: state
// kept as they are now (the state tables hold only the latest value of
// each key). A version beyond v's is ErrInvalidArgument.
func AsOf(v eventlog.View, creation *eventlog.Record, records []*eventlog.Record, opts eventlog.LoadOptions) (eventlog.View, error) {
	if err := opts.CheckVersion(v.Version); err != nil {
		return eventlog.View{}, err
	}
	if creation == nil {
		return eventlog.View{}, fmt.Errorf("session %s: its creation record at position %d is missing", v.Key, v.Created)
	}
	st := projection.FoldSession(creation, records[:*opts.AsOf])
	for k := range v.State {
		if projection.IsOwn(k) { // replaced by the state as of then
			delete(v.State, k)
		}
	}
	for k, val := range st.State {
		v.State[k] = eventlog.CloneValue(val)
	}
	v.Version, v.LastUpdateTime = st.Version, st.LastUpdateTime
	return v, nil
}
