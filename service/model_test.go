package service_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/service"
)

// The model-based tests (DESIGN.md, "Testing layers" 3) drive a service with
// random operations over a small key space, so that sessions collide,
// share app: and user: keys, and are deleted and created again, and check
// it against a plain-map model of what the contract says must happen.
//
// Set SESSIONLOG_MODEL_SEED to replay a run; every run logs its seed.

var (
	mdlApps  = []string{"app0", "app1"}
	mdlUsers = []string{"u0", "u1", "u2"}
	mdlIDs   = []string{"s0", "s1", "s2", "s3"}
	mdlT0    = time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
)

// mdlKeys is the whole key space.
func mdlKeys() []service.SessionKey {
	var out []service.SessionKey
	for _, app := range mdlApps {
		for _, user := range mdlUsers {
			for _, id := range mdlIDs {
				out = append(out, service.SessionKey{AppName: app, UserID: user, SessionID: id})
			}
		}
	}
	return out
}

// mdlSeed returns the run's seed, from SESSIONLOG_MODEL_SEED when set.
func mdlSeed(t *testing.T) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("SESSIONLOG_MODEL_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "SESSIONLOG_MODEL_SEED")
		seed = v
	}
	t.Logf("seed %d (set SESSIONLOG_MODEL_SEED=%d to replay)", seed, seed)
	return seed
}

// mdlClock hands out strictly increasing times, one microsecond apart, so
// that every record of a run has its own time.
type mdlClock struct{ n atomic.Int64 }

func (c *mdlClock) now() time.Time { return mdlT0.Add(time.Duration(c.n.Add(1)) * time.Microsecond) }

// peek returns the time the next call of now gives.
func (c *mdlClock) peek() time.Time { return mdlT0.Add(time.Duration(c.n.Load()+1) * time.Microsecond) }

// mdlState builds a random state map over a small pool of keys in every
// scope; removals give Removed values (seldom for an initial state).
func mdlState(r *rand.Rand, maxKeys int, removeOneIn int) map[string]any {
	pool := []string{"app:k0", "app:k1", "app:k2", "user:k0", "user:k1", "user:k2", "temp:t0", "temp:t1", "p0", "p1", "p2", "p3"}
	n := r.IntN(maxKeys + 1)
	out := make(map[string]any, n)
	for range n {
		k := pool[r.IntN(len(pool))]
		switch {
		case r.IntN(removeOneIn) == 0:
			out[k] = service.Removed
		case r.IntN(5) == 0:
			out[k] = map[string]any{"n": r.IntN(100), "l": []any{"x", r.IntN(3)}}
		case r.IntN(2) == 0:
			out[k] = "v" + strconv.Itoa(r.IntN(1000))
		default:
			out[k] = r.IntN(1000)
		}
	}
	return out
}

// mdlScope says which scope a state key belongs to.
func mdlScope(k string) string {
	for _, p := range []string{"app:", "user:", "temp:"} {
		if strings.HasPrefix(k, p) {
			return p
		}
	}
	return ""
}

// mdlHasShared reports whether a delta writes app: or user: state.
func mdlHasShared(delta map[string]any) bool {
	for k := range delta {
		if s := mdlScope(k); s == "app:" || s == "user:" {
			return true
		}
	}
	return false
}

// mdlSession is the model of one live session.
type mdlSession struct {
	own        map[string]any
	events     []string // event IDs in sequence order
	times      []time.Time
	lastUpdate time.Time
}

// mdlModel is the contract as plain maps: app state, user state, and live
// sessions, each written in the order the operations took effect.
type mdlModel struct {
	app      map[string]map[string]any
	user     map[[2]string]map[string]any
	sessions map[service.SessionKey]*mdlSession
}

func newMdlModel() *mdlModel {
	return &mdlModel{app: map[string]map[string]any{}, user: map[[2]string]map[string]any{}, sessions: map[service.SessionKey]*mdlSession{}}
}

func mdlSet(m map[string]any, k string, v any) {
	if v == service.Removed {
		delete(m, k)
	} else {
		m[k] = v
	}
}

// write folds a state map written through key: app: and user: keys go to
// the shared maps, temp: keys nowhere, the rest to the session, if live.
func (m *mdlModel) write(key service.SessionKey, state map[string]any) {
	for k, v := range state {
		switch mdlScope(k) {
		case "app:":
			if m.app[key.AppName] == nil {
				m.app[key.AppName] = map[string]any{}
			}
			mdlSet(m.app[key.AppName], strings.TrimPrefix(k, "app:"), v)
		case "user:":
			uk := [2]string{key.AppName, key.UserID}
			if m.user[uk] == nil {
				m.user[uk] = map[string]any{}
			}
			mdlSet(m.user[uk], strings.TrimPrefix(k, "user:"), v)
		case "temp:":
		default:
			if s := m.sessions[key]; s != nil {
				mdlSet(s.own, k, v)
			}
		}
	}
}

