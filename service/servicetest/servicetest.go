// Package servicetest is sessionlog's conformance suite: one function, [Run],
// that checks a storage backend, through the Go API of package service,
// against every rule of the behaviour contract that a backend can break
// (the rules have IDs such as K1 and A6).
//
// A backend's tests call Run with a constructor of fresh, empty stores:
//
//	func TestConformance(t *testing.T) {
//		servicetest.Run(t, func(t *testing.T) eventlog.Store {
//			return mybackend.Open(t.TempDir())
//		})
//	}
//
// Every subtest names the rule it checks in a `// CONTRACT X1` comment and
// reads as a sentence. The suite is deterministic: services run on a fake
// clock and counter IDs except where real UUIDs are the point, and nothing
// is asserted about timing (timeouts only turn a hang into a failure).
// Run it with -race.
package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

// Run runs the conformance suite against the stores newStore makes. newStore
// must return a fresh, empty store each time it is called (once per
// subtest); Run closes each store when its subtest ends. Subtests run in
// parallel, so stores from one newStore must not share state.
//
// The subtests are grouped by contract rule (K1, C1, G2, ...). Each builds
// a service.Service over its own store, usually with a fake clock that
// advances one millisecond per reading and counter IDs, so that times and
// IDs are predictable; the subtests about generated UUIDs and real time use
// the service's defaults.
func Run(t *testing.T, newStore func(t *testing.T) eventlog.Store) {
	s := suite{newStore: newStore}
	groups := []struct {
		name string
		run  func(*testing.T)
	}{
		{"K1 app name and user ID are required", s.k1},
		{"K2 keys compare exactly", s.k2},
		{"C1 creating an existing session fails", s.c1},
		{"C2 C3 initial state is split and merged", s.c2c3},
		{"G1 a missing session is not found", s.g1},
		{"G2 event filters", s.g2},
		{"G3 app and user state are read live", s.g3},
		{"G4 returned sessions belong to the caller", s.g4},
		{"L1 L2 listing and paging", s.l1l2},
		{"D1 delete is idempotent", s.d1},
		{"D2 a deleted session is gone", s.d2},
		{"D3 delete frees the session and keeps shared state", s.d3},
		{"A1 appends with no session or event", s.a1},
		{"A2 partial events", s.a2},
		{"A3 IDs timestamps and sequence numbers", s.a3},
		{"A4 state deltas", s.a4},
		{"A5 the handle is updated in place", s.a5},
		{"A6 optimistic concurrency", s.a6},
		{"A7 idempotent retries", s.a7},
		{"A8 the store keeps its own copy", s.a8},
		{"E1 ListEvents paging", s.e1},
		{"S1 session subscriptions", s.s1},
		{"S2 user and app subscriptions", s.s2},
		{"S3 subscriptions end", s.s3},
		{"R1 a rebuild equals the live state", s.r1},
		{"R2 export and import", s.r2},
		{"Z1 concurrency", s.z1},
		{"B1 bad input", s.b1},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t)
		})
	}
}

// waitLimit bounds every wait for a subscription, so that a hang fails the
// test instead of stalling it. No assertion depends on it.
const waitLimit = 10 * time.Second

type suite struct {
	newStore func(t *testing.T) eventlog.Store
}

// epoch is where every fake clock starts.
var epoch = time.Date(2025, time.March, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a deterministic clock that advances one millisecond each
// time it is read. It is safe for concurrent use.
type fakeClock struct{ ticks atomic.Int64 }

// Now advances the clock and returns the new time.
func (c *fakeClock) Now() time.Time {
	return epoch.Add(time.Duration(c.ticks.Add(1)) * time.Millisecond)
}

// Last returns the time the latest call of Now returned.
func (c *fakeClock) Last() time.Time {
	return epoch.Add(time.Duration(c.ticks.Load()) * time.Millisecond)
}

// counterIDs makes the IDs "id-000001", "id-000002", ... It is safe for
// concurrent use.
type counterIDs struct{ n atomic.Uint64 }

// Next returns the next ID.
func (g *counterIDs) Next() string { return fmt.Sprintf("id-%06d", g.n.Add(1)) }

// harness is one subtest's service over one fresh store.
type harness struct {
	t     *testing.T
	ctx   context.Context
	store eventlog.Store
	svc   *service.Service
	// clock is the service's clock; nil when it runs on real time.
	clock     *fakeClock
	closeOnce sync.Once
	newStore  func(t *testing.T) eventlog.Store
}

type option func(*service.Options)

// realTimeAndIDs gives the service its defaults: time.Now and random UUIDs.
func realTimeAndIDs(o *service.Options) { o.Now, o.NewID = nil, nil }

// lastWriterWins turns optimistic concurrency off.
func lastWriterWins(o *service.Options) { o.LastWriterWins = true }

// open builds a service over a fresh store, closed when the test ends.
func (s suite) open(t *testing.T, opts ...option) *harness {
	t.Helper()
	store := s.newStore(t)
	require.NotNil(t, store, "newStore returned a nil store")
	clock := &fakeClock{}
	ids := &counterIDs{}
	o := service.Options{Store: store, Now: clock.Now, NewID: ids.Next}
	for _, f := range opts {
		f(&o)
	}
	h := &harness{t: t, ctx: t.Context(), store: store, newStore: s.newStore}
	if o.Now != nil {
		h.clock = clock
	}
	t.Cleanup(func() { h.closeOnce.Do(func() { assert.NoError(t, store.Close(), "closing the store") }) })
	svc, err := service.New(h.ctx, o)
	require.NoError(t, err, "service.New over an empty store")
	h.svc = svc
	return h
}

// fresh opens another service over another fresh store, for imports.
func (h *harness) fresh(opts ...option) *harness {
	h.t.Helper()
	return suite{newStore: h.newStore}.open(h.t, opts...)
}

// close closes the service (and so its store) once.
func (h *harness) close() {
	h.closeOnce.Do(func() { assert.NoError(h.t, h.svc.Close(), "closing the service") })
}

func key(app, user, id string) service.SessionKey {
	return service.SessionKey{AppName: app, UserID: user, SessionID: id}
}

func delta(kv map[string]any) *service.Event {
	return &service.Event{Actions: service.EventActions{StateDelta: kv}}
}

func text(s string) *genai.Content { return genai.NewContentFromText(s, genai.RoleUser) }

func (h *harness) create(k service.SessionKey, state map[string]any) *service.Session {
	h.t.Helper()
	sess, err := h.svc.Create(h.ctx, k, state)
	require.NoError(h.t, err, "create %v", k)
	require.NotNil(h.t, sess)
	return sess
}

func (h *harness) get(k service.SessionKey) *service.Session {
	h.t.Helper()
	sess, err := h.svc.Get(h.ctx, k, service.GetOptions{})
	require.NoError(h.t, err, "get %v", k)
	require.NotNil(h.t, sess)
	return sess
}

func (h *harness) appendEvent(sess *service.Session, ev *service.Event) *service.Event {
	h.t.Helper()
	stored, err := h.svc.AppendEvent(h.ctx, sess, ev)
	require.NoError(h.t, err, "append to %v", sess.Key())
	require.NotNil(h.t, stored)
	return stored
}

func (h *harness) appendDelta(sess *service.Session, kv map[string]any) *service.Event {
	h.t.Helper()
	return h.appendEvent(sess, delta(kv))
}

// events walks every page of ListEvents.
func (h *harness) events(k service.SessionKey, pageSize int) []*service.Event {
	h.t.Helper()
	var out []*service.Event
	opts := service.ListEventsOptions{PageSize: pageSize}
	for pages := 0; ; pages++ {
		require.Less(h.t, pages, 100000, "ListEvents never ends")
		page, err := h.svc.ListEvents(h.ctx, k, opts)
		require.NoError(h.t, err, "list events of %v", k)
		out = append(out, page.Events...)
		if page.NextPageToken == "" {
			return out
		}
		opts.PageToken = page.NextPageToken
	}
}

// list walks every page of List.
func (h *harness) list(app, user string, pageSize int) []*service.Session {
	h.t.Helper()
	var out []*service.Session
	opts := service.ListOptions{PageSize: pageSize}
	for pages := 0; ; pages++ {
		require.Less(h.t, pages, 100000, "List never ends")
		page, err := h.svc.List(h.ctx, app, user, opts)
		require.NoError(h.t, err, "list %q/%q", app, user)
		out = append(out, page.Sessions...)
		if page.NextPageToken == "" {
			return out
		}
		opts.PageToken = page.NextPageToken
	}
}

func (h *harness) export() []*service.Record {
	h.t.Helper()
	var out []*service.Record
	for rec, err := range h.svc.Export(h.ctx) {
		require.NoError(h.t, err, "export")
		out = append(out, rec)
	}
	return out
}

// exportJSON is the whole log as JSON lines, to compare before and after.
func (h *harness) exportJSON() []string {
	h.t.Helper()
	var out []string
	for _, rec := range h.export() {
		b, err := json.Marshal(rec)
		require.NoError(h.t, err, "encode a %s record", rec.Kind)
		out = append(out, string(b))
	}
	return out
}

func (h *harness) verify() {
	h.t.Helper()
	require.NoError(h.t, h.svc.Verify(h.ctx), "the live state differs from a rebuild")
}

// firstError returns the error a subscription yields first; it fails the
// test if the subscription yields a record first.
func (h *harness) firstError(mk func(context.Context) iter.Seq2[*service.Record, error]) error {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, waitLimit)
	defer cancel()
	for rec, err := range mk(ctx) {
		if err != nil {
			return err
		}
		h.t.Errorf("expected an error, got a %s record first", rec.Kind)
		return nil
	}
	return nil
}

func ids(events []*service.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func sessionIDs(sessions []*service.Session) []string {
	out := make([]string, len(sessions))
	for i, s := range sessions {
		out[i] = s.UserID + "/" + s.ID
	}
	return out
}

// normalize passes v through JSON, so values compare as a decoder sees them
// (every number a float64).
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

func eventsJSON(t *testing.T, events []*service.Event) []string {
	t.Helper()
	out := make([]string, len(events))
	for i, e := range events {
		b, err := json.Marshal(e)
		require.NoError(t, err)
		out[i] = string(b)
	}
	return out
}

func requireInvalid(t *testing.T, err error, field string, msgAndArgs ...any) {
	t.Helper()
	require.ErrorIs(t, err, service.ErrInvalidArgument, msgAndArgs...)
	require.Contains(t, err.Error(), field, msgAndArgs...)
}

func requireSameTime(t *testing.T, want, got time.Time, what string) {
	t.Helper()
	require.True(t, want.Equal(got), "%s: want %v, got %v", what, want, got)
}

// subscription consumes an iterator in its own goroutine and hands its
// items over an unbuffered channel: while the test reads nothing, the
// iterator is parked inside its yield and reads nothing either.
type subscription struct {
	t      *testing.T
	items  chan item
	cancel context.CancelFunc
	done   chan struct{}
}

type item struct {
	rec *service.Record
	err error
}

func (h *harness) follow(mk func(context.Context) iter.Seq2[*service.Record, error]) *subscription {
	ctx, cancel := context.WithCancel(h.ctx)
	sub := &subscription{t: h.t, items: make(chan item), cancel: cancel, done: make(chan struct{})}
	seq := mk(ctx)
	go func() {
		defer close(sub.done)
		defer close(sub.items)
		for rec, err := range seq {
			select {
			case sub.items <- item{rec, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	h.t.Cleanup(func() {
		cancel()
		select {
		case <-sub.done:
		case <-time.After(waitLimit):
			h.t.Errorf("a subscription did not end within %v of its context's cancellation", waitLimit)
		}
	})
	return sub
}

// next waits for the next item; ok is false when the iteration ended.
func (s *subscription) next() (it item, ok bool) {
	s.t.Helper()
	select {
	case it, ok = <-s.items:
		return it, ok
	case <-time.After(waitLimit):
		s.t.Fatalf("subscription: nothing arrived within %v", waitLimit)
		return item{}, false
	}
}

// record waits for the next record.
func (s *subscription) record() *service.Record {
	s.t.Helper()
	it, ok := s.next()
	require.True(s.t, ok, "the subscription ended early")
	require.NoError(s.t, it.err, "the subscription failed")
	require.NotNil(s.t, it.rec, "the subscription yielded a nil record")
	return it.rec
}

func (s *subscription) records(n int) []*service.Record {
	s.t.Helper()
	out := make([]*service.Record, n)
	for i := range out {
		out[i] = s.record()
	}
	return out
}

// end waits for the iteration to end and returns the last error it
// yielded; a record instead fails the test.
func (s *subscription) end() error {
	s.t.Helper()
	var last error
	for {
		it, ok := s.next()
		if !ok {
			return last
		}
		if it.err == nil {
			s.t.Fatalf("expected the subscription to end, got a %s record (seq %d)", it.rec.Kind, it.rec.Seq)
		}
		last = it.err
	}
}

// drain waits for the iteration to end, whatever it yields before.
func (s *subscription) drain() {
	s.t.Helper()
	for {
		if _, ok := s.next(); !ok {
			return
		}
	}
}

// stop cancels the subscription's context and waits for the iterator to
// return.
func (s *subscription) stop() {
	s.t.Helper()
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(waitLimit):
		s.t.Fatalf("the subscription did not end within %v of its context's cancellation", waitLimit)
	}
}

// ---------------------------------------------------------------- K1

func (s suite) k1(t *testing.T) {
	blanks := []string{"", " ", "\t", " \n\t ", "\u00a0", "\u3000"}

	t.Run("a blank app name or user ID is rejected by every call and creates nothing", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		existing := h.create(key("app", "user", "s"), map[string]any{"k": "v"})
		before := h.exportJSON()
		for _, blank := range blanks {
			for _, tc := range []struct {
				field string
				key   service.SessionKey
			}{
				{"appName", key(blank, "user", "s")},
				{"userId", key("app", blank, "s")},
			} {
				what := fmt.Sprintf("%s %q", tc.field, blank)
				sess, err := h.svc.Create(h.ctx, tc.key, map[string]any{"k": "new", "app:a": 1, "user:u": 1})
				requireInvalid(t, err, tc.field, "Create with "+what)
				require.Nil(t, sess)
				sess, err = h.svc.Create(h.ctx, service.SessionKey{AppName: tc.key.AppName, UserID: tc.key.UserID}, nil)
				requireInvalid(t, err, tc.field, "Create with a generated ID and "+what)
				require.Nil(t, sess)

				sess, err = h.svc.Get(h.ctx, tc.key, service.GetOptions{})
				requireInvalid(t, err, tc.field, "Get with "+what)
				require.Nil(t, sess)

				requireInvalid(t, h.svc.Delete(h.ctx, tc.key), tc.field, "Delete with "+what)

				handle := &service.Session{AppName: tc.key.AppName, UserID: tc.key.UserID, ID: tc.key.SessionID}
				ev, err := h.svc.AppendEvent(h.ctx, handle, delta(map[string]any{"k": "appended", "app:a": 2}))
				requireInvalid(t, err, tc.field, "AppendEvent with "+what)
				require.Nil(t, ev)

				page, err := h.svc.ListEvents(h.ctx, tc.key, service.ListEventsOptions{})
				requireInvalid(t, err, tc.field, "ListEvents with "+what)
				require.Nil(t, page)

				err = h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
					return h.svc.Subscribe(ctx, tc.key, 0)
				})
				requireInvalid(t, err, tc.field, "Subscribe with "+what)
			}

			page, err := h.svc.List(h.ctx, blank, "user", service.ListOptions{})
			requireInvalid(t, err, "appName", "List with app name %q", blank)
			require.Nil(t, page)
			if blank != "" { // an empty user ID lists every user (L1)
				page, err = h.svc.List(h.ctx, "app", blank, service.ListOptions{})
				requireInvalid(t, err, "userId", "List with user ID %q", blank)
				require.Nil(t, page)
				err = h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
					return h.svc.SubscribeUser(ctx, "app", blank, 0)
				})
				requireInvalid(t, err, "userId", "SubscribeUser with user ID %q", blank)
			}
			err = h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, blank, 0)
			})
			requireInvalid(t, err, "appName", "SubscribeApp with app name %q", blank)
		}
		require.Equal(t, before, h.exportJSON(), "a rejected call changed the log")
		require.Equal(t, []string{"user/s"}, sessionIDs(h.list("app", "", 0)))
		got := h.get(existing.Key())
		require.Equal(t, map[string]any{"k": "v"}, got.State)
		require.Empty(t, got.Events)
		h.verify()
	})

	t.Run("importing a record whose key has a blank app name or user ID is rejected", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		for _, blank := range blanks {
			for _, k := range []service.SessionKey{key(blank, "user", "s"), key("app", blank, "s")} {
				rec := &service.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: epoch, State: map[string]any{"k": "v"}}
				err := h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(rec, nil) })
				assert.ErrorIs(t, err, service.ErrInvalidArgument, "import a creation of %v", k)
			}
		}
		require.Empty(t, h.export(), "a rejected import stored records")
	})

	t.Run("a session ID is trimmed", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		sess := h.create(key("app", "user", "  x \t"), map[string]any{"k": "v"})
		require.Equal(t, "x", sess.ID)
		require.Equal(t, "x", h.get(key("app", "user", "x")).ID)
		require.Equal(t, "x", h.get(key("app", "user", "\tx  ")).ID, "Get trims too")
		h.appendDelta(&service.Session{AppName: "app", UserID: "user", ID: " x "}, map[string]any{"k": "w"})
		require.Equal(t, "w", h.get(key("app", "user", "x")).State["k"], "AppendEvent trims the handle's ID")
		require.Len(t, h.events(key("app", "user", " x"), 0), 1, "ListEvents trims")
		_, err := h.svc.Create(h.ctx, key("app", "user", "x "), nil)
		require.ErrorIs(t, err, service.ErrAlreadyExists)
		require.NoError(t, h.svc.Delete(h.ctx, key("app", "user", " x")))
		_, err = h.svc.Get(h.ctx, key("app", "user", "x"), service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound, "Delete trims")
	})

	t.Run("an empty or blank session ID generates a new random UUID", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t, realTimeAndIDs)
		seen := map[string]bool{}
		for _, id := range []string{"", "", " ", "\t\n"} {
			sess := h.create(key("app", "user", id), map[string]any{"k": "v"})
			_, err := uuid.Parse(sess.ID)
			require.NoError(t, err, "generated session ID %q is not a UUID", sess.ID)
			require.False(t, seen[sess.ID], "session ID %q generated twice", sess.ID)
			seen[sess.ID] = true
			require.Equal(t, "v", h.get(sess.Key()).State["k"])
		}
		require.Len(t, h.list("app", "user", 0), 4)
	})

	t.Run("an empty session ID uses the service's ID generator", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		sess := h.create(key("app", "user", ""), nil)
		require.Equal(t, "id-000001", sess.ID)
		h.get(key("app", "user", "id-000001"))
	})

	t.Run("a blank session ID is rejected where a session must exist", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		h.create(key("app", "user", "s"), nil)
		for _, blank := range blanks {
			_, err := h.svc.Get(h.ctx, key("app", "user", blank), service.GetOptions{})
			requireInvalid(t, err, "sessionId", "Get")
			requireInvalid(t, h.svc.Delete(h.ctx, key("app", "user", blank)), "sessionId", "Delete")
			_, err = h.svc.AppendEvent(h.ctx, &service.Session{AppName: "app", UserID: "user", ID: blank}, &service.Event{})
			requireInvalid(t, err, "sessionId", "AppendEvent")
			_, err = h.svc.ListEvents(h.ctx, key("app", "user", blank), service.ListEventsOptions{})
			requireInvalid(t, err, "sessionId", "ListEvents")
		}
		require.Len(t, h.list("app", "", 0), 1)
	})
}

