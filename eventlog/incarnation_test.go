package eventlog_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT D2: an append pinned to a deleted incarnation is refused, even
// when a new session took its key, and even at the version the new one
// is at.
func TestAppendPinnedToAnIncarnation(t *testing.T) {
	ctx := context.Background()
	m := eventlog.NewMemory()
	k := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	old, err := m.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	_, err = m.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()})
	require.NoError(t, err)
	cur, err := m.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)

	ev := func(id string, incarnation eventlog.Position) *eventlog.Record {
		return &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: 1, Time: time.Now(),
			Event: &eventlog.Event{ID: id}, Incarnation: incarnation}
	}
	_, err = m.Append(ctx, ev("e1", old.Position))
	require.ErrorIs(t, err, eventlog.ErrNotFound)
	log, err := m.Session(ctx, k)
	require.NoError(t, err)
	require.Zero(t, log.Version(), "nothing stored")

	_, err = m.Append(ctx, ev("e1", cur.Position))
	require.NoError(t, err, "the live incarnation accepts it")
	_, err = m.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: 2, Time: time.Now(), Event: &eventlog.Event{ID: "e2"}})
	require.NoError(t, err, "zero accepts any incarnation")
}
