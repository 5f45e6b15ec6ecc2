package adkgo_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/adk/v2/model"
	"google.golang.org/adk/v2/session"
	"google.golang.org/adk/v2/session/sessiontestsuite"
	"google.golang.org/adk/v2/tool/toolconfirmation"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/adkgo"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/service"
)

// newService returns an adapter over a fresh in-memory service, closed
// when the test ends.
func newService(t *testing.T) *adkgo.Service {
	t.Helper()
	svc, err := service.New(t.Context(), service.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	return adkgo.New(svc)
}

// The Go ADK's own conformance suite, in full, with user-provided session
// IDs. CONTRACT K1 K2 C1 C2 C3 G1 G2 G3 L1 L2 D1 D2 A1 A2 A4.
func TestADKConformanceSuite(t *testing.T) {
	sessiontestsuite.RunServiceTests(t, sessiontestsuite.SuiteOptions{SupportsUserProvidedSessionID: true},
		func(t *testing.T) session.Service { return newService(t) })
}

// The same suite with the adapter over the durable file store: what the
// ADK's runner sees does not depend on where the log lives.
func TestADKConformanceSuiteOverTheFileStore(t *testing.T) {
	sessiontestsuite.RunServiceTests(t, sessiontestsuite.SuiteOptions{SupportsUserProvidedSessionID: true},
		func(t *testing.T) session.Service {
			store, err := filestore.Open(t.Context(), t.TempDir(), filestore.Options{})
			require.NoError(t, err)
			svc, err := service.New(t.Context(), service.Options{Store: store})
			require.NoError(t, err)
			t.Cleanup(func() { _ = svc.Close() })
			return adkgo.New(svc)
		})
}

func create(t *testing.T, s *adkgo.Service, user, id string, st map[string]any) session.Session {
	t.Helper()
	resp, err := s.Create(t.Context(), &session.CreateRequest{AppName: "app", UserID: user, SessionID: id, State: st})
	require.NoError(t, err)
	return resp.Session
}

func get(t *testing.T, s *adkgo.Service, user, id string) session.Session {
	t.Helper()
	resp, err := s.Get(t.Context(), &session.GetRequest{AppName: "app", UserID: user, SessionID: id})
	require.NoError(t, err)
	return resp.Session
}

func stateOf(s session.Session) map[string]any { return maps.Collect(s.State().All()) }

func TestHandleState(t *testing.T) {
	ctx := context.Background()

	// CONTRACT A4 A5: the runner's handle sees its own appends at once,
	// temp: keys included, which are never stored.
	t.Run("the handle sees its own appends and temp: keys, the store keeps no temp: key", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", map[string]any{"city": "Oslo"})
		ev := &session.Event{Author: "agent", Actions: session.EventActions{StateDelta: map[string]any{
			"city": "Bergen", "temp:scratch": 1, "user:units": "metric", "app:model": "gemini",
		}}}
		require.NoError(t, s.AppendEvent(ctx, h, ev))

		want := map[string]any{"city": "Bergen", "temp:scratch": 1, "user:units": "metric", "app:model": "gemini"}
		assert.Equal(t, want, stateOf(h))
		v, err := h.State().Get("temp:scratch")
		require.NoError(t, err)
		assert.Equal(t, 1, v)
		require.Equal(t, 1, h.Events().Len())
		assert.Equal(t, map[string]any{"city": "Bergen", "user:units": "metric", "app:model": "gemini"}, h.Events().At(0).Actions.StateDelta)
		assert.Equal(t, ev.Timestamp, h.LastUpdateTime())

		got := get(t, s, "u", "s")
		delete(want, "temp:scratch")
		assert.Equal(t, want, stateOf(got))
		assert.Equal(t, map[string]any{"city": "Bergen", "user:units": "metric", "app:model": "gemini"}, got.Events().At(0).Actions.StateDelta)
	})

	// CONTRACT G3: app: and user: state written through one session shows
	// in the next Get of every other session of the app or user.
	t.Run("app and user state written through one session show in the next Get of the others", func(t *testing.T) {
		s := newService(t)
		a := create(t, s, "u", "a", nil)
		create(t, s, "u", "b", nil)
		create(t, s, "v", "c", nil)
		require.NoError(t, s.AppendEvent(ctx, a, &session.Event{Actions: session.EventActions{StateDelta: map[string]any{
			"app:k": "app", "user:k": "user", "k": "session",
		}}}))

		assert.Equal(t, map[string]any{"app:k": "app", "user:k": "user"}, stateOf(get(t, s, "u", "b")))
		assert.Equal(t, map[string]any{"app:k": "app"}, stateOf(get(t, s, "v", "c")))

		list, err := s.List(ctx, &session.ListRequest{AppName: "app"})
		require.NoError(t, err)
		require.Len(t, list.Sessions, 3)
		assert.Equal(t, map[string]any{"app:k": "app", "user:k": "user", "k": "session"}, stateOf(list.Sessions[0]))
		assert.Zero(t, list.Sessions[0].Events().Len(), "a listing carries no events")
	})

	t.Run("State.Set changes the handle only and a missing key is ErrStateKeyNotExist", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", nil)
		require.NoError(t, h.State().Set("k", "v"))
		v, err := h.State().Get("k")
		require.NoError(t, err)
		assert.Equal(t, "v", v)
		_, err = get(t, s, "u", "s").State().Get("k")
		assert.Equal(t, session.ErrStateKeyNotExist, err)
	})

	t.Run("State.All iterates over a snapshot", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", map[string]any{"a": 1, "b": 2})
		for k := range h.State().All() {
			require.NoError(t, h.State().Set(k+"2", 0)) // no deadlock, no concurrent map write
		}
		assert.Len(t, stateOf(h), 4)
	})
}

