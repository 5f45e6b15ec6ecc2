package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
)

func newService(t testing.TB, store eventlog.Store) *service.Service {
	t.Helper()
	svc, err := service.New(context.Background(), service.Options{Store: store})
	require.NoError(t, err)
	return svc
}

func key(user, id string) service.SessionKey {
	return service.SessionKey{AppName: "app", UserID: user, SessionID: id}
}

func delta(kv map[string]any) *service.Event {
	return &service.Event{Actions: service.EventActions{StateDelta: kv}}
}

// CONTRACT S1 (across replicas): a subscription reads the log from its own
// position; notifications only wake it. With every notification lost, the
// poll still delivers each append, in order, with no gaps.
func TestSubscriptionWithoutNotifications(t *testing.T) {
	schema := newSchema(t)
	writer := open(t, schema)
	pgstore.SilenceNotifications(writer)
	reader := open(t, schema, func(o *pgstore.Options) { o.PollInterval = 20 * time.Millisecond })
	a, b := newService(t, writer), newService(t, reader)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	k := key("u", "s")
	sess, err := a.Create(ctx, k, nil)
	require.NoError(t, err)
	const n = 20
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			_, err := a.AppendEvent(ctx, sess, &service.Event{ID: fmt.Sprintf("e%02d", i)})
			if !assert.NoError(t, err) {
				return
			}
			time.Sleep(5 * time.Millisecond) // the subscriber catches up and waits between appends
		}
	})
	var got []string
	for rec, err := range b.Subscribe(ctx, k, 0) {
		require.NoError(t, err)
		require.Equal(t, uint64(len(got)+1), rec.Seq)
		got = append(got, rec.Event.ID)
		if len(got) == n {
			break
		}
	}
	wg.Wait()
	require.Len(t, got, n)
	for i, id := range got {
		assert.Equal(t, fmt.Sprintf("e%02d", i), id)
	}
}

// CONTRACT B1: a state value that JSON cannot hold is refused with
// ErrInvalidArgument, and nothing is written.
func TestUnencodableState(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema)
	svc := newService(t, store)
	ctx := t.Context()
	k := key("u", "s")
	for name, v := range map[string]any{"a function": func() {}, "a channel": make(chan int), "NaN": math.NaN()} {
		_, err := svc.Create(ctx, k, map[string]any{"app:bad": v})
		require.ErrorIs(t, err, service.ErrInvalidArgument, name)
	}
	sess, err := svc.Create(ctx, k, map[string]any{"ok": 1.0})
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, sess, delta(map[string]any{"user:bad": math.Inf(1)}))
	require.ErrorIs(t, err, service.ErrInvalidArgument)
	assert.Equal(t, uint64(0), sess.Version, "the handle is unchanged")

	recs, _, err := store.Read(ctx, eventlog.Scope{}, 0, 100)
	require.NoError(t, err)
	require.Len(t, recs, 1, "only the good creation is in the log")
	var users int
	require.NoError(t, pgxConn(t).QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{schema}.Sanitize()+".user_state").Scan(&users))
	assert.Zero(t, users, "no user state was written")
}

// A connection lost in the middle of an append leaves none of it: not the
// record, not the session's version, not the state; the retry succeeds.
func TestConnectionLostMidAppend(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema)
	svc := newService(t, store)
	ctx := t.Context()
	k := key("u", "s")
	sess, err := svc.Create(ctx, k, nil)
	require.NoError(t, err)

	killer := pgxConn(t)
	pgstore.BeforeCommit(store, func(tx pgx.Tx) {
		pid := tx.Conn().PgConn().PID()
		_, err := killer.Exec(context.Background(), "SELECT pg_terminate_backend($1)", pid)
		assert.NoError(t, err)
	})
	ev := &service.Event{ID: "e1", Actions: service.EventActions{StateDelta: map[string]any{"app:x": "y"}}}
	_, err = svc.AppendEvent(ctx, sess, ev)
	require.Error(t, err)
	assert.NotErrorIs(t, err, service.ErrStaleSession)
	pgstore.BeforeCommit(store, nil)

	other := newService(t, open(t, schema))
	got, err := other.Get(ctx, k, service.GetOptions{})
	require.NoError(t, err)
	assert.Empty(t, got.Events, "the lost append stored nothing")
	assert.Empty(t, got.State, "and wrote no state")

	_, err = svc.AppendEvent(ctx, sess, ev)
	require.NoError(t, err, "the retry succeeds")
	got, err = other.Get(ctx, k, service.GetOptions{})
	require.NoError(t, err)
	require.Len(t, got.Events, 1)
	assert.Equal(t, "y", got.State["app:x"])
}