// ---------------------------------------------------------------- K2

func (s suite) k2(t *testing.T) {
	pairs := []struct {
		name string
		a, b service.SessionKey
	}{
		{"a colon in the app name is not a colon in the user ID", key("a:b", "c", "s"), key("a", "b:c", "s")},
		{"a slash in the app name is not a slash in the user ID", key("a/b", "c", "s"), key("a", "b/c", "s")},
		{"a NUL in the app name is not a NUL in the user ID", key("a\x00b", "c", "s"), key("a", "b\x00c", "s")},
		{"a colon in the user ID is not a colon in the session ID", key("a", "b:c", "d"), key("a", "b", "c:d")},
		{"a slash in the user ID is not a slash in the session ID", key("a", "b/c", "d"), key("a", "b", "c/d")},
		{"a NUL in the user ID is not a NUL in the session ID", key("a", "b\x00c", "d"), key("a", "b", "c\x00d")},
		{"session IDs that differ by a trailing NUL are different", key("a", "u", "s"), key("a", "u", "s\x00")},
		{"user IDs that differ by a trailing NUL are different", key("a", "u", "s"), key("a", "u\x00", "s")},
		{"a composed é in the app name is not a decomposed one", key("caf\u00e9", "u", "s"), key("cafe\u0301", "u", "s")},
		{"a composed é in the user ID is not a decomposed one", key("a", "caf\u00e9", "s"), key("a", "cafe\u0301", "s")},
		{"a composed é in the session ID is not a decomposed one", key("a", "u", "caf\u00e9"), key("a", "u", "cafe\u0301")},
		{"user a is not user a:b", key("app", "a", "s"), key("app", "a:b", "s")},
		{"user app is not the app prefix", key("app", "app:", "s"), key("app", "user:", "s")},
		{"letter case matters", key("App", "User", "S"), key("app", "user", "s")},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			// CONTRACT K2
			t.Parallel()
			h := s.open(t)
			sameApp := p.a.AppName == p.b.AppName
			sameUser := sameApp && p.a.UserID == p.b.UserID

			a := h.create(p.a, map[string]any{"own": "A", "user:who": "A", "app:who": "A"})
			h.appendDelta(a, map[string]any{"own": "A1"})

			// Nothing under b sees, changes or deletes a.
			_, err := h.svc.Get(h.ctx, p.b, service.GetOptions{})
			require.ErrorIs(t, err, service.ErrNotFound, "Get of b found a")
			_, err = h.svc.ListEvents(h.ctx, p.b, service.ListEventsOptions{})
			require.ErrorIs(t, err, service.ErrNotFound, "ListEvents of b found a")
			if !sameUser {
				require.Empty(t, h.list(p.b.AppName, p.b.UserID, 0), "List of b's user lists a")
			}
			if !sameApp {
				require.Empty(t, h.list(p.b.AppName, "", 0), "List of b's app lists a")
			}
			require.NoError(t, h.svc.Delete(h.ctx, p.b))
			_, err = h.svc.AppendEvent(h.ctx, &service.Session{AppName: p.b.AppName, UserID: p.b.UserID, ID: p.b.SessionID},
				delta(map[string]any{"own": "B!"}))
			require.ErrorIs(t, err, service.ErrNotFound, "an append to b reached a")
			gotA := h.get(p.a)
			require.Equal(t, uint64(1), gotA.Version)
			require.Equal(t, "A1", gotA.State["own"])

			// b is a session of its own.
			b, err := h.svc.Create(h.ctx, p.b, map[string]any{"own": "B"})
			require.NoError(t, err, "creating b collided with a")
			require.Equal(t, "B", b.State["own"])
			if !sameUser {
				require.NotContains(t, b.State, "user:who", "b sees a's user state")
			}
			if !sameApp {
				require.NotContains(t, b.State, "app:who", "b sees a's app state")
			}
			h.appendDelta(b, map[string]any{"own": "B1", "user:who": "B", "app:who": "B"})
			h.appendDelta(b, map[string]any{"own": "B2"})

			gotA = h.get(p.a)
			require.Equal(t, uint64(1), gotA.Version, "b's appends reached a")
			require.Len(t, gotA.Events, 1)
			require.Equal(t, "A1", gotA.State["own"])
			if !sameUser {
				require.Equal(t, "A", gotA.State["user:who"], "b's user state reached a")
			}
			if !sameApp {
				require.Equal(t, "A", gotA.State["app:who"], "b's app state reached a")
			}
			gotB := h.get(p.b)
			require.Equal(t, uint64(2), gotB.Version)
			require.Equal(t, "B2", gotB.State["own"])

			listedA := sessionIDs(h.list(p.a.AppName, p.a.UserID, 0))
			if sameUser {
				require.ElementsMatch(t, []string{p.a.UserID + "/" + p.a.SessionID, p.b.UserID + "/" + p.b.SessionID}, listedA)
			} else {
				require.Equal(t, []string{p.a.UserID + "/" + p.a.SessionID}, listedA)
			}

			// Deleting b leaves a alone.
			require.NoError(t, h.svc.Delete(h.ctx, p.b))
			gotA = h.get(p.a)
			require.Equal(t, uint64(1), gotA.Version)
			require.Len(t, h.events(p.a, 0), 1)
			_, err = h.svc.Get(h.ctx, p.b, service.GetOptions{})
			require.ErrorIs(t, err, service.ErrNotFound)
			h.verify()
		})
	}
}

// ---------------------------------------------------------------- C1

func (s suite) c1(t *testing.T) {
	t.Run("creating a session twice fails with ErrAlreadyExists and leaves it untouched", func(t *testing.T) {
		// CONTRACT C1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"k": "first", "app:a": "first", "user:u": "first"})
		h.appendDelta(sess, map[string]any{"k": "appended"})
		before := h.get(k)
		log := h.exportJSON()

		for _, id := range []string{"s", " s "} {
			again, err := h.svc.Create(h.ctx, key("app", "user", id), map[string]any{"k": "second", "app:a": "second", "user:u": "second"})
			require.ErrorIs(t, err, service.ErrAlreadyExists, "create %q again", id)
			require.Nil(t, again)
		}
		after := h.get(k)
		require.Equal(t, before.State, after.State)
		require.Equal(t, ids(before.Events), ids(after.Events))
		require.Equal(t, before.Version, after.Version)
		requireSameTime(t, before.LastUpdateTime, after.LastUpdateTime, "LastUpdateTime")
		require.Equal(t, log, h.exportJSON(), "the failed create changed the log")
		h.verify()
	})
}

// ---------------------------------------------------------------- C2, C3

func (s suite) c2c3(t *testing.T) {
	t.Run("the initial state is split by prefix and the new session has merged state, no events and version 0", func(t *testing.T) {
		// CONTRACT C2 C3
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"s": "v", "app:a": "A", "user:u": "U", "temp:t": "T"})
		created := h.clock.Last()
		want := map[string]any{"s": "v", "app:a": "A", "user:u": "U"}
		require.Equal(t, want, sess.State)
		require.Empty(t, sess.Events)
		require.Zero(t, sess.Version)
		requireSameTime(t, created, sess.LastUpdateTime, "LastUpdateTime of the created session")
		require.Equal(t, k, sess.Key())

		got := h.get(k)
		require.Equal(t, want, got.State)
		require.Empty(t, got.Events)
		require.Zero(t, got.Version)
		requireSameTime(t, created, got.LastUpdateTime, "LastUpdateTime of the session read back")

		require.Equal(t, map[string]any{"app:a": "A", "user:u": "U"}, h.create(key("app", "user", "second"), nil).State,
			"another session of the user")
		require.Equal(t, map[string]any{"app:a": "A"}, h.create(key("app", "someone-else", "s"), nil).State,
			"a session of another user")
		require.Empty(t, h.create(key("other-app", "user", "s"), nil).State, "a session of another app")

		var creation *service.Record
		for _, rec := range h.export() {
			for k := range rec.Writes() {
				require.False(t, strings.HasPrefix(k, "temp:"), "the log holds temp key %q", k)
			}
			if rec.Kind == eventlog.KindSessionCreated && rec.Key == k {
				creation = rec
			}
		}
		require.NotNil(t, creation, "the creation is not a record in the log")
		requireSameTime(t, created, creation.Time, "the creation record's time")
		h.verify()
	})

	t.Run("a nil or empty initial state creates an empty session", func(t *testing.T) {
		// CONTRACT C2 C3
		t.Parallel()
		h := s.open(t)
		for _, state := range []map[string]any{nil, {}, {"temp:only": 1}} {
			sess := h.create(key("app", "user", ""), state)
			require.Empty(t, sess.State)
			require.Empty(t, h.get(sess.Key()).State)
		}
	})
}

// ---------------------------------------------------------------- G1

func (s suite) g1(t *testing.T) {
	t.Run("getting a missing session gives ErrNotFound and no session", func(t *testing.T) {
		// CONTRACT G1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		h.create(k, nil)
		h.create(key("app", "user", "deleted"), nil)
		require.NoError(t, h.svc.Delete(h.ctx, key("app", "user", "deleted")))
		for _, missing := range []service.SessionKey{
			key("app", "user", "never"),
			key("app", "other-user", "s"),
			key("other-app", "user", "s"),
			key("app", "user", "deleted"),
		} {
			sess, err := h.svc.Get(h.ctx, missing, service.GetOptions{})
			require.ErrorIs(t, err, service.ErrNotFound, "get %v", missing)
			require.Nil(t, sess, "get %v returned a session with the error", missing)
		}
	})
}

// ---------------------------------------------------------------- G2

