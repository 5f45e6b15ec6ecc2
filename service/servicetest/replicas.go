package servicetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// RunReplicas checks what replicas promise each other: several services,
// each over its own store, all stores over the same log and state (the same
// database), as the replicas of an agent server behind a load balancer would
// be. A replica keeps nothing of its own beyond the handles it gives out, so
// what one writes shows in the next call of any other.
//
// Each call of newLog makes a new, empty log and returns a function that
// opens another store over it (a subtest calls newLog once, or twice to
// import into a second log); the stores it opens must not have
// connections or caches in common that would hide one replica's writes from
// another. RunReplicas closes every store it opens. Like [Run], it runs
// every check twice, the second time (the subtest "wrapped") with each store
// wrapped in a struct that embeds it.
func RunReplicas(t *testing.T, newLog func(t *testing.T) (open func() eventlog.Store)) {
	replicas{newLog: newLog}.run(t)
	t.Run("wrapped", func(t *testing.T) {
		t.Parallel()
		replicas{newLog: func(t *testing.T) func() eventlog.Store {
			open := newLog(t)
			return func() eventlog.Store { return wrap(open()) }
		}}.run(t)
	})
}

func (r replicas) run(t *testing.T) {
	tests := []struct {
		name string
		run  func(*testing.T)
	}{
		{"a Get on one replica returns what another appended, with its app and user state", r.readYourReplicasWrites},
		{"a create or delete on one replica shows on the other", r.createAndDelete},
		{"two replicas appending from the same version: exactly one wins", r.sameVersion},
		{"last writer wins across replicas when the service asks for it", r.lastWriterWins},
		{"a subscription on one replica receives another's appends in order", r.subscription},
		{"a replica opened after the others closed sees everything", r.reopen},
		{"an append through a handle of a session another replica replaced is not found", r.replacedUnderAppend},
		{"last writer wins also when another replica appends just before the commit", r.overtakenUnderAppend},
		{"a Get of a session another replica replaced reads the new one", r.replacedUnderGet},
		{"V1 values one replica writes come back the same through another", r.values},
		{"K1 K2 V1 random keys and values one replica writes come back exact and isolated through another", r.property},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t)
		})
	}
}

type replicas struct {
	newLog func(t *testing.T) (open func() eventlog.Store)
}

// replica is one service over its own store of a log other replicas write.
type replica struct {
	*harness
	hooks *hookedStore
}

// hookedStore runs a function once, just before the next append of an
// event (or the next Load) reaches the store: the moment between a
// caller's read of a session and its write, where another replica's write
// can land.
type hookedStore struct {
	eventlog.Store
	beforeAppend, beforeLoad atomic.Pointer[func()]
}

func (h *hookedStore) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	if rec != nil && rec.Kind == eventlog.KindEventAppended {
		if f := h.beforeAppend.Swap(nil); f != nil {
			(*f)()
		}
	}
	return h.Store.Append(ctx, rec)
}

func (h *hookedStore) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	if f := h.beforeLoad.Swap(nil); f != nil {
		(*f)()
	}
	return h.Store.Load(ctx, key, opts)
}

// open opens n replicas over a new log, on one clock and one ID sequence
// (so that IDs never collide), and returns them with the log's opener.
func (r replicas) open(t *testing.T, n int, opts ...option) ([]replica, func(opts ...option) replica) {
	t.Helper()
	openStore := r.newLog(t)
	clock, ids := &fakeClock{}, &counterIDs{}
	openReplica := func(opts ...option) replica {
		t.Helper()
		store := openStore()
		require.NotNil(t, store, "the log's opener returned a nil store")
		hooks := &hookedStore{Store: store}
		o := service.Options{Store: hooks, Now: clock.Now, NewID: ids.Next}
		for _, f := range opts {
			f(&o)
		}
		h := &harness{t: t, ctx: t.Context(), store: store, clock: clock}
		t.Cleanup(func() { h.closeOnce.Do(func() { assert.NoError(t, store.Close(), "closing a replica's store") }) })
		svc, err := service.New(h.ctx, o)
		require.NoError(t, err, "service.New over a log other replicas write")
		h.svc = svc
		return replica{h, hooks}
	}
	out := make([]replica, n)
	for i := range out {
		out[i] = openReplica(opts...)
	}
	return out, openReplica
}

