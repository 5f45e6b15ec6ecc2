package observable_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

// TestMain fails the package when any test leaves a goroutine behind: every
// Rx observation, Subscribe and stream must end its goroutines (CONTRACT S3).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// waitLimit only turns a hang into a failure; no assertion depends on it.
const waitLimit = 20 * time.Second

// errBoom is the error the outcome tests carry.
var errBoom = errors.New("boom")

// fixture is a reactive service over an in-memory service with a fixed
// clock and numbered IDs; ids counts the NewID calls, so a test can tell
// whether the service's work ran again.
type fixture struct {
	rx  *observable.SessionService
	ids *atomic.Int64
	t0  time.Time
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	ids := new(atomic.Int64)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var ticks atomic.Int64
	svc, err := service.New(context.Background(), service.Options{
		Now:   func() time.Time { return t0.Add(time.Duration(ticks.Add(1)) * time.Second) },
		NewID: func() string { return fmt.Sprint("id-", ids.Add(1)) },
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	return fixture{rx: observable.New(svc), ids: ids, t0: t0}
}

// create makes a session through the reactive API and fails the test on
// error.
func (f fixture) create(t testing.TB, key observable.SessionKey, state map[string]any) *observable.Session {
	t.Helper()
	sess, err := f.rx.CreateSession(context.Background(), key, state).BlockingGet(context.Background())
	require.NoError(t, err)
	require.NotNil(t, sess)
	return sess
}

// appendEv appends an event through the reactive API and fails the test on
// error.
func (f fixture) appendEv(t testing.TB, sess *observable.Session, ev *observable.Event) *observable.Event {
	t.Helper()
	got, err := f.rx.AppendEvent(context.Background(), sess, ev).BlockingGet(context.Background())
	require.NoError(t, err)
	return got
}

func (f fixture) get(t testing.TB, key observable.SessionKey, cfg *observable.GetSessionConfig) *observable.Session {
	t.Helper()
	sess, ok, err := f.rx.GetSession(context.Background(), key, cfg).BlockingGet(context.Background())
	require.NoError(t, err)
	require.True(t, ok, "session %s is missing", key)
	return sess
}

func delta(kv map[string]any) observable.EventActions {
	return observable.EventActions{StateDelta: kv}
}

func intPtr(n int) *int { return &n }

func timePtr(t time.Time) *time.Time { return &t }

func cancelledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// recv takes one value from ch, failing the test instead of hanging.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no value within %v", waitLimit)
		panic("unreachable")
	}
}

// waitClosed fails the test unless ch closes.
func waitClosed[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("not closed within %v", waitLimit)
	}
}

// drain reads an rxgo channel to its end, failing the test instead of
// hanging.
func drain(t *testing.T, ch <-chan rxgo.Item) []rxgo.Item {
	t.Helper()
	var items []rxgo.Item
	timeout := time.After(waitLimit)
	for {
		select {
		case it, ok := <-ch:
			if !ok {
				return items
			}
			items = append(items, it)
		case <-timeout:
			t.Fatalf("channel not closed within %v (got %d items)", waitLimit, len(items))
		}
	}
}

// noLeakSince fails the test when goroutines started after snapshot are
// still running (goleak retries for a while before it gives up).
func noLeakSince(t *testing.T, snapshot goleak.Option) {
	t.Helper()
	assert.NoError(t, goleak.Find(append(leaktest.Options(), snapshot)...),
		"goroutines left behind")
}

// counts counts callback calls.
type counts struct {
	success, errors, complete atomic.Int32
	lastErr                   atomic.Value
}

func (c *counts) onError(err error) { c.errors.Add(1); c.lastErr.Store(err) }
func (c *counts) onComplete()       { c.complete.Add(1) }

// inChild runs body in a child process of the test binary, so that a bug
// that crashes the process (a panic in a goroutine rxgo started) fails
// this test alone instead of the whole package.
func inChild(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	const env = "SESSIONLOG_OBSERVABLE_CHILD"
	if os.Getenv(env) == t.Name() {
		body(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "the check failed or crashed the process:\n%s", out)
}

// ---------------------------------------------------------------------------
// Single, Maybe, Completable

func TestSingle(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		single  observable.Single[int]
		want    int
		wantErr error
	}{
		{name: "a Single of a value gives the value", single: observable.SingleOf(7, nil), want: 7},
		{name: "a Single of an error gives the error and the zero value", single: observable.SingleOf(7, errBoom), wantErr: errBoom},
		{name: "the zero Single holds the zero value and no error", single: observable.Single[int]{}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// CONTRACT X2: BlockingGet mirrors blockingGet.
			got, err := tt.single.BlockingGet(ctx)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.want, got)

			// CONTRACT X2: every look at a Single sees the same outcome.
			again, errAgain := tt.single.BlockingGet(ctx)
			assert.Equal(t, got, again)
			assert.Equal(t, err, errAgain)
		})
		t.Run(tt.name+", and a cancelled ctx still gives the kept outcome at once", func(t *testing.T) {
			// CONTRACT X2: the work already ran; an outcome that is there
			// wins over a done ctx (see Single.BlockingGet).
			got, err := tt.single.BlockingGet(cancelledCtx())
			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr == nil {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.want, got)
		})
		t.Run(tt.name+", and Subscribe calls exactly the right callback once", func(t *testing.T) {
			// CONTRACT X2: Subscribe mirrors subscribe(onSuccess, onError).
			var c counts
			var value atomic.Int64
			tt.single.Subscribe(func(v int) { c.success.Add(1); value.Store(int64(v)) }, c.onError)
			if tt.wantErr != nil {
				assert.Equal(t, int32(0), c.success.Load())
				assert.Equal(t, int32(1), c.errors.Load())
				assert.ErrorIs(t, c.lastErr.Load().(error), tt.wantErr)
			} else {
				assert.Equal(t, int32(1), c.success.Load())
				assert.Equal(t, int32(0), c.errors.Load())
				assert.Equal(t, int64(tt.want), value.Load())
			}
		})
		t.Run(tt.name+", and Subscribe skips nil callbacks", func(t *testing.T) {
			// CONTRACT B1: no input panics.
			require.NotPanics(t, func() { tt.single.Subscribe(nil, nil) })
			require.NotPanics(t, func() { tt.single.Subscribe(func(int) {}, nil) })
			require.NotPanics(t, func() { tt.single.Subscribe(nil, func(error) {}) })
		})
	}
}

func TestMapAndFlatMap(t *testing.T) {
	ctx := context.Background()
	errFn := errors.New("fn failed")
	tests := []struct {
		name      string
		in        observable.Single[int]
		fnErr     error
		want      string
		wantErr   error
		wantCalls int32
	}{
		{name: "a value is mapped", in: observable.SingleOf(21, nil), want: "42", wantCalls: 1},
		{name: "an error passes through without calling fn", in: observable.SingleOf(21, errBoom), wantErr: errBoom},
		{name: "fn's error becomes the result's error", in: observable.SingleOf(21, nil), fnErr: errFn, wantErr: errFn, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run("Map: "+tt.name, func(t *testing.T) {
			// CONTRACT X2: Map mirrors RxJava's map; results are typed.
			var calls atomic.Int32
			out := observable.Map(tt.in, func(v int) (string, error) {
				calls.Add(1)
				if tt.fnErr != nil {
					return "ignored", tt.fnErr
				}
				return fmt.Sprint(v * 2), nil
			})
			got, err := out.BlockingGet(ctx)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.want, got)
			// The work ran once, when Map was called.
			_, _ = out.BlockingGet(ctx)
			assert.Equal(t, tt.wantCalls, calls.Load())
		})
		t.Run("FlatMap: "+tt.name, func(t *testing.T) {
			// CONTRACT X2: FlatMap mirrors RxJava's flatMap.
			var calls atomic.Int32
			out := observable.FlatMap(tt.in, func(v int) observable.Single[string] {
				calls.Add(1)
				return observable.SingleOf(fmt.Sprint(v*2), tt.fnErr)
			})
			got, err := out.BlockingGet(ctx)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.want, got)
			_, _ = out.BlockingGet(ctx)
			assert.Equal(t, tt.wantCalls, calls.Load())
		})
	}

	t.Run("Map and FlatMap chain over a service result", func(t *testing.T) {
		// CONTRACT X2: a pipeline of typed results over the service.
		f := newFixture(t)
		created := f.rx.CreateSession(ctx, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, map[string]any{"k": "v"})
		ev := observable.FlatMap(created, func(sess *observable.Session) observable.Single[*observable.Event] {
			return f.rx.AppendEvent(ctx, sess, &observable.Event{Author: "agent", Actions: delta(map[string]any{"n": 1})})
		})
		author, err := observable.Map(ev, func(e *observable.Event) (string, error) { return e.Author, nil }).BlockingGet(ctx)
		require.NoError(t, err)
		assert.Equal(t, "agent", author)
		assert.Equal(t, uint64(1), f.get(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil).Version)
	})
}

