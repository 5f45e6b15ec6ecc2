package eventlog_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT A1 C1 A6: the journal sees each record that passes its
// conditions, once, with its position, and a journal failure stores and
// publishes nothing.
func TestMemoryAppendJournaled(t *testing.T) {
	ctx := context.Background()
	k := memKey("app", "u", "s")
	boom := errors.New("disk full")

	t.Run("the journal gets each stored record with its position and not the rejected ones", func(t *testing.T) {
		store := eventlog.NewMemory()
		var got []eventlog.Position
		journal := func(rec *eventlog.Record) error {
			got = append(got, rec.Position)
			return nil
		}
		for _, rec := range []*eventlog.Record{memCreated(k, nil), memAppended(k, 1, "e1", nil), memDeleted(k)} {
			_, err := store.AppendJournaled(ctx, rec, journal)
			require.NoError(t, err)
		}
		_, err := store.AppendJournaled(ctx, memAppended(k, 1, "e1", nil), journal)
		require.ErrorIs(t, err, eventlog.ErrNotFound, "the session is deleted")
		require.Equal(t, []eventlog.Position{1, 2, 3}, got)
	})

	t.Run("a duplicate event or a stale append does not reach the journal", func(t *testing.T) {
		store := eventlog.NewMemory()
		memAppend(t, store, memCreated(k, nil))
		memAppend(t, store, memAppended(k, 1, "e1", nil))
		calls := 0
		journal := func(*eventlog.Record) error { calls++; return nil }
		_, err := store.AppendJournaled(ctx, memAppended(k, 2, "e1", nil), journal)
		require.ErrorIs(t, err, eventlog.ErrDuplicateEvent)
		_, err = store.AppendJournaled(ctx, memAppended(k, 1, "e2", nil), journal)
		require.ErrorIs(t, err, eventlog.ErrStaleSession)
		require.Zero(t, calls)
	})

	for _, rec := range []*eventlog.Record{memCreated(memKey("app", "u", "new"), nil), memAppended(k, 2, "e2", nil), memDeleted(k),
		{Kind: eventlog.KindStateRetained, Key: k, State: map[string]any{"app:x": 1}}} {
		t.Run(fmt.Sprintf("a failing journal stores nothing for a %s record", rec.Kind), func(t *testing.T) {
			store := eventlog.NewMemory()
			memAppend(t, store, memCreated(k, nil))
			memAppend(t, store, memAppended(k, 1, "e1", map[string]any{"app:a": 1}))
			before := memReadAll(t, store, eventlog.Scope{})
			changed := store.Changes(eventlog.Scope{AppName: "app"})
			_, err := store.AppendJournaled(ctx, rec, func(*eventlog.Record) error { return boom })
			require.ErrorIs(t, err, boom)
			require.Equal(t, before, memReadAll(t, store, eventlog.Scope{}))
			sess, err := store.Session(ctx, k)
			require.NoError(t, err, "the session survives a failed deletion")
			require.Equal(t, uint64(1), sess.Version())
			select {
			case <-changed:
				t.Fatal("a failed append woke the app's readers")
			default:
			}
			next := memAppend(t, store, memCreated(memKey("app", "u", "later"), nil))
			require.Greater(t, next.Position, before[len(before)-1].Position+1, "the failed record's position is not used again")
		})
	}
}

