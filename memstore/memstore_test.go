package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/internal/testrec"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// store starts none, and every test here ends the ones it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// waitLimit bounds every wait in these tests. It is never a measured
// duration: it only turns a hang into a failure.
const waitLimit = 20 * time.Second

var (
	t0       = testrec.T0
	key      = testrec.Key
	created  = testrec.Created
	appended = testrec.Appended
	deleted  = testrec.Deleted
	retained = testrec.Retained
)

// mustAppend appends rec, fails the test on an error, and returns the
// stored record.
func mustAppend(t testing.TB, store eventlog.Store, rec *eventlog.Record) *eventlog.Record {
	t.Helper()
	res, err := store.Append(context.Background(), rec)
	require.NoError(t, err, "append %s of %s", rec.Kind, rec.Key)
	require.False(t, res.Duplicate, "append %s of %s", rec.Kind, rec.Key)
	return res.Record
}

// readAll reads every record of scope in one call.
func readAll(t testing.TB, store eventlog.Store, scope eventlog.Scope) []*eventlog.Record {
	t.Helper()
	recs, _, err := store.Read(context.Background(), scope, 0, 1<<30)
	require.NoError(t, err)
	return recs
}

// load loads a session with all its events and fails the test on an error.
func load(t testing.TB, store eventlog.Store, k eventlog.SessionKey) eventlog.View {
	t.Helper()
	v, err := store.Load(context.Background(), k, eventlog.LoadOptions{})
	require.NoError(t, err, "load %s", k)
	return v
}

func positions(recs []*eventlog.Record) []eventlog.Position {
	out := make([]eventlog.Position, len(recs))
	for i, r := range recs {
		out[i] = r.Position
	}
	return out
}

// isClosed reports whether ch is closed now, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func byPosition(a, b *eventlog.Record) int { return int(a.Position) - int(b.Position) }

// requireVerified checks the store's served state against its log, both
// through projection.Verify and by comparing Snapshot with Rebuild.
func requireVerified(t testing.TB, store *memstore.Store) {
	t.Helper()
	require.NoError(t, projection.Verify(context.Background(), store))
	rebuilt, err := projection.Rebuild(context.Background(), store)
	require.NoError(t, err)
	require.Equal(t, rebuilt, store.Snapshot(), "the store's state differs from the rebuild of its log")
}

// CONTRACT C1 A6 A7 D1: Append checks each kind's condition atomically and
// writes nothing when it fails.
func TestAppendConditions(t *testing.T) {
	k := key("app", "user", "s1")
	other := key("app", "user", "s2")
	tests := []struct {
		name string
		// setup appends these records first; all must succeed.
		setup   []*eventlog.Record
		rec     *eventlog.Record
		wantErr error
		// msg lists substrings the error message must hold.
		msg []string
	}{
		{
			name:    "creating a session that exists fails with ErrAlreadyExists",
			setup:   []*eventlog.Record{created(k, nil)},
			rec:     created(k, map[string]any{"x": 1}),
			wantErr: eventlog.ErrAlreadyExists,
			msg:     []string{`"app"/"user"/"s1"`},
		},
		{
			name:    "appending to a missing session fails with ErrNotFound",
			setup:   []*eventlog.Record{created(other, nil)},
			rec:     appended(k, 1, "e1", nil),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "appending to a session of an unknown app fails with ErrNotFound",
			rec:     appended(key("nowhere", "user", "s1"), 1, "e1", nil),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "appending to a deleted session fails with ErrNotFound",
			setup:   []*eventlog.Record{created(k, nil), deleted(k)},
			rec:     appended(k, 1, "e1", nil),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "appending with a sequence number the store has passed fails with ErrStaleSession naming both versions",
			setup:   []*eventlog.Record{created(k, nil), appended(k, 1, "e1", nil), appended(k, 2, "e2", nil)},
			rec:     appended(k, 2, "e3", nil),
			wantErr: eventlog.ErrStaleSession,
			msg:     []string{"version 1", "version 2"},
		},
		{
			name:    "appending with a sequence number ahead of the store fails with ErrStaleSession naming both versions",
			setup:   []*eventlog.Record{created(k, nil), appended(k, 1, "e1", nil)},
			rec:     appended(k, 5, "e5", nil),
			wantErr: eventlog.ErrStaleSession,
			msg:     []string{"version 4", "version 1"},
		},
		{
			name:    "deleting a missing session fails with ErrNotFound",
			setup:   []*eventlog.Record{created(other, nil)},
			rec:     deleted(k),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "deleting a session of an unknown app fails with ErrNotFound",
			rec:     deleted(key("nowhere", "user", "s1")),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:    "deleting a session twice fails with ErrNotFound the second time",
			setup:   []*eventlog.Record{created(k, nil), deleted(k)},
			rec:     deleted(k),
			wantErr: eventlog.ErrNotFound,
		},
		{
			name:  "creating a session under another user's ID pair does not collide",
			setup: []*eventlog.Record{created(key("app", "user2", "s1"), nil)},
			rec:   created(k, nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store := memstore.New()
			for _, rec := range tt.setup {
				mustAppend(t, store, rec)
			}
			before := readAll(t, store, eventlog.Scope{})
			snap := store.Snapshot()

			res, err := store.Append(ctx, tt.rec)
			if tt.wantErr == nil {
				require.NoError(t, err)
				require.Same(t, tt.rec, res.Record)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, eventlog.AppendResult{}, res)
			for _, m := range tt.msg {
				assert.Contains(t, err.Error(), m)
			}
			assert.NotContains(t, err.Error(), strconv.FormatUint(^uint64(0), 10), "a version wrapped around")
			assert.Equal(t, before, readAll(t, store, eventlog.Scope{}), "a failed append wrote something")
			assert.Equal(t, snap, store.Snapshot(), "a failed append changed the state")
		})
	}
}