func TestMaybe(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		maybe   observable.Maybe[string]
		want    string
		wantOK  bool
		wantErr error
	}{
		{name: "a Maybe of a value gives the value", maybe: observable.MaybeOf("v", true, nil), want: "v", wantOK: true},
		{name: "a Maybe of nothing is empty even when given a value", maybe: observable.MaybeOf("ignored", false, nil)},
		{name: "a Maybe of an error gives the error", maybe: observable.MaybeOf("ignored", true, errBoom), wantErr: errBoom},
		{name: "the zero Maybe is empty", maybe: observable.Maybe[string]{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// CONTRACT X2: BlockingGet mirrors blockingGet (false for null).
			got, ok, err := tt.maybe.BlockingGet(ctx)
			require.ErrorIs(t, err, tt.wantErr)
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
		t.Run(tt.name+", and a cancelled ctx still gives the kept outcome at once", func(t *testing.T) {
			// CONTRACT X2: an outcome that is there wins over a done ctx
			// (see Maybe.BlockingGet).
			got, ok, err := tt.maybe.BlockingGet(cancelledCtx())
			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr == nil {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantOK, ok)
			assert.Equal(t, tt.want, got)
		})
		t.Run(tt.name+", and Subscribe calls exactly the right callback once", func(t *testing.T) {
			// CONTRACT X2: Subscribe mirrors subscribe(onSuccess, onError, onComplete).
			var c counts
			var value atomic.Value
			tt.maybe.Subscribe(func(v string) { c.success.Add(1); value.Store(v) }, c.onError, c.onComplete)
			var wantSuccess, wantErrors, wantComplete int32
			switch {
			case tt.wantErr != nil:
				wantErrors = 1
				assert.ErrorIs(t, c.lastErr.Load().(error), tt.wantErr)
			case tt.wantOK:
				wantSuccess = 1
				assert.Equal(t, tt.want, value.Load())
			default:
				wantComplete = 1
			}
			assert.Equal(t, wantSuccess, c.success.Load(), "onSuccess calls")
			assert.Equal(t, wantErrors, c.errors.Load(), "onError calls")
			assert.Equal(t, wantComplete, c.complete.Load(), "onComplete calls")
		})
		t.Run(tt.name+", and Subscribe skips nil callbacks", func(t *testing.T) {
			// CONTRACT B1: no input panics.
			require.NotPanics(t, func() { tt.maybe.Subscribe(nil, nil, nil) })
		})
	}
}

func TestCompletable(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		completable observable.Completable
		wantErr     error
	}{
		{name: "a Completable of nil succeeds", completable: observable.CompletableOf(nil)},
		{name: "a Completable of an error gives the error", completable: observable.CompletableOf(errBoom), wantErr: errBoom},
		{name: "the zero Completable succeeds", completable: observable.Completable{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// CONTRACT X2: BlockingAwait mirrors blockingAwait.
			require.ErrorIs(t, tt.completable.BlockingAwait(ctx), tt.wantErr)
			if tt.wantErr == nil {
				require.NoError(t, tt.completable.BlockingAwait(ctx))
			}
		})
		t.Run(tt.name+", and a cancelled ctx still gives the kept outcome at once", func(t *testing.T) {
			// CONTRACT X2: an outcome that is there wins over a done ctx
			// (see Completable.BlockingAwait).
			err := tt.completable.BlockingAwait(cancelledCtx())
			require.ErrorIs(t, err, tt.wantErr)
			if tt.wantErr == nil {
				require.NoError(t, err)
			}
		})
		t.Run(tt.name+", and Subscribe calls exactly the right callback once", func(t *testing.T) {
			// CONTRACT X2: Subscribe mirrors subscribe(onComplete, onError).
			var c counts
			tt.completable.Subscribe(c.onComplete, c.onError)
			if tt.wantErr != nil {
				assert.Equal(t, int32(0), c.complete.Load())
				assert.Equal(t, int32(1), c.errors.Load())
				assert.ErrorIs(t, c.lastErr.Load().(error), tt.wantErr)
			} else {
				assert.Equal(t, int32(1), c.complete.Load())
				assert.Equal(t, int32(0), c.errors.Load())
			}
		})
		t.Run(tt.name+", and Subscribe skips nil callbacks", func(t *testing.T) {
			// CONTRACT B1: no input panics.
			require.NotPanics(t, func() { tt.completable.Subscribe(nil, nil) })
		})
	}
}

// ---------------------------------------------------------------------------
// Rx interop

func TestSingleRx(t *testing.T) {
	t.Run("Get gives the value as one item", func(t *testing.T) {
		// CONTRACT X2: each type hands out its plain rxgo value.
		item, err := observable.SingleOf(42, nil).Rx().Get()
		require.NoError(t, err)
		assert.Equal(t, rxgo.Of(42), item)
	})

	t.Run("Get gives an item whose E is the error and leaves no goroutine behind", func(t *testing.T) {
		// CONTRACT X2/S3: errors travel as the Single's error, and the typed
		// API's plain rxgo value needs no care beyond reading its one item.
		snapshot := goleak.IgnoreCurrent()
		item, err := observable.SingleOf(0, errBoom).Rx().Get()
		require.NoError(t, err)
		assert.True(t, item.Error())
		assert.ErrorIs(t, item.E, errBoom)
		noLeakSince(t, snapshot)
	})

	t.Run("an error Single emits exactly one item, the error", func(t *testing.T) {
		// CONTRACT X2: Rx is "one item, the value or the error".
		items := drain(t, observable.SingleOf(0, errBoom).Rx().Observe())
		require.NotEmpty(t, items)
		assert.ErrorIs(t, items[0].E, errBoom)
		assert.Len(t, items, 1, "items: %v", items)
	})

	t.Run("a value Single emits exactly one item and completes", func(t *testing.T) {
		// CONTRACT X2: one item.
		items := drain(t, observable.SingleOf("v", nil).Rx().Observe())
		require.Len(t, items, 1)
		assert.Equal(t, "v", items[0].V)
	})

	t.Run("a Single of a slice is one item holding the whole slice", func(t *testing.T) {
		// CONTRACT X2: rxgo.Just would split a slice into items; Rx must not.
		s := observable.SingleOf([]string{"a", "b", "c"}, nil)
		item, err := s.Rx().Get()
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "c"}, item.V)

		items := drain(t, s.Rx().Observe())
		require.Len(t, items, 1)
		assert.Equal(t, []string{"a", "b", "c"}, items[0].V)
	})

	t.Run("a Single of an empty slice is one item too", func(t *testing.T) {
		// CONTRACT X2: one item, even when the value holds nothing.
		items := drain(t, observable.SingleOf([]string{}, nil).Rx().Observe())
		require.Len(t, items, 1)
		assert.Equal(t, []string{}, items[0].V)
	})

	t.Run("Rx called twice gives the same outcome twice", func(t *testing.T) {
		// CONTRACT X2: no re-run per subscription.
		s := observable.SingleOf(5, nil)
		for range 2 {
			item, err := s.Rx().Get()
			require.NoError(t, err)
			assert.Equal(t, 5, item.V)
		}
	})

	t.Run("one rxgo.Single observed twice gives the same outcome twice", func(t *testing.T) {
		// CONTRACT X2: "Each observation emits it anew". Run in a child
		// process: the bug this guards against panics in an rxgo goroutine.
		inChild(t, func(t *testing.T) {
			rx := observable.SingleOf(5, nil).Rx()
			first, err := rx.Get()
			require.NoError(t, err)
			second, err := rx.Get()
			require.NoError(t, err)
			assert.Equal(t, 5, first.V)
			assert.Equal(t, 5, second.V, "the second observation of the same rxgo.Single")
			assert.Len(t, drain(t, rx.Observe()), 1, "a third observation")
		})
	})
}

func TestMaybeRx(t *testing.T) {
	tests := []struct {
		name      string
		maybe     observable.Maybe[[]int]
		wantItems int
		wantV     any
		wantErr   error
	}{
		{name: "a value gives one item holding it, a slice unsplit", maybe: observable.MaybeOf([]int{1, 2}, true, nil), wantItems: 1, wantV: []int{1, 2}},
		{name: "an empty Maybe gives no item", maybe: observable.MaybeOf[[]int](nil, false, nil)},
		{name: "the zero Maybe gives no item", maybe: observable.Maybe[[]int]{}},
		{name: "an error gives one item whose E is the error", maybe: observable.MaybeOf[[]int](nil, false, errBoom), wantItems: 1, wantErr: errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// CONTRACT X2: Maybe hands out an rxgo.OptionalSingle.
			item, err := tt.maybe.Rx().Get()
			require.NoError(t, err)
			switch {
			case tt.wantErr != nil:
				assert.ErrorIs(t, item.E, tt.wantErr)
			case tt.wantItems == 0:
				assert.Equal(t, rxgo.OptionalSingleEmpty, item)
			default:
				assert.Equal(t, tt.wantV, item.V)
				assert.NoError(t, item.E)
			}
		})
		t.Run(tt.name+", and one rxgo value observed twice gives it twice", func(t *testing.T) {
			// CONTRACT X2: every observation sees the same outcome.
			rx := tt.maybe.Rx()
			for range 2 {
				items := drain(t, rx.Observe())
				require.Len(t, items, tt.wantItems)
				if tt.wantItems == 1 {
					if tt.wantErr != nil {
						assert.ErrorIs(t, items[0].E, tt.wantErr)
					} else {
						assert.Equal(t, tt.wantV, items[0].V)
					}
				}
			}
		})
	}
}

func TestCompletableRx(t *testing.T) {
	t.Run("a success completes with no items, every time it is observed", func(t *testing.T) {
		// CONTRACT X2: Completable hands out an rxgo.Observable with no items.
		rx := observable.CompletableOf(nil).Rx()
		for range 2 {
			assert.Empty(t, drain(t, rx.Observe()))
		}
		assert.Empty(t, drain(t, observable.Completable{}.Rx().Observe()))
	})
	t.Run("an error yields the error, every time it is observed", func(t *testing.T) {
		// CONTRACT X2: errors travel as the result's error.
		rx := observable.CompletableOf(errBoom).Rx()
		for range 2 {
			items := drain(t, rx.Observe())
			require.Len(t, items, 1)
			assert.ErrorIs(t, items[0].E, errBoom)
		}
		assert.ErrorIs(t, rx.Error(), errBoom)
	})
}

func TestRxDoesNotRerunTheWork(t *testing.T) {
	ctx := context.Background()
	key := observable.SessionKey{AppName: "a", UserID: "u"}

	t.Run("a created session is handed out again, never created again", func(t *testing.T) {
		// CONTRACT X2: the work runs once, when the method is called.
		f := newFixture(t)
		single := f.rx.CreateSession(ctx, key, nil)
		require.Equal(t, int64(1), f.ids.Load(), "CreateSession ran its work at the call")

		first, err := single.BlockingGet(ctx)
		require.NoError(t, err)
		for range 2 {
			item, err := single.Rx().Get()
			require.NoError(t, err)
			require.NoError(t, item.E)
			assert.Same(t, first, item.V)
		}
		single.Subscribe(func(s *observable.Session) { assert.Same(t, first, s) }, func(err error) { t.Error(err) })
		again, err := single.BlockingGet(ctx)
		require.NoError(t, err)
		assert.Same(t, first, again)

		assert.Equal(t, int64(1), f.ids.Load(), "no observation ran CreateSession again")
		resp, err := f.rx.ListSessions(ctx, "a", "u").BlockingGet(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"id-1"}, resp.SessionIDs())
	})

	t.Run("an appended event is handed out again, never appended again", func(t *testing.T) {
		// CONTRACT X2: the store's version does not move per observation.
		f := newFixture(t)
		sess := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil)
		single := f.rx.AppendEvent(ctx, sess, &observable.Event{Author: "agent"})
		for range 3 {
			item, err := single.Rx().Get()
			require.NoError(t, err)
			require.NoError(t, item.E)
			ev, err := single.BlockingGet(ctx)
			require.NoError(t, err)
			assert.Same(t, ev, item.V)
		}
		assert.Equal(t, uint64(1), sess.Version)
		assert.Equal(t, uint64(1), f.get(t, sess.Key(), nil).Version)
	})

	t.Run("a failed create is handed out again as the same error", func(t *testing.T) {
		// CONTRACT X2: every subscriber sees the same outcome.
		f := newFixture(t)
		k := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		f.create(t, k, nil)
		single := f.rx.CreateSession(ctx, k, map[string]any{"x": 1})
		for range 2 {
			// Read to the end: see TestSingleRx for what Get leaves behind.
			items := drain(t, single.Rx().Observe())
			require.NotEmpty(t, items)
			assert.ErrorIs(t, items[0].E, service.ErrAlreadyExists)
		}
		assert.NotContains(t, f.get(t, k, nil).State, "x")
	})

	t.Run("a Maybe and a Completable of the service observed twice agree", func(t *testing.T) {
		// CONTRACT X2: one outcome for every observation.
		f := newFixture(t)
		sess := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil)
		maybe := f.rx.GetSession(ctx, sess.Key(), nil)
		rx := maybe.Rx()
		first, err := rx.Get()
		require.NoError(t, err)
		second, err := rx.Get()
		require.NoError(t, err)
		assert.Same(t, first.V, second.V)

		deleted := f.rx.DeleteSession(ctx, sess.Key())
		drx := deleted.Rx()
		assert.Empty(t, drain(t, drx.Observe()))
		assert.Empty(t, drain(t, drx.Observe()))
		_, ok, err := f.rx.GetSession(ctx, sess.Key(), nil).BlockingGet(ctx)
		require.NoError(t, err)
		assert.False(t, ok)
		// The Maybe from before the delete still holds its outcome.
		got, ok, err := maybe.BlockingGet(ctx)
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Same(t, first.V, got)
	})
}

