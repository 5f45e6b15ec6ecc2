package pgstore_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/projection"
)

// CONTRACT A6 A7 Z1 R1 under load: 8 replicas (stores with their own
// pools, caches and listeners) over one database, 32 goroutines appending
// 4,000 events across 100 sessions at the next sequence number, re-reading
// on ErrStaleSession, and sending one append in four a second time as a
// retry after a lost answer would. Afterwards every acknowledged event is
// stored exactly once, every sequence is gapless, and every replica serves
// the same view of every session: the one a fold of the log gives.
func TestLoadAcrossEightReplicas(t *testing.T) {
	schema := newSchema(t)
	const replicas, sessions, goroutines, total = 8, 100, 32, 4000
	stores := make([]*pgstore.Store, replicas)
	for i := range stores {
		stores[i] = open(t, schema)
	}
	ctx := t.Context()
	keyOf := func(n int) eventlog.SessionKey {
		return eventlog.SessionKey{AppName: "app", UserID: fmt.Sprintf("u%d", n%10), SessionID: fmt.Sprintf("s%03d", n)}
	}
	for n := range sessions {
		_, err := stores[n%replicas].Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: keyOf(n), Time: time.Now()})
		require.NoError(t, err)
	}

	start := time.Now()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		acked   = map[string]eventlog.Position{} // event ID: its position
		retries int
		stale   int
	)
	for g := range goroutines {
		store := stores[g%replicas]
		wg.Go(func() {
			for i := range total / goroutines {
				n := (g*7 + i*13) % sessions
				id := fmt.Sprintf("g%02d-%04d", g, i)
				rec := func(seq uint64) *eventlog.Record {
					ev := &eventlog.Event{ID: id, Timestamp: time.Now(), Actions: eventlog.EventActions{StateDelta: map[string]any{
						"last": float64(i), "user:count": float64(i), "app:by": float64(g),
					}}}
					return &eventlog.Record{Kind: eventlog.KindEventAppended, Key: keyOf(n), Seq: seq, Time: ev.Timestamp, Event: ev}
				}
				var res eventlog.AppendResult
				for {
					v, err := store.Load(ctx, keyOf(n), eventlog.LoadOptions{NumRecentEvents: 1})
					if !assert.NoError(t, err) {
						return
					}
					res, err = store.Append(ctx, rec(v.Version+1))
					if errors.Is(err, eventlog.ErrStaleSession) {
						mu.Lock()
						stale++
						mu.Unlock()
						continue
					}
					if !assert.NoError(t, err) || !assert.False(t, res.Duplicate, "a first append of %s", id) {
						return
					}
					break
				}
				if i%4 == 0 {
					// The answer was lost: the retry, at whatever sequence
					// number, stores nothing and returns the stored record.
					again, err := store.Append(ctx, rec(res.Record.Seq+1))
					if !assert.NoError(t, err) || !assert.True(t, again.Duplicate, "the retry of %s", id) {
						return
					}
					assert.Equal(t, res.Record.Position, again.Record.Position)
					assert.Equal(t, res.Record.Seq, again.Record.Seq)
					mu.Lock()
					retries++
					mu.Unlock()
				}
				mu.Lock()
				acked[id] = res.Record.Position
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d appends (%d stale, re-read; %d duplicate retries) over %d replicas from %d goroutines in %v: %.0f appends/s",
		total, stale, retries, replicas, goroutines, elapsed.Round(time.Millisecond), total/elapsed.Seconds())
	require.Len(t, acked, total)

	// Every acknowledged event once, at the position its append gave.
	stored := map[string]eventlog.Position{}
	for rec, err := range projection.Records(ctx, stores[0]) {
		require.NoError(t, err)
		if rec.Kind != eventlog.KindEventAppended {
			continue
		}
		_, twice := stored[rec.Event.ID]
		require.False(t, twice, "event %s is stored once", rec.Event.ID)
		stored[rec.Event.ID] = rec.Position
	}
	assert.Equal(t, acked, stored, "exactly the acknowledged events are stored, where their appends said")

	// Every replica serves the same views, gapless.
	for n := range sessions {
		k := keyOf(n)
		var first eventlog.View
		for i, store := range stores {
			v, err := store.Load(ctx, k, eventlog.LoadOptions{})
			require.NoError(t, err)
			require.Len(t, v.Events, int(v.Version), "session %s on replica %d", k, i)
			ids := make([]string, len(v.Events))
			for j, e := range v.Events {
				ids[j] = e.ID
			}
			if i == 0 {
				first = v
				continue
			}
			assert.Equal(t, first.Version, v.Version, "session %s on replica %d", k, i)
			assert.Equal(t, first.State, v.State, "session %s on replica %d", k, i)
			assert.True(t, first.LastUpdateTime.Equal(v.LastUpdateTime), "session %s on replica %d", k, i)
			assert.True(t, slices.EqualFunc(first.Events, v.Events, func(a, b *eventlog.Event) bool { return a.ID == b.ID }),
				"session %s on replica %d: events %v", k, i, ids)
		}
	}
	require.NoError(t, projection.Verify(ctx, stores[replicas-1]))
}

// CONTRACT G4: an appended event's record is in the cache, shared with
// readers, once the append has published it, and the append writes it no
// more: an as-of Load folding the cached records while events are
// appended reads them without a race. (The race detector, which the
// README's test command runs, is what fails here.)
func TestCachedRecordIsNotWrittenAfterItIsShared(t *testing.T) {
	s := open(t, newSchema(t))
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	_, err = s.Load(ctx, k, eventlog.LoadOptions{}) // the session is cached
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seen := uint64(0); ; {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Microsecond):
			}
			next := seen + 1
			if _, err := s.Load(ctx, k, eventlog.LoadOptions{AsOf: &next}); err == nil {
				seen = next
			}
		}
	}()
	for i := 1; i <= 200; i++ {
		ts := time.Now()
		_, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: uint64(i), Time: ts,
			Event: &eventlog.Event{ID: fmt.Sprint("e", i), Timestamp: ts, Actions: eventlog.EventActions{StateDelta: map[string]any{"n": i}}}})
		require.NoError(t, err)
		time.Sleep(2 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
}