// A database that is down gives errors that wrap the cause: at open, and
// for every call once the connection goes away.
func TestDatabaseDown(t *testing.T) {
	t.Run("opening a store with no server behind the address fails with the connection error", func(t *testing.T) {
		dsn(t)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		require.NoError(t, ln.Close()) // nothing listens there now
		_, err = pgstore.Open(t.Context(), "postgres://postgres@"+addr+"/test?sslmode=disable&connect_timeout=5", pgstore.Options{})
		require.Error(t, err)
		var connErr *pgconn.ConnectError
		assert.ErrorAs(t, err, &connErr)
	})
	t.Run("a call after the server went away fails with the cause", func(t *testing.T) {
		p := startProxy(t, "127.0.0.1:5432")
		store, err := pgstore.Open(t.Context(), "postgres://postgres@"+p.addr()+"/test?sslmode=disable&connect_timeout=5",
			pgstore.Options{Schema: newSchema(t)})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, store.Close()) })
		svc := newService(t, store)
		sess, err := svc.Create(t.Context(), key("u", "s"), nil)
		require.NoError(t, err)

		p.stop()
		_, err = svc.AppendEvent(t.Context(), sess, &service.Event{})
		require.Error(t, err)
		var connErr *pgconn.ConnectError
		var netErr net.Error
		assert.True(t, errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF),
			"the error wraps the connection's failure: %v", err)
		_, err = svc.Get(t.Context(), key("u", "s"), service.GetOptions{})
		require.Error(t, err)
		assert.NotErrorIs(t, err, service.ErrNotFound, "a failure is not an answer")
		// The store's own append path (the batch) reports the cause too.
		_, err = store.Append(t.Context(), &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key("u", "s"), Seq: 1,
			Time: time.Now(), Event: &eventlog.Event{ID: "e"}})
		require.Error(t, err)
		assert.True(t, errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF),
			"the batch's error wraps the connection's failure: %v", err)
	})
}

// Migrations are versioned: opening a migrated schema changes nothing, and
// a schema newer than this package is refused.
func TestMigrations(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	// Replicas opening together apply each migration once.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { open(t, schema) })
	}
	wg.Wait()
	conn := pgxConn(t)
	q := "SELECT count(*), max(version) FROM " + pgx.Identifier{schema}.Sanitize() + ".migrations"
	var n, version int
	require.NoError(t, conn.QueryRow(ctx, q).Scan(&n, &version))
	assert.Equal(t, pgstore.Migrations(), n)
	assert.Equal(t, pgstore.Migrations(), version)

	_, err := conn.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema}.Sanitize()+".migrations (version, name) VALUES (99, 'from the future')")
	require.NoError(t, err)
	_, err = pgstore.Open(ctx, dsn(t), pgstore.Options{Schema: schema})
	require.ErrorContains(t, err, "schema version 99, newer than this pgstore knows")
}

func pgxConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn(t))
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// proxy forwards TCP connections to a target until stopped, so a test can
// take the database away from a store.
type proxy struct {
	ln      net.Listener
	mu      sync.Mutex
	conns   []net.Conn
	stopped bool
	wg      sync.WaitGroup
	once    sync.Once
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.stopped { // accepted as stop began: cut it too
				p.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
			p.wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
		}
	})
	t.Cleanup(p.stop)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// stop refuses new connections and cuts the open ones.
func (p *proxy) stop() {
	p.once.Do(func() {
		p.ln.Close()
		p.mu.Lock()
		p.stopped = true
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}