// ---------------------------------------------------------------------------
// SessionService (CONTRACT X1)

func TestSessionServiceMethodsHaveJavaResultKinds(t *testing.T) {
	// CONTRACT X1: the result kind of each BaseSessionService method.
	rx := newFixture(t).rx
	var (
		_ func(context.Context, observable.SessionKey, map[string]any) observable.Single[*observable.Session]                         = rx.CreateSession
		_ func(context.Context, observable.SessionKey, *observable.GetSessionConfig) observable.Maybe[*observable.Session]            = rx.GetSession
		_ func(context.Context, string, string) observable.Single[observable.ListSessionsResponse]                                    = rx.ListSessions
		_ func(context.Context, observable.SessionKey) observable.Completable                                                         = rx.DeleteSession
		_ func(context.Context, observable.SessionKey, observable.ListEventsOptions) observable.Single[observable.ListEventsResponse] = rx.ListEvents
		_ func(context.Context, *observable.Session, *observable.Event) observable.Single[*observable.Event]                          = rx.AppendEvent
		_ func(context.Context, *observable.Session) observable.Completable                                                           = rx.CloseSession
		_ func(observable.SessionKey, uint64) observable.Stream[*observable.Record]                                                   = rx.SessionEvents
		_ func(string, string, observable.Position) observable.Stream[*observable.Record]                                             = rx.UserEvents
		_ func(string, observable.Position) observable.Stream[*observable.Record]                                                     = rx.AppEvents
	)
	assert.NotNil(t, rx.Service())
}

func TestCreateSession(t *testing.T) {
	ctx := context.Background()

	t.Run("an empty session ID asks for a generated one", func(t *testing.T) {
		// CONTRACT K1: empty means generate.
		f := newFixture(t)
		sess := f.create(t, observable.SessionKey{AppName: "a", UserID: "u"}, nil)
		assert.Equal(t, "id-1", sess.ID)
		assert.Equal(t, "a", sess.AppName)
		assert.Equal(t, "u", sess.UserID)
		assert.Equal(t, f.t0.Add(time.Second), sess.LastUpdateTime)
	})

	t.Run("a random ID is generated without Options.NewID", func(t *testing.T) {
		// CONTRACT K1: a new random UUID.
		svc, err := service.New(ctx, service.Options{})
		require.NoError(t, err)
		defer svc.Close()
		sess, err := observable.New(svc).CreateSession(ctx, observable.SessionKey{AppName: "a", UserID: "u"}, nil).BlockingGet(ctx)
		require.NoError(t, err)
		assert.Len(t, sess.ID, 36)
	})

	t.Run("the new session has merged state, no events and version 0", func(t *testing.T) {
		// CONTRACT C2/C3.
		f := newFixture(t)
		sess := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: " s1 "},
			map[string]any{"k": "v", "app:a": 1, "user:u": 2, "temp:t": 3})
		assert.Equal(t, "s1", sess.ID, "a given ID is trimmed")
		assert.Equal(t, map[string]any{"k": "v", "app:a": 1, "user:u": 2}, sess.State)
		assert.Empty(t, sess.Events)
		assert.Zero(t, sess.Version)
	})

	t.Run("a duplicate create gives ErrAlreadyExists through the Single and changes nothing", func(t *testing.T) {
		// CONTRACT C1.
		f := newFixture(t)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		f.create(t, key, map[string]any{"k": "old"})
		single := f.rx.CreateSession(ctx, key, map[string]any{"k": "new"})
		got, err := single.BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrAlreadyExists)
		assert.Nil(t, got)
		var c counts
		single.Subscribe(func(*observable.Session) { c.success.Add(1) }, c.onError)
		assert.Equal(t, int32(0), c.success.Load())
		assert.Equal(t, int32(1), c.errors.Load())
		assert.Equal(t, "old", f.get(t, key, nil).State["k"])
	})
}

func TestGetSession(t *testing.T) {
	ctx := context.Background()

	t.Run("a missing session is an empty Maybe, not an error", func(t *testing.T) {
		// CONTRACT G1: empty Maybe in the reactive API.
		f := newFixture(t)
		maybe := f.rx.GetSession(ctx, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "nope"}, nil)
		got, ok, err := maybe.BlockingGet(ctx)
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Nil(t, got)
		var c counts
		maybe.Subscribe(func(*observable.Session) { c.success.Add(1) }, c.onError, c.onComplete)
		assert.Equal(t, [3]int32{0, 0, 1}, [3]int32{c.success.Load(), c.errors.Load(), c.complete.Load()})
		item, err := maybe.Rx().Get()
		require.NoError(t, err)
		assert.Equal(t, rxgo.OptionalSingleEmpty, item)
	})

	t.Run("another user's session is an empty Maybe", func(t *testing.T) {
		// CONTRACT K2.
		f := newFixture(t)
		f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil)
		_, ok, err := f.rx.GetSession(ctx, observable.SessionKey{AppName: "a", UserID: "other", SessionID: "s"}, nil).BlockingGet(ctx)
		require.NoError(t, err)
		assert.False(t, ok)
	})

	t.Run("a missing app name is an error, not an empty Maybe", func(t *testing.T) {
		// CONTRACT K1: required names.
		f := newFixture(t)
		_, ok, err := f.rx.GetSession(ctx, observable.SessionKey{UserID: "u", SessionID: "s"}, nil).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		assert.False(t, ok)
	})

	// Timestamps out of order on purpose (CONTRACT G2: "correct also when
	// timestamps are not monotonic"): seq 1..5 at minutes 1, 5, 2, 3, 4.
	f := newFixture(t)
	key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess := f.create(t, key, nil)
	minute := func(m int) time.Time { return f.t0.Add(time.Duration(m) * time.Minute) }
	for i, m := range []int{1, 5, 2, 3, 4} {
		f.appendEv(t, sess, &observable.Event{ID: fmt.Sprint("e", i+1), Author: "agent", Timestamp: minute(m)})
	}

	tests := []struct {
		name    string
		config  *observable.GetSessionConfig
		want    []string
		wantErr error
	}{
		{name: "a nil config returns every event", config: nil, want: []string{"e1", "e2", "e3", "e4", "e5"}},
		{name: "an empty config returns every event", config: &observable.GetSessionConfig{}, want: []string{"e1", "e2", "e3", "e4", "e5"}},
		{name: "NumRecentEvents keeps the last n", config: &observable.GetSessionConfig{NumRecentEvents: intPtr(2)}, want: []string{"e4", "e5"}},
		{name: "NumRecentEvents larger than the log keeps all", config: &observable.GetSessionConfig{NumRecentEvents: intPtr(50)}, want: []string{"e1", "e2", "e3", "e4", "e5"}},
		{name: "AfterTimestamp keeps events at or after it", config: &observable.GetSessionConfig{AfterTimestamp: timePtr(minute(3))}, want: []string{"e2", "e4", "e5"}},
		{name: "both apply NumRecentEvents first, then AfterTimestamp", config: &observable.GetSessionConfig{NumRecentEvents: intPtr(3), AfterTimestamp: timePtr(minute(3))}, want: []string{"e4", "e5"}},
		{name: "both can leave nothing when the recent events are older", config: &observable.GetSessionConfig{NumRecentEvents: intPtr(2), AfterTimestamp: timePtr(minute(5))}, want: []string{}},
		{name: "a negative NumRecentEvents is ErrInvalidArgument through the Maybe", config: &observable.GetSessionConfig{NumRecentEvents: intPtr(-1)}, wantErr: service.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// CONTRACT G2.
			maybe := f.rx.GetSession(ctx, key, tt.config)
			got, ok, err := maybe.BlockingGet(ctx)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.False(t, ok)
				var c counts
				maybe.Subscribe(func(*observable.Session) { c.success.Add(1) }, c.onError, c.onComplete)
				assert.Equal(t, [3]int32{0, 1, 0}, [3]int32{c.success.Load(), c.errors.Load(), c.complete.Load()})
				return
			}
			require.NoError(t, err)
			require.True(t, ok)
			ids := []string{}
			for _, ev := range got.Events {
				ids = append(ids, ev.ID)
			}
			assert.Equal(t, tt.want, ids)
			assert.Equal(t, uint64(5), got.Version)
		})
	}
}