// CONTRACT A6: an event with sequence number 0 goes after whatever the
// session holds (last writer wins), and the store fills its number in.
func TestAppendWithSeqZeroAppendsAfterWhatTheSessionHolds(t *testing.T) {
	ctx := context.Background()
	k := key("app", "user", "s1")
	store := memstore.New()
	mustAppend(t, store, created(k, nil))
	mustAppend(t, store, appended(k, 1, "e1", nil))
	for i, id := range []string{"e2", "e3"} {
		rec := appended(k, 0, id, map[string]any{"n": i})
		got := mustAppend(t, store, rec)
		assert.Same(t, rec, got)
		assert.Equal(t, uint64(i+2), got.Seq)
	}
	v := load(t, store, k)
	assert.Equal(t, uint64(3), v.Version)
	assert.Equal(t, map[string]any{"n": 1}, v.State)

	t.Run("a duplicate with sequence number 0 is still a duplicate", func(t *testing.T) {
		res, err := store.Append(ctx, appended(k, 0, "e1", nil))
		require.NoError(t, err)
		assert.True(t, res.Duplicate)
		assert.Equal(t, uint64(1), res.Record.Seq)
	})
	t.Run("concurrent writers with sequence number 0 never conflict", func(t *testing.T) {
		errs := make(chan error, 4*50)
		done := make(chan struct{})
		for w := range 4 {
			go func() {
				defer func() { done <- struct{}{} }()
				for i := range 50 {
					_, err := store.Append(ctx, appended(k, 0, fmt.Sprint("w", w, "-", i), nil))
					errs <- err
				}
			}()
		}
		for range 4 {
			<-done
		}
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		recs := readAll(t, store, eventlog.SessionScope(k, 0))
		require.Len(t, recs, 203)
		for i, rec := range recs {
			require.Equal(t, uint64(i+1), rec.Seq)
		}
	})
}

// CONTRACT A7: a duplicate event ID stores nothing and hands back the
// stored record, and the duplicate check comes before the sequence check,
// so an exact retry of an append is recognised even through a stale handle.
func TestDuplicateEvent(t *testing.T) {
	k := key("app", "user", "s1")
	tests := []struct {
		name string
		seq  uint64
		id   string
	}{
		{"retrying the last append with its own sequence number returns the stored record", 2, "e2"},
		{"reusing an older event ID with the next sequence number returns the stored record", 3, "e1"},
		{"reusing an event ID with a far-off sequence number still returns the stored record", 40, "e1"},
		{"reusing an event ID with sequence number 0 returns the stored record", 0, "e2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New()
			mustAppend(t, store, created(k, nil))
			stored := map[string]*eventlog.Record{
				"e1": mustAppend(t, store, appended(k, 1, "e1", map[string]any{"a": 1})),
				"e2": mustAppend(t, store, appended(k, 2, "e2", map[string]any{"a": 2})),
			}
			before := readAll(t, store, eventlog.Scope{})
			changed := store.Changes(eventlog.SessionScope(k, 0))

			res, err := store.Append(context.Background(), appended(k, tt.seq, tt.id, map[string]any{"a": 99}))
			require.NoError(t, err)
			assert.True(t, res.Duplicate)
			require.Same(t, stored[tt.id], res.Record, "the stored record comes back")
			assert.Nil(t, res.State)
			assert.Equal(t, before, readAll(t, store, eventlog.Scope{}))
			v := load(t, store, k)
			assert.Equal(t, uint64(2), v.Version)
			assert.Equal(t, map[string]any{"a": 2}, v.State)
			assert.False(t, isClosed(changed), "a duplicate woke the session's readers")
		})
	}
}