func (s suite) g2(t *testing.T) {
	at := func(sec int) time.Time { return epoch.Add(time.Hour + time.Duration(sec)*time.Second) }
	type filterCase struct {
		name string
		opts service.GetOptions
		want []string
	}
	variants := []struct {
		name    string
		seconds []int // timestamps of e1..e5
		cases   []filterCase
	}{
		{
			name:    "with increasing timestamps",
			seconds: []int{10, 20, 30, 40, 50},
			cases: []filterCase{
				{"no filter keeps every event", service.GetOptions{}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"the last two", service.GetOptions{NumRecentEvents: 2}, []string{"e4", "e5"}},
				{"exactly all", service.GetOptions{NumRecentEvents: 5}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"more than there are", service.GetOptions{NumRecentEvents: 9}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"after a timestamp includes it", service.GetOptions{After: at(30)}, []string{"e3", "e4", "e5"}},
				{"after a time between events", service.GetOptions{After: at(31)}, []string{"e4", "e5"}},
				{"after the first event", service.GetOptions{After: at(10)}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"after every event", service.GetOptions{After: at(60)}, nil},
				{"n first then the time", service.GetOptions{NumRecentEvents: 4, After: at(30)}, []string{"e3", "e4", "e5"}},
				{"n first then a time before them all", service.GetOptions{NumRecentEvents: 2, After: at(0)}, []string{"e4", "e5"}},
				{"n first then a time after them all", service.GetOptions{NumRecentEvents: 2, After: at(55)}, nil},
			},
		},
		{
			name:    "with timestamps out of order",
			seconds: []int{30, 10, 50, 20, 40},
			cases: []filterCase{
				{"no filter keeps every event", service.GetOptions{}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"the last two", service.GetOptions{NumRecentEvents: 2}, []string{"e4", "e5"}},
				{"after a timestamp includes it", service.GetOptions{After: at(30)}, []string{"e1", "e3", "e5"}},
				{"after a time between events", service.GetOptions{After: at(31)}, []string{"e3", "e5"}},
				{"after the earliest event", service.GetOptions{After: at(10)}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"after the latest event", service.GetOptions{After: at(50)}, []string{"e3"}},
				{"after every event", service.GetOptions{After: at(51)}, nil},
				{"n first then the time", service.GetOptions{NumRecentEvents: 3, After: at(30)}, []string{"e3", "e5"}},
				{"n first then a time only an older event passes", service.GetOptions{NumRecentEvents: 2, After: at(45)}, nil},
				{"n first then a time the last passes", service.GetOptions{NumRecentEvents: 1, After: at(40)}, []string{"e5"}},
			},
		},
	}
	for _, v := range variants {
		t.Run("filters keep the right events "+v.name, func(t *testing.T) {
			// CONTRACT G2
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			sess := h.create(k, nil)
			for i, sec := range v.seconds {
				h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i+1), Timestamp: at(sec)})
			}
			requireSameTime(t, at(v.seconds[len(v.seconds)-1]), h.get(k).LastUpdateTime, "LastUpdateTime is the last event's timestamp")
			for _, c := range v.cases {
				got, err := h.svc.Get(h.ctx, k, c.opts)
				require.NoError(t, err, c.name)
				require.Equal(t, len(c.want), len(got.Events), "%s: got %v", c.name, ids(got.Events))
				if len(c.want) > 0 {
					require.Equal(t, c.want, ids(got.Events), c.name)
				}
				require.Equal(t, uint64(5), got.Version, "%s: filters do not change the version", c.name)
			}
		})
	}

	t.Run("a negative NumRecentEvents is rejected", func(t *testing.T) {
		// CONTRACT G2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		h.appendDelta(h.create(k, nil), map[string]any{"k": 1})
		for _, n := range []int{-1, math.MinInt} {
			sess, err := h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: n})
			requireInvalid(t, err, "numRecentEvents", "n = %d", n)
			require.Nil(t, sess)
		}
	})
}

// ---------------------------------------------------------------- G3

func (s suite) g3(t *testing.T) {
	t.Run("app and user state written through one session shows in the next Get of another", func(t *testing.T) {
		// CONTRACT G3
		t.Parallel()
		h := s.open(t)
		a := h.create(key("app", "user", "a"), nil)
		b := h.create(key("app", "user", "b"), map[string]any{"own": "b"})
		other := h.create(key("app", "other-user", "c"), nil)
		require.Equal(t, map[string]any{"own": "b"}, b.State)

		h.appendDelta(a, map[string]any{"app:x": "1", "user:y": "2", "own": "a"})
		require.Equal(t, map[string]any{"own": "b", "app:x": "1", "user:y": "2"}, h.get(b.Key()).State)
		require.Equal(t, map[string]any{"app:x": "1"}, h.get(other.Key()).State)

		h.create(key("app", "user", "d"), map[string]any{"user:y": "3", "app:z": "4"})
		require.Equal(t, map[string]any{"own": "b", "app:x": "1", "user:y": "3", "app:z": "4"}, h.get(b.Key()).State,
			"a creation's shared state")

		h.appendDelta(other, map[string]any{"app:x": service.Removed, "user:y": "other"})
		require.Equal(t, map[string]any{"own": "b", "user:y": "3", "app:z": "4"}, h.get(b.Key()).State,
			"another user's change of app state and their own user state")
		require.Equal(t, map[string]any{"own": "a", "user:y": "3", "app:z": "4"}, h.get(a.Key()).State)
		require.Equal(t, map[string]any{"user:y": "other", "app:z": "4"}, h.get(other.Key()).State)
	})
}

// ---------------------------------------------------------------- G4

func (s suite) g4(t *testing.T) {
	build := func(h *harness) service.SessionKey {
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"k": "v", "nested": map[string]any{"x": "orig"}, "app:a": "A", "user:u": "U"})
		h.appendEvent(sess, &service.Event{
			ID: "e1", Content: text("hello"), LongRunningToolIDs: []string{"call-1"},
			Actions: service.EventActions{StateDelta: map[string]any{"list": []any{"a", "b"}}},
		})
		h.appendEvent(sess, &service.Event{ID: "e2", Content: text("world")})
		return k
	}

	t.Run("changing the returned state map changes nothing stored", func(t *testing.T) {
		// CONTRACT G4
		t.Parallel()
		h := s.open(t)
		k := build(h)
		want := normalize(t, h.get(k).State)
		got := h.get(k)
		got.State["injected"] = "x"
		got.State["app:injected"] = "x"
		delete(got.State, "k")
		delete(got.State, "app:a")
		got.State["nested"].(map[string]any)["x"] = "changed"
		got.State["list"].([]any)[0] = "changed"
		require.Equal(t, want, normalize(t, h.get(k).State))
		listed := h.list("app", "user", 0)
		require.Len(t, listed, 1)
		listed[0].State["nested"].(map[string]any)["x"] = "changed by a lister"
		require.Equal(t, want, normalize(t, h.get(k).State))
		require.NotContains(t, h.create(key("app", "user", ""), nil).State, "app:injected")
		h.verify()
	})

	t.Run("appending to the returned event list changes nothing stored", func(t *testing.T) {
		// CONTRACT G4
		t.Parallel()
		h := s.open(t)
		k := build(h)
		one, two := h.get(k), h.get(k)
		one.Events = append(one.Events, &service.Event{ID: "mine"})
		two.Events = append(two.Events, &service.Event{ID: "yours"})
		require.Equal(t, []string{"e1", "e2", "mine"}, ids(one.Events), "two Gets share spare capacity")
		require.Equal(t, []string{"e1", "e2"}, ids(h.get(k).Events))
		require.Equal(t, []string{"e1", "e2"}, ids(h.events(k, 0)))

		last, err := h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: 1})
		require.NoError(t, err)
		last.Events = append(last.Events, &service.Event{ID: "after-the-tail"})
		require.Equal(t, []string{"e1", "e2"}, ids(h.get(k).Events))

		page, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 1})
		require.NoError(t, err)
		_ = append(page.Events, &service.Event{ID: "into-the-page"})
		require.Equal(t, []string{"e1", "e2"}, ids(h.events(k, 0)))
	})

	t.Run("returned events are the stored events, shared rather than copied", func(t *testing.T) {
		// CONTRACT G4: stored events are immutable records, shared
		// read-only; only a clone is the caller's to change.
		t.Parallel()
		h := s.open(t)
		k := build(h)
		first, second := h.get(k), h.get(k)
		require.Len(t, first.Events, len(second.Events))
		for i := range first.Events {
			require.Same(t, first.Events[i], second.Events[i], "event %d", i)
		}
		reordered := slices.Clone(first.Events)
		slices.Reverse(reordered)
		require.Equal(t, []string{"e1", "e2"}, ids(h.get(k).Events), "Get")
	})

	t.Run("Event.Clone gives a copy that shares nothing with the stored event", func(t *testing.T) {
		// CONTRACT G4
		t.Parallel()
		h := s.open(t)
		k := build(h)
		want := eventsJSON(t, h.get(k).Events)
		stored := h.get(k).Events[0]
		c := stored.Clone()
		require.NotSame(t, stored, c)
		require.Equal(t, want[:1], eventsJSON(t, []*service.Event{c}), "the clone differs from the original")
		c.ID = "changed"
		c.Content.Parts[0].Text = "changed"
		c.Content.Parts = append(c.Content.Parts, &genai.Part{Text: "more"})
		c.LongRunningToolIDs[0] = "changed"
		c.Actions.StateDelta["list"].([]any)[0] = "changed"
		c.Actions.StateDelta["new"] = "changed"
		require.Equal(t, want, eventsJSON(t, h.get(k).Events))
		require.Equal(t, want, eventsJSON(t, h.events(k, 0)))
		require.Equal(t, []any{"a", "b"}, h.get(k).State["list"])
	})
}

// ---------------------------------------------------------------- L1, L2

func (s suite) l1l2(t *testing.T) {
	t.Run("List names one user's sessions or every user's, in user then session ID byte order", func(t *testing.T) {
		// CONTRACT L1 L2
		t.Parallel()
		h := s.open(t)
		keys := []service.SessionKey{
			key("app", "bob", "s2"), key("app", "alice", "z"), key("app", "Alice", "a"),
			key("app", "alice", "B"), key("app", "\u00e5lice", "a"), key("app", "alice", "a"),
			key("app", "bob", "s10"), key("app", "b", "x"), key("app", "alice", "\u00e9"),
			key("app", "alice", "e\u0301"), key("app", "bob", "s1"),
		}
		for i, k := range keys {
			sess := h.create(k, map[string]any{"n": float64(i), "user:name": k.UserID, "temp:t": 1})
			if i%2 == 0 {
				h.appendDelta(sess, map[string]any{"touched": true})
			}
		}
		h.create(key("other-app", "alice", "elsewhere"), map[string]any{"app:other": 1})
		last := h.create(key("app", "zed", "s"), map[string]any{"app:shared": "yes"})

		sorted := append(slices.Clone(keys), last.Key())
		sort.Slice(sorted, func(i, j int) bool {
			if sorted[i].UserID != sorted[j].UserID {
				return sorted[i].UserID < sorted[j].UserID
			}
			return sorted[i].SessionID < sorted[j].SessionID
		})
		var want []string
		for _, k := range sorted {
			want = append(want, k.UserID+"/"+k.SessionID)
		}
		all := h.list("app", "", 0)
		require.Equal(t, want, sessionIDs(all))

		var alices []string
		for _, k := range sorted {
			if k.UserID == "alice" {
				alices = append(alices, "alice/"+k.SessionID)
			}
		}
		require.Equal(t, alices, sessionIDs(h.list("app", "alice", 0)))
		require.Equal(t, []string{"alice/elsewhere"}, sessionIDs(h.list("other-app", "", 0)))
		require.Empty(t, h.list("no-such-app", "", 0))
		require.Empty(t, h.list("app", "nobody", 0))

		for _, listed := range all {
			got := h.get(listed.Key())
			require.Equal(t, "app", listed.AppName)
			require.Empty(t, listed.Events, "listed sessions carry no events")
			require.Equal(t, got.State, listed.State, "listed state of %v", listed.Key())
			require.Equal(t, "yes", listed.State["app:shared"], "listed state is merged")
			require.NotContains(t, listed.State, "temp:t")
			requireSameTime(t, got.LastUpdateTime, listed.LastUpdateTime, "listed LastUpdateTime of "+listed.ID)
		}
	})

	t.Run("walking pages of three returns every session once in order", func(t *testing.T) {
		// CONTRACT L2
		t.Parallel()
		h := s.open(t)
		var want []string
		for u := range 4 {
			for i := range 5 {
				user := fmt.Sprintf("u%d", u)
				id := fmt.Sprintf("s%02d", i)
				h.create(key("app", user, id), nil)
				want = append(want, user+"/"+id)
			}
		}
		opts := service.ListOptions{PageSize: 3}
		var got []string
		for pages := 1; ; pages++ {
			page, err := h.svc.List(h.ctx, "app", "", opts)
			require.NoError(t, err)
			got = append(got, sessionIDs(page.Sessions)...)
			if page.NextPageToken == "" {
				require.Len(t, page.Sessions, 2, "the last page")
				require.Equal(t, 7, pages)
				break
			}
			require.Len(t, page.Sessions, 3, "page %d", pages)
			opts.PageToken = page.NextPageToken
		}
		require.Equal(t, want, got)
		require.Equal(t, want[5:10], sessionIDs(h.list("app", "u1", 3)))
		require.Equal(t, want[5:10], sessionIDs(h.list("app", "u1", 5)), "a page exactly as large as the listing")
	})

	t.Run("sessions that live through a paged walk appear exactly once", func(t *testing.T) {
		// CONTRACT L2
		t.Parallel()
		h := s.open(t)
		var initial []service.SessionKey
		for u := range 4 {
			for i := range 5 {
				k := key("app", fmt.Sprintf("u%d", u), fmt.Sprintf("s%02d", i))
				h.create(k, nil)
				initial = append(initial, k)
			}
		}
		deleted := map[string]bool{}
		del := func(k service.SessionKey) {
			require.NoError(t, h.svc.Delete(h.ctx, k))
			deleted[k.UserID+"/"+k.SessionID] = true
		}
		opts := service.ListOptions{PageSize: 3}
		var got []string
		for pages := 1; ; pages++ {
			require.Less(t, pages, 50)
			page, err := h.svc.List(h.ctx, "app", "", opts)
			require.NoError(t, err)
			got = append(got, sessionIDs(page.Sessions)...)
			switch pages {
			case 1:
				del(initial[1])                             // already listed
				del(initial[10])                            // not listed yet
				h.create(key("app", "u0", "a-before"), nil) // sorts before the cursor
				h.create(key("app", "u3", "zz-after"), nil) // sorts after it
			case 2:
				del(page.Sessions[len(page.Sessions)-1].Key()) // the session the token points at
				del(initial[6])                                // the next one
				h.create(key("app", "u1", "s02a"), nil)
			case 4:
				require.NoError(t, h.svc.Delete(h.ctx, initial[2]))
				h.create(initial[2], nil) // re-created behind the cursor
			}
			if page.NextPageToken == "" {
				break
			}
			opts.PageToken = page.NextPageToken
		}
		require.True(t, slices.IsSortedFunc(got, func(a, b string) int {
			ua, ia, _ := strings.Cut(a, "/")
			ub, ib, _ := strings.Cut(b, "/")
			if c := strings.Compare(ua, ub); c != 0 {
				return c
			}
			return strings.Compare(ia, ib)
		}), "pages out of order: %v", got)
		count := map[string]int{}
		for _, id := range got {
			count[id]++
		}
		for id, n := range count {
			require.Equal(t, 1, n, "%s listed %d times", id, n)
		}
		for _, k := range initial {
			id := k.UserID + "/" + k.SessionID
			if !deleted[id] {
				require.Equal(t, 1, count[id], "%s lived through the walk but was not listed", id)
			}
		}
		require.Zero(t, count["u2/s00"], "deleted before the walk reached it")
		require.Zero(t, count["u1/s01"], "deleted before the walk reached it")
	})

	t.Run("page size zero means the default, a large one is clamped, a negative one is rejected", func(t *testing.T) {
		// CONTRACT L2
		t.Parallel()
		h := s.open(t)
		for i := range service.MaxPageSize + 1 {
			h.create(key("app", fmt.Sprintf("u%d", i%7), fmt.Sprintf("s%04d", i)), nil)
		}
		page, err := h.svc.List(h.ctx, "app", "", service.ListOptions{})
		require.NoError(t, err)
		require.Len(t, page.Sessions, service.DefaultPageSize)
		require.NotEmpty(t, page.NextPageToken)

		for _, size := range []int{service.MaxPageSize + 1, 5000, math.MaxInt} {
			page, err = h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: size})
			require.NoError(t, err)
			require.Len(t, page.Sessions, service.MaxPageSize, "page size %d", size)
			require.NotEmpty(t, page.NextPageToken)
			rest, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: size, PageToken: page.NextPageToken})
			require.NoError(t, err)
			require.Len(t, rest.Sessions, 1)
			require.Empty(t, rest.NextPageToken)
		}
		require.Len(t, h.list("app", "", 0), service.MaxPageSize+1)

		for _, size := range []int{-1, math.MinInt} {
			page, err = h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: size})
			requireInvalid(t, err, "pageSize", "page size %d", size)
			require.Nil(t, page)
		}
	})

	t.Run("a page token that this listing did not issue is rejected", func(t *testing.T) {
		// CONTRACT L2
		t.Parallel()
		h := s.open(t)
		for _, app := range []string{"app", "other-app"} {
			for _, user := range []string{"u", "uu", "uuu"} {
				for i := range 3 {
					h.create(key(app, user, fmt.Sprintf("s%d", i)), nil)
				}
			}
		}
		token := func(app, user string) string {
			page, err := h.svc.List(h.ctx, app, user, service.ListOptions{PageSize: 1})
			require.NoError(t, err)
			require.NotEmpty(t, page.NextPageToken)
			return page.NextPageToken
		}
		sess := h.get(key("app", "u", "s0"))
		h.appendDelta(sess, nil)
		h.appendDelta(sess, nil)
		evPage, err := h.svc.ListEvents(h.ctx, sess.Key(), service.ListEventsOptions{PageSize: 1})
		require.NoError(t, err)
		require.NotEmpty(t, evPage.NextPageToken)

		type bad struct{ app, user, token, why string }
		var cases []bad
		for _, garbage := range []string{"garbage", "!!!!", "AAAAAAAAAAAAAAAA", "aGVsbG8gd29ybGQ", "=", " ", "\x00", strings.Repeat("A", 4096)} {
			cases = append(cases, bad{"app", "", garbage, "garbage"})
		}
		for _, user := range []string{"", "u", "uu", "uuu"} {
			tok := token("app", user)
			cases = append(cases,
				bad{"app", user, tok[:len(tok)-1], "truncated"},
				bad{"app", user, tok + "A", "extended"},
				bad{"app", user, " " + tok, "padded"},
			)
			for i, f := range flipped(tok) {
				cases = append(cases, bad{"app", user, f, fmt.Sprintf("character %d of %d flipped", i, len(tok))})
			}
			cases = append(cases, bad{"other-app", user, tok, "from another app"})
		}
		cases = append(cases,
			bad{"app", "uu", token("app", "u"), "from another user"},
			bad{"app", "", token("app", "u"), "from one user's listing in the app-wide one"},
			bad{"app", "u", token("app", ""), "from the app-wide listing in one user's"},
			bad{"app", "u", evPage.NextPageToken, "from ListEvents"},
		)
		for _, c := range cases {
			page, err := h.svc.List(h.ctx, c.app, c.user, service.ListOptions{PageSize: 1, PageToken: c.token})
			if !assert.ErrorIs(t, err, service.ErrInvalidArgument, "token %s (%q) accepted by List(%q, %q)", c.why, c.token, c.app, c.user) {
				continue
			}
			assert.Contains(t, err.Error(), "pageToken")
			assert.Nil(t, page)
		}
	})
}