func (m *mdlModel) create(key service.SessionKey, state map[string]any, at time.Time) {
	m.sessions[key] = &mdlSession{own: map[string]any{}, lastUpdate: at}
	m.write(key, state)
}

// appendEvent folds an event; a session that is not live (a deleted one
// whose records the log no longer holds) gets only its shared writes.
func (m *mdlModel) appendEvent(key service.SessionKey, id string, delta map[string]any, at time.Time) {
	if s := m.sessions[key]; s != nil {
		s.events = append(s.events, id)
		s.times = append(s.times, at)
		s.lastUpdate = at
	}
	m.write(key, delta)
}

func (m *mdlModel) delete(key service.SessionKey) { delete(m.sessions, key) }

// merged is what a Get of key must show as its state.
func (m *mdlModel) merged(key service.SessionKey) map[string]any {
	out := map[string]any{}
	for k, v := range m.sessions[key].own {
		out[k] = v
	}
	for k, v := range m.app[key.AppName] {
		out["app:"+k] = v
	}
	for k, v := range m.user[[2]string{key.AppName, key.UserID}] {
		out["user:"+k] = v
	}
	return out
}

// mdlEventIDs lists the IDs of events; nil when there are none, as the
// model holds them.
func mdlEventIDs(events []*service.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, e.ID)
	}
	return out
}

// mdlCheckAgainst compares every session of the key space, and every
// listing, with the model.
func mdlCheckAgainst(t *testing.T, svc *service.Service, m *mdlModel, what string) {
	t.Helper()
	ctx := context.Background()
	for _, key := range mdlKeys() {
		got, err := svc.Get(ctx, key, service.GetOptions{})
		want := m.sessions[key]
		if want == nil {
			require.ErrorIs(t, err, service.ErrNotFound, "%s: Get %s of a session the model does not hold", what, key)
			continue
		}
		require.NoError(t, err, "%s: Get %s", what, key)
		require.Equal(t, m.merged(key), got.State, "%s: state of %s", what, key)
		require.Equal(t, uint64(len(want.events)), got.Version, "%s: version of %s", what, key)
		require.Equal(t, want.events, mdlEventIDs(got.Events), "%s: events of %s", what, key)
		require.True(t, want.lastUpdate.Equal(got.LastUpdateTime), "%s: last update of %s: want %s, got %s", what, key, want.lastUpdate, got.LastUpdateTime)
		for i, e := range got.Events {
			require.True(t, want.times[i].Equal(e.Timestamp), "%s: timestamp of event %d of %s", what, i, key)
		}
	}
	for _, app := range mdlApps {
		for _, user := range append([]string{""}, mdlUsers...) {
			var want []service.SessionKey
			for key := range m.sessions {
				if key.AppName == app && (user == "" || key.UserID == user) {
					want = append(want, key)
				}
			}
			slices.SortFunc(want, func(a, b service.SessionKey) int {
				return cmp.Or(strings.Compare(a.UserID, b.UserID), strings.Compare(a.SessionID, b.SessionID))
			})
			var gotKeys []service.SessionKey
			for _, s := range mdlList(t, svc, app, user, 5) {
				gotKeys = append(gotKeys, s.Key())
				require.Equal(t, m.merged(s.Key()), s.State, "%s: listed state of %s", what, s.Key())
				require.Empty(t, s.Events, "%s: listed sessions carry no events", what)
			}
			require.Equal(t, want, gotKeys, "%s: List(%q, %q)", what, app, user)
		}
	}
}

// mdlList walks every page of a listing.
func mdlList(t *testing.T, svc *service.Service, app, user string, pageSize int) []*service.Session {
	t.Helper()
	var out []*service.Session
	token := ""
	for range 1000 {
		page, err := svc.List(context.Background(), app, user, service.ListOptions{PageSize: pageSize, PageToken: token})
		require.NoError(t, err)
		out = append(out, page.Sessions...)
		if token = page.NextPageToken; token == "" {
			return out
		}
	}
	t.Fatal("the listing never ended")
	return nil
}

// mdlOp is an operation that succeeded, as the goroutine that ran it saw it.
type mdlOp struct {
	kind    string // "create" or "append"
	key     service.SessionKey
	at      time.Time // the creation time or the event's timestamp
	eventID string
	state   map[string]any // initial state or delta, as passed in
	matched bool
}

