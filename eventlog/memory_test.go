package eventlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// memT0 is the base time of the records these tests build.
var memT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func memKey(app, user, id string) eventlog.SessionKey {
	return eventlog.SessionKey{AppName: app, UserID: user, SessionID: id}
}

// memCreated builds a creation record.
func memCreated(key eventlog.SessionKey, state map[string]any) *eventlog.Record {
	return &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: memT0, State: state}
}

// memAppended builds the record of an event with the given sequence number
// and ID; its timestamp grows with seq.
func memAppended(key eventlog.SessionKey, seq uint64, id string, delta map[string]any) *eventlog.Record {
	ts := memT0.Add(time.Duration(seq) * time.Second)
	return &eventlog.Record{
		Kind: eventlog.KindEventAppended, Key: key, Seq: seq, Time: ts,
		Event: &eventlog.Event{ID: id, Author: "agent", Timestamp: ts, Actions: eventlog.EventActions{StateDelta: delta}},
	}
}

func memDeleted(key eventlog.SessionKey) *eventlog.Record {
	return &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: key, Time: memT0.Add(time.Hour)}
}

// memAppend appends rec and fails the test on error.
func memAppend(t testing.TB, store eventlog.Store, rec *eventlog.Record) *eventlog.Record {
	t.Helper()
	got, err := store.Append(context.Background(), rec)
	require.NoError(t, err, "append %s of %s", rec.Kind, rec.Key)
	return got
}

// memReadAll reads every record of scope in one call.
func memReadAll(t testing.TB, store eventlog.Store, scope eventlog.Scope) []*eventlog.Record {
	t.Helper()
	recs, _, err := store.Read(context.Background(), scope, 0, 1<<30)
	require.NoError(t, err)
	return recs
}

func memPositions(recs []*eventlog.Record) []eventlog.Position {
	out := make([]eventlog.Position, len(recs))
	for i, r := range recs {
		out[i] = r.Position
	}
	return out
}

// CONTRACT C1 A6 A7 D1: Append checks each kind's condition atomically and
// writes nothing when it fails.
func TestMemoryAppendConditions(t *testing.T) {
	k := memKey("app", "user", "s1")
	other := memKey("app", "user", "s2")
	tests := []struct {
		name string
		// setup appends these records first; all must succeed.
		setup   []*eventlog.Record
		rec     *eventlog.Record
		wantErr error
		// orErr, when set, is accepted in place of wantErr.
		orErr error
		// msg lists substrings the error message must hold.
		msg []string
	}{
		{
			name:    "creating a session that exists fails with ErrAlreadyExists",
			setup:   []*eventlog.Record{memCreated(k, nil)},
			rec:     memCreated(k, map[string]any{"x": 1}),
			wantErr: eventlog.ErrAlreadyExists,
			msg:     []string{`"app"/"user"/"s1"`},
		},
		{
			name:    "appending to a missing session fails with ErrNotFound",
			setup:   []*eventlog.Record{memCreated(other, nil)},
			rec:     memAppended(k, 1, "e1", nil),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "appending to a session of an unknown app fails with ErrNotFound",
			rec:     memAppended(memKey("nowhere", "user", "s1"), 1, "e1", nil),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "appending to a deleted session fails with ErrNotFound",
			setup:   []*eventlog.Record{memCreated(k, nil), memDeleted(k)},
			rec:     memAppended(k, 1, "e1", nil),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "appending with a sequence number the store has passed fails with ErrStaleSession naming both versions",
			setup:   []*eventlog.Record{memCreated(k, nil), memAppended(k, 1, "e1", nil), memAppended(k, 2, "e2", nil)},
			rec:     memAppended(k, 2, "e3", nil),
			wantErr: eventlog.ErrStaleSession,
			msg:     []string{"version 1", "version 2"},
		},
		{
			name:    "appending with a sequence number ahead of the store fails with ErrStaleSession naming both versions",
			setup:   []*eventlog.Record{memCreated(k, nil), memAppended(k, 1, "e1", nil)},
			rec:     memAppended(k, 5, "e5", nil),
			wantErr: eventlog.ErrStaleSession,
			msg:     []string{"version 4", "version 1"},
		},
		{
			name:    "appending with sequence number 0 fails, stale or invalid, with a message without a wrapped-around version",
			setup:   []*eventlog.Record{memCreated(k, nil), memAppended(k, 1, "e1", nil)},
			rec:     memAppended(k, 0, "e0", nil),
			wantErr: eventlog.ErrStaleSession,
			orErr:   eventlog.ErrInvalidArgument,
		},
		{
			name:    "deleting a missing session fails with ErrNotFound",
			setup:   []*eventlog.Record{memCreated(other, nil)},
			rec:     memDeleted(k),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "deleting a session twice fails with ErrNotFound the second time",
			setup:   []*eventlog.Record{memCreated(k, nil), memDeleted(k)},
			rec:     memDeleted(k),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "creating a session under another user's ID pair does not collide",
			setup:   []*eventlog.Record{memCreated(memKey("app", "user2", "s1"), nil)},
			rec:     memCreated(k, nil),
			wantErr: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := eventlog.NewMemory()
			for _, rec := range tt.setup {
				memAppend(t, store, rec)
			}
			before := memReadAll(t, store, eventlog.Scope{})

			got, err := store.Append(ctx, tt.rec)
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Same(t, tt.rec, got)
				return
			}
			if tt.orErr == nil || !errors.Is(err, tt.orErr) {
				require.ErrorIs(t, err, tt.wantErr)
			}
			assert.Nil(t, got)
			for _, m := range tt.msg {
				assert.Contains(t, err.Error(), m)
			}
			assert.NotContains(t, err.Error(), strconv.FormatUint(^uint64(0), 10), "a version wrapped around")
			assert.Equal(t, before, memReadAll(t, store, eventlog.Scope{}), "a failed append wrote something")
		})
	}
}

