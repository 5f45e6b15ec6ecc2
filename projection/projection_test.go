package projection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
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

// pjLog fills a Memory store with a history that exercises every fold
// rule: shared writes from many sessions, Removed, temp: keys, deletions,
// retained state and a session created again.
func pjLog(t *testing.T) *eventlog.Memory {
	t.Helper()
	ctx := context.Background()
	store := eventlog.NewMemory()
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
	t.Run("Records pages through more than one read batch", func(t *testing.T) {
		big := eventlog.NewMemory()
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
		s := eventlog.NewMemory()
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

// pjHarness drives a Live projection over a Memory store the way the
// service does: each change is committed to the log inside Create or Update.
type pjHarness struct {
	store *eventlog.Memory
	live  *projection.Live
	now   time.Time
	mu    sync.Mutex
}

func newPJHarness() *pjHarness {
	return &pjHarness{store: eventlog.NewMemory(), live: &projection.Live{}, now: pjT0}
}

func (h *pjHarness) tick() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = h.now.Add(time.Millisecond)
	return h.now
}

func (h *pjHarness) create(key eventlog.SessionKey, state map[string]any) (projection.SessionView, error) {
	return h.live.Create(key, func() (*eventlog.Record, error) {
		return h.store.Append(context.Background(), &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: h.tick(), State: state})
	})
}

func (h *pjHarness) append(key eventlog.SessionKey, id string, delta map[string]any) error {
	return h.live.Update(key, false, func(info projection.SessionInfo) (*eventlog.Record, error) {
		ts := h.tick()
		return h.store.Append(context.Background(), &eventlog.Record{
			Kind: eventlog.KindEventAppended, Key: key, Seq: info.Version + 1, Time: ts,
			Event: &eventlog.Event{ID: id, Timestamp: ts, Actions: eventlog.EventActions{StateDelta: delta}},
		})
	})
}

func (h *pjHarness) delete(key eventlog.SessionKey) error {
	return h.live.Update(key, true, func(projection.SessionInfo) (*eventlog.Record, error) {
		return h.store.Append(context.Background(), &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: key, Time: h.tick()})
	})
}

func (h *pjHarness) view(t *testing.T, key eventlog.SessionKey) projection.SessionView {
	t.Helper()
	var v projection.SessionView
	require.NoError(t, h.live.View(key, func(got projection.SessionView) error { v = got; return nil }))
	return v
}

func (h *pjHarness) requireRebuildEqual(t *testing.T) {
	t.Helper()
	rebuilt, err := projection.Rebuild(context.Background(), h.store)
	require.NoError(t, err)
	require.Equal(t, rebuilt, h.live.Snapshot(), "the live projection differs from the rebuilt one")
}

