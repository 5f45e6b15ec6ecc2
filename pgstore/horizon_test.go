package pgstore_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
)

// CONTRACT S2 Z1: appends take positions without a store-wide lock, so a
// later position can commit before an earlier one. Here one replica's
// append takes its position and holds its transaction open; another
// replica's append to another session takes the next position and
// commits. The later record is stored and readable in its session, but an
// app follower does not pass the earlier position while its transaction
// is open; once it commits, the follower delivers both, in position
// order, with no gap and no repeat.
func TestFollowerWaitsForAnEarlierPositionThatCommitsLater(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	held, other, reader := open(t, schema), open(t, schema), open(t, schema)
	a := eventlog.SessionKey{AppName: "app", UserID: "u1", SessionID: "a"}
	b := eventlog.SessionKey{AppName: "app", UserID: "u2", SessionID: "b"}
	for _, k := range []eventlog.SessionKey{a, b} {
		_, err := other.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
		require.NoError(t, err)
	}
	start, through, err := reader.Read(ctx, eventlog.Scope{AppName: "app"}, 0, 10)
	require.NoError(t, err)
	require.Len(t, start, 2)

	holding, release := make(chan struct{}), make(chan struct{})
	pgstore.BeforeCommit(held, func(pgx.Tx) {
		close(holding)
		<-release
	})
	var wg sync.WaitGroup
	var first eventlog.AppendResult
	wg.Go(func() {
		var err error
		first, err = held.Append(ctx, eventRecord(a, 1, "earlier"))
		assert.NoError(t, err)
	})
	<-holding // the earlier position is taken, its transaction open
	second, err := other.Append(ctx, eventRecord(b, 1, "later"))
	require.NoError(t, err)

	// The later record has committed: its session shows it at once.
	v, err := reader.Load(ctx, b, eventlog.LoadOptions{})
	require.NoError(t, err)
	require.Len(t, v.Events, 1)

	// An app follower, and a user follower of its user, do not pass the
	// open position.
	follower, stop := follow(ctx, reader, eventlog.Scope{AppName: "app"}, through)
	defer stop()
	for _, scope := range []eventlog.Scope{{AppName: "app"}, {AppName: "app", UserID: "u2"}} {
		recs, upTo, err := reader.Read(ctx, scope, through, 10)
		require.NoError(t, err)
		assert.Empty(t, recs, "%v: nothing is read past a position whose record may still commit", scope)
		assert.Less(t, upTo, second.Record.Position, "%v: the read stops before the later record", scope)
	}
	select {
	case rec := <-follower:
		t.Fatalf("the follower delivered position %d while an earlier one was open", rec.Position)
	case <-time.After(300 * time.Millisecond):
	}

	close(release)
	wg.Wait()
	require.Less(t, first.Record.Position, second.Record.Position, "the held append took the earlier position")
	var got []eventlog.Position
	for len(got) < 2 {
		select {
		case rec := <-follower:
			got = append(got, rec.Position)
		case <-time.After(10 * time.Second):
			t.Fatalf("the follower delivered %v and then nothing", got)
		}
	}
	assert.Equal(t, []eventlog.Position{first.Record.Position, second.Record.Position}, got, "both, in position order")
	select {
	case rec := <-follower:
		t.Fatalf("the follower delivered position %d again or out of nowhere", rec.Position)
	case <-time.After(200 * time.Millisecond):
	}
}

// A transaction that rolls back leaves its positions unused: the app
// follower passes them once it has ended, without waiting for anything
// else, and delivers what follows.
func TestFollowerPassesPositionsOfARollback(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	store, reader := open(t, schema), open(t, schema)
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	follower, stop := follow(ctx, reader, eventlog.Scope{AppName: "app"}, 0)
	defer stop()
	require.Equal(t, eventlog.KindSessionCreated, (<-follower).Kind)

	// A transaction of the store's takes positions, then rolls back.
	conn := pgxConn(t)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	var taken int64
	require.NoError(t, tx.QueryRow(ctx, "SELECT "+pgx.Identifier{schema}.Sanitize()+".take_position()").Scan(&taken))
	require.NoError(t, tx.Rollback(ctx))

	res, err := store.Append(ctx, eventRecord(k, 1, "after"))
	require.NoError(t, err)
	require.Greater(t, res.Record.Position, eventlog.Position(taken))
	select {
	case rec := <-follower:
		assert.Equal(t, res.Record.Position, rec.Position)
	case <-time.After(10 * time.Second):
		t.Fatal("the follower stopped at the unused position")
	}
}