// Where sessionlog's contract and the ADK's in-memory service differ, the
// adapter keeps sessionlog's rule.
func TestSessionlogRulesHold(t *testing.T) {
	ctx := context.Background()

	// CONTRACT C1.
	t.Run("creating a session that exists fails with ErrAlreadyExists and keeps it", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", map[string]any{"k": 1})
		require.NoError(t, s.AppendEvent(ctx, h, &session.Event{Author: "user"}))
		_, err := s.Create(ctx, &session.CreateRequest{AppName: "app", UserID: "u", SessionID: "s"})
		require.ErrorIs(t, err, service.ErrAlreadyExists)
		got := get(t, s, "u", "s")
		assert.Equal(t, 1, got.Events().Len())
		assert.Equal(t, map[string]any{"k": 1}, stateOf(got))
	})

	// CONTRACT A6.
	t.Run("an append through a stale handle fails with ErrStaleSession and stores nothing", func(t *testing.T) {
		s := newService(t)
		create(t, s, "u", "s", nil)
		first, second := get(t, s, "u", "s"), get(t, s, "u", "s")
		require.NoError(t, s.AppendEvent(ctx, first, &session.Event{ID: "e1"}))
		err := s.AppendEvent(ctx, second, &session.Event{ID: "e2"})
		require.ErrorIs(t, err, service.ErrStaleSession)
		assert.Equal(t, 0, second.Events().Len())
		assert.Equal(t, 1, get(t, s, "u", "s").Events().Len())

		fresh := get(t, s, "u", "s")
		require.NoError(t, s.AppendEvent(ctx, fresh, &session.Event{ID: "e2"}))
		assert.Equal(t, 2, fresh.Events().Len())
	})

	// CONTRACT A7.
	t.Run("an event ID the session holds is stored once and the retry gets the stored ID and time", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", nil)
		ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		require.NoError(t, s.AppendEvent(ctx, h, &session.Event{ID: "e1", Timestamp: ts}))
		retry := &session.Event{ID: "e1"}
		require.NoError(t, s.AppendEvent(ctx, h, retry))
		assert.Equal(t, ts, retry.Timestamp)
		assert.Equal(t, 1, h.Events().Len())
		assert.Equal(t, 1, get(t, s, "u", "s").Events().Len())
	})

	// CONTRACT A3.
	t.Run("the storage-set ID and Timestamp are written into the appended event", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", nil)
		ev := &session.Event{Author: "user"}
		require.NoError(t, s.AppendEvent(ctx, h, ev))
		assert.NotEmpty(t, ev.ID)
		assert.False(t, ev.Timestamp.IsZero())
		stored := get(t, s, "u", "s").Events().At(0)
		assert.Equal(t, ev.ID, stored.ID)
		assert.True(t, ev.Timestamp.Equal(stored.Timestamp))
	})

	// CONTRACT A2.
	t.Run("a partial event changes nothing", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", nil)
		ev := &session.Event{Actions: session.EventActions{StateDelta: map[string]any{"k": 1}}}
		ev.Partial = true
		require.NoError(t, s.AppendEvent(ctx, h, ev))
		assert.Empty(t, ev.ID)
		assert.Equal(t, 0, h.Events().Len())
		assert.Empty(t, stateOf(h))
	})

	// CONTRACT D2.
	t.Run("an append after a delete fails with ErrNotFound", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", nil)
		require.NoError(t, s.Delete(ctx, &session.DeleteRequest{AppName: "app", UserID: "u", SessionID: "s"}))
		require.ErrorIs(t, s.AppendEvent(ctx, h, &session.Event{}), service.ErrNotFound)
		create(t, s, "u", "s", nil)
		require.ErrorIs(t, s.AppendEvent(ctx, h, &session.Event{}), service.ErrNotFound, "an old handle does not write into a new session of the same key")
	})

	// CONTRACT A8 G4: what the store holds does not change when the caller
	// changes the event it appended.
	t.Run("changing an appended event changes nothing stored", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", nil)
		ev := &session.Event{Actions: session.EventActions{StateDelta: map[string]any{"k": "v"}}}
		ev.Content = genai.NewContentFromText("hi", genai.RoleUser)
		require.NoError(t, s.AppendEvent(ctx, h, ev))
		ev.Actions.StateDelta["k"] = "changed"
		ev.Content.Parts[0].Text = "changed"
		for _, sess := range []session.Session{h, get(t, s, "u", "s")} {
			assert.Equal(t, "v", sess.Events().At(0).Actions.StateDelta["k"])
			assert.Equal(t, "hi", sess.Events().At(0).Content.Parts[0].Text)
		}
	})

	// CONTRACT A8: the same for the workflow fields and the values typed
	// any, which the store copies as JSON-like trees.
	t.Run("changing an appended event's workflow fields and payloads changes nothing stored", func(t *testing.T) {
		s := newService(t)
		h := create(t, s, "u", "s", nil)
		fresh := func() *session.Event {
			return &session.Event{
				ID: "w", LongRunningToolIDs: []string{"call-1"}, Routes: []string{"approve"},
				Output:         map[string]any{"temps": []any{21.5}},
				RequestedInput: &session.RequestInput{InterruptID: "ask", Payload: map[string]any{"days": []any{1.0}}},
				NodeInfo:       &session.NodeInfo{Path: "plan", OutputFor: []string{"plan"}},
				LLMResponse:    model.LLMResponse{CustomMetadata: map[string]any{"tags": []any{"a"}}},
				Actions: session.EventActions{ArtifactDelta: map[string]int64{"f": 1}, RequestedToolConfirmations: map[string]toolconfirmation.ToolConfirmation{
					"call-1": {Hint: "ok?", Payload: map[string]any{"price": 1.0}},
				}},
			}
		}
		ev := fresh()
		require.NoError(t, s.AppendEvent(ctx, h, ev))
		ev.LongRunningToolIDs[0], ev.Routes[0] = "changed", "changed"
		ev.Output.(map[string]any)["temps"].([]any)[0] = 0.0
		ev.RequestedInput.Payload.(map[string]any)["days"].([]any)[0] = 0.0
		ev.RequestedInput.Message, ev.NodeInfo.Path, ev.NodeInfo.OutputFor[0] = "changed", "changed", "changed"
		ev.CustomMetadata["tags"].([]any)[0] = "changed"
		ev.Actions.ArtifactDelta["f"] = 9
		ev.Actions.RequestedToolConfirmations["call-1"].Payload.(map[string]any)["price"] = 9.0

		want := fresh()
		for _, sess := range []session.Session{h, get(t, s, "u", "s")} {
			got := *sess.Events().At(0)
			want.Timestamp = got.Timestamp
			assert.Equal(t, want, &got)
		}
	})
}

