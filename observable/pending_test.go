package observable_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

// gate holds work back until the test opens it, and tells when the work
// has started.
type gate struct {
	started chan struct{}
	open    chan struct{}
}

func newGate() *gate { return &gate{started: make(chan struct{}), open: make(chan struct{})} }

// pass is the work's side: it says it started and waits to be let through
// (or for ctx).
func (g *gate) pass(ctx context.Context) error {
	close(g.started)
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func TestBlockingCallsHonourTheirContext(t *testing.T) {
	t.Run("Single.BlockingGet gives ctx's error when ctx is done before the outcome", func(t *testing.T) {
		// CONTRACT X2: blocking helpers mirror blockingGet and honour ctx.
		g := newGate()
		s := observable.StartSingle(context.Background(), func(ctx context.Context) (int, error) {
			return 7, g.pass(ctx)
		})
		recv(t, g.started)
		_, err := s.BlockingGet(cancelledCtx())
		require.ErrorIs(t, err, context.Canceled)
		_, err = s.BlockingGet(shortCtx(t))
		require.ErrorIs(t, err, context.DeadlineExceeded)
		//nolint:staticcheck // the point is a nil context
		_, err = s.BlockingGet(nil)
		require.ErrorIs(t, err, service.ErrInvalidArgument, "a nil ctx cannot bound a wait")

		close(g.open)
		got, err := s.BlockingGet(context.Background())
		require.NoError(t, err, "the work went on after the first caller gave up")
		assert.Equal(t, 7, got)
		got, err = s.BlockingGet(cancelledCtx())
		require.NoError(t, err, "an outcome that is there wins over a done ctx")
		assert.Equal(t, 7, got)
	})

	t.Run("Single.BlockingGet waits for the outcome, an error included", func(t *testing.T) {
		// CONTRACT X2
		g := newGate()
		s := observable.StartSingle(context.Background(), func(ctx context.Context) (string, error) {
			if err := g.pass(ctx); err != nil {
				return "", err
			}
			return "ignored", errBoom
		})
		done := make(chan error, 1)
		go func() { _, err := s.BlockingGet(context.Background()); done <- err }()
		recv(t, g.started)
		close(g.open)
		require.ErrorIs(t, recv(t, done), errBoom)
		got, err := s.BlockingGet(context.Background())
		require.ErrorIs(t, err, errBoom)
		assert.Empty(t, got, "an error comes with the zero value")
	})

	t.Run("Maybe.BlockingGet gives ctx's error when ctx is done before the outcome", func(t *testing.T) {
		// CONTRACT X2 G1: a Maybe cut short is an error, never "empty".
		for _, tc := range []struct {
			name   string
			ok     bool
			err    error
			wantOK bool
		}{
			{"a value", true, nil, true},
			{"nothing", false, nil, false},
			{"an error", true, errBoom, false},
		} {
			g := newGate()
			m := observable.StartMaybe(context.Background(), func(ctx context.Context) (string, bool, error) {
				if err := g.pass(ctx); err != nil {
					return "", false, err
				}
				return "v", tc.ok, tc.err
			})
			recv(t, g.started)
			_, ok, err := m.BlockingGet(cancelledCtx())
			require.ErrorIs(t, err, context.Canceled, tc.name)
			assert.False(t, ok, tc.name)
			close(g.open)
			v, ok, err := m.BlockingGet(context.Background())
			require.ErrorIs(t, err, tc.err, tc.name)
			assert.Equal(t, tc.wantOK, ok, tc.name)
			if tc.wantOK {
				assert.Equal(t, "v", v)
			}
			_, _, again := m.BlockingGet(cancelledCtx())
			require.ErrorIs(t, again, tc.err, "%s: the kept outcome wins over a done ctx", tc.name)
			if tc.err == nil {
				require.NoError(t, again, tc.name)
			}
		}
	})

	t.Run("Completable.BlockingAwait gives ctx's error when ctx is done before the outcome", func(t *testing.T) {
		// CONTRACT X2: BlockingAwait mirrors blockingAwait and honours ctx.
		for _, want := range []error{nil, errBoom} {
			g := newGate()
			c := observable.StartCompletable(context.Background(), func(ctx context.Context) error {
				if err := g.pass(ctx); err != nil {
					return err
				}
				return want
			})
			recv(t, g.started)
			require.ErrorIs(t, c.BlockingAwait(cancelledCtx()), context.Canceled)
			require.ErrorIs(t, c.BlockingAwait(shortCtx(t)), context.DeadlineExceeded)
			close(g.open)
			err := c.BlockingAwait(context.Background())
			require.ErrorIs(t, err, want)
			if want == nil {
				require.NoError(t, err)
				require.NoError(t, c.BlockingAwait(cancelledCtx()), "a kept success wins over a done ctx")
			}
		}
	})

	t.Run("the service's results are there at once, so a done ctx never hides them", func(t *testing.T) {
		// CONTRACT X2 A7: an append that succeeded is never reported as
		// cancelled, which would invite a retry that stores it twice.
		f := newFixture(t)
		ctx := context.Background()
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess, err := f.rx.CreateSession(ctx, key, nil).BlockingGet(cancelledCtx())
		require.NoError(t, err)
		ev, err := f.rx.AppendEvent(ctx, sess, &observable.Event{Author: "agent"}).BlockingGet(cancelledCtx())
		require.NoError(t, err)
		require.NotEmpty(t, ev.ID)
		got, ok, err := f.rx.GetSession(ctx, key, nil).BlockingGet(cancelledCtx())
		require.NoError(t, err)
		require.True(t, ok)
		require.Len(t, got.Events, 1)
		require.NoError(t, f.rx.DeleteSession(ctx, key).BlockingAwait(cancelledCtx()))
	})

	t.Run("the work gets the ctx it was started with", func(t *testing.T) {
		// CONTRACT X2 S3: a call's own ctx bounds its work.
		ctx, cancel := context.WithCancel(context.Background())
		g := newGate()
		c := observable.StartCompletable(ctx, g.pass)
		recv(t, g.started)
		cancel()
		require.ErrorIs(t, c.BlockingAwait(context.Background()), context.Canceled)
	})
}

func TestPendingOutcomes(t *testing.T) {
	t.Run("Map and FlatMap of a pending Single run fn once, when the outcome comes", func(t *testing.T) {
		// CONTRACT X2: the work runs once; every look sees the same outcome.
		g := newGate()
		var calls atomic.Int32
		src := observable.StartSingle(context.Background(), func(ctx context.Context) (int, error) {
			return 21, g.pass(ctx)
		})
		mapped := observable.Map(src, func(v int) (string, error) { calls.Add(1); return strconv.Itoa(v * 2), nil })
		flat := observable.FlatMap(mapped, func(s string) observable.Single[string] {
			calls.Add(1)
			return observable.StartSingle(context.Background(), func(context.Context) (string, error) { return s + "!", nil })
		})
		recv(t, g.started)
		_, err := flat.BlockingGet(cancelledCtx())
		require.ErrorIs(t, err, context.Canceled, "the result is pending while its source is")
		assert.Zero(t, calls.Load(), "fn waits for the outcome")
		close(g.open)
		for range 3 {
			got, err := flat.BlockingGet(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "42!", got)
		}
		assert.Equal(t, int32(2), calls.Load(), "each fn ran once")

		failed := observable.Map(observable.StartSingle(context.Background(), func(context.Context) (int, error) { return 0, errBoom }),
			func(int) (int, error) { calls.Add(1); return 0, nil })
		_, err = failed.BlockingGet(context.Background())
		require.ErrorIs(t, err, errBoom)
		assert.Equal(t, int32(2), calls.Load(), "an error passes through without calling fn")
	})

	t.Run("Subscribe waits for a pending outcome and calls the right callback once", func(t *testing.T) {
		// CONTRACT X2: Subscribe mirrors subscribe.
		g := newGate()
		s := observable.StartSingle(context.Background(), func(ctx context.Context) (int, error) { return 5, g.pass(ctx) })
		m := observable.StartMaybe(context.Background(), func(context.Context) (int, bool, error) { return 0, false, nil })
		c := observable.StartCompletable(context.Background(), func(context.Context) error { return errBoom })
		var c1, c2, c3 counts
		var value atomic.Int64
		subscribed := make(chan struct{})
		go func() {
			defer close(subscribed)
			s.Subscribe(func(v int) { c1.success.Add(1); value.Store(int64(v)) }, c1.onError)
		}()
		recv(t, g.started)
		close(g.open)
		waitClosed(t, subscribed)
		assert.Equal(t, int32(1), c1.success.Load())
		assert.Equal(t, int64(5), value.Load())
		m.Subscribe(func(int) { c2.success.Add(1) }, c2.onError, c2.onComplete)
		assert.Equal(t, int32(1), c2.complete.Load())
		assert.Zero(t, c2.success.Load()+c2.errors.Load())
		c.Subscribe(c3.onComplete, c3.onError)
		assert.Equal(t, int32(1), c3.errors.Load())
		assert.ErrorIs(t, c3.lastErr.Load().(error), errBoom)
	})

	t.Run("an Rx observation of a pending outcome waits for it, or ends with its context", func(t *testing.T) {
		// CONTRACT X2 S3: the plain rxgo value of a pending outcome, with
		// no goroutine left behind.
		snapshot := goleak.IgnoreCurrent()
		g := newGate()
		s := observable.StartSingle(context.Background(), func(ctx context.Context) (int, error) { return 9, g.pass(ctx) })
		recv(t, g.started)
		_, err := s.Rx().Get(rxgo.WithContext(cancelledCtx()))
		require.ErrorIs(t, err, context.Canceled, "cut short before the outcome")
		got := make(chan rxgo.Item, 1)
		go func() { item, _ := s.Rx().Get(); got <- item }()
		close(g.open)
		assert.Equal(t, rxgo.Of(9), recv(t, got))

		m := observable.StartMaybe(context.Background(), func(context.Context) (int, bool, error) { return 0, false, nil })
		item, err := m.Rx().Get()
		require.NoError(t, err)
		assert.Equal(t, rxgo.OptionalSingleEmpty, item)

		c := observable.StartCompletable(context.Background(), func(context.Context) error { return errBoom })
		items := drain(t, c.Rx().Observe())
		require.Len(t, items, 1)
		assert.True(t, errors.Is(items[0].E, errBoom))
		noLeakSince(t, snapshot)
	})
}
