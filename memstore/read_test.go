package memstore_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
)

// fixture fills a store with interleaved records of two apps, several
// users and sessions, one deleted session and a retained-state import
// record, and returns every record the store still holds in position
// order, and the last position the deletion freed.
func fixture(t *testing.T) (*memstore.Store, []*eventlog.Record, eventlog.Position) {
	t.Helper()
	store := memstore.New()
	seq := map[eventlog.SessionKey]uint64{}
	keys := []eventlog.SessionKey{
		key("a1", "u1", "s1"), key("a2", "u1", "s1"), key("a1", "u2", "s1"),
		key("a1", "u1", "s2"), key("a2", "u2", "s9"), key("a1", "u1:x", "s1"),
	}
	for _, k := range keys {
		mustAppend(t, store, created(k, map[string]any{"n": k.String()}))
	}
	for round := range 5 {
		for i, k := range keys {
			if (round+i)%3 == 0 {
				continue
			}
			seq[k]++
			mustAppend(t, store, appended(k, seq[k], fmt.Sprintf("e%d-%d", round, i), map[string]any{"r": round}))
		}
	}
	mustAppend(t, store, retained(key("a2", "u1", "old"), map[string]any{"app:z": 1}))
	gone := key("a1", "u2", "gone")
	mustAppend(t, store, created(gone, nil))
	freed := mustAppend(t, store, appended(gone, 1, "g1", nil)).Position
	mustAppend(t, store, appended(keys[0], seq[keys[0]]+1, "last", nil))
	mustAppend(t, store, deleted(gone))
	all := readAll(t, store, eventlog.Scope{})
	require.NotEmpty(t, all)
	return store, all, freed
}

