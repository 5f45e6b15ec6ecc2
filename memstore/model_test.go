package memstore_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/pastcheck"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
)

// modelSession is what a worker knows of a session it owns: its own
// state and version, folded by the simplest rules.
type modelSession struct {
	own     map[string]any
	version uint64
}

// applyOwn folds a delta's own keys into a model session's state.
func (m *modelSession) applyOwn(delta map[string]any) {
	for k, v := range delta {
		if strings.HasPrefix(k, "app:") || strings.HasPrefix(k, "user:") || strings.HasPrefix(k, "temp:") {
			continue
		}
		if projection.IsRemoved(v) {
			delete(m.own, k)
		} else {
			m.own[k] = v
		}
	}
}

// randomDelta writes a few keys of every scope, from a small set of names
// so that sessions overwrite each other's app: and user: keys, with
// removals among the values.
func randomDelta(r *rand.Rand, n int) map[string]any {
	delta := map[string]any{}
	for range 1 + r.IntN(4) {
		name := fmt.Sprint([]string{"", "app:", "user:", "temp:"}[r.IntN(4)], "k", r.IntN(4))
		var v any = n
		switch r.IntN(6) {
		case 0:
			v = projection.Removed
		case 1:
			v = projection.RemovedJSON
		case 2:
			v = map[string]any{"n": n, "l": []any{n, "x"}}
		}
		delta[name] = v
	}
	return delta
}

// CONTRACT R1 A4 D3 Z1: random creates, appends (with app:, user:, temp:
// and Removed deltas) and deletes from several goroutines, beside readers:
// afterwards the store serves what a rebuild of its log gives
// (projection.Verify, Snapshot == Rebuild), and each session what its
// owner's simple model says.
func TestModelConcurrent(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			modelRound(t, seed)
		})
	}
}

func modelRound(t *testing.T, seed uint64) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := memstore.New()
	const workers, steps = 6, 400
	models := make([]map[eventlog.SessionKey]*modelSession, workers)
	var wg sync.WaitGroup
	errs := make(chan error, workers+2)
	for w := range workers {
		models[w] = map[eventlog.SessionKey]*modelSession{}
		wg.Go(func() {
			if err := modelWorker(ctx, store, rand.New(rand.NewPCG(seed, uint64(w))), w, models[w], steps); err != nil {
				errs <- fmt.Errorf("worker %d: %w", w, err)
			}
		})
	}
	// Readers beside the writers: every answer must be well formed.
	readers := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Go(func() {
		for {
			select {
			case <-readers:
				return
			default:
			}
			for _, app := range []string{"app0", "app1"} {
				views, err := store.List(ctx, app, "", eventlog.ListOptions{Limit: 50})
				if err != nil {
					errs <- err
					return
				}
				for _, v := range views {
					lv, err := store.Load(ctx, v.Key, eventlog.LoadOptions{})
					if err == nil && uint64(len(lv.Events)) != lv.Version {
						errs <- fmt.Errorf("load %s: %d events at version %d", v.Key, len(lv.Events), lv.Version)
						return
					}
				}
			}
		}
	})
	rwg.Go(func() {
		var after eventlog.Position
		for {
			select {
			case <-readers:
				return
			default:
			}
			recs, through, err := store.Read(ctx, eventlog.Scope{}, after, 64)
			if err != nil {
				errs <- err
				return
			}
			for _, rec := range recs {
				if rec.Position <= after {
					errs <- fmt.Errorf("whole-store read after %d returned position %d", after, rec.Position)
					return
				}
				after = rec.Position
			}
			after = max(after, through)
		}
	})
	wg.Wait()
	close(readers)
	rwg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	requireVerified(t, store)
	// CONTRACT T1: and its past, written from several goroutines.
	n, err := pastcheck.Check(ctx, store)
	require.NoError(t, err)
	require.NotZero(t, n)
	live := 0
	for _, m := range models {
		for k, ms := range m {
			live++
			v := load(t, store, k)
			require.Equal(t, ms.version, v.Version, "version of %s", k)
			own := maps.Clone(v.State)
			maps.DeleteFunc(own, func(k string, _ any) bool {
				return strings.HasPrefix(k, "app:") || strings.HasPrefix(k, "user:")
			})
			require.Equal(t, ms.own, own, "own state of %s", k)
		}
	}
	listed := 0
	for _, app := range []string{"app0", "app1"} {
		views, err := store.List(ctx, app, "", eventlog.ListOptions{Limit: 1 << 20})
		require.NoError(t, err)
		listed += len(views)
	}
	require.Equal(t, live, listed)
	require.NoError(t, store.Close())
}

