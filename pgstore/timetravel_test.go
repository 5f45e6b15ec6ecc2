package pgstore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// CONTRACT T1 on PostgreSQL: a session's own state as of a version is
// folded from its records, with a cold cache (a replica that never read
// the session) or a warm one, with or without events; its app: and user:
// state are today's, as the package documents.
func TestLoadAsOf(t *testing.T) {
	schema := newSchema(t)
	writer, cold := open(t, schema), open(t, schema)
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := func(seq uint64, delta map[string]any) *eventlog.Record {
		ts := t0.Add(time.Duration(seq) * time.Second)
		return &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Time: ts,
			Event: &eventlog.Event{ID: string(rune('a' + seq)), Timestamp: ts, Actions: eventlog.EventActions{StateDelta: delta}}}
	}
	for _, rec := range []*eventlog.Record{
		{Kind: eventlog.KindSessionCreated, Key: k, Time: t0, State: map[string]any{"a": 1, "gone": "soon", "app:x": "created"}},
		ev(1, map[string]any{"a": 2, "user:y": "first"}),
		ev(2, map[string]any{"app:x": "second", "gone": projection.Removed, "b": true}),
	} {
		_, err := writer.Append(ctx, rec)
		require.NoError(t, err)
	}
	today := map[string]any{"app:x": "second", "user:y": "first"}
	want := []map[string]any{{"a": 1, "gone": "soon"}, {"a": 2, "gone": "soon"}, {"a": 2, "b": true}}
	for _, store := range []eventlog.Store{cold, writer} { // cold first: its cache is empty
		for _, noEvents := range []bool{true, false} {
			for v, own := range want {
				version := uint64(v)
				got, err := store.Load(ctx, k, eventlog.LoadOptions{AsOf: &version, NoEvents: noEvents})
				require.NoError(t, err)
				state := map[string]any{}
				for k, val := range own {
					state[k] = val
				}
				for k, val := range today {
					state[k] = val
				}
				require.Equal(t, state, got.State, "version %d", v)
				require.Equal(t, version, got.Version)
				require.True(t, t0.Add(time.Duration(v)*time.Second).Equal(got.LastUpdateTime), "version %d: %v", v, got.LastUpdateTime)
				if noEvents {
					require.Empty(t, got.Events)
				} else {
					require.Len(t, got.Events, v)
				}
			}
		}
	}
	v := uint64(3)
	_, err := cold.Load(ctx, k, eventlog.LoadOptions{AsOf: &v})
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	require.ErrorContains(t, err, "version 3 is beyond the session's version 2")
}