// CONTRACT C1 C3 G1 A4 A5 D2: the basics of Live's Create, Update and View.
func TestLiveBasics(t *testing.T) {
	k := pjKey("app", "user", "s1")

	t.Run("Create folds the creation and returns the merged view", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(pjKey("app", "user", "other"), map[string]any{"app:seen": "by all"})
		require.NoError(t, err)
		v, err := h.create(k, map[string]any{"a": 1, "user:u": 2, "temp:t": 3})
		require.NoError(t, err)
		assert.Equal(t, k, v.Key)
		assert.Equal(t, uint64(0), v.Version)
		assert.Equal(t, pjT0.Add(2*time.Millisecond), v.LastUpdateTime)
		assert.Equal(t, eventlog.Position(2), v.Created)
		assert.Equal(t, map[string]any{"a": 1, "user:u": 2, "app:seen": "by all"}, v.State)
		assert.Equal(t, v, h.view(t, k))
	})
	t.Run("Create returns the commit's error as it is and adds nothing", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(k, map[string]any{"a": 1})
		require.NoError(t, err)
		_, err = h.create(k, map[string]any{"a": 2, "app:x": 1})
		require.ErrorIs(t, err, eventlog.ErrAlreadyExists)
		boom := errors.New("boom")
		_, err = h.live.Create(pjKey("app", "user", "s2"), func() (*eventlog.Record, error) { return nil, boom })
		require.Same(t, boom, err)
		assert.Equal(t, map[string]any{"a": 1}, h.view(t, k).State)
		assert.ErrorIs(t, h.live.View(pjKey("app", "user", "s2"), func(projection.SessionView) error { return nil }), eventlog.ErrNotFound)
		h.requireRebuildEqual(t)
	})
	t.Run("Update hands commit the session's version and incarnation", func(t *testing.T) {
		h := newPJHarness()
		created, err := h.create(k, nil)
		require.NoError(t, err)
		require.NoError(t, h.append(k, "e1", nil))
		var info projection.SessionInfo
		require.NoError(t, h.live.Update(k, false, func(i projection.SessionInfo) (*eventlog.Record, error) { info = i; return nil, nil }))
		assert.Equal(t, projection.SessionInfo{Key: k, Version: 1, Created: created.Created}, info)
	})
	t.Run("Update folds an appended event into the session and shared state", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(k, map[string]any{"a": 1, "b": 2})
		require.NoError(t, err)
		require.NoError(t, h.append(k, "e1", map[string]any{"a": 10, "b": projection.Removed, "app:x": 1, "user:y": 2}))
		v := h.view(t, k)
		assert.Equal(t, uint64(1), v.Version)
		assert.Equal(t, map[string]any{"a": 10, "app:x": 1, "user:y": 2}, v.State)
		assert.Equal(t, pjT0.Add(2*time.Millisecond), v.LastUpdateTime)
		h.requireRebuildEqual(t)
	})
	t.Run("Update with a commit that writes nothing changes nothing", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(k, map[string]any{"a": 1})
		require.NoError(t, err)
		before := h.view(t, k)
		require.NoError(t, h.live.Update(k, false, func(projection.SessionInfo) (*eventlog.Record, error) { return nil, nil }))
		assert.Equal(t, before, h.view(t, k))
	})
	t.Run("Update returns the commit's error as it is and changes nothing", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(k, map[string]any{"a": 1})
		require.NoError(t, err)
		before := h.view(t, k)
		boom := errors.New("boom")
		require.Same(t, boom, h.live.Update(k, false, func(projection.SessionInfo) (*eventlog.Record, error) { return nil, boom }))
		assert.Equal(t, before, h.view(t, k))
	})
	t.Run("Update of a missing session gives ErrNotFound without calling commit", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(pjKey("app", "user", "other"), nil)
		require.NoError(t, err)
		for _, key := range []eventlog.SessionKey{k, pjKey("nope", "user", "s1"), pjKey("app", "nope", "other")} {
			err := h.live.Update(key, false, func(projection.SessionInfo) (*eventlog.Record, error) {
				t.Fatal("commit was called")
				return nil, nil
			})
			require.ErrorIs(t, err, eventlog.ErrNotFound)
		}
	})
	t.Run("Update folding a deletion removes the session and keeps its shared writes", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(k, map[string]any{"app:x": 1})
		require.NoError(t, err)
		_, err = h.create(pjKey("app", "user", "s2"), nil)
		require.NoError(t, err)
		require.NoError(t, h.append(k, "e1", map[string]any{"user:y": 2}))
		require.NoError(t, h.delete(k))
		require.ErrorIs(t, h.live.View(k, func(projection.SessionView) error { return nil }), eventlog.ErrNotFound)
		require.ErrorIs(t, h.delete(k), eventlog.ErrNotFound)
		assert.Equal(t, map[string]any{"app:x": 1, "user:y": 2}, h.view(t, pjKey("app", "user", "s2")).State)
		h.requireRebuildEqual(t)
		v, err := h.create(k, nil)
		require.NoError(t, err)
		assert.Equal(t, uint64(0), v.Version, "a session created again starts empty")
		assert.Equal(t, map[string]any{"app:x": 1, "user:y": 2}, v.State)
		h.requireRebuildEqual(t)
	})
	t.Run("Update folding a record of another kind is an error", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(k, nil)
		require.NoError(t, err)
		err = h.live.Update(k, false, func(projection.SessionInfo) (*eventlog.Record, error) {
			return pjRetained(99, k, map[string]any{"app:x": 1}), nil
		})
		require.Error(t, err)
	})
	t.Run("View returns fn's error as it is", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(k, nil)
		require.NoError(t, err)
		boom := errors.New("boom")
		require.Same(t, boom, h.live.View(k, func(projection.SessionView) error { return boom }))
	})
	t.Run("the zero Live is empty and ready", func(t *testing.T) {
		var l projection.Live
		require.ErrorIs(t, l.View(k, func(projection.SessionView) error { return nil }), eventlog.ErrNotFound)
		assert.Empty(t, l.Sessions("app", "", "", "", 10))
		assert.Empty(t, l.Snapshot().Apps)
	})
}

