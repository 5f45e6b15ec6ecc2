package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
)

var pjT0 = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

func pjKey(app, user, id string) eventlog.SessionKey {
	return eventlog.SessionKey{AppName: app, UserID: user, SessionID: id}
}

// pjCreated, pjAppended, pjDeleted and pjRetained build records at a given
// position, as a store would hand them out.
func pjCreated(pos eventlog.Position, key eventlog.SessionKey, state map[string]any) *eventlog.Record {
	return &eventlog.Record{Position: pos, Kind: eventlog.KindSessionCreated, Key: key, Time: pjT0.Add(time.Duration(pos) * time.Second), State: state}
}

func pjAppended(pos eventlog.Position, key eventlog.SessionKey, seq uint64, delta map[string]any) *eventlog.Record {
	ts := pjT0.Add(time.Duration(pos) * time.Second)
	return &eventlog.Record{
		Position: pos, Kind: eventlog.KindEventAppended, Key: key, Seq: seq, Time: ts,
		Event: &eventlog.Event{ID: fmt.Sprintf("e%d-%d", pos, seq), Timestamp: ts, Actions: eventlog.EventActions{StateDelta: delta}},
	}
}

func pjDeleted(pos eventlog.Position, key eventlog.SessionKey) *eventlog.Record {
	return &eventlog.Record{Position: pos, Kind: eventlog.KindSessionDeleted, Key: key, Time: pjT0.Add(time.Duration(pos) * time.Second)}
}

func pjRetained(pos eventlog.Position, key eventlog.SessionKey, state map[string]any) *eventlog.Record {
	return &eventlog.Record{Position: pos, Kind: eventlog.KindStateRetained, Key: key, Time: pjT0, State: state}
}

// CONTRACT C2 A4: Split sorts a delta by its keys' prefixes.
func TestSplit(t *testing.T) {
	tests := []struct {
		name               string
		delta              map[string]any
		app, user, session map[string]any
	}{
		{
			name:  "each prefix goes to its scope and temp: keys are dropped",
			delta: map[string]any{"app:a": 1, "user:u": 2, "temp:t": 3, "s": 4},
			app:   map[string]any{"a": 1}, user: map[string]any{"u": 2}, session: map[string]any{"s": 4},
		},
		{
			name:  "a nil delta gives three nil maps",
			delta: nil,
		},
		{
			name:  "a delta of temp: keys only gives three nil maps",
			delta: map[string]any{"temp:a": 1, "temp:": 2},
		},
		{
			name:    "prefixes are case sensitive and need their colon",
			delta:   map[string]any{"App:a": 1, "USER:u": 2, "apple": 3, "user": 4, "Temp:t": 5},
			session: map[string]any{"App:a": 1, "USER:u": 2, "apple": 3, "user": 4, "Temp:t": 5},
		},
		{
			name:  "only the first prefix counts",
			delta: map[string]any{"user:app:x": 1, "app:user:y": 2, "app:temp:z": 3},
			app:   map[string]any{"user:y": 2, "temp:z": 3}, user: map[string]any{"app:x": 1},
		},
		{
			name:  "a bare prefix is the empty key of its scope",
			delta: map[string]any{"app:": 1, "user:": 2, "": 3},
			app:   map[string]any{"": 1}, user: map[string]any{"": 2}, session: map[string]any{"": 3},
		},
		{
			name:  "Removed and nil values are kept as they are",
			delta: map[string]any{"app:a": projection.Removed, "user:u": nil, "s": projection.RemovedJSON},
			app:   map[string]any{"a": projection.Removed}, user: map[string]any{"u": nil}, session: map[string]any{"s": projection.RemovedJSON},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, user, session := projection.Split(tt.delta)
			assert.Equal(t, tt.app, app)
			assert.Equal(t, tt.user, user)
			assert.Equal(t, tt.session, session)
		})
	}
}

