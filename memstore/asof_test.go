package memstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/pastcheck"
	"github.com/sessionlog/sessionlog/memstore"
)

// CONTRACT T1 D3 R2: a session read as of any version it holds is what the
// log defines (projection.FoldSession of its records up to there, and a
// fold of the app's log up to that position), for random logs of creations
// with initial state, events with app:, user:, temp: and Removed writes
// from several users, deletions whose app and user writes were retained,
// imported retained-state records and records placed at positions of
// their own, checked while the log grows and after.
func TestLoadAsOfEqualsTheFoldOfTheLog(t *testing.T) {
	ctx := context.Background()
	for _, long := range []bool{false, true} {
		for seed := range uint64(6) {
			t.Run(fmt.Sprintf("long %v seed %d", long, seed), func(t *testing.T) {
				store := memstore.New()
				w := &pastcheck.Workload{Store: store, Rand: rand.New(rand.NewPCG(seed, 7)), LongSessions: long}
				for range 4 {
					require.NoError(t, w.Run(ctx, 400))
					n, err := pastcheck.Check(ctx, store)
					require.NoError(t, err)
					require.NotZero(t, n)
				}
				requireVerified(t, store)
			})
		}
	}
}

// A change of an app: key that a deleted session made is forgotten even
// when it lay under others' changes, and what the session retained stays:
// a session that read the app's state in between sees the fold of the
// log as it is now.
func TestLoadAsOfForgetsTheWritesADeletionFrees(t *testing.T) {
	// CONTRACT T1 D3
	ctx := context.Background()
	store := memstore.New()
	s, gone := key("app", "u", "s"), key("app", "u", "gone")
	mustAppend(t, store, created(s, map[string]any{"app:x": "s0"}))
	mustAppend(t, store, created(gone, nil))
	mustAppend(t, store, appended(gone, 1, "g1", map[string]any{"app:x": "gone1", "user:y": "gone1"}))
	mustAppend(t, store, appended(s, 1, "s1", nil))
	mustAppend(t, store, appended(gone, 2, "g2", map[string]any{"app:x": "gone2"}))
	mustAppend(t, store, appended(s, 2, "s2", nil))
	mustAppend(t, store, deleted(gone))
	for version, want := range []map[string]any{
		{"app:x": "s0"},
		{"app:x": "s0", "user:y": "gone1"}, // gone1 of app:x was freed; user:y retained
		{"app:x": "gone2", "user:y": "gone1"},
	} {
		v := uint64(version)
		got, err := store.Load(ctx, s, eventlog.LoadOptions{AsOf: &v})
		require.NoError(t, err)
		require.Equal(t, want, got.State, "version %d", version)
	}
	_, err := pastcheck.Check(ctx, store)
	require.NoError(t, err)
}

// The values a read of the past returns belong to the caller.
func TestLoadAsOfReturnsCopies(t *testing.T) {
	// CONTRACT G4 T1
	ctx := context.Background()
	store := memstore.New()
	s := key("app", "u", "s")
	mustAppend(t, store, created(s, map[string]any{"m": map[string]any{"a": 1}, "app:m": map[string]any{"a": 1}}))
	mustAppend(t, store, appended(s, 1, "e1", map[string]any{"m": 2}))
	v := uint64(0)
	got, err := store.Load(ctx, s, eventlog.LoadOptions{AsOf: &v})
	require.NoError(t, err)
	got.State["m"].(map[string]any)["a"] = "changed"
	got.State["app:m"].(map[string]any)["a"] = "changed"
	again, err := store.Load(ctx, s, eventlog.LoadOptions{AsOf: &v})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"m": map[string]any{"a": 1}, "app:m": map[string]any{"a": 1}}, again.State)
}