// foreignSession is a session.Session the adapter did not make.
type foreignSession struct{ session.Session }

// CONTRACT A1 B1: bad input gives ErrInvalidArgument naming the problem,
// and nothing is stored.
func TestBadInput(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	h := create(t, s, "u", "s", nil)
	other := newService(t)
	otherHandle := create(t, other, "u", "s", nil)
	var unencodable any = make(chan int)

	appends := []struct {
		name string
		sess session.Session
		ev   *session.Event
		want string
	}{
		{"a nil session is refused", nil, &session.Event{}, "session is nil"},
		{"a nil *Session is refused", (*adkgo.Session)(nil), &session.Event{}, "session is nil"},
		{"a session of a foreign type is refused", foreignSession{h}, &session.Event{}, "adkgo_test.foreignSession"},
		{"a session of another service is refused", otherHandle, &session.Event{}, "another service"},
		{"a session built by hand is refused", &adkgo.Session{}, &session.Event{}, "another service"},
		{"a nil event is refused", h, nil, "event is nil"},
		{"an event whose response schema cannot be converted is refused", h, &session.Event{
			RequestedInput: &session.RequestInput{ResponseSchema: &jsonschema.Schema{Const: &unencodable}},
		}, "requestedInput.responseSchema"},
		{"an event whose state nests without end is refused", h, &session.Event{
			Actions: session.EventActions{StateDelta: cyclic()},
		}, "actions.stateDelta"},
	}
	for _, tc := range appends {
		t.Run(tc.name, func(t *testing.T) {
			err := s.AppendEvent(ctx, tc.sess, tc.ev)
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, 0, h.Events().Len())
			assert.Equal(t, 0, get(t, s, "u", "s").Events().Len())
			assert.Equal(t, 0, otherHandle.Events().Len())
		})
	}

	requests := map[string]func() error{
		"Create": func() error { _, err := s.Create(ctx, nil); return err },
		"Get":    func() error { _, err := s.Get(ctx, nil); return err },
		"List":   func() error { _, err := s.List(ctx, nil); return err },
		"Delete": func() error { return s.Delete(ctx, nil) },
	}
	for name, call := range requests {
		t.Run(name+" with a nil request is refused", func(t *testing.T) {
			require.ErrorIs(t, call(), service.ErrInvalidArgument)
		})
	}

	// CONTRACT K1 G2 G1.
	t.Run("sessionlog's checks reach the ADK caller as errors.Is-able errors", func(t *testing.T) {
		_, err := s.Create(ctx, &session.CreateRequest{AppName: " ", UserID: "u"})
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		_, err = s.Get(ctx, &session.GetRequest{AppName: "app", UserID: "u", SessionID: "s", NumRecentEvents: -1})
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		_, err = s.Get(ctx, &session.GetRequest{AppName: "app", UserID: "u", SessionID: "missing"})
		require.ErrorIs(t, err, service.ErrNotFound)
	})
}