// flipped returns tok with each character in turn replaced by the next one
// of the base64url alphabet (another character if it is not in it).
func flipped(tok string) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := make([]string, 0, len(tok))
	for i := range len(tok) {
		c := tok[i] ^ 1
		if j := strings.IndexByte(alphabet, tok[i]); j >= 0 {
			c = alphabet[(j+1)%len(alphabet)]
		}
		out = append(out, tok[:i]+string(c)+tok[i+1:])
	}
	return out
}

// ---------------------------------------------------------------- D1

func (s suite) d1(t *testing.T) {
	t.Run("deleting a missing session succeeds and changes nothing", func(t *testing.T) {
		// CONTRACT D1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"k": "v", "app:a": 1, "user:u": 1})
		h.appendDelta(sess, map[string]any{"k": "w"})
		h.create(key("app", "user", "gone"), nil)
		require.NoError(t, h.svc.Delete(h.ctx, key("app", "user", "gone")))
		before := h.exportJSON()
		want := h.get(k)

		for _, missing := range []service.SessionKey{
			key("app", "user", "never"),
			key("app", "user", "gone"),
			key("app", "wrong-user", "s"),
			key("wrong-app", "user", "s"),
			key("app", "user", "S"),
		} {
			require.NoError(t, h.svc.Delete(h.ctx, missing), "delete %v", missing)
		}
		require.Equal(t, before, h.exportJSON(), "deleting missing sessions changed the log")
		got := h.get(k)
		require.Equal(t, want.State, got.State)
		require.Equal(t, ids(want.Events), ids(got.Events))
		require.Equal(t, want.Version, got.Version)
		require.Len(t, h.list("app", "", 0), 1)
		h.verify()
	})

	t.Run("deleting a session twice succeeds both times", func(t *testing.T) {
		// CONTRACT D1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		h.create(k, nil)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		log := h.exportJSON()
		require.NoError(t, h.svc.Delete(h.ctx, k))
		require.Equal(t, log, h.exportJSON())
	})
}

// ---------------------------------------------------------------- D2

func (s suite) d2(t *testing.T) {
	t.Run("a deleted session is gone everywhere but its app and user state stays", func(t *testing.T) {
		// CONTRACT D2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"own": "created", "app:from-create": "A", "user:from-create": "U"})
		h.appendDelta(sess, map[string]any{"own": "appended", "app:from-event": "A", "user:from-event": "U"})
		h.appendDelta(sess, map[string]any{"own2": "x"})
		sibling := h.create(key("app", "user", "sibling"), nil)

		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		require.Len(t, sub.records(2), 2)

		require.NoError(t, h.svc.Delete(h.ctx, k))
		require.NoError(t, sub.end(), "a live subscription must complete without an error")

		_, err := h.svc.Get(h.ctx, k, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		_, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		require.Equal(t, []string{"user/sibling"}, sessionIDs(h.list("app", "user", 0)))
		require.Equal(t, []string{"user/sibling"}, sessionIDs(h.list("app", "", 0)))
		version := sess.Version
		_, err = h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"own": "late", "app:late": 1}))
		require.ErrorIs(t, err, service.ErrNotFound, "append through the old handle")
		require.Equal(t, version, sess.Version, "a failed append changed the handle")
		err = h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		require.ErrorIs(t, err, service.ErrNotFound, "subscribing to a deleted session")

		shared := map[string]any{"app:from-create": "A", "user:from-create": "U", "app:from-event": "A", "user:from-event": "U"}
		require.Equal(t, shared, h.get(sibling.Key()).State)

		again := h.create(k, map[string]any{"fresh": true})
		want := merged(shared, map[string]any{"fresh": true})
		require.Equal(t, want, again.State)
		require.Empty(t, again.Events)
		require.Zero(t, again.Version)
		got := h.get(k)
		require.Equal(t, want, got.State, "the re-created session has the old session's state")
		require.Empty(t, got.Events, "the re-created session has the old session's events")
		require.Zero(t, got.Version)
		require.Empty(t, h.events(k, 0))
		h.verify()
	})

	t.Run("an old handle cannot append to a re-created session of the same ID", func(t *testing.T) {
		// CONTRACT D2: after a delete, an append through an old handle gives
		// ErrNotFound, and a later Create with the same ID starts empty.
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		fresh := h.create(k, nil) // at version 0, like the re-created session
		used := h.get(k)
		h.appendDelta(used, map[string]any{"state": "old"}) // at version 1
		require.NoError(t, h.svc.Delete(h.ctx, k))
		h.create(k, map[string]any{"state": "new"})

		_, err := h.svc.AppendEvent(h.ctx, fresh, delta(map[string]any{"state": "written through the old handle"}))
		assert.ErrorIs(t, err, service.ErrNotFound, "append through a handle at version 0 of the deleted session")
		_, err = h.svc.AppendEvent(h.ctx, used, delta(map[string]any{"state": "written through the old handle"}))
		assert.ErrorIs(t, err, service.ErrNotFound, "append through a handle at version 1 of the deleted session")
		got := h.get(k)
		assert.Equal(t, map[string]any{"state": "new"}, got.State)
		assert.Empty(t, got.Events)
		assert.Zero(t, got.Version)
	})
}

func merged(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// ---------------------------------------------------------------- D3

func (s suite) d3(t *testing.T) {
	t.Run("a deleted session's log is freed but its app and user writes survive a rebuild", func(t *testing.T) {
		// CONTRACT D3
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"own": "x", "app:created": "A", "user:created": "U"})
		h.appendDelta(sess, map[string]any{"own": "y", "app:appended": "A", "user:appended": "U", "user:removed": "gone soon"})
		h.appendDelta(sess, map[string]any{"own": "z", "user:removed": service.Removed})
		h.appendEvent(sess, &service.Event{Content: text("no state")})
		keeper := h.create(key("app", "user", "keeper"), map[string]any{"k": "v"})

		var created service.Position
		for _, rec := range h.export() {
			if rec.Kind == eventlog.KindSessionCreated && rec.Key == k {
				created = rec.Position
			}
		}
		require.NotZero(t, created)

		require.NoError(t, h.svc.Delete(h.ctx, k))

		_, err := h.store.Session(h.ctx, k)
		require.ErrorIs(t, err, service.ErrNotFound, "the store still serves the deleted session")
		for _, incarnation := range []service.Position{0, created} {
			_, _, err = h.store.Read(h.ctx, eventlog.SessionScope(k, incarnation), 0, 100)
			require.ErrorIs(t, err, service.ErrNotFound, "the store still reads the deleted session (incarnation %d)", incarnation)
		}
		all, _, err := h.store.Read(h.ctx, eventlog.Scope{}, 0, 100000)
		require.NoError(t, err)
		for _, rec := range all {
			if rec.Key != k {
				continue
			}
			require.NotContains(t, []eventlog.Kind{eventlog.KindSessionCreated, eventlog.KindEventAppended}, rec.Kind,
				"the store still holds a %s record of the deleted session", rec.Kind)
			require.Nil(t, rec.Event, "the store still holds an event of the deleted session")
			for key := range rec.Writes() {
				require.True(t, strings.HasPrefix(key, "app:") || strings.HasPrefix(key, "user:"),
					"the store still holds session key %q of the deleted session", key)
			}
		}

		wantShared := map[string]any{"app:created": "A", "user:created": "U", "app:appended": "A", "user:appended": "U"}
		require.Equal(t, merged(wantShared, map[string]any{"k": "v"}), h.get(keeper.Key()).State)

		rebuilt, err := projection.Rebuild(h.ctx, h.store)
		require.NoError(t, err)
		app := rebuilt.Apps["app"]
		require.NotNil(t, app, "the rebuild lost the app")
		require.Equal(t, map[string]any{"created": "A", "appended": "A"}, app.State.Values())
		require.Equal(t, map[string]any{"created": "U", "appended": "U"}, app.Users["user"].Values())
		require.NotContains(t, app.Sessions, k)
		require.Contains(t, app.Sessions, keeper.Key())
		h.verify()

		// A fresh service fed the export has the same shared state.
		imported := h.fresh()
		require.NoError(t, imported.svc.Import(imported.ctx, h.svc.Export(h.ctx)))
		require.Equal(t, merged(wantShared, map[string]any{"k": "v"}), imported.get(keeper.Key()).State)
		_, err = imported.svc.Get(imported.ctx, k, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		require.Equal(t, wantShared, imported.create(key("app", "user", "new"), nil).State)
		imported.verify()
	})

	t.Run("the old incarnation of a re-created session cannot be read from the store", func(t *testing.T) {
		// CONTRACT D3
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		h.appendDelta(h.create(k, nil), map[string]any{"n": "one"})
		old, err := h.store.Session(h.ctx, k)
		require.NoError(t, err)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		h.appendDelta(h.create(k, nil), map[string]any{"n": "two"})
		_, _, err = h.store.Read(h.ctx, eventlog.SessionScope(k, old.Created.Position), 0, 100)
		require.ErrorIs(t, err, service.ErrNotFound)
		cur, err := h.store.Session(h.ctx, k)
		require.NoError(t, err)
		require.NotEqual(t, old.Created.Position, cur.Created.Position)
		require.Equal(t, uint64(1), cur.Version())
		recs, _, err := h.store.Read(h.ctx, eventlog.SessionScope(k, cur.Created.Position), 0, 100)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		require.Equal(t, "two", recs[0].Event.Actions.StateDelta["n"])
	})
}

// ---------------------------------------------------------------- A1

func (s suite) a1(t *testing.T) {
	t.Run("a nil session or event is rejected and an unknown session is not found, storing nothing", func(t *testing.T) {
		// CONTRACT A1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		h.create(key("app", "user", "deleted"), nil)
		deleted := h.get(key("app", "user", "deleted"))
		require.NoError(t, h.svc.Delete(h.ctx, deleted.Key()))
		before := h.exportJSON()

		ev, err := h.svc.AppendEvent(h.ctx, nil, delta(map[string]any{"k": 1}))
		requireInvalid(t, err, "session")
		require.Nil(t, ev)
		ev, err = h.svc.AppendEvent(h.ctx, sess, nil)
		requireInvalid(t, err, "event")
		require.Nil(t, ev)
		_, err = h.svc.AppendEvent(h.ctx, nil, nil)
		require.ErrorIs(t, err, service.ErrInvalidArgument)

		for _, unknown := range []*service.Session{
			{AppName: "app", UserID: "user", ID: "never"},
			{AppName: "app", UserID: "other", ID: "s"},
			{AppName: "other", UserID: "user", ID: "s"},
			deleted,
		} {
			ev, err = h.svc.AppendEvent(h.ctx, unknown, delta(map[string]any{"k": 1, "app:a": 1, "user:u": 1}))
			require.ErrorIs(t, err, service.ErrNotFound, "append to %v", unknown.Key())
			require.Nil(t, ev)
		}
		require.Equal(t, before, h.exportJSON(), "a failed append stored something")
		require.Zero(t, sess.Version)
		require.Empty(t, h.get(k).State)
		h.verify()
	})
}

// ---------------------------------------------------------------- A2