// CONTRACT A4 A8: CloneWithoutTemp strips temp: keys and always copies.
func TestCloneWithoutTemp(t *testing.T) {
	same := func(a, b map[string]any) bool { return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer() }
	t.Run("a delta without temp: keys comes back as an equal, separate map", func(t *testing.T) {
		delta := map[string]any{"a": 1, "app:b": 2, "tempx": 3, "nested": map[string]any{"x": 1}}
		got := projection.CloneWithoutTemp(delta)
		assert.False(t, same(delta, got))
		assert.Equal(t, delta, got)
		got["nested"].(map[string]any)["x"] = 2
		assert.Equal(t, 1, delta["nested"].(map[string]any)["x"], "nested values are copied too")
	})
	t.Run("a delta of scalars comes back as an equal, separate map", func(t *testing.T) {
		delta := map[string]any{"a": 1, "app:b": "x", "user:c": true, "d": nil, "e": projection.Removed}
		got := projection.CloneWithoutTemp(delta)
		assert.False(t, same(delta, got))
		assert.Equal(t, delta, got)
		got["a"] = 2
		delete(got, "app:b")
		assert.Equal(t, map[string]any{"a": 1, "app:b": "x", "user:c": true, "d": nil, "e": projection.Removed}, delta)
		empty := map[string]any{}
		got = projection.CloneWithoutTemp(empty)
		assert.NotNil(t, got)
		assert.False(t, same(empty, got))
	})
	t.Run("CloneForLog also tells whether the copy writes app or user state", func(t *testing.T) {
		for _, tt := range []struct {
			delta  map[string]any
			shared bool
		}{
			{nil, false},
			{map[string]any{}, false},
			{map[string]any{"a": 1, "temp:t": 2}, false},
			{map[string]any{"temp:app:x": 1}, false},
			{map[string]any{"a": 1, "app:b": 2}, true},
			{map[string]any{"user:u": projection.Removed}, true},
		} {
			got, shared := projection.CloneForLog(tt.delta)
			assert.Equal(t, tt.shared, shared, "%v", tt.delta)
			assert.Equal(t, projection.CloneWithoutTemp(tt.delta), got)
			assert.Equal(t, tt.shared, projection.WritesShared(got))
		}
	})
	t.Run("a nil delta comes back nil", func(t *testing.T) {
		assert.Nil(t, projection.CloneWithoutTemp(nil))
	})
	t.Run("a delta with temp: keys gives a map without them and leaves the delta alone", func(t *testing.T) {
		delta := map[string]any{"a": 1, "temp:t": 2, "user:u": projection.Removed}
		got := projection.CloneWithoutTemp(delta)
		assert.Equal(t, map[string]any{"a": 1, "user:u": projection.Removed}, got)
		assert.Equal(t, map[string]any{"a": 1, "temp:t": 2, "user:u": projection.Removed}, delta)
	})
	t.Run("a delta of temp: keys only gives an empty map", func(t *testing.T) {
		got := projection.CloneWithoutTemp(map[string]any{"temp:t": 2})
		assert.NotNil(t, got)
		assert.Empty(t, got)
	})
}

// CONTRACT A4 A5: ApplyDelta updates a handle's merged state: every key
// set, Removed ones deleted.
func TestApplyDelta(t *testing.T) {
	tests := []struct {
		name         string
		state, delta map[string]any
		want         map[string]any
	}{
		{"keys of every prefix are set, temp: included", map[string]any{"x": 0}, map[string]any{"app:a": 1, "user:u": 2, "temp:t": 3, "s": 4},
			map[string]any{"x": 0, "app:a": 1, "user:u": 2, "temp:t": 3, "s": 4}},
		{"the Removed sentinel deletes the key", map[string]any{"x": 0, "app:a": 1}, map[string]any{"x": projection.Removed, "app:a": projection.Removed},
			map[string]any{}},
		{"the Removed JSON string deletes the key too", map[string]any{"temp:t": 1, "y": 2}, map[string]any{"temp:t": projection.RemovedJSON},
			map[string]any{"y": 2}},
		{"removing a missing key changes nothing", map[string]any{"y": 2}, map[string]any{"z": projection.Removed},
			map[string]any{"y": 2}},
		{"a nil value is a value, not a removal", map[string]any{"y": 2}, map[string]any{"y": nil},
			map[string]any{"y": nil}},
		{"a nil delta changes nothing", map[string]any{"y": 2}, nil, map[string]any{"y": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			projection.ApplyDelta(tt.state, tt.delta)
			assert.Equal(t, tt.want, tt.state)
		})
	}
}

