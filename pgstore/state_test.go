package pgstore_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

// CONTRACT R1: the app_state and user_state tables, written in the same
// transaction as each record, hold exactly the app and user state a fold
// of the log gives, also after Removed keys and deletions (a removed
// key keeps its row, without a value, for the writes that may follow).
func TestStateTablesFollowTheLog(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema)
	svc := newService(t, store)
	ctx := t.Context()
	a, err := svc.Create(ctx, key("u1", "a"), map[string]any{"app:color": "red", "user:lang": "go", "own": 1.0})
	require.NoError(t, err)
	b, err := svc.Create(ctx, key("u2", "b"), map[string]any{"user:lang": "rust"})
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, a, delta(map[string]any{"app:color": "blue", "app:size": 3.0, "user:lang": service.Removed}))
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, b, delta(map[string]any{"user:n": map[string]any{"deep": []any{1.0, "x"}}}))
	require.NoError(t, err)
	require.NoError(t, svc.Delete(ctx, b.Key()), "shared state outlives its session")

	conn := pgxConn(t)
	table := func(q string) map[string]any {
		rows, err := conn.Query(ctx, q)
		require.NoError(t, err)
		out := map[string]any{}
		for rows.Next() {
			var k, v []byte
			require.NoError(t, rows.Scan(&k, &v))
			var val any
			require.NoError(t, json.Unmarshal(v, &val))
			out[string(k)] = val
		}
		require.NoError(t, rows.Err())
		return out
	}
	s := pgx.Identifier{schema}.Sanitize()
	apps := table("SELECT key, value FROM " + s + ".app_state WHERE app = 'app' AND value IS NOT NULL")
	users := map[string]map[string]any{}
	for _, u := range []string{"u1", "u2"} {
		users[u] = table("SELECT key, value FROM " + s + ".user_state WHERE app = 'app' AND user_id = '" + u + "' AND value IS NOT NULL")
	}

	fold, err := projection.Rebuild(ctx, store)
	require.NoError(t, err)
	snap := fold.Apps["app"]
	require.NotNil(t, snap)
	assert.Equal(t, snap.State.Values(), apps)
	assert.Equal(t, map[string]any{"color": "blue", "size": 3.0}, apps)
	for u, want := range users {
		assert.Equal(t, snap.Users[u].Values(), want, "user %s", u)
	}
	assert.Equal(t, map[string]any{}, users["u1"], "a Removed key leaves the table")
	assert.Equal(t, map[string]any{"lang": "rust", "n": map[string]any{"deep": []any{1.0, "x"}}}, users["u2"])
}

// CONTRACT Z1 R1: appends of different sessions that write the same app:
// key do not wait for each other's commits, and the write at the higher
// position wins whatever order they commit in. Here an append takes its
// position, writes app:color and holds its transaction open; another
// replica's append to another session, at a later position, removes
// app:color and commits without waiting. Once the first commits too, the
// key stays removed (the earlier write does not bring it back), as a fold
// of the log gives.
func TestSharedKeyWritersDoNotWait(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	held, other := open(t, schema), open(t, schema)
	svc := newService(t, other)
	a, err := svc.Create(ctx, key("u1", "a"), map[string]any{"app:color": "red"})
	require.NoError(t, err)
	b, err := svc.Create(ctx, key("u2", "b"), nil)
	require.NoError(t, err)

	holding, release := make(chan struct{}), make(chan struct{})
	pgstore.BeforeCommit(held, func(pgx.Tx) {
		close(holding)
		<-release
	})
	var wg sync.WaitGroup
	wg.Go(func() {
		ev := &eventlog.Event{ID: "earlier", Actions: eventlog.EventActions{StateDelta: map[string]any{"app:color": "green"}}}
		_, err := held.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: a.Key(), Seq: 1, Time: time.Now(), Event: ev})
		assert.NoError(t, err)
	})
	<-holding
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = svc.AppendEvent(quick, b, delta(map[string]any{"app:color": service.Removed}))
	require.NoError(t, err, "the later append does not wait for the open one")
	close(release)
	wg.Wait()

	got, err := newService(t, open(t, schema)).Get(ctx, b.Key(), service.GetOptions{})
	require.NoError(t, err)
	assert.NotContains(t, got.State, "app:color", "the removal, at the later position, wins")
	require.NoError(t, projection.Verify(ctx, other))
}

// The versions of a shared key that a write supersedes are pruned by the
// writes that follow: a key written many times keeps a row or two.
func TestSharedStateVersionsArePruned(t *testing.T) {
	schema := newSchema(t)
	svc := newService(t, open(t, schema))
	ctx := t.Context()
	sess, err := svc.Create(ctx, key("u", "s"), nil)
	require.NoError(t, err)
	for i := range 50 {
		_, err = svc.AppendEvent(ctx, sess, delta(map[string]any{"app:n": float64(i), "user:n": float64(i)}))
		require.NoError(t, err)
	}
	s := pgx.Identifier{schema}.Sanitize()
	for _, table := range []string{"app_values", "user_values"} {
		var rows int
		require.NoError(t, pgxConn(t).QueryRow(ctx, "SELECT count(*) FROM "+s+"."+table).Scan(&rows))
		assert.LessOrEqual(t, rows, 2, "%s keeps the last version or two of its key", table)
	}
	got, err := svc.Get(ctx, sess.Key(), service.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, 49.0, got.State["app:n"])
	assert.Equal(t, 49.0, got.State["user:n"])
}