func (s suite) a2(t *testing.T) {
	t.Run("a partial event is returned as it is and changes nothing", func(t *testing.T) {
		// CONTRACT A2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"k": "v"})
		h.appendDelta(sess, map[string]any{"k": "w"})
		log := h.exportJSON()
		version, events, state, updated := sess.Version, slices.Clone(sess.Events), normalize(t, sess.State), sess.LastUpdateTime

		for _, ev := range []*service.Event{
			{Partial: true, Content: text("chunk")},
			{Partial: true, ID: "p1", Timestamp: epoch.Add(time.Hour), Content: text("chunk"),
				Actions: service.EventActions{StateDelta: map[string]any{"k": "partial", "app:a": 1, "user:u": 1, "temp:t": 1}}},
		} {
			want := eventsJSON(t, []*service.Event{ev})
			got, err := h.svc.AppendEvent(h.ctx, sess, ev)
			require.NoError(t, err)
			require.Same(t, ev, got, "a partial event is returned as the same value")
			require.Equal(t, want, eventsJSON(t, []*service.Event{ev}), "the partial event was changed")
		}
		require.Equal(t, log, h.exportJSON(), "a partial event changed the log")
		require.Equal(t, []string{"id-000001"}, ids(h.events(k, 0)))
		require.Equal(t, version, sess.Version)
		require.Equal(t, events, sess.Events)
		require.Equal(t, state, normalize(t, sess.State))
		requireSameTime(t, updated, sess.LastUpdateTime, "the handle's LastUpdateTime")
		got := h.get(k)
		require.Equal(t, map[string]any{"k": "w"}, got.State)
		requireSameTime(t, updated, got.LastUpdateTime, "the session's LastUpdateTime")
		h.appendDelta(sess, map[string]any{"k": "after"})
		require.Equal(t, uint64(2), sess.Version, "the next complete event follows without a gap")
	})
}

// ---------------------------------------------------------------- A3

func (s suite) a3(t *testing.T) {
	t.Run("an event without ID or timestamp gets a generated ID and the clock's time", func(t *testing.T) {
		// CONTRACT A3
		t.Parallel()
		h := s.open(t)
		sess := h.create(key("app", "user", "s"), nil)
		ev := &service.Event{Author: "user", Content: text("hi")}
		stored := h.appendEvent(sess, ev)
		require.NotEmpty(t, stored.ID)
		require.Equal(t, "id-000001", stored.ID, "the service's ID generator names the event")
		requireSameTime(t, h.clock.Last(), stored.Timestamp, "the stored timestamp")
		require.Empty(t, ev.ID, "the caller's event was changed")
		require.True(t, ev.Timestamp.IsZero(), "the caller's event was changed")
		require.Equal(t, []string{stored.ID}, ids(h.events(sess.Key(), 0)))

		given := epoch.Add(-time.Hour)
		kept := h.appendEvent(sess, &service.Event{ID: "mine", Timestamp: given})
		require.Equal(t, "mine", kept.ID)
		requireSameTime(t, given, kept.Timestamp, "a given timestamp")
	})

	t.Run("an event without ID gets a new random UUID and the current time", func(t *testing.T) {
		// CONTRACT A3
		t.Parallel()
		h := s.open(t, realTimeAndIDs)
		sess := h.create(key("app", "user", ""), nil)
		seen := map[string]bool{}
		for range 3 {
			before := time.Now()
			stored := h.appendEvent(sess, &service.Event{})
			after := time.Now()
			_, err := uuid.Parse(stored.ID)
			require.NoError(t, err, "event ID %q is not a UUID", stored.ID)
			require.False(t, seen[stored.ID], "event ID %q generated twice", stored.ID)
			seen[stored.ID] = true
			require.False(t, stored.Timestamp.Before(before) || stored.Timestamp.After(after),
				"timestamp %v is not the time of the append (%v to %v)", stored.Timestamp, before, after)
		}
	})

	t.Run("stored events are numbered 1, 2, 3 in append order without gaps", func(t *testing.T) {
		// CONTRACT A3
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		other := h.create(key("app", "user", "other"), nil)
		stale := h.get(k)
		h.appendEvent(sess, &service.Event{ID: "a"})
		h.appendEvent(other, &service.Event{ID: "other-1"})
		_, err := h.svc.AppendEvent(h.ctx, stale, &service.Event{ID: "stale"})
		require.ErrorIs(t, err, service.ErrStaleSession)
		h.appendEvent(sess, &service.Event{ID: "b"})
		h.appendEvent(sess, &service.Event{ID: "a"}) // a retry stores nothing
		h.appendEvent(sess, &service.Event{Partial: true})
		h.appendEvent(sess, &service.Event{ID: "c"})
		require.Equal(t, uint64(3), sess.Version)

		var seqs []uint64
		var evIDs []string
		for _, rec := range h.export() {
			if rec.Kind == eventlog.KindEventAppended && rec.Key == k {
				seqs = append(seqs, rec.Seq)
				evIDs = append(evIDs, rec.Event.ID)
			}
		}
		require.Equal(t, []uint64{1, 2, 3}, seqs, "sequence numbers in the log")
		require.Equal(t, []string{"a", "b", "c"}, evIDs)

		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		for i, rec := range sub.records(3) {
			require.Equal(t, uint64(i+1), rec.Seq)
			require.Equal(t, evIDs[i], rec.Event.ID)
		}
	})
}

// ---------------------------------------------------------------- A4

func (s suite) a4(t *testing.T) {
	t.Run("temp keys update the handle only and are stripped from everything stored", func(t *testing.T) {
		// CONTRACT A4
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"temp:created": 1})
		ev := delta(map[string]any{"temp:t": "T", "k": "v", "app:a": "A", "user:u": "U"})
		stored := h.appendEvent(sess, ev)
		require.Equal(t, "T", sess.State["temp:t"], "the handle shows the temp key for the rest of the invocation")
		require.Equal(t, "v", sess.State["k"])
		require.NotContains(t, stored.Actions.StateDelta, "temp:t", "the returned event")
		require.Equal(t, map[string]any{"k": "v", "app:a": "A", "user:u": "U"}, stored.Actions.StateDelta)
		require.Contains(t, ev.Actions.StateDelta, "temp:t", "the caller's event was changed")

		h.appendEvent(sess, delta(map[string]any{"temp:only": 1}))
		require.Equal(t, 1, sess.State["temp:only"])

		require.Equal(t, map[string]any{"k": "v", "app:a": "A", "user:u": "U"}, h.get(k).State)
		for _, e := range h.events(k, 0) {
			for key := range e.Actions.StateDelta {
				require.False(t, strings.HasPrefix(key, "temp:"), "a listed event holds %q", key)
			}
		}
		for _, rec := range h.export() {
			for key := range rec.Writes() {
				require.False(t, strings.HasPrefix(key, "temp:"), "a %s record holds %q", rec.Kind, key)
			}
		}
		rebuilt, err := projection.Rebuild(h.ctx, h.store)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"k": "v"}, rebuilt.Apps["app"].Sessions[k].State)
		h.verify()
		require.Equal(t, map[string]any{"app:a": "A", "user:u": "U"}, h.create(key("app", "user", "next"), nil).State)
	})

	for _, removed := range []struct {
		name  string
		value any
	}{
		{"the Removed sentinel", service.Removed},
		{"the JSON sentinel string", "__ADK_SENTINEL_REMOVED__"},
	} {
		t.Run(removed.name+" deletes the key in session, app and user scope", func(t *testing.T) {
			// CONTRACT A4
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			sess := h.create(k, map[string]any{"k": "1", "kept": "1", "app:a": "1", "app:kept": "1", "user:u": "1", "user:kept": "1"})
			sibling := h.create(key("app", "user", "sibling"), nil)
			other := h.create(key("app", "other", "o"), map[string]any{"user:u": "other's"})
			h.appendDelta(sess, map[string]any{"k": removed.value, "app:a": removed.value, "user:u": removed.value, "never-set": removed.value})
			want := map[string]any{"kept": "1", "app:kept": "1", "user:kept": "1"}
			require.Equal(t, want, sess.State, "the handle")
			require.Equal(t, want, h.get(k).State)
			require.Equal(t, map[string]any{"app:kept": "1", "user:kept": "1"}, h.get(sibling.Key()).State)
			require.Equal(t, map[string]any{"app:kept": "1", "user:u": "other's"}, h.get(other.Key()).State)
			h.verify()

			h.appendDelta(sess, map[string]any{"k": "2", "app:a": "2", "user:u": "2"})
			require.Equal(t, merged(want, map[string]any{"k": "2", "app:a": "2", "user:u": "2"}), h.get(k).State, "a removed key can be set again")
			h.verify()
		})
	}

	t.Run("a concurrent reader sees all of an append's delta or none of it", func(t *testing.T) {
		// CONTRACT A4
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "writer")
		sess := h.create(k, nil)
		sibling := key("app", "user", "sibling")
		h.create(sibling, nil)
		const appends = 200
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(done)
			for i := 1; i <= appends; i++ {
				_, err := h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"k": float64(i), "app:k": float64(i), "user:k": float64(i)}))
				if err != nil {
					t.Errorf("append %d: %v", i, err)
					return
				}
			}
		})
		for range 2 {
			wg.Go(func() {
				for reads := 0; ; reads++ {
					select {
					case <-done:
						if reads > 0 {
							return
						}
					default:
					}
					got, err := h.svc.Get(h.ctx, k, service.GetOptions{})
					if err != nil {
						t.Errorf("get: %v", err)
						return
					}
					var want any
					if n := len(got.Events); n > 0 {
						want = float64(n)
					}
					if got.State["k"] != want || got.State["app:k"] != want || got.State["user:k"] != want || got.Version != uint64(len(got.Events)) {
						t.Errorf("a reader saw part of an append: %d events, version %d, state %v", len(got.Events), got.Version, got.State)
						return
					}
					sib, err := h.svc.Get(h.ctx, sibling, service.GetOptions{})
					if err != nil {
						t.Errorf("get sibling: %v", err)
						return
					}
					if sib.State["app:k"] != sib.State["user:k"] {
						t.Errorf("a reader of another session saw part of an append: %v", sib.State)
						return
					}
				}
			})
		}
		wg.Wait()
		got := h.get(k)
		require.Len(t, got.Events, appends)
		require.Equal(t, map[string]any{"k": float64(appends), "app:k": float64(appends), "user:k": float64(appends)}, got.State)
		h.verify()
	})
}

// ---------------------------------------------------------------- A5

func (s suite) a5(t *testing.T) {
	t.Run("an append updates the caller's handle in place", func(t *testing.T) {
		// CONTRACT A5
		t.Parallel()
		h := s.open(t)
		sess := h.create(key("app", "user", "s"), map[string]any{"k": "v", "app:a": "A"})
		handle := sess
		ts := epoch.Add(-24 * time.Hour) // earlier than the creation: still the last update
		stored := h.appendEvent(sess, &service.Event{ID: "e1", Timestamp: ts,
			Actions: service.EventActions{StateDelta: map[string]any{"k": "w", "app:a": "B", "user:u": "U"}}})
		require.Same(t, handle, sess)
		require.Equal(t, uint64(1), sess.Version)
		require.Len(t, sess.Events, 1)
		require.Same(t, stored, sess.Events[0], "the handle holds the stored event")
		require.Equal(t, map[string]any{"k": "w", "app:a": "B", "user:u": "U"}, sess.State)
		requireSameTime(t, ts, sess.LastUpdateTime, "the handle's LastUpdateTime")

		stored = h.appendEvent(sess, &service.Event{})
		require.Equal(t, uint64(2), sess.Version)
		require.Equal(t, []string{"e1", stored.ID}, ids(sess.Events))
		requireSameTime(t, h.clock.Last(), sess.LastUpdateTime, "the handle's LastUpdateTime")

		got := h.get(sess.Key())
		require.Equal(t, sess.Version, got.Version)
		require.Equal(t, sess.State, got.State)
		require.Equal(t, ids(sess.Events), ids(got.Events))
		requireSameTime(t, sess.LastUpdateTime, got.LastUpdateTime, "the stored LastUpdateTime")
	})

	t.Run("a handle with a nil state map is updated too", func(t *testing.T) {
		// CONTRACT A5
		t.Parallel()
		h := s.open(t)
		h.create(key("app", "user", "s"), nil)
		handle := &service.Session{AppName: "app", UserID: "user", ID: "s"}
		h.appendDelta(handle, map[string]any{"k": "v"})
		require.Equal(t, map[string]any{"k": "v"}, handle.State)
		require.Equal(t, uint64(1), handle.Version)
	})
}

// ---------------------------------------------------------------- A6

func (s suite) a6(t *testing.T) {
	t.Run("an append through a stale handle fails, names both versions and stores nothing", func(t *testing.T) {
		// CONTRACT A6
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "stale")
		sess := h.create(k, nil)
		for range 7 {
			h.appendDelta(sess, nil)
		}
		first, second := h.get(k), h.get(k)
		h.appendDelta(first, map[string]any{"k": "first"})
		log := h.exportJSON()

		version, events, state := second.Version, len(second.Events), normalize(t, second.State)
		ev, err := h.svc.AppendEvent(h.ctx, second, delta(map[string]any{"k": "second", "app:a": 1}))
		require.ErrorIs(t, err, service.ErrStaleSession)
		require.Nil(t, ev)
		require.Contains(t, err.Error(), "7", "the message names the handle's version")
		require.Contains(t, err.Error(), "8", "the message names the store's version")
		require.Equal(t, log, h.exportJSON(), "a stale append stored something")
		require.Equal(t, version, second.Version)
		require.Len(t, second.Events, events)
		require.Equal(t, state, normalize(t, second.State))
		require.Equal(t, map[string]any{"k": "first"}, h.get(k).State)

		retry := h.get(k)
		h.appendDelta(retry, map[string]any{"k": "second"})
		require.Equal(t, uint64(9), retry.Version)
		require.Equal(t, map[string]any{"k": "second"}, h.get(k).State)
		h.verify()
	})

	t.Run("with LastWriterWins an append through a stale handle succeeds", func(t *testing.T) {
		// CONTRACT A6
		t.Parallel()
		h := s.open(t, lastWriterWins)
		k := key("app", "user", "s")
		h.create(k, nil)
		first, second := h.get(k), h.get(k)
		h.appendEvent(first, &service.Event{ID: "first", Actions: service.EventActions{StateDelta: map[string]any{"k": "first"}}})
		stored := h.appendEvent(second, &service.Event{ID: "second", Actions: service.EventActions{StateDelta: map[string]any{"k": "second"}}})
		require.Equal(t, "second", stored.ID)
		require.Equal(t, uint64(2), second.Version)
		got := h.get(k)
		require.Equal(t, []string{"first", "second"}, ids(got.Events))
		require.Equal(t, map[string]any{"k": "second"}, got.State)
		require.Equal(t, uint64(2), got.Version)
		h.verify()
	})
}

// ---------------------------------------------------------------- A7

