package eventlog_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT D3: a deleted session leaves only the app: and user: writes
// that no later write of its own overrides, at their positions.
func TestRetained(t *testing.T) {
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	ev := func(pos eventlog.Position, seq uint64, delta map[string]any) *eventlog.Record {
		return &eventlog.Record{Position: pos, Kind: eventlog.KindEventAppended, Key: key, Seq: seq,
			Event: &eventlog.Event{ID: "e", Actions: eventlog.EventActions{StateDelta: delta}}}
	}
	recs := []*eventlog.Record{
		{Position: 1, Kind: eventlog.KindSessionCreated, Key: key, State: map[string]any{"app:x": 1, "user:y": 1, "own": 1}},
		ev(3, 1, map[string]any{"app:x": 2, "own": 2}),
		ev(5, 2, map[string]any{"own": 3}),
		ev(8, 3, map[string]any{"user:z": 3, "app:x": 3}),
	}
	got := eventlog.Retained(recs)
	require.Len(t, got, 2)
	assert.Equal(t, eventlog.Position(1), got[0].Position)
	assert.Equal(t, map[string]any{"user:y": 1}, got[0].State, "app:x is overridden later; own keys never survive")
	assert.Equal(t, eventlog.Position(8), got[1].Position)
	assert.Equal(t, map[string]any{"user:z": 3, "app:x": 3}, got[1].State)
	for _, r := range got {
		assert.Equal(t, eventlog.KindStateRetained, r.Kind)
		assert.Equal(t, key, r.Key)
	}
	assert.Empty(t, eventlog.Retained(recs[2:3]), "a record with no shared writes leaves nothing")
	assert.Empty(t, eventlog.Retained(nil))
}

// CheckRecord refuses what no store may accept.
func TestCheckRecord(t *testing.T) {
	require.ErrorIs(t, eventlog.CheckRecord(nil), eventlog.ErrInvalidArgument)
	require.ErrorIs(t, eventlog.CheckRecord(&eventlog.Record{Kind: eventlog.KindSessionCreated}), eventlog.ErrInvalidArgument)
	require.NoError(t, eventlog.CheckRecord(&eventlog.Record{Kind: eventlog.KindSessionCreated,
		Key: eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}}))

	// CONTRACT K1: names JSON cannot carry are refused by every store.
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	ev := &eventlog.Event{ID: "e"}
	for _, tc := range []struct {
		name string
		rec  *eventlog.Record
		want string
	}{
		{"an app name that is not UTF-8", &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: eventlog.SessionKey{AppName: "a\xff", UserID: "u", SessionID: "s"}}, "UTF-8"},
		{"a user ID that is not UTF-8", &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: eventlog.SessionKey{AppName: "a", UserID: "u\xfe", SessionID: "s"}}, "UTF-8"},
		{"a session ID that is not UTF-8", &eventlog.Record{Kind: eventlog.KindEventAppended, Key: eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "\xc3"}, Event: ev}, "UTF-8"},
		{"retained state of an app that is not UTF-8", &eventlog.Record{Kind: eventlog.KindStateRetained, Key: eventlog.SessionKey{AppName: "\xed\xa0\x80"}}, "UTF-8"},
		{"an event ID that is not UTF-8", &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Event: &eventlog.Event{ID: "e\xff"}}, "event ID"},
		{"an event without an ID", &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Event: &eventlog.Event{}}, "event ID is empty"},
		{"an event record without an event", &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key}, "no event"},
		{"a session record without a session ID", &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: eventlog.SessionKey{AppName: "a", UserID: "u"}}, "lacks"},
	} {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			err := eventlog.CheckRecord(tc.rec)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
			require.ErrorContains(t, err, tc.want)
		})
	}
	t.Run("an event with a unicode ID and key and Seq 0 is accepted", func(t *testing.T) {
		require.NoError(t, eventlog.CheckRecord(&eventlog.Record{Kind: eventlog.KindEventAppended,
			Key: eventlog.SessionKey{AppName: "ä\x00", UserID: "ü/", SessionID: "日本"}, Event: &eventlog.Event{ID: "é"}}))
	})
}