// mdlWorker runs random operations and records those that succeeded.
type mdlWorker struct {
	svc     *service.Service
	clock   *mdlClock
	r       *rand.Rand
	id      int
	handles map[service.SessionKey]*service.Session
	ops     []*mdlOp
	errs    []string
}

func (w *mdlWorker) fail(format string, args ...any) {
	w.errs = append(w.errs, fmt.Sprintf("worker %d: ", w.id)+fmt.Sprintf(format, args...))
}

func (w *mdlWorker) randomKey() service.SessionKey {
	return service.SessionKey{
		AppName:   mdlApps[w.r.IntN(len(mdlApps))],
		UserID:    mdlUsers[w.r.IntN(len(mdlUsers))],
		SessionID: mdlIDs[w.r.IntN(len(mdlIDs))],
	}
}

func (w *mdlWorker) run(ctx context.Context, n int) {
	for i := range n {
		key := w.randomKey()
		switch p := w.r.IntN(100); {
		case p < 20:
			w.create(ctx, key)
		case p < 60:
			w.append(ctx, key, fmt.Sprintf("w%d-op%d", w.id, i))
		case p < 75:
			w.get(ctx, key)
		case p < 85:
			w.list(ctx, key)
		default:
			if err := w.svc.Delete(ctx, key); err != nil {
				w.fail("delete %s: %v", key, err)
			}
			delete(w.handles, key)
		}
	}
}

func (w *mdlWorker) create(ctx context.Context, key service.SessionKey) {
	state := mdlState(w.r, 5, 10)
	sess, err := w.svc.Create(ctx, key, state)
	switch {
	case errors.Is(err, service.ErrAlreadyExists):
		return
	case err != nil:
		w.fail("create %s: %v", key, err)
		return
	}
	w.ops = append(w.ops, &mdlOp{kind: "create", key: key, at: sess.LastUpdateTime, state: state})
	w.handles[key] = sess
	if sess.Version != 0 || len(sess.Events) != 0 {
		w.fail("create %s: a new session has version %d and %d events", key, sess.Version, len(sess.Events))
	}
	for k, v := range state {
		got, ok := sess.State[k]
		switch {
		case mdlScope(k) == "temp:" && ok:
			w.fail("create %s: the handle holds temp: key %s", key, k)
		case mdlScope(k) == "" && v == service.Removed && ok:
			w.fail("create %s: the handle holds removed key %s", key, k)
		case mdlScope(k) == "" && v != service.Removed && !assert.ObjectsAreEqual(v, got):
			w.fail("create %s: the handle has %s = %v, want %v", key, k, got, v)
		}
	}
}

func (w *mdlWorker) append(ctx context.Context, key service.SessionKey, id string) {
	sess := w.handles[key]
	if sess == nil || w.r.IntN(2) == 0 {
		got, err := w.svc.Get(ctx, key, service.GetOptions{})
		if err != nil {
			if !errors.Is(err, service.ErrNotFound) {
				w.fail("get %s before append: %v", key, err)
			}
			delete(w.handles, key)
			return
		}
		sess = got
		w.handles[key] = sess
	}
	delta := mdlState(w.r, 4, 5)
	ev := &service.Event{ID: id, Author: "agent", Timestamp: w.clock.now(), Actions: service.EventActions{StateDelta: delta}}
	for range 10 {
		before := sess.Version
		stored, err := w.svc.AppendEvent(ctx, sess, ev)
		switch {
		case err == nil:
			w.ops = append(w.ops, &mdlOp{kind: "append", key: key, at: ev.Timestamp, eventID: id, state: delta})
			if stored.ID != id {
				w.fail("append %s: stored event ID %q, want %q", key, stored.ID, id)
			}
			for k := range stored.Actions.StateDelta {
				if mdlScope(k) == "temp:" {
					w.fail("append %s: the stored event holds temp: key %s", key, k)
				}
			}
			if sess.Version != before+1 || sess.Events[len(sess.Events)-1] != stored {
				w.fail("append %s: the handle is at version %d after %d", key, sess.Version, before)
			}
			for k, v := range delta {
				if mdlScope(k) == "temp:" && v != service.Removed && !assert.ObjectsAreEqual(v, sess.State[k]) {
					w.fail("append %s: the handle lacks temp: key %s", key, k)
				}
			}
			return
		case errors.Is(err, service.ErrStaleSession):
			got, err := w.svc.Get(ctx, key, service.GetOptions{})
			if err != nil {
				if !errors.Is(err, service.ErrNotFound) {
					w.fail("get %s after a stale append: %v", key, err)
				}
				delete(w.handles, key)
				return
			}
			sess = got
			w.handles[key] = sess
		case errors.Is(err, service.ErrNotFound):
			delete(w.handles, key)
			return
		default:
			w.fail("append %s: %v", key, err)
			return
		}
	}
}