func (s suite) a7(t *testing.T) {
	t.Run("appending an event ID the session holds returns the stored event and stores nothing", func(t *testing.T) {
		// CONTRACT A7
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		stale := h.get(k)
		original := h.appendEvent(sess, &service.Event{ID: "e1", Author: "first", Actions: service.EventActions{StateDelta: map[string]any{"k": "first"}}})
		h.appendEvent(sess, &service.Event{ID: "e2"})
		log := h.exportJSON()

		for _, handle := range []*service.Session{sess, stale, h.get(k)} {
			version := handle.Version
			got, err := h.svc.AppendEvent(h.ctx, handle, &service.Event{ID: "e1", Author: "retry",
				Actions: service.EventActions{StateDelta: map[string]any{"k": "retry", "app:a": 1}}})
			require.NoError(t, err, "a retry through a handle at version %d", version)
			require.Equal(t, "first", got.Author, "the stored event is returned")
			require.Equal(t, eventsJSON(t, []*service.Event{original}), eventsJSON(t, []*service.Event{got}))
			require.Equal(t, version, handle.Version)
		}
		require.Equal(t, log, h.exportJSON(), "a retry stored something")
		got := h.get(k)
		require.Equal(t, []string{"e1", "e2"}, ids(got.Events))
		require.Equal(t, map[string]any{"k": "first"}, got.State)
		h.verify()
	})

	t.Run("an event ID of another session is not a duplicate", func(t *testing.T) {
		// CONTRACT A7
		t.Parallel()
		h := s.open(t)
		a := h.create(key("app", "user", "a"), nil)
		b := h.create(key("app", "user", "b"), nil)
		h.appendEvent(a, &service.Event{ID: "same"})
		h.appendEvent(b, &service.Event{ID: "same"})
		require.Len(t, h.events(b.Key(), 0), 1)
		require.NoError(t, h.svc.Delete(h.ctx, a.Key()))
		again := h.create(a.Key(), nil)
		h.appendEvent(again, &service.Event{ID: "same"})
		require.Equal(t, uint64(1), again.Version, "a re-created session does not hold the old session's IDs")
	})
}

// ---------------------------------------------------------------- A8

func (s suite) a8(t *testing.T) {
	t.Run("changing an appended event afterwards changes nothing stored", func(t *testing.T) {
		// CONTRACT A8
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		nested := map[string]any{"x": "orig", "list": []any{"a", map[string]any{"deep": "orig"}}}
		ev := &service.Event{
			ID:                 "e1",
			Content:            &genai.Content{Role: "model", Parts: []*genai.Part{{Text: "one"}, {Text: "two"}}},
			LongRunningToolIDs: []string{"call-1", "call-2"},
			CustomMetadata:     map[string]any{"tag": "orig"},
			Actions: service.EventActions{
				StateDelta:    map[string]any{"k": "orig", "nested": nested, "app:a": "orig", "user:u": []any{"orig"}},
				ArtifactDelta: map[string]int64{"file": 1},
			},
		}
		h.appendEvent(sess, ev)
		single := &service.Event{ID: "e2", Content: text("single part")}
		h.appendEvent(sess, single)
		wantEvents := eventsJSON(t, h.events(k, 0))
		wantState := normalize(t, h.get(k).State)

		ev.Actions.StateDelta["k"] = "changed"
		ev.Actions.StateDelta["added"] = "changed"
		nested["x"] = "changed"
		nested["list"].([]any)[0] = "changed"
		nested["list"].([]any)[1].(map[string]any)["deep"] = "changed"
		ev.Actions.StateDelta["user:u"].([]any)[0] = "changed"
		ev.Actions.ArtifactDelta["file"] = 99
		ev.Content.Parts[0].Text = "changed"
		ev.Content.Parts[1] = &genai.Part{Text: "replaced"}
		ev.Content.Parts = append(ev.Content.Parts, &genai.Part{Text: "added"})
		ev.LongRunningToolIDs[0] = "changed"
		ev.CustomMetadata["tag"] = "changed"
		ev.ID = "changed"
		single.Content.Parts[0].Text = "changed"

		require.Equal(t, wantEvents, eventsJSON(t, h.events(k, 0)))
		require.Equal(t, wantEvents, eventsJSON(t, h.get(k).Events))
		require.Equal(t, wantState, normalize(t, h.get(k).State))
		h.verify()
	})

	t.Run("changing the initial state map after Create changes nothing stored", func(t *testing.T) {
		// CONTRACT A8
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		nested := map[string]any{"x": "orig"}
		state := map[string]any{"k": "orig", "nested": nested, "app:a": []any{"orig"}}
		h.create(k, state)
		state["k"] = "changed"
		state["added"] = "changed"
		nested["x"] = "changed"
		state["app:a"].([]any)[0] = "changed"
		require.Equal(t, map[string]any{"k": "orig", "nested": map[string]any{"x": "orig"}, "app:a": []any{"orig"}}, h.get(k).State)
	})
}

// ---------------------------------------------------------------- E1

func (s suite) e1(t *testing.T) {
	t.Run("pages hold the default 100 events, at most 1000, and the last page has no token", func(t *testing.T) {
		// CONTRACT E1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		page, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.NoError(t, err)
		require.Empty(t, page.Events, "no events")
		require.Empty(t, page.NextPageToken)

		var want []string
		appendN := func(n int) {
			for range n {
				want = append(want, h.appendEvent(sess, &service.Event{}).ID)
			}
		}
		appendN(service.DefaultPageSize)
		page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.NoError(t, err)
		require.Equal(t, want, ids(page.Events), "exactly one default page")
		require.Empty(t, page.NextPageToken)

		appendN(1)
		page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.NoError(t, err)
		require.Equal(t, want[:service.DefaultPageSize], ids(page.Events))
		require.NotEmpty(t, page.NextPageToken)
		rest, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageToken: page.NextPageToken})
		require.NoError(t, err)
		require.Equal(t, want[service.DefaultPageSize:], ids(rest.Events))
		require.Empty(t, rest.NextPageToken)

		appendN(service.MaxPageSize - len(want))
		for _, size := range []int{service.MaxPageSize, service.MaxPageSize + 1, math.MaxInt} {
			page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size})
			require.NoError(t, err)
			require.Equal(t, want, ids(page.Events), "exactly one full page of size %d", size)
			require.Empty(t, page.NextPageToken)
		}
		appendN(1)
		for _, size := range []int{service.MaxPageSize + 1, 5000, math.MaxInt} {
			page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size})
			require.NoError(t, err)
			require.Len(t, page.Events, service.MaxPageSize, "page size %d is clamped", size)
			require.NotEmpty(t, page.NextPageToken)
			rest, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size, PageToken: page.NextPageToken})
			require.NoError(t, err)
			require.Equal(t, want[service.MaxPageSize:], ids(rest.Events))
			require.Empty(t, rest.NextPageToken)
		}
		require.Equal(t, want, ids(h.events(k, 7)), "pages of seven")
		require.Equal(t, want, ids(h.events(k, 1)), "pages of one")

		for _, size := range []int{-1, math.MinInt} {
			page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size})
			requireInvalid(t, err, "pageSize", "page size %d", size)
			require.Nil(t, page)
		}
	})

	t.Run("a token stays valid while events are appended", func(t *testing.T) {
		// CONTRACT E1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		for i := range 3 {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i+1)})
		}
		page, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"e1", "e2"}, ids(page.Events))
		h.appendEvent(sess, &service.Event{ID: "e4"})
		rest, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 2, PageToken: page.NextPageToken})
		require.NoError(t, err)
		require.Equal(t, []string{"e3", "e4"}, ids(rest.Events))
		require.Empty(t, rest.NextPageToken)
	})

	t.Run("a missing session is not found and a foreign or broken token is rejected", func(t *testing.T) {
		// CONTRACT E1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		other := key("app", "user", "other")
		for _, sk := range []service.SessionKey{k, other, key("app", "user2", "s")} {
			sess := h.create(sk, nil)
			for range 3 {
				h.appendDelta(sess, nil)
			}
		}
		page, err := h.svc.ListEvents(h.ctx, key("app", "user", "missing"), service.ListEventsOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		require.Nil(t, page)

		first, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 1})
		require.NoError(t, err)
		tok := first.NextPageToken
		require.NotEmpty(t, tok)
		listTok, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: 1})
		require.NoError(t, err)

		type bad struct {
			key   service.SessionKey
			token string
			why   string
		}
		cases := []bad{
			{k, "garbage", "garbage"},
			{k, "AAAAAAAAAAAAAAAAAAAA", "garbage"},
			{k, tok[:len(tok)-1], "truncated"},
			{k, tok + "A", "extended"},
			{other, tok, "from another session"},
			{key("app", "user2", "s"), tok, "from another user"},
			{k, listTok.NextPageToken, "from List"},
		}
		for i, f := range flipped(tok) {
			cases = append(cases, bad{k, f, fmt.Sprintf("character %d of %d flipped", i, len(tok))})
		}
		for _, c := range cases {
			page, err := h.svc.ListEvents(h.ctx, c.key, service.ListEventsOptions{PageSize: 1, PageToken: c.token})
			if !assert.ErrorIs(t, err, service.ErrInvalidArgument, "token %s (%q) accepted for %v", c.why, c.token, c.key) {
				continue
			}
			assert.Contains(t, err.Error(), "pageToken")
			assert.Nil(t, page)
		}

		// A token from before a delete and re-create names a session that
		// no longer exists.
		require.NoError(t, h.svc.Delete(h.ctx, k))
		sess := h.create(k, nil)
		for range 3 {
			h.appendDelta(sess, nil)
		}
		page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 1, PageToken: tok})
		require.ErrorIs(t, err, service.ErrInvalidArgument, "a token of the deleted session")
		require.Nil(t, page)
	})
}

// ---------------------------------------------------------------- S1

func (s suite) s1(t *testing.T) {
	t.Run("a subscription from zero replays the stored events then follows live appends", func(t *testing.T) {
		// CONTRACT S1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		for i := 1; i <= 3; i++ {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i)})
		}
		other := h.create(key("app", "user", "other"), nil)
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		check := func(rec *service.Record, seq int) {
			t.Helper()
			require.Equal(t, eventlog.KindEventAppended, rec.Kind)
			require.Equal(t, k, rec.Key)
			require.Equal(t, uint64(seq), rec.Seq)
			require.Equal(t, fmt.Sprintf("e%d", seq), rec.Event.ID)
			require.NotZero(t, rec.Position)
		}
		var last service.Position
		for i, rec := range sub.records(3) {
			check(rec, i+1)
			require.Greater(t, rec.Position, last)
			last = rec.Position
		}
		for i := 4; i <= 6; i++ {
			h.appendEvent(other, &service.Event{ID: fmt.Sprintf("other-%d", i)})
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i)})
			rec := sub.record()
			check(rec, i)
			require.Greater(t, rec.Position, last)
			last = rec.Position
		}
	})

	t.Run("a subscription after sequence number k starts at k+1", func(t *testing.T) {
		// CONTRACT S1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		for i := 1; i <= 5; i++ {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i)})
		}
		for _, after := range []uint64{1, 2, 4} {
			sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, after) })
			for seq := after + 1; seq <= 5; seq++ {
				require.Equal(t, seq, sub.record().Seq, "after %d", after)
			}
			sub.stop()
		}
		// From the current version or beyond: only what comes next.
		subs := []*subscription{}
		for _, after := range []uint64{5, 6, math.MaxUint64} {
			subs = append(subs, h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, after) }))
		}
		h.appendEvent(sess, &service.Event{ID: "e6"})
		h.appendEvent(sess, &service.Event{ID: "e7"})
		require.Equal(t, uint64(6), subs[0].record().Seq, "after the current version")
		require.Equal(t, uint64(7), subs[1].record().Seq, "after a version not reached yet")
		subs[1].stop()
		subs[2].stop()
	})

	t.Run("a subscriber that reads nothing while 1000 events are appended gets them all in order", func(t *testing.T) {
		// CONTRACT S1: appenders are not blocked by a subscriber that does
		// not read (its goroutine is parked in the iterator's yield).
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		h.appendEvent(sess, &service.Event{ID: "e0001"})
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		const n = 1000
		for i := 2; i <= n; i++ {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%04d", i)})
		}
		for i := 1; i <= n; i++ {
			rec := sub.record()
			require.Equal(t, uint64(i), rec.Seq)
			require.Equal(t, fmt.Sprintf("e%04d", i), rec.Event.ID)
		}
	})

	t.Run("a subscriber reading while another goroutine appends sees no gap and no repeat", func(t *testing.T) {
		// CONTRACT S1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		const n = 500
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				if _, err := h.svc.AppendEvent(h.ctx, sess, &service.Event{ID: fmt.Sprintf("e%04d", i)}); err != nil {
					t.Errorf("append %d: %v", i, err)
					return
				}
				if i%50 == 0 {
					runtime.Gosched()
				}
			}
		})
		for i := 1; i <= n; i++ {
			rec := sub.record()
			require.Equal(t, uint64(i), rec.Seq)
			require.Equal(t, fmt.Sprintf("e%04d", i), rec.Event.ID)
			if i%7 == 0 {
				runtime.Gosched() // a slower reader
			}
		}
		wg.Wait()
	})

	t.Run("subscribing to a missing session gives ErrNotFound", func(t *testing.T) {
		// CONTRACT S1
		t.Parallel()
		h := s.open(t)
		h.create(key("app", "user", "s"), nil)
		for _, missing := range []service.SessionKey{key("app", "user", "missing"), key("app", "other", "s"), key("other", "user", "s")} {
			sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, missing, 0) })
			require.ErrorIs(t, sub.end(), service.ErrNotFound, "subscribe to %v", missing)
		}
	})
}

// ---------------------------------------------------------------- S2

