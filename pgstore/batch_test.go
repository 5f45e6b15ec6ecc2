package pgstore_test

import (
	"context"
	"fmt"
	"strings"
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

// holdSessions takes the row locks of the sessions named, or of every
// session when none is, in a transaction of its own, so that every append
// to those sessions waits, until release is called.
func holdSessions(t *testing.T, schema string, keys ...eventlog.SessionKey) (release func()) {
	t.Helper()
	conn := pgxConn(t)
	tx, err := conn.Begin(t.Context())
	require.NoError(t, err)
	sessions := pgx.Identifier{schema}.Sanitize() + ".sessions"
	if len(keys) == 0 {
		_, err = tx.Exec(t.Context(), "SELECT 1 FROM "+sessions+" FOR UPDATE")
		require.NoError(t, err)
	}
	for _, k := range keys {
		_, err = tx.Exec(t.Context(), "SELECT 1 FROM "+sessions+" WHERE app = $1 AND user_id = $2 AND session_id = $3 FOR UPDATE",
			[]byte(k.AppName), []byte(k.UserID), []byte(k.SessionID))
		require.NoError(t, err)
	}
	var once sync.Once
	release = func() { once.Do(func() { require.NoError(t, tx.Rollback(context.Background())) }) }
	t.Cleanup(release)
	return release
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "timed out waiting for %s", what)
		time.Sleep(5 * time.Millisecond)
	}
}