// modelWorker runs steps random operations on sessions of its own, in two
// apps and two users that other workers write too.
func modelWorker(ctx context.Context, store *memstore.Store, r *rand.Rand, w int, model map[eventlog.SessionKey]*modelSession, steps int) error {
	var keys []eventlog.SessionKey
	for n := range steps {
		switch op := r.IntN(20); {
		case op < 3 || len(keys) == 0: // create
			k := key(fmt.Sprint("app", r.IntN(2)), fmt.Sprint("u", r.IntN(2)), fmt.Sprintf("w%d-%d", w, n))
			state := randomDelta(r, n)
			res, err := store.Append(ctx, created(k, state))
			if err != nil {
				return err
			}
			ms := &modelSession{own: map[string]any{}}
			ms.applyOwn(state)
			model[k] = ms
			keys = append(keys, k)
			for sk, v := range res.State {
				if !strings.HasPrefix(sk, "app:") && !strings.HasPrefix(sk, "user:") && !projection.IsRemoved(v) && ms.own[sk] == nil {
					return fmt.Errorf("create %s: its state holds %q, which it did not write", k, sk)
				}
			}
		case op < 5: // delete
			i := r.IntN(len(keys))
			k := keys[i]
			if _, err := store.Append(ctx, deleted(k)); err != nil {
				return err
			}
			delete(model, k)
			keys = append(keys[:i], keys[i+1:]...)
		default: // append, with the version or with 0
			k := keys[r.IntN(len(keys))]
			ms := model[k]
			seq := ms.version + 1
			if r.IntN(3) == 0 {
				seq = 0
			}
			delta := randomDelta(r, n)
			res, err := store.Append(ctx, appended(k, seq, fmt.Sprint("e", n), delta))
			if err != nil {
				return err
			}
			if res.Record.Seq != ms.version+1 {
				return fmt.Errorf("append to %s: stored at %d, want %d", k, res.Record.Seq, ms.version+1)
			}
			ms.version++
			ms.applyOwn(delta)
			if r.IntN(10) == 0 { // a retry is a duplicate
				res, err := store.Append(ctx, appended(k, 0, fmt.Sprint("e", n), nil))
				if err != nil || !res.Duplicate {
					return fmt.Errorf("retry of an append to %s: %v, duplicate %v", k, err, res.Duplicate)
				}
			}
		}
	}
	return nil
}