// CONTRACT A4: Removed is recognised as the sentinel and as its JSON string,
// and encodes as that string.
func TestRemoved(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want bool
	}{
		{"the sentinel is removed", projection.Removed, true},
		{"a Removal holding the JSON string is the sentinel", projection.Removal("__ADK_SENTINEL_REMOVED__"), true},
		{"a Removal holding another string is a value", projection.Removal("x"), false},
		{"the JSON string is removed", "__ADK_SENTINEL_REMOVED__", true},
		{"the raw JSON string is removed", json.RawMessage(`"__ADK_SENTINEL_REMOVED__"`), true},
		{"the raw JSON without quotes is a value", json.RawMessage(`__ADK_SENTINEL_REMOVED__`), false},
		{"another string is a value", "__ADK_SENTINEL_REMOVED__ ", false},
		{"the empty string is a value", "", false},
		{"nil is a value", nil, false},
		{"an empty struct is a value", struct{}{}, false},
		{"a pointer to the string is a value", new("__ADK_SENTINEL_REMOVED__"), false},
		{"a byte slice of the string is a value", []byte("__ADK_SENTINEL_REMOVED__"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, projection.IsRemoved(tt.v))
		})
	}
	t.Run("the JSON string constant is the ADK one", func(t *testing.T) {
		assert.Equal(t, "__ADK_SENTINEL_REMOVED__", projection.RemovedJSON)
	})
	t.Run("json.Marshal of Removed gives the JSON string", func(t *testing.T) {
		b, err := json.Marshal(projection.Removed)
		require.NoError(t, err)
		assert.Equal(t, `"__ADK_SENTINEL_REMOVED__"`, string(b))
	})
	t.Run("Removed inside a delta encodes and decodes back to a removal", func(t *testing.T) {
		b, err := json.Marshal(map[string]any{"app:k": projection.Removed, "k": 1})
		require.NoError(t, err)
		assert.JSONEq(t, `{"app:k":"__ADK_SENTINEL_REMOVED__","k":1}`, string(b))
		var back map[string]any
		require.NoError(t, json.Unmarshal(b, &back))
		assert.True(t, projection.IsRemoved(back["app:k"]))
		var raw map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(b, &raw))
		assert.True(t, projection.IsRemoved(raw["app:k"]))
	})
	t.Run("Removed prints as the JSON string", func(t *testing.T) {
		assert.Equal(t, projection.RemovedJSON, fmt.Sprint(projection.Removed))
		assert.Equal(t, projection.RemovedJSON, string(projection.Removed))
	})
	t.Run("Removed is not the plain string, which a value may hold", func(t *testing.T) {
		assert.NotEqual(t, any(projection.RemovedJSON), any(projection.Removed))
	})
}

// pjValues returns the live values of a Shared, or nil when it is missing.
func pjValues(s projection.Shared) map[string]any {
	if s == nil {
		return nil
	}
	return s.Values()
}