// CONTRACT B1: records no store may accept give ErrInvalidArgument and
// write nothing.
func TestAppendRejectsInvalidRecords(t *testing.T) {
	k := key("app", "user", "s1")
	noEvent := appended(k, 1, "e1", nil)
	noEvent.Event = nil
	tests := []struct {
		name string
		rec  *eventlog.Record
		msg  string
	}{
		{"a nil record is rejected", nil, "nil"},
		{"a record of kind 0 is rejected", &eventlog.Record{Key: k}, "kind 0"},
		{"a record of an undefined kind is rejected", &eventlog.Record{Kind: 99, Key: k}, "kind 99"},
		{"a creation without an app name is rejected", created(key("", "user", "s1"), nil), "appName"},
		{"a creation without a user ID is rejected", created(key("app", "", "s1"), nil), "user"},
		{"a creation without a session ID is rejected", created(key("app", "user", ""), nil), "session"},
		{"an event record without a user ID is rejected", appended(key("app", "", "s1"), 1, "e1", nil), "user"},
		{"an event record without a session ID is rejected", appended(key("app", "user", ""), 1, "e1", nil), "session"},
		{"a deletion without a session ID is rejected", deleted(key("app", "user", "")), "session"},
		{"an event record without an event is rejected", noEvent, "no event"},
		{"an event record whose event has an empty ID is rejected", appended(k, 1, "", nil), "event ID"},
		{"a retained-state record without an app name is rejected", &eventlog.Record{Kind: eventlog.KindStateRetained}, "appName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New()
			mustAppend(t, store, created(k, nil))
			res, err := store.Append(context.Background(), tt.rec)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
			assert.Nil(t, res.Record)
			assert.Contains(t, err.Error(), tt.msg)
			assert.Len(t, readAll(t, store, eventlog.Scope{}), 1, "nothing is written")
		})
	}

	t.Run("a retained-state record needs only an app name", func(t *testing.T) {
		store := memstore.New()
		got := mustAppend(t, store, retained(key("app", "", ""), map[string]any{"app:x": 1}))
		assert.Equal(t, eventlog.Position(1), got.Position)
	})
}

// CONTRACT S2: positions grow strictly with every append, across apps, and
// the store fills in the record it was handed.
func TestPositionsStrictlyIncrease(t *testing.T) {
	store := memstore.New()
	var last eventlog.Position
	check := func(rec *eventlog.Record) {
		t.Helper()
		got := mustAppend(t, store, rec)
		require.Same(t, rec, got, "the store takes ownership of the record it was given")
		require.Greater(t, got.Position, last)
		last = got.Position
	}
	for i := range 20 {
		app := "app" + strconv.Itoa(i%3)
		k := key(app, "u", "s"+strconv.Itoa(i))
		check(created(k, nil))
		check(appended(k, 1, "e1", nil))
		// A failed append takes no position from the ones that follow.
		_, err := store.Append(context.Background(), appended(k, 3, "e3", nil))
		require.ErrorIs(t, err, eventlog.ErrStaleSession)
		if i%2 == 0 {
			check(deleted(k))
		}
	}
	assert.True(t, slices.IsSortedFunc(readAll(t, store, eventlog.Scope{}), byPosition))
}

// CONTRACT C2 C3 G4: a creation's result carries the new session's merged
// state: its own keys, and the app's and the user's as they are, written by
// any session; the map is the caller's.
func TestCreateReturnsTheMergedState(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	mustAppend(t, store, created(key("app", "user", "other"), map[string]any{"app:seen": "by all", "user:u": 1}))
	mustAppend(t, store, created(key("app", "someone", "else"), map[string]any{"user:u": "not mine"}))
	k := key("app", "user", "s1")
	res, err := store.Append(ctx, created(k, map[string]any{"a": map[string]any{"n": 1}, "user:v": 2, "temp:t": 3}))
	require.NoError(t, err)
	want := map[string]any{"a": map[string]any{"n": 1}, "user:v": 2, "user:u": 1, "app:seen": "by all"}
	require.Equal(t, want, res.State)
	assert.Nil(t, res.Durable, "a store without a journal has nothing to wait for")

	res.State["a"].(map[string]any)["n"] = 99
	res.State["extra"] = true
	assert.Equal(t, want, load(t, store, k).State, "the result's state is a private copy")

	t.Run("other kinds carry no state", func(t *testing.T) {
		res, err := store.Append(ctx, appended(k, 1, "e1", map[string]any{"a": 2}))
		require.NoError(t, err)
		assert.Nil(t, res.State)
		res, err = store.Append(ctx, deleted(k))
		require.NoError(t, err)
		assert.Nil(t, res.State)
	})
}