// get checks what must hold of any Get, whatever runs alongside it.
func (w *mdlWorker) get(ctx context.Context, key service.SessionKey) {
	sess, err := w.svc.Get(ctx, key, service.GetOptions{})
	if err != nil {
		if !errors.Is(err, service.ErrNotFound) {
			w.fail("get %s: %v", key, err)
		}
		return
	}
	w.handles[key] = sess
	if sess.Version != uint64(len(sess.Events)) {
		w.fail("get %s: version %d with %d events: an append was half seen", key, sess.Version, len(sess.Events))
	}
	for k := range sess.State {
		if mdlScope(k) == "temp:" {
			w.fail("get %s: the state holds temp: key %s", key, k)
		}
	}
	seen := map[string]bool{}
	for _, e := range sess.Events {
		if seen[e.ID] {
			w.fail("get %s: event %s twice", key, e.ID)
		}
		seen[e.ID] = true
	}
}

func (w *mdlWorker) list(ctx context.Context, key service.SessionKey) {
	user := key.UserID
	if w.r.IntN(2) == 0 {
		user = ""
	}
	page, err := w.svc.List(ctx, key.AppName, user, service.ListOptions{PageSize: 1 + w.r.IntN(5)})
	if err != nil {
		w.fail("list %s/%s: %v", key.AppName, user, err)
		return
	}
	for i, s := range page.Sessions {
		if len(s.Events) != 0 || s.AppName != key.AppName || (user != "" && s.UserID != user) {
			w.fail("list %s/%s: listed %s with %d events", key.AppName, user, s.Key(), len(s.Events))
		}
		if i > 0 {
			prev := page.Sessions[i-1]
			if cmp.Or(strings.Compare(prev.UserID, s.UserID), strings.Compare(prev.ID, s.ID)) >= 0 {
				w.fail("list %s/%s: %s listed after %s", key.AppName, user, s.Key(), prev.Key())
			}
		}
	}
}

