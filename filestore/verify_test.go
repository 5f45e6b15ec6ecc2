package filestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/projection"
)

var verifyTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// appendAll appends each record to store, waits until it is durable and
// fails the test on any error. It returns the results.
func appendAll(t testing.TB, store eventlog.Store, recs ...*eventlog.Record) []eventlog.AppendResult {
	t.Helper()
	var out []eventlog.AppendResult
	for _, rec := range recs {
		res, err := store.Append(context.Background(), rec)
		require.NoError(t, err, "append %s of %s", rec.Kind, rec.Key)
		require.NoError(t, res.Wait())
		out = append(out, res)
	}
	return out
}

// writeRecords appends, straight to the store, a bit of every kind of
// record: creations and events writing app:, user: and session state,
// Removed keys, an event whose sequence number the store chooses, a
// duplicate, a deletion and a re-creation, and an imported state record,
// in two apps.
func writeRecords(t testing.TB, store eventlog.Store) {
	t.Helper()
	at := func(i int) time.Time { return verifyTime.Add(time.Duration(i) * time.Second) }
	n := 0
	event := func(k eventlog.SessionKey, seq uint64, delta map[string]any) *eventlog.Record {
		n++
		return &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Time: at(n),
			Event: &eventlog.Event{ID: fmt.Sprint("e", n), Author: "agent", Timestamp: at(n),
				Actions: eventlog.EventActions{StateDelta: delta}}}
	}
	for _, app := range []string{"weather", "news"} {
		for i := range 3 {
			k := eventlog.SessionKey{AppName: app, UserID: fmt.Sprint("u", i%2), SessionID: fmt.Sprint("s", i)}
			n++
			appendAll(t, store, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: at(n),
				State: map[string]any{"app:model": "m" + app, "user:lang": "en", "n": i}})
			for j := range 3 {
				appendAll(t, store,
					event(k, uint64(2*j+1), map[string]any{"n": j, "user:seen": j, "app:hits": i*10 + j, "gone": "soon"}),
					event(k, uint64(2*j+2), map[string]any{"gone": projection.Removed, "user:seen": projection.Removed}))
			}
			// An event the store puts after whatever the session holds.
			res := appendAll(t, store, event(k, 0, map[string]any{"last": true}))
			require.Equal(t, uint64(7), res[0].Record.Seq)
		}
		k := eventlog.SessionKey{AppName: app, UserID: "u1", SessionID: "s1"}
		dup := event(k, 8, nil)
		held, err := store.Load(context.Background(), k, eventlog.LoadOptions{Limit: 1})
		require.NoError(t, err)
		dup.Event.ID = held.Events[0].ID
		res := appendAll(t, store, dup)
		require.True(t, res[0].Duplicate, "an event whose ID the session holds is a duplicate")

		n++
		appendAll(t, store, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: at(n)})
		n++
		appendAll(t, store, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: at(n),
			State: map[string]any{"again": true}})
		appendAll(t, store, event(k, 1, map[string]any{"app:hits": -1}))
		n++
		appendAll(t, store, &eventlog.Record{Kind: eventlog.KindStateRetained, Time: at(n),
			Key:   eventlog.SessionKey{AppName: app, UserID: "u0", SessionID: "imported"},
			State: map[string]any{"app:imported": 1, "user:imported": "yes"}})
	}
}

// served is what a store serves, as JSON so that values compare the same
// however they were read (an int written, a float64 replayed): the whole
// log, and every live session's view, through List and through Load with
// its events.
func served(t testing.TB, store eventlog.Store) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	add := func(v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	apps := map[string]bool{}
	var after eventlog.Position
	for {
		recs, through, err := store.Read(ctx, eventlog.Scope{}, after, 100)
		require.NoError(t, err)
		if len(recs) == 0 {
			break
		}
		for _, rec := range recs {
			add(rec)
			apps[rec.Key.AppName] = true
		}
		after = through
	}
	for _, app := range []string{"news", "weather"} {
		require.True(t, apps[app], "the log holds app %s", app)
		views, err := store.List(ctx, app, "", eventlog.ListOptions{Limit: 1000})
		require.NoError(t, err)
		require.NotEmpty(t, views)
		for _, v := range views {
			add(v)
			full, err := store.Load(ctx, v.Key, eventlog.LoadOptions{})
			require.NoError(t, err)
			add(full)
		}
	}
	return out
}