func TestListSessions(t *testing.T) {
	ctx := context.Background()

	t.Run("a user with no sessions gets a non-nil empty list", func(t *testing.T) {
		// CONTRACT L1.
		f := newFixture(t)
		f.create(t, observable.SessionKey{AppName: "a", UserID: "someone-else", SessionID: "s"}, nil)
		resp, err := f.rx.ListSessions(ctx, "a", "u").BlockingGet(ctx)
		require.NoError(t, err)
		require.NotNil(t, resp.Sessions)
		assert.Empty(t, resp.Sessions)
		assert.Equal(t, []string{}, resp.SessionIDs())
		b, err := json.Marshal(resp)
		require.NoError(t, err)
		assert.JSONEq(t, `{"sessions":[]}`, string(b))
	})

	t.Run("sessions come in the documented order with merged state and no events", func(t *testing.T) {
		// CONTRACT L1/L2/G3.
		f := newFixture(t)
		for _, k := range []observable.SessionKey{
			{AppName: "a", UserID: "u2", SessionID: "s1"},
			{AppName: "a", UserID: "u1", SessionID: "s2"},
			{AppName: "a", UserID: "u1", SessionID: "s10"},
			{AppName: "a", UserID: "u1", SessionID: "s1"},
			{AppName: "other", UserID: "u1", SessionID: "s0"},
		} {
			sess := f.create(t, k, map[string]any{"own": k.SessionID})
			f.appendEv(t, sess, &observable.Event{Author: "agent", Actions: delta(map[string]any{"seen": true})})
		}
		writer := f.get(t, observable.SessionKey{AppName: "a", UserID: "u1", SessionID: "s1"}, nil)
		f.appendEv(t, writer, &observable.Event{Author: "agent", Actions: delta(map[string]any{"app:theme": "dark", "user:lang": "en"})})

		resp, err := f.rx.ListSessions(ctx, "a", "u1").BlockingGet(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"s1", "s10", "s2"}, resp.SessionIDs(), "byte order of session IDs")
		for _, sess := range resp.Sessions {
			assert.Empty(t, sess.Events, "session %s", sess.ID)
			assert.Equal(t, "u1", sess.UserID)
			assert.Equal(t, map[string]any{"own": sess.ID, "seen": true, "app:theme": "dark", "user:lang": "en"}, sess.State, "session %s", sess.ID)
		}

		all, err := f.rx.ListSessions(ctx, "a", "").BlockingGet(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"s1", "s10", "s2", "s1"}, all.SessionIDs(), "every user of the app, by user then session")
		assert.Equal(t, "u2", all.Sessions[3].UserID)
		assert.Equal(t, map[string]any{"own": "s1", "seen": true, "app:theme": "dark"}, all.Sessions[3].State, "u2 sees app: state, not u1's user: state")
	})

	t.Run("more than MaxPageSize sessions all come back", func(t *testing.T) {
		// CONTRACT L2: ListSessions walks every page.
		f := newFixture(t)
		n := service.MaxPageSize + 7
		want := make(map[string]bool, n)
		for i := range n {
			id := fmt.Sprintf("s%05d", i)
			want[id] = true
			f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: id}, nil)
		}
		resp, err := f.rx.ListSessions(ctx, "a", "u").BlockingGet(ctx)
		require.NoError(t, err)
		ids := resp.SessionIDs()
		require.Len(t, ids, n)
		for i, id := range ids {
			assert.Equal(t, fmt.Sprintf("s%05d", i), id)
		}
	})

	t.Run("a missing app name is ErrInvalidArgument through the Single", func(t *testing.T) {
		// CONTRACT L1: app name is required.
		f := newFixture(t)
		_, err := f.rx.ListSessions(ctx, " ", "u").BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrInvalidArgument)
	})
}

func TestDeleteSession(t *testing.T) {
	ctx := context.Background()

	t.Run("deleting a session completes and the session is gone", func(t *testing.T) {
		// CONTRACT D2.
		f := newFixture(t)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess := f.create(t, key, nil)
		f.appendEv(t, sess, &observable.Event{Author: "agent", Actions: delta(map[string]any{"user:kept": 1})})
		done := f.rx.DeleteSession(ctx, key)
		require.NoError(t, done.BlockingAwait(ctx))
		var c counts
		done.Subscribe(c.onComplete, c.onError)
		assert.Equal(t, [2]int32{1, 0}, [2]int32{c.complete.Load(), c.errors.Load()})

		_, ok, err := f.rx.GetSession(ctx, key, nil).BlockingGet(ctx)
		require.NoError(t, err)
		assert.False(t, ok)
		_, err = f.rx.AppendEvent(ctx, sess, &observable.Event{Author: "agent"}).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrNotFound)
		again := f.create(t, key, nil)
		assert.Empty(t, again.Events)
		assert.Equal(t, map[string]any{"user:kept": 1}, again.State, "user state outlives the session")
	})

	t.Run("deleting a missing session completes too", func(t *testing.T) {
		// CONTRACT D1.
		f := newFixture(t)
		require.NoError(t, f.rx.DeleteSession(ctx, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "nope"}).BlockingAwait(ctx))
	})

	t.Run("naming the wrong user deletes nothing", func(t *testing.T) {
		// CONTRACT D1/K2.
		f := newFixture(t)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		f.create(t, key, nil)
		require.NoError(t, f.rx.DeleteSession(ctx, observable.SessionKey{AppName: "a", UserID: "v", SessionID: "s"}).BlockingAwait(ctx))
		f.get(t, key, nil)
	})
}

func TestListEvents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess := f.create(t, key, nil)
	for i := range 5 {
		f.appendEv(t, sess, &observable.Event{ID: fmt.Sprint("e", i+1), Author: "agent"})
	}

	t.Run("pages walk every event in order and the last page has no token", func(t *testing.T) {
		// CONTRACT E1.
		var ids []string
		var pages int
		opts := observable.ListEventsOptions{PageSize: 2}
		for {
			resp, err := f.rx.ListEvents(ctx, key, opts).BlockingGet(ctx)
			require.NoError(t, err)
			pages++
			for _, ev := range resp.Events {
				ids = append(ids, ev.ID)
			}
			if resp.NextPageToken == "" {
				break
			}
			require.Less(t, pages, 10, "the listing does not end")
			opts.PageToken = resp.NextPageToken
		}
		assert.Equal(t, []string{"e1", "e2", "e3", "e4", "e5"}, ids)
		assert.Equal(t, 3, pages)
	})

	t.Run("the zero options give the first page of every event here", func(t *testing.T) {
		// CONTRACT E1: default page size.
		resp, err := f.rx.ListEvents(ctx, key, observable.ListEventsOptions{}).BlockingGet(ctx)
		require.NoError(t, err)
		assert.Len(t, resp.Events, 5)
		assert.Empty(t, resp.NextPageToken)
	})

	t.Run("without paging options every event comes, also when rewound events are skipped", func(t *testing.T) {
		// CONTRACT E1: as Java's listEvents, whatever the session's length.
		long := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "long"}
		ls := f.create(t, long, nil)
		for i := range service.DefaultPageSize + 20 {
			f.appendEv(t, ls, &observable.Event{ID: fmt.Sprint("l", i+1), Author: "agent"})
		}
		for _, opts := range []observable.ListEventsOptions{{}, {SkipRewound: true}} {
			resp, err := f.rx.ListEvents(ctx, long, opts).BlockingGet(ctx)
			require.NoError(t, err)
			assert.Len(t, resp.Events, service.DefaultPageSize+20, "%+v", opts)
			assert.Empty(t, resp.NextPageToken, "%+v", opts)
		}
	})

	t.Run("a missing session gives ErrNotFound through the Single", func(t *testing.T) {
		// CONTRACT E1.
		single := f.rx.ListEvents(ctx, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "nope"}, observable.ListEventsOptions{})
		_, err := single.BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrNotFound)
		var c counts
		single.Subscribe(func(observable.ListEventsResponse) { c.success.Add(1) }, c.onError)
		assert.Equal(t, [2]int32{0, 1}, [2]int32{c.success.Load(), c.errors.Load()})
	})

	t.Run("a bad page token gives ErrInvalidArgument through the Single", func(t *testing.T) {
		// CONTRACT E1.
		_, err := f.rx.ListEvents(ctx, key, observable.ListEventsOptions{PageToken: "garbage"}).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrInvalidArgument)
	})
}