// CONTRACT A7: a duplicate event ID stores nothing and hands back the stored
// record, and the duplicate check comes before the sequence check, so an
// exact retry of an append is recognised.
func TestMemoryDuplicateEvent(t *testing.T) {
	k := memKey("app", "user", "s1")
	tests := []struct {
		name string
		seq  uint64
		id   string
	}{
		{"retrying the last append with its own sequence number returns the stored record", 2, "e2"},
		{"reusing an older event ID with the next sequence number returns the stored record", 3, "e1"},
		{"reusing an event ID with a far-off sequence number still returns the stored record", 40, "e1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := eventlog.NewMemory()
			memAppend(t, store, memCreated(k, nil))
			stored := map[string]*eventlog.Record{
				"e1": memAppend(t, store, memAppended(k, 1, "e1", map[string]any{"a": 1})),
				"e2": memAppend(t, store, memAppended(k, 2, "e2", map[string]any{"a": 2})),
			}
			before := memReadAll(t, store, eventlog.Scope{})

			got, err := store.Append(context.Background(), memAppended(k, tt.seq, tt.id, map[string]any{"a": 99}))
			require.ErrorIs(t, err, eventlog.ErrDuplicateEvent)
			require.Same(t, stored[tt.id], got, "the stored record comes back")
			assert.Equal(t, before, memReadAll(t, store, eventlog.Scope{}))
			log, err := store.Session(context.Background(), k)
			require.NoError(t, err)
			assert.Equal(t, uint64(2), log.Version())
		})
	}
}

// CONTRACT B1: records no store may accept give ErrInvalidArgument and
// write nothing.
func TestMemoryAppendRejectsInvalidRecords(t *testing.T) {
	k := memKey("app", "user", "s1")
	noEvent := memAppended(k, 1, "e1", nil)
	noEvent.Event = nil
	tests := []struct {
		name string
		rec  *eventlog.Record
		msg  string
	}{
		{"a nil record is rejected", nil, "nil"},
		{"a record of kind 0 is rejected", &eventlog.Record{Key: k}, "kind 0"},
		{"a record of an undefined kind is rejected", &eventlog.Record{Kind: 99, Key: k}, "kind 99"},
		{"a creation without an app name is rejected", memCreated(memKey("", "user", "s1"), nil), "appName"},
		{"a creation without a user ID is rejected", memCreated(memKey("app", "", "s1"), nil), "user"},
		{"a creation without a session ID is rejected", memCreated(memKey("app", "user", ""), nil), "session"},
		{"an event record without a user ID is rejected", memAppended(memKey("app", "", "s1"), 1, "e1", nil), "user"},
		{"an event record without a session ID is rejected", memAppended(memKey("app", "user", ""), 1, "e1", nil), "session"},
		{"a deletion without a session ID is rejected", memDeleted(memKey("app", "user", "")), "session"},
		{"an event record without an event is rejected", noEvent, "no event"},
		{"an event record whose event has an empty ID is rejected", memAppended(k, 1, "", nil), "event ID"},
		{"a retained-state record without an app name is rejected", &eventlog.Record{Kind: eventlog.KindStateRetained}, "appName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := eventlog.NewMemory()
			memAppend(t, store, memCreated(k, nil))
			got, err := store.Append(context.Background(), tt.rec)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
			assert.Nil(t, got)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Len(t, memReadAll(t, store, eventlog.Scope{}), 1, "nothing is written")
		})
	}

	t.Run("a retained-state record needs only an app name", func(t *testing.T) {
		store := eventlog.NewMemory()
		rec := &eventlog.Record{Kind: eventlog.KindStateRetained, Key: memKey("app", "", ""), State: map[string]any{"app:x": 1}}
		got := memAppend(t, store, rec)
		assert.Equal(t, eventlog.Position(1), got.Position)
	})
}

// CONTRACT S2: positions grow strictly with every append, across apps, and
// the store fills in the record it was handed.
func TestMemoryPositionsStrictlyIncrease(t *testing.T) {
	store := eventlog.NewMemory()
	var last eventlog.Position
	check := func(rec *eventlog.Record) {
		t.Helper()
		got := memAppend(t, store, rec)
		require.Same(t, rec, got, "the store takes ownership of the record it was given")
		require.Greater(t, got.Position, last)
		last = got.Position
	}
	for i := range 20 {
		app := "app" + strconv.Itoa(i%3)
		k := memKey(app, "u", "s"+strconv.Itoa(i))
		check(memCreated(k, nil))
		check(memAppended(k, 1, "e1", nil))
		// A failed append takes no position from the ones that follow.
		_, err := store.Append(context.Background(), memAppended(k, 3, "e3", nil))
		require.ErrorIs(t, err, eventlog.ErrStaleSession)
		if i%2 == 0 {
			check(memDeleted(k))
		}
	}
	all := memReadAll(t, store, eventlog.Scope{})
	assert.True(t, slices.IsSortedFunc(all, func(a, b *eventlog.Record) int { return int(a.Position) - int(b.Position) }))
}

