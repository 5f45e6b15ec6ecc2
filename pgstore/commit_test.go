package pgstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT A6 A7: appends that travel in one batch (one round trip, one
// transaction) still get one outcome each: of several appends at the same
// sequence number exactly one is stored and the others are stale; a
// repeated event ID returns the stored record; an unknown session is not
// found; and none of these refusals undoes the appends beside it.
func TestBatchedAppendsKeepTheirOwnOutcomes(t *testing.T) {
	store := open(t, newSchema(t))
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)

	for round := range 10 {
		seq := uint64(round + 1)
		const writers = 8
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				rec := &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Time: time.Now(),
					Event: &eventlog.Event{ID: fmt.Sprintf("r%d-w%d", round, w)}}
				_, errs[w] = store.Append(ctx, rec)
			})
		}
		// Beside them, appends that must fail on their own.
		missing := k
		missing.SessionID = "missing"
		wg.Go(func() {
			_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: missing, Seq: 1, Time: time.Now(),
				Event: &eventlog.Event{ID: "x"}})
			assert.ErrorIs(t, err, eventlog.ErrNotFound)
		})
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				require.ErrorIs(t, err, eventlog.ErrStaleSession)
			}
		}
		require.Equal(t, 1, won, "round %d", round)
	}
	view, err := store.Load(ctx, k, eventlog.LoadOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(10), view.Version)
	require.Len(t, view.Events, 10)

	// A retry of a stored event returns it, marked as a duplicate.
	first := view.Events[0]
	res, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: 11, Time: time.Now(),
		Event: &eventlog.Event{ID: first.ID}})
	require.NoError(t, err)
	assert.True(t, res.Duplicate)
	assert.Same(t, first, res.Record.Event, "the stored event the session's readers share")
	assert.Equal(t, uint64(1), res.Record.Seq)
}