// lockWaiter waits until a batch of schema's waits for a session's lock, and
// returns its backend's process ID.
func lockWaiter(t *testing.T, schema string) int32 {
	t.Helper()
	conn := pgxConn(t)
	var pid int32
	waitFor(t, "a batch to wait for the lock", func() bool {
		err := conn.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity
WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '.append_event%' LIMIT 1`, pgx.Identifier{schema}.Sanitize()).Scan(&pid)
		return err == nil
	})
	return pid
}

func eventRecord(k eventlog.SessionKey, seq uint64, id string) *eventlog.Record {
	return &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Time: time.Now(), Event: &eventlog.Event{ID: id}}
}

// asOneBatch appends recs to store as one batch: lead's append leads a
// batch that waits for the sessions' locks, held here until recs are
// queued behind it, so that they go together in the next batch. It
// returns recs' outcomes.
func asOneBatch(t *testing.T, store *pgstore.Store, schema string, lead *eventlog.Record, recs ...*eventlog.Record) ([]eventlog.AppendResult, []error) {
	t.Helper()
	ctx := t.Context()
	release := holdSessions(t, schema)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := store.Append(ctx, lead)
		assert.NoError(t, err, "the leader's append")
	})
	lockWaiter(t, schema)
	results, errs := make([]eventlog.AppendResult, len(recs)), make([]error, len(recs))
	for i, rec := range recs {
		wg.Go(func() { results[i], errs[i] = store.Append(ctx, rec) })
	}
	waitFor(t, "the appends to queue", func() bool { return pgstore.Queued(store) == len(recs) })
	release()
	wg.Wait()
	return results, errs
}

// createSessions creates sessions s0, s1, ... of user u in app, n of them,
// and returns their keys.
func createSessions(t *testing.T, store *pgstore.Store, n int) []eventlog.SessionKey {
	t.Helper()
	keys := make([]eventlog.SessionKey, n)
	for i := range keys {
		keys[i] = eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprintf("s%d", i)}
		_, err := store.Append(t.Context(), &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: keys[i], Time: time.Now()})
		require.NoError(t, err)
	}
	return keys
}

// oneBatch opens a store with one batch of appends in flight at a time.
func oneBatch(o *pgstore.Options) { o.Batches = 1 }

// Appends that arrive while another batch is in flight travel together in
// the next one, and each still gets its own outcome; a second append to a
// session waits for the batch after that, and is checked against the
// first.
func TestAppendsWaitingTogetherShareABatch(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema, oneBatch)
	ctx := t.Context()
	const n = 6
	keys := createSessions(t, store, n+1)
	release := holdSessions(t, schema)
	var wg sync.WaitGroup
	wg.Go(func() { // the leader: its batch waits for the lock
		_, err := store.Append(ctx, eventRecord(keys[n], 1, "lead"))
		assert.NoError(t, err)
	})
	lockWaiter(t, schema)
	errs := make([]error, n)
	for i := range n {
		seq := uint64(1)
		if i == n-1 {
			seq = 7 // stale: the session is at version 0
		}
		wg.Go(func() { _, errs[i] = store.Append(ctx, eventRecord(keys[i], seq, fmt.Sprintf("e%d", i))) })
	}
	waitFor(t, "the followers to queue", func() bool { return pgstore.Queued(store) == n })
	var second error
	wg.Go(func() { _, second = store.Append(ctx, eventRecord(keys[0], 2, "second")) })
	waitFor(t, "the second append to s0 to queue", func() bool { return pgstore.Queued(store) == n+1 })
	release()
	wg.Wait()
	for i, err := range errs[:n-1] {
		assert.NoError(t, err, "append %d", i)
	}
	assert.ErrorIs(t, errs[n-1], eventlog.ErrStaleSession)
	assert.NoError(t, second, "checked after s0's first append, it is not stale")
	batches, appends := pgstore.BatchStats(store)
	assert.Equal(t, uint64(3), batches, "the leader's batch, one for all that waited, one for s0's second append")
	assert.Equal(t, uint64(n+2), appends)
	view, err := store.Load(ctx, keys[0], eventlog.LoadOptions{})
	require.NoError(t, err)
	require.Len(t, view.Events, 2)
	assert.Equal(t, "second", view.Events[1].ID)
}

// CONTRACT A6 A7: in one batch, a retry of a stored event returns the
// stored record, whether it names the next sequence number (its insert
// meets the stored record) or the one it was stored at (it is stale); a
// stale append that is no retry is refused; an unknown session is not
// found. None of them changes the log or the state, and the appends beside
// them are stored. Each batch goes in one round trip: a batch that failed
// would be sent again append by append, which would hide its outcomes.
// The first batch holds a retry that is not stale and no stale append, so
// that each reason to look an append up is tested on its own.
func TestRetriesInABatchReturnTheStoredEvents(t *testing.T) {
	schema := newSchema(t)
	var mu sync.Mutex
	var trips []int
	store := open(t, schema, oneBatch, func(o *pgstore.Options) {
		o.Observer.OnCommit = func(_, roundTrips int, _ time.Duration) {
			mu.Lock()
			trips = append(trips, roundTrips)
			mu.Unlock()
		}
	})
	ctx := t.Context()
	keys := createSessions(t, store, 7)
	withDelta := func(rec *eventlog.Record, v string) *eventlog.Record {
		rec.Event.Actions.StateDelta = map[string]any{"k": v, "user:u": v}
		return rec
	}
	stored := make([]*eventlog.Record, 3)
	for i := range stored {
		res, err := store.Append(ctx, withDelta(eventRecord(keys[i], 1, fmt.Sprintf("stored%d", i)), "stored"))
		require.NoError(t, err)
		stored[i] = res.Record
	}
	missing := keys[0]
	missing.SessionID = "missing"

	retried := func(res eventlog.AppendResult, err error, i int) {
		t.Helper()
		require.NoError(t, err, "retry of stored%d", i)
		assert.True(t, res.Duplicate, "retry of stored%d", i)
		assert.Equal(t, stored[i].Position, res.Record.Position, "retry of stored%d", i)
		assert.Equal(t, uint64(1), res.Record.Seq, "retry of stored%d", i)
		assert.Equal(t, "stored", res.Record.Event.Actions.StateDelta["k"], "retry of stored%d: the stored event", i)
	}
	appended := func(res eventlog.AppendResult, err error, what string) {
		t.Helper()
		require.NoError(t, err, what)
		assert.False(t, res.Duplicate, what)
		assert.Equal(t, uint64(1), res.Record.Seq, what)
		assert.Greater(t, res.Record.Position, stored[2].Position, what)
	}

	results, errs := asOneBatch(t, store, schema, eventRecord(keys[5], 0, "lead"),
		withDelta(eventRecord(keys[0], 0, "stored0"), "retry"), // the next number: its insert meets the stored record
		withDelta(eventRecord(keys[3], 0, "new3"), "new"))
	retried(results[0], errs[0], 0)
	appended(results[1], errs[1], "new3")

	results, errs = asOneBatch(t, store, schema, eventRecord(keys[6], 0, "lead"),
		withDelta(eventRecord(keys[1], 1, "stored1"), "retry"), // the number it was stored at: stale, and a retry
		withDelta(eventRecord(keys[2], 7, "new2"), "stale"),
		withDelta(eventRecord(missing, 0, "new"), "missing"),
		withDelta(eventRecord(keys[4], 1, "new4"), "new"))
	retried(results[0], errs[0], 1)
	assert.ErrorIs(t, errs[1], eventlog.ErrStaleSession)
	assert.ErrorIs(t, errs[2], eventlog.ErrNotFound)
	appended(results[3], errs[3], "new4")

	batches, appends := pgstore.BatchStats(store)
	require.Equal(t, uint64(3+4), batches, "the three stored one by one, then a leader's batch and one for those behind it, twice")
	require.Equal(t, uint64(3+2+2+4), appends)
	mu.Lock()
	assert.Equal(t, []int{1, 1, 1, 1, 1, 1, 1}, trips, "every batch in one round trip")
	mu.Unlock()

	for i, k := range keys[:5] {
		view, err := store.Load(ctx, k, eventlog.LoadOptions{})
		require.NoError(t, err)
		require.Len(t, view.Events, 1, "session %d", i)
		assert.Equal(t, uint64(1), view.Version, "session %d", i)
		want := "stored"
		if i >= 3 {
			want = "new"
		}
		assert.Equal(t, want, view.State["k"], "session %d", i)
		assert.Equal(t, "new", view.State["user:u"], "session %d: the user's key, last written by the batches", i)
	}
	require.NoError(t, projection.Verify(ctx, store))
}

// Up to Options.Batches batches are in flight at once, each on a
// connection of its own; an append that finds them all busy waits for the
// first to finish and then leads the next.
func TestBatchesInFlightAtOnce(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema, func(o *pgstore.Options) { o.Batches = 2 })
	ctx := t.Context()
	keys := createSessions(t, store, 3)
	release := holdSessions(t, schema)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			_, err := store.Append(ctx, eventRecord(keys[i], 1, fmt.Sprintf("e%d", i)))
			assert.NoError(t, err)
		})
	}
	conn := pgxConn(t)
	waitFor(t, "two batches to wait for the lock", func() bool {
		var waiting int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%append_event%'`).Scan(&waiting))
		return waiting == 2
	})
	wg.Go(func() {
		_, err := store.Append(ctx, eventRecord(keys[2], 1, "e2"))
		assert.NoError(t, err)
	})
	waitFor(t, "the third append to queue", func() bool { return pgstore.Queued(store) == 1 })
	release()
	wg.Wait()
	batches, appends := pgstore.BatchStats(store)
	assert.Equal(t, uint64(3), batches)
	assert.Equal(t, uint64(3), appends)
}