// CONTRACT G4: Session hands out capped slices, so a caller's append never
// writes into the store's log.
func TestMemorySessionReturnsCappedSlices(t *testing.T) {
	ctx := context.Background()
	k := memKey("app", "user", "s1")
	store := eventlog.NewMemory()
	created := memAppend(t, store, memCreated(k, map[string]any{"x": 1}))
	for seq := uint64(1); seq <= 3; seq++ {
		memAppend(t, store, memAppended(k, seq, "e"+strconv.FormatUint(seq, 10), nil))
	}

	first, err := store.Session(ctx, k)
	require.NoError(t, err)
	require.Same(t, created, first.Created)
	require.Equal(t, uint64(3), first.Version())
	assert.Equal(t, len(first.Records), cap(first.Records), "Records is capped")
	assert.Equal(t, len(first.Events), cap(first.Events), "Events is capped")
	for i, rec := range first.Records {
		assert.Equal(t, uint64(i+1), rec.Seq)
		assert.Same(t, rec.Event, first.Events[i])
	}

	t.Run("appending to the returned slices does not change a later Session", func(t *testing.T) {
		intruder := memAppended(k, 4, "intruder", nil)
		_ = append(first.Records, intruder)
		_ = append(first.Events, intruder.Event)
		real := memAppend(t, store, memAppended(k, 4, "e4", nil))

		again, err := store.Session(ctx, k)
		require.NoError(t, err)
		require.Len(t, again.Records, 4)
		assert.Same(t, real, again.Records[3])
		assert.Same(t, real.Event, again.Events[3])
		assert.Len(t, first.Records, 3, "the earlier log is unchanged")
	})

	t.Run("appending to a session read does not change a later read", func(t *testing.T) {
		recs, _, err := store.Read(ctx, eventlog.SessionScope(k, 0), 0, 100)
		require.NoError(t, err)
		require.Len(t, recs, 4)
		_ = append(recs, memAppended(k, 5, "intruder", nil))
		real := memAppend(t, store, memAppended(k, 5, "e5", nil))
		again, _, err := store.Read(ctx, eventlog.SessionScope(k, 0), 0, 100)
		require.NoError(t, err)
		require.Len(t, again, 5)
		assert.Same(t, real, again[4])
	})
}

