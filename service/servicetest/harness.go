package servicetest

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

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

// verify checks that the state the store serves equals a rebuild of its
// log (CONTRACT R1), through package projection and through the service.
func (h *harness) verify() {
	h.t.Helper()
	require.NoError(h.t, projection.Verify(h.ctx, h.store), "the served state differs from a rebuild of the log")
	require.NoError(h.t, h.svc.Verify(h.ctx), "the service's Verify")
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
