package sqlrecord_test

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/benchfloor"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
	"github.com/sessionlog/sessionlog/projection"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// The text of a sortable time sorts as the time does, and reads back as
// the same instant, in UTC.
func TestSortableTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	for range 1000 {
		a := base.Add(time.Duration(r.Int64N(int64(48 * time.Hour))))
		b := a.Add(time.Duration(r.Int64N(2000) - 1000))
		sa, sb := sqlrecord.SortableTime(a), sqlrecord.SortableTime(b)
		assert.Equal(t, a.Compare(b), compare(sa, sb), "%s vs %s", sa, sb)
		back, err := sqlrecord.ParseTime(sa)
		require.NoError(t, err)
		assert.True(t, back.Equal(a))
		assert.Equal(t, time.UTC, back.Location())
	}
	_, err := sqlrecord.ParseTime("yesterday")
	require.ErrorContains(t, err, "damaged")
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Encode refuses what JSON cannot hold, before any write, and sorts a
// record's writes into their scopes without their prefixes, leaving temp:
// keys out and encoding a Removed value as nil.
func TestEncode(t *testing.T) {
	k := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	_, err := sqlrecord.Encode(&eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, State: map[string]any{"x": math.NaN()}})
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)

	ev := &eventlog.Event{ID: "e", Actions: eventlog.EventActions{StateDelta: map[string]any{
		"own": 1, "app:shared": "a", "user:gone": projection.Removed, "temp:t": true}}}
	e, err := sqlrecord.Encode(&eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: 3, Event: ev})
	require.NoError(t, err)
	require.Equal(t, uint64(3), e.Rec.Seq)
	got := map[string]string{}
	for i, key := range e.Keys {
		got[[]string{"session", "app", "user"}[e.Scopes[i]]+"/"+string(key)] = string(e.Values[i])
	}
	require.Equal(t, map[string]string{"session/own": "1", "app/shared": `"a"`, "user/gone": ""}, got)

	// A retained record writes only its app: and user: keys.
	w, err := sqlrecord.WritesOf(&eventlog.Record{Kind: eventlog.KindStateRetained, Key: k, State: map[string]any{"own": 1, "app:x": 2}})
	require.NoError(t, err)
	require.Equal(t, []int16{sqlrecord.ScopeApp}, w.Scopes)

	back, err := sqlrecord.Decode(9, 3, e.Body)
	require.NoError(t, err)
	require.Equal(t, eventlog.Position(9), back.Position)
	for _, body := range []string{"{", "", "null", "[]", `{"kind":"eventAppended","time":"yesterday"}`} {
		_, err = sqlrecord.Decode(9, 3, []byte(body))
		require.ErrorContains(t, err, "position 9 is damaged", "%q", body)
	}
}

// Encode's body is json.Marshal's encoding of the record, byte for byte,
// so that records stored before and after it skipped json.Marshal's second
// pass read the same: HTML characters and line separators escaped, in
// every part of a record (its state, an event's text, metadata and
// delta). A nil record is refused.
func TestEncodeBodyIsJSONMarshal(t *testing.T) {
	k := eventlog.SessionKey{AppName: "a<b>", UserID: "u&", SessionID: "s\u2028"}
	tricky := "<script>&amp;\u2028\u2029\x00\"\\é"
	ev := benchfloor.Event(7)
	ev.Content.Parts = append(ev.Content.Parts, &genai.Part{Text: tricky})
	ev.CustomMetadata = map[string]any{"m": tricky, "n": []any{1.5, tricky, nil}}
	ev.Actions.StateDelta[tricky] = map[string]any{tricky: 1}
	for _, rec := range []*eventlog.Record{
		{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now(), State: map[string]any{"x": tricky, "app:y": []any{tricky}}},
		{Kind: eventlog.KindEventAppended, Key: k, Time: time.Now(), Seq: 7, Event: ev},
		{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()},
	} {
		want, err := json.Marshal(rec)
		require.NoError(t, err)
		e, err := sqlrecord.Encode(rec)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(e.Body), "%s record", rec.Kind)
	}
	_, err := sqlrecord.Encode(nil)
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
}

// A waiter is woken by its app's change, by any change when it waits on
// the whole store, by a change of every app (an empty name), and by Close;
// each wake hands later waiters a new channel.
func TestWaker(t *testing.T) {
	var w sqlrecord.Waker
	a, b, all := w.Wait("a"), w.Wait("b"), w.Wait("")
	w.Fire("a")
	requireClosed(t, a, true)
	requireClosed(t, all, true)
	requireClosed(t, b, false)
	a, all = w.Wait("a"), w.Wait("")
	requireClosed(t, a, false)
	requireClosed(t, all, false)
	w.Fire("") // what a store does when a change may have been missed
	requireClosed(t, a, true)
	requireClosed(t, all, true)
	requireClosed(t, b, true)
	b = w.Wait("b")
	w.Close()
	requireClosed(t, b, true)
	requireClosed(t, w.Wait("c"), true)
}

func requireClosed(t *testing.T, ch <-chan struct{}, closed bool) {
	t.Helper()
	select {
	case <-ch:
		require.True(t, closed, "closed too early")
	default:
		require.False(t, closed, "not closed")
	}
}

// A record's writes come sorted by scope (the session's own, the app's,
// the user's), then key byte by byte, whatever order its map gives them:
// the one order in which writers lock shared state rows.
func TestWritesOfAreSorted(t *testing.T) {
	delta := map[string]any{"user:b": 1.0, "app:z": 2.0, "k": 3.0, "app:a": projection.Removed, "user:a": 4.0, "b": 5.0, "temp:x": 6.0}
	for range 20 { // map order varies from run to run
		w, err := sqlrecord.WritesOf(&eventlog.Record{Kind: eventlog.KindEventAppended,
			Event: &eventlog.Event{ID: "e", Actions: eventlog.EventActions{StateDelta: delta}}})
		require.NoError(t, err)
		var got []string
		for i, k := range w.Keys {
			got = append(got, string(rune('0'+w.Scopes[i]))+":"+string(k))
		}
		require.Equal(t, []string{"0:b", "0:k", "1:a", "1:z", "2:a", "2:b"}, got)
		require.Nil(t, w.Values[2], "a removed key has no value")
	}
}

// BenchmarkEncode encodes the append benchmarks' event record: its body,
// the record as readers decode it, and its state writes.
//
//	go test -run '^$' -bench Encode -count 6 ./internal/sqlrecord/
func BenchmarkEncode(b *testing.B) {
	rec := &eventlog.Record{Kind: eventlog.KindEventAppended, Time: time.Now(),
		Key: eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}, Seq: 1, Event: benchfloor.Event(1)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sqlrecord.Encode(rec); err != nil {
			b.Fatal(err)
		}
	}
}