// CONTRACT G1 G2 G4 A5: Load serves a live session's view: incarnation,
// version, last update time, merged state, and the events the options
// select, the store's own and capped.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	k := key("app", "user", "s1")
	store := memstore.New()
	c := mustAppend(t, store, created(k, map[string]any{"x": 1, "app:a": 1}))
	var recs []*eventlog.Record
	for seq := uint64(1); seq <= 6; seq++ {
		recs = append(recs, mustAppend(t, store, appended(k, seq, "e"+strconv.FormatUint(seq, 10), map[string]any{"x": int(seq)})))
	}
	events := func(ids ...int) []*eventlog.Event {
		out := []*eventlog.Event{}
		for _, i := range ids {
			out = append(out, recs[i-1].Event)
		}
		return out
	}

	v := load(t, store, k)
	assert.Equal(t, k, v.Key)
	assert.Equal(t, c.Position, v.Created)
	assert.Equal(t, uint64(6), v.Version)
	assert.Equal(t, recs[5].Time, v.LastUpdateTime)
	assert.Equal(t, map[string]any{"x": 6, "app:a": 1}, v.State)

	tests := []struct {
		name string
		opts eventlog.LoadOptions
		want []*eventlog.Event
	}{
		{"the zero options select every event, the store's own", eventlog.LoadOptions{}, events(1, 2, 3, 4, 5, 6)},
		{"NoEvents selects none", eventlog.LoadOptions{NoEvents: true, Limit: 3}, nil},
		{"AfterSeq keeps the later events", eventlog.LoadOptions{AfterSeq: 4}, events(5, 6)},
		{"AfterSeq past the end keeps none", eventlog.LoadOptions{AfterSeq: 60}, events()},
		{"NumRecentEvents keeps the last n", eventlog.LoadOptions{NumRecentEvents: 2}, events(5, 6)},
		{"After keeps the events at or after a time", eventlog.LoadOptions{After: t0.Add(5 * time.Second)}, events(5, 6)},
		{"Limit keeps the first n", eventlog.LoadOptions{Limit: 2}, events(1, 2)},
		{"the filters apply in order", eventlog.LoadOptions{AfterSeq: 1, NumRecentEvents: 4, After: t0.Add(4 * time.Second), Limit: 2}, events(4, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := store.Load(ctx, k, tt.opts)
			require.NoError(t, err)
			require.Equal(t, len(tt.want), len(v.Events))
			for i := range tt.want {
				assert.Same(t, tt.want[i], v.Events[i])
			}
			assert.Equal(t, len(v.Events), cap(v.Events), "the events are capped")
			assert.Equal(t, uint64(6), v.Version, "the options select events only")
		})
	}

	t.Run("appending to the returned events does not change a later Load", func(t *testing.T) {
		first := load(t, store, k)
		_ = append(first.Events, &eventlog.Event{ID: "intruder"})
		real := mustAppend(t, store, appended(k, 7, "e7", nil))
		again := load(t, store, k)
		require.Len(t, again.Events, 7)
		assert.Same(t, real.Event, again.Events[6])
		recs = append(recs, real)
	})
	t.Run("After scans when timestamps go back", func(t *testing.T) {
		back := appended(k, 8, "e8", nil)
		back.Event.Timestamp, back.Time = t0, t0
		mustAppend(t, store, back)
		v, err := store.Load(ctx, k, eventlog.LoadOptions{After: t0.Add(6 * time.Second)})
		require.NoError(t, err)
		assert.Equal(t, events(6, 7), v.Events)
		v, err = store.Load(ctx, k, eventlog.LoadOptions{After: t0})
		require.NoError(t, err)
		assert.Len(t, v.Events, 8, "an event at the time itself is kept")
		assert.Equal(t, t0, v.LastUpdateTime, "the last update time is the last record's")
	})
	t.Run("the state is the caller's", func(t *testing.T) {
		mustAppend(t, store, appended(k, 9, "e9", map[string]any{"nested": map[string]any{"l": []any{1}}}))
		v := load(t, store, k)
		v.State["nested"].(map[string]any)["l"].([]any)[0] = 99
		v.State["x"] = "changed"
		delete(v.State, "app:a")
		assert.Equal(t, map[string]any{"x": 6, "app:a": 1, "nested": map[string]any{"l": []any{1}}}, load(t, store, k).State)
	})
	t.Run("a missing or deleted session gives ErrNotFound", func(t *testing.T) {
		gone := key("app", "user", "gone")
		mustAppend(t, store, created(gone, nil))
		mustAppend(t, store, deleted(gone))
		for _, k := range []eventlog.SessionKey{key("nope", "user", "s1"), key("app", "user", "nope"), key("app", "nope", "s1"), gone, {}} {
			_, err := store.Load(ctx, k, eventlog.LoadOptions{})
			require.ErrorIs(t, err, eventlog.ErrNotFound, k.String())
		}
	})
	t.Run("options no store accepts give ErrInvalidArgument", func(t *testing.T) {
		for _, opts := range []eventlog.LoadOptions{{NumRecentEvents: -1}, {Limit: -1}} {
			_, err := store.Load(ctx, k, opts)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		}
	})
	t.Run("a cancelled context is reported", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := store.Load(cctx, k, eventlog.LoadOptions{})
		require.ErrorIs(t, err, context.Canceled)
		_, err = store.Append(cctx, appended(k, 10, "e10", nil))
		require.ErrorIs(t, err, context.Canceled)
		_, err = store.List(cctx, "app", "", eventlog.ListOptions{Limit: 1})
		require.ErrorIs(t, err, context.Canceled)
		_, _, err = store.Read(cctx, eventlog.Scope{AppName: "app"}, 0, 10)
		require.ErrorIs(t, err, context.Canceled)
	})
}

