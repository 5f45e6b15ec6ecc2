package observable_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

func newEdgeService(t *testing.T) (*service.Service, *observable.SessionService) {
	t.Helper()
	svc, err := service.New(context.Background(), service.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	return svc, observable.New(svc)
}

// CONTRACT X2 G1: an observation of a present Maybe cut short by its
// context is an error, never "empty" (which would read as "no such
// session"), and it leaves no goroutine behind.
func TestMaybeRxGetTellsCancelledFromEmpty(t *testing.T) {
	defer goleak.VerifyNone(t, append(leaktest.Options(), goleak.IgnoreCurrent())...)
	ctx := context.Background()
	_, rx := newEdgeService(t)
	key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	_, err := rx.CreateSession(ctx, key, nil).BlockingGet(ctx)
	require.NoError(t, err)
	present := rx.GetSession(ctx, key, nil)
	missing := rx.GetSession(ctx, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "nope"}, nil)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for range 100 {
		item, err := present.Rx().Get(rxgo.WithContext(cancelled))
		if err == nil {
			require.IsType(t, &service.Session{}, item.V, "a present session is never reported empty")
		} else {
			require.ErrorIs(t, err, context.Canceled)
		}
	}
	item, err := present.Rx().Get(rxgo.WithContext(ctx))
	require.NoError(t, err)
	require.Equal(t, "s", item.V.(*service.Session).ID)
	item, err = missing.Rx().Get(rxgo.WithContext(ctx))
	require.NoError(t, err)
	require.Equal(t, rxgo.OptionalSingleEmpty, item)

	mapped, err := present.Rx().Map(func(_ context.Context, v any) (any, error) { return v.(*service.Session).ID, nil }).Get()
	require.NoError(t, err)
	require.Equal(t, "s", mapped.V)
	mapped, err = missing.Rx().Map(func(_ context.Context, v any) (any, error) { return "never", nil }).Get()
	require.NoError(t, err)
	require.Equal(t, rxgo.OptionalSingleEmpty, mapped)

	kept, err := observable.SingleOf(3, nil).Rx().Filter(func(v any) bool { return v.(int) > 2 }).Get()
	require.NoError(t, err)
	require.Equal(t, 3, kept.V)
	dropped, err := observable.SingleOf(1, nil).Rx().Filter(func(v any) bool { return v.(int) > 2 }).Get()
	require.NoError(t, err)
	require.Equal(t, rxgo.OptionalSingleEmpty, dropped)
}

// CONTRACT S3: no callback runs after Dispose or a cancel from inside a
// callback, and a subscription whose context is done calls neither onError
// nor onComplete.
func TestNoCallbackAfterTheObservationEnds(t *testing.T) {
	ctx := context.Background()
	svc, rx := newEdgeService(t)
	key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess, err := svc.Create(ctx, key, nil)
	require.NoError(t, err)
	for i := range 50 {
		_, err := svc.AppendEvent(ctx, sess, &service.Event{ID: strconv.Itoa(i)})
		require.NoError(t, err)
	}

	t.Run("cancelling inside the first callback stops the deliveries", func(t *testing.T) {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		n := 0
		err := rx.SessionEvents(key, 0).BlockingForEach(sctx, func(*observable.Record) error {
			n++
			cancel()
			return nil
		})
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 1, n)
	})
	t.Run("a subscription whose context is already done calls nothing", func(t *testing.T) {
		for range 50 {
			sctx, cancel := context.WithCancel(ctx)
			cancel()
			called := make(chan string, 3)
			d := rx.SessionEvents(key, 0).Subscribe(sctx,
				func(*observable.Record) { called <- "next" },
				func(error) { called <- "error" },
				func() { called <- "complete" })
			<-d.Done()
			require.Empty(t, called)
		}
	})
	t.Run("subscribe then dispose at once calls no onError", func(t *testing.T) {
		for range 50 {
			errs := make(chan error, 1)
			d := rx.SessionEvents(key, 0).Subscribe(ctx, nil, func(err error) { errs <- err }, nil)
			d.Dispose()
			<-d.Done()
			require.Empty(t, errs)
			require.True(t, d.IsDisposed())
		}
	})
	t.Run("a nil ctx is an error, not a panic", func(t *testing.T) {
		errs := make(chan error, 1)
		//nolint:staticcheck // the point is a nil context
		d := rx.SessionEvents(key, 0).Subscribe(nil, nil, func(err error) { errs <- err }, nil)
		<-d.Done()
		require.ErrorIs(t, <-errs, service.ErrInvalidArgument)
	})
}

// CONTRACT B1: a nil or zero Disposable is an observation that has ended.
func TestZeroDisposable(t *testing.T) {
	var zero observable.Disposable
	var none *observable.Disposable
	for _, d := range []*observable.Disposable{&zero, none} {
		require.NotPanics(t, d.Dispose)
		select {
		case <-d.Done():
		case <-time.After(time.Second):
			t.Fatal("Done of an ended observation is not closed")
		}
		require.True(t, d.IsDisposed())
	}
}

