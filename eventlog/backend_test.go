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
}
