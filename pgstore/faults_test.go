package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
)

// CONTRACT A1 A7: a statement that hangs (here: every append waits for its
// session's lock, which a stuck transaction holds) fails once the statement
// timeout passes, for the batch's leader and for the appends queued behind
// it alike, though their callers' contexts have no deadline; nothing of
// them is stored, and their retries succeed once the lock is free.
func TestHungStatementTimesOut(t *testing.T) {
	schema := newSchema(t)
	const timeout = 700 * time.Millisecond
	store := open(t, schema, func(o *pgstore.Options) { o.StatementTimeout = timeout })
	svc := newService(t, store)
	ctx := context.Background()
	sessions := make([]*service.Session, 4)
	for i := range sessions {
		var err error
		sessions[i], err = svc.Create(ctx, key("u", fmt.Sprint("s", i)), nil)
		require.NoError(t, err)
	}
	release := holdSessions(t, schema)
	var wg sync.WaitGroup
	errs := make([]error, len(sessions))
	for i, sess := range sessions {
		wg.Go(func() {
			_, errs[i] = svc.AppendEvent(ctx, sess, &service.Event{ID: fmt.Sprint("e", i), Actions: service.EventActions{
				StateDelta: map[string]any{"n": float64(i)}}})
		})
	}
	wg.Wait() // returns: every append gave up, none waits for the lock any more
	for i, err := range errs {
		require.Error(t, err, "append %d", i)
		var pgErr *pgconn.PgError
		assert.True(t, errors.Is(err, context.DeadlineExceeded) || errors.As(err, &pgErr) && pgErr.Code == "57014",
			"append %d fails with the timeout, or the server's cancellation of the statement: %v", i, err)
	}
	v, err := store.Load(ctx, sessions[0].Key(), eventlog.LoadOptions{})
	require.NoError(t, err, "reads take no lock and still work")
	assert.Zero(t, v.Version, "nothing of the timed-out appends is stored")
	release()
	for i, sess := range sessions {
		fresh, err := svc.Get(ctx, sess.Key(), service.GetOptions{})
		require.NoError(t, err)
		_, err = svc.AppendEvent(ctx, fresh, &service.Event{ID: fmt.Sprint("e", i)})
		require.NoError(t, err, "the retry of append %d", i)
		got, err := svc.Get(ctx, sess.Key(), service.GetOptions{})
		require.NoError(t, err)
		require.Len(t, got.Events, 1, "stored exactly once")
	}
	require.NoError(t, svc.Verify(ctx))
}