// A follower whose context ends while it waits leaves the queue: its
// caller gets the context's error, and the append is never sent.
func TestAFollowerLeavesWhenItsContextEnds(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema, oneBatch)
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	release := holdSessions(t, schema)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := store.Append(ctx, eventRecord(k, 1, "lead"))
		assert.NoError(t, err)
	})
	lockWaiter(t, schema)
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = store.Append(short, eventRecord(k, 2, "gave up"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second, "it did not wait for the leader's batch")
	release()
	wg.Wait()
	view, err := store.Load(ctx, k, eventlog.LoadOptions{NoEvents: true})
	require.NoError(t, err)
	require.Equal(t, uint64(1), view.Version, "the abandoned append was never sent")
}

// A connection lost while a batch waits to commit loses the whole batch:
// none of its appends is stored, each caller gets the error, and their
// retries succeed.
func TestConnectionLostMidBatch(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema)
	svc := newService(t, store)
	ctx := t.Context()
	sessions := make([]*service.Session, 3)
	for i := range sessions {
		var err error
		sessions[i], err = svc.Create(ctx, key("u", fmt.Sprintf("s%d", i)), nil)
		require.NoError(t, err)
	}
	release := holdSessions(t, schema)
	var wg sync.WaitGroup
	errs := make([]error, len(sessions))
	for i, sess := range sessions {
		wg.Go(func() {
			_, errs[i] = svc.AppendEvent(ctx, sess, &service.Event{ID: fmt.Sprintf("e%d", i), Actions: service.EventActions{
				StateDelta: map[string]any{"app:last": float64(i)}}})
		})
	}
	// Cut off the backend whose batch waits for the lock.
	pid := lockWaiter(t, schema)
	time.Sleep(50 * time.Millisecond) // let the other appends queue behind it
	_, err := pgxConn(t).Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	release()
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
			assert.NotErrorIs(t, err, service.ErrStaleSession)
		}
	}
	require.Positive(t, failed, "the cut batch's appends fail")

	other := newService(t, open(t, schema))
	stored := 0
	for i, sess := range sessions {
		got, err := other.Get(ctx, sess.Key(), service.GetOptions{})
		require.NoError(t, err)
		if errs[i] != nil {
			assert.Empty(t, got.Events, "a failed append stored nothing")
		}
		stored += len(got.Events)
		_, err = svc.AppendEvent(ctx, sess, &service.Event{ID: fmt.Sprintf("e%d", i)})
		require.NoError(t, err, "the retry of append %d succeeds", i)
	}
	assert.Equal(t, len(sessions)-failed, stored)
	require.NoError(t, other.Verify(ctx))
}