// CONTRACT C2 C3 A4 D2 D3: State.Apply folds each kind of record.
func TestStateApply(t *testing.T) {
	k := pjKey("app", "user", "s1")
	sibling := pjKey("app", "user", "s2")

	t.Run("a creation makes a session with its own keys and writes app: and user: state", func(t *testing.T) {
		var st projection.State
		rec := pjCreated(4, k, map[string]any{"a": 1, "app:x": 2, "user:y": 3, "temp:t": 4, "gone": projection.Removed})
		st.Apply(rec)
		a := st.Apps["app"]
		require.NotNil(t, a)
		assert.Equal(t, &projection.SessionState{State: map[string]any{"a": 1}, Version: 0, LastUpdateTime: rec.Time, Created: 4}, a.Sessions[k])
		assert.Equal(t, projection.Shared{"app:x": {Value: 2, Position: 4}}, a.State)
		assert.Equal(t, projection.Shared{"user:y": {Value: 3, Position: 4}}, a.Users["user"])
	})
	t.Run("an appended event updates the session's state, version and time, and shared state", func(t *testing.T) {
		var st projection.State
		st.Apply(pjCreated(1, k, map[string]any{"a": 1, "b": 2, "app:x": 1}))
		ev := pjAppended(2, k, 1, map[string]any{"a": 10, "b": projection.Removed, "c": 3, "app:x": projection.Removed, "user:y": "v", "temp:t": 1})
		st.Apply(ev)
		a := st.Apps["app"]
		assert.Equal(t, map[string]any{"a": 10, "c": 3}, a.Sessions[k].State)
		assert.Equal(t, uint64(1), a.Sessions[k].Version)
		assert.Equal(t, ev.Time, a.Sessions[k].LastUpdateTime)
		assert.Equal(t, projection.Shared{"app:x": {Position: 2, Removed: true}}, a.State, "a removed key stays as a removed entry")
		assert.Equal(t, map[string]any{}, a.State.Values())
		assert.Equal(t, map[string]any{"y": "v"}, pjValues(a.Users["user"]))
	})
	t.Run("an event's sequence number becomes the version", func(t *testing.T) {
		var st projection.State
		st.Apply(pjCreated(1, k, nil))
		st.Apply(pjAppended(2, k, 1, nil))
		st.Apply(pjAppended(3, k, 2, nil))
		assert.Equal(t, uint64(2), st.Apps["app"].Sessions[k].Version)
	})
	t.Run("a deletion drops the session and keeps the app and user state it wrote", func(t *testing.T) {
		var st projection.State
		st.Apply(pjCreated(1, k, map[string]any{"app:x": 1}))
		st.Apply(pjCreated(2, sibling, nil))
		st.Apply(pjAppended(3, k, 1, map[string]any{"user:y": 2}))
		st.Apply(pjDeleted(4, k))
		a := st.Apps["app"]
		assert.NotContains(t, a.Sessions, k)
		assert.Contains(t, a.Sessions, sibling)
		assert.Equal(t, map[string]any{"x": 1}, a.State.Values())
		assert.Equal(t, map[string]any{"y": 2}, pjValues(a.Users["user"]))
	})
	t.Run("a creation after a deletion starts empty", func(t *testing.T) {
		var st projection.State
		st.Apply(pjCreated(1, k, map[string]any{"a": 1}))
		st.Apply(pjAppended(2, k, 1, map[string]any{"b": 1}))
		st.Apply(pjDeleted(3, k))
		st.Apply(pjCreated(4, k, nil))
		assert.Equal(t, &projection.SessionState{State: map[string]any{}, LastUpdateTime: pjT0.Add(4 * time.Second), Created: 4}, st.Apps["app"].Sessions[k])
	})
	t.Run("a retained-state record writes app and user state and makes no session", func(t *testing.T) {
		var st projection.State
		st.Apply(pjRetained(7, k, map[string]any{"app:x": 1, "user:y": projection.Removed}))
		a := st.Apps["app"]
		assert.Empty(t, a.Sessions)
		assert.Equal(t, projection.Shared{"app:x": {Value: 1, Position: 7}}, a.State)
		assert.Equal(t, projection.Shared{"user:y": {Position: 7, Removed: true}}, a.Users["user"])
	})
	t.Run("user state belongs to the record's user and app state to its app", func(t *testing.T) {
		var st projection.State
		st.Apply(pjCreated(1, pjKey("app", "u1", "s"), map[string]any{"user:k": 1, "app:k": 1}))
		st.Apply(pjCreated(2, pjKey("app", "u2", "s"), map[string]any{"user:k": 2}))
		st.Apply(pjCreated(3, pjKey("app2", "u1", "s"), map[string]any{"user:k": 3, "app:k": 3}))
		assert.Equal(t, map[string]any{"k": 1}, pjValues(st.Apps["app"].Users["u1"]))
		assert.Equal(t, map[string]any{"k": 2}, pjValues(st.Apps["app"].Users["u2"]))
		assert.Equal(t, map[string]any{"k": 3}, pjValues(st.Apps["app2"].Users["u1"]))
		assert.Equal(t, map[string]any{"k": 1}, st.Apps["app"].State.Values())
		assert.Equal(t, map[string]any{"k": 3}, st.Apps["app2"].State.Values())
	})
}