// CONTRACT R1 D2: a delete and a create of the same key may run at once:
// the create commits between the deletion's commit and its fold. The
// deletion must remove the session it deleted, not the new one.
func TestLiveCreateBetweenDeleteCommitAndFold(t *testing.T) {
	h := newPJHarness()
	k := pjKey("app", "user", "s1")
	_, err := h.create(k, map[string]any{"old": true})
	require.NoError(t, err)

	var second projection.SessionView
	err = h.live.Update(k, false, func(projection.SessionInfo) (*eventlog.Record, error) {
		rec, err := h.store.Append(context.Background(), &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: h.tick()})
		if err != nil {
			return nil, err
		}
		// Another goroutine creates the key again now: the log no longer
		// holds the session, and Update holds only the session's lock.
		done := make(chan error)
		go func() {
			var err error
			second, err = h.create(k, map[string]any{"new": true})
			done <- err
		}()
		select {
		case err := <-done:
			if err != nil {
				return nil, fmt.Errorf("the concurrent create failed: %w", err)
			}
		case <-time.After(20 * time.Second):
			return nil, errors.New("the concurrent create is blocked by the delete")
		}
		return rec, nil
	})
	require.NoError(t, err)

	log, err := h.store.Session(context.Background(), k)
	require.NoError(t, err, "the log holds the new session")
	require.Equal(t, second.Created, log.Created.Position)
	var v projection.SessionView
	require.NoError(t, h.live.View(k, func(got projection.SessionView) error { v = got; return nil }),
		"the live projection lost the session created while the old one was being deleted")
	assert.Equal(t, second.Created, v.Created)
	assert.Equal(t, map[string]any{"new": true}, v.State)
	h.requireRebuildEqual(t)
}

// CONTRACT L1 L2: Sessions lists by user ID, then session ID, in byte
// order, after a cursor, at most limit.
func TestLiveSessions(t *testing.T) {
	h := newPJHarness()
	keys := []eventlog.SessionKey{
		pjKey("app", "b", "1"), pjKey("app", "a", "z"), pjKey("app", "a", "B"), pjKey("app", "a", "b"),
		pjKey("app", "a", "ä"), pjKey("app", "a", "a\x00"), pjKey("app", "a", "a"), pjKey("app", "A", "x"),
		pjKey("app", "a:b", "c"), pjKey("app2", "a", "a"),
	}
	for _, k := range keys {
		_, err := h.create(k, map[string]any{"id": k.UserID + "/" + k.SessionID})
		require.NoError(t, err)
	}
	_, err := h.create(pjKey("app", "a", "deleted"), nil)
	require.NoError(t, err)
	require.NoError(t, h.delete(pjKey("app", "a", "deleted")))

	ids := func(vs []projection.SessionView) []string {
		out := []string{}
		for _, v := range vs {
			out = append(out, v.Key.UserID+"/"+v.Key.SessionID)
			assert.Equal(t, v.Key.UserID+"/"+v.Key.SessionID, v.State["id"], "each view carries its own state")
		}
		return out
	}
	tests := []struct {
		name               string
		app, user          string
		afterUser, afterID string
		limit              int
		want               []string
	}{
		{"every user's sessions sort by user, then session ID, in byte order", "app", "", "", "", 100,
			[]string{"A/x", "a/B", "a/a", "a/a\x00", "a/b", "a/z", "a/ä", "a:b/c", "b/1"}},
		{"one user's sessions only", "app", "a", "", "", 100,
			[]string{"a/B", "a/a", "a/a\x00", "a/b", "a/z", "a/ä"}},
		{"a user whose ID is a prefix of another's sees only its own", "app", "a:b", "", "", 100, []string{"a:b/c"}},
		{"the limit cuts the list", "app", "", "", "", 3, []string{"A/x", "a/B", "a/a"}},
		{"the cursor starts after the pair it names", "app", "", "a", "a", 3, []string{"a/a\x00", "a/b", "a/z"}},
		{"the cursor may name a session that does not exist", "app", "", "a", "c", 100, []string{"a/z", "a/ä", "a:b/c", "b/1"}},
		{"the cursor's user ID counts before its session ID", "app", "", "a", "\xff", 100, []string{"a:b/c", "b/1"}},
		{"a cursor within one user", "app", "a", "a", "b", 100, []string{"a/z", "a/ä"}},
		{"a cursor past the end gives nothing", "app", "", "z", "", 100, []string{}},
		{"an unknown app gives nothing", "nope", "", "", "", 100, []string{}},
		{"an unknown user gives nothing", "app", "nope", "", "", 100, []string{}},
		{"a limit of 0 gives nothing", "app", "", "", "", 0, []string{}},
		{"another app lists only its own", "app2", "", "", "", 100, []string{"a/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ids(h.live.Sessions(tt.app, tt.user, tt.afterUser, tt.afterID, tt.limit)))
		})
	}
	t.Run("paging with the last key of each page visits every session once", func(t *testing.T) {
		var got []string
		var au, ai string
		for {
			page := h.live.Sessions("app", "", au, ai, 2)
			if len(page) == 0 {
				break
			}
			got = append(got, ids(page)...)
			last := page[len(page)-1].Key
			au, ai = last.UserID, last.SessionID
		}
		assert.Equal(t, tests[0].want, got)
	})
}

