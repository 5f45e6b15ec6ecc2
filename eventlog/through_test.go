package eventlog_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT S1 S2: a read never reports it got past a position that holds no
// record because its journal failed: a durable store that restarts may give
// that number to a new record, which a reader told it was passed would miss.
func TestReadsStopAtTheLastStoredPosition(t *testing.T) {
	ctx := context.Background()
	m := eventlog.NewMemory()
	k := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	first, err := m.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k})
	require.NoError(t, err)
	failing := errors.New("disk full")
	other := eventlog.SessionKey{AppName: "b", UserID: "u", SessionID: "s"}
	_, err = m.AppendJournaled(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: other},
		func(*eventlog.Record) error { return failing })
	require.ErrorIs(t, err, failing)

	_, through, err := m.Read(ctx, eventlog.Scope{}, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, first.Position, through, "the whole store: not past the burned position")
	_, through, err = m.Read(ctx, eventlog.Scope{AppName: "missing"}, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, first.Position, through, "an app that does not exist")

	next, err := m.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: other})
	require.NoError(t, err)
	recs, through, err := m.Read(ctx, eventlog.Scope{}, 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, next.Position, through)
}