// CONTRACT R1 Z1 A4 A6 G3 L2 R2: goroutines run random operations at once;
// afterwards the served state equals the rebuilt one, and a plain-map model
// that replays the successful operations in the log's order agrees with
// every Get and List, before and after an export and import.
func TestModelRandomOperations(t *testing.T) {
	const workers, opsPerWorker = 8, 600
	ctx := context.Background()
	seed := mdlSeed(t)
	clock := &mdlClock{}
	svc, err := service.New(ctx, service.Options{Now: clock.now})
	require.NoError(t, err)
	defer svc.Close()

	ws := make([]*mdlWorker, workers)
	var wg sync.WaitGroup
	for i := range ws {
		ws[i] = &mdlWorker{svc: svc, clock: clock, r: rand.New(rand.NewPCG(seed, uint64(i))), id: i, handles: map[service.SessionKey]*service.Session{}}
		wg.Go(func() { ws[i].run(ctx, opsPerWorker) })
	}
	wg.Wait()
	var ops []*mdlOp
	for _, w := range ws {
		for _, e := range w.errs {
			t.Error(e)
		}
		ops = append(ops, w.ops...)
	}
	t.Logf("%d operations succeeded", len(ops))

	t.Run("the served state equals the state rebuilt from the log", func(t *testing.T) {
		// CONTRACT R1
		require.NoError(t, svc.Verify(ctx))
	})

	var log []*service.Record
	for rec, err := range svc.Export(ctx) {
		require.NoError(t, err)
		log = append(log, rec)
	}

	t.Run("a model replaying the successful operations in log order agrees with every Get and List", func(t *testing.T) {
		// CONTRACT R1 A4 G3 L1 D2 D3
		byTime := map[int64]*mdlOp{}
		byEvent := map[string]*mdlOp{}
		for _, op := range ops {
			require.NotContains(t, byTime, op.at.UnixNano(), "two operations have the same time")
			byTime[op.at.UnixNano()] = op
			if op.kind == "append" {
				byEvent[op.eventID] = op
			}
		}
		match := func(op *mdlOp, rec *service.Record) *mdlOp {
			t.Helper()
			require.NotNil(t, op, "record %d (%s of %s) matches no successful operation", rec.Position, rec.Kind, rec.Key)
			require.False(t, op.matched, "record %d matches an operation already matched", rec.Position)
			require.Equal(t, op.key, rec.Key, "record %d", rec.Position)
			op.matched = true
			return op
		}
		deleted := map[service.SessionKey]bool{}
		for _, rec := range log {
			if rec.Kind == eventlog.KindSessionDeleted {
				deleted[rec.Key] = true
			}
		}
		m := newMdlModel()
		var last service.Position
		for _, rec := range log {
			require.Greater(t, rec.Position, last, "the export is in position order")
			last = rec.Position
			switch rec.Kind {
			case eventlog.KindSessionCreated:
				op := match(byTime[rec.Time.UnixNano()], rec)
				require.Equal(t, "create", op.kind)
				require.NotContains(t, m.sessions, rec.Key, "record %d creates a session that is live", rec.Position)
				m.create(rec.Key, op.state, op.at)
			case eventlog.KindEventAppended:
				op := match(byEvent[rec.Event.ID], rec)
				m.appendEvent(rec.Key, op.eventID, op.state, op.at)
			case eventlog.KindStateRetained:
				op := match(byTime[rec.Time.UnixNano()], rec)
				require.True(t, mdlHasShared(op.state), "record %d retains state of an operation without shared writes", rec.Position)
				if op.kind == "create" {
					m.create(rec.Key, op.state, op.at)
				} else {
					m.appendEvent(rec.Key, op.eventID, op.state, op.at)
				}
			case eventlog.KindSessionDeleted:
				// The model may not hold the session: a deleted session's
				// creation without shared writes leaves nothing behind.
				m.delete(rec.Key)
			}
		}
		for _, op := range ops {
			// A deleted session keeps only the shared writes that no later
			// write of its own overrides (CONTRACT D3); others leave nothing.
			if !op.matched && !deleted[op.key] {
				assert.False(t, mdlHasShared(op.state), "the %s of %s at %s wrote shared state but is not in the log", op.kind, op.key, op.at)
			}
		}
		mdlCheckAgainst(t, svc, m, "after the run")
	})

	t.Run("every live session's events have sequence numbers 1 to n", func(t *testing.T) {
		// CONTRACT A3 E1
		seqs := map[service.SessionKey][]uint64{}
		for _, rec := range log {
			if rec.Kind == eventlog.KindEventAppended {
				seqs[rec.Key] = append(seqs[rec.Key], rec.Seq)
			}
		}
		for _, key := range mdlKeys() {
			sess, err := svc.Get(ctx, key, service.GetOptions{})
			if errors.Is(err, service.ErrNotFound) {
				assert.Empty(t, seqs[key], "a deleted session's events are freed")
				continue
			}
			require.NoError(t, err)
			want := make([]uint64, sess.Version)
			for i := range want {
				want[i] = uint64(i + 1)
			}
			assert.Equal(t, want, slices.Clip(append([]uint64{}, seqs[key]...)), "sequence numbers of %s", key)
			var paged []*service.Event
			token := ""
			for {
				page, err := svc.ListEvents(ctx, key, service.ListEventsOptions{PageSize: 7, PageToken: token})
				require.NoError(t, err)
				paged = append(paged, page.Events...)
				if token = page.NextPageToken; token == "" {
					break
				}
			}
			assert.Equal(t, mdlEventIDs(sess.Events), mdlEventIDs(paged), "ListEvents of %s", key)
		}
	})

	t.Run("an export imported into a fresh service gives the same sessions", func(t *testing.T) {
		// CONTRACT R2
		fresh, err := service.New(ctx, service.Options{})
		require.NoError(t, err)
		defer fresh.Close()
		require.NoError(t, fresh.Import(ctx, svc.Export(ctx)))
		require.NoError(t, fresh.Verify(ctx))
		mdlSameSessions(t, svc, fresh)
	})
}

