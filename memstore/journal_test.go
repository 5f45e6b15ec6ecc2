package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
)

// journal is a Journal in memory: it keeps what it is written, replays
// what it is given, and fails when told to.
type journal struct {
	mu      sync.Mutex
	written []*eventlog.Record
	// fail, when set, is the error of every Write.
	fail error
	// durable, when set, is handed out by every Write.
	durable func() error
	// replay is what Replay restores, and replayErr what it returns
	// afterwards.
	replay    []*eventlog.Record
	replayErr error
	// restore is the function Replay was given.
	restore func(*eventlog.Record) error
	// onWrite, when set, is called with each record written.
	onWrite func(*eventlog.Record)
	// batches counts the calls of WriteBatch that wrote.
	batches int
}

func (j *journal) Replay(ctx context.Context, restore func(*eventlog.Record) error) error {
	j.restore = restore
	for _, rec := range j.replay {
		if err := restore(rec); err != nil {
			return err
		}
	}
	return j.replayErr
}

func (j *journal) Write(rec *eventlog.Record) (func() error, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return nil, j.fail
	}
	if j.onWrite != nil {
		j.onWrite(rec)
	}
	j.written = append(j.written, rec)
	return j.durable, nil
}

// WriteBatch records the batch's records, or fails with j.fail, writing
// none of them.
func (j *journal) WriteBatch(recs []*eventlog.Record) (func() error, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.fail != nil {
		return nil, j.fail
	}
	for _, rec := range recs {
		if j.onWrite != nil {
			j.onWrite(rec)
		}
		j.written = append(j.written, rec)
	}
	j.batches++
	return j.durable, nil
}

func (j *journal) positions() []eventlog.Position {
	j.mu.Lock()
	defer j.mu.Unlock()
	return positions(j.written)
}

// open opens a store over j and fails the test on an error.
func open(t *testing.T, j *journal) *memstore.Store {
	t.Helper()
	store, err := memstore.Open(context.Background(), memstore.Options{Journal: j})
	require.NoError(t, err)
	return store
}

// CONTRACT A1 C1 A6 A7: the journal is written each record that passes
// its conditions, once, with its position and sequence number; a journal
// failure stores and publishes nothing; the durability wait reaches the
// caller.
func TestJournalWrite(t *testing.T) {
	ctx := context.Background()
	k := key("app", "u", "s")
	boom := errors.New("disk full")

	t.Run("the journal gets each stored record with its position and not the rejected ones", func(t *testing.T) {
		j := &journal{}
		store := open(t, j)
		for _, rec := range []*eventlog.Record{created(k, nil), appended(k, 0, "e1", nil), retained(key("app", "", ""), nil), deleted(k)} {
			mustAppend(t, store, rec)
		}
		_, err := store.Append(ctx, appended(k, 1, "e1", nil))
		require.ErrorIs(t, err, eventlog.ErrNotFound, "the session is deleted")
		require.Equal(t, []eventlog.Position{1, 2, 3, 4}, j.positions())
		assert.Equal(t, uint64(1), j.written[1].Seq, "the sequence number is set before the record is written")
	})
	t.Run("a duplicate event or a stale append does not reach the journal", func(t *testing.T) {
		j := &journal{}
		store := open(t, j)
		mustAppend(t, store, created(k, nil))
		mustAppend(t, store, appended(k, 1, "e1", nil))
		res, err := store.Append(ctx, appended(k, 2, "e1", nil))
		require.NoError(t, err)
		require.True(t, res.Duplicate)
		_, err = store.Append(ctx, appended(k, 1, "e2", nil))
		require.ErrorIs(t, err, eventlog.ErrStaleSession)
		_, err = store.Append(ctx, created(k, nil))
		require.ErrorIs(t, err, eventlog.ErrAlreadyExists)
		require.Len(t, j.positions(), 2)
	})

	for _, rec := range []*eventlog.Record{created(key("app", "u", "new"), map[string]any{"app:x": 2}), appended(k, 2, "e2", map[string]any{"app:a": 2}),
		appended(k, 0, "e2", map[string]any{"own": 2}), deleted(k), retained(k, map[string]any{"app:x": 1})} {
		t.Run(fmt.Sprintf("a failing journal stores nothing for a %s record with seq %d", rec.Kind, rec.Seq), func(t *testing.T) {
			j := &journal{}
			store := open(t, j)
			mustAppend(t, store, created(k, nil))
			mustAppend(t, store, appended(k, 1, "e1", map[string]any{"app:a": 1}))
			before := readAll(t, store, eventlog.Scope{})
			snap := store.Snapshot()
			appChanged := store.Changes(eventlog.Scope{AppName: "app"})
			sessionChanged := store.Changes(eventlog.SessionScope(k, 0))
			seq := rec.Seq
			j.fail = boom
			res, err := store.Append(ctx, rec)
			require.ErrorIs(t, err, boom)
			assert.Nil(t, res.Record)
			assert.Zero(t, rec.Position, "the record has no position")
			assert.Equal(t, seq, rec.Seq, "the record's sequence number is as it was")
			require.Equal(t, before, readAll(t, store, eventlog.Scope{}))
			require.Equal(t, snap, store.Snapshot(), "a failed append changed the state")
			v := load(t, store, k)
			require.Equal(t, uint64(1), v.Version, "the session survives a failed deletion")
			assert.False(t, isClosed(appChanged), "a failed append woke the app's readers")
			assert.False(t, isClosed(sessionChanged), "a failed append woke the session's readers")
			_, _, err = store.Read(ctx, eventlog.Scope{AppName: "app"}, 0, 10)
			require.NoError(t, err, "a failed deletion frees nothing")

			j.fail = nil
			next := mustAppend(t, store, created(key("app", "u", "later"), nil))
			require.Greater(t, next.Position, before[len(before)-1].Position+1, "the failed record's position is not used again")
			requireVerified(t, store)
		})
	}

	t.Run("the journal's durability wait is the append's", func(t *testing.T) {
		waits := 0
		j := &journal{durable: func() error { waits++; return boom }}
		store := open(t, j)
		for _, rec := range []*eventlog.Record{created(k, nil), appended(k, 1, "e1", nil), retained(k, nil)} {
			res, err := store.Append(ctx, rec)
			require.NoError(t, err)
			require.ErrorIs(t, res.Wait(), boom)
		}
		assert.Equal(t, 3, waits)

		j.durable = nil
		res, err := store.Append(ctx, appended(k, 2, "e2", nil))
		require.NoError(t, err)
		assert.Nil(t, res.Durable)
		require.NoError(t, res.Wait())
	})
	t.Run("a duplicate waits for the durability of the session's last record", func(t *testing.T) {
		j := &journal{}
		store := open(t, j)
		mustAppend(t, store, created(k, nil))
		j.durable = func() error { return boom }
		mustAppend(t, store, appended(k, 1, "e1", nil))
		res, err := store.Append(ctx, appended(k, 1, "e1", nil))
		require.NoError(t, err)
		require.True(t, res.Duplicate)
		require.ErrorIs(t, res.Wait(), boom, "the retry is not acknowledged before the record it found is durable")
	})
}