// CONTRACT B1: keys too long for the database's indexes are refused as
// invalid arguments before anything is sent, and the appends beside them
// do not suffer.
func TestKeysTooLongForTheIndexes(t *testing.T) {
	store := open(t, newSchema(t))
	svc := newService(t, store)
	ctx := t.Context()
	sess, err := svc.Create(ctx, key("u", "s"), nil)
	require.NoError(t, err)
	long := strings.Repeat("x", pgstore.MaxKeyBytes)
	_, err = svc.AppendEvent(ctx, sess, &service.Event{ID: long})
	require.ErrorIs(t, err, service.ErrInvalidArgument)
	_, err = svc.AppendEvent(ctx, sess, delta(map[string]any{"app:" + long: 1.0}))
	require.ErrorIs(t, err, service.ErrInvalidArgument)
	_, err = svc.Create(ctx, key("u", long), nil)
	require.ErrorIs(t, err, service.ErrInvalidArgument)
	_, err = svc.AppendEvent(ctx, sess, &service.Event{ID: "fine"})
	require.NoError(t, err)
}

// A schema name as long as PostgreSQL allows still gets a notification
// channel that works.
func TestLongSchemaName(t *testing.T) {
	dsn(t)
	name := "sessionlog_test_long_" + strings.Repeat("n", 42) // 63 bytes
	require.Len(t, name, 63)
	t.Cleanup(func() {
		_, err := pgxConn(t).Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		assert.NoError(t, err)
	})
	svc := newService(t, open(t, name))
	sess, err := svc.Create(t.Context(), key("u", "s"), nil)
	require.NoError(t, err)
	_, err = svc.AppendEvent(t.Context(), sess, &service.Event{})
	require.NoError(t, err)
}

