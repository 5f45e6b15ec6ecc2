package memstore

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT A7: the ID index finds every event it was given, by ID, across
// its growths, and finds nothing else.
func TestIDIndexAgreesWithAMap(t *testing.T) {
	var x idIndex
	var events []*eventlog.Event
	model := map[string]uint64{}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		id := strconv.Itoa(r.IntN(30_000)) // about half repeat an earlier ID
		if r.IntN(50) == 0 {
			id = "" // an empty ID is an ID like any other to the index
		}
		x.reserve()
		seq, at, found := x.find(id, events)
		want, ok := model[id]
		require.Equal(t, ok, found, "find %q", id)
		if ok {
			require.Equal(t, want, seq)
			continue
		}
		events = append(events, &eventlog.Event{ID: id})
		model[id] = uint64(len(events))
		x.add(at, uint64(len(events)))
	}
	require.Equal(t, len(model), x.n)
	require.LessOrEqual(t, 2*x.n, len(x.slots), "at most half full")
	for id, want := range model {
		x.reserve()
		seq, _, found := x.find(id, events)
		require.True(t, found, id)
		require.Equal(t, want, seq, id)
	}
}

// CONTRACT A7: an ID whose hash bits match another's is told apart by the
// event's own ID, and gets a slot of its own.
func TestIDIndexHashBitsAloneDoNotMatch(t *testing.T) {
	var x idIndex
	x.reserve()
	events := []*eventlog.Event{{ID: "other"}}
	_, at, found := x.find("mine", events)
	require.False(t, found)
	x.add(at, 1) // "other" (seq 1) filed under the hash bits of "mine"
	seq, at2, found := x.find("mine", events)
	require.False(t, found, "found %d", seq)
	require.NotEqual(t, at.slot, at2.slot)
	events = append(events, &eventlog.Event{ID: "mine"})
	x.reserve()
	_, at2, _ = x.find("mine", events)
	x.add(at2, 2)
	seq, _, found = x.find("mine", events)
	require.True(t, found)
	require.EqualValues(t, 2, seq)
}

// CONTRACT D3: searchFrom finds what a binary search of the whole log
// finds, from any start before the answer.
func TestSearchFromAgreesWithBinarySearch(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		a := &app{}
		pos := eventlog.Position(0)
		for range r.IntN(300) {
			pos += eventlog.Position(1 + r.IntN(5))
			a.log = append(a.log, logEntry{pos: pos})
		}
		for range 50 {
			want := eventlog.Position(r.IntN(int(pos) + 3))
			i := linearSearch(a, want)
			lo := 0
			if i > 0 {
				lo = r.IntN(i + 1)
			}
			require.Equal(t, i, a.searchFrom(lo, want), "from %d for %d in %d entries", lo, want, len(a.log))
		}
	}
}

func linearSearch(a *app, pos eventlog.Position) int {
	for i, e := range a.log {
		if e.pos >= pos {
			return i
		}
	}
	return len(a.log)
}

// CONTRACT C3 A6 Z1: a session is findable by lookups that skip the app's
// lock from the moment it enters the index, but no append may reach it
// until its creation has built the state it returns. An appender that
// starts the instant the session is findable, while the creation merges a
// large state, must wait: the creation returns the initial state, and the
// next Load shows the append.
func TestCreationStateIsNotRacedByAnAppend(t *testing.T) {
	big := make(map[string]any, 20_000)
	for i := range 20_000 {
		big["k"+strconv.Itoa(i)] = i
	}
	ctx := context.Background()
	for i := range 5 {
		m := New()
		k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s" + strconv.Itoa(i)}
		a := m.app(k.AppName, true)
		var wg sync.WaitGroup
		var appendErr error
		wg.Go(func() {
			for a.lookup(k) == nil {
			}
			ts := time.Now()
			_, appendErr = m.Append(ctx, &eventlog.Record{
				Kind: eventlog.KindEventAppended, Key: k, Time: ts,
				Event: &eventlog.Event{ID: "e1", Timestamp: ts, Actions: eventlog.EventActions{StateDelta: map[string]any{"k0": "appended"}}},
			})
		})
		res, err := m.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now(), State: big})
		require.NoError(t, err)
		wg.Wait()
		require.NoError(t, appendErr)
		require.Equal(t, 0, res.State["k0"], "the creation's state saw a later append")
		v, err := m.Load(ctx, k, eventlog.LoadOptions{})
		require.NoError(t, err)
		require.Equal(t, uint64(1), v.Version)
		require.Equal(t, "appended", v.State["k0"])
	}
}

// CONTRACT A4: an append folds its app: and user: writes in the step that
// orders it, and only such an append marks the app's and users' state as
// changed, so that the merged states other sessions cached stay good.
func TestOnlySharedWritesChangeTheSharedGeneration(t *testing.T) {
	ctx := context.Background()
	m := New()
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	_, err := m.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: time.Unix(1, 0)})
	require.NoError(t, err)
	a := m.app("a", false)
	appendDelta := func(id string, delta map[string]any) {
		t.Helper()
		ev := &eventlog.Event{ID: id, Timestamp: time.Unix(2, 0), Actions: eventlog.EventActions{StateDelta: delta}}
		_, err := m.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Time: ev.Timestamp, Event: ev})
		require.NoError(t, err)
	}
	gen := a.sharedGen.Load()
	appendDelta("own", map[string]any{"k": 1})
	require.Equal(t, gen, a.sharedGen.Load(), "a session key leaves app and user state as it was")
	appendDelta("app", map[string]any{"k": 2, "app:x": 1})
	require.Greater(t, a.sharedGen.Load(), gen)
	gen = a.sharedGen.Load()
	appendDelta("user", map[string]any{"user:y": 1})
	require.Greater(t, a.sharedGen.Load(), gen)

	v, err := m.Load(ctx, key, eventlog.LoadOptions{NoEvents: true})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"k": 2, "app:x": 1, "user:y": 1}, v.State)
}
