package pgstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/projection"
)

// workload runs a mixed random workload over stores (replicas of one
// log), from several goroutines each on its own replica: creations (some
// of sessions deleted before), appends at the next sequence number or at
// 0, deltas that write own, app: and user: keys that other sessions write
// too, temp: keys, Removed values and nested values, and deletions. It
// returns how many appends were acknowledged.
func workload(t *testing.T, stores []*pgstore.Store, goroutines, ops int) int {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	acked := 0
	var wg sync.WaitGroup
	for g := range goroutines {
		store := stores[g%len(stores)]
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range ops {
				k := eventlog.SessionKey{AppName: fmt.Sprintf("app%d", r.IntN(2)), UserID: fmt.Sprintf("u%d", r.IntN(3)), SessionID: fmt.Sprintf("s%d", r.IntN(6))}
				switch n := r.IntN(20); {
				case n < 3:
					_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now(),
						State: map[string]any{"own": float64(i), "app:shared": fmt.Sprintf("g%d-%d", g, i), "user:shared": []any{float64(g), "x"}}})
					if err != nil && !assert.ErrorIs(t, err, eventlog.ErrAlreadyExists) {
						return
					}
				case n < 4:
					_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()})
					if err != nil && !assert.ErrorIs(t, err, eventlog.ErrNotFound) {
						return
					}
				default:
					delta := map[string]any{
						"own":                              float64(i),
						fmt.Sprintf("k%d", r.IntN(4)):      map[string]any{"deep": []any{float64(i), nil, true}},
						"app:shared":                       fmt.Sprintf("g%d-%d", g, i),
						fmt.Sprintf("user:n%d", r.IntN(3)): float64(g),
						"temp:scratch":                     "never stored",
					}
					if r.IntN(3) == 0 {
						delta[fmt.Sprintf("k%d", r.IntN(4))] = projection.Removed
						delta[fmt.Sprintf("app:a%d", r.IntN(3))] = projection.Removed
						delta[fmt.Sprintf("user:n%d", r.IntN(3))] = projection.Removed
					}
					var seq uint64 // last writer wins, or the next sequence number
					if r.IntN(2) == 0 {
						v, err := store.Load(ctx, k, eventlog.LoadOptions{NoEvents: true})
						if errors.Is(err, eventlog.ErrNotFound) {
							continue
						}
						if !assert.NoError(t, err) {
							return
						}
						seq = v.Version + 1
					}
					ev := &eventlog.Event{ID: fmt.Sprintf("g%d-%d", g, i), Timestamp: time.Now(), Actions: eventlog.EventActions{StateDelta: delta}}
					_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Time: ev.Timestamp, Event: ev})
					switch {
					case err == nil:
						mu.Lock()
						acked++
						mu.Unlock()
					case errors.Is(err, eventlog.ErrNotFound), errors.Is(err, eventlog.ErrStaleSession):
					default:
						assert.NoError(t, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return acked
}

// CONTRACT R1: the state PostgreSQL folds in SQL, in the transaction of
// each record, is the state a fold of the log in Go gives, as every
// replica serves it through Load and List: after concurrent writers of
// the same app: and user: keys from different sessions on two replicas,
// Removed keys, temp: keys and deletions. And Verify sees a difference
// when the tables disagree with the log.
func TestVerifyAfterAMixedWorkload(t *testing.T) {
	schema := newSchema(t)
	stores := []*pgstore.Store{open(t, schema), open(t, schema)}
	acked := workload(t, stores, 6, 150)
	ctx := t.Context()
	var live, deleted, retained int
	s := pgx.Identifier{schema}.Sanitize()
	require.NoError(t, pgxConn(t).QueryRow(ctx, "SELECT (SELECT count(*) FROM "+s+".sessions), "+
		"count(*) FILTER (WHERE kind = 3), count(*) FILTER (WHERE kind = 4) FROM "+s+".records").Scan(&live, &deleted, &retained))
	t.Logf("%d appends acknowledged; %d live sessions, %d deletions, %d retained records", acked, live, deleted, retained)
	require.Positive(t, acked)
	require.Positive(t, live)
	require.Positive(t, deleted)
	require.Positive(t, retained)
	for i, store := range stores {
		require.NoError(t, projection.Verify(ctx, store), "replica %d", i)
	}
	fresh := open(t, schema)
	require.NoError(t, projection.Verify(ctx, fresh), "a replica opened afterwards")

	// A session key changed behind the store's back: Verify says so.
	tag, err := pgxConn(t).Exec(ctx, "UPDATE "+s+".session_state SET value = '\"tampered\"' WHERE ctid = (SELECT min(ctid) FROM "+s+".session_state)")
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	require.ErrorContains(t, projection.Verify(ctx, open(t, schema)), "tampered")
}