// mdlSameSessions checks that two services hold the same sessions.
func mdlSameSessions(t *testing.T, want, got *service.Service) {
	t.Helper()
	ctx := context.Background()
	for _, key := range mdlKeys() {
		a, errA := want.Get(ctx, key, service.GetOptions{})
		b, errB := got.Get(ctx, key, service.GetOptions{})
		if errA != nil {
			require.ErrorIs(t, errA, service.ErrNotFound)
			require.ErrorIs(t, errB, service.ErrNotFound, "%s", key)
			continue
		}
		require.NoError(t, errB, "%s", key)
		assert.Equal(t, a.State, b.State, "state of %s", key)
		assert.Equal(t, a.Version, b.Version, "version of %s", key)
		assert.True(t, a.LastUpdateTime.Equal(b.LastUpdateTime), "last update of %s", key)
		require.Equal(t, len(a.Events), len(b.Events), "events of %s", key)
		for i := range a.Events {
			assert.Equal(t, a.Events[i].ID, b.Events[i].ID)
			assert.True(t, a.Events[i].Timestamp.Equal(b.Events[i].Timestamp))
			assert.Equal(t, a.Events[i].Actions.StateDelta, b.Events[i].Actions.StateDelta)
		}
	}
	for _, app := range mdlApps {
		for _, user := range append([]string{""}, mdlUsers...) {
			a, b := mdlList(t, want, app, user, 3), mdlList(t, got, app, user, 4)
			require.Equal(t, len(a), len(b), "List(%q, %q)", app, user)
			for i := range a {
				assert.Equal(t, a[i].Key(), b[i].Key())
				assert.Equal(t, a[i].State, b[i].State)
			}
		}
	}
}

// mdlHandle is a handle the sequential test keeps, with the model session
// it was read from (its incarnation).
type mdlHandle struct {
	sess *service.Session
	of   *mdlSession
}

// mdlFilter applies GetOptions to the model's events as CONTRACT G2 says.
func mdlFilter(s *mdlSession, opts service.GetOptions) []string {
	ids, times := s.events, s.times
	if n := opts.NumRecentEvents; n > 0 && n < len(ids) {
		ids, times = ids[len(ids)-n:], times[len(times)-n:]
	}
	var out []string
	for i, id := range ids {
		if opts.After.IsZero() || !times[i].Before(opts.After) {
			out = append(out, id)
		}
	}
	return out
}