// CONTRACT R1: Apply replays a log into a Live projection just as Rebuild
// folds it.
func TestLiveApply(t *testing.T) {
	ctx := context.Background()
	store := pjLog(t)
	var live projection.Live
	for rec, err := range projection.Records(ctx, store) {
		require.NoError(t, err)
		live.Apply(rec)
	}
	rebuilt, err := projection.Rebuild(ctx, store)
	require.NoError(t, err)
	assert.Equal(t, rebuilt, live.Snapshot())

	t.Run("the applied sessions are live", func(t *testing.T) {
		var v projection.SessionView
		require.NoError(t, live.View(pjKey("app", "u2", "s1"), func(got projection.SessionView) error { v = got; return nil }))
		assert.Equal(t, uint64(1), v.Version)
		assert.Equal(t, map[string]any{"b": 1, "nested": map[string]any{"x": []any{1, 2}}, "app:shared": "k2"}, v.State)
	})
	t.Run("an event or deletion of a missing session is ignored", func(t *testing.T) {
		before := live.Snapshot()
		live.Apply(pjAppended(500, pjKey("app", "u9", "nope"), 1, map[string]any{"a": 1}))
		live.Apply(pjDeleted(501, pjKey("app", "u9", "nope")))
		assert.Equal(t, before, live.Snapshot())
	})
}

