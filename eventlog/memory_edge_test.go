package eventlog_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT Z1 S3: closing the store while a watched session is being
// deleted ends the watcher once, without closing its channel twice.
func TestMemoryCloseWhileDeletingAWatchedSession(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		store := eventlog.NewMemory()
		k := memKey("app", "u", fmt.Sprint("s", round))
		memAppend(t, store, memCreated(k, nil))
		for i := range 2000 {
			memAppend(t, store, memAppended(k, uint64(i+1), fmt.Sprint("e", i), map[string]any{"app:a": i}))
		}
		watching := store.Changes(eventlog.SessionScope(k, 0))
		deleted := make(chan error, 1)
		go func() {
			_, err := store.Append(ctx, memDeleted(k))
			deleted <- err
		}()
		require.NotPanics(t, func() { require.NoError(t, store.Close()) })
		if err := <-deleted; err != nil {
			require.ErrorIs(t, err, eventlog.ErrClosed)
		}
		select {
		case <-watching:
		case <-time.After(10 * time.Second):
			t.Fatal("the watcher was not woken")
		}
	}
}

// CONTRACT S1 S2: a user's read reports how far it got, past other users'
// records, so a follower of a quiet user does not scan the same records
// again.
func TestMemoryUserReadGoesPastOtherUsers(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	quiet := memKey("app", "quiet", "s")
	busy := memKey("app", "busy", "s")
	q := memAppend(t, store, memCreated(quiet, nil))
	memAppend(t, store, memCreated(busy, nil))
	var last *eventlog.Record
	for i := range 10 {
		last = memAppend(t, store, memAppended(busy, uint64(i+1), fmt.Sprint("e", i), nil))
	}
	recs, through, err := store.Read(ctx, eventlog.Scope{AppName: "app", UserID: "quiet"}, 0, 100)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Same(t, q, recs[0])
	require.Equal(t, last.Position, through, "the read covered the busy user's records too")

	recs, through2, err := store.Read(ctx, eventlog.Scope{AppName: "app", UserID: "quiet"}, through, 100)
	require.NoError(t, err)
	require.Empty(t, recs)
	require.Equal(t, through, through2)

	t.Run("a read that stops at its limit goes no further than its last record", func(t *testing.T) {
		recs, through, err := store.Read(ctx, eventlog.Scope{AppName: "app"}, 0, 3)
		require.NoError(t, err)
		require.Len(t, recs, 3)
		require.Equal(t, recs[2].Position, through)
	})
	t.Run("a read of an app that does not exist goes up to the last position", func(t *testing.T) {
		recs, through, err := store.Read(ctx, eventlog.Scope{AppName: "nope"}, 0, 3)
		require.NoError(t, err)
		require.Empty(t, recs)
		require.Equal(t, last.Position, through)
	})
}

// CONTRACT R2: a whole-store read over many apps is a merge by position,
// and each page's through lets the next page go on without repeats.
func TestMemoryWholeStoreReadOverManyApps(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	const apps, per = 50, 20
	for i := range per {
		for a := range apps {
			memAppend(t, store, memCreated(memKey(fmt.Sprint("app", a), "u", fmt.Sprint("s", i)), nil))
		}
	}
	var all []*eventlog.Record
	var after eventlog.Position
	for {
		recs, through, err := store.Read(ctx, eventlog.Scope{}, after, 7)
		require.NoError(t, err)
		all = append(all, recs...)
		if len(recs) < 7 {
			break
		}
		require.Equal(t, recs[len(recs)-1].Position, through)
		after = through
	}
	require.Len(t, all, apps*per)
	for i, rec := range all {
		require.Equal(t, eventlog.Position(i+1), rec.Position)
	}
}

// CONTRACT S2 S3: watching an app that does not exist does not create it,
// and the watch wakes when it is created.
func TestMemoryWatchingAMissingApp(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	ch := store.Changes(eventlog.Scope{AppName: "later"})
	recs, _, err := store.Read(ctx, eventlog.Scope{}, 0, 10)
	require.NoError(t, err)
	require.Empty(t, recs)
	select {
	case <-ch:
		t.Fatal("woken before any app exists")
	default:
	}
	memAppend(t, store, memCreated(memKey("later", "u", "s"), nil))
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("not woken when the app was created")
	}

	t.Run("following a missing app delivers its first records once it exists", func(t *testing.T) {
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		got := make(chan *eventlog.Record)
		go func() {
			defer close(got)
			for rec, err := range eventlog.Follow(fctx, store, eventlog.Scope{AppName: "other"}, 0) {
				if err != nil {
					return
				}
				got <- rec
			}
		}()
		rec := memAppend(t, store, memCreated(memKey("other", "u", "s"), nil))
		select {
		case r := <-got:
			require.Same(t, rec, r)
		case <-time.After(10 * time.Second):
			t.Fatal("the follower did not see the new app's record")
		}
		cancel()
		for range got {
		}
	})
}

// CONTRACT B1: a huge limit is a limit, not an overflow.
func TestMemoryReadWithTheLargestLimit(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	k := memKey("app", "u", "s")
	memAppend(t, store, memCreated(k, nil))
	var recs []*eventlog.Record
	for i := range 3 {
		recs = append(recs, memAppend(t, store, memAppended(k, uint64(i+1), fmt.Sprint("e", i), nil)))
	}
	got, _, err := store.Read(ctx, eventlog.SessionScope(k, 0), recs[0].Position, math.MaxInt)
	require.NoError(t, err)
	require.Equal(t, recs[1:], got)
}

// CONTRACT B1: following the whole store is refused, not a silent hang.
func TestFollowRefusesAnEmptyScope(t *testing.T) {
	n := 0
	for rec, err := range eventlog.Follow(context.Background(), eventlog.NewMemory(), eventlog.Scope{}, 0) {
		n++
		require.Nil(t, rec)
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	}
	require.Equal(t, 1, n, "one error, then the end")
}