func TestAppendEvent(t *testing.T) {
	ctx := context.Background()

	t.Run("state deltas reach session, app and user scopes and Removed deletes in each", func(t *testing.T) {
		// CONTRACT A4/A5/G3.
		f := newFixture(t)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess := f.create(t, key, map[string]any{"k": 1, "keep": 1, "app:a": 1, "user:u": 1})
		sibling := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "sibling"}
		f.create(t, sibling, nil)
		stranger := observable.SessionKey{AppName: "a", UserID: "v", SessionID: "stranger"}
		f.create(t, stranger, nil)

		ev := f.appendEv(t, sess, &observable.Event{Author: "agent", Actions: delta(map[string]any{
			"k2": 2, "app:a2": 2, "user:u2": 2,
		})})
		assert.Equal(t, uint64(1), sess.Version)
		assert.Equal(t, ev.Timestamp, sess.LastUpdateTime)
		require.Len(t, sess.Events, 1)
		assert.Same(t, ev, sess.Events[0])
		assert.Equal(t, map[string]any{"k": 1, "keep": 1, "k2": 2, "app:a": 1, "app:a2": 2, "user:u": 1, "user:u2": 2}, sess.State)
		assert.Equal(t, map[string]any{"app:a": 1, "app:a2": 2, "user:u": 1, "user:u2": 2}, f.get(t, sibling, nil).State)
		assert.Equal(t, map[string]any{"app:a": 1, "app:a2": 2}, f.get(t, stranger, nil).State)

		f.appendEv(t, sess, &observable.Event{Author: "agent", Actions: delta(map[string]any{
			"k": observable.Removed, "app:a": observable.Removed, "user:u": observable.Removed,
		})})
		want := map[string]any{"keep": 1, "k2": 2, "app:a2": 2, "user:u2": 2}
		assert.Equal(t, want, sess.State, "the handle")
		assert.Equal(t, want, f.get(t, key, nil).State, "a new read")
		assert.Equal(t, map[string]any{"app:a2": 2, "user:u2": 2}, f.get(t, sibling, nil).State)
		assert.Equal(t, map[string]any{"app:a2": 2}, f.get(t, stranger, nil).State)
	})

	t.Run("a partial event comes back as the same pointer and stores nothing", func(t *testing.T) {
		// CONTRACT A2 (and X2: the outcome handed out is the call's).
		f := newFixture(t)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess := f.create(t, key, map[string]any{"k": 1})
		before := *sess
		beforeState := map[string]any{"k": 1}
		partial := &observable.Event{ID: "p", Author: "agent", Partial: true, Actions: delta(map[string]any{"k": 2, "app:x": 1})}
		got, err := f.rx.AppendEvent(ctx, sess, partial).BlockingGet(ctx)
		require.NoError(t, err)
		assert.Same(t, partial, got)
		assert.Equal(t, beforeState, sess.State)
		assert.Empty(t, sess.Events)
		assert.Equal(t, before.Version, sess.Version)
		assert.Equal(t, before.LastUpdateTime, sess.LastUpdateTime)
		stored := f.get(t, key, nil)
		assert.Empty(t, stored.Events)
		assert.Equal(t, beforeState, stored.State)
		assert.Equal(t, before.LastUpdateTime, stored.LastUpdateTime)
		page, err := f.rx.ListEvents(ctx, key, observable.ListEventsOptions{}).BlockingGet(ctx)
		require.NoError(t, err)
		assert.Empty(t, page.Events)
	})

	t.Run("a fractional-second timestamp survives GetSession and JSON", func(t *testing.T) {
		// CONTRACT A3 with nanosecond timestamps (README: differences from Java).
		f := newFixture(t)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess := f.create(t, key, nil)
		ts := time.Unix(1700000000, 123456789)
		f.appendEv(t, sess, &observable.Event{ID: "e", Author: "agent", Timestamp: ts})
		got := f.get(t, key, nil)
		require.Len(t, got.Events, 1)
		assert.True(t, ts.Equal(got.Events[0].Timestamp), "got %v", got.Events[0].Timestamp)
		assert.True(t, ts.Equal(got.LastUpdateTime))

		b, err := json.Marshal(got.Events[0])
		require.NoError(t, err)
		assert.Contains(t, string(b), `"2023-11-14T22:13:20.123456789Z"`)
		var back observable.Event
		require.NoError(t, json.Unmarshal(b, &back))
		assert.True(t, ts.Equal(back.Timestamp), "got %v", back.Timestamp)
	})

	t.Run("sequential agents pass temp: state on through the handle and it is never stored", func(t *testing.T) {
		// CONTRACT A4: temp: keys live in the caller's handle for the invocation.
		f := newFixture(t)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess := f.create(t, key, nil)

		first := f.appendEv(t, sess, &observable.Event{InvocationID: "inv", Author: "planner", Actions: delta(map[string]any{
			"temp:x": "plan", "done:planner": true,
		})})
		assert.NotContains(t, first.Actions.StateDelta, "temp:x", "the stored event")

		// The second agent of the same invocation reads the handle.
		require.Equal(t, "plan", sess.State["temp:x"])
		f.appendEv(t, sess, &observable.Event{InvocationID: "inv", Author: "writer", Actions: delta(map[string]any{
			"draft": "from " + sess.State["temp:x"].(string),
		})})
		assert.Equal(t, "plan", sess.State["temp:x"], "still there for the rest of the invocation")

		stored := f.get(t, key, nil)
		assert.Equal(t, map[string]any{"done:planner": true, "draft": "from plan"}, stored.State)
		page, err := f.rx.ListEvents(ctx, key, observable.ListEventsOptions{}).BlockingGet(ctx)
		require.NoError(t, err)
		require.Len(t, page.Events, 2)
		for _, events := range [][]*observable.Event{stored.Events, page.Events} {
			for _, ev := range events {
				for k := range ev.Actions.StateDelta {
					assert.False(t, strings.HasPrefix(k, "temp:"), "stored key %q", k)
				}
			}
		}
	})

	t.Run("an unknown session gives ErrNotFound and a stale handle ErrStaleSession", func(t *testing.T) {
		// CONTRACT A1/A6.
		f := newFixture(t)
		_, err := f.rx.AppendEvent(ctx, &observable.Session{AppName: "a", UserID: "u", ID: "nope"}, &observable.Event{}).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrNotFound)

		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		f.create(t, key, nil)
		h1, h2 := f.get(t, key, nil), f.get(t, key, nil)
		f.appendEv(t, h1, &observable.Event{Author: "one"})
		_, err = f.rx.AppendEvent(ctx, h2, &observable.Event{Author: "two"}).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrStaleSession)
		assert.Equal(t, uint64(1), f.get(t, key, nil).Version)
	})

	t.Run("a retried event ID stores nothing new and returns the stored event", func(t *testing.T) {
		// CONTRACT A7.
		f := newFixture(t)
		sess := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil)
		first := f.appendEv(t, sess, &observable.Event{ID: "once", Author: "agent"})
		again := f.appendEv(t, sess, &observable.Event{ID: "once", Author: "agent"})
		assert.Same(t, first, again)
		assert.Equal(t, uint64(1), sess.Version)
	})
}

func TestCloseSession(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sess := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil)

	t.Run("closing a session completes and leaves it in place", func(t *testing.T) {
		// CONTRACT X1: closeSession -> Completable.
		done := f.rx.CloseSession(ctx, sess)
		require.NoError(t, done.BlockingAwait(ctx))
		var c counts
		done.Subscribe(c.onComplete, c.onError)
		assert.Equal(t, [2]int32{1, 0}, [2]int32{c.complete.Load(), c.errors.Load()})
		f.get(t, sess.Key(), nil)
	})

	t.Run("closing a nil session is ErrInvalidArgument", func(t *testing.T) {
		// CONTRACT B1.
		require.ErrorIs(t, f.rx.CloseSession(ctx, nil).BlockingAwait(ctx), service.ErrInvalidArgument)
	})
}

func TestCallWithCancelledCtx(t *testing.T) {
	// A call's own ctx bounds its work (package doc): a call made with a
	// done ctx gives ctx's error through its result, at once, and changes
	// nothing; the result then keeps that outcome.
	ctx := context.Background()
	f := newFixture(t)
	key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess := f.create(t, key, map[string]any{"k": 1})
	f.appendEv(t, sess, &observable.Event{ID: "e1", Author: "agent"})
	done := cancelledCtx()

	tests := []serviceCall{
		{"CreateSession", func(_ context.Context, rx *observable.SessionService) error {
			_, err := rx.CreateSession(done, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "new"}, nil).BlockingGet(ctx)
			return err
		}},
		{"GetSession", func(_ context.Context, rx *observable.SessionService) error {
			_, ok, err := rx.GetSession(done, key, nil).BlockingGet(ctx)
			assert.False(t, ok)
			return err
		}},
		{"ListSessions", func(_ context.Context, rx *observable.SessionService) error {
			_, err := rx.ListSessions(done, "a", "u").BlockingGet(ctx)
			return err
		}},
		{"DeleteSession", func(_ context.Context, rx *observable.SessionService) error {
			return rx.DeleteSession(done, key).BlockingAwait(ctx)
		}},
		{"ListEvents", func(_ context.Context, rx *observable.SessionService) error {
			_, err := rx.ListEvents(done, key, observable.ListEventsOptions{}).BlockingGet(ctx)
			return err
		}},
		{"AppendEvent", func(_ context.Context, rx *observable.SessionService) error {
			_, err := rx.AppendEvent(done, sess, &observable.Event{Author: "agent", Actions: delta(map[string]any{"k": 2})}).BlockingGet(ctx)
			return err
		}},
		{"CloseSession", func(_ context.Context, rx *observable.SessionService) error {
			return rx.CloseSession(done, sess).BlockingAwait(ctx)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" with a cancelled ctx gives ctx's error through its result", func(t *testing.T) {
			// CONTRACT X2: errors travel as the result's error.
			var err error
			require.NotPanics(t, func() { err = tt.call(ctx, f.rx) })
			require.ErrorIs(t, err, context.Canceled)
		})
	}
	t.Run("nothing changed", func(t *testing.T) {
		// CONTRACT A1/D1: a failed call stores nothing.
		got := f.get(t, key, nil)
		assert.Equal(t, uint64(1), got.Version)
		assert.Equal(t, map[string]any{"k": 1}, got.State)
		assert.Equal(t, uint64(1), sess.Version, "the handle")
		resp, err := f.rx.ListSessions(ctx, "a", "u").BlockingGet(ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{"s"}, resp.SessionIDs())
	})
}

func TestGetSessionConfigBuilders(t *testing.T) {
	// CONTRACT X1: Java's GetSessionConfig builder, as copies.
	ts := time.Unix(1700000000, 0)
	base := observable.GetSessionConfig{}
	cfg := base.WithNumRecentEvents(2).WithAfterTimestamp(ts)
	require.NotNil(t, cfg.NumRecentEvents)
	require.NotNil(t, cfg.AfterTimestamp)
	assert.Equal(t, 2, *cfg.NumRecentEvents)
	assert.True(t, ts.Equal(*cfg.AfterTimestamp))
	assert.Nil(t, base.NumRecentEvents, "the original is unchanged")
	assert.Nil(t, base.AfterTimestamp, "the original is unchanged")

	other := cfg.WithNumRecentEvents(5)
	assert.Equal(t, 2, *cfg.NumRecentEvents, "a copy has a count of its own")
	assert.Equal(t, 5, *other.NumRecentEvents)
}

// serviceCall is one SessionService method, called and awaited, giving its
// error.
type serviceCall struct {
	name string
	call func(ctx context.Context, rx *observable.SessionService) error
}

// everyMethod calls every SessionService method with key, session and
// event.
func everyMethod(key observable.SessionKey, sess *observable.Session, ev *observable.Event) []serviceCall {
	return []serviceCall{
		{"CreateSession", func(ctx context.Context, rx *observable.SessionService) error {
			_, err := rx.CreateSession(ctx, key, map[string]any{"k": 1}).BlockingGet(ctx)
			return err
		}},
		{"GetSession", func(ctx context.Context, rx *observable.SessionService) error {
			_, _, err := rx.GetSession(ctx, key, &observable.GetSessionConfig{NumRecentEvents: intPtr(1)}).BlockingGet(ctx)
			return err
		}},
		{"ListSessions", func(ctx context.Context, rx *observable.SessionService) error {
			_, err := rx.ListSessions(ctx, key.AppName, key.UserID).BlockingGet(ctx)
			return err
		}},
		{"DeleteSession", func(ctx context.Context, rx *observable.SessionService) error {
			return rx.DeleteSession(ctx, key).BlockingAwait(ctx)
		}},
		{"ListEvents", func(ctx context.Context, rx *observable.SessionService) error {
			_, err := rx.ListEvents(ctx, key, observable.ListEventsOptions{}).BlockingGet(ctx)
			return err
		}},
		{"AppendEvent", func(ctx context.Context, rx *observable.SessionService) error {
			_, err := rx.AppendEvent(ctx, sess, ev).BlockingGet(ctx)
			return err
		}},
		{"CloseSession", func(ctx context.Context, rx *observable.SessionService) error {
			return rx.CloseSession(ctx, sess).BlockingAwait(ctx)
		}},
		{"SessionEvents", func(ctx context.Context, rx *observable.SessionService) error {
			return rx.SessionEvents(key, 0).BlockingForEach(ctx, func(*observable.Record) error { return nil })
		}},
		{"UserEvents", func(ctx context.Context, rx *observable.SessionService) error {
			return rx.UserEvents(key.AppName, key.UserID, 0).BlockingForEach(ctx, func(*observable.Record) error { return nil })
		}},
		{"AppEvents", func(ctx context.Context, rx *observable.SessionService) error {
			return rx.AppEvents(key.AppName, 0).BlockingForEach(ctx, func(*observable.Record) error { return nil })
		}},
	}
}

