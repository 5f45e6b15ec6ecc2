package pgstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/projection"
)

// A deletion that waits for an append to the same session (on another
// replica) frees the event that append stored too (CONTRACT D3): the
// event's app: and user: writes stay, as a retained record the log
// rebuilds them from (R1), and an app follower that had not read the event
// learns that it was freed (S2) rather than skipping it unawares.
func TestDeletionThatWaitsForAnAppendFreesItsEvent(t *testing.T) {
	schema := newSchema(t)
	appender, deleter := open(t, schema), open(t, schema)
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	// Another session of the app and the user, so that Verify compares
	// the app's and the user's state with the log's once s is gone.
	for _, key := range []eventlog.SessionKey{k, {AppName: "app", UserID: "u", SessionID: "other"}} {
		_, err := appender.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: time.Now()})
		require.NoError(t, err)
	}
	first := eventRecord(k, 1, "e1")
	first.Event.Actions.StateDelta = map[string]any{"app:x": "first"}
	res, err := appender.Append(ctx, first)
	require.NoError(t, err)
	readFrom := res.Record.Position // an app follower has read up to e1

	// e2's append holds the session's row until the deletion waits for it.
	holding, release := make(chan struct{}), make(chan struct{})
	pgstore.BeforeCommit(appender, func(pgx.Tx) {
		close(holding)
		<-release
	})
	var wg sync.WaitGroup
	var appended eventlog.AppendResult
	var appendErr, deleteErr error
	wg.Go(func() {
		second := eventRecord(k, 2, "e2")
		second.Event.Actions.StateDelta = map[string]any{"app:x": "second", "user:y": "kept"}
		appended, appendErr = appender.Append(ctx, second)
	})
	<-holding
	wg.Go(func() {
		_, deleteErr = deleter.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()})
	})
	conn := pgxConn(t)
	require.Eventually(t, func() bool {
		var waiting bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%sessions%FOR UPDATE%')`, pgx.Identifier{schema}.Sanitize()).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 5*time.Millisecond, "the deletion waits for the append's lock")
	close(release)
	wg.Wait()
	require.NoError(t, appendErr)
	require.NoError(t, deleteErr)

	// e2 is freed with the session; its shared writes are kept.
	fresh := open(t, schema)
	_, err = fresh.Load(ctx, k, eventlog.LoadOptions{})
	require.ErrorIs(t, err, eventlog.ErrNotFound)
	v, err := fresh.Load(ctx, eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "other"}, eventlog.LoadOptions{})
	require.NoError(t, err)
	assert.Equal(t, "second", v.State["app:x"])
	assert.Equal(t, "kept", v.State["user:y"])
	require.NoError(t, projection.Verify(ctx, fresh), "the state is the log's")

	for _, scope := range []eventlog.Scope{{AppName: "app"}, {AppName: "app", UserID: "u"}} {
		_, _, err = fresh.Read(ctx, scope, readFrom, 10)
		require.ErrorIs(t, err, eventlog.ErrCompacted, "%v: a follower past e1 but not e2 (at %d) missed e2", scope, appended.Record.Position)
	}
}