// CONTRACT S1: a follower whose read stopped short of the horizon (a
// holder of an earlier position still ran) is woken again when another
// read's step moves the horizon past what it returned, though nothing
// else will wake it: the holder rolls back, which announces nothing, and
// the later record's announcement came before the follower's read. Here
// the follower's read is held right after its step, while another read
// settles the horizon; with a poll an hour long, only the store's own
// nudge delivers the record.
func TestFollowerWokenWhenAnotherReadMovesTheHorizon(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	writer := open(t, schema)
	reader := open(t, schema, func(o *pgstore.Options) { o.PollInterval = time.Hour })
	pgstore.SetAnnounceCheck(reader, time.Millisecond)
	a := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "a"}
	b := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "b"}
	var created eventlog.Position
	for _, k := range []eventlog.SessionKey{a, b} {
		res, err := writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
		require.NoError(t, err)
		created = res.Record.Position
	}
	reader.Changes(eventlog.Scope{AppName: "app"}) // the listener starts
	time.Sleep(100 * time.Millisecond)             // and its first wake-ups pass

	// A holder takes the next position and stays open; the record after
	// it commits.
	conn := pgxConn(t)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	var held int64
	require.NoError(t, tx.QueryRow(ctx, "SELECT "+pgx.Identifier{schema}.Sanitize()+".take_position()").Scan(&held))
	later, err := writer.Append(ctx, eventRecord(b, 1, "later"))
	require.NoError(t, err)
	require.Greater(t, later.Record.Position, eventlog.Position(held))
	time.Sleep(100 * time.Millisecond) // its announcement has come and gone

	paused, resume := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	pgstore.AfterFresh(reader, func() {
		if first.CompareAndSwap(false, true) { // the follower's first read
			close(paused)
			<-resume
		}
	})
	follower, stop := follow(ctx, reader, eventlog.Scope{AppName: "app"}, created)
	defer stop()
	<-paused // the follower's read has its horizon: before the held position
	require.NoError(t, tx.Rollback(ctx))
	recs, _, err := reader.Read(ctx, eventlog.Scope{AppName: "app"}, created, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1, "another read's step passes the rolled-back position")
	close(resume)

	select {
	case rec := <-follower:
		assert.Equal(t, later.Record.Position, rec.Position)
	case <-time.After(5 * time.Second):
		t.Fatal("the follower was not woken for the record past the horizon its read saw")
	}
}

// follow runs eventlog.Follow in a goroutine of the test's, sending each
// record on the channel, until stop is called.
func follow(ctx context.Context, store eventlog.Store, scope eventlog.Scope, after eventlog.Position) (<-chan *eventlog.Record, func()) {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan *eventlog.Record, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		for rec, err := range eventlog.Follow(ctx, store, scope, after) {
			if err != nil {
				return
			}
			select {
			case out <- rec:
			case <-ctx.Done():
				return
			}
		}
	})
	return out, func() { cancel(); wg.Wait() }
}

// CONTRACT S2: another replica's appends wake a subscriber through their
// announcement, sent after they commit, long before its poll would.
func TestAnotherReplicasAppendsWakeASubscriber(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	slow := func(o *pgstore.Options) { o.PollInterval = time.Hour }
	writer, reader := open(t, schema, slow), open(t, schema, slow)
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	follower, stop := follow(ctx, reader, eventlog.Scope{AppName: "app"}, 0)
	defer stop()
	// The reader's listener listens (it wakes its readers once as it
	// starts); the writer, which nobody follows, has none.
	conn := pgxConn(t)
	waitFor(t, "the listener", func() bool {
		var n int
		err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query = $1",
			"LISTEN "+pgx.Identifier{pgstore.Channel(reader)}.Sanitize()).Scan(&n)
		return err == nil && n == 1
	})
	time.Sleep(50 * time.Millisecond) // the follower is back waiting
	res, err := writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	select {
	case rec := <-follower:
		assert.Equal(t, res.Record.Position, rec.Position)
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber was not woken by the other replica's append")
	}
}

// An announcer sends nothing while no replica listens on the schema's
// channel: a connection that LISTENs without being a store's listener
// hears no notification. Once a store's listener listens, announcements
// flow again (S2).
func TestNoAnnouncementsWhileNobodyListens(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	slow := func(o *pgstore.Options) { o.PollInterval = time.Hour }
	writer, reader := open(t, schema, slow), open(t, schema, slow)
	probe := pgxConn(t)
	_, err := probe.Exec(ctx, "LISTEN "+pgx.Identifier{pgstore.Channel(writer)}.Sanitize())
	require.NoError(t, err)
	heard := func(within time.Duration) bool {
		wctx, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		_, err := probe.WaitForNotification(wctx)
		return err == nil
	}

	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err = writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	for i := range 5 {
		_, err := writer.Append(ctx, eventRecord(k, uint64(i+1), fmt.Sprint("quiet", i)))
		require.NoError(t, err)
		time.Sleep(30 * time.Millisecond) // past announceCheck over the loop
	}
	assert.False(t, heard(300*time.Millisecond), "an append was announced while nobody listened")

	listenerPID(t, pgxConn(t), reader, 0) // its listener starts and listens
	time.Sleep(250 * time.Millisecond)    // the writer's last look at listeners is stale
	_, err = writer.Append(ctx, eventRecord(k, 6, "heard"))
	require.NoError(t, err)
	assert.True(t, heard(10*time.Second), "an append was not announced to a listening replica")
}