func TestSessionServiceWithoutServiceNeverPanics(t *testing.T) {
	key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess := &observable.Session{AppName: "a", UserID: "u", ID: "s"}
	receivers := []struct {
		name string
		rx   *observable.SessionService
	}{
		{"a zero-value SessionService", &observable.SessionService{}},
		{"a nil *SessionService", nil},
	}
	for _, r := range receivers {
		for _, m := range everyMethod(key, sess, &observable.Event{Author: "agent"}) {
			t.Run(r.name+" gives ErrInvalidArgument from "+m.name, func(t *testing.T) {
				// CONTRACT B1: an error through the result, never a panic.
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				var err error
				require.NotPanics(t, func() { err = m.call(ctx, r.rx) })
				require.ErrorIs(t, err, service.ErrInvalidArgument)
				assert.NotErrorIs(t, err, context.DeadlineExceeded)
			})
		}
		t.Run(r.name+" streams an error to Subscribe and Rx", func(t *testing.T) {
			// CONTRACT B1.
			var c counts
			var d *observable.Disposable
			require.NotPanics(t, func() {
				d = r.rx.SessionEvents(key, 0).Subscribe(context.Background(), func(*observable.Record) { c.success.Add(1) }, c.onError, c.onComplete)
			})
			waitClosed(t, d.Done())
			assert.Equal(t, [3]int32{0, 1, 0}, [3]int32{c.success.Load(), c.errors.Load(), c.complete.Load()})
			assert.ErrorIs(t, c.lastErr.Load().(error), service.ErrInvalidArgument)

			items := drain(t, r.rx.AppEvents("a", 0).Rx().Observe())
			require.Len(t, items, 1)
			assert.ErrorIs(t, items[0].E, service.ErrInvalidArgument)
		})
		t.Run(r.name+" has no Service and does not panic asking", func(t *testing.T) {
			// CONTRACT B1: no input makes the service panic.
			var svc *service.Service
			require.NotPanics(t, func() { svc = r.rx.Service() })
			assert.Nil(t, svc)
		})
	}
}

func TestBadInputIsAnErrorNeverAPanic(t *testing.T) {
	f := newFixture(t)
	good := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	goodSess := f.create(t, good, nil)
	noApp := observable.SessionKey{AppName: " \t", UserID: "u", SessionID: "s"}
	noUser := observable.SessionKey{AppName: "a", SessionID: "s"}
	ev := &observable.Event{Author: "agent"}

	var tests []serviceCall
	for _, bad := range []struct {
		what string
		key  observable.SessionKey
		skip map[string]bool
	}{
		{"a whitespace-only app name", noApp, map[string]bool{"CloseSession": true}},
		{"an empty app name", observable.SessionKey{UserID: "u", SessionID: "s"}, map[string]bool{"CloseSession": true}},
		// An empty user ID lists, and follows, every user of the app.
		{"an empty user ID", noUser, map[string]bool{"CloseSession": true, "ListSessions": true, "AppEvents": true}},
	} {
		sess := &observable.Session{AppName: bad.key.AppName, UserID: bad.key.UserID, ID: bad.key.SessionID}
		for _, m := range everyMethod(bad.key, sess, ev) {
			if !bad.skip[m.name] {
				tests = append(tests, serviceCall{m.name + " with " + bad.what, m.call})
			}
		}
	}
	tests = append(tests,
		serviceCall{"AppendEvent with a nil session", func(ctx context.Context, rx *observable.SessionService) error {
			_, err := rx.AppendEvent(ctx, nil, ev).BlockingGet(ctx)
			return err
		}},
		serviceCall{"AppendEvent with a nil event", func(ctx context.Context, rx *observable.SessionService) error {
			_, err := rx.AppendEvent(ctx, goodSess, nil).BlockingGet(ctx)
			return err
		}},
		serviceCall{"AppendEvent with a nil session and a nil event", func(ctx context.Context, rx *observable.SessionService) error {
			_, err := rx.AppendEvent(ctx, nil, nil).BlockingGet(ctx)
			return err
		}},
		serviceCall{"CloseSession with a nil session", func(ctx context.Context, rx *observable.SessionService) error {
			return rx.CloseSession(ctx, nil).BlockingAwait(ctx)
		}},
		serviceCall{"GetSession with a negative NumRecentEvents", func(ctx context.Context, rx *observable.SessionService) error {
			_, _, err := rx.GetSession(ctx, good, &observable.GetSessionConfig{NumRecentEvents: intPtr(-5)}).BlockingGet(ctx)
			return err
		}},
		serviceCall{"ListEvents with a negative page size", func(ctx context.Context, rx *observable.SessionService) error {
			_, err := rx.ListEvents(ctx, good, observable.ListEventsOptions{PageSize: -1}).BlockingGet(ctx)
			return err
		}},
	)
	for _, tt := range tests {
		t.Run(tt.name+" is ErrInvalidArgument through the result", func(t *testing.T) {
			// CONTRACT B1/K1/A1: a sentinel error through the result's error, never a panic.
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			var err error
			require.NotPanics(t, func() { err = tt.call(ctx, f.rx) })
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			assert.NotErrorIs(t, err, context.DeadlineExceeded)
		})
	}

	t.Run("nothing was stored by the bad calls", func(t *testing.T) {
		// CONTRACT K1/A1: a rejection changes nothing.
		got := f.get(t, good, nil)
		assert.Empty(t, got.Events)
		assert.Empty(t, got.State)
		all, err := f.rx.ListSessions(context.Background(), "a", "").BlockingGet(context.Background())
		require.NoError(t, err)
		assert.Equal(t, []string{"s"}, all.SessionIDs())
	})
}

// ---------------------------------------------------------------------------
// JSON shapes

func TestJSON(t *testing.T) {
	t.Run("a SessionKey round-trips as Java's SessionKey", func(t *testing.T) {
		// CONTRACT X1: SessionKey's JSON is {"appName","userId","id"}.
		const raw = `{"appName":"a","userId":"u","id":"s"}`
		var key observable.SessionKey
		require.NoError(t, json.Unmarshal([]byte(raw), &key))
		assert.Equal(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, key)
		b, err := json.Marshal(key)
		require.NoError(t, err)
		assert.JSONEq(t, raw, string(b))
	})

	t.Run("a GetSessionConfig uses numRecentEvents and afterTimestamp", func(t *testing.T) {
		// CONTRACT X1: Java's GetSessionConfig field names.
		ts := time.Unix(1700000000, 123456789).UTC()
		cfg := observable.GetSessionConfig{NumRecentEvents: intPtr(3), AfterTimestamp: &ts}
		b, err := json.Marshal(cfg)
		require.NoError(t, err)
		assert.JSONEq(t, `{"numRecentEvents":3,"afterTimestamp":"2023-11-14T22:13:20.123456789Z"}`, string(b))
		var back observable.GetSessionConfig
		require.NoError(t, json.Unmarshal(b, &back))
		require.NotNil(t, back.NumRecentEvents)
		require.NotNil(t, back.AfterTimestamp)
		assert.Equal(t, 3, *back.NumRecentEvents)
		assert.True(t, ts.Equal(*back.AfterTimestamp))

		b, err = json.Marshal(observable.GetSessionConfig{})
		require.NoError(t, err)
		assert.JSONEq(t, `{}`, string(b), "unset fields are omitted, like Optional.empty()")
	})

	t.Run("a ListSessionsResponse holds sessions", func(t *testing.T) {
		// CONTRACT X1: Java's ListSessionsResponse.
		f := newFixture(t)
		f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil)
		resp, err := f.rx.ListSessions(context.Background(), "a", "u").BlockingGet(context.Background())
		require.NoError(t, err)
		b, err := json.Marshal(resp)
		require.NoError(t, err)
		var shape map[string][]map[string]any
		require.NoError(t, json.Unmarshal(b, &shape))
		require.Contains(t, shape, "sessions")
		assert.Len(t, shape["sessions"], 1)
		var back observable.ListSessionsResponse
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, []string{"s"}, back.SessionIDs())
	})

	t.Run("a ListEventsResponse holds events in ADK's shape and the page token", func(t *testing.T) {
		// CONTRACT X1/E1: Java's ListEventsResponse.
		ts := time.Unix(1700000000, 5).UTC()
		resp := observable.ListEventsResponse{
			Events:        []*observable.Event{{ID: "e1", InvocationID: "i", Author: "agent", Timestamp: ts}},
			NextPageToken: "tok",
		}
		b, err := json.Marshal(resp)
		require.NoError(t, err)
		assert.JSONEq(t, `{"events":[{"id":"e1","invocationId":"i","author":"agent","timestamp":"2023-11-14T22:13:20.000000005Z","actions":{}}],"nextPageToken":"tok"}`, string(b))
		var back observable.ListEventsResponse
		require.NoError(t, json.Unmarshal(b, &back))
		assert.Equal(t, "tok", back.NextPageToken)
		require.Len(t, back.Events, 1)
		assert.True(t, ts.Equal(back.Events[0].Timestamp))

		b, err = json.Marshal(observable.ListEventsResponse{Events: []*observable.Event{}})
		require.NoError(t, err)
		assert.JSONEq(t, `{"events":[]}`, string(b), "the last page has no token")
	})
}

// ---------------------------------------------------------------------------
// Streams (CONTRACT S1-S3)

// observer collects a Subscribe's callbacks on channels.
type observer struct {
	items    chan *observable.Record
	errs     chan error
	complete chan struct{}
	nErrs    atomic.Int32
	nDone    atomic.Int32
}

func newObserver() *observer {
	return &observer{items: make(chan *observable.Record, 1024), errs: make(chan error, 8), complete: make(chan struct{}, 8)}
}

func (o *observer) subscribe(ctx context.Context, s observable.Stream[*observable.Record]) *observable.Disposable {
	return s.Subscribe(ctx,
		func(r *observable.Record) { o.items <- r },
		func(err error) { o.nErrs.Add(1); o.errs <- err },
		func() { o.nDone.Add(1); o.complete <- struct{}{} })
}