// An append whose caller's context ends while its batch is on its way is
// stored all the same (its caller gets the context's error, and a retry
// with the same event ID finds the event, CONTRACT A7), and the store's
// readers hear of it at once, as of any other append (S1): with a poll
// an hour long, only that wake-up delivers it to a subscriber of its app.
// So they do when the append comes back a duplicate of one stored
// unannounced, and when a retry finds it.
func TestAppendLeftOnItsWayWakesReaders(t *testing.T) {
	t.Run("new", func(t *testing.T) { testAppendLeftOnItsWay(t, false) })
	t.Run("stored already, unannounced", func(t *testing.T) { testAppendLeftOnItsWay(t, true) })
}

// testAppendLeftOnItsWay is TestAppendLeftOnItsWayWakesReaders; with
// storedAlready, another replica that announces nothing has stored the
// append before (as a try whose commit its caller never heard of would),
// and the append left on its way comes back a duplicate.
func testAppendLeftOnItsWay(t *testing.T, storedAlready bool) {
	schema := newSchema(t)
	store := open(t, schema, oneBatch, func(o *pgstore.Options) { o.PollInterval = time.Hour })
	pgstore.SetAnnounceCheck(store, time.Millisecond)
	ctx := t.Context()
	a := eventlog.SessionKey{AppName: "other", UserID: "u", SessionID: "a"}
	c := eventlog.SessionKey{AppName: "other", UserID: "u", SessionID: "c"}
	b := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "b"}
	for _, k := range []eventlog.SessionKey{a, c, b} {
		_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
		require.NoError(t, err)
	}
	subscribed, stop := follow(ctx, store, eventlog.Scope{AppName: "app"}, 3)
	defer stop()
	time.Sleep(100 * time.Millisecond) // past the listener's wake-ups as it starts
	if storedAlready {
		silent := open(t, schema)
		pgstore.SilenceNotifications(silent)
		_, err := silent.Append(ctx, eventRecord(b, 1, "b1"))
		require.NoError(t, err)
	}

	releaseA, releaseB := holdSessions(t, schema, a), holdSessions(t, schema, b)
	var wg sync.WaitGroup
	wg.Go(func() { // leads a batch that waits for a's lock
		_, err := store.Append(ctx, eventRecord(a, 1, "a1"))
		assert.NoError(t, err)
	})
	lockWaiter(t, schema)
	wg.Go(func() { // queued first: leads the next batch
		_, err := store.Append(ctx, eventRecord(c, 1, "c1"))
		assert.NoError(t, err)
	})
	waitFor(t, "c1 to queue", func() bool { return pgstore.Queued(store) == 1 })
	leaving, leave := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() {
		_, err := store.Append(leaving, eventRecord(b, 1, "b1"))
		left <- err
	}()
	waitFor(t, "b1 to queue", func() bool { return pgstore.Queued(store) == 2 })
	releaseA() // c1 leads c1 and b1, which wait for b's lock
	waitFor(t, "c1 and b1 to be sent", func() bool { return pgstore.Queued(store) == 0 })
	lockWaiter(t, schema)
	leave()
	require.ErrorIs(t, <-left, context.Canceled)
	releaseB()
	wg.Wait()

	select {
	case rec := <-subscribed:
		assert.Equal(t, "b1", rec.Event.ID)
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber of b1's app was not woken for it")
	}
	// The retry of b1 finds it stored, and wakes the app's readers as well:
	// a duplicate may be an append whose first try was never heard of.
	time.Sleep(50 * time.Millisecond) // the announcement of b1 has come back
	woken := store.Changes(eventlog.Scope{AppName: "app"})
	res, err := store.Append(ctx, eventRecord(b, 1, "b1"))
	require.NoError(t, err)
	assert.True(t, res.Duplicate, "b1 was stored")
	select {
	case <-woken:
	default:
		t.Error("a duplicate does not wake the readers of its app")
	}
}