func cyclic() map[string]any {
	m := map[string]any{}
	m["self"] = m
	return m
}

// CONTRACT Z1: parallel agents read the handle while the runner appends.
func TestHandleIsSafeForConcurrentUse(t *testing.T) {
	ctx := context.Background()
	s := newService(t)
	h := create(t, s, "u", "s", nil)
	const n = 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = h.State().Get("k")
				for range h.State().All() {
				}
				for ev := range h.Events().All() {
					_ = ev.Actions.StateDelta["k"]
				}
				_ = h.Events().At(h.Events().Len() - 1)
				_ = h.LastUpdateTime()
				_ = h.(*adkgo.Session).Version()
				assert.NoError(t, h.State().Set("reader", true)) // a callback's write
			}
		})
	}
	for i := range n {
		require.NoError(t, s.AppendEvent(ctx, h, &session.Event{Actions: session.EventActions{StateDelta: map[string]any{"k": i}}}))
	}
	close(stop)
	wg.Wait()
	assert.Equal(t, n, h.Events().Len())
	assert.Equal(t, uint64(n), h.(*adkgo.Session).Version())
}

// CONTRACT S1 S3: Subscribe streams what the runner appends, from the
// handle's version on, as ADK events, and ends when its context does.
func TestSubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := newService(t)
	h := create(t, s, "u", "s", nil)
	require.NoError(t, s.AppendEvent(ctx, h, &session.Event{ID: "before"}))
	own := h.(*adkgo.Session)
	key, from := own.Key(), own.Version()

	got := make(chan string, 3)
	done := make(chan error, 1)
	go func() {
		for ev, err := range s.Subscribe(ctx, key, from) {
			if err != nil {
				done <- err
				return
			}
			got <- ev.ID
		}
		done <- nil
	}()
	for _, id := range []string{"e1", "e2", "e3"} {
		require.NoError(t, s.AppendEvent(ctx, h, &session.Event{ID: id}))
	}
	for _, want := range []string{"e1", "e2", "e3"} {
		select {
		case id := <-got:
			assert.Equal(t, want, id)
		case err := <-done:
			t.Fatalf("the subscription ended early: %v", err)
		case <-time.After(time.Minute):
			t.Fatal("no event from the subscription within a minute")
		}
	}
	cancel()
	require.NoError(t, <-done)

	t.Run("a missing session is the one and final error", func(t *testing.T) {
		var errs []error
		for ev, err := range s.Subscribe(t.Context(), service.SessionKey{AppName: "app", UserID: "u", SessionID: "missing"}, 0) {
			assert.Nil(t, ev)
			errs = append(errs, err)
		}
		require.Len(t, errs, 1)
		require.ErrorIs(t, errs[0], service.ErrNotFound)
	})

	// CONTRACT D2 S3.
	t.Run("deleting the session completes a live subscription without an error", func(t *testing.T) {
		h := create(t, s, "u", "doomed", nil)
		require.NoError(t, s.AppendEvent(t.Context(), h, &session.Event{ID: "first"}))
		live := make(chan struct{})
		ended := make(chan []error, 1)
		go func() {
			var errs []error
			for ev, err := range s.Subscribe(t.Context(), h.(*adkgo.Session).Key(), 0) {
				if err == nil && ev.ID == "first" {
					close(live) // the subscription follows the session now
				}
				errs = append(errs, err)
			}
			ended <- errs
		}()
		select {
		case <-live:
		case <-time.After(time.Minute):
			t.Fatal("no event from the subscription within a minute")
		}
		require.NoError(t, s.Delete(t.Context(), &session.DeleteRequest{AppName: "app", UserID: "u", SessionID: "doomed"}))
		select {
		case errs := <-ended:
			assert.Equal(t, []error{nil}, errs, "the one event, then the end, with no error")
		case <-time.After(time.Minute):
			t.Fatal("the subscription did not end within a minute of the delete")
		}
	})

	t.Run("a stored event ToADK cannot convert is the final error", func(t *testing.T) {
		bad := &service.Event{ID: "bad", Actions: service.EventActions{RequestedToolConfirmations: map[string]any{"c": "yes"}}}
		_, err := s.Sessionlog().AppendEvent(t.Context(), &service.Session{AppName: "app", UserID: "u", ID: "s", Version: own.Version()}, bad)
		require.NoError(t, err)
		var errs []error
		for ev, err := range s.Subscribe(t.Context(), key, own.Version()) {
			assert.Nil(t, ev)
			errs = append(errs, err)
		}
		require.Len(t, errs, 1)
		require.ErrorIs(t, errs[0], service.ErrInvalidArgument)
		assert.Contains(t, errs[0].Error(), `"bad"`)
	})
}