// CONTRACT G1 G2: Session reports a missing session and whether the event
// timestamps are in order.
func TestMemorySession(t *testing.T) {
	ctx := context.Background()
	k := memKey("app", "user", "s1")
	t.Run("a missing session gives ErrNotFound", func(t *testing.T) {
		store := eventlog.NewMemory()
		_, err := store.Session(ctx, k)
		require.ErrorIs(t, err, eventlog.ErrNotFound)
		memAppend(t, store, memCreated(memKey("app", "user", "s2"), nil))
		_, err = store.Session(ctx, k)
		require.ErrorIs(t, err, eventlog.ErrNotFound)
	})
	t.Run("a new session has version 0 and is time ordered", func(t *testing.T) {
		store := eventlog.NewMemory()
		memAppend(t, store, memCreated(k, nil))
		log, err := store.Session(ctx, k)
		require.NoError(t, err)
		assert.Equal(t, uint64(0), log.Version())
		assert.Empty(t, log.Records)
		assert.True(t, log.TimeOrdered)
	})
	t.Run("an event older than the one before makes the session not time ordered", func(t *testing.T) {
		store := eventlog.NewMemory()
		memAppend(t, store, memCreated(k, nil))
		memAppend(t, store, memAppended(k, 1, "e1", nil))
		memAppend(t, store, memAppended(k, 2, "e2", nil))
		log, err := store.Session(ctx, k)
		require.NoError(t, err)
		assert.True(t, log.TimeOrdered, "equal or growing timestamps stay ordered")
		back := memAppended(k, 3, "e3", nil)
		back.Event.Timestamp = memT0
		back.Time = memT0
		memAppend(t, store, back)
		log, err = store.Session(ctx, k)
		require.NoError(t, err)
		assert.False(t, log.TimeOrdered)
	})
	t.Run("a cancelled context is reported", func(t *testing.T) {
		store := eventlog.NewMemory()
		memAppend(t, store, memCreated(k, nil))
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := store.Session(cctx, k)
		require.ErrorIs(t, err, context.Canceled)
		_, err = store.Append(cctx, memAppended(k, 1, "e1", nil))
		require.ErrorIs(t, err, context.Canceled)
		_, _, err = store.Read(cctx, eventlog.Scope{AppName: "app"}, 0, 10)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// memFixture fills a store with interleaved records of two apps, several
// users and sessions, one deleted session and a retained-state import
// record, and returns every record the store still holds in position order.
func memFixture(t *testing.T) (*eventlog.Memory, []*eventlog.Record) {
	t.Helper()
	store := eventlog.NewMemory()
	seq := map[eventlog.SessionKey]uint64{}
	keys := []eventlog.SessionKey{
		memKey("a1", "u1", "s1"), memKey("a2", "u1", "s1"), memKey("a1", "u2", "s1"),
		memKey("a1", "u1", "s2"), memKey("a2", "u2", "s9"), memKey("a1", "u1:x", "s1"),
	}
	for _, k := range keys {
		memAppend(t, store, memCreated(k, map[string]any{"n": k.String()}))
	}
	for round := range 5 {
		for i, k := range keys {
			if (round+i)%3 == 0 {
				continue
			}
			seq[k]++
			memAppend(t, store, memAppended(k, seq[k], fmt.Sprintf("e%d-%d", round, i), map[string]any{"r": round}))
		}
	}
	memAppend(t, store, &eventlog.Record{Kind: eventlog.KindStateRetained, Key: memKey("a2", "u1", "old"), State: map[string]any{"app:z": 1}})
	gone := memKey("a1", "u2", "gone")
	memAppend(t, store, memCreated(gone, nil))
	memAppend(t, store, memAppended(gone, 1, "g1", nil))
	memAppend(t, store, memAppended(keys[0], seq[keys[0]]+1, "last", nil))
	memAppend(t, store, memDeleted(gone))
	all := memReadAll(t, store, eventlog.Scope{})
	require.NotEmpty(t, all)
	return store, all
}

// CONTRACT S1 S2 K2: Read selects a session, a user, an app or the whole
// store, after a position, at most limit records, in position order.
func TestMemoryRead(t *testing.T) {
	ctx := context.Background()
	store, all := memFixture(t)
	require.True(t, slices.IsSortedFunc(all, func(a, b *eventlog.Record) int { return int(a.Position) - int(b.Position) }))
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
	}{
		{"the whole store", eventlog.Scope{}},
		{"app a1", eventlog.Scope{AppName: "a1"}},
		{"app a2", eventlog.Scope{AppName: "a2"}},
		{"user u1 of app a1", eventlog.Scope{AppName: "a1", UserID: "u1"}},
		{"user u1:x of app a1", eventlog.Scope{AppName: "a1", UserID: "u1:x"}},
		{"user u2 of app a2", eventlog.Scope{AppName: "a2", UserID: "u2"}},
		{"session a1/u1/s1", eventlog.SessionScope(memKey("a1", "u1", "s1"), 0)},
		{"session a2/u1/s1", eventlog.SessionScope(memKey("a2", "u1", "s1"), 0)},
		{"session a1/u1/s2", eventlog.SessionScope(memKey("a1", "u1", "s2"), 0)},
	}
	for _, sc := range scopes {
		full := expect(sc.scope, 0, len(all))
		require.NotEmpty(t, full, sc.name)
		afters := []eventlog.Position{0, 1, full[0].Position, full[len(full)/2].Position, full[len(full)-1].Position, all[len(all)-1].Position + 10}
		for _, after := range afters {
			for _, limit := range []int{1, 2, 3, 7, len(all)} {
				t.Run(fmt.Sprintf("reading %s after %d with limit %d returns the matching records in order", sc.name, after, limit), func(t *testing.T) {
					got, _, err := store.Read(ctx, sc.scope, after, limit)
					require.NoError(t, err)
					want := expect(sc.scope, after, limit)
					assert.Equal(t, memPositions(want), memPositions(got))
					for i := range want {
						assert.Same(t, want[i], got[i])
					}
				})
			}
		}
	}

	t.Run("paging through the whole store in small reads gives the whole log", func(t *testing.T) {
		var got []*eventlog.Record
		var after eventlog.Position
		for {
			page, _, err := store.Read(ctx, eventlog.Scope{}, after, 4)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1].Position
		}
		assert.Equal(t, memPositions(all), memPositions(got))
	})
	t.Run("an app or user read sees every kind of record", func(t *testing.T) {
		kinds := map[eventlog.Kind]bool{}
		for _, rec := range memReadAll(t, store, eventlog.Scope{AppName: "a1", UserID: "u2"}) {
			kinds[rec.Kind] = true
		}
		assert.Equal(t, map[eventlog.Kind]bool{
			eventlog.KindSessionCreated: true, eventlog.KindEventAppended: true, eventlog.KindSessionDeleted: true,
		}, kinds)
		kinds = map[eventlog.Kind]bool{}
		for _, rec := range memReadAll(t, store, eventlog.Scope{AppName: "a2"}) {
			kinds[rec.Kind] = true
		}
		assert.True(t, kinds[eventlog.KindStateRetained])
	})
	t.Run("a limit that is not positive is rejected", func(t *testing.T) {
		for _, limit := range []int{0, -1} {
			_, _, err := store.Read(ctx, eventlog.Scope{AppName: "a1"}, 0, limit)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		}
	})
	t.Run("reading an unknown app or user returns nothing", func(t *testing.T) {
		for _, sc := range []eventlog.Scope{{AppName: "nope"}, {AppName: "a1", UserID: "nope"}, {AppName: "a1", UserID: "u1:"}} {
			got, _, err := store.Read(ctx, sc, 0, 10)
			require.NoError(t, err)
			assert.Empty(t, got)
		}
	})
	t.Run("reading a missing or deleted session gives ErrNotFound", func(t *testing.T) {
		for _, k := range []eventlog.SessionKey{memKey("nope", "u1", "s1"), memKey("a1", "u1", "nope"), memKey("a1", "u2", "gone"), memKey("a1", "u1:x", "s2")} {
			_, _, err := store.Read(ctx, eventlog.SessionScope(k, 0), 0, 10)
			require.ErrorIs(t, err, eventlog.ErrNotFound, k.String())
		}
	})
}

// CONTRACT S2: a whole-store read never returns a record while leaving out
// an earlier record that was already committed, even while other apps
// append; otherwise a paged export (projection.Records) skips records for
// good.
func TestMemoryWholeStoreReadIsAPrefixUnderConcurrentAppends(t *testing.T) {
	// The race needs a reader between two apps' appends, so try a few
	// rounds; one violation is enough.
	const rounds = 30
	var bad []string
	for round := 0; round < rounds && len(bad) == 0; round++ {
		bad = memWholeStoreRound(t)
	}
	assert.Empty(t, bad, "whole-store reads returned later records without earlier ones")
}

// memWholeStoreRound appends to four apps at once while reading the whole
// store, and describes every read that was not a prefix of the log.
func memWholeStoreRound(t *testing.T) []string {
	ctx := context.Background()
	store := eventlog.NewMemory()
	apps := []string{"a", "b", "c", "d"}
	const perApp = 200
	var wg sync.WaitGroup
	errs := make(chan error, len(apps))
	for _, app := range apps {
		wg.Go(func() {
			k := memKey(app, "u", "s")
			if _, err := store.Append(ctx, memCreated(k, nil)); err != nil {
				errs <- err
				return
			}
			for seq := uint64(1); seq <= perApp; seq++ {
				if _, err := store.Append(ctx, memAppended(k, seq, strconv.FormatUint(seq, 10), nil)); err != nil {
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
	require.Len(t, memReadAll(t, store, eventlog.Scope{}), len(apps)*(perApp+1))
	return bad
}

// CONTRACT Z1: whole-store reads (exports, rebuilds) running beside
// appends to many apps all finish: no lock order lets two readers and two
// writers wait on each other.
func TestMemoryWholeStoreReadsAndAppendsDoNotDeadlock(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	apps := []string{"a", "b", "c", "d", "e", "f"}
	for _, app := range apps {
		memAppend(t, store, memCreated(memKey(app, "u", "s"), nil))
	}
	var wg sync.WaitGroup
	for _, app := range apps {
		wg.Go(func() {
			k := memKey(app, "u", "s")
			for seq := uint64(1); seq <= 3000; seq++ {
				if _, err := store.Append(ctx, memAppended(k, seq, strconv.FormatUint(seq, 10), nil)); err != nil {
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
	case <-time.After(flWait):
		t.Fatal("appends and whole-store reads are deadlocked")
	}
}

// CONTRACT D2: a session scope pins its incarnation; a session deleted and
// created again is another session for a pinned reader.
func TestMemoryIncarnationPinning(t *testing.T) {
	ctx := context.Background()
	k := memKey("app", "user", "s1")
	store := eventlog.NewMemory()
	first := memAppend(t, store, memCreated(k, nil))
	memAppend(t, store, memAppended(k, 1, "old", nil))
	memAppend(t, store, memDeleted(k))
	second := memAppend(t, store, memCreated(k, nil))
	again := memAppend(t, store, memAppended(k, 1, "new", nil))
	require.NotEqual(t, first.Position, second.Position)

	tests := []struct {
		name        string
		incarnation eventlog.Position
		wantErr     error
	}{
		{"reading the deleted incarnation gives ErrNotFound", first.Position, eventlog.ErrNotFound},
		{"reading the live incarnation gives its records", second.Position, nil},
		{"reading incarnation 0 gives the live incarnation's records", 0, nil},
		{"reading an incarnation that never was gives ErrNotFound", again.Position, eventlog.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scope := eventlog.SessionScope(k, tt.incarnation)
			got, _, err := store.Read(ctx, scope, 0, 10)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				select {
				case <-store.Changes(scope):
				default:
					t.Fatal("the Changes channel of a gone incarnation is not closed")
				}
				return
			}
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Same(t, again, got[0])
		})
	}

	log, err := store.Session(ctx, k)
	require.NoError(t, err)
	assert.Same(t, second, log.Created)
	assert.Equal(t, uint64(1), log.Version(), "the new incarnation starts empty")
}

// CONTRACT D3 R1: a deletion frees the session's records and keeps the
// app: and user: writes that no later record of the session overrides, as
// retained-state records at their original positions.
func TestMemoryDeleteKeepsSharedWrites(t *testing.T) {
	ctx := context.Background()
	k := memKey("app", "user", "s1")
	keep := memKey("app", "user", "keep")
	store := eventlog.NewMemory()
	c := memAppend(t, store, memCreated(k, map[string]any{"app:a": 1, "app:c": 7, "x": 2}))
	kc := memAppend(t, store, memCreated(keep, nil))
	e1 := memAppend(t, store, memAppended(k, 1, "e1", map[string]any{"user:u": 3, "y": 4, "temp:t": 5}))
	e2 := memAppend(t, store, memAppended(k, 2, "e2", map[string]any{"z": 5}))
	e3 := memAppend(t, store, memAppended(k, 3, "e3", map[string]any{"app:a": "removed-later", "user:v": nil}))
	d := memAppend(t, store, memDeleted(k))

	got := memReadAll(t, store, eventlog.Scope{AppName: "app"})
	require.Equal(t, []eventlog.Position{c.Position, kc.Position, e1.Position, e3.Position, d.Position}, memPositions(got),
		"the event without shared writes is freed; the deletion stays")
	// The creation's app:a is overridden by the third event's; its app:c is not.
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
	t.Run("the other session's creation is untouched", func(t *testing.T) {
		assert.Same(t, kc, got[1])
	})
	t.Run("the deletion record stays in the log", func(t *testing.T) {
		assert.Same(t, d, got[4])
	})
	t.Run("the records handed out before the deletion are unchanged", func(t *testing.T) {
		assert.Equal(t, eventlog.KindEventAppended, e1.Kind)
		assert.Equal(t, map[string]any{"user:u": 3, "y": 4, "temp:t": 5}, e1.Event.Actions.StateDelta)
		assert.Equal(t, eventlog.KindSessionCreated, c.Kind)
		assert.Equal(t, map[string]any{"app:a": 1, "app:c": 7, "x": 2}, c.State)
		assert.NotNil(t, e2.Event)
	})
	t.Run("the deleted session is gone", func(t *testing.T) {
		_, err := store.Session(ctx, k)
		require.ErrorIs(t, err, eventlog.ErrNotFound)
		_, _, err = store.Read(ctx, eventlog.SessionScope(k, 0), 0, 10)
		require.ErrorIs(t, err, eventlog.ErrNotFound)
	})
	t.Run("a user read sees the same retained records", func(t *testing.T) {
		assert.Equal(t, memPositions(got), memPositions(memReadAll(t, store, eventlog.Scope{AppName: "app", UserID: "user"})))
	})
}

// CONTRACT D3: once deletions leave most of an app's log empty, the store
// compacts it, and every read still returns the right records in order.
func TestMemoryCompactionKeepsReadsRight(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	keep := memKey("app", "keeper", "k")
	kc := memAppend(t, store, memCreated(keep, nil))
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
		k := memKey("app", "u"+strconv.Itoa(i%4), "s"+strconv.Itoa(i))
		recs := []*eventlog.Record{memAppend(t, store, memCreated(k, nil))}
		for seq := uint64(1); seq <= 3; seq++ {
			recs = append(recs, memAppend(t, store, memAppended(k, seq, "e"+strconv.FormatUint(seq, 10), map[string]any{"plain": i})))
		}
		var shared *eventlog.Record
		if i%10 == 0 {
			// Some sessions write shared state, which must survive.
			shared = memAppend(t, store, memAppended(k, 4, "shared", map[string]any{"app:last": i}))
		}
		if i%5 == 0 {
			keepSeq++
			kr := memAppend(t, store, memAppended(keep, keepSeq, "k"+strconv.Itoa(i), nil))
			want[kr.Position] = kr
		}
		if i%4 != 3 {
			d := memAppend(t, store, memDeleted(k))
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
	all := memReadAll(t, store, eventlog.Scope{AppName: "app"})
	retained := 0
	for _, rec := range all {
		if rec.Kind == eventlog.KindStateRetained {
			retained++
			assert.Equal(t, map[string]any{"app:last": rec.State["app:last"]}, rec.State)
			continue
		}
		w := want[rec.Position]
		require.NotNil(t, w, "position %d should be freed", rec.Position)
		assert.Same(t, w, rec)
		delete(want, rec.Position)
	}
	assert.Empty(t, want, "records missing from the log")
	assert.Equal(t, wantRetained, retained, "the shared writes of the deleted sessions that wrote them")
	require.True(t, slices.IsSortedFunc(all, func(a, b *eventlog.Record) int { return int(a.Position) - int(b.Position) }))

	t.Run("reads after any position, freed or not, page through the same records", func(t *testing.T) {
		afters := append([]eventlog.Position{0}, freed[:10]...)
		afters = append(afters, freed[len(freed)-10:]...)
		afters = append(afters, memPositions(all[len(all)/2:len(all)/2+5])...)
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
					page, _, err := store.Read(ctx, eventlog.Scope{AppName: "app"}, from, limit)
					require.NoError(t, err)
					if len(page) == 0 {
						break
					}
					got = append(got, page...)
					from = page[len(page)-1].Position
				}
				require.Equal(t, memPositions(wantRecs), memPositions(got), "after %d, limit %d", after, limit)
			}
		}
	})
	t.Run("the keeper's session read is unaffected", func(t *testing.T) {
		recs, _, err := store.Read(ctx, eventlog.SessionScope(keep, 0), 0, 1000)
		require.NoError(t, err)
		require.Len(t, recs, int(keepSeq))
		for i, rec := range recs {
			assert.Equal(t, uint64(i+1), rec.Seq)
		}
	})
	t.Run("a user read skips the freed records too", func(t *testing.T) {
		var wantU []eventlog.Position
		for _, rec := range all {
			if rec.Key.UserID == "u1" {
				wantU = append(wantU, rec.Position)
			}
		}
		assert.Equal(t, wantU, memPositions(memReadAll(t, store, eventlog.Scope{AppName: "app", UserID: "u1"})))
	})
}

// memClosed reports whether ch is closed now, without waiting.
func memClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// CONTRACT S1 S2 S3: a Changes channel closes at the next change a Read of
// its scope could see, and only then.
func TestMemoryChanges(t *testing.T) {
	k := memKey("app", "user", "s1")
	sibling := memKey("app", "user", "s2")
	otherUser := memKey("app", "other", "s1")
	otherApp := memKey("app2", "user", "s1")
	setup := func(t *testing.T) *eventlog.Memory {
		store := eventlog.NewMemory()
		for _, key := range []eventlog.SessionKey{k, sibling, otherUser, otherApp} {
			memAppend(t, store, memCreated(key, nil))
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
		{"a session channel closes on an append to the session", sessionScope, memAppended(k, 1, "e", nil), true},
		{"a session channel closes on the session's deletion", sessionScope, memDeleted(k), true},
		{"a session channel stays open on an append to a sibling session", sessionScope, memAppended(sibling, 1, "e", nil), false},
		{"a session channel stays open on an append in another app", sessionScope, memAppended(otherApp, 1, "e", nil), false},
		{"a session channel stays open on a failed append", sessionScope, memAppended(k, 7, "e", nil), false},
		{"an app channel closes on an append to any of its sessions", appScope, memAppended(otherUser, 1, "e", nil), true},
		{"an app channel closes on a creation", appScope, memCreated(memKey("app", "new", "s"), nil), true},
		{"an app channel closes on a deletion", appScope, memDeleted(sibling), true},
		{"an app channel closes on a retained-state record", appScope, &eventlog.Record{Kind: eventlog.KindStateRetained, Key: memKey("app", "", "")}, true},
		{"an app channel stays open on an append in another app", appScope, memAppended(otherApp, 1, "e", nil), false},
		{"an app channel stays open on a failed creation", appScope, memCreated(k, nil), false},
		{"a user channel closes on an append to the user's session", userScope, memAppended(k, 1, "e", nil), true},
		{"a user channel stays open on an append in another app", userScope, memAppended(otherApp, 1, "e", nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := setup(t)
			ch := store.Changes(tt.scope)
			require.False(t, memClosed(ch), "a fresh channel is open")
			_, _ = store.Append(context.Background(), tt.change)
			assert.Equal(t, tt.closes, memClosed(ch))
			if tt.closes && tt.change.Kind != eventlog.KindSessionDeleted {
				assert.False(t, memClosed(store.Changes(tt.scope)), "the next channel waits for the next change")
			}
		})
	}
	t.Run("a session channel of a missing session is closed at once", func(t *testing.T) {
		store := setup(t)
		assert.True(t, memClosed(store.Changes(eventlog.SessionScope(memKey("app", "user", "nope"), 0))))
	})
	t.Run("every channel closes when the store closes", func(t *testing.T) {
		store := setup(t)
		chans := []<-chan struct{}{store.Changes(sessionScope), store.Changes(userScope), store.Changes(appScope), store.Changes(eventlog.Scope{AppName: "app2"})}
		for _, ch := range chans {
			require.False(t, memClosed(ch))
		}
		require.NoError(t, store.Close())
		for _, ch := range chans {
			assert.True(t, memClosed(ch))
		}
		assert.True(t, memClosed(store.Changes(appScope)), "a channel asked for after Close is closed")
		assert.True(t, memClosed(store.Changes(sessionScope)))
	})
}

// CONTRACT S3: after Close every call gives ErrClosed, and Close may be
// called again.
func TestMemoryClose(t *testing.T) {
	ctx := context.Background()
	k := memKey("app", "user", "s1")
	store := eventlog.NewMemory()
	memAppend(t, store, memCreated(k, nil))
	require.NoError(t, store.Close())
	require.NoError(t, store.Close(), "closing twice is fine")

	calls := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { _, err := store.Append(ctx, memAppended(k, 1, "e", nil)); return err }},
		{"Append of a creation", func() error { _, err := store.Append(ctx, memCreated(memKey("app", "u", "new"), nil)); return err }},
		{"Session", func() error { _, err := store.Session(ctx, k); return err }},
		{"Read of a session", func() error { _, _, err := store.Read(ctx, eventlog.SessionScope(k, 0), 0, 1); return err }},
		{"Read of an app", func() error { _, _, err := store.Read(ctx, eventlog.Scope{AppName: "app"}, 0, 1); return err }},
		{"Read of the whole store", func() error { _, _, err := store.Read(ctx, eventlog.Scope{}, 0, 1); return err }},
	}
	for _, c := range calls {
		t.Run(c.name+" after Close gives ErrClosed", func(t *testing.T) {
			require.ErrorIs(t, c.call(), eventlog.ErrClosed)
		})
	}
}

// CONTRACT Z1: the zero Memory is a working store.
func TestMemoryZeroValueWorks(t *testing.T) {
	ctx := context.Background()
	var store eventlog.Memory
	k := memKey("app", "user", "s1")
	ch := store.Changes(eventlog.Scope{AppName: "app"})
	memAppend(t, &store, memCreated(k, map[string]any{"x": 1}))
	assert.True(t, memClosed(ch))
	memAppend(t, &store, memAppended(k, 1, "e1", nil))
	log, err := store.Session(ctx, k)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), log.Version())
	assert.Len(t, memReadAll(t, &store, eventlog.Scope{}), 2)
	memAppend(t, &store, memDeleted(k))
	require.NoError(t, store.Close())

	t.Run("a zero store can be closed before any use", func(t *testing.T) {
		var fresh eventlog.Memory
		require.NoError(t, fresh.Close())
		_, _, err := fresh.Read(ctx, eventlog.Scope{}, 0, 1)
		require.ErrorIs(t, err, eventlog.ErrClosed)
	})
	t.Run("a zero store can be read before any append", func(t *testing.T) {
		var fresh eventlog.Memory
		got, _, err := fresh.Read(ctx, eventlog.Scope{}, 0, 1)
		require.NoError(t, err)
		assert.Empty(t, got)
		got, _, err = fresh.Read(ctx, eventlog.Scope{AppName: "x"}, 0, 1)
		require.NoError(t, err)
		assert.Empty(t, got)
	})
}

// CONTRACT R2: a record survives JSON with its kind written by name.
func TestRecordJSON(t *testing.T) {
	k := memKey("app", "user", "s1")
	ev := memAppended(k, 3, "e3", map[string]any{"app:a": 1.5, "x": "y", "nested": map[string]any{"l": []any{"a", true}}})
	ev.Position = 42
	tests := []struct {
		name string
		rec  *eventlog.Record
		kind string
	}{
		{"a creation keeps its state", &eventlog.Record{Position: 1, Kind: eventlog.KindSessionCreated, Key: k, Time: memT0, State: map[string]any{"a": "b", "app:n": 2.0}}, "sessionCreated"},
		{"an appended event keeps its event and sequence number", ev, "eventAppended"},
		{"a deletion keeps its time", &eventlog.Record{Position: 7, Kind: eventlog.KindSessionDeleted, Key: k, Time: memT0.Add(1234567 * time.Nanosecond)}, "sessionDeleted"},
		{"a retained-state record keeps its state", &eventlog.Record{Position: 9, Kind: eventlog.KindStateRetained, Key: memKey("app", "user", ""), Time: memT0, State: map[string]any{"user:k": "v"}}, "stateRetained"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.rec)
			require.NoError(t, err)
			var raw map[string]any
			require.NoError(t, json.Unmarshal(b, &raw))
			assert.Equal(t, tt.kind, raw["kind"], "the kind is written by name")
			assert.Equal(t, eventlog.FormatTimestamp(tt.rec.Time), raw["time"])

			var back eventlog.Record
			require.NoError(t, json.Unmarshal(b, &back))
			assert.Equal(t, *tt.rec, back)
		})
	}

	t.Run("a pointer and a value encode the same", func(t *testing.T) {
		a, err := json.Marshal(ev)
		require.NoError(t, err)
		b, err := json.Marshal(*ev)
		require.NoError(t, err)
		assert.JSONEq(t, string(a), string(b))
	})
	t.Run("time may be epoch milliseconds or seconds", func(t *testing.T) {
		for _, raw := range []string{`1700000000123`, `1700000000.123`, `"2023-11-14T23:13:20.123+01:00"`} {
			var rec eventlog.Record
			require.NoError(t, json.Unmarshal([]byte(`{"position":1,"kind":"sessionDeleted","key":{"appName":"a","userId":"u","id":"s"},"time":`+raw+`}`), &rec))
			assert.True(t, rec.Time.Equal(time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC)), "time %s gives %s", raw, rec.Time)
		}
	})

	bad := []struct {
		name string
		json string
	}{
		{"an unknown kind name is rejected", `{"kind":"sessionRenamed","key":{"appName":"a","userId":"u","id":"s"},"time":"2025-01-01T00:00:00Z"}`},
		{"a kind given as a number is rejected", `{"kind":2,"key":{"appName":"a","userId":"u","id":"s"},"time":"2025-01-01T00:00:00Z"}`},
		{"a kind name in another case is rejected", `{"kind":"EventAppended","key":{"appName":"a","userId":"u","id":"s"},"time":"2025-01-01T00:00:00Z"}`},
		{"an empty kind is rejected", `{"kind":"","key":{"appName":"a","userId":"u","id":"s"},"time":"2025-01-01T00:00:00Z"}`},
		{"a malformed time is rejected", `{"kind":"sessionDeleted","key":{"appName":"a","userId":"u","id":"s"},"time":"yesterday"}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var rec eventlog.Record
			require.Error(t, json.Unmarshal([]byte(tt.json), &rec))
		})
	}
	t.Run("an unknown kind name is an invalid argument naming the kind", func(t *testing.T) {
		var k eventlog.Kind
		err := k.UnmarshalText([]byte("sessionRenamed"))
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		assert.Contains(t, err.Error(), "sessionRenamed")
	})
	t.Run("an undefined kind cannot be written", func(t *testing.T) {
		for _, kind := range []eventlog.Kind{0, 5, 255} {
			_, err := json.Marshal(&eventlog.Record{Kind: kind})
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument, "kind %d", kind)
			assert.False(t, kind.Valid())
			assert.Equal(t, fmt.Sprintf("Kind(%d)", uint8(kind)), kind.String())
		}
	})
	t.Run("every defined kind's name reads back as the kind", func(t *testing.T) {
		for _, kind := range []eventlog.Kind{eventlog.KindSessionCreated, eventlog.KindEventAppended, eventlog.KindSessionDeleted, eventlog.KindStateRetained} {
			text, err := kind.MarshalText()
			require.NoError(t, err)
			assert.Equal(t, kind.String(), string(text))
			var back eventlog.Kind
			require.NoError(t, back.UnmarshalText(text))
			assert.Equal(t, kind, back)
		}
	})
}