// CONTRACT L1 L2: List gives the views of an app's or a user's live
// sessions by user ID, then session ID, in byte order, after a cursor, at
// most limit, without events.
func TestList(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	keys := []eventlog.SessionKey{
		key("app", "b", "1"), key("app", "a", "z"), key("app", "a", "B"), key("app", "a", "b"),
		key("app", "a", "ä"), key("app", "a", "a\x00"), key("app", "a", "a"), key("app", "A", "x"),
		key("app", "a:b", "c"), key("app2", "a", "a"),
	}
	for _, k := range keys {
		mustAppend(t, store, created(k, map[string]any{"id": k.UserID + "/" + k.SessionID, "app:n": len(k.SessionID)}))
	}
	mustAppend(t, store, appended(key("app", "a", "b"), 1, "e1", map[string]any{"user:seen": true}))
	mustAppend(t, store, created(key("app", "a", "deleted"), nil))
	mustAppend(t, store, deleted(key("app", "a", "deleted")))

	ids := func(vs []eventlog.View) []string {
		out := []string{}
		for _, v := range vs {
			id := v.Key.UserID + "/" + v.Key.SessionID
			out = append(out, id)
			assert.Equal(t, id, v.State["id"], "each view carries its own state")
			assert.Nil(t, v.Events, "a listing carries no events")
			assert.Equal(t, load(t, store, v.Key).State, v.State)
		}
		return out
	}
	tests := []struct {
		name               string
		app, user          string
		afterUser, afterID string
		limit              int
		want               []string
	}{
		{"every user's sessions sort by user, then session ID, in byte order", "app", "", "", "", 100,
			[]string{"A/x", "a/B", "a/a", "a/a\x00", "a/b", "a/z", "a/ä", "a:b/c", "b/1"}},
		{"one user's sessions only", "app", "a", "", "", 100,
			[]string{"a/B", "a/a", "a/a\x00", "a/b", "a/z", "a/ä"}},
		{"a user whose ID is a prefix of another's sees only its own", "app", "a:b", "", "", 100, []string{"a:b/c"}},
		{"the limit cuts the list", "app", "", "", "", 3, []string{"A/x", "a/B", "a/a"}},
		{"the cursor starts after the pair it names", "app", "", "a", "a", 3, []string{"a/a\x00", "a/b", "a/z"}},
		{"the cursor may name a session that does not exist", "app", "", "a", "c", 100, []string{"a/z", "a/ä", "a:b/c", "b/1"}},
		{"the cursor's user ID counts before its session ID", "app", "", "a", "\xff", 100, []string{"a:b/c", "b/1"}},
		{"a cursor with a user and no session starts at that user", "app", "", "a:b", "", 100, []string{"a:b/c", "b/1"}},
		{"a cursor within one user", "app", "a", "a", "b", 100, []string{"a/z", "a/ä"}},
		{"a cursor before the user starts at the user's first", "app", "a", "A", "zzz", 2, []string{"a/B", "a/a"}},
		{"a cursor past the user gives nothing", "app", "a", "b", "", 100, []string{}},
		{"a cursor past the end gives nothing", "app", "", "z", "", 100, []string{}},
		{"an unknown app gives nothing", "nope", "", "", "", 100, []string{}},
		{"an unknown user gives nothing", "app", "nope", "", "", 100, []string{}},
		{"another app lists only its own", "app2", "", "", "", 100, []string{"a/a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.List(ctx, tt.app, tt.user, eventlog.ListOptions{AfterUser: tt.afterUser, AfterSession: tt.afterID, Limit: tt.limit})
			require.NoError(t, err)
			assert.Equal(t, tt.want, ids(got))
		})
	}
	t.Run("paging with the last key of each page visits every session once", func(t *testing.T) {
		var got []string
		opts := eventlog.ListOptions{Limit: 2}
		for {
			page, err := store.List(ctx, "app", "", opts)
			require.NoError(t, err)
			if len(page) == 0 {
				break
			}
			got = append(got, ids(page)...)
			last := page[len(page)-1].Key
			opts.AfterUser, opts.AfterSession = last.UserID, last.SessionID
		}
		assert.Equal(t, tests[0].want, got)
	})
	t.Run("a view carries what Load serves but events", func(t *testing.T) {
		page, err := store.List(ctx, "app", "a", eventlog.ListOptions{AfterUser: "a", AfterSession: "a\x00", Limit: 1})
		require.NoError(t, err)
		require.Len(t, page, 1)
		want := load(t, store, key("app", "a", "b"))
		want.Events = nil
		assert.Equal(t, want, page[0])
		assert.Equal(t, uint64(1), page[0].Version)
		assert.Equal(t, true, page[0].State["user:seen"])
	})
	t.Run("a view's state is the caller's", func(t *testing.T) {
		page, err := store.List(ctx, "app", "b", eventlog.ListOptions{Limit: 1})
		require.NoError(t, err)
		page[0].State["id"] = "changed"
		assert.Equal(t, "b/1", load(t, store, key("app", "b", "1")).State["id"])
	})
	t.Run("no app name or a limit that is not positive gives ErrInvalidArgument", func(t *testing.T) {
		for _, c := range []struct {
			app   string
			limit int
		}{{"", 10}, {"app", 0}, {"app", -1}} {
			_, err := store.List(ctx, c.app, "", eventlog.ListOptions{Limit: c.limit})
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		}
	})
	requireVerified(t, store)
}