func TestZeroServiceWorks(t *testing.T) {
	var s adkgo.Service
	t.Cleanup(func() { _ = s.Sessionlog().Close() })
	resp, err := s.Create(t.Context(), &session.CreateRequest{AppName: "app", UserID: "u"})
	require.NoError(t, err)
	require.NoError(t, s.AppendEvent(t.Context(), resp.Session, &session.Event{Author: "user"}))
	got, err := s.Get(t.Context(), &session.GetRequest{AppName: "app", UserID: "u", SessionID: resp.Session.ID()})
	require.NoError(t, err)
	assert.Equal(t, 1, got.Session.Events().Len())
	assert.NotNil(t, s.Sessionlog())
	assert.True(t, errors.Is(s.AppendEvent(t.Context(), resp.Session, nil), service.ErrInvalidArgument))
}

// CONTRACT B1: a Session the service did not return (the zero value, or a
// nil pointer) answers as an empty session with no key, and refuses state
// writes with ErrInvalidArgument, rather than panicking when the ADK or a
// caller reads it.
func TestHandBuiltSessionDoesNotPanic(t *testing.T) {
	for name, sess := range map[string]*adkgo.Session{"the zero Session": {}, "a nil *Session": nil} {
		t.Run(name+" reads as empty and refuses state writes", func(t *testing.T) {
			require.NotPanics(t, func() {
				assert.Empty(t, sess.ID())
				assert.Empty(t, sess.AppName())
				assert.Empty(t, sess.UserID())
				assert.Equal(t, service.SessionKey{}, sess.Key())
				assert.Zero(t, sess.Version())
				assert.True(t, sess.LastUpdateTime().IsZero())
				assert.Zero(t, sess.Events().Len())
				assert.Nil(t, sess.Events().At(0))
				_, err := sess.State().Get("k")
				assert.Equal(t, session.ErrStateKeyNotExist, err)
				assert.Empty(t, maps.Collect(sess.State().All()))
				err = sess.State().Set("k", 1)
				require.ErrorIs(t, err, service.ErrInvalidArgument)
				assert.Contains(t, err.Error(), "not one a Service returned")
			})
		})
	}
}