// CONTRACT R1: shared state keeps the write of the highest position,
// whatever order the writes are folded in; a removal is a write too.
func TestSharedStateLastWriterByPosition(t *testing.T) {
	a := pjKey("app", "user", "a")
	b := pjKey("app", "user", "b")
	tests := []struct {
		name     string
		records  []*eventlog.Record
		wantApp  map[string]any
		wantUser map[string]any
	}{
		{
			name:     "a write at position 5 folded before one at 3 keeps the value of 5",
			records:  []*eventlog.Record{pjAppended(5, a, 1, map[string]any{"app:k": 5, "user:k": 5}), pjAppended(3, b, 1, map[string]any{"app:k": 3, "user:k": 3})},
			wantApp:  map[string]any{"k": 5},
			wantUser: map[string]any{"k": 5},
		},
		{
			name:     "writes folded in position order keep the last",
			records:  []*eventlog.Record{pjAppended(3, b, 1, map[string]any{"app:k": 3, "user:k": 3}), pjAppended(5, a, 1, map[string]any{"app:k": 5, "user:k": 5})},
			wantApp:  map[string]any{"k": 5},
			wantUser: map[string]any{"k": 5},
		},
		{
			name:     "a removal at 5 is not undone by an older write at 3",
			records:  []*eventlog.Record{pjAppended(5, a, 1, map[string]any{"app:k": projection.Removed, "user:k": projection.Removed}), pjAppended(3, b, 1, map[string]any{"app:k": 3, "user:k": 3})},
			wantApp:  map[string]any{},
			wantUser: map[string]any{},
		},
		{
			name:     "a removal at 3 folded after a write at 5 does not remove it",
			records:  []*eventlog.Record{pjAppended(5, a, 1, map[string]any{"app:k": 5}), pjRetained(3, b, map[string]any{"app:k": projection.Removed})},
			wantApp:  map[string]any{"k": 5},
			wantUser: nil,
		},
		{
			name:     "a retained write competes by its original position",
			records:  []*eventlog.Record{pjRetained(9, b, map[string]any{"user:k": "retained"}), pjCreated(4, a, map[string]any{"user:k": "created"})},
			wantApp:  map[string]any{},
			wantUser: map[string]any{"k": "retained"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st projection.State
			for _, rec := range tt.records {
				st.Apply(rec)
			}
			app := st.Apps["app"]
			require.NotNil(t, app)
			assert.Equal(t, tt.wantApp, app.State.Values())
			assert.Equal(t, tt.wantUser, pjValues(app.Users["user"]))
		})
	}

	t.Run("any order of folding many writers gives the same shared state", func(t *testing.T) {
		var recs []*eventlog.Record
		for pos := eventlog.Position(1); pos <= 12; pos++ {
			var v any = int(pos)
			if pos%4 == 0 {
				v = projection.Removed
			}
			recs = append(recs, pjRetained(pos, pjKey("app", "u"+strconv.Itoa(int(pos)%2), ""), map[string]any{"app:k": v, "user:k": v, "app:k" + strconv.Itoa(int(pos)%3): v}))
		}
		fold := func(order []int) *projection.AppState {
			var st projection.State
			for _, i := range order {
				st.Apply(recs[i])
			}
			return st.Apps["app"]
		}
		inOrder := make([]int, len(recs))
		for i := range inOrder {
			inOrder[i] = i
		}
		want := fold(inOrder)
		orders := [][]int{{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, {5, 0, 11, 3, 8, 1, 10, 2, 7, 4, 9, 6}, {1, 3, 5, 7, 9, 11, 0, 2, 4, 6, 8, 10}}
		for _, order := range orders {
			assert.Equal(t, want, fold(order), "order %v", order)
		}
		// k and k0 were last written at 12, a removal; k1 at 10, k2 at 11.
		assert.Equal(t, map[string]any{"k1": 10, "k2": 11}, want.State.Values())
	})
}

// pjLog fills a memory store with a history that exercises every fold
// rule: shared writes from many sessions, Removed, temp: keys, deletions,
// retained state and a session created again.
func pjLog(t *testing.T) *memstore.Store {
	t.Helper()
	ctx := context.Background()
	store := memstore.New()
	add := func(rec *eventlog.Record) {
		t.Helper()
		rec.Position = 0
		_, err := store.Append(ctx, rec)
		require.NoError(t, err)
	}
	k1, k2, k3 := pjKey("app", "u1", "s1"), pjKey("app", "u2", "s1"), pjKey("app2", "u1", "s1")
	add(pjCreated(0, k1, map[string]any{"a": 1, "app:shared": "k1", "user:name": "ann"}))
	add(pjCreated(0, k2, map[string]any{"user:name": "bob", "nested": map[string]any{"x": []any{1, 2}}}))
	add(pjCreated(0, k3, map[string]any{"app:shared": "other app"}))
	add(pjAppended(0, k1, 1, map[string]any{"a": 2, "app:shared": "k1 again", "temp:t": 1}))
	add(pjAppended(0, k2, 1, map[string]any{"app:shared": "k2", "user:name": projection.Removed, "b": 1}))
	add(pjAppended(0, k1, 2, map[string]any{"a": projection.Removed, "user:age": 30}))
	add(pjDeleted(0, k1))
	add(pjCreated(0, k1, map[string]any{"fresh": true}))
	add(pjRetained(0, pjKey("app", "u3", ""), map[string]any{"user:imported": 1}))
	add(pjAppended(0, k3, 1, map[string]any{"app:shared": projection.Removed}))
	return store
}

// CONTRACT R1: Rebuild of a store equals the state built by folding its
// records in order.
func TestRebuild(t *testing.T) {
	ctx := context.Background()
	store := pjLog(t)
	recs, _, err := store.Read(ctx, eventlog.Scope{}, 0, 1000)
	require.NoError(t, err)
	var want projection.State
	for _, rec := range recs {
		want.Apply(rec)
	}

	got, err := projection.Rebuild(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, &want, got)

	t.Run("the rebuilt state is the history's outcome", func(t *testing.T) {
		app := got.Apps["app"]
		assert.Equal(t, map[string]any{"shared": "k2"}, app.State.Values())
		assert.Equal(t, map[string]any{"name": "ann", "age": 30}, pjValues(app.Users["u1"]))
		assert.Equal(t, map[string]any{}, pjValues(app.Users["u2"]))
		assert.Equal(t, map[string]any{"imported": 1}, pjValues(app.Users["u3"]))
		require.Len(t, app.Sessions, 2)
		assert.Equal(t, map[string]any{"fresh": true}, app.Sessions[pjKey("app", "u1", "s1")].State)
		assert.Equal(t, map[string]any{}, got.Apps["app2"].State.Values())
	})
	t.Run("RebuildFrom the same records gives the same state", func(t *testing.T) {
		again, err := projection.RebuildFrom(projection.Records(ctx, store))
		require.NoError(t, err)
		assert.Equal(t, got, again)
	})
	t.Run("Records reads on after a read that returned fewer records than asked", func(t *testing.T) {
		// A store may return fewer than the limit with more stored.
		var all []*eventlog.Record
		for rec, err := range projection.Records(ctx, shortReads{store}) {
			require.NoError(t, err)
			all = append(all, rec)
		}
		require.Equal(t, recs, all)
		again, err := projection.Rebuild(ctx, shortReads{store})
		require.NoError(t, err)
		assert.Equal(t, got, again)
	})
	t.Run("Records pages through more than one read batch", func(t *testing.T) {
		big := memstore.New()
		k := pjKey("app", "u", "s")
		_, err := big.Append(ctx, pjCreated(0, k, nil))
		require.NoError(t, err)
		const n = 9000
		for seq := uint64(1); seq <= n; seq++ {
			_, err := big.Append(ctx, pjAppended(0, k, seq, map[string]any{"app:n": int(seq)}))
			require.NoError(t, err)
		}
		var last eventlog.Position
		count := 0
		for rec, err := range projection.Records(ctx, big) {
			require.NoError(t, err)
			require.Equal(t, last+1, rec.Position)
			last = rec.Position
			count++
		}
		assert.Equal(t, n+1, count)
		st, err := projection.Rebuild(ctx, big)
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"n": n}, st.Apps["app"].State.Values())
		assert.Equal(t, uint64(n), st.Apps["app"].Sessions[k].Version)
	})
	t.Run("a failing sequence stops the rebuild with its error", func(t *testing.T) {
		boom := errors.New("boom")
		seq := func(yield func(*eventlog.Record, error) bool) {
			if !yield(pjCreated(1, pjKey("a", "u", "s"), nil), nil) {
				return
			}
			yield(nil, boom)
		}
		_, err := projection.RebuildFrom(iter.Seq2[*eventlog.Record, error](seq))
		require.ErrorIs(t, err, boom)
	})
	t.Run("a closed store gives ErrClosed", func(t *testing.T) {
		closed := pjLog(t)
		require.NoError(t, closed.Close())
		_, err := projection.Rebuild(ctx, closed)
		require.ErrorIs(t, err, eventlog.ErrClosed)
	})
	t.Run("an app whose only session was deleted without shared writes is left out", func(t *testing.T) {
		s := memstore.New()
		k := pjKey("gone", "u", "s")
		for _, rec := range []*eventlog.Record{pjCreated(0, k, map[string]any{"a": 1}), pjDeleted(0, k)} {
			_, err := s.Append(ctx, rec)
			require.NoError(t, err)
		}
		st, err := projection.Rebuild(ctx, s)
		require.NoError(t, err)
		assert.NotContains(t, st.Apps, "gone")
	})
}