// CONTRACT S1 S2 K2: Read selects a session, a user, an app or the whole
// store, after a position, at most limit records, in position order; an
// app or user read behind a deletion's freed records gives ErrCompacted.
func TestRead(t *testing.T) {
	ctx := context.Background()
	store, all, freed := fixture(t)
	require.True(t, slices.IsSortedFunc(all, byPosition))
	require.Equal(t, all[len(all)-1].Position, eventlog.Position(len(all)+2), "the deleted session's two records are freed")

	// expect computes what a read should return from the whole log.
	expect := func(scope eventlog.Scope, after eventlog.Position, limit int) []*eventlog.Record {
		var out []*eventlog.Record
		for _, rec := range all {
			if rec.Position <= after || !scope.Contains(rec) {
				continue
			}
			if scope.IsSession() && rec.Kind != eventlog.KindEventAppended {
				continue
			}
			if len(out) == limit {
				break
			}
			out = append(out, rec)
		}
		return out
	}
	scopes := []struct {
		name  string
		scope eventlog.Scope
		// served is where the scope is served without a gap.
		served eventlog.Position
	}{
		{"the whole store", eventlog.Scope{}, 0},
		{"app a1", eventlog.Scope{AppName: "a1"}, freed},
		{"app a2", eventlog.Scope{AppName: "a2"}, 0},
		{"user u1 of app a1", eventlog.Scope{AppName: "a1", UserID: "u1"}, 0},
		{"user u2 of app a1", eventlog.Scope{AppName: "a1", UserID: "u2"}, freed},
		{"user u1:x of app a1", eventlog.Scope{AppName: "a1", UserID: "u1:x"}, 0},
		{"user u2 of app a2", eventlog.Scope{AppName: "a2", UserID: "u2"}, 0},
		{"session a1/u1/s1", eventlog.SessionScope(key("a1", "u1", "s1"), 0), 0},
		{"session a2/u1/s1", eventlog.SessionScope(key("a2", "u1", "s1"), 0), 0},
		{"session a1/u1/s2", eventlog.SessionScope(key("a1", "u1", "s2"), 0), 0},
	}
	for _, sc := range scopes {
		full := expect(sc.scope, 0, len(all))
		require.NotEmpty(t, full, sc.name)
		afters := []eventlog.Position{0, 1, full[0].Position, full[len(full)/2].Position, full[len(full)-1].Position, freed - 1, freed, all[len(all)-1].Position + 10}
		for _, after := range afters {
			for _, limit := range []int{1, 2, 3, 7, len(all)} {
				t.Run(fmt.Sprintf("reading %s after %d with limit %d", sc.name, after, limit), func(t *testing.T) {
					got, through, err := store.Read(ctx, sc.scope, after, limit)
					if after < sc.served {
						require.ErrorIs(t, err, eventlog.ErrCompacted)
						ce, ok := errorsAs[*eventlog.CompactedError](err)
						require.True(t, ok)
						assert.Equal(t, eventlog.CompactedError{Scope: sc.scope, After: after, Served: sc.served}, *ce)
						assert.Nil(t, got)
						return
					}
					require.NoError(t, err)
					want := expect(sc.scope, after, limit)
					assert.Equal(t, positions(want), positions(got))
					for i := range want {
						assert.Same(t, want[i], got[i])
					}
					assert.GreaterOrEqual(t, through, after)
					if len(got) > 0 {
						assert.GreaterOrEqual(t, through, got[len(got)-1].Position)
					}
					if len(got) == limit {
						assert.Equal(t, got[len(got)-1].Position, through, "a read that stops at its limit goes no further than its last record")
					}
				})
			}
		}
	}

	t.Run("paging through the whole store in small reads gives the whole log", func(t *testing.T) {
		var got []*eventlog.Record
		var after eventlog.Position
		for {
			page, through, err := store.Read(ctx, eventlog.Scope{}, after, 4)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = through
		}
		assert.Equal(t, positions(all), positions(got))
	})
	t.Run("an app or user read sees every kind of record", func(t *testing.T) {
		kinds := map[eventlog.Kind]bool{}
		recs, _, err := store.Read(ctx, eventlog.Scope{AppName: "a1", UserID: "u2"}, freed, 100)
		require.NoError(t, err)
		for _, rec := range recs {
			kinds[rec.Kind] = true
		}
		assert.Equal(t, map[eventlog.Kind]bool{eventlog.KindSessionDeleted: true}, kinds)
		kinds = map[eventlog.Kind]bool{}
		for _, rec := range readAll(t, store, eventlog.Scope{AppName: "a2"}) {
			kinds[rec.Kind] = true
		}
		assert.Equal(t, map[eventlog.Kind]bool{eventlog.KindSessionCreated: true, eventlog.KindEventAppended: true, eventlog.KindStateRetained: true}, kinds)
	})
	t.Run("a limit that is not positive is rejected", func(t *testing.T) {
		for _, limit := range []int{0, -1} {
			_, _, err := store.Read(ctx, eventlog.Scope{AppName: "a1"}, 0, limit)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		}
	})
	t.Run("reading an unknown app or user returns nothing", func(t *testing.T) {
		for _, sc := range []eventlog.Scope{{AppName: "nope"}, {AppName: "a1", UserID: "nope"}, {AppName: "a1", UserID: "u1:"}} {
			got, _, err := store.Read(ctx, sc, freed, 10)
			require.NoError(t, err)
			assert.Empty(t, got)
		}
	})
	t.Run("reading a missing or deleted session gives ErrNotFound", func(t *testing.T) {
		for _, k := range []eventlog.SessionKey{key("nope", "u1", "s1"), key("a1", "u1", "nope"), key("a1", "u2", "gone"), key("a1", "u1:x", "s2")} {
			_, _, err := store.Read(ctx, eventlog.SessionScope(k, 0), 0, 10)
			require.ErrorIs(t, err, eventlog.ErrNotFound, k.String())
		}
	})
	t.Run("a huge limit is a limit, not an overflow", func(t *testing.T) {
		k := key("a1", "u1", "s1")
		recs := readAll(t, store, eventlog.SessionScope(k, 0))
		got, _, err := store.Read(ctx, eventlog.SessionScope(k, 0), recs[0].Position, math.MaxInt)
		require.NoError(t, err)
		require.Equal(t, recs[1:], got)
	})
	t.Run("appending to a session read does not change a later read", func(t *testing.T) {
		k := key("a1", "u1", "s2")
		recs := readAll(t, store, eventlog.SessionScope(k, 0))
		assert.Equal(t, len(recs), cap(recs))
		_ = append(recs, appended(k, 99, "intruder", nil))
		real := mustAppend(t, store, appended(k, uint64(len(recs)+1), "real", nil))
		again := readAll(t, store, eventlog.SessionScope(k, 0))
		require.Len(t, again, len(recs)+1)
		assert.Same(t, real, again[len(recs)])
	})
}