// CONTRACT L2: sessions created and deleted while a walk pages through the
// listing (and so between a page's pick and its views) never make the walk
// skip or repeat a session that lives through it, and never shorten a page
// while more sessions follow.
func TestListUnderChurn(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	var stable []string
	for i := range 20 {
		id := fmt.Sprintf("s%02d", i)
		mustAppend(t, store, created(key("app", "u", id), nil))
		stable = append(stable, "u/"+id)
	}
	done := make(chan struct{})
	churned := make(chan error, 1)
	go func() {
		defer close(churned)
		for n := 0; ; n++ {
			select {
			case <-done:
				return
			default:
			}
			k := key("app", "u", fmt.Sprintf("s%02d-churn", n%20)) // sorts between the stable ones
			if _, err := store.Append(ctx, created(k, nil)); err == nil {
				if _, err := store.Append(ctx, deleted(k)); err != nil {
					churned <- err
					return
				}
			}
		}
	}()
	defer func() {
		close(done)
		require.NoError(t, <-churned)
	}()
	for range 200 {
		var got []string
		opts := eventlog.ListOptions{Limit: 3}
		for {
			page, err := store.List(ctx, "app", "u", opts)
			require.NoError(t, err)
			for _, v := range page {
				if len(v.Key.SessionID) == 3 {
					got = append(got, v.Key.UserID+"/"+v.Key.SessionID)
				}
			}
			if len(page) < 3 {
				break
			}
			opts.AfterUser, opts.AfterSession = page[2].Key.UserID, page[2].Key.SessionID
		}
		require.Equal(t, stable, got)
	}
}