// CONTRACT R1 D3: restoring a journal's records at their positions gives the
// store the appends made, deletions included, and later appends continue
// after the highest position.
func TestMemoryRestore(t *testing.T) {
	ctx := context.Background()
	a, b := memKey("a", "u", "s"), memKey("b", "u", "s")
	source := eventlog.NewMemory()
	var journal []*eventlog.Record
	keep := func(rec *eventlog.Record) error { journal = append(journal, rec); return nil }
	for _, rec := range []*eventlog.Record{
		memCreated(a, map[string]any{"app:x": 1}), memCreated(b, nil),
		memAppended(a, 1, "e1", map[string]any{"user:y": 2, "own": 3}), memAppended(b, 1, "e1", nil),
		memDeleted(a), memCreated(a, nil),
	} {
		_, err := source.AppendJournaled(ctx, rec, keep)
		require.NoError(t, err)
	}

	t.Run("a journal restored in order gives the same log", func(t *testing.T) {
		restored := eventlog.NewMemory()
		for _, rec := range journal {
			require.NoError(t, restored.Restore(rec))
		}
		require.Equal(t, memReadAll(t, source, eventlog.Scope{}), memReadAll(t, restored, eventlog.Scope{}))
		next := memAppend(t, restored, memAppended(b, 2, "e2", nil))
		require.Equal(t, journal[len(journal)-1].Position+1, next.Position)
	})

	t.Run("apps may be restored out of position order with one another", func(t *testing.T) {
		restored := eventlog.NewMemory()
		for _, app := range []string{"b", "a"} {
			for _, rec := range journal {
				if rec.Key.AppName == app {
					require.NoError(t, restored.Restore(rec))
				}
			}
		}
		require.Equal(t, memReadAll(t, source, eventlog.Scope{}), memReadAll(t, restored, eventlog.Scope{}))
	})

	t.Run("a compacted journal restores deletions whose sessions it dropped", func(t *testing.T) {
		restored := eventlog.NewMemory()
		for _, rec := range memReadAll(t, source, eventlog.Scope{}) {
			require.NoError(t, restored.Restore(rec))
		}
		require.Equal(t, memReadAll(t, source, eventlog.Scope{}), memReadAll(t, restored, eventlog.Scope{}))
	})

	bad := []struct {
		name string
		recs []*eventlog.Record
		want error
	}{
		{"a position that is not after the app's last is rejected", []*eventlog.Record{
			{Position: 5, Kind: eventlog.KindSessionCreated, Key: a},
			{Position: 5, Kind: eventlog.KindSessionCreated, Key: memKey("a", "u", "t")},
		}, eventlog.ErrInvalidArgument},
		{"position 0 is rejected", []*eventlog.Record{{Kind: eventlog.KindSessionCreated, Key: a}}, eventlog.ErrInvalidArgument},
		{"a sequence gap is rejected", []*eventlog.Record{
			{Position: 1, Kind: eventlog.KindSessionCreated, Key: a},
			withPosition(memAppended(a, 2, "e", nil), 2),
		}, eventlog.ErrStaleSession},
		{"an event of a missing session is rejected", []*eventlog.Record{withPosition(memAppended(a, 1, "e", nil), 1)}, eventlog.ErrNotFound},
		{"a repeated event ID is rejected", []*eventlog.Record{
			{Position: 1, Kind: eventlog.KindSessionCreated, Key: a},
			withPosition(memAppended(a, 1, "e", nil), 2),
			withPosition(memAppended(a, 2, "e", nil), 3),
		}, eventlog.ErrInvalidArgument},
		{"a second creation is rejected", []*eventlog.Record{
			{Position: 1, Kind: eventlog.KindSessionCreated, Key: a},
			{Position: 2, Kind: eventlog.KindSessionCreated, Key: a},
		}, eventlog.ErrAlreadyExists},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			restored := eventlog.NewMemory()
			var err error
			for _, rec := range c.recs {
				if err = restored.Restore(rec); err != nil {
					break
				}
			}
			require.ErrorIs(t, err, c.want)
		})
	}

	t.Run("a closed store restores nothing", func(t *testing.T) {
		restored := eventlog.NewMemory()
		require.NoError(t, restored.Close())
		require.ErrorIs(t, restored.Restore(journal[0]), eventlog.ErrClosed)
	})
}

func withPosition(rec *eventlog.Record, pos eventlog.Position) *eventlog.Record {
	rec.Position = pos
	return rec
}

// CONTRACT Z1: concurrent appenders to several apps hand each app's records
// to the journal in position order.
func TestMemoryJournalOrderPerApp(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	var mu sync.Mutex
	last := map[string]eventlog.Position{}
	journal := func(rec *eventlog.Record) error {
		mu.Lock()
		defer mu.Unlock()
		assert.Greater(t, rec.Position, last[rec.Key.AppName], "app %s journaled out of order", rec.Key.AppName)
		last[rec.Key.AppName] = rec.Position
		return nil
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			k := memKey(fmt.Sprint("app", w%3), "u", fmt.Sprint("s", w))
			_, err := store.AppendJournaled(ctx, memCreated(k, nil), journal)
			assert.NoError(t, err)
			for i := range 200 {
				_, err := store.AppendJournaled(ctx, memAppended(k, uint64(i+1), fmt.Sprint("e", i), nil), journal)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
}