// An append whose announcement is dropped because its announcer had not
// yet seen a new listener still reaches that listener's followers, long
// before their poll: the listener wakes its readers again once every
// announcer has looked since it began to listen (S2).
func TestAListenerCatchesWhatAnnouncersSkippedBeforeSeeingIt(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	slow := func(o *pgstore.Options) { o.PollInterval = time.Hour }
	writer, reader := open(t, schema, slow), open(t, schema, slow)
	// The writer's announcer looks once, at the first append, and finds
	// nobody; the reader's listener counts on a look every second, so it
	// wakes its readers again 2 s after it listens, time enough for the
	// append below on a loaded machine.
	pgstore.SetAnnounceCheck(writer, time.Hour)
	pgstore.SetAnnounceCheck(reader, time.Second)
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	created, err := writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	follower, stop := follow(ctx, reader, eventlog.Scope{AppName: "app"}, created.Record.Position)
	defer stop()
	listenerPID(t, pgxConn(t), reader, 0)
	res, err := writer.Append(ctx, eventRecord(k, 1, "early"))
	require.NoError(t, err)
	select {
	case rec := <-follower:
		assert.Equal(t, res.Record.Position, rec.Position)
	case <-time.After(10 * time.Second):
		t.Fatal("the follower missed an append announced before its listener was seen")
	}
}

// CONTRACT S2: a read of an app whose second range (past what the replica
// knew had settled) meets a deletion that committed after its first range
// fails with ErrCompacted as of the read's own start, since the records of
// the first range are not returned either.
func TestReadCompactedBetweenItsRangesSaysWhereItStarted(t *testing.T) {
	schema := newSchema(t)
	ctx := t.Context()
	writer, reader := open(t, schema), open(t, schema)
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	created, err := writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	_, err = writer.Append(ctx, eventRecord(k, 1, "e1"))
	require.NoError(t, err)
	scope := eventlog.Scope{AppName: "app"}
	recs, _, err := reader.Read(ctx, scope, 0, 10) // the reader knows both have settled
	require.NoError(t, err)
	require.Len(t, recs, 2)
	_, err = writer.Append(ctx, eventRecord(k, 2, "e2"))
	require.NoError(t, err)

	var once atomic.Bool
	pgstore.AfterFresh(reader, func() { // between the read's two ranges
		if once.CompareAndSwap(false, true) {
			_, err := writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()})
			assert.NoError(t, err)
		}
	})
	after := created.Record.Position
	_, _, err = reader.Read(ctx, scope, after, 10)
	var compacted *eventlog.CompactedError
	require.ErrorAs(t, err, &compacted)
	assert.Equal(t, after, compacted.After, "the read started after %d", after)
}

// A follower of an app waits out another replica's append that is slow to
// commit, also when the statement timeout is shorter than the wait: the
// horizon's step waits for the commit at most a quarter of the timeout,
// and gives what is settled, so that a read waiting for it and for the
// step before it ends within the timeout, without the deadline's error.
func TestFollowerOutlastsAStatementTimeoutWhileAnotherReplicaCommits(t *testing.T) {
	schema := newSchema(t)
	a := open(t, schema, func(o *pgstore.Options) { o.StatementTimeout = 100 * time.Millisecond })
	b := open(t, schema)
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err := b.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)

	holding, release := make(chan struct{}), make(chan struct{})
	pgstore.BeforeCommit(b, func(pgx.Tx) { close(holding); <-release })
	appended := make(chan error, 1)
	go func() {
		ev := &eventlog.Event{ID: "slow", Timestamp: time.Now()}
		_, err := b.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: ev.Timestamp, Event: ev})
		appended <- err
	}()
	<-holding
	followCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []eventlog.Position
	followed := make(chan error, 1)
	go func() {
		for rec, err := range eventlog.Follow(followCtx, a, eventlog.Scope{AppName: k.AppName}, 0) {
			if err != nil {
				followed <- err
				return
			}
			if got = append(got, rec.Position); len(got) == 2 {
				break
			}
		}
		followed <- nil
	}()
	time.Sleep(600 * time.Millisecond) // six statement timeouts
	close(release)
	require.NoError(t, <-appended)
	require.NoError(t, <-followed, "the follower ended while another replica's append was slow to commit")
	require.Len(t, got, 2)
	require.Less(t, got[0], got[1])
}