// CONTRACT R1: over a shared store a record can reach the projection twice
// (from the Update that committed it and from a read of the log); folding
// it again, or folding an older incarnation's records after a newer
// session took the key, changes nothing.
func TestLiveApplySkipsWhatItHolds(t *testing.T) {
	key := pjKey("app", "u", "s")
	log := []*eventlog.Record{
		pjCreated(1, key, map[string]any{"a": 1, "app:x": 1}),
		pjAppended(2, key, 1, map[string]any{"a": 2, "user:y": 2}),
		pjAppended(3, key, 2, map[string]any{"a": 3}),
	}
	var live projection.Live
	for _, rec := range log {
		live.Apply(rec)
	}
	once := live.Snapshot()

	t.Run("folding the same records again changes nothing", func(t *testing.T) {
		for _, rec := range log {
			live.Apply(rec)
		}
		assert.Equal(t, once, live.Snapshot())
	})
	t.Run("an event at or below the session's version is skipped", func(t *testing.T) {
		live.Apply(pjAppended(4, key, 2, map[string]any{"a": "late"}))
		assert.Equal(t, once, live.Snapshot())
	})
	t.Run("a newer session at the key ignores the older one's records", func(t *testing.T) {
		var l projection.Live
		l.Apply(pjCreated(10, key, map[string]any{"b": 1}))
		l.Apply(pjCreated(1, key, map[string]any{"a": 1}))
		l.Apply(pjAppended(2, key, 1, map[string]any{"a": 2, "app:x": 2}))
		l.Apply(pjDeleted(3, key))
		var v projection.SessionView
		require.NoError(t, l.View(key, func(got projection.SessionView) error { v = got; return nil }))
		assert.Equal(t, eventlog.Position(10), v.Created)
		assert.Equal(t, uint64(0), v.Version)
		// The older session's app: write still counts: shared state
		// outlives sessions (CONTRACT D3).
		assert.Equal(t, map[string]any{"b": 1, "app:x": 2}, v.State)
	})
	t.Run("a deletion removes the session it names", func(t *testing.T) {
		live.Apply(pjDeleted(5, key))
		err := live.View(key, func(projection.SessionView) error { return nil })
		require.ErrorIs(t, err, eventlog.ErrNotFound)
		rebuilt, err := projection.RebuildFrom(func(yield func(*eventlog.Record, error) bool) {
			for _, rec := range append(log, pjDeleted(5, key)) {
				if !yield(rec, nil) {
					return
				}
			}
		})
		require.NoError(t, err)
		assert.Equal(t, rebuilt, live.Snapshot())
	})
}

