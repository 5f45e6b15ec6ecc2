package pgstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/logtest"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
)

// The messages an operator can match on.
const (
	msgLost      = "pgstore: listener lost its connection, subscribers rely on the poll until it is back"
	msgStillDown = "pgstore: listener is still disconnected"
	msgBack      = "pgstore: listener reconnected"
	msgMigration = "pgstore: applied a schema migration"
	msgUpgrade   = "pgstore: ran a migration's data upgrade"
)

// listenerPID has a reader wait for changes of store, which starts its
// listener, waits until the listener listens, and returns its backend's
// process ID; a backend other than not.
func listenerPID(t *testing.T, conn *pgx.Conn, store *pgstore.Store, not int32) int32 {
	t.Helper()
	store.Changes(eventlog.Scope{AppName: "app"})
	var pid int32
	require.Eventually(t, func() bool {
		err := conn.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity
WHERE application_name = $1 AND query = $2 AND pid <> $3`,
			pgstore.ListenerApp(store), "LISTEN "+pgx.Identifier{pgstore.Channel(store)}.Sanitize(), not).Scan(&pid)
		return err == nil
	}, 20*time.Second, 10*time.Millisecond, "the listener does not listen")
	return pid
}

// terminate ends the backend pid from the server side, as an
// administrator or a failover would.
func terminate(t *testing.T, conn *pgx.Conn, pid int32) {
	t.Helper()
	var ok bool
	require.NoError(t, conn.QueryRow(t.Context(), "SELECT pg_terminate_backend($1)", pid).Scan(&ok))
	require.True(t, ok, "backend %d was not terminated", pid)
}

// The listener's connection, killed from the server side, is logged as
// lost at Warn, with the error and the pause before it reconnects, then as
// back at Info, with how long it was down; meanwhile a follower of the app
// (service.SubscribeApp) gets every record another replica appends,
// through the poll.
func TestListenerLossAndRecoveryAreLogged(t *testing.T) {
	schema := newSchema(t)
	rec := logtest.New()
	const poll = 50 * time.Millisecond
	follower := open(t, schema, func(o *pgstore.Options) { o.Logger = rec.Logger(); o.PollInterval = poll })
	writer := newService(t, open(t, schema))
	followed := newService(t, follower)
	conn := pgxConn(t)
	pid := listenerPID(t, conn, follower, 0)

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	got := make(chan *eventlog.Record)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() {
		for r, err := range followed.SubscribeApp(ctx, "app", 0) {
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("subscription: %v", err)
				}
				return
			}
			select {
			case got <- r:
			case <-ctx.Done():
				return
			}
		}
	})
	next := func() *eventlog.Record {
		t.Helper()
		select {
		case r := <-got:
			return r
		case <-ctx.Done():
			t.Fatal("the follower got no record")
			return nil
		}
	}
	k := key("u", "s")
	sess, err := writer.Create(ctx, k, nil)
	require.NoError(t, err)
	require.Equal(t, eventlog.KindSessionCreated, next().Kind)

	// The outage lasts while the listener waits to reconnect.
	const outage = 3 * time.Second
	pgstore.SetListenRetry(follower, outage)
	terminate(t, conn, pid)
	lost := rec.Wait(t, msgLost, 20*time.Second)
	assert.Equal(t, slog.LevelWarn, lost.Level)
	assert.Contains(t, lost.Attrs["error"].String(), "terminating connection")
	assert.Equal(t, outage, lost.Attrs["retry_in"].Duration())
	assert.Equal(t, poll, lost.Attrs["poll_interval"].Duration())

	for i := range 3 {
		_, err := writer.AppendEvent(ctx, sess, &service.Event{ID: fmt.Sprint("down", i)})
		require.NoError(t, err)
		r := next()
		require.Equal(t, fmt.Sprint("down", i), r.Event.ID)
	}
	require.Empty(t, rec.Find(msgBack), "the listener came back before the poll delivered: the test shows nothing; logged:\n%s", rec)

	back := rec.Wait(t, msgBack, 20*time.Second)
	assert.Equal(t, slog.LevelInfo, back.Level)
	assert.GreaterOrEqual(t, back.Attrs["down_for"].Duration(), outage)
	assert.Equal(t, int64(1), back.Attrs["attempts"].Int64())
	assert.Empty(t, rec.Find(msgStillDown))
	listenerPID(t, conn, follower, pid)

	_, err = writer.AppendEvent(ctx, sess, &service.Event{ID: "back"})
	require.NoError(t, err)
	require.Equal(t, "back", next().Event.ID)
	assert.Len(t, rec.Find(msgLost), 1, "logged:\n%s", rec)
}

// Open logs each migration it applies at Info, with the schema, the
// migration and its duration, and the data upgrade of version 2 with the
// sessions it folded; a schema that is up to date logs nothing.
func TestMigrationsAreLogged(t *testing.T) {
	dsn(t)
	t.Run("a new schema", func(t *testing.T) {
		schema := newSchema(t)
		rec := logtest.New()
		open(t, schema, func(o *pgstore.Options) { o.Logger = rec.Logger() })
		lines := rec.Find(msgMigration)
		require.Len(t, lines, pgstore.Migrations(), "one line per migration; logged:\n%s", rec)
		for i, l := range lines {
			assert.Equal(t, slog.LevelInfo, l.Level)
			assert.Equal(t, schema, l.Attrs["schema"].String())
			assert.Equal(t, int64(i+1), l.Attrs["version"].Int64())
			assert.Regexp(t, fmt.Sprintf(`^%04d_\w+\.sql$`, i+1), l.Attrs["migration"].String())
			assert.Positive(t, l.Attrs["duration"].Duration())
		}
		up := rec.Find(msgUpgrade)
		require.Len(t, up, 1, "logged:\n%s", rec)
		assert.Equal(t, "0002_read_model.sql", up[0].Attrs["migration"].String())
		assert.Equal(t, "fill the read model", up[0].Attrs["step"].String())
		assert.Zero(t, up[0].Attrs["sessions"].Int64())

		again := logtest.New()
		open(t, schema, func(o *pgstore.Options) { o.Logger = again.Logger() })
		assert.Empty(t, again.Lines(), "opening a migrated schema logged")
	})

	t.Run("an upgrade from version 1", func(t *testing.T) {
		schema := newSchema(t)
		ctx := t.Context()
		pool, err := pgxpool.New(ctx, dsn(t))
		require.NoError(t, err)
		defer pool.Close()
		require.NoError(t, pgstore.MigrateTo(ctx, pool, schema, 1))
		old := v1{t: t, conn: pgxConn(t), schema: pgx.Identifier{schema}.Sanitize()}
		at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
		a := old.create(key("u1", "a"), at, map[string]any{"x": 1.0})
		old.append(a.Key, 1, at, map[string]any{"x": 2.0})
		old.create(key("u2", "b"), at, nil)

		rec := logtest.New()
		open(t, schema, func(o *pgstore.Options) { o.Logger = rec.Logger() })
		lines := rec.Find(msgMigration)
		require.Len(t, lines, pgstore.Migrations()-1, "one line per migration after the first; logged:\n%s", rec)
		for i, l := range lines {
			assert.Equal(t, int64(i+2), l.Attrs["version"].Int64())
		}
		up := rec.Find(msgUpgrade)
		require.Len(t, up, 1, "logged:\n%s", rec)
		assert.Equal(t, slog.LevelInfo, up[0].Level)
		assert.Equal(t, schema, up[0].Attrs["schema"].String())
		assert.Equal(t, int64(2), up[0].Attrs["sessions"].Int64())
		assert.Positive(t, up[0].Attrs["duration"].Duration())
	})
}

// Without a Logger the store logs nothing, to the default logger neither:
// not its migrations, not the loss and recovery of its listener.
func TestNoLoggerIsSilent(t *testing.T) {
	schema := newSchema(t)
	def := logtest.CaptureDefault(t)
	store := open(t, schema)
	conn := pgxConn(t)
	pid := listenerPID(t, conn, store, 0)
	terminate(t, conn, pid)
	listenerPID(t, conn, store, pid) // back
	assert.Empty(t, def.Lines(), "logged through the default logger")
}

// A replica that nobody follows holds no listener connection: the
// listener starts with the first reader that waits for changes, once,
// however many wait. A store closed while readers start waiting stops
// whatever it started (goleak checks the goroutines at the end), and
// after Close a wait ends at once without starting anything.
func TestListenerStartsWithTheFirstSubscriber(t *testing.T) {
	schema := newSchema(t)
	conn := pgxConn(t)
	store := open(t, schema)
	listeners := func() int {
		var n int
		require.NoError(t, conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE query = $1",
			"LISTEN "+pgx.Identifier{pgstore.Channel(store)}.Sanitize()).Scan(&n))
		return n
	}
	_, err := store.Append(t.Context(), &eventlog.Record{Kind: eventlog.KindSessionCreated, Time: time.Now(),
		Key: eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}})
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond) // time enough for a listener to connect, were there one
	assert.Zero(t, listeners(), "a store that nobody follows listens")

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { store.Changes(eventlog.Scope{AppName: "app"}) })
	}
	wg.Wait()
	listenerPID(t, conn, store, 0)
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, 1, listeners(), "each wait started a listener")

	// Close while readers begin to wait.
	other := open(t, schema)
	for range 4 {
		wg.Go(func() { other.Changes(eventlog.Scope{AppName: "app"}) })
	}
	require.NoError(t, other.Close())
	wg.Wait()
	select {
	case <-other.Changes(eventlog.Scope{AppName: "app"}):
	case <-time.After(5 * time.Second):
		t.Fatal("a wait on a closed store does not end")
	}
}