func (s suite) s2(t *testing.T) {
	t.Run("user and app subscriptions deliver every record of their scope in position order", func(t *testing.T) {
		// CONTRACT S2
		t.Parallel()
		h := s.open(t)
		sessions := []*service.Session{
			h.create(key("app", "u1", "a"), nil),
			h.create(key("app", "u1", "b"), nil),
			h.create(key("app", "u2", "c"), nil),
			h.create(key("app", "u1:x", "d"), nil),
		}
		elsewhere := h.create(key("other-app", "u1", "a"), nil)
		appSub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.SubscribeApp(ctx, "app", 0) })
		userSub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
			return h.svc.SubscribeUser(ctx, "app", "u1", 0)
		})

		const perSession = 60
		var wg sync.WaitGroup
		for _, sess := range append(slices.Clone(sessions), elsewhere) {
			wg.Go(func() {
				for i := range perSession {
					if _, err := h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"i": i, "app:last": sess.ID})); err != nil {
						t.Errorf("append to %v: %v", sess.Key(), err)
						return
					}
				}
			})
		}

		checkScope := func(recs []*service.Record, users map[string]bool, sessionsWant int) {
			t.Helper()
			var last service.Position
			next := map[service.SessionKey]uint64{}
			for _, rec := range recs {
				require.Greater(t, rec.Position, last, "records out of position order")
				last = rec.Position
				require.Equal(t, "app", rec.Key.AppName)
				require.True(t, users[rec.Key.UserID], "a record of user %q", rec.Key.UserID)
				switch rec.Kind {
				case eventlog.KindSessionCreated:
					require.Zero(t, next[rec.Key], "a creation after events")
				case eventlog.KindEventAppended:
					next[rec.Key]++
					require.Equal(t, next[rec.Key], rec.Seq, "a gap or repeat in %v", rec.Key)
				default:
					t.Fatalf("unexpected %s record", rec.Kind)
				}
			}
			for k, n := range next {
				require.Equal(t, uint64(perSession), n, "events of %v", k)
			}
			require.Len(t, next, sessionsWant, "sessions with events")
		}
		appRecs := appSub.records(len(sessions) * (1 + perSession))
		userRecs := userSub.records(2 * (1 + perSession))
		wg.Wait()
		checkScope(appRecs, map[string]bool{"u1": true, "u2": true, "u1:x": true}, len(sessions))
		checkScope(userRecs, map[string]bool{"u1": true}, 2)

		// From a position in the middle: exactly what follows it.
		for _, mid := range []int{0, 1, 77, len(appRecs) - 2} {
			sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, "app", appRecs[mid].Position)
			})
			for _, want := range appRecs[mid+1:] {
				got := sub.record()
				require.Equal(t, want.Position, got.Position, "app subscription after record %d", mid)
				require.Equal(t, want.Key, got.Key)
				require.Equal(t, want.Seq, got.Seq)
			}
			sub.stop()
		}
		for _, mid := range []int{0, 50, len(userRecs) - 2} {
			sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeUser(ctx, "app", "u1", userRecs[mid].Position)
			})
			for _, want := range userRecs[mid+1:] {
				got := sub.record()
				require.Equal(t, want.Position, got.Position, "user subscription after record %d", mid)
			}
			sub.stop()
		}
	})

	t.Run("a user subscription sees creations, events and deletions as they happen", func(t *testing.T) {
		// CONTRACT S2
		t.Parallel()
		h := s.open(t)
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
			return h.svc.SubscribeUser(ctx, "app", "u", 0)
		})
		k := key("app", "u", "s")
		sess := h.create(k, map[string]any{"user:x": 1})
		rec := sub.record()
		require.Equal(t, eventlog.KindSessionCreated, rec.Kind)
		require.Equal(t, k, rec.Key)
		h.create(key("app", "someone-else", "s"), nil)
		h.appendEvent(sess, &service.Event{ID: "e1"})
		rec = sub.record()
		require.Equal(t, eventlog.KindEventAppended, rec.Kind)
		require.Equal(t, "e1", rec.Event.ID)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		rec = sub.record()
		require.Equal(t, eventlog.KindSessionDeleted, rec.Kind)
		require.Equal(t, k, rec.Key)
		h.create(k, nil)
		rec = sub.record()
		require.Equal(t, eventlog.KindSessionCreated, rec.Kind, "the user subscription goes on after a deletion")
	})

	t.Run("reading after the largest position returns nothing", func(t *testing.T) {
		// CONTRACT S2: a store reads the records after a position, even at
		// the top of the range.
		t.Parallel()
		h := s.open(t)
		h.appendDelta(h.create(key("app", "user", "s"), nil), map[string]any{"k": 1})
		for _, scope := range []eventlog.Scope{{}, {AppName: "app"}, {AppName: "app", UserID: "user"}} {
			recs, _, err := h.store.Read(h.ctx, scope, service.Position(math.MaxUint64), 10)
			assert.NoError(t, err)
			assert.Empty(t, recs, "read of %+v after the largest position", scope)
		}
	})
}

// ---------------------------------------------------------------- S3

func (s suite) s3(t *testing.T) {
	kinds := []struct {
		name string
		mk   func(h *harness, k service.SessionKey) func(context.Context) iter.Seq2[*service.Record, error]
	}{
		{"session", func(h *harness, k service.SessionKey) func(context.Context) iter.Seq2[*service.Record, error] {
			return func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) }
		}},
		{"user", func(h *harness, k service.SessionKey) func(context.Context) iter.Seq2[*service.Record, error] {
			return func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeUser(ctx, k.AppName, k.UserID, 0)
			}
		}},
		{"app", func(h *harness, k service.SessionKey) func(context.Context) iter.Seq2[*service.Record, error] {
			return func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, k.AppName, 0)
			}
		}},
	}
	for _, kind := range kinds {
		t.Run("cancelling the context ends a "+kind.name+" subscription", func(t *testing.T) {
			// CONTRACT S3
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			h.appendEvent(h.create(k, nil), &service.Event{ID: "e1"})
			waiting := h.follow(kind.mk(h, k))
			waiting.record() // it has caught up and waits for more
			reading := h.follow(kind.mk(h, k))
			waiting.stop()
			reading.stop() // it has a record in hand
			notStarted := h.follow(kind.mk(h, k))
			notStarted.stop()
		})

		t.Run("breaking out of the loop ends a "+kind.name+" subscription", func(t *testing.T) {
			// CONTRACT S3
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			h.appendEvent(h.create(k, nil), &service.Event{ID: "e1"})
			h.appendEvent(h.get(k), &service.Event{ID: "e2"})
			require.NotPanics(t, func() {
				n := 0
				for rec, err := range kind.mk(h, k)(h.ctx) {
					require.NoError(t, err)
					require.NotNil(t, rec)
					if n++; n == 2 {
						break
					}
				}
			})
		})

		t.Run("closing the service ends a "+kind.name+" subscription", func(t *testing.T) {
			// CONTRACT S3
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			h.appendEvent(h.create(k, nil), &service.Event{ID: "e1"})
			sub := h.follow(kind.mk(h, k))
			sub.record()
			h.close()
			sub.drain() // an error saying the store is closed is fine
		})
	}

	t.Run("deleting the session completes its subscriptions", func(t *testing.T) {
		// CONTRACT S3 D2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		caughtUp := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		behind := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		h.appendEvent(sess, &service.Event{ID: "e1"})
		require.Equal(t, "e1", caughtUp.record().Event.ID)
		require.Equal(t, "e1", behind.record().Event.ID)
		h.appendEvent(sess, &service.Event{ID: "e2"}) // behind reads it or not: it must complete either way
		require.Equal(t, "e2", caughtUp.record().Event.ID)
		appSub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.SubscribeApp(ctx, "app", 0) })
		require.Equal(t, eventlog.KindSessionCreated, appSub.record().Kind)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		require.NoError(t, caughtUp.end(), "a caught-up subscription completes without an error")
		for {
			it, ok := behind.next()
			if !ok {
				break
			}
			require.NoError(t, it.err, "a subscription that was behind completes without an error")
		}
		h.create(k, nil)
		h.appendEvent(h.get(k), &service.Event{ID: "new"})
		for {
			rec := appSub.record()
			if rec.Kind == eventlog.KindEventAppended && rec.Event.ID == "new" {
				break // the app subscription goes on
			}
		}
	})
}

// ---------------------------------------------------------------- R1

func (s suite) r1(t *testing.T) {
	t.Run("after creates, appends, Removed keys and deletes the rebuilt state equals the live state", func(t *testing.T) {
		// CONTRACT R1
		t.Parallel()
		h := s.open(t)
		a := h.create(key("app", "u1", "a"), map[string]any{"app:shared": "a0", "user:shared": "a0", "own": 1})
		b := h.create(key("app", "u1", "b"), map[string]any{"app:shared": "b0"})
		c := h.create(key("app", "u2", "c"), map[string]any{"user:shared": "c0"})
		h.verify()
		h.appendDelta(a, map[string]any{"app:shared": "a1", "user:shared": "a1", "own": 2})
		h.appendDelta(b, map[string]any{"app:shared": service.Removed, "user:shared": "b1", "user:gone": "soon"})
		h.appendDelta(c, map[string]any{"app:shared": "c1", "user:shared": service.Removed, "temp:x": 1})
		h.verify()
		h.appendDelta(b, map[string]any{"user:gone": "__ADK_SENTINEL_REMOVED__", "own": service.Removed})
		require.NoError(t, h.svc.Delete(h.ctx, b.Key()))
		h.verify()
		again := h.create(b.Key(), map[string]any{"app:shared": "b-again"})
		h.appendDelta(again, map[string]any{"user:shared": "b-again"})
		require.NoError(t, h.svc.Delete(h.ctx, a.Key()))
		require.NoError(t, h.svc.Delete(h.ctx, key("app", "u1", "never")))
		h.verify()
		require.NoError(t, h.svc.Delete(h.ctx, again.Key()))
		require.NoError(t, h.svc.Delete(h.ctx, c.Key()))
		h.verify()
		require.Equal(t, map[string]any{"app:shared": "b-again", "user:shared": "b-again"}, h.create(key("app", "u1", "z"), nil).State)
		h.verify()
	})

	t.Run("concurrent writers of the same app and user keys leave a state the rebuild reproduces", func(t *testing.T) {
		// CONTRACT R1
		t.Parallel()
		h := s.open(t)
		const writers, appends = 6, 40
		sessions := make([]*service.Session, writers)
		for w := range sessions {
			sessions[w] = h.create(key("app", fmt.Sprintf("u%d", w%2), fmt.Sprintf("s%d", w)), nil)
		}
		var wg sync.WaitGroup
		for w, sess := range sessions {
			wg.Go(func() {
				for i := range appends {
					d := map[string]any{"app:k": fmt.Sprintf("%d-%d", w, i), "user:k": fmt.Sprintf("%d-%d", w, i), "own": i}
					if i%5 == 4 {
						d["app:k"] = service.Removed
					}
					if _, err := h.svc.AppendEvent(h.ctx, sess, delta(d)); err != nil {
						t.Errorf("append: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		h.verify()
		require.NoError(t, h.svc.Delete(h.ctx, sessions[0].Key()))
		h.verify()
	})
}

// ---------------------------------------------------------------- R2

// populate fills a service with a bit of everything an export must carry.
func populate(h *harness) []string {
	h.t.Helper()
	a1 := h.create(key("app-one", "alice", "a1"), map[string]any{"own": "x", "app:theme": "dark", "user:lang": "en", "temp:t": 1.0})
	h.appendEvent(a1, &service.Event{
		Author: "user", InvocationID: "inv-1", Content: text("hello"),
		LongRunningToolIDs: []string{"call-1"}, CustomMetadata: map[string]any{"tag": "t"},
		Actions: service.EventActions{
			StateDelta: map[string]any{"own": "y", "count": 1.5, "nested": map[string]any{"list": []any{"a", 2.5, true}},
				"app:theme": "light", "user:lang": "fr", "temp:x": "gone"},
			ArtifactDelta: map[string]int64{"file.txt": 2},
		},
	})
	h.appendEvent(a1, &service.Event{Author: "model", Timestamp: epoch.Add(-time.Minute), // out of order
		Content: &genai.Content{Role: "model", Parts: []*genai.Part{{Text: "one"}, {FunctionCall: &genai.FunctionCall{ID: "call-1", Name: "f", Args: map[string]any{"x": 1.0}}}}}})
	a2 := h.create(key("app-one", "alice", "a2"), nil)
	h.appendDelta(a2, map[string]any{"user:lang": service.Removed, "s": "a2"})
	b1 := h.create(key("app-one", "bob", "b1"), map[string]any{"user:lang": "de"})
	h.appendDelta(b1, map[string]any{"k": "__ADK_SENTINEL_REMOVED__", "v": 3.0})
	gone := h.create(key("app-one", "bob", "gone"), map[string]any{"app:from-gone": "kept", "user:from-gone": "kept"})
	h.appendDelta(gone, map[string]any{"app:theme": "blue", "own": "lost"})
	h.require(h.svc.Delete(h.ctx, gone.Key()))
	again := h.create(key("app-one", "bob", "again"), map[string]any{"v": 1.0})
	h.appendDelta(again, map[string]any{"v": 1.5})
	h.require(h.svc.Delete(h.ctx, again.Key()))
	again = h.create(key("app-one", "bob", "again"), map[string]any{"v": 2.0})
	h.appendDelta(again, map[string]any{"v": 2.5})
	c := h.create(key("app-two", "carol", "c1"), map[string]any{"app:removed-later": "x"})
	h.appendDelta(c, map[string]any{"app:removed-later": service.Removed})
	h.create(key("app-two", "carol", "empty"), nil)
	return []string{"app-one", "app-two"}
}

func (h *harness) require(err error) {
	h.t.Helper()
	require.NoError(h.t, err)
}

// requireSameSessions checks that got serves the same sessions as want.
func requireSameSessions(t *testing.T, want, got *harness, apps []string) {
	t.Helper()
	for _, app := range apps {
		wl, gl := want.list(app, "", 2), got.list(app, "", 2)
		require.Equal(t, sessionIDs(wl), sessionIDs(gl), "List(%q)", app)
		for i := range wl {
			require.Equal(t, normalize(t, wl[i].State), normalize(t, gl[i].State), "listed state of %v", wl[i].Key())
			requireSameTime(t, wl[i].LastUpdateTime, gl[i].LastUpdateTime, "listed LastUpdateTime")
			w, g := want.get(wl[i].Key()), got.get(wl[i].Key())
			require.Equal(t, w.Version, g.Version, "version of %v", w.Key())
			requireSameTime(t, w.LastUpdateTime, g.LastUpdateTime, "LastUpdateTime")
			require.Equal(t, normalize(t, w.State), normalize(t, g.State), "state of %v", w.Key())
			require.Equal(t, ids(w.Events), ids(g.Events), "events of %v", w.Key())
			require.Equal(t, eventsJSON(t, w.Events), eventsJSON(t, g.Events), "events of %v", w.Key())
			require.Equal(t, eventsJSON(t, want.events(w.Key(), 1)), eventsJSON(t, got.events(w.Key(), 1)))
		}
	}
}

func (s suite) r2(t *testing.T) {
	t.Run("export then import into a fresh service reproduces every session", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		apps := populate(h)
		imported := h.fresh()
		require.NoError(t, imported.svc.Import(imported.ctx, h.svc.Export(h.ctx)))
		requireSameSessions(t, h, imported, apps)
		imported.verify()
		// The imported service goes on like the original.
		for _, x := range []*harness{h, imported} {
			sess := x.get(key("app-one", "alice", "a1"))
			x.appendEvent(sess, &service.Event{ID: "after-import", Timestamp: epoch.Add(time.Hour)})
			require.Equal(t, uint64(3), sess.Version)
		}
		requireSameSessions(t, h, imported, apps)
	})

	t.Run("exported records survive JSON and import the same", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		apps := populate(h)
		var lines [][]byte
		for _, rec := range h.export() {
			b, err := json.Marshal(rec)
			require.NoError(t, err)
			lines = append(lines, b)
		}
		decoded := make([]*service.Record, len(lines))
		for i, line := range lines {
			decoded[i] = new(service.Record)
			require.NoError(t, json.Unmarshal(line, decoded[i]), "decode %s", line)
		}
		imported := h.fresh()
		require.NoError(t, imported.svc.Import(imported.ctx, func(yield func(*service.Record, error) bool) {
			for _, rec := range decoded {
				if !yield(rec, nil) {
					return
				}
			}
		}))
		requireSameSessions(t, h, imported, apps)
		imported.verify()

		// And once more, from the imported service's own export.
		twice := h.fresh()
		require.NoError(t, twice.svc.Import(twice.ctx, imported.svc.Export(imported.ctx)))
		requireSameSessions(t, h, twice, apps)
	})

	t.Run("an import stops at a failing record and keeps the records before it", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		good := &service.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: epoch, State: map[string]any{"k": "v"}}
		dup := &service.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: epoch}
		never := &service.Record{Kind: eventlog.KindSessionCreated, Key: key("app", "user", "never"), Time: epoch}
		failure := errors.New("source failed")
		err := h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) {
			_ = yield(good, nil) && yield(dup, nil) && yield(never, nil)
		})
		require.ErrorIs(t, err, service.ErrAlreadyExists)
		require.Equal(t, map[string]any{"k": "v"}, h.get(k).State)
		_, err = h.svc.Get(h.ctx, never.Key, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		err = h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(nil, failure) })
		require.ErrorIs(t, err, failure)
		h.verify()
	})
}