// CONTRACT G3 (across replicas): a Get on B right after an append on A
// returns the event, and A's app: and user: writes show in B's next Get.
func (r replicas) readYourReplicasWrites(t *testing.T) {
	rs, _ := r.open(t, 2)
	a, b := rs[0], rs[1]
	k := key("app", "u", "s")
	sess := a.create(k, map[string]any{"own": "a"})
	other := a.create(key("app", "u", "other"), nil)

	stored := a.appendEvent(sess, &service.Event{
		Content: text("hello"),
		Actions: service.EventActions{StateDelta: map[string]any{"own": "b", "app:color": "red", "user:lang": "go"}},
	})
	got := b.get(k)
	require.Equal(t, []string{stored.ID}, ids(got.Events), "B's Get holds A's event")
	assert.Equal(t, "hello", got.Events[0].Content.Parts[0].Text)
	assert.Equal(t, uint64(1), got.Version)
	assert.Equal(t, map[string]any{"own": "b", "app:color": "red", "user:lang": "go"}, got.State)
	assert.Equal(t, map[string]any{"app:color": "red", "user:lang": "go"}, b.get(other.Key()).State,
		"A's shared writes show in every session B reads")

	// B appends through its own handle; A sees it.
	b.appendDelta(got, map[string]any{"app:color": "blue"})
	assert.Equal(t, "blue", a.get(other.Key()).State["app:color"])
	assert.Equal(t, uint64(2), a.get(k).Version)
	a.verify()
	b.verify()
}

// CONTRACT C1 D2 (across replicas).
func (r replicas) createAndDelete(t *testing.T) {
	rs, _ := r.open(t, 2)
	a, b := rs[0], rs[1]
	k := key("app", "u", "s")
	a.create(k, map[string]any{"user:n": 1.0})

	_, err := b.svc.Create(b.ctx, k, nil)
	require.ErrorIs(t, err, service.ErrAlreadyExists, "B cannot create what A created")
	assert.Equal(t, []string{"u/s"}, sessionIDs(b.list("app", "", 0)))

	require.NoError(t, b.svc.Delete(b.ctx, k))
	_, err = a.svc.Get(a.ctx, k, service.GetOptions{})
	require.ErrorIs(t, err, service.ErrNotFound, "A sees B's deletion")
	assert.Empty(t, a.list("app", "", 0))

	again := a.create(k, nil)
	assert.Equal(t, map[string]any{"user:n": 1.0}, again.State, "the user state the deleted session wrote stays")
	got := b.get(k)
	assert.Empty(t, got.Events)
	assert.Equal(t, uint64(0), got.Version)
	a.verify()
	b.verify()
}

// CONTRACT A6 (across replicas): the log, not either replica's memory,
// decides which of two appends from the same version wins.
func (r replicas) sameVersion(t *testing.T) {
	rs, _ := r.open(t, 2)
	a, b := rs[0], rs[1]
	k := key("app", "u", "s")
	a.create(k, nil)
	const rounds = 20
	for i := range rounds {
		ha, hb := a.get(k), b.get(k)
		require.Equal(t, ha.Version, hb.Version)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, rep := range []replica{a, b} {
			h := []*service.Session{ha, hb}[j]
			wg.Go(func() {
				_, errs[j] = rep.svc.AppendEvent(rep.ctx, h, delta(map[string]any{"by": fmt.Sprint(j), "round": float64(i)}))
			})
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
				continue
			}
			require.ErrorIs(t, err, service.ErrStaleSession, "round %d", i)
		}
		require.Equal(t, 1, won, "round %d: exactly one append wins", i)
	}
	for _, rep := range rs {
		got := rep.get(k)
		require.Len(t, got.Events, rounds)
		require.Equal(t, uint64(rounds), got.Version)
		recs, _, err := rep.store.Read(rep.ctx, eventlog.SessionScope(k, 0), 0, 2*rounds)
		require.NoError(t, err)
		require.Len(t, recs, rounds)
		for i, rec := range recs {
			require.Equal(t, uint64(i+1), rec.Seq, "no gap, no interleaving")
			require.Equal(t, float64(i), normalize(t, rec.Event.Actions.StateDelta).(map[string]any)["round"], "round %d's winner is event %d", i, i+1)
		}
		rep.verify()
	}
}

