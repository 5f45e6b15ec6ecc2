package pgstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/pgstore"
)

// commit is what Observer.OnCommit was told of one batch.
type commit struct{ appends, roundTrips int }

// The observer hears of each group commit: the leader's batch of one, then
// one batch of every append that waited meanwhile, each one round trip.
func TestObserverSeesEachGroupCommit(t *testing.T) {
	var mu sync.Mutex
	var commits []commit
	schema := newSchema(t)
	store := open(t, schema, oneBatch, func(o *pgstore.Options) {
		o.Observer.OnCommit = func(appends, roundTrips int, d time.Duration) {
			assert.Positive(t, d)
			mu.Lock()
			commits = append(commits, commit{appends, roundTrips})
			mu.Unlock()
		}
	})
	ctx := t.Context()
	const n = 5
	keys := createSessions(t, store, n+1)
	mu.Lock()
	require.Empty(t, commits, "a creation is not a group commit")
	mu.Unlock()

	release := holdSessions(t, schema)
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := store.Append(ctx, eventRecord(keys[n], 1, "lead"))
		assert.NoError(t, err)
	})
	lockWaiter(t, schema)
	for i := range n {
		wg.Go(func() {
			_, err := store.Append(ctx, eventRecord(keys[i], 1, fmt.Sprintf("e%d", i)))
			assert.NoError(t, err)
		})
	}
	waitFor(t, "the followers to queue", func() bool { return pgstore.Queued(store) == n })
	release()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []commit{{1, 1}, {n, 1}}, commits)
}