// seqs takes n items and returns their sequence numbers.
func (o *observer) seqs(t *testing.T, n int) []uint64 {
	t.Helper()
	out := make([]uint64, 0, n)
	for range n {
		out = append(out, recv(t, o.items).Seq)
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

// streamFixture is a fixture with one session to stream.
func streamFixture(t *testing.T, events int) (fixture, observable.SessionKey, *observable.Session) {
	t.Helper()
	f := newFixture(t)
	key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess := f.create(t, key, nil)
	for range events {
		f.appendEv(t, sess, &observable.Event{Author: "agent"})
	}
	return f, key, sess
}

func TestSessionEventsSubscribe(t *testing.T) {
	ctx := context.Background()

	t.Run("it replays, then follows live, in order, and completes once on delete", func(t *testing.T) {
		// CONTRACT S1/S3/D2.
		f, key, sess := streamFixture(t, 3)
		o := newObserver()
		d := o.subscribe(ctx, f.rx.SessionEvents(key, 0))
		assert.Equal(t, seqRange(1, 3), o.seqs(t, 3), "replayed")
		for range 3 {
			f.appendEv(t, sess, &observable.Event{Author: "agent"})
		}
		assert.Equal(t, seqRange(4, 6), o.seqs(t, 3), "live")
		require.NoError(t, f.rx.DeleteSession(ctx, key).BlockingAwait(ctx))
		waitClosed(t, d.Done())
		assert.True(t, d.IsDisposed())
		assert.Equal(t, int32(1), o.nDone.Load(), "onComplete calls")
		assert.Equal(t, int32(0), o.nErrs.Load(), "onError calls")
		assert.Empty(t, o.items, "no duplicates after the last event")
	})

	t.Run("it starts after afterSeq", func(t *testing.T) {
		// CONTRACT S1: replay from a position.
		f, key, sess := streamFixture(t, 4)
		o := newObserver()
		d := o.subscribe(ctx, f.rx.SessionEvents(key, 2))
		assert.Equal(t, []uint64{3, 4}, o.seqs(t, 2))
		f.appendEv(t, sess, &observable.Event{Author: "agent"})
		rec := recv(t, o.items)
		assert.Equal(t, uint64(5), rec.Seq)
		assert.Equal(t, observable.KindEventAppended, rec.Kind)
		assert.Equal(t, key, rec.Key)
		require.NotNil(t, rec.Event)
		assert.Same(t, sess.Events[4], rec.Event)
		d.Dispose()
		waitClosed(t, d.Done())
	})

	t.Run("two observers of one Stream value each get every item", func(t *testing.T) {
		// CONTRACT S1: each observation has its own cursor; no stealing.
		f, key, sess := streamFixture(t, 5)
		stream := f.rx.SessionEvents(key, 0)
		o1, o2 := newObserver(), newObserver()
		d1 := o1.subscribe(ctx, stream)
		d2 := o2.subscribe(ctx, stream)
		appended := make(chan error, 1)
		go func() {
			for range 20 {
				if _, err := f.rx.AppendEvent(ctx, sess, &observable.Event{Author: "agent"}).BlockingGet(ctx); err != nil {
					appended <- err
					return
				}
			}
			appended <- nil
		}()
		assert.Equal(t, seqRange(1, 25), o1.seqs(t, 25))
		assert.Equal(t, seqRange(1, 25), o2.seqs(t, 25))
		require.NoError(t, recv(t, appended))
		require.NoError(t, f.rx.DeleteSession(ctx, key).BlockingAwait(ctx))
		waitClosed(t, d1.Done())
		waitClosed(t, d2.Done())
		assert.Equal(t, int32(1), o1.nDone.Load())
		assert.Equal(t, int32(1), o2.nDone.Load())
	})

	t.Run("a slow observer does not block appends", func(t *testing.T) {
		// CONTRACT S1: a slow subscriber never blocks appenders.
		f, key, sess := streamFixture(t, 1)
		entered, release, caughtUp := make(chan struct{}), make(chan struct{}), make(chan struct{})
		var got []uint64
		d := f.rx.SessionEvents(key, 0).Subscribe(ctx, func(r *observable.Record) {
			got = append(got, r.Seq)
			switch r.Seq {
			case 1:
				close(entered)
				<-release
			case 51:
				close(caughtUp)
			}
		}, func(err error) { t.Error(err) }, nil)
		recv(t, entered) // the observer is now blocked inside onNext

		appended := make(chan error, 1)
		go func() {
			for range 50 {
				if _, err := f.rx.AppendEvent(ctx, sess, &observable.Event{Author: "agent"}).BlockingGet(ctx); err != nil {
					appended <- err
					return
				}
			}
			appended <- nil
		}()
		require.NoError(t, recv(t, appended), "appends complete while the observer is blocked")
		close(release)
		// Wait until it has caught up: deletion frees the session's events.
		recv(t, caughtUp)
		require.NoError(t, f.rx.DeleteSession(ctx, key).BlockingAwait(ctx))
		waitClosed(t, d.Done())
		assert.Equal(t, seqRange(1, 51), got, "the slow observer still gets everything")
	})

	t.Run("Dispose ends it with neither onComplete nor onError", func(t *testing.T) {
		// CONTRACT S3.
		f, key, sess := streamFixture(t, 1)
		o := newObserver()
		d := o.subscribe(ctx, f.rx.SessionEvents(key, 0))
		recv(t, o.items)
		d.Dispose()
		waitClosed(t, d.Done())
		assert.True(t, d.IsDisposed())
		d.Dispose() // a second Dispose is harmless
		f.appendEv(t, sess, &observable.Event{Author: "agent"})
		require.NoError(t, f.rx.DeleteSession(ctx, key).BlockingAwait(ctx))
		assert.Equal(t, int32(0), o.nDone.Load())
		assert.Equal(t, int32(0), o.nErrs.Load())
		assert.Empty(t, o.items)
	})

	t.Run("cancelling the ctx passed to Subscribe ends it with neither callback", func(t *testing.T) {
		// CONTRACT S3.
		f, key, _ := streamFixture(t, 1)
		subCtx, cancel := context.WithCancel(ctx)
		o := newObserver()
		d := o.subscribe(subCtx, f.rx.SessionEvents(key, 0))
		recv(t, o.items)
		assert.False(t, d.IsDisposed())
		cancel()
		waitClosed(t, d.Done())
		assert.True(t, d.IsDisposed())
		assert.Equal(t, int32(0), o.nDone.Load())
		assert.Equal(t, int32(0), o.nErrs.Load())
	})

	t.Run("Dispose from inside onNext does not deadlock", func(t *testing.T) {
		// CONTRACT S3: Dispose does not wait.
		f, key, _ := streamFixture(t, 3)
		var d *observable.Disposable
		ready := make(chan struct{})
		var c counts
		d = f.rx.SessionEvents(key, 0).Subscribe(ctx, func(*observable.Record) {
			<-ready
			c.success.Add(1)
			d.Dispose()
		}, c.onError, c.onComplete)
		close(ready)
		waitClosed(t, d.Done())
		assert.Equal(t, int32(1), c.success.Load(), "no item after Dispose")
		assert.True(t, d.IsDisposed())
		assert.Equal(t, int32(0), c.complete.Load())
		assert.Equal(t, int32(0), c.errors.Load())
	})

	t.Run("an onNext that panics ends it, and onError gets ErrPanicked", func(t *testing.T) {
		f, key, _ := streamFixture(t, 3)
		var c counts
		errs := make(chan error, 1)
		d := f.rx.SessionEvents(key, 0).Subscribe(ctx, func(*observable.Record) {
			c.success.Add(1)
			panic("onNext fails")
		}, func(err error) { errs <- err }, c.onComplete)
		waitClosed(t, d.Done())
		err := recv(t, errs)
		require.ErrorIs(t, err, observable.ErrPanicked)
		assert.Contains(t, err.Error(), "onNext fails")
		assert.Equal(t, int32(1), c.success.Load(), "no item after the panic")
		assert.Equal(t, int32(0), c.complete.Load())
		assert.True(t, d.IsDisposed())
	})

	t.Run("a missing session calls onError once with ErrNotFound", func(t *testing.T) {
		// CONTRACT S1/B1: a missing session is yielded as an error.
		f := newFixture(t)
		o := newObserver()
		d := o.subscribe(ctx, f.rx.SessionEvents(observable.SessionKey{AppName: "a", UserID: "u", SessionID: "nope"}, 0))
		waitClosed(t, d.Done())
		assert.ErrorIs(t, recv(t, o.errs), service.ErrNotFound)
		assert.Equal(t, int32(1), o.nErrs.Load())
		assert.Equal(t, int32(0), o.nDone.Load())
	})

	t.Run("closing the service ends it", func(t *testing.T) {
		// CONTRACT S3: every goroutine a subscription started exits.
		f, key, _ := streamFixture(t, 1)
		o := newObserver()
		d := o.subscribe(ctx, f.rx.SessionEvents(key, 0))
		recv(t, o.items)
		require.NoError(t, f.rx.Service().Close())
		waitClosed(t, d.Done())
	})
}

func TestUserAndAppEvents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	// Interleave two users' sessions and another app.
	s1 := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s1"}, nil)
	s2 := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s2"}, nil)
	v1 := f.create(t, observable.SessionKey{AppName: "a", UserID: "v", SessionID: "v1"}, nil)
	x1 := f.create(t, observable.SessionKey{AppName: "other", UserID: "u", SessionID: "x1"}, nil)
	for i := range 3 {
		for _, s := range []*observable.Session{s1, v1, s2, x1} {
			f.appendEv(t, s, &observable.Event{ID: fmt.Sprintf("%s-%d", s.ID, i), Author: "agent"})
		}
	}

	// collect takes the first n records of a stream, then cancels it.
	collect := func(t *testing.T, stream observable.Stream[*observable.Record], n int) []*observable.Record {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, waitLimit)
		defer cancel()
		var got []*observable.Record
		err := stream.BlockingForEach(sctx, func(r *observable.Record) error {
			got = append(got, r)
			if len(got) == n {
				cancel()
			}
			return nil
		})
		require.ErrorIs(t, err, context.Canceled, "ended by cancelling, after %d records", len(got))
		return got
	}
	assertOrdered := func(t *testing.T, recs []*observable.Record) {
		t.Helper()
		for i := 1; i < len(recs); i++ {
			assert.Less(t, recs[i-1].Position, recs[i].Position, "record %d", i)
		}
	}
	names := func(recs []*observable.Record) []string {
		var out []string
		for _, r := range recs {
			if r.Kind == observable.KindSessionCreated {
				out = append(out, "create "+r.Key.SessionID)
			} else {
				out = append(out, r.Event.ID)
			}
		}
		return out
	}

	t.Run("UserEvents delivers the user's sessions' records in Position order", func(t *testing.T) {
		// CONTRACT S2/K2.
		recs := collect(t, f.rx.UserEvents("a", "u", 0), 8)
		assertOrdered(t, recs)
		assert.Equal(t, []string{"create s1", "create s2", "s1-0", "s2-0", "s1-1", "s2-1", "s1-2", "s2-2"}, names(recs))
	})

	t.Run("AppEvents delivers every user's records in Position order, then live", func(t *testing.T) {
		// CONTRACT S2/K2.
		recs := collect(t, f.rx.AppEvents("a", 0), 12)
		assertOrdered(t, recs)
		assert.Equal(t, []string{
			"create s1", "create s2", "create v1",
			"s1-0", "v1-0", "s2-0", "s1-1", "v1-1", "s2-1", "s1-2", "v1-2", "s2-2",
		}, names(recs))
	})

	t.Run("a position resumes after it", func(t *testing.T) {
		// CONTRACT S2: from a position.
		all := collect(t, f.rx.AppEvents("a", 0), 12)
		from := all[5].Position
		recs := collect(t, f.rx.AppEvents("a", from), 6)
		assert.Equal(t, names(all[6:12]), names(recs))
	})
}