// CONTRACT R1 A2 A3 A4 A5 A6 A7 C1 C2 C3 D1 D2 G2 G3 L1 L2 E1 R2: one
// goroutine runs random operations and checks each result, and then every
// session and listing, against a model kept in step operation by
// operation.
func TestModelSequentialOperations(t *testing.T) {
	const ops = 1500
	ctx := context.Background()
	seed := mdlSeed(t)
	r := rand.New(rand.NewPCG(seed, 0x5e9))
	clock := &mdlClock{}
	svc, err := service.New(ctx, service.Options{Now: clock.now})
	require.NoError(t, err)
	defer svc.Close()
	m := newMdlModel()
	handles := map[service.SessionKey][]mdlHandle{}
	keep := func(key service.SessionKey, sess *service.Session) {
		hs := append(handles[key], mdlHandle{sess, m.sessions[key]})
		handles[key] = hs[max(0, len(hs)-3):]
	}
	// fresh reads a handle the way a caller would before an append.
	fresh := func(key service.SessionKey) *service.Session {
		sess, err := svc.Get(ctx, key, service.GetOptions{})
		require.NoError(t, err)
		keep(key, sess)
		return sess
	}
	// event builds a random event; now and then without ID or timestamp,
	// or with a timestamp older than the last.
	event := func(i int) (*service.Event, time.Time) {
		ev := &service.Event{ID: "e" + strconv.Itoa(i), Author: "agent", Actions: service.EventActions{StateDelta: mdlState(r, 4, 5)}}
		switch r.IntN(10) {
		case 0:
			ev.ID = ""
		case 1:
			return ev, clock.peek() // a zero timestamp becomes now
		case 2:
			ev.Timestamp = mdlT0.Add(-time.Duration(r.IntN(1000)) * time.Second)
			return ev, ev.Timestamp
		}
		ev.Timestamp = clock.now()
		return ev, ev.Timestamp
	}
	// appended checks a successful append and folds it into the model.
	appended := func(key service.SessionKey, sess *service.Session, ev, stored *service.Event, at time.Time, what string) {
		require.NotEmpty(t, stored.ID, what)
		if ev.ID != "" {
			require.Equal(t, ev.ID, stored.ID, what)
		}
		require.True(t, at.Equal(stored.Timestamp), "%s: timestamp %s, want %s", what, stored.Timestamp, at)
		for k := range stored.Actions.StateDelta {
			require.NotEqual(t, "temp:", mdlScope(k), "%s: the stored event keeps %s", what, k)
		}
		m.appendEvent(key, stored.ID, ev.Actions.StateDelta, at)
		want := m.merged(key)
		for k, v := range ev.Actions.StateDelta {
			if mdlScope(k) == "temp:" && v != service.Removed {
				want[k] = v
			}
		}
		require.Equal(t, want, sess.State, "%s: the handle's state", what)
		require.Equal(t, uint64(len(m.sessions[key].events)), sess.Version, "%s: the handle's version", what)
		require.Same(t, stored, sess.Events[len(sess.Events)-1], "%s: the handle's last event", what)
		require.True(t, at.Equal(sess.LastUpdateTime), "%s: the handle's last update", what)
	}

	t.Logf("running %d operations", ops)
	for i := range ops {
		key := service.SessionKey{AppName: mdlApps[r.IntN(len(mdlApps))], UserID: mdlUsers[r.IntN(len(mdlUsers))], SessionID: mdlIDs[r.IntN(len(mdlIDs))]}
		live := m.sessions[key]
		var what string
		switch p := r.IntN(100); {
		case p < 18:
			what = fmt.Sprintf("op %d: create %s", i, key)
			state := mdlState(r, 5, 10)
			at := clock.peek()
			sess, err := svc.Create(ctx, key, state)
			if live != nil {
				require.ErrorIs(t, err, service.ErrAlreadyExists, what)
				break
			}
			require.NoError(t, err, what)
			m.create(key, state, at)
			require.Equal(t, m.merged(key), sess.State, what)
			require.Zero(t, sess.Version, what)
			require.Empty(t, sess.Events, what)
			require.True(t, at.Equal(sess.LastUpdateTime), what)
			keep(key, sess)

		case p < 45:
			what = fmt.Sprintf("op %d: append to a fresh handle of %s", i, key)
			if live == nil {
				break
			}
			sess := fresh(key)
			ev, at := event(i)
			stored, err := svc.AppendEvent(ctx, sess, ev)
			require.NoError(t, err, what)
			appended(key, sess, ev, stored, at, what)

		case p < 62:
			hs := handles[key]
			if len(hs) == 0 {
				break
			}
			h := hs[r.IntN(len(hs))]
			before := *h.sess
			beforeState := eventlog.CloneMap(h.sess.State)
			ev, at := event(i)
			stored, err := svc.AppendEvent(ctx, h.sess, ev)
			switch {
			case h.of != live:
				what = fmt.Sprintf("op %d: append through a handle of a deleted %s", i, key)
				require.ErrorIs(t, err, service.ErrNotFound, what)
			case h.sess.Version < uint64(len(live.events)) && before.Version < uint64(len(live.events)):
				what = fmt.Sprintf("op %d: append through a stale handle of %s", i, key)
				require.ErrorIs(t, err, service.ErrStaleSession, what)
				assert.Contains(t, err.Error(), strconv.FormatUint(before.Version, 10), what)
				assert.Contains(t, err.Error(), strconv.Itoa(len(live.events)), what)
			default:
				what = fmt.Sprintf("op %d: append through a current old handle of %s", i, key)
				require.NoError(t, err, what)
				m.appendEvent(key, stored.ID, ev.Actions.StateDelta, at)
				require.Equal(t, uint64(len(live.events)), h.sess.Version, what)
				continue
			}
			require.Nil(t, stored, what)
			require.Equal(t, before.Version, h.sess.Version, "%s: a failed append changed the handle", what)
			require.Equal(t, beforeState, h.sess.State, "%s: a failed append changed the handle", what)

		case p < 67:
			what = fmt.Sprintf("op %d: append an event the session holds to %s", i, key)
			if live == nil || len(live.events) == 0 {
				break
			}
			sess := fresh(key)
			old := sess.Events[r.IntN(len(sess.Events))]
			ev := &service.Event{ID: old.ID, Timestamp: clock.now(), Actions: service.EventActions{StateDelta: map[string]any{"p0": "retry", "app:k0": "retry"}}}
			stored, err := svc.AppendEvent(ctx, sess, ev)
			require.NoError(t, err, what)
			require.Same(t, old, stored, "%s: the stored event comes back", what)
			require.Equal(t, uint64(len(live.events)), sess.Version, what)

		case p < 69:
			what = fmt.Sprintf("op %d: append a partial event to %s", i, key)
			if live == nil {
				break
			}
			sess := fresh(key)
			ev := &service.Event{ID: "partial", Partial: true, Actions: service.EventActions{StateDelta: map[string]any{"p0": "partial", "app:k0": "partial"}}}
			stored, err := svc.AppendEvent(ctx, sess, ev)
			require.NoError(t, err, what)
			require.Same(t, ev, stored, what)
			require.Equal(t, m.merged(key), sess.State, what)

		case p < 80:
			what = fmt.Sprintf("op %d: delete %s", i, key)
			require.NoError(t, svc.Delete(ctx, key), what)
			m.delete(key)

		case p < 90:
			what = fmt.Sprintf("op %d: get %s with filters", i, key)
			opts := service.GetOptions{NumRecentEvents: r.IntN(5)}
			if live != nil && len(live.times) > 0 && r.IntN(2) == 0 {
				opts.After = live.times[r.IntN(len(live.times))].Add(time.Duration(r.IntN(3)-1) * time.Nanosecond)
			}
			sess, err := svc.Get(ctx, key, opts)
			if live == nil {
				require.ErrorIs(t, err, service.ErrNotFound, what)
				break
			}
			require.NoError(t, err, what)
			require.Equal(t, mdlFilter(live, opts), mdlEventIDs(sess.Events), "%s: %+v", what, opts)
			require.Equal(t, uint64(len(live.events)), sess.Version, what)

		default:
			what = fmt.Sprintf("op %d: list the events of %s", i, key)
			size := 1 + r.IntN(4)
			page, err := svc.ListEvents(ctx, key, service.ListEventsOptions{PageSize: size})
			if live == nil {
				require.ErrorIs(t, err, service.ErrNotFound, what)
				break
			}
			var got []string
			for {
				require.NoError(t, err, what)
				require.LessOrEqual(t, len(page.Events), size, what)
				got = append(got, mdlEventIDs(page.Events)...)
				if page.NextPageToken == "" {
					break
				}
				page, err = svc.ListEvents(ctx, key, service.ListEventsOptions{PageSize: size, PageToken: page.NextPageToken})
			}
			require.Equal(t, live.events, got, what)
		}
		if what == "" {
			what = fmt.Sprintf("op %d", i)
		}
		mdlCheckAgainst(t, svc, m, what)
		if i%100 == 99 {
			require.NoError(t, svc.Verify(ctx), what)
		}
	}
	require.NoError(t, svc.Verify(ctx))

	t.Run("an export imported into a fresh service gives the same sessions", func(t *testing.T) {
		// CONTRACT R2
		imported, err := service.New(ctx, service.Options{})
		require.NoError(t, err)
		defer imported.Close()
		require.NoError(t, imported.Import(ctx, svc.Export(ctx)))
		require.NoError(t, imported.Verify(ctx))
		mdlSameSessions(t, svc, imported)
		mdlCheckAgainst(t, imported, m, "after the import")
	})
}