// CONTRACT A4 R1: a Snapshot taken while appends run shows each app as it
// stood at one moment: a session that writes the same number to its own
// state and to the app's never shows two different numbers.
func TestSnapshotIsConsistentPerApp(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	const writers, events = 3, 300
	var wg sync.WaitGroup
	for w := range writers {
		k := key("app", "u", fmt.Sprint("s", w))
		mustAppend(t, store, created(k, map[string]any{"n": 0, "app:" + k.SessionID: 0}))
		wg.Go(func() {
			for i := 1; i <= events; i++ {
				if _, err := store.Append(ctx, appended(k, uint64(i), fmt.Sprint(i), map[string]any{"n": i, "app:" + k.SessionID: i})); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 { // churn, so that snapshots start again now and then
					c := key("app", "v", fmt.Sprint("c", w, "-", i))
					if _, err := store.Append(ctx, created(c, nil)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		a := store.Snapshot().Apps["app"]
		for k, ss := range a.Sessions {
			if k.UserID != "u" {
				continue
			}
			e := a.State["app:"+k.SessionID]
			require.Equal(t, ss.State["n"], e.Value, "session %s", k)
			require.Equal(t, uint64(ss.State["n"].(int)), ss.Version)
		}
	}
	requireVerified(t, store)
}

// CONTRACT R1 A4 D2 D3: after each step of a sequence of creates, appends
// with Removed and temp: keys, and deletes, the store serves what a
// rebuild of its log gives.
func TestStateEqualsRebuildAfterEachStep(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	requireVerified(t, store)
	k1, k2, k3 := key("app", "u1", "s1"), key("app", "u1", "s2"), key("app", "u2", "s1")
	steps := []*eventlog.Record{
		created(k1, map[string]any{"a": 1, "app:x": 1, "temp:t": 1}),
		created(k2, map[string]any{"user:y": 1}),
		appended(k1, 1, "e1", map[string]any{"app:x": 2, "user:y": projection.Removed, "a": projection.Removed}),
		created(k3, nil),
		appended(k2, 1, "e1", map[string]any{"user:y": 3, "temp:t": 1}),
		deleted(k1),
		appended(k3, 1, "e1", map[string]any{"app:x": projection.Removed}),
		created(k1, map[string]any{"again": true}),
		retained(key("app", "u3", ""), map[string]any{"user:imported": 1, "app:x": "imported"}),
		deleted(k3),
		appended(k2, 0, "e2", map[string]any{"user:y": projection.RemovedJSON, "b": map[string]any{"n": []any{1}}}),
	}
	for i, rec := range steps {
		_, err := store.Append(ctx, rec)
		require.NoError(t, err, "step %d", i)
		requireVerified(t, store)
	}
}

// CONTRACT R1 Z1: many sessions writing the same app: and user: keys at
// once, some deleted midway: the value that stays is the write of the
// highest position, and the store serves what a rebuild gives.
func TestConcurrentWritersOfTheSameSharedKeys(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	const sessions, events = 8, 60
	keys := make([]eventlog.SessionKey, sessions)
	for i := range keys {
		keys[i] = key("app", fmt.Sprint("u", i%2), fmt.Sprint("s", i))
		mustAppend(t, store, created(keys[i], nil))
	}
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			for n := range events {
				var v any = fmt.Sprintf("%d-%d", i, n)
				if n%7 == 3 {
					v = projection.Removed
				}
				delta := map[string]any{"app:k": v, "user:k": v, "own": n}
				if _, err := store.Append(ctx, appended(k, uint64(n+1), fmt.Sprint(n), delta)); err != nil {
					t.Error(err)
					return
				}
				if i%4 == 0 && n == events/2 {
					if _, err := store.Append(ctx, deleted(k)); err != nil {
						t.Error(err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
	requireVerified(t, store)

	var last any
	for _, rec := range readAll(t, store, eventlog.Scope{}) {
		if v, ok := rec.Writes()["app:k"]; ok {
			last = v
		}
	}
	got := store.Snapshot().Apps["app"].State["app:k"]
	require.NotNil(t, got)
	require.Equal(t, projection.IsRemoved(last), got.Removed)
	if !got.Removed {
		require.Equal(t, last, got.Value)
	}
}

// CONTRACT D2 R1 Z1: deletions and creations of the same keys racing each
// other leave the store serving what its log says: each key holds the
// session its last creation made, or none.
func TestDeleteAndCreateOfTheSameKeyRace(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	const keys, rounds = 3, 200
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := range rounds {
				k := key("app", "u", fmt.Sprint("s", n%keys))
				switch (n + w) % 3 {
				case 0:
					_, _ = store.Append(ctx, created(k, map[string]any{"w": w, "app:last": w}))
				case 1:
					_, _ = store.Append(ctx, appended(k, 0, fmt.Sprint(w, "-", n), map[string]any{"n": n, "user:n": n}))
				default:
					_, _ = store.Append(ctx, deleted(k))
				}
			}
		})
	}
	wg.Wait()
	requireVerified(t, store)
}
