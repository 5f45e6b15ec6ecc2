package pgstore_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
)

// roundTrips counts what a pool sends the server: statements (Query,
// QueryRow, Exec), batches (many statements, one round trip) and
// statement preparations (pgx prepares each statement once per
// connection, a round trip of its own). The listener's LISTEN is left out.
type roundTrips struct {
	mu                         sync.Mutex
	queries, batches, prepares int
	statements                 []string
}

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !strings.HasPrefix(data.SQL, "LISTEN") {
		r.mu.Lock()
		r.queries++
		r.statements = append(r.statements, data.SQL)
		r.mu.Unlock()
	}
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	r.mu.Lock()
	r.batches++
	r.statements = append(r.statements, "batch of "+strings.Repeat("x", data.Batch.Len()))
	r.mu.Unlock()
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (r *roundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	r.mu.Lock()
	r.prepares++
	r.mu.Unlock()
	return ctx
}

func (r *roundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// count runs f and returns the round trips it took.
func (r *roundTrips) count(f func()) (total int, statements []string) {
	r.mu.Lock()
	r.queries, r.batches, r.prepares, r.statements = 0, 0, 0, nil
	r.mu.Unlock()
	f()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queries + r.batches + r.prepares, r.statements
}

// tracedStore opens a store over schema whose pool (one connection, so
// that statements prepared once stay prepared) reports to a roundTrips.
func tracedStore(t *testing.T, schema string) (*pgstore.Store, *roundTrips) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn(t))
	require.NoError(t, err)
	rt := &roundTrips{}
	cfg.ConnConfig.Tracer = rt
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	return store, rt
}

// A Load is one round trip, cold cache or warm, with or without events
// to fetch, and so are a List, a creation and an event append: a replica
// reads the database once per call and folds nothing.
func TestOneRoundTripPerCall(t *testing.T) {
	schema := newSchema(t)
	writer := open(t, schema)
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	other := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "other"}
	for _, key := range []eventlog.SessionKey{k, other} {
		_, err := writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: time.Now(),
			State: map[string]any{"own": 1.0, "app:a": "x", "user:u": "y"}})
		require.NoError(t, err)
		for i := range 3 {
			_, err := writer.Append(ctx, eventRecord(key, uint64(i+1), key.SessionID+string(rune('a'+i))))
			require.NoError(t, err)
		}
	}

	reader, rt := tracedStore(t, schema)
	// Each statement is prepared on the connection's first use of it
	// (one round trip, once per connection): use each once first.
	_, err := reader.Load(ctx, other, eventlog.LoadOptions{})
	require.NoError(t, err)
	_, err = reader.List(ctx, "app", "", eventlog.ListOptions{Limit: 10})
	require.NoError(t, err)
	_, err = reader.List(ctx, "app", "u", eventlog.ListOptions{Limit: 10})
	require.NoError(t, err)
	_, err = reader.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "warm"}, Time: time.Now()})
	require.NoError(t, err)
	_, err = reader.Append(ctx, eventRecord(other, 0, "warm"))
	require.NoError(t, err)

	one := func(what string, f func()) {
		t.Helper()
		n, statements := rt.count(f)
		assert.Equal(t, 1, n, "%s takes one round trip; it sent %q", what, statements)
	}
	var v eventlog.View
	one("a Load on a cold cache", func() { v, err = reader.Load(ctx, k, eventlog.LoadOptions{}); require.NoError(t, err) })
	require.Len(t, v.Events, 3)
	assert.Equal(t, map[string]any{"own": 1.0, "app:a": "x", "user:u": "y"}, v.State)
	one("a Load on a warm cache", func() { v, err = reader.Load(ctx, k, eventlog.LoadOptions{}); require.NoError(t, err) })
	require.Len(t, v.Events, 3)
	_, err = writer.Append(ctx, eventRecord(k, 4, "behind"))
	require.NoError(t, err)
	one("a Load of a cached session another replica appended to", func() {
		v, err = reader.Load(ctx, k, eventlog.LoadOptions{NumRecentEvents: 2})
		require.NoError(t, err)
	})
	require.Len(t, v.Events, 2)
	assert.Equal(t, "behind", v.Events[1].ID)
	one("a Load without events", func() { v, err = reader.Load(ctx, k, eventlog.LoadOptions{NoEvents: true}); require.NoError(t, err) })
	assert.Equal(t, uint64(4), v.Version)
	// CONTRACT T1: a session as it stood at a version, on a cold cache
	// and on a warm one: the creation record comes in the same statement.
	two := uint64(2)
	one("an as-of Load on a warm cache", func() {
		v, err = reader.Load(ctx, k, eventlog.LoadOptions{AsOf: &two})
		require.NoError(t, err)
	})
	assert.Equal(t, uint64(2), v.Version)
	require.Len(t, v.Events, 2)
	cold, coldRT := tracedStore(t, schema)
	_, err = cold.Load(ctx, other, eventlog.LoadOptions{}) // prepares the statement; k stays cold
	require.NoError(t, err)
	n, statements := coldRT.count(func() {
		v, err = cold.Load(ctx, k, eventlog.LoadOptions{AsOf: &two, NumRecentEvents: 1})
		require.NoError(t, err)
	})
	assert.Equal(t, 1, n, "an as-of Load on a cold cache takes one round trip; it sent %q", statements)
	assert.Equal(t, uint64(2), v.Version)
	require.Len(t, v.Events, 1)
	var views []eventlog.View
	one("a List of an app", func() {
		views, err = reader.List(ctx, "app", "", eventlog.ListOptions{Limit: 10})
		require.NoError(t, err)
	})
	assert.Len(t, views, 3)
	one("a List of a user", func() {
		views, err = reader.List(ctx, "app", "u", eventlog.ListOptions{Limit: 2})
		require.NoError(t, err)
	})
	assert.Len(t, views, 2)
	one("a creation", func() {
		res, err := reader.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: eventlog.SessionKey{AppName: "app", UserID: "u2", SessionID: "new"},
			Time: time.Now(), State: map[string]any{"user:u": "z"}})
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"app:a": "x", "user:u": "z"}, res.State, "the merged state comes back with it")
	})
	one("an event append", func() { _, err = reader.Append(ctx, eventRecord(k, 5, "mine")); require.NoError(t, err) })
	one("a missing session's Load", func() {
		_, err = reader.Load(ctx, eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "missing"}, eventlog.LoadOptions{})
		require.ErrorIs(t, err, eventlog.ErrNotFound)
	})
}

// Open readies its connection for the first read: a new replica's first
// Load is one round trip too, the load statement prepared already.
func TestOpenReadiesTheFirstLoad(t *testing.T) {
	schema := newSchema(t)
	writer := open(t, schema)
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err := writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)

	reader, rt := tracedStore(t, schema)
	n, statements := rt.count(func() {
		_, err = reader.Load(ctx, k, eventlog.LoadOptions{})
		require.NoError(t, err)
	})
	assert.Equal(t, 1, n, "the first Load takes one round trip, nothing to prepare; it sent %q", statements)
}