// CONTRACT Z1: concurrent appenders to several apps hand each app's records
// to the journal in position order.
func TestJournalOrderPerApp(t *testing.T) {
	ctx := context.Background()
	last := map[string]eventlog.Position{}
	var outOfOrder []string
	j := &journal{onWrite: func(rec *eventlog.Record) {
		if rec.Position <= last[rec.Key.AppName] {
			outOfOrder = append(outOfOrder, fmt.Sprintf("%d after %d in %s", rec.Position, last[rec.Key.AppName], rec.Key.AppName))
		}
		last[rec.Key.AppName] = rec.Position
	}}
	store := open(t, j)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			k := key(fmt.Sprint("app", w%3), "u", fmt.Sprint("s", w))
			_, err := store.Append(ctx, created(k, nil))
			assert.NoError(t, err)
			for i := range 200 {
				_, err := store.Append(ctx, appended(k, uint64(i+1), fmt.Sprint("e", i), map[string]any{"app:n": i}))
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Empty(t, outOfOrder)
	assert.Len(t, j.positions(), 8*201)
}

// CONTRACT R1 D3: a store opened over a journal holds the records the
// journal replays at their positions, serves the state they fold to, and
// appends after the highest position.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	a, b := key("a", "u", "s"), key("b", "u", "s")
	source := &journal{}
	src := open(t, source)
	for _, rec := range []*eventlog.Record{
		created(a, map[string]any{"app:x": 1}), created(b, nil),
		appended(a, 1, "e1", map[string]any{"user:y": 2, "own": 3}), appended(b, 1, "e1", map[string]any{"app:z": projection.Removed}),
		deleted(a), created(a, map[string]any{"again": true}), appended(b, 2, "e2", map[string]any{"own": 4}),
	} {
		mustAppend(t, src, rec)
	}
	written := source.written

	t.Run("a journal replayed in order gives the same log and state", func(t *testing.T) {
		j := &journal{replay: written}
		restored := open(t, j)
		require.Equal(t, readAll(t, src, eventlog.Scope{}), readAll(t, restored, eventlog.Scope{}))
		require.Equal(t, src.Snapshot(), restored.Snapshot())
		requireVerified(t, restored)
		assert.Empty(t, j.written, "replayed records are not written again")

		next := mustAppend(t, restored, appended(b, 3, "e3", nil))
		require.Equal(t, written[len(written)-1].Position+1, next.Position)
		assert.Equal(t, []eventlog.Position{next.Position}, j.positions(), "later appends are written")
		res, err := restored.Append(ctx, appended(b, 4, "e1", nil))
		require.NoError(t, err)
		assert.True(t, res.Duplicate, "the restored events' IDs are known")
	})
	t.Run("apps may be replayed out of position order with one another", func(t *testing.T) {
		var replay []*eventlog.Record
		for _, app := range []string{"b", "a"} {
			for _, rec := range written {
				if rec.Key.AppName == app {
					replay = append(replay, rec)
				}
			}
		}
		restored := open(t, &journal{replay: replay})
		require.Equal(t, readAll(t, src, eventlog.Scope{}), readAll(t, restored, eventlog.Scope{}))
		require.Equal(t, src.Snapshot(), restored.Snapshot())
		next := mustAppend(t, restored, created(key("c", "u", "s"), nil))
		require.Equal(t, written[len(written)-1].Position+1, next.Position)
	})
	t.Run("a compacted journal restores deletions whose sessions it dropped", func(t *testing.T) {
		kept := readAll(t, src, eventlog.Scope{})
		restored := open(t, &journal{replay: kept})
		require.Equal(t, kept, readAll(t, restored, eventlog.Scope{}))
		require.Equal(t, src.Snapshot(), restored.Snapshot())
		requireVerified(t, restored)

		var deletion *eventlog.Record
		for _, rec := range kept {
			if rec.Kind == eventlog.KindSessionDeleted {
				deletion = rec
			}
		}
		require.NotNil(t, deletion)
		_, _, err := restored.Read(ctx, eventlog.Scope{AppName: "a"}, 0, 10)
		ce, ok := errorsAs[*eventlog.CompactedError](err)
		require.True(t, ok, "an app reader behind the dropped records is told: %v", err)
		assert.Equal(t, deletion.Position-1, ce.Served)
		_, _, err = restored.Read(ctx, eventlog.Scope{AppName: "a", UserID: "u"}, 0, 10)
		require.ErrorIs(t, err, eventlog.ErrCompacted)
		_, _, err = restored.Read(ctx, eventlog.Scope{AppName: "b"}, 0, 10)
		require.NoError(t, err, "another app lost nothing")
	})
	t.Run("a journal without records gives an empty store", func(t *testing.T) {
		restored := open(t, &journal{})
		assert.Empty(t, readAll(t, restored, eventlog.Scope{}))
		assert.Equal(t, eventlog.Position(1), mustAppend(t, restored, created(a, nil)).Position)
	})
	t.Run("Open without a journal gives a plain store", func(t *testing.T) {
		store, err := memstore.Open(ctx, memstore.Options{})
		require.NoError(t, err)
		mustAppend(t, store, created(a, nil))
		res, err := store.Append(ctx, appended(a, 1, "e1", nil))
		require.NoError(t, err)
		assert.Nil(t, res.Durable)
	})

	at := func(pos eventlog.Position, rec *eventlog.Record) *eventlog.Record {
		rec.Position = pos
		return rec
	}
	bad := []struct {
		name string
		recs []*eventlog.Record
		want error
	}{
		{"a position that is not after the app's last is rejected", []*eventlog.Record{
			at(5, created(a, nil)), at(5, created(key("a", "u", "t"), nil)),
		}, eventlog.ErrInvalidArgument},
		{"position 0 is rejected", []*eventlog.Record{created(a, nil)}, eventlog.ErrInvalidArgument},
		{"a sequence gap is rejected", []*eventlog.Record{at(1, created(a, nil)), at(2, appended(a, 2, "e", nil))}, eventlog.ErrStaleSession},
		{"an event of a missing session is rejected", []*eventlog.Record{at(1, appended(a, 1, "e", nil))}, eventlog.ErrNotFound},
		{"a repeated event ID is rejected", []*eventlog.Record{
			at(1, created(a, nil)), at(2, appended(a, 1, "e", nil)), at(3, appended(a, 2, "e", nil)),
		}, eventlog.ErrInvalidArgument},
		{"a second creation is rejected", []*eventlog.Record{at(1, created(a, nil)), at(2, created(a, nil))}, eventlog.ErrAlreadyExists},
		{"an invalid record is rejected", []*eventlog.Record{at(1, created(key("a", "", "s"), nil))}, eventlog.ErrInvalidArgument},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			store, err := memstore.Open(ctx, memstore.Options{Journal: &journal{replay: c.recs}})
			require.ErrorIs(t, err, c.want)
			assert.Nil(t, store)
		})
	}
	t.Run("the replay's own error is returned", func(t *testing.T) {
		boom := errors.New("corrupt")
		_, err := memstore.Open(ctx, memstore.Options{Journal: &journal{replay: written[:2], replayErr: boom}})
		require.ErrorIs(t, err, boom)
	})
	t.Run("restore after the replay ended is refused", func(t *testing.T) {
		j := &journal{}
		store := open(t, j)
		require.ErrorIs(t, j.restore(at(1, created(a, nil))), eventlog.ErrInvalidArgument)
		assert.Empty(t, readAll(t, store, eventlog.Scope{}))
	})
}