func TestStreamLiveAcrossSessions(t *testing.T) {
	// CONTRACT S2: live appends of several sessions, in the store's order.
	ctx := context.Background()
	f := newFixture(t)
	sctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	started, readAll := make(chan struct{}), make(chan struct{})
	var got []*observable.Record
	errc := make(chan error, 1)
	go func() {
		errc <- f.rx.UserEvents("a", "u", 0).BlockingForEach(sctx, func(r *observable.Record) error {
			got = append(got, r)
			switch len(got) {
			case 1:
				close(started)
			case 12:
				close(readAll)
			}
			if r.Kind == observable.KindSessionDeleted {
				return errBoom // fn's error ends it and comes back
			}
			return nil
		})
	}()
	s1 := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s1"}, nil)
	recv(t, started)
	s2 := f.create(t, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s2"}, nil)
	for range 5 {
		f.appendEv(t, s1, &observable.Event{Author: "agent"})
		f.appendEv(t, s2, &observable.Event{Author: "agent"})
	}
	// Deletion frees a session's records: wait until the subscriber has
	// read them (SubscribeUser's documented exception).
	recv(t, readAll)
	require.NoError(t, f.rx.DeleteSession(ctx, s2.Key()).BlockingAwait(ctx))
	require.ErrorIs(t, recv(t, errc), errBoom)

	require.Len(t, got, 13)
	for i := 1; i < len(got); i++ {
		assert.Less(t, got[i-1].Position, got[i].Position)
	}
	var seq1, seq2 []uint64
	for _, r := range got {
		if r.Kind != observable.KindEventAppended {
			continue
		}
		if r.Key.SessionID == "s1" {
			seq1 = append(seq1, r.Seq)
		} else {
			seq2 = append(seq2, r.Seq)
		}
	}
	assert.Equal(t, seqRange(1, 5), seq1)
	assert.Equal(t, seqRange(1, 5), seq2)
	assert.Equal(t, observable.KindSessionDeleted, got[12].Kind)
}

func TestBlockingForEach(t *testing.T) {
	ctx := context.Background()

	t.Run("it returns nil when the stream completes", func(t *testing.T) {
		// CONTRACT S3: deleting the session completes its stream.
		f, key, _ := streamFixture(t, 3)
		var seqs []uint64
		err := f.rx.SessionEvents(key, 0).BlockingForEach(ctx, func(r *observable.Record) error {
			seqs = append(seqs, r.Seq)
			if r.Seq == 3 {
				return f.rx.DeleteSession(ctx, key).BlockingAwait(ctx)
			}
			return nil
		})
		require.NoError(t, err)
		assert.Equal(t, seqRange(1, 3), seqs)
	})

	t.Run("it returns fn's error", func(t *testing.T) {
		// CONTRACT X2: blockingForEach rethrows the consumer's error.
		f, key, _ := streamFixture(t, 3)
		var calls int
		err := f.rx.SessionEvents(key, 0).BlockingForEach(ctx, func(*observable.Record) error {
			calls++
			return errBoom
		})
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, 1, calls)
	})

	t.Run("it returns the stream's error", func(t *testing.T) {
		// CONTRACT S1: a missing session is the stream's error.
		f := newFixture(t)
		err := f.rx.SessionEvents(observable.SessionKey{AppName: "a", UserID: "u", SessionID: "nope"}, 0).
			BlockingForEach(ctx, func(*observable.Record) error { return nil })
		require.ErrorIs(t, err, service.ErrNotFound)
	})

	t.Run("it returns ctx's error when ctx is done first", func(t *testing.T) {
		// CONTRACT S3.
		f, key, _ := streamFixture(t, 2)
		sctx, cancel := context.WithCancel(ctx)
		var calls int
		err := f.rx.SessionEvents(key, 0).BlockingForEach(sctx, func(*observable.Record) error {
			calls++
			if calls == 2 {
				cancel()
			}
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 2, calls)

		err = f.rx.SessionEvents(key, 0).BlockingForEach(cancelledCtx(), func(*observable.Record) error { return nil })
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("All iterates in the caller's goroutine and stops on break", func(t *testing.T) {
		// CONTRACT S1.
		f, key, _ := streamFixture(t, 5)
		var seqs []uint64
		for r, err := range f.rx.SessionEvents(key, 0).All(ctx) {
			require.NoError(t, err)
			seqs = append(seqs, r.Seq)
			if r.Seq == 4 {
				break
			}
		}
		assert.Equal(t, seqRange(1, 4), seqs)
	})
}

func TestStreamRx(t *testing.T) {
	ctx := context.Background()

	t.Run("observing twice gives two cursors that each see every item", func(t *testing.T) {
		// CONTRACT S1/X2: each Observe has its own cursor.
		f, key, sess := streamFixture(t, 3)
		rxCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		obs := f.rx.SessionEvents(key, 0).Rx(rxgo.WithContext(rxCtx))
		ch1, ch2 := obs.Observe(), obs.Observe()
		chans := []<-chan rxgo.Item{ch1, ch2}
		seqs := make([][]uint64, len(chans))
		take := func(i int, it rxgo.Item) {
			require.NoError(t, it.E)
			seqs[i] = append(seqs[i], it.V.(*observable.Record).Seq)
		}
		// Both cursors replay before anything else happens.
		for i, ch := range chans {
			for range 3 {
				take(i, recv(t, ch))
			}
		}
		for range 3 {
			f.appendEv(t, sess, &observable.Event{Author: "agent"})
		}
		// Both follow live; then the delete completes both.
		for i, ch := range chans {
			for range 3 {
				take(i, recv(t, ch))
			}
		}
		require.NoError(t, f.rx.DeleteSession(ctx, key).BlockingAwait(ctx))
		for i, ch := range chans {
			for _, it := range drain(t, ch) {
				take(i, it)
			}
			assert.Equal(t, seqRange(1, 6), seqs[i], "observation %d: every item once, then completion", i+1)
		}
	})

	t.Run("cancelling via rxgo.WithContext ends the producer goroutine", func(t *testing.T) {
		// CONTRACT S3: every goroutine it started exits.
		f, key, _ := streamFixture(t, 3)
		snapshot := goleak.IgnoreCurrent()
		rxCtx, cancel := context.WithCancel(ctx)
		ch := f.rx.SessionEvents(key, 0).Rx(rxgo.WithContext(rxCtx)).Observe()
		first := recv(t, ch)
		require.NoError(t, first.E)
		assert.Equal(t, uint64(1), first.V.(*observable.Record).Seq)
		cancel()
		drain(t, ch) // the channel closes once the producer has returned
		noLeakSince(t, snapshot)
	})

	t.Run("an rxgo pipeline over the stream works", func(t *testing.T) {
		// CONTRACT X2: the plain rxgo value serves a pipeline.
		// Five events: rxgo's Take(n) stops only when item n+1 arrives.
		f, key, _ := streamFixture(t, 5)
		rxCtx, cancel := context.WithTimeout(ctx, waitLimit)
		defer cancel()
		item, err := f.rx.SessionEvents(key, 0).Rx(rxgo.WithContext(rxCtx)).
			Map(func(_ context.Context, v any) (any, error) { return v.(*observable.Record).Seq, nil }).
			Take(4).
			Reduce(func(_ context.Context, acc, v any) (any, error) {
				if acc == nil {
					return v, nil
				}
				return acc.(uint64) + v.(uint64), nil
			}).Get(rxgo.WithContext(rxCtx))
		require.NoError(t, err)
		require.NoError(t, item.E)
		assert.Equal(t, uint64(10), item.V)
		cancel()
	})
}

func TestZeroStream(t *testing.T) {
	ctx := context.Background()
	var zero observable.Stream[int]

	t.Run("Subscribe completes at once", func(t *testing.T) {
		// CONTRACT B1: the zero value works.
		var c counts
		var d *observable.Disposable
		require.NotPanics(t, func() { d = zero.Subscribe(ctx, func(int) { c.success.Add(1) }, c.onError, c.onComplete) })
		waitClosed(t, d.Done())
		assert.Equal(t, [3]int32{0, 0, 1}, [3]int32{c.success.Load(), c.errors.Load(), c.complete.Load()})
	})
	t.Run("Subscribe with nil callbacks does not panic", func(t *testing.T) {
		// CONTRACT B1.
		d := zero.Subscribe(ctx, nil, nil, nil)
		waitClosed(t, d.Done())
	})
	t.Run("BlockingForEach returns nil", func(t *testing.T) {
		// CONTRACT B1.
		require.NoError(t, zero.BlockingForEach(ctx, func(int) error { return errBoom }))
	})
	t.Run("All yields nothing", func(t *testing.T) {
		// CONTRACT B1.
		for range zero.All(ctx) {
			t.Fatal("an item from the zero Stream")
		}
	})
	t.Run("Rx completes with no items", func(t *testing.T) {
		// CONTRACT B1.
		assert.Empty(t, drain(t, zero.Rx().Observe()))
	})
}