// A pool with no free connection makes a call wait for one, bounded by the
// caller's context and by the statement timeout; nothing is written, and
// the store works again once a connection is free.
func TestPoolExhausted(t *testing.T) {
	schema := newSchema(t)
	cfg, err := pgxpool.ParseConfig(dsn(t))
	require.NoError(t, err)
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	store, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: schema, StatementTimeout: 600 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	svc := newService(t, store)
	k := key("u", "s")
	_, err = svc.Create(context.Background(), k, nil)
	require.NoError(t, err)

	var held []*pgxpool.Conn
	for range cfg.MaxConns {
		c, err := pool.Acquire(context.Background())
		require.NoError(t, err)
		held = append(held, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	_, err = svc.AppendEvent(ctx, &service.Session{AppName: "app", UserID: "u", ID: "s"}, &service.Event{ID: "e1"})
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline")
	_, err = svc.Get(context.Background(), key("u", "other"), service.GetOptions{})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the statement timeout, with no deadline of the caller's")
	for _, c := range held {
		c.Release()
	}
	got, err := svc.Get(context.Background(), k, service.GetOptions{})
	require.NoError(t, err)
	require.Empty(t, got.Events, "the append that found no connection stored nothing")
	_, err = svc.AppendEvent(context.Background(), got, &service.Event{ID: "e1"})
	require.NoError(t, err)
	require.NoError(t, svc.Verify(context.Background()))
}

// envRestart allows TestServerRestart to restart the machine's PostgreSQL
// server, which every other test of the server would feel: .ci/run sets it
// and runs that test on its own, after the others.
const envRestart = "SESSIONLOG_PG_RESTART"

// CONTRACT A1 A7 S2: PostgreSQL restarted in the middle of a load. Two
// replicas and four writers keep appending, retrying a failed append with
// the same event ID until it is acknowledged; a follower resumes from the
// last position it read whenever its subscription ends with an error.
// Afterwards every acknowledged append is stored exactly once, in the
// order acknowledged, the follower has read every record
// once and in order, and the replicas, never reopened, serve the same
// state, which Verify finds equal to a rebuild of the log.
func TestServerRestart(t *testing.T) {
	if os.Getenv(envRestart) == "" {
		t.Skip(envRestart + " is not set: skipping the test that restarts the PostgreSQL server (.ci/run sets it and runs the test on its own)")
	}
	versions, err := filepath.Glob("/etc/postgresql/*")
	require.NoError(t, err)
	require.NotEmpty(t, versions, "no PostgreSQL cluster under /etc/postgresql")
	schema := newSchema(t)
	replicas := []*service.Service{newService(t, open(t, schema)), newService(t, open(t, schema))}
	ctx := context.Background()

	const writers, perWriter = 4, 60
	for w := range writers {
		_, err := replicas[w%2].Create(ctx, key("u", fmt.Sprint("w", w)), nil)
		require.NoError(t, err)
	}
	// The follower, on the second replica, from the start of the app.
	followed := make(chan []*service.Record, 1)
	stop := make(chan struct{})
	go func() {
		var got []*service.Record
		var after service.Position
		defer func() { followed <- got }()
		for {
			sub, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-stop:
				case <-sub.Done():
				}
				cancel()
			}()
			for rec, err := range replicas[1].SubscribeApp(sub, "app", after) {
				if err != nil {
					break // the server is away: resume from after
				}
				got = append(got, rec)
				after = rec.Position
			}
			cancel()
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	acks := make([][]string, writers) // each writer's acknowledged event IDs
	var failures atomic.Int64         // calls that failed while the server was away
	var wg sync.WaitGroup
	restarted := make(chan error, 1)
	for w := range writers {
		wg.Go(func() {
			svc, k := replicas[w%2], key("u", fmt.Sprint("w", w))
			deadline := time.Now().Add(90 * time.Second)
			for i := range perWriter {
				if w == 0 && i == perWriter/3 {
					cmd := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", filepath.Base(versions[0]), "main", "restart")
					out, err := cmd.CombinedOutput()
					if err != nil {
						err = fmt.Errorf("%v: %s", err, out)
					}
					restarted <- err
				}
				ev := &service.Event{ID: fmt.Sprintf("w%d-%d", w, i), Actions: service.EventActions{StateDelta: map[string]any{"n": float64(i)}}}
				for {
					sess, err := svc.Get(ctx, k, service.GetOptions{NumRecentEvents: 1})
					if err == nil {
						var stored *service.Event
						if stored, err = svc.AppendEvent(ctx, sess, ev); err == nil {
							acks[w] = append(acks[w], stored.ID)
							break
						}
					}
					failures.Add(1)
					if time.Now().After(deadline) {
						t.Errorf("writer %d: append %d not acknowledged within 90 s: %v", w, i, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, <-restarted, "restart the server")
	require.Positive(t, failures.Load(), "the restart failed some calls, which were retried")

	// The follower catches up with everything, then stops.
	want := writers * (1 + perWriter) // the creations and the events
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs, _, err := open(t, schema).Read(ctx, eventlog.Scope{AppName: "app"}, 0, 10_000)
		require.NoError(t, err)
		if len(recs) == want || time.Now().After(deadline) {
			require.Len(t, recs, want, "the log holds each creation and each acknowledged append once")
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the follower's poll
	close(stop)
	got := <-followed
	require.Len(t, got, want, "the follower read every record once")
	for i := 1; i < len(got); i++ {
		require.Greater(t, got[i].Position, got[i-1].Position, "in order, with no repeat")
	}
	for w := range writers {
		k := key("u", fmt.Sprint("w", w))
		require.Len(t, acks[w], perWriter)
		views := make([]*service.Session, len(replicas))
		for r, svc := range replicas {
			views[r], err = svc.Get(ctx, k, service.GetOptions{})
			require.NoError(t, err)
		}
		require.Len(t, views[0].Events, perWriter, "writer %d's appends, each once", w)
		for i, ev := range views[0].Events {
			assert.Equal(t, acks[w][i], ev.ID)
			assert.Equal(t, ev.ID, views[1].Events[i].ID, "both replicas serve the same events")
		}
		assert.Equal(t, views[0].State, views[1].State)
	}
	for _, svc := range replicas {
		require.NoError(t, svc.Verify(ctx))
	}
}

// CONTRACT S3: a read of an app or a user waits for the horizon's step (a
// statement that reads the log) only as long as its context lets it, as
// every call does. Here the step hangs on a lock an operator holds on the
// log's table: each read ends at its own deadline, not at the statement
// timeout, though the second one comes while the first one's step still
// runs; once the lock is gone, reads work again, and Close ends no later
// than the steps it waits for (goleak checks that none is left).
func TestReadOfAnAppEndsWithItsContext(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema, func(o *pgstore.Options) { o.StatementTimeout = 10 * time.Second })
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)

	conn := pgxConn(t)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{schema}.Sanitize()+".records IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	for _, scope := range []eventlog.Scope{{AppName: "app"}, {AppName: "app", UserID: "u"}} {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		start := time.Now()
		_, _, err := store.Read(short, scope, 0, 10)
		took := time.Since(start)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "%v", scope)
		assert.Less(t, took, 3*time.Second, "%v: the read ends with its context", scope)
	}
	require.NoError(t, tx.Rollback(ctx))
	recs, _, err := store.Read(ctx, eventlog.Scope{AppName: "app"}, 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.NoError(t, store.Close())
	_, _, err = store.Read(ctx, eventlog.Scope{AppName: "app"}, 0, 10)
	require.ErrorIs(t, err, eventlog.ErrClosed)
}