// CONTRACT R1 R2: a reopened file store, a read-only one and a compacted
// one serve exactly the state a rebuild of their log gives
// (projection.Verify), and the same log, positions and views as the store
// that wrote it; appends after a restart keep it so.
func TestStateVerifiesAfterRestart(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []filestore.SyncPolicy{filestore.SyncAlways, filestore.SyncInterval, filestore.SyncOS} {
		t.Run("under sync policy "+policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			store := open(t, dir, filestore.Options{Sync: policy})
			writeRecords(t, store)
			require.NoError(t, projection.Verify(ctx, store))
			want := served(t, store)
			recs, _, err := store.Read(ctx, eventlog.Scope{}, 0, 1000)
			require.NoError(t, err)
			last := recs[len(recs)-1].Position
			require.NoError(t, store.Close())

			store = open(t, dir, filestore.Options{Sync: policy})
			require.NoError(t, projection.Verify(ctx, store), "the reopened store")
			require.Equal(t, want, served(t, store), "the reopened store serves something else")
			k := eventlog.SessionKey{AppName: "news", UserID: "u0", SessionID: "s0"}
			res := appendAll(t, store, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: 8, Time: verifyTime,
				Event: &eventlog.Event{ID: "after-restart", Timestamp: verifyTime,
					Actions: eventlog.EventActions{StateDelta: map[string]any{"app:model": "new", "user:lang": projection.Removed}}}})
			require.Greater(t, res[0].Record.Position, last, "an append after a restart follows the replayed positions")
			require.NoError(t, projection.Verify(ctx, store), "after an append to the reopened store")
			want = served(t, store)
			require.NoError(t, store.Close())

			reader := open(t, dir, filestore.Options{ReadOnly: true})
			require.NoError(t, projection.Verify(ctx, reader), "the read-only store")
			require.Equal(t, want, served(t, reader))
			require.NoError(t, reader.Close())

			_, err = filestore.Compact(ctx, dir)
			require.NoError(t, err)
			store = open(t, dir, filestore.Options{Sync: policy})
			defer store.Close()
			require.NoError(t, projection.Verify(ctx, store), "the compacted store")
			require.Equal(t, want, served(t, store), "the compacted store serves something else")
		})
	}
}

// CONTRACT B1: a read-only store refuses every append with ErrReadOnly,
// before it checks the record's conditions, and serves what it read.
func TestReadOnlyRefusesEveryAppend(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := open(t, dir, filestore.Options{})
	writeRecords(t, store)
	require.NoError(t, store.Close())
	size := fileSize(t, dir)

	reader := open(t, dir, filestore.Options{ReadOnly: true})
	defer reader.Close()
	want := served(t, reader)
	live := eventlog.SessionKey{AppName: "news", UserID: "u0", SessionID: "s0"}
	for name, rec := range map[string]*eventlog.Record{
		"a creation":                    {Kind: eventlog.KindSessionCreated, Key: eventlog.SessionKey{AppName: "news", UserID: "u0", SessionID: "new"}},
		"an event":                      {Kind: eventlog.KindEventAppended, Key: live, Seq: 8, Event: &eventlog.Event{ID: "x"}},
		"an event of a missing session": {Kind: eventlog.KindEventAppended, Key: eventlog.SessionKey{AppName: "news", UserID: "u0", SessionID: "none"}, Seq: 1, Event: &eventlog.Event{ID: "x"}},
		"a deletion":                    {Kind: eventlog.KindSessionDeleted, Key: live},
	} {
		_, err := reader.Append(ctx, rec)
		require.ErrorIs(t, err, filestore.ErrReadOnly, name)
	}
	require.Equal(t, want, served(t, reader), "a refused append changed what the store serves")
	require.Equal(t, size, fileSize(t, dir))
}