// ---------------------------------------------------------------- Z1

func (s suite) z1(t *testing.T) {
	t.Run("goroutines appending to their own sessions and a shared one all succeed", func(t *testing.T) {
		// CONTRACT Z1 A6
		t.Parallel()
		h := s.open(t)
		const writers, appends = 8, 25
		shared := key("app", "shared-user", "shared")
		h.create(shared, nil)
		own := make([]*service.Session, writers)
		for w := range own {
			own[w] = h.create(key("app", fmt.Sprintf("user-%d", w%3), fmt.Sprintf("own-%d", w)), nil)
		}
		stop := make(chan struct{})
		var readers sync.WaitGroup
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: 3}); err != nil {
					t.Errorf("list: %v", err)
					return
				}
				if _, err := h.svc.ListEvents(h.ctx, shared, service.ListEventsOptions{PageSize: 7}); err != nil {
					t.Errorf("list events: %v", err)
					return
				}
				runtime.Gosched()
			}
		})
		var wg sync.WaitGroup
		var retries atomic.Int64
		for w := range writers {
			wg.Go(func() {
				for i := range appends {
					_, err := h.svc.AppendEvent(h.ctx, own[w], delta(map[string]any{"n": float64(i), "app:last": float64(w), "user:n": float64(i)}))
					if err != nil {
						t.Errorf("writer %d: append to its own session: %v", w, err)
						return
					}
					for attempt := 0; ; attempt++ {
						if attempt == 100000 {
							t.Errorf("writer %d: no progress on the shared session", w)
							return
						}
						sess, err := h.svc.Get(h.ctx, shared, service.GetOptions{NumRecentEvents: 1})
						if err == nil {
							_, err = h.svc.AppendEvent(h.ctx, sess, &service.Event{ID: fmt.Sprintf("w%d-%d", w, i),
								Actions: service.EventActions{StateDelta: map[string]any{"by": w, "app:shared-by": w}}})
						}
						if errors.Is(err, service.ErrStaleSession) {
							retries.Add(1)
							continue
						}
						if err != nil {
							t.Errorf("writer %d: append to the shared session: %v", w, err)
							return
						}
						break
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		readers.Wait()
		if t.Failed() {
			return
		}
		for w, sess := range own {
			got := h.get(sess.Key())
			require.Equal(t, uint64(appends), got.Version, "writer %d's session", w)
			require.Len(t, got.Events, appends)
			require.Equal(t, float64(appends-1), got.State["n"])
		}
		got := h.get(shared)
		require.Equal(t, uint64(writers*appends), got.Version)
		seen := map[string]bool{}
		for _, e := range got.Events {
			require.False(t, seen[e.ID], "event %s stored twice", e.ID)
			seen[e.ID] = true
		}
		require.Len(t, seen, writers*appends)
		require.Equal(t, uint64(writers*appends), uint64(len(h.events(shared, 0))))
		h.verify()
		t.Logf("%d stale appends retried", retries.Load())
	})

	t.Run("concurrent deletes and re-creates of one session keep the service and the log in agreement", func(t *testing.T) {
		// CONTRACT Z1 R1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "flicker")
		const rounds, pairs = 1500, 2
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range pairs {
			wg.Go(func() {
				for i := range rounds {
					_, err := h.svc.Create(h.ctx, k, map[string]any{"round": float64(i), "user:round": float64(i)})
					if err != nil && !errors.Is(err, service.ErrAlreadyExists) {
						t.Errorf("create: %v", err)
						return
					}
				}
			})
			wg.Go(func() {
				for range rounds {
					if err := h.svc.Delete(h.ctx, k); err != nil {
						t.Errorf("delete: %v", err)
						return
					}
				}
			})
		}
		var readers sync.WaitGroup
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if sess, err := h.svc.Get(h.ctx, k, service.GetOptions{}); err == nil {
					if _, err := h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"x": "1"})); err != nil &&
						!errors.Is(err, service.ErrNotFound) && !errors.Is(err, service.ErrStaleSession) {
						t.Errorf("append: %v", err)
						return
					}
				} else if !errors.Is(err, service.ErrNotFound) {
					t.Errorf("get: %v", err)
					return
				}
				if _, err := h.svc.List(h.ctx, "app", "user", service.ListOptions{}); err != nil {
					t.Errorf("list: %v", err)
					return
				}
			}
		})
		wg.Wait()
		close(stop)
		readers.Wait()

		_, getErr := h.svc.Get(h.ctx, k, service.GetOptions{})
		_, storeErr := h.store.Session(h.ctx, k)
		require.Equal(t, storeErr == nil, getErr == nil, "the service says %v, the store says %v", getErr, storeErr)
		h.verify()
		require.NoError(t, h.svc.Delete(h.ctx, k))
		_, err := h.svc.Create(h.ctx, k, nil)
		require.NoError(t, err, "the key is usable again")
		h.get(k)
		h.verify()
	})
}

// ---------------------------------------------------------------- B1

func (s suite) b1(t *testing.T) {
	t.Run("every rejection is a sentinel error whose message names the field", func(t *testing.T) {
		// CONTRACT B1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		cases := []struct {
			name  string
			err   func() error
			want  error
			field string
		}{
			{"Create without an app name", func() error { _, err := h.svc.Create(h.ctx, key("", "u", "s"), nil); return err }, service.ErrInvalidArgument, "appName"},
			{"Create without a user ID", func() error { _, err := h.svc.Create(h.ctx, key("a", " ", "s"), nil); return err }, service.ErrInvalidArgument, "userId"},
			{"Create of an existing session", func() error { _, err := h.svc.Create(h.ctx, k, nil); return err }, service.ErrAlreadyExists, "s"},
			{"Get without a session ID", func() error { _, err := h.svc.Get(h.ctx, key("app", "user", ""), service.GetOptions{}); return err }, service.ErrInvalidArgument, "sessionId"},
			{"Get with a negative count", func() error {
				_, err := h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: -3})
				return err
			}, service.ErrInvalidArgument, "numRecentEvents"},
			{"Get of a missing session", func() error { _, err := h.svc.Get(h.ctx, key("app", "user", "x"), service.GetOptions{}); return err }, service.ErrNotFound, "x"},
			{"List with a negative page size", func() error {
				_, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: -1})
				return err
			}, service.ErrInvalidArgument, "pageSize"},
			{"List with a bad token", func() error {
				_, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageToken: "bad"})
				return err
			}, service.ErrInvalidArgument, "pageToken"},
			{"ListEvents with a bad token", func() error {
				_, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageToken: "bad"})
				return err
			}, service.ErrInvalidArgument, "pageToken"},
			{"ListEvents with a negative page size", func() error {
				_, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: -1})
				return err
			}, service.ErrInvalidArgument, "pageSize"},
			{"AppendEvent without a session", func() error { _, err := h.svc.AppendEvent(h.ctx, nil, &service.Event{}); return err }, service.ErrInvalidArgument, "session"},
			{"AppendEvent without an event", func() error { _, err := h.svc.AppendEvent(h.ctx, sess, nil); return err }, service.ErrInvalidArgument, "event"},
			{"AppendEvent through a zero handle", func() error {
				_, err := h.svc.AppendEvent(h.ctx, &service.Session{}, &service.Event{})
				return err
			}, service.ErrInvalidArgument, "appName"},
			{"Subscribe without an app name", func() error {
				return h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
					return h.svc.Subscribe(ctx, key("", "u", "s"), 0)
				})
			}, service.ErrInvalidArgument, "appName"},
			{"SubscribeUser without a user ID", func() error {
				return h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
					return h.svc.SubscribeUser(ctx, "app", "", 0)
				})
			}, service.ErrInvalidArgument, "userId"},
			{"SubscribeApp without an app name", func() error {
				return h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.SubscribeApp(ctx, "", 0) })
			}, service.ErrInvalidArgument, "appName"},
			{"Import of a nil record", func() error {
				return h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(nil, nil) })
			}, service.ErrInvalidArgument, "record"},
		}
		for _, c := range cases {
			err := c.err()
			require.ErrorIs(t, err, c.want, c.name)
			require.Contains(t, err.Error(), c.field, c.name)
		}
	})

	t.Run("no bad input makes the service panic", func(t *testing.T) {
		// CONTRACT B1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		h.appendEvent(sess, &service.Event{ID: "e1"})
		cancelled, cancel := context.WithCancel(h.ctx)
		cancel()
		weird := []string{"", " ", "\x00", "\xff\xfe", strings.Repeat("x", 1<<16), "app:", "user:", "temp:", "a/b:c\x00d"}
		var calls []func()
		for _, w := range weird {
			calls = append(calls,
				func() { _, _ = h.svc.Create(h.ctx, key(w, w, w), map[string]any{w: w}) },
				func() { _, _ = h.svc.Create(h.ctx, key("app", "user", w), map[string]any{w: nil, "app:" + w: w}) },
				func() { _, _ = h.svc.Get(h.ctx, key(w, w, w), service.GetOptions{}) },
				func() { _, _ = h.svc.List(h.ctx, w, w, service.ListOptions{PageToken: w}) },
				func() { _, _ = h.svc.List(h.ctx, "app", "", service.ListOptions{PageToken: w}) },
				func() { _, _ = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageToken: w}) },
				func() { _ = h.svc.Delete(h.ctx, key(w, w, w)) },
				func() {
					_, _ = h.svc.AppendEvent(h.ctx, &service.Session{AppName: w, UserID: w, ID: w}, &service.Event{ID: w})
				},
			)
		}
		calls = append(calls,
			func() { _, _ = h.svc.Create(h.ctx, service.SessionKey{}, nil) },
			func() {
				_, _ = h.svc.Create(h.ctx, key("app", "user", ""), map[string]any{
					"nil": nil, "nilmap": map[string]any(nil), "list": []any{nil, map[string]any(nil)}, "removed": service.Removed,
					"app:removed": service.Removed, "user:nil": nil, "ch": make(chan int), "fn": func() {},
				})
			},
			func() { _, _ = h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: math.MaxInt}) },
			func() { _, _ = h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: math.MinInt}) },
			func() { _, _ = h.svc.Get(h.ctx, k, service.GetOptions{After: time.Unix(1<<62, 0)}) },
			func() { _, _ = h.svc.Get(h.ctx, k, service.GetOptions{After: time.Time{}.Add(-time.Hour)}) },
			func() { _, _ = h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: math.MaxInt}) },
			func() { _, _ = h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: math.MinInt}) },
			func() { _, _ = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: math.MaxInt}) },
			func() { _, _ = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: math.MinInt}) },
			func() { _, _ = h.svc.AppendEvent(h.ctx, &service.Session{}, &service.Event{}) },
			func() { _, _ = h.svc.AppendEvent(h.ctx, nil, nil) },
			func() {
				_, _ = h.svc.AppendEvent(h.ctx, &service.Session{AppName: "app", UserID: "user", ID: "s", Version: math.MaxUint64}, &service.Event{})
			},
			func() {
				_, _ = h.svc.AppendEvent(h.ctx, h.get(k), &service.Event{
					Content:            &genai.Content{Parts: []*genai.Part{nil, {Text: "x"}, nil}},
					LongRunningToolIDs: []string{},
					CustomMetadata:     map[string]any{"nil": nil},
					Actions: service.EventActions{StateDelta: map[string]any{
						"": 1, "app:": 2, "user:": 3, "temp:": 4, "nil": nil, "removed": service.Removed,
					}},
				})
			},
			func() {
				_, _ = h.svc.AppendEvent(h.ctx, h.get(k), &service.Event{Content: &genai.Content{Parts: []*genai.Part{nil}}})
			},
			func() {
				_, _ = h.svc.AppendEvent(h.ctx, h.get(k), &service.Event{Content: &genai.Content{}, UsageMetadata: &genai.GenerateContentResponseUsageMetadata{}, GroundingMetadata: &genai.GroundingMetadata{}})
			},
			func() { _, _ = h.svc.AppendEvent(cancelled, h.get(k), &service.Event{}) },
			func() { _, _ = h.svc.Create(cancelled, key("app", "user", "cancelled"), nil) },
			func() { _ = h.svc.Delete(cancelled, k) },
			func() { _, _ = h.svc.Get(cancelled, k, service.GetOptions{}) },
			func() { _, _ = h.svc.List(cancelled, "app", "", service.ListOptions{}) },
			func() { _, _ = h.svc.ListEvents(cancelled, k, service.ListEventsOptions{}) },
			func() {
				for range h.svc.Subscribe(cancelled, k, math.MaxUint64) {
				}
			},
			func() {
				for range h.svc.SubscribeApp(cancelled, "app", service.Position(math.MaxUint64)) {
				}
			},
			func() {
				for range h.svc.SubscribeUser(cancelled, "app", "user", service.Position(math.MaxUint64)) {
				}
			},
			func() {
				for range h.svc.Export(cancelled) {
				}
			},
			func() {
				for _, rec := range []*service.Record{
					nil,
					{},
					{Kind: eventlog.Kind(0), Key: k},
					{Kind: eventlog.Kind(200), Key: k},
					{Kind: eventlog.KindEventAppended, Key: k},
					{Kind: eventlog.KindEventAppended, Key: k, Seq: math.MaxUint64, Event: &service.Event{}},
					{Kind: eventlog.KindEventAppended, Key: key("app", "user", "missing"), Seq: 1, Event: &service.Event{ID: "x"}},
					{Kind: eventlog.KindSessionDeleted, Key: service.SessionKey{}},
					{Kind: eventlog.KindStateRetained, Key: service.SessionKey{}},
					{Kind: eventlog.KindStateRetained, Key: key("app", "", ""), State: map[string]any{"user:x": 1, "app:y": service.Removed}},
				} {
					_ = h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(rec, nil) })
				}
			},
		)
		for i, call := range calls {
			require.NotPanics(t, call, "call %d", i)
		}
		got := h.get(k)
		require.Equal(t, "e1", got.Events[0].ID)
	})

	t.Run("importing a nil record sequence is rejected, not a panic", func(t *testing.T) {
		// CONTRACT B1
		t.Parallel()
		h := s.open(t)
		var err error
		assert.NotPanics(t, func() { err = h.svc.Import(h.ctx, nil) })
		assert.ErrorIs(t, err, service.ErrInvalidArgument)
	})
}