// CONTRACT R1: after any sequence of operations, with concurrent writers
// to the same app: and user: keys, Live.Snapshot equals Rebuild.
func TestLiveSnapshotEqualsRebuild(t *testing.T) {
	t.Run("an empty projection equals the rebuild of an empty log", func(t *testing.T) {
		h := newPJHarness()
		h.requireRebuildEqual(t)
	})
	t.Run("a sequence of creates, appends with Removed and temp: keys, and deletes", func(t *testing.T) {
		h := newPJHarness()
		k1, k2, k3 := pjKey("app", "u1", "s1"), pjKey("app", "u1", "s2"), pjKey("app", "u2", "s1")
		steps := []func() error{
			func() error { _, err := h.create(k1, map[string]any{"a": 1, "app:x": 1, "temp:t": 1}); return err },
			func() error { _, err := h.create(k2, map[string]any{"user:y": 1}); return err },
			func() error {
				return h.append(k1, "e1", map[string]any{"app:x": 2, "user:y": projection.Removed, "a": projection.Removed})
			},
			func() error { _, err := h.create(k3, nil); return err },
			func() error { return h.append(k2, "e1", map[string]any{"user:y": 3, "temp:t": 1}) },
			func() error { return h.delete(k1) },
			func() error { return h.append(k3, "e1", map[string]any{"app:x": projection.Removed}) },
			func() error { _, err := h.create(k1, map[string]any{"again": true}); return err },
			func() error { return h.delete(k3) },
		}
		for i, step := range steps {
			require.NoError(t, step(), "step %d", i)
			h.requireRebuildEqual(t)
		}
	})
	t.Run("many sessions writing the same shared keys at once", func(t *testing.T) {
		h := newPJHarness()
		const sessions, events = 8, 60
		keys := make([]eventlog.SessionKey, sessions)
		for i := range keys {
			keys[i] = pjKey("app", "u"+strconv.Itoa(i%2), "s"+strconv.Itoa(i))
			_, err := h.create(keys[i], nil)
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, sessions)
		for i, k := range keys {
			wg.Go(func() {
				for n := range events {
					var v any = fmt.Sprintf("%d-%d", i, n)
					if n%7 == 3 {
						v = projection.Removed
					}
					delta := map[string]any{"app:k": v, "user:k": v, "own": n}
					if err := h.append(k, strconv.Itoa(n), delta); err != nil {
						errs <- err
						return
					}
					if i%4 == 0 && n == events/2 {
						if err := h.delete(k); err != nil {
							errs <- err
						}
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		h.requireRebuildEqual(t)

		// The value that stays is the write of the highest position.
		recs, _, err := h.store.Read(context.Background(), eventlog.Scope{AppName: "app"}, 0, 1<<20)
		require.NoError(t, err)
		var lastApp any
		for _, rec := range recs {
			if v, ok := rec.Writes()["app:k"]; ok {
				lastApp = v
			}
		}
		got, ok := h.live.Snapshot().Apps["app"].State["app:k"]
		require.True(t, ok)
		assert.Equal(t, projection.IsRemoved(lastApp), got.Removed)
		if !got.Removed {
			assert.Equal(t, lastApp, got.Value)
		}
	})
}

// CONTRACT G4: Merged and View hand out deep copies; changing them changes
// nothing in the projection.
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
	t.Run("changing a view's nested state leaves the live projection alone", func(t *testing.T) {
		h := newPJHarness()
		_, err := h.create(k, map[string]any{"own": map[string]any{"n": 1}, "app:a": map[string]any{"n": 1}, "user:u": map[string]any{"n": 1}})
		require.NoError(t, err)
		v := h.view(t, k)
		for _, key := range []string{"own", "app:a", "user:u"} {
			v.State[key].(map[string]any)["n"] = 99
		}
		delete(v.State, "own")
		assert.Equal(t, map[string]any{"own": map[string]any{"n": 1}, "app:a": map[string]any{"n": 1}, "user:u": map[string]any{"n": 1}}, h.view(t, k).State)
		for _, sv := range h.live.Sessions("app", "", "", "", 10) {
			sv.State["app:a"].(map[string]any)["n"] = 42
		}
		assert.Equal(t, map[string]any{"n": 1}, h.view(t, k).State["app:a"])
	})
}

// CONTRACT G1 A4: a view's merged state is served from a cache; every
// write that changes what the view shows (the session's own append, another
// session's app: or user: write, a creation carrying shared state, a record
// folded by Apply) must reach the next view.
func TestLiveViewSeesEveryChangeAfterACachedRead(t *testing.T) {
	k := pjKey("app", "user", "s1")
	other := pjKey("app", "user", "s2")
	otherUser := pjKey("app", "someone", "s3")
	h := newPJHarness()
	_, err := h.create(k, map[string]any{"own": 1, "app:a": 1, "user:u": 1})
	require.NoError(t, err)
	_, err = h.create(otherUser, nil)
	require.NoError(t, err)
	want := map[string]any{"own": 1, "app:a": 1, "user:u": 1}
	step := func(what string, change func(), set map[string]any) {
		t.Helper()
		require.Equal(t, want, h.view(t, k).State, "before %s", what) // fills the cache
		change()
		for key, v := range set {
			if v == nil {
				delete(want, key)
			} else {
				want[key] = v
			}
		}
		require.Equal(t, want, h.view(t, k).State, "after %s", what)
	}
	step("an append of its own", func() { require.NoError(t, h.append(k, "e1", map[string]any{"own": 2})) },
		map[string]any{"own": 2})
	step("another session's app write", func() {
		_, err := h.create(other, nil)
		require.NoError(t, err)
		require.NoError(t, h.append(other, "o1", map[string]any{"app:a": 2, "mine": 1}))
	}, map[string]any{"app:a": 2})
	step("another session's user write", func() { require.NoError(t, h.append(other, "o2", map[string]any{"user:u": 2})) },
		map[string]any{"user:u": 2})
	step("another user's write of their own user state", func() {
		require.NoError(t, h.append(otherUser, "x1", map[string]any{"user:u": "not mine"}))
	}, nil)
	step("a creation with app state", func() {
		_, err := h.create(pjKey("app", "user", "s4"), map[string]any{"app:new": true})
		require.NoError(t, err)
	}, map[string]any{"app:new": true})
	step("a removal", func() { require.NoError(t, h.append(other, "o3", map[string]any{"app:new": projection.Removed})) },
		map[string]any{"app:new": nil})
	step("a nested value", func() { require.NoError(t, h.append(k, "e3", map[string]any{"n": map[string]any{"x": 1}})) },
		map[string]any{"n": map[string]any{"x": 1}})
	step("a record folded by Apply", func() {
		h.live.Apply(pjAppended(1000, k, 3, map[string]any{"own": 3, "user:v": "applied"}))
	}, map[string]any{"own": 3, "user:v": "applied"})
	v := h.view(t, k)
	v.State["n"].(map[string]any)["x"] = 99 // the cached copy must not change
	require.Equal(t, want, h.view(t, k).State)
}

// CONTRACT L2: sessions deleted and re-created while a walk pages through
// the listing (and so between a page's pick and its views) never make the
// walk skip or repeat a session that lives through it, and never shorten a
// page while more sessions follow.
func TestLiveSessionsUnderChurn(t *testing.T) {
	h := newPJHarness()
	var stable []string
	for i := range 20 {
		id := fmt.Sprintf("s%02d", i)
		_, err := h.create(pjKey("app", "u", id), nil)
		require.NoError(t, err)
		stable = append(stable, "u/"+id)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			default:
			}
			k := pjKey("app", "u", fmt.Sprintf("s%02d-churn", n%20)) // sorts between the stable ones
			if _, err := h.create(k, nil); err == nil {
				assert.NoError(t, h.delete(k))
			}
		}
	}()
	defer func() { close(done); wg.Wait() }()
	for range 200 {
		var got []string
		au, ai := "", ""
		for {
			page := h.live.Sessions("app", "u", au, ai, 3)
			for _, v := range page {
				if !strings.HasSuffix(v.Key.SessionID, "-churn") {
					got = append(got, v.Key.UserID+"/"+v.Key.SessionID)
				}
			}
			if len(page) < 3 {
				break
			}
			last := page[2].Key
			au, ai = last.UserID, last.SessionID
		}
		require.Equal(t, stable, got)
	}
}

// CONTRACT A4 S2: a reader that finds a creation record in the log finds
// the session in the projection too, even while the creation is still
// being folded (the lookup that misses waits for creations under way).
func TestLiveViewAfterACreationRecordIsInTheLog(t *testing.T) {
	h := newPJHarness()
	k := pjKey("app", "user", "s")
	_, err := h.create(pjKey("app", "user", "other"), nil) // the app exists
	require.NoError(t, err)
	seen := make(chan error, 1)
	_, err = h.live.Create(k, func() (*eventlog.Record, error) {
		rec, err := h.store.Append(context.Background(), &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: h.tick()})
		if err != nil {
			return nil, err
		}
		// The record is in the log: a reader may find it now.
		go func() { seen <- h.live.View(k, func(projection.SessionView) error { return nil }) }()
		time.Sleep(20 * time.Millisecond) // give the reader time to look while the fold is pending
		return rec, nil
	})
	require.NoError(t, err)
	require.NoError(t, <-seen, "the session's creation was in the log, so it must be found")
}

// CONTRACT A4 R1: an update that holds the app across its commit folds
// every scope of its delta in one pass; the result is the rebuild's, and
// views of the session and of another session of the user see it.
func TestLiveUpdateHoldingTheAppFoldsEveryScope(t *testing.T) {
	h := newPJHarness()
	k, other := pjKey("app", "user", "s1"), pjKey("app", "user", "s2")
	for _, key := range []eventlog.SessionKey{k, other} {
		_, err := h.create(key, map[string]any{"app:a": 0, "user:u": 0, "own": 0})
		require.NoError(t, err)
	}
	require.Equal(t, map[string]any{"app:a": 0, "user:u": 0, "own": 0}, h.view(t, other).State) // cached
	err := h.live.Update(k, true, func(info projection.SessionInfo) (*eventlog.Record, error) {
		ts := h.tick()
		return h.store.Append(context.Background(), &eventlog.Record{
			Kind: eventlog.KindEventAppended, Key: k, Seq: info.Version + 1, Time: ts,
			Event: &eventlog.Event{ID: "e1", Timestamp: ts, Actions: eventlog.EventActions{StateDelta: map[string]any{
				"app:a": 1, "user:u": 1, "own": 1, "user:gone": projection.Removed,
			}}},
		})
	})
	require.NoError(t, err)
	v := h.view(t, k)
	require.Equal(t, uint64(1), v.Version)
	require.Equal(t, map[string]any{"app:a": 1, "user:u": 1, "own": 1}, v.State)
	require.Equal(t, map[string]any{"app:a": 1, "user:u": 1, "own": 0}, h.view(t, other).State)
	h.requireRebuildEqual(t)
}