// CONTRACT S2: an app or user reader behind records a deletion freed gets
// ErrCompacted naming where the scope is served whole; reading on from
// there succeeds; a reader that was caught up, a reader of another user,
// a session reader and a whole-store reader are not affected.
func TestReadBehindADeletionGivesErrCompacted(t *testing.T) {
	ctx := context.Background()
	k := key("app", "u", "doomed")
	sibling := key("app", "u", "sibling")
	otherUser := key("app", "v", "s")
	store := memstore.New()
	first := mustAppend(t, store, created(sibling, nil))
	mustAppend(t, store, created(otherUser, nil))
	mustAppend(t, store, created(k, map[string]any{"app:a": 1}))
	mustAppend(t, store, appended(k, 1, "e1", nil))
	last := mustAppend(t, store, appended(k, 2, "e2", map[string]any{"user:b": 2}))
	caughtUp := mustAppend(t, store, appended(sibling, 1, "s1", nil))
	d := mustAppend(t, store, deleted(k))
	mustAppend(t, store, appended(otherUser, 1, "v1", nil))

	tests := []struct {
		name   string
		scope  eventlog.Scope
		after  eventlog.Position
		served eventlog.Position // 0: no error
	}{
		{"an app reader from the start is behind", eventlog.Scope{AppName: "app"}, 0, last.Position},
		{"an app reader just before the last freed record is behind", eventlog.Scope{AppName: "app"}, last.Position - 1, last.Position},
		{"an app reader at the last freed record is not behind", eventlog.Scope{AppName: "app"}, last.Position, 0},
		{"an app reader that was caught up is not behind", eventlog.Scope{AppName: "app"}, caughtUp.Position, 0},
		{"a reader of the deleted session's user is behind", eventlog.Scope{AppName: "app", UserID: "u"}, first.Position, last.Position},
		{"a reader of another user is not behind", eventlog.Scope{AppName: "app", UserID: "v"}, 0, 0},
		{"a whole-store reader is never behind", eventlog.Scope{}, 0, 0},
		{"a reader of another session is not behind", eventlog.SessionScope(sibling, 0), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// want is what a read after p serves.
			want := func(p eventlog.Position) []*eventlog.Record {
				var out []*eventlog.Record
				for _, rec := range readAll(t, store, eventlog.Scope{}) {
					if rec.Position > p && tt.scope.Contains(rec) && (!tt.scope.IsSession() || rec.Kind == eventlog.KindEventAppended) {
						out = append(out, rec)
					}
				}
				return out
			}
			recs, through, err := store.Read(ctx, tt.scope, tt.after, 100)
			if tt.served == 0 {
				require.NoError(t, err)
				assert.Equal(t, want(tt.after), recs)
				return
			}
			require.ErrorIs(t, err, eventlog.ErrCompacted)
			ce, ok := errorsAs[*eventlog.CompactedError](err)
			require.True(t, ok)
			assert.Equal(t, tt.scope, ce.Scope)
			assert.Equal(t, tt.after, ce.After)
			assert.Equal(t, tt.served, ce.Served)
			assert.Contains(t, err.Error(), strconv.FormatUint(uint64(tt.served), 10))
			assert.Equal(t, tt.after, through)

			recs, _, err = store.Read(ctx, tt.scope, ce.Served, 100)
			require.NoError(t, err, "reading on after Served succeeds")
			assert.Equal(t, want(ce.Served), recs)
			assert.Contains(t, recs, d, "the deletion itself is served")
		})
	}
	t.Run("a later deletion moves Served on", func(t *testing.T) {
		k2 := key("app", "u", "doomed2")
		mustAppend(t, store, created(k2, nil))
		e := mustAppend(t, store, appended(k2, 1, "e1", nil))
		mustAppend(t, store, deleted(k2))
		_, _, err := store.Read(ctx, eventlog.Scope{AppName: "app", UserID: "u"}, last.Position, 10)
		ce, ok := errorsAs[*eventlog.CompactedError](err)
		require.True(t, ok)
		assert.Equal(t, e.Position, ce.Served)
	})
}