// CONTRACT A6: with LastWriterWins, an append through a handle another
// replica has overtaken goes after that replica's events.
func (r replicas) lastWriterWins(t *testing.T) {
	rs, _ := r.open(t, 2, lastWriterWins)
	a, b := rs[0], rs[1]
	k := key("app", "u", "s")
	stale := a.create(k, nil)
	b.appendDelta(b.get(k), map[string]any{"n": 1.0})
	a.appendDelta(stale, map[string]any{"n": 2.0})
	got := b.get(k)
	require.Equal(t, uint64(2), got.Version)
	assert.Equal(t, 2.0, got.State["n"])
	a.verify()
	b.verify()
}

// CONTRACT S1 S2 (across replicas).
func (r replicas) subscription(t *testing.T) {
	rs, _ := r.open(t, 2)
	a, b := rs[0], rs[1]
	k := key("app", "u", "s")
	sess := a.create(k, nil)
	const n = 30
	ctx, cancel := context.WithTimeout(b.ctx, waitLimit)
	defer cancel()

	var wg sync.WaitGroup
	var appended []string
	wg.Go(func() {
		for i := range n {
			ev, err := a.svc.AppendEvent(a.ctx, sess, delta(map[string]any{"i": float64(i)}))
			if !assert.NoError(t, err) {
				return
			}
			appended = append(appended, ev.ID)
			if i%7 == 0 {
				time.Sleep(time.Millisecond) // let the subscriber catch up and wait
			}
		}
	})
	var seen []string
	var last eventlog.Position
	for rec, err := range b.svc.Subscribe(ctx, k, 0) {
		require.NoError(t, err)
		require.Equal(t, uint64(len(seen)+1), rec.Seq, "in order, no gaps")
		require.Greater(t, rec.Position, last)
		last = rec.Position
		seen = append(seen, rec.Event.ID)
		if len(seen) == n {
			break
		}
	}
	wg.Wait()
	require.Equal(t, appended, seen)

	var app []eventlog.Kind
	for rec, err := range b.svc.SubscribeApp(ctx, "app", 0) {
		require.NoError(t, err)
		app = append(app, rec.Kind)
		if len(app) == n+1 {
			break
		}
	}
	require.Equal(t, eventlog.KindSessionCreated, app[0], "the app stream starts with the creation")
	require.NoError(t, ctx.Err(), "the subscriptions finished before their deadline")
}

// CONTRACT R1 R2 (across replicas): the log is the truth; a replica opened
// after the others closed serves everything from it.
func (r replicas) reopen(t *testing.T) {
	rs, openReplica := r.open(t, 2)
	a, b := rs[0], rs[1]
	k1, k2, gone := key("app", "u1", "s"), key("app", "u2", "s"), key("app", "u1", "gone")
	s1 := a.create(k1, map[string]any{"x": "1"})
	s2 := b.create(k2, nil)
	a.appendDelta(s1, map[string]any{"app:a": "from a", "user:u": "u1"})
	b.appendDelta(s2, map[string]any{"app:b": "from b", "user:u": "u2"})
	g := b.create(gone, nil)
	b.appendDelta(g, map[string]any{"user:kept": "yes"})
	require.NoError(t, a.svc.Delete(a.ctx, gone))
	want := b.exportJSON()
	wantState := map[service.SessionKey]map[string]any{k1: b.get(k1).State, k2: a.get(k2).State}
	a.close()
	b.close()

	c := openReplica()
	assert.Equal(t, want, c.exportJSON(), "the new replica reads the same log")
	for k, st := range wantState {
		assert.Equal(t, st, c.get(k).State, "%v", k)
	}
	assert.Equal(t, "yes", c.get(k1).State["user:kept"], "the deleted session's user state survives")
	_, err := c.svc.Get(c.ctx, gone, service.GetOptions{})
	require.True(t, errors.Is(err, service.ErrNotFound), "the deleted session stays deleted: %v", err)
	c.verify()
}