// CONTRACT G3 A4: a view's merged state is served from a cache; every
// write that changes what the view shows (the session's own append,
// another session's app: or user: write, a creation or a retained record
// carrying app state) reaches the next Load.
func TestLoadSeesEveryChangeAfterACachedRead(t *testing.T) {
	k := key("app", "user", "s1")
	other := key("app", "user", "s2")
	otherUser := key("app", "someone", "s3")
	store := memstore.New()
	mustAppend(t, store, created(k, map[string]any{"own": 1, "app:a": 1, "user:u": 1}))
	mustAppend(t, store, created(otherUser, nil))
	want := map[string]any{"own": 1, "app:a": 1, "user:u": 1}
	seq := map[eventlog.SessionKey]uint64{}
	add := func(k eventlog.SessionKey, delta map[string]any) {
		t.Helper()
		seq[k]++
		mustAppend(t, store, appended(k, seq[k], fmt.Sprint("e", seq[k]), delta))
	}
	tests := []struct {
		name   string
		change func()
		set    map[string]any // nil values: the key is gone
	}{
		{"an append of its own", func() { add(k, map[string]any{"own": 2}) }, map[string]any{"own": 2}},
		{"another session's app write", func() {
			mustAppend(t, store, created(other, nil))
			add(other, map[string]any{"app:a": 2, "mine": 1})
		}, map[string]any{"app:a": 2}},
		{"another session's user write", func() { add(other, map[string]any{"user:u": 2}) }, map[string]any{"user:u": 2}},
		{"another user's write of their own user state", func() { add(otherUser, map[string]any{"user:u": "not mine"}) }, nil},
		{"a creation with app state", func() { mustAppend(t, store, created(key("app", "user", "s4"), map[string]any{"app:new": true})) },
			map[string]any{"app:new": true}},
		{"a removal", func() { add(other, map[string]any{"app:new": projection.Removed}) }, map[string]any{"app:new": nil}},
		{"a removal by its JSON string", func() { add(other, map[string]any{"user:u": projection.RemovedJSON}) }, map[string]any{"user:u": nil}},
		{"a nested value", func() { add(k, map[string]any{"n": map[string]any{"x": 1}}) }, map[string]any{"n": map[string]any{"x": 1}}},
		{"a retained record", func() { mustAppend(t, store, retained(key("app", "user", ""), map[string]any{"user:r": 1})) },
			map[string]any{"user:r": 1}},
		{"a temp: write, which changes nothing", func() { add(k, map[string]any{"temp:t": 1}) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name+" reaches the next Load", func(t *testing.T) {
			require.Equal(t, want, load(t, store, k).State, "before") // fills the cache
			tt.change()
			for key, v := range tt.set {
				if v == nil {
					delete(want, key)
				} else {
					want[key] = v
				}
			}
			require.Equal(t, want, load(t, store, k).State, "after")
		})
	}
	v := load(t, store, k)
	v.State["n"].(map[string]any)["x"] = 99 // the cached copy must not change
	require.Equal(t, want, load(t, store, k).State)
	requireVerified(t, store)
}

// CONTRACT A4: a concurrent Load sees all of an append or none of it:
// every key the append writes, in every scope, with the version.
func TestLoadSeesAllOfAnAppendOrNone(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	k := key("app", "u", "writer")
	reader := key("app", "u", "reader")
	mustAppend(t, store, created(k, map[string]any{"a": 0, "b": 0, "app:c": 0, "user:d": 0}))
	mustAppend(t, store, created(reader, nil))
	const n = 2000
	done := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if _, err := store.Append(ctx, appended(k, uint64(i), fmt.Sprint("e", i), map[string]any{"a": i, "b": i, "app:c": i, "user:d": i})); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for running := true; running; {
		select {
		case err := <-done:
			require.NoError(t, err)
			running = false
		default:
		}
		v := load(t, store, k)
		want := int(v.Version)
		require.Equal(t, map[string]any{"a": want, "b": want, "app:c": want, "user:d": want}, v.State, "a view of the writer")
		require.Len(t, v.Events, want)
		r := load(t, store, reader).State
		require.Equal(t, r["app:c"], r["user:d"], "a view of another session sees both shared writes or neither")
	}
	requireVerified(t, store)
}

// CONTRACT A4 S1 S2: no reader finds a record in the log before its state:
// a follower of the app that loads each record's session sees the record
// folded (the creation's session exists, the event's version and state are
// there).
func TestReadersNeverSeeARecordBeforeItsState(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memstore.New()
	const writers, events = 4, 200
	followed := make(chan error, 1)
	go func() {
		defer close(followed)
		seen := 0
		for rec, err := range eventlog.Follow(ctx, store, eventlog.Scope{AppName: "app"}, 0) {
			if err != nil {
				followed <- err
				return
			}
			v, err := store.Load(ctx, rec.Key, eventlog.LoadOptions{NoEvents: true})
			if err != nil {
				followed <- fmt.Errorf("load %s after its %s record: %w", rec.Key, rec.Kind, err)
				return
			}
			if rec.Kind == eventlog.KindEventAppended {
				if v.Version < rec.Seq || v.State["n"].(int) < int(rec.Seq) || v.State["app:"+rec.Key.SessionID].(int) < int(rec.Seq) {
					followed <- fmt.Errorf("record %d of %s (seq %d) read before its state: %v at version %d", rec.Position, rec.Key, rec.Seq, v.State, v.Version)
					return
				}
			}
			if seen++; seen == writers*(events+1) {
				return
			}
		}
	}()
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			k := key("app", fmt.Sprint("u", w%2), fmt.Sprint("s", w))
			if _, err := store.Append(ctx, created(k, map[string]any{"n": 0, "app:" + k.SessionID: 0})); err != nil {
				errs <- err
				return
			}
			for i := 1; i <= events; i++ {
				if _, err := store.Append(ctx, appended(k, uint64(i), fmt.Sprint(i), map[string]any{"n": i, "app:" + k.SessionID: i})); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		require.NoError(t, <-errs)
	}
	select {
	case err := <-followed:
		require.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("the follower did not see every record")
	}
}

// CONTRACT S3 Z1: after Close every call gives ErrClosed, and Close may be
// called again.
func TestClose(t *testing.T) {
	ctx := context.Background()
	k := key("app", "user", "s1")
	store := memstore.New()
	mustAppend(t, store, created(k, nil))
	require.NoError(t, store.Close())
	require.NoError(t, store.Close(), "closing twice is fine")

	calls := []struct {
		name string
		call func() error
	}{
		{"Append", func() error { _, err := store.Append(ctx, appended(k, 1, "e", nil)); return err }},
		{"Append of a creation", func() error { _, err := store.Append(ctx, created(key("app", "u", "new"), nil)); return err }},
		{"Append of a deletion", func() error { _, err := store.Append(ctx, deleted(k)); return err }},
		{"Append of a retained record", func() error { _, err := store.Append(ctx, retained(k, nil)); return err }},
		{"Load", func() error { _, err := store.Load(ctx, k, eventlog.LoadOptions{}); return err }},
		{"List", func() error { _, err := store.List(ctx, "app", "", eventlog.ListOptions{Limit: 1}); return err }},
		{"Read of a session", func() error { _, _, err := store.Read(ctx, eventlog.SessionScope(k, 0), 0, 1); return err }},
		{"Read of an app", func() error { _, _, err := store.Read(ctx, eventlog.Scope{AppName: "app"}, 0, 1); return err }},
		{"Read of the whole store", func() error { _, _, err := store.Read(ctx, eventlog.Scope{}, 0, 1); return err }},
	}
	for _, c := range calls {
		t.Run(c.name+" after Close gives ErrClosed", func(t *testing.T) {
			require.ErrorIs(t, c.call(), eventlog.ErrClosed)
		})
	}
	t.Run("a store closed before any use gives ErrClosed", func(t *testing.T) {
		fresh := memstore.New()
		require.NoError(t, fresh.Close())
		_, _, err := fresh.Read(ctx, eventlog.Scope{}, 0, 1)
		require.ErrorIs(t, err, eventlog.ErrClosed)
		assert.True(t, isClosed(fresh.Changes(eventlog.Scope{AppName: "x"})))
	})
}

// CONTRACT Z1 S3: closing the store while a watched session is being
// deleted ends the watcher once, without closing its channel twice.
func TestCloseWhileDeletingAWatchedSession(t *testing.T) {
	ctx := context.Background()
	for round := range 20 {
		store := memstore.New()
		k := key("app", "u", fmt.Sprint("s", round))
		mustAppend(t, store, created(k, nil))
		for i := range 2000 {
			mustAppend(t, store, appended(k, uint64(i+1), fmt.Sprint("e", i), map[string]any{"app:a": i}))
		}
		watching := store.Changes(eventlog.SessionScope(k, 0))
		gone := make(chan error, 1)
		go func() {
			_, err := store.Append(ctx, deleted(k))
			gone <- err
		}()
		require.NotPanics(t, func() { require.NoError(t, store.Close()) })
		if err := <-gone; err != nil {
			require.ErrorIs(t, err, eventlog.ErrClosed)
		}
		select {
		case <-watching:
		case <-time.After(waitLimit):
			t.Fatal("the watcher was not woken")
		}
	}
}

// errorsAs is errors.As for a target type.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