// CONTRACT X1: listEvents with no paging returns every event, as Java's
// in-memory service does; numRecentEvents 0 returns none, as in Java.
func TestJavaParityOfListEventsAndNumRecentEvents(t *testing.T) {
	ctx := context.Background()
	svc, rx := newEdgeService(t)
	key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess, err := svc.Create(ctx, key, nil)
	require.NoError(t, err)
	for i := range service.DefaultPageSize + 50 {
		_, err := svc.AppendEvent(ctx, sess, &service.Event{ID: strconv.Itoa(i)})
		require.NoError(t, err)
	}
	all, err := rx.ListEvents(ctx, key, observable.ListEventsOptions{}).BlockingGet(ctx)
	require.NoError(t, err)
	require.Len(t, all.Events, service.DefaultPageSize+50)
	require.Empty(t, all.NextPageToken)

	page, err := rx.ListEvents(ctx, key, observable.ListEventsOptions{PageSize: 10}).BlockingGet(ctx)
	require.NoError(t, err)
	require.Len(t, page.Events, 10)
	require.NotEmpty(t, page.NextPageToken)

	got, ok, err := rx.GetSession(ctx, key, &observable.GetSessionConfig{NumRecentEvents: new(0)}).BlockingGet(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Empty(t, got.Events)
	require.NotNil(t, got.Events)
}

// CONTRACT B1: a nil ctx or a nil function given to the operators that
// start work or map an outcome is an ErrInvalidArgument outcome, never a
// panic in a goroutine the caller cannot recover from; so is a nil ctx
// for the zero Stream's BlockingForEach.
func TestNilWorkAndContextAreRefused(t *testing.T) {
	defer goleak.VerifyNone(t, append(leaktest.Options(), goleak.IgnoreCurrent())...)
	ctx := t.Context()
	var nilCtx context.Context
	pending := observable.StartSingle(ctx, func(context.Context) (int, error) { return 1, nil })
	for name, s := range map[string]observable.Single[int]{
		"StartSingle, nil ctx":          observable.StartSingle(nilCtx, func(context.Context) (int, error) { return 1, nil }),
		"StartSingle, nil work":         observable.StartSingle[int](ctx, nil),
		"Map of a value, nil fn":        observable.Map[int, int](observable.SingleOf(1, nil), nil),
		"Map of a pending one, nil fn":  observable.Map[int, int](pending, nil),
		"FlatMap of a pending one, nil": observable.FlatMap[int, int](pending, nil),
	} {
		_, err := s.BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrInvalidArgument, name)
	}
	_, _, err := observable.StartMaybe[int](ctx, nil).BlockingGet(ctx)
	require.ErrorIs(t, err, service.ErrInvalidArgument, "StartMaybe, nil work")
	_, _, err = observable.StartMaybe(nilCtx, func(context.Context) (int, bool, error) { return 1, true, nil }).BlockingGet(ctx)
	require.ErrorIs(t, err, service.ErrInvalidArgument, "StartMaybe, nil ctx")
	require.ErrorIs(t, observable.StartCompletable(ctx, nil).BlockingAwait(ctx), service.ErrInvalidArgument, "StartCompletable, nil work")
	require.ErrorIs(t, observable.StartCompletable(nilCtx, func(context.Context) error { return nil }).BlockingAwait(ctx),
		service.ErrInvalidArgument, "StartCompletable, nil ctx")
	var zero observable.Stream[int]
	require.ErrorIs(t, zero.BlockingForEach(nilCtx, func(int) error { return nil }), service.ErrInvalidArgument, "BlockingForEach, nil ctx")
	require.ErrorIs(t, zero.BlockingForEach(ctx, nil), service.ErrInvalidArgument, "BlockingForEach, nil fn")
	v, err := pending.BlockingGet(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, v)
}

// Work, or an operator's function, that panics in a goroutine of the
// package's settles its outcome with ErrPanicked instead of crashing the
// process, as RxJava routes a lambda's exception to onError.
func TestPanickingWorkSettlesWithErrPanicked(t *testing.T) {
	ctx := context.Background()
	boom := func() { panic("boom") }
	_, err := observable.StartSingle(ctx, func(context.Context) (int, error) { boom(); return 0, nil }).BlockingGet(ctx)
	require.ErrorIs(t, err, observable.ErrPanicked)
	require.ErrorContains(t, err, "boom")
	_, _, err = observable.StartMaybe(ctx, func(context.Context) (int, bool, error) { boom(); return 0, false, nil }).BlockingGet(ctx)
	require.ErrorIs(t, err, observable.ErrPanicked)
	err = observable.StartCompletable(ctx, func(context.Context) error { boom(); return nil }).BlockingAwait(ctx)
	require.ErrorIs(t, err, observable.ErrPanicked)

	release := make(chan struct{})
	pending := observable.StartSingle(ctx, func(context.Context) (int, error) { <-release; return 1, nil })
	mapped := observable.Map(pending, func(int) (int, error) { boom(); return 0, nil })
	close(release)
	_, err = mapped.BlockingGet(ctx)
	require.ErrorIs(t, err, observable.ErrPanicked, "a function mapping a pending Single")
}