// mdlPausingStore pauses right after it commits a session's deletion, until
// the test lets it go on: the moment between the store's commit of a
// delete and the return of the call that asked for it.
type mdlPausingStore struct {
	eventlog.Store
	deleted chan struct{}
	resume  chan struct{}
}

func (s *mdlPausingStore) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	res, err := s.Store.Append(ctx, rec)
	if err == nil && rec.Kind == eventlog.KindSessionDeleted {
		s.deleted <- struct{}{}
		<-s.resume
	}
	return res, err
}

// CONTRACT R1 D2 Z1: a create of a key whose delete is under way, the case
// the random test hits by chance, made certain: once the store has
// committed the deletion, the key is free, and the new session survives
// the old one's deletion call.
func TestModelCreateWhileDeleteIsUnderWay(t *testing.T) {
	ctx := context.Background()
	store := &mdlPausingStore{Store: memstore.New(), deleted: make(chan struct{}), resume: make(chan struct{})}
	svc, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	defer svc.Close()
	key := service.SessionKey{AppName: "app", UserID: "user", SessionID: "s1"}
	_, err = svc.Create(ctx, key, map[string]any{"old": true})
	require.NoError(t, err)

	deleted := make(chan error, 1)
	go func() { deleted <- svc.Delete(ctx, key) }()
	select {
	case <-store.deleted:
	case <-time.After(20 * time.Second):
		t.Fatal("the delete never reached the store")
	}
	// The deletion is committed, its call not yet returned: the create
	// goes after it and succeeds.
	_, err = svc.Create(ctx, key, map[string]any{"new": true})
	require.NoError(t, err, "the session is deleted, so the create succeeds")
	close(store.resume)
	require.NoError(t, <-deleted)

	sess, err := svc.Get(ctx, key, service.GetOptions{})
	require.NoError(t, err, "the new session is lost")
	assert.Equal(t, map[string]any{"new": true}, sess.State)
	assert.NoError(t, svc.Verify(ctx))
	_, err = svc.Create(ctx, key, nil)
	assert.ErrorIs(t, err, service.ErrAlreadyExists)
}

// CONTRACT R1: Verify holds for a service that has not yet written anything.
func TestModelVerifyOfAnEmptyService(t *testing.T) {
	svc, err := service.New(context.Background(), service.Options{})
	require.NoError(t, err)
	defer svc.Close()
	assert.NoError(t, svc.Verify(context.Background()))
}