// CONTRACT A6 D2 (across replicas): just before A's append reaches the
// store, B deletes the session and creates another at its key; A's append
// through the old handle, at the version the new session is at, must not
// land in the new session.
func (r replicas) replacedUnderAppend(t *testing.T) {
	rs, _ := r.open(t, 2)
	a, b := rs[0], rs[1]
	k := key("app", "u", "s")
	old := a.create(k, nil)
	replace := func() {
		require.NoError(t, b.svc.Delete(b.ctx, k))
		b.create(k, map[string]any{"gen": "2"})
	}
	a.hooks.beforeAppend.Store(&replace)
	_, err := a.svc.AppendEvent(a.ctx, old, delta(map[string]any{"app:x": "through the old handle"}))
	require.ErrorIs(t, err, service.ErrNotFound)
	assert.Nil(t, a.hooks.beforeAppend.Load(), "the replacement ran")
	for _, rep := range rs {
		got := rep.get(k)
		assert.Empty(t, got.Events, "the new session holds nothing of the old handle's")
		assert.Equal(t, map[string]any{"gen": "2"}, got.State)
		rep.verify()
	}
}

// CONTRACT A6: with LastWriterWins, B's append just before A's reaches the
// store does not make A's stale: A's goes after B's.
func (r replicas) overtakenUnderAppend(t *testing.T) {
	rs, _ := r.open(t, 2, lastWriterWins)
	a, b := rs[0], rs[1]
	k := key("app", "u", "s")
	sess := a.create(k, nil)
	overtake := func() { b.appendDelta(b.get(k), map[string]any{"by": "b"}) }
	a.hooks.beforeAppend.Store(&overtake)
	a.appendDelta(sess, map[string]any{"by": "a"})
	assert.Nil(t, a.hooks.beforeAppend.Load(), "B got in first")
	for _, rep := range rs {
		got := rep.get(k)
		require.Len(t, got.Events, 2)
		assert.Equal(t, uint64(2), got.Version)
		assert.Equal(t, "a", got.State["by"], "A's append, stored last, wins")
		rep.verify()
	}
}

// CONTRACT G1 G4 (across replicas): B replaces the session just before
// A's Get reaches the store; A's Get returns the new session whole, never
// a mix of the two, and its handle appends to the new session.
func (r replicas) replacedUnderGet(t *testing.T) {
	rs, _ := r.open(t, 2)
	a, b := rs[0], rs[1]
	k := key("app", "u", "s")
	old := a.create(k, map[string]any{"gen": "1"})
	a.appendDelta(old, map[string]any{"n": 1.0})
	replace := func() {
		require.NoError(t, b.svc.Delete(b.ctx, k))
		b.create(k, map[string]any{"gen": "2"})
	}
	a.hooks.beforeLoad.Store(&replace)
	got := a.get(k)
	assert.Nil(t, a.hooks.beforeLoad.Load(), "the replacement ran")
	assert.Equal(t, map[string]any{"gen": "2"}, got.State)
	assert.Empty(t, got.Events)
	assert.Equal(t, uint64(0), got.Version)
	a.appendDelta(got, map[string]any{"n": 2.0})
	assert.Equal(t, uint64(1), b.get(k).Version, "the handle A got is the new session's")
}