// CONTRACT G4: Merged hands out deep copies; changing them changes nothing
// in the State.
func TestMergedReturnsDeepCopies(t *testing.T) {
	k := pjKey("app", "user", "s1")
	t.Run("changing a nested value of Merged's result leaves the State alone", func(t *testing.T) {
		var st projection.State
		st.Apply(pjCreated(1, k, map[string]any{"own": map[string]any{"l": []any{1}}, "app:a": map[string]any{"n": 1}, "user:u": []any{"x"}}))
		a := st.Apps["app"]
		m := a.Merged(k, a.Sessions[k].State)
		assert.Equal(t, map[string]any{"own": map[string]any{"l": []any{1}}, "app:a": map[string]any{"n": 1}, "user:u": []any{"x"}}, m)
		m["own"].(map[string]any)["l"].([]any)[0] = 99
		m["app:a"].(map[string]any)["n"] = 99
		m["user:u"].([]any)[0] = "changed"
		m["extra"] = 1
		again := a.Merged(k, a.Sessions[k].State)
		assert.Equal(t, map[string]any{"own": map[string]any{"l": []any{1}}, "app:a": map[string]any{"n": 1}, "user:u": []any{"x"}}, again)
	})
	t.Run("Merged shows removed shared keys as absent", func(t *testing.T) {
		var st projection.State
		st.Apply(pjCreated(1, k, map[string]any{"app:a": 1, "user:u": 2}))
		st.Apply(pjAppended(2, k, 1, map[string]any{"app:a": projection.Removed}))
		a := st.Apps["app"]
		assert.Equal(t, map[string]any{"user:u": 2}, a.Merged(k, a.Sessions[k].State))
	})
	t.Run("Merged of a user with no state has the app's keys only", func(t *testing.T) {
		var st projection.State
		st.Apply(pjCreated(1, k, map[string]any{"app:a": 1}))
		a := st.Apps["app"]
		assert.Equal(t, map[string]any{"app:a": 1, "x": 1}, a.Merged(pjKey("app", "other", "s"), map[string]any{"x": 1}))
	})
}

func TestIsOwn(t *testing.T) {
	// CONTRACT C2: the prefix decides a key's scope.
	for key, own := range map[string]bool{
		"k": true, "": true, "apps:x": true, "App:x": true, "x:app:": true,
		"app:k": false, "user:k": false, "temp:k": false, "app:": false,
	} {
		if got := projection.IsOwn(key); got != own {
			t.Errorf("IsOwn(%q) = %v, want %v", key, got, own)
		}
	}
}

// shortReads is a store whose reads return at most 3 records, however
// many are asked for and stored.
type shortReads struct{ eventlog.Store }

func (s shortReads) Read(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	recs, through, err := s.Store.Read(ctx, scope, after, min(limit, 3))
	if err == nil && len(recs) == 3 {
		through = recs[2].Position
	}
	return recs, through, err
}