// CONTRACT S1 S2: a read never reports it got past a position that holds no
// record because its journal write failed: a durable store that restarts
// may give that number to a new record, which a reader told it was passed
// would miss.
func TestReadsStopAtTheLastStoredPosition(t *testing.T) {
	ctx := context.Background()
	j := &journal{}
	store := open(t, j)
	k := key("a", "u", "s")
	first := mustAppend(t, store, created(k, nil))
	other := key("b", "u", "s")
	j.fail = errors.New("disk full")
	_, err := store.Append(ctx, created(other, nil))
	require.ErrorIs(t, err, j.fail)
	j.fail = nil

	_, through, err := store.Read(ctx, eventlog.Scope{}, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, first.Position, through, "the whole store: not past the burned position")
	_, through, err = store.Read(ctx, eventlog.Scope{AppName: "missing"}, 0, 10)
	require.NoError(t, err)
	assert.Equal(t, first.Position, through, "an app that does not exist")

	next := mustAppend(t, store, created(other, nil))
	recs, through, err := store.Read(ctx, eventlog.Scope{}, 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	assert.Equal(t, next.Position, through)
}

// gateJournal holds the write of a record of a chosen app until told,
// then fails it or not.
type gateJournal struct {
	mu    sync.Mutex
	gates map[string]chan error
}

func (j *gateJournal) Replay(context.Context, func(*eventlog.Record) error) error { return nil }

func (j *gateJournal) Write(rec *eventlog.Record) (func() error, error) {
	j.mu.Lock()
	g := j.gates[rec.Key.AppName]
	j.mu.Unlock()
	if g != nil {
		return nil, <-g
	}
	return nil, nil
}

func (j *gateJournal) WriteBatch([]*eventlog.Record) (func() error, error) { return nil, nil }

// A read of the whole store never passes over a record: an import whose
// journal write fails gives its position up, and an append may take a
// position the read had already counted on, in an app it had read. Each
// round orders the steps with pauses; a round whose steps come in another
// order cannot fail.
func TestWholeStoreReadAcrossAGivenUpPosition(t *testing.T) {
	ctx := context.Background()
	for round := range 10 {
		j := &gateJournal{gates: map[string]chan error{}}
		store, err := memstore.Open(ctx, memstore.Options{Journal: j})
		require.NoError(t, err)
		mustAppend(t, store, created(key("x", "u", "s"), nil)) // position 1
		gateA, gateB := make(chan error), make(chan error)
		j.mu.Lock()
		j.gates["a"], j.gates["b"] = gateA, gateB
		j.mu.Unlock()
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = store.Append(ctx, created(key("b", "u", "s"), nil)) }) // 2: its write waits, holding b
		time.Sleep(10 * time.Millisecond)
		imported := created(key("a", "u", "s"), nil)
		imported.Position = 100
		wg.Go(func() { _, _ = store.Append(ctx, imported) }) // 100: its write waits, holding a
		time.Sleep(10 * time.Millisecond)
		type read struct {
			recs    []*eventlog.Record
			through eventlog.Position
		}
		done := make(chan read, 1)
		go func() {
			recs, through, _ := store.Read(ctx, eventlog.Scope{}, 0, 10)
			done <- read{recs, through}
		}()
		time.Sleep(10 * time.Millisecond) // the read waits for a or b
		gateA <- errors.New("disk full")  // the import fails: position 100 is given up
		time.Sleep(10 * time.Millisecond)
		again := mustAppend(t, store, appended(key("x", "u", "s"), 1, "e1", nil))
		gateB <- nil
		r := <-done
		wg.Wait()
		require.NoError(t, store.Close())
		if r.through >= again.Position {
			assert.Contains(t, r.recs, again, "round %d: the read got through position %d without its record", round, again.Position)
		}
	}
}