// CONTRACT S2: a whole-store read never returns a record while leaving out
// an earlier record that was already committed, even while other apps
// append; otherwise a paged export (projection.Records) skips records for
// good.
func TestWholeStoreReadIsAPrefixUnderConcurrentAppends(t *testing.T) {
	// The race needs a reader between two apps' appends, so try a few
	// rounds; one violation is enough.
	var bad []string
	for round := 0; round < 30 && len(bad) == 0; round++ {
		bad = wholeStoreRound(t)
	}
	assert.Empty(t, bad, "whole-store reads returned later records without earlier ones")
}

// wholeStoreRound appends to four apps at once while reading the whole
// store, and describes every read that was not a prefix of the log.
func wholeStoreRound(t *testing.T) []string {
	ctx := context.Background()
	store := memstore.New()
	apps := []string{"a", "b", "c", "d"}
	const perApp = 200
	var wg sync.WaitGroup
	errs := make(chan error, len(apps))
	for _, app := range apps {
		wg.Go(func() {
			k := key(app, "u", "s")
			if _, err := store.Append(ctx, created(k, nil)); err != nil {
				errs <- err
				return
			}
			for seq := uint64(1); seq <= perApp; seq++ {
				if _, err := store.Append(ctx, appended(k, seq, strconv.FormatUint(seq, 10), nil)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var bad []string
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		recs, _, err := store.Read(ctx, eventlog.Scope{}, 0, 1<<30)
		require.NoError(t, err)
		// No append fails and none is freed here, so the positions of
		// what is committed are exactly 1..n.
		for i, rec := range recs {
			if rec.Position != eventlog.Position(i+1) {
				bad = append(bad, fmt.Sprintf("a read of %d records holds position %d at index %d", len(recs), rec.Position, i))
				break
			}
		}
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, readAll(t, store, eventlog.Scope{}), len(apps)*(perApp+1))
	return bad
}

// CONTRACT Z1: whole-store reads (exports, rebuilds) running beside
// appends to many apps all finish: no lock order lets two readers and two
// writers wait on each other.
func TestWholeStoreReadsAndAppendsDoNotDeadlock(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	apps := []string{"a", "b", "c", "d", "e", "f"}
	for _, app := range apps {
		mustAppend(t, store, created(key(app, "u", "s"), nil))
	}
	var wg sync.WaitGroup
	for _, app := range apps {
		wg.Go(func() {
			k := key(app, "u", "s")
			for seq := uint64(1); seq <= 3000; seq++ {
				if _, err := store.Append(ctx, appended(k, seq, strconv.FormatUint(seq, 10), map[string]any{"app:n": seq})); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if _, _, err := store.Read(ctx, eventlog.Scope{}, 0, 10); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatal("appends and whole-store reads are deadlocked")
	}
}

// CONTRACT R2: a whole-store read over many apps is a merge by position,
// and each page's through lets the next page go on without repeats.
func TestWholeStoreReadOverManyApps(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	const apps, per = 50, 20
	for i := range per {
		for a := range apps {
			mustAppend(t, store, created(key(fmt.Sprint("app", a), "u", fmt.Sprint("s", i)), nil))
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

// CONTRACT S1 S2: a user's read reports how far it got, past other users'
// records, so a follower of a quiet user does not scan the same records
// again.
func TestUserReadGoesPastOtherUsers(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	quiet := key("app", "quiet", "s")
	busy := key("app", "busy", "s")
	q := mustAppend(t, store, created(quiet, nil))
	mustAppend(t, store, created(busy, nil))
	var last *eventlog.Record
	for i := range 10 {
		last = mustAppend(t, store, appended(busy, uint64(i+1), fmt.Sprint("e", i), nil))
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

	t.Run("a read of an app that does not exist goes up to the last position", func(t *testing.T) {
		recs, through, err := store.Read(ctx, eventlog.Scope{AppName: "nope"}, 0, 3)
		require.NoError(t, err)
		require.Empty(t, recs)
		require.Equal(t, last.Position, through)
	})
}

// CONTRACT D2: a session scope and an append pin their incarnation; a
// session deleted and created again is another session for them.
func TestIncarnationPinning(t *testing.T) {
	ctx := context.Background()
	k := key("app", "user", "s1")
	store := memstore.New()
	first := mustAppend(t, store, created(k, nil))
	mustAppend(t, store, appended(k, 1, "old", nil))
	mustAppend(t, store, deleted(k))
	second := mustAppend(t, store, created(k, nil))
	again := mustAppend(t, store, appended(k, 1, "new", nil))
	require.NotEqual(t, first.Position, second.Position)

	reads := []struct {
		name        string
		incarnation eventlog.Position
		wantErr     error
	}{
		{"reading the deleted incarnation gives ErrNotFound", first.Position, eventlog.ErrNotFound},
		{"reading the live incarnation gives its records", second.Position, nil},
		{"reading incarnation 0 gives the live incarnation's records", 0, nil},
		{"reading an incarnation that never was gives ErrNotFound", again.Position, eventlog.ErrNotFound},
	}
	for _, tt := range reads {
		t.Run(tt.name, func(t *testing.T) {
			scope := eventlog.SessionScope(k, tt.incarnation)
			got, _, err := store.Read(ctx, scope, 0, 10)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.True(t, isClosed(store.Changes(scope)), "the Changes channel of a gone incarnation is closed")
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Same(t, again, got[0])
		})
	}

	v := load(t, store, k)
	assert.Equal(t, second.Position, v.Created)
	assert.Equal(t, uint64(1), v.Version, "the new incarnation starts empty")

	t.Run("an append pinned to the deleted incarnation is refused, even at the new one's version", func(t *testing.T) {
		rec := appended(k, 2, "e2", nil)
		rec.Incarnation = first.Position
		_, err := store.Append(ctx, rec)
		require.ErrorIs(t, err, eventlog.ErrNotFound)
		assert.Equal(t, uint64(1), load(t, store, k).Version, "nothing stored")
	})
	t.Run("an append pinned to the live incarnation is accepted", func(t *testing.T) {
		rec := appended(k, 2, "e2", nil)
		rec.Incarnation = second.Position
		mustAppend(t, store, rec)
	})
}

// CONTRACT D3 R1: a deletion frees the session's records and keeps the
// app: and user: writes that no later record of the session overrides, as
// retained-state records at their original positions.
func TestDeleteKeepsSharedWrites(t *testing.T) {
	k := key("app", "user", "s1")
	keep := key("app", "user", "keep")
	store := memstore.New()
	c := mustAppend(t, store, created(k, map[string]any{"app:a": 1, "app:c": 7, "x": 2}))
	kc := mustAppend(t, store, created(keep, nil))
	e1 := mustAppend(t, store, appended(k, 1, "e1", map[string]any{"user:u": 3, "y": 4, "temp:t": 5}))
	e2 := mustAppend(t, store, appended(k, 2, "e2", map[string]any{"z": 5}))
	e3 := mustAppend(t, store, appended(k, 3, "e3", map[string]any{"app:a": "removed-later", "user:v": nil}))
	before := load(t, store, keep).State
	d := mustAppend(t, store, deleted(k))

	got := readAll(t, store, eventlog.Scope{})
	require.Equal(t, []eventlog.Position{c.Position, kc.Position, e1.Position, e3.Position, d.Position}, positions(got),
		"the event without shared writes is freed; the deletion stays")
	tests := []struct {
		name  string
		rec   *eventlog.Record
		state map[string]any
	}{
		{"the creation keeps only the app: write no later record overrides", got[0], map[string]any{"app:c": 7}},
		{"the first event keeps its user: write", got[2], map[string]any{"user:u": 3}},
		{"the third event keeps both its writes, nil values included", got[3], map[string]any{"app:a": "removed-later", "user:v": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, eventlog.KindStateRetained, tt.rec.Kind)
			assert.Equal(t, k, tt.rec.Key)
			assert.Equal(t, tt.state, tt.rec.State)
			assert.Nil(t, tt.rec.Event, "the event itself is freed")
			assert.Zero(t, tt.rec.Seq)
		})
	}
	t.Run("the other session's creation and the deletion stay as they were", func(t *testing.T) {
		assert.Same(t, kc, got[1])
		assert.Same(t, d, got[4])
	})
	t.Run("the records handed out before the deletion are unchanged", func(t *testing.T) {
		assert.Equal(t, eventlog.KindEventAppended, e1.Kind)
		assert.Equal(t, map[string]any{"user:u": 3, "y": 4, "temp:t": 5}, e1.Event.Actions.StateDelta)
		assert.Equal(t, eventlog.KindSessionCreated, c.Kind)
		assert.Equal(t, map[string]any{"app:a": 1, "app:c": 7, "x": 2}, c.State)
		assert.NotNil(t, e2.Event)
	})
	t.Run("the deleted session is gone, its shared state stays", func(t *testing.T) {
		_, err := store.Load(context.Background(), k, eventlog.LoadOptions{})
		require.ErrorIs(t, err, eventlog.ErrNotFound)
		_, _, err = store.Read(context.Background(), eventlog.SessionScope(k, 0), 0, 10)
		require.ErrorIs(t, err, eventlog.ErrNotFound)
		assert.Equal(t, before, load(t, store, keep).State)
		assert.Equal(t, map[string]any{"app:a": "removed-later", "app:c": 7, "user:u": 3, "user:v": nil}, before)
		views, err := store.List(context.Background(), "app", "", eventlog.ListOptions{Limit: 10})
		require.NoError(t, err)
		require.Len(t, views, 1)
		assert.Equal(t, keep, views[0].Key)
	})
	t.Run("a session created again at the key starts empty", func(t *testing.T) {
		res, err := store.Append(context.Background(), created(k, nil))
		require.NoError(t, err)
		assert.Equal(t, before, res.State)
		assert.Zero(t, load(t, store, k).Version)
	})
	requireVerified(t, store)
}

// CONTRACT D3: once deletions leave most of an app's log empty, the store
// compacts it, and every read still returns the right records in order.
func TestCompactionKeepsReadsRight(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	keep := key("app", "keeper", "k")
	kc := mustAppend(t, store, created(keep, nil))
	var keepSeq uint64
	// want tracks the records the app log must hold, by position.
	want := map[eventlog.Position]*eventlog.Record{kc.Position: kc}
	var freed []eventlog.Position
	wantRetained := 0
	// Each session has a creation and three events; three sessions in
	// four are deleted, so the freed entries soon exceed both 64 and half
	// of the app log, and the log is compacted several times over.
	const sessions = 300
	for i := range sessions {
		k := key("app", "u"+strconv.Itoa(i%4), "s"+strconv.Itoa(i))
		recs := []*eventlog.Record{mustAppend(t, store, created(k, nil))}
		for seq := uint64(1); seq <= 3; seq++ {
			recs = append(recs, mustAppend(t, store, appended(k, seq, "e"+strconv.FormatUint(seq, 10), map[string]any{"plain": i})))
		}
		var shared *eventlog.Record
		if i%10 == 0 {
			// Some sessions write shared state, which must survive.
			shared = mustAppend(t, store, appended(k, 4, "shared", map[string]any{"app:last": i}))
		}
		if i%5 == 0 {
			keepSeq++
			kr := mustAppend(t, store, appended(keep, keepSeq, "k"+strconv.Itoa(i), nil))
			want[kr.Position] = kr
		}
		if i%4 != 3 {
			d := mustAppend(t, store, deleted(k))
			want[d.Position] = d
			for _, rec := range recs {
				freed = append(freed, rec.Position)
			}
			if shared != nil {
				wantRetained++
			}
			continue
		}
		for _, rec := range recs {
			want[rec.Position] = rec
		}
		if shared != nil {
			want[shared.Position] = shared
		}
	}
	all := readAll(t, store, eventlog.Scope{})
	retainedN := 0
	for _, rec := range all {
		if rec.Kind == eventlog.KindStateRetained {
			retainedN++
			assert.Equal(t, map[string]any{"app:last": rec.State["app:last"]}, rec.State)
			continue
		}
		w := want[rec.Position]
		require.NotNil(t, w, "position %d should be freed", rec.Position)
		assert.Same(t, w, rec)
		delete(want, rec.Position)
	}
	assert.Empty(t, want, "records missing from the log")
	assert.Equal(t, wantRetained, retainedN, "the shared writes of the deleted sessions that wrote them")
	require.True(t, slices.IsSortedFunc(all, byPosition))

	t.Run("reads after any position, freed or not, page through the same records", func(t *testing.T) {
		afters := append([]eventlog.Position{0}, freed[:10]...)
		afters = append(afters, freed[len(freed)-10:]...)
		afters = append(afters, positions(all[len(all)/2:len(all)/2+5])...)
		for _, after := range afters {
			var wantRecs []*eventlog.Record
			for _, rec := range all {
				if rec.Position > after {
					wantRecs = append(wantRecs, rec)
				}
			}
			for _, limit := range []int{1, 5, 256} {
				var got []*eventlog.Record
				from := after
				for {
					page, through, err := store.Read(ctx, eventlog.Scope{}, from, limit)
					require.NoError(t, err)
					if len(page) == 0 {
						break
					}
					got = append(got, page...)
					from = through
				}
				require.Equal(t, positions(wantRecs), positions(got), "after %d, limit %d", after, limit)
			}
		}
	})
	t.Run("the keeper's session read is unaffected", func(t *testing.T) {
		recs := readAll(t, store, eventlog.SessionScope(keep, 0))
		require.Len(t, recs, int(keepSeq))
		for i, rec := range recs {
			assert.Equal(t, uint64(i+1), rec.Seq)
		}
	})
	t.Run("a user read from where it is served skips the freed records too", func(t *testing.T) {
		scope := eventlog.Scope{AppName: "app", UserID: "u1"}
		_, _, err := store.Read(ctx, scope, 0, 10)
		ce, ok := errorsAs[*eventlog.CompactedError](err)
		require.True(t, ok)
		var wantU []eventlog.Position
		for _, rec := range all {
			if rec.Key.UserID == "u1" && rec.Position > ce.Served {
				wantU = append(wantU, rec.Position)
			}
		}
		got, _, err := store.Read(ctx, scope, ce.Served, 1<<20)
		require.NoError(t, err)
		assert.Equal(t, wantU, positions(got))
	})
	requireVerified(t, store)
}

// CONTRACT S1 S2 S3: a Changes channel closes at the next change a Read of
// its scope could see, and only then.
func TestChanges(t *testing.T) {
	k := key("app", "user", "s1")
	sibling := key("app", "user", "s2")
	otherUser := key("app", "other", "s1")
	otherApp := key("app2", "user", "s1")
	setup := func(t *testing.T) *memstore.Store {
		store := memstore.New()
		for _, key := range []eventlog.SessionKey{k, sibling, otherUser, otherApp} {
			mustAppend(t, store, created(key, nil))
		}
		return store
	}
	sessionScope := eventlog.SessionScope(k, 0)
	userScope := eventlog.Scope{AppName: "app", UserID: "user"}
	appScope := eventlog.Scope{AppName: "app"}
	tests := []struct {
		name   string
		scope  eventlog.Scope
		change *eventlog.Record
		closes bool
	}{
		{"a session channel closes on an append to the session", sessionScope, appended(k, 1, "e", nil), true},
		{"a session channel closes on the session's deletion", sessionScope, deleted(k), true},
		{"a session channel stays open on an append to a sibling session", sessionScope, appended(sibling, 1, "e", nil), false},
		{"a session channel stays open on an append in another app", sessionScope, appended(otherApp, 1, "e", nil), false},
		{"a session channel stays open on a failed append", sessionScope, appended(k, 7, "e", nil), false},
		{"an app channel closes on an append to any of its sessions", appScope, appended(otherUser, 1, "e", nil), true},
		{"an app channel closes on a creation", appScope, created(key("app", "new", "s"), nil), true},
		{"an app channel closes on a deletion", appScope, deleted(sibling), true},
		{"an app channel closes on a retained-state record", appScope, retained(key("app", "", ""), nil), true},
		{"an app channel stays open on an append in another app", appScope, appended(otherApp, 1, "e", nil), false},
		{"an app channel stays open on a failed creation", appScope, created(k, nil), false},
		{"a user channel closes on an append to the user's session", userScope, appended(k, 1, "e", nil), true},
		{"a user channel stays open on an append in another app", userScope, appended(otherApp, 1, "e", nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := setup(t)
			ch := store.Changes(tt.scope)
			require.False(t, isClosed(ch), "a fresh channel is open")
			_, _ = store.Append(context.Background(), tt.change)
			assert.Equal(t, tt.closes, isClosed(ch))
			if tt.closes && tt.change.Kind != eventlog.KindSessionDeleted {
				assert.False(t, isClosed(store.Changes(tt.scope)), "the next channel waits for the next change")
			}
		})
	}
	t.Run("a session channel of a missing session is closed at once", func(t *testing.T) {
		store := setup(t)
		assert.True(t, isClosed(store.Changes(eventlog.SessionScope(key("app", "user", "nope"), 0))))
		assert.True(t, isClosed(store.Changes(eventlog.SessionScope(key("nope", "user", "nope"), 0))))
	})
	t.Run("every channel closes when the store closes", func(t *testing.T) {
		store := setup(t)
		chans := []<-chan struct{}{store.Changes(sessionScope), store.Changes(userScope), store.Changes(appScope),
			store.Changes(eventlog.Scope{AppName: "app2"}), store.Changes(eventlog.Scope{AppName: "not yet"})}
		for _, ch := range chans {
			require.False(t, isClosed(ch))
		}
		require.NoError(t, store.Close())
		for _, ch := range chans {
			assert.True(t, isClosed(ch))
		}
		assert.True(t, isClosed(store.Changes(appScope)), "a channel asked for after Close is closed")
		assert.True(t, isClosed(store.Changes(sessionScope)))
	})
}

// CONTRACT S2 S3: watching an app that does not exist does not create it,
// and the watch wakes when it is created.
func TestWatchingAMissingApp(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	ch := store.Changes(eventlog.Scope{AppName: "later"})
	recs, _, err := store.Read(ctx, eventlog.Scope{}, 0, 10)
	require.NoError(t, err)
	require.Empty(t, recs)
	require.False(t, isClosed(ch), "woken before any app exists")
	_, err = store.List(ctx, "later", "", eventlog.ListOptions{Limit: 1})
	require.NoError(t, err)
	_, err = store.Load(ctx, key("later", "u", "s"), eventlog.LoadOptions{})
	require.ErrorIs(t, err, eventlog.ErrNotFound)
	require.False(t, isClosed(ch), "reading an app does not create it")
	mustAppend(t, store, created(key("later", "u", "s"), nil))
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatal("not woken when the app was created")
	}
}
