package observable

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/reactivex/rxgo/v2"

	"github.com/sessionlog/sessionlog/service"
)

// Single is the outcome of work that yields one value or an error, like
// RxJava's Single. The work runs once, when the Single is made: a Single
// only hands out its outcome, as often as asked. A Single from [SingleOf]
// (and from every [SessionService] method) holds its outcome from the
// start; one from [StartSingle] waits for its work, which runs in a
// goroutine of its own. The zero Single holds the zero value and no error.
type Single[T any] struct {
	value T
	err   error
	// later, when set, is the outcome of work still under way.
	later *pending[T]
}

// pending is an outcome on its way: done is closed once the other fields
// are set, and they never change after.
type pending[T any] struct {
	done  chan struct{}
	value T
	ok    bool
	err   error
}

func newPending[T any]() *pending[T] { return &pending[T]{done: make(chan struct{})} }

// errNilCtx is the error of a call given a nil ctx.
var errNilCtx = fmt.Errorf("observable: %w: ctx is nil", service.ErrInvalidArgument)

// wait waits until the outcome is there or ctx is done, whichever comes
// first; an outcome already there wins over a done ctx.
func (p *pending[T]) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if ctx == nil {
		return errNilCtx
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// settle sets the outcome and lets its waiters go.
func (p *pending[T]) settle(v T, ok bool, err error) {
	p.value, p.ok, p.err = v, ok, err
	close(p.done)
}

// ErrPanicked is the error of work, or of an operator's function, that
// panicked in a goroutine of this package's: the outcome's error, as
// RxJava routes what a lambda throws to onError, rather than a crash no
// caller could recover from. The message holds the panic's value and the
// goroutine's stack.
var ErrPanicked = errors.New("observable: a function panicked")

// recoverInto, deferred in a goroutine that settles p last, settles p with
// ErrPanicked when the goroutine panicked before it could.
func recoverInto[T any](p *pending[T]) {
	if r := recover(); r != nil {
		p.settle(*new(T), false, fmt.Errorf("%w: %v\n%s", ErrPanicked, r, debug.Stack()))
	}
}

// SingleOf returns a Single of the outcome (v, err): the error if err is not
// nil, else v.
func SingleOf[T any](v T, err error) Single[T] {
	if err != nil {
		var zero T
		return Single[T]{value: zero, err: err}
	}
	return Single[T]{value: v}
}

// StartSingle runs work once, now, in a goroutine of its own that ends
// when work returns, and returns the Single of its outcome: pending until
// then. work gets ctx, which bounds it. It is RxJava's
// Single.fromCallable(work).subscribeOn(...).cache(), for work that a
// caller wants to overlap with its own.
func StartSingle[T any](ctx context.Context, work func(context.Context) (T, error)) Single[T] {
	if err := checkStart(ctx, work == nil); err != nil {
		return Single[T]{err: err}
	}
	p := newPending[T]()
	go func() {
		defer recoverInto(p)
		v, err := work(ctx)
		p.settle(v, err == nil, err)
	}()
	return Single[T]{later: p}
}

// checkStart refuses the arguments of StartSingle, StartMaybe and
// StartCompletable that would make work panic in a goroutine where its
// caller could not recover: a nil ctx, or no work.
func checkStart(ctx context.Context, noWork bool) error {
	switch {
	case ctx == nil:
		return errNilCtx
	case noWork:
		return errNilFunc
	}
	return nil
}

// errNilFunc is the error of an operator given a nil function.
var errNilFunc = fmt.Errorf("observable: %w: the function is nil", service.ErrInvalidArgument)

// settled returns the Single with its outcome in hand, waiting for it as
// BlockingGet does; the error is ctx's when ctx was done first.
func (s Single[T]) settled(ctx context.Context) (Single[T], error) {
	if s.later == nil {
		return s, nil
	}
	if err := s.later.wait(ctx); err != nil {
		return Single[T]{}, err
	}
	return SingleOf(s.later.value, s.later.err), nil
}

// BlockingGet returns the value or the error, like blockingGet, waiting
// for the outcome if the work is still under way. When ctx is done before
// the outcome is there, it returns ctx's error (the work goes on, and a
// later BlockingGet may still get its outcome). An outcome that is there
// is returned whatever ctx says: a write that succeeded is never reported
// as cancelled (which would invite a duplicate retry), so the Singles of
// [SessionService], whose work ran when the method was called, never
// report ctx's error. A nil ctx is an ErrInvalidArgument error when there
// is something to wait for.
func (s Single[T]) BlockingGet(ctx context.Context) (T, error) {
	s, err := s.settled(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return s.value, s.err
}

// Subscribe calls onSuccess with the value or onError with the error, in
// the caller's goroutine before it returns (waiting for the outcome if the
// work is still under way). A nil callback is skipped.
func (s Single[T]) Subscribe(onSuccess func(T), onError func(error)) {
	if s.later != nil {
		<-s.later.done
		s, _ = s.settled(context.Background())
	}
	switch {
	case s.err != nil:
		if onError != nil {
			onError(s.err)
		}
	case onSuccess != nil:
		onSuccess(s.value)
	}
}

// Rx returns the outcome as an rxgo.Single: one item, the value or the
// error. Each observation emits it anew; nothing is computed again.
func (s Single[T]) Rx(opts ...rxgo.Option) rxgo.Single {
	return rxSingle{rxgo.Defer([]rxgo.Producer{s.produce}, opts...)}
}

// rxSingle is an rxgo.Single over an observable of one item. rxgo's own
// Singles (ElementAt, Map on a Single...) use one channel for all their
// observations, so a second observation panics, and ElementAt follows an
// error with a second item nobody reads; this one observes its source
// afresh each time.
type rxSingle struct {
	obs rxgo.Observable
}

// Observe implements rxgo.Iterable.
func (r rxSingle) Observe(opts ...rxgo.Option) <-chan rxgo.Item { return r.obs.Observe(opts...) }

// errNoItem is Get's error when its observation ended before the item,
// which happens only when the observation's context is done. (rxgo does not
// say which way it ended: a deadline shows as cancelled too.)
var errNoItem = fmt.Errorf("observable: the observation ended before its item: %w", context.Canceled)

// Get returns the item, like rxgo.Single's Get.
func (r rxSingle) Get(opts ...rxgo.Option) (rxgo.Item, error) { return first(r.obs, opts) }

// Map implements rxgo.Single.
func (r rxSingle) Map(apply rxgo.Func, opts ...rxgo.Option) rxgo.Single {
	return rxSingle{r.obs.Map(apply, opts...)}
}

// Filter implements rxgo.Single: a Maybe of the item, empty when apply
// rejects it.
func (r rxSingle) Filter(apply rxgo.Predicate, opts ...rxgo.Option) rxgo.OptionalSingle {
	return rxMaybe{
		obs: r.obs.Filter(apply, opts...),
		marked: r.obs.Map(func(_ context.Context, v any) (any, error) {
			if !apply(v) {
				return emptyMarker{}, nil
			}
			return v, nil
		}, opts...),
	}
}

// Run implements rxgo.Single.
func (r rxSingle) Run(opts ...rxgo.Option) rxgo.Disposed { return r.obs.Run(opts...) }

func (s Single[T]) produce(ctx context.Context, next chan<- rxgo.Item) {
	s, err := s.settled(ctx)
	switch {
	case err != nil:
		return // the observation was cancelled before the outcome came
	case s.err != nil:
		rxgo.Error(s.err).SendContext(ctx, next)
	default:
		rxgo.Of(s.value).SendContext(ctx, next)
	}
}

// Map returns a Single of fn applied to s's value, or s's error, like
// RxJava's map. fn's error becomes the result's error. fn runs once: now,
// or, when s is pending, as soon as its outcome is there (the result is
// pending until then).
func Map[T, R any](s Single[T], fn func(T) (R, error)) Single[R] {
	if fn == nil {
		return Single[R]{err: errNilFunc}
	}
	return FlatMap(s, func(v T) Single[R] { return SingleOf(fn(v)) })
}

// FlatMap returns the Single that fn makes of s's value, or s's error,
// like RxJava's flatMap. fn runs once, as [Map]'s does.
func FlatMap[T, R any](s Single[T], fn func(T) Single[R]) Single[R] {
	if fn == nil {
		return Single[R]{err: errNilFunc}
	}
	if s.later == nil {
		if s.err != nil {
			return Single[R]{err: s.err}
		}
		return fn(s.value)
	}
	// Wait for s in a goroutine that ends with s's work (and fn's).
	p := newPending[R]()
	go func() {
		defer recoverInto(p)
		<-s.later.done
		if s.later.err != nil {
			p.settle(*new(R), false, s.later.err)
			return
		}
		r := fn(s.later.value)
		if r.later != nil {
			<-r.later.done
			r = SingleOf(r.later.value, r.later.err)
		}
		p.settle(r.value, r.err == nil, r.err)
	}()
	return Single[R]{later: p}
}

// Maybe is the outcome of work that yields a value, nothing, or an error,
// like RxJava's Maybe. The zero Maybe is empty.
type Maybe[T any] struct {
	value T
	ok    bool
	err   error
	// later, when set, is the outcome of work still under way.
	later *pending[T]
}

// MaybeOf returns a Maybe of the outcome: the error if err is not nil, else
// v if ok, else empty.
func MaybeOf[T any](v T, ok bool, err error) Maybe[T] {
	switch {
	case err != nil:
		return Maybe[T]{err: err}
	case !ok:
		return Maybe[T]{}
	}
	return Maybe[T]{value: v, ok: true}
}

// StartMaybe runs work once, now, in a goroutine of its own, and returns
// the Maybe of its outcome, pending until work returns; see [StartSingle].
func StartMaybe[T any](ctx context.Context, work func(context.Context) (T, bool, error)) Maybe[T] {
	if err := checkStart(ctx, work == nil); err != nil {
		return Maybe[T]{err: err}
	}
	p := newPending[T]()
	go func() {
		defer recoverInto(p)
		v, ok, err := work(ctx)
		p.settle(v, ok, err)
	}()
	return Maybe[T]{later: p}
}

// settled returns the Maybe with its outcome in hand, waiting for it as
// BlockingGet does; waitErr is ctx's error when ctx was done first.
func (m Maybe[T]) settled(ctx context.Context) (out Maybe[T], waitErr error) {
	if m.later == nil {
		return m, nil
	}
	if waitErr = m.later.wait(ctx); waitErr != nil {
		return Maybe[T]{}, waitErr
	}
	return MaybeOf(m.later.value, m.later.ok, m.later.err), nil
}

// BlockingGet returns the value and true, the zero value and false when
// empty, or the error, like blockingGet (which gives null when empty). It
// waits for the outcome, and honours ctx, as [Single.BlockingGet] does.
func (m Maybe[T]) BlockingGet(ctx context.Context) (T, bool, error) {
	m, err := m.settled(ctx)
	if err != nil {
		var zero T
		return zero, false, err
	}
	return m.value, m.ok, m.err
}

// Subscribe calls onSuccess with the value, onComplete when empty, or
// onError with the error, in the caller's goroutine before it returns
// (waiting for the outcome if the work is still under way). A nil
// callback is skipped.
func (m Maybe[T]) Subscribe(onSuccess func(T), onError func(error), onComplete func()) {
	if m.later != nil {
		<-m.later.done
		m, _ = m.settled(context.Background())
	}
	switch {
	case m.err != nil:
		if onError != nil {
			onError(m.err)
		}
	case m.ok:
		if onSuccess != nil {
			onSuccess(m.value)
		}
	case onComplete != nil:
		onComplete()
	}
}

// Rx returns the outcome as an rxgo.OptionalSingle: the value, nothing, or
// the error. Its Get tells an empty Maybe from an observation cut short by
// its context (rxgo's own OptionalSingle reports both as empty, which here
// would read as "no such session").
func (m Maybe[T]) Rx(opts ...rxgo.Option) rxgo.OptionalSingle {
	return rxMaybe{
		obs:    rxgo.Defer([]rxgo.Producer{m.produce(false)}, opts...),
		marked: rxgo.Defer([]rxgo.Producer{m.produce(true)}, opts...),
	}
}

// emptyMarker stands for "empty" in the observations Get makes, so that
// an empty Maybe and a cancelled observation can be told apart.
type emptyMarker struct{}

func (m Maybe[T]) produce(marked bool) rxgo.Producer {
	return func(ctx context.Context, next chan<- rxgo.Item) {
		m, err := m.settled(ctx)
		if err != nil {
			return // the observation was cancelled before the outcome came
		}
		switch {
		case m.err != nil:
			rxgo.Error(m.err).SendContext(ctx, next)
		case m.ok:
			rxgo.Of(m.value).SendContext(ctx, next)
		case marked:
			rxgo.Of(emptyMarker{}).SendContext(ctx, next)
		}
	}
}

// rxMaybe is an rxgo.OptionalSingle over an observable of at most one
// item, observed afresh each time (see rxSingle). marked is the same
// observable with an emptyMarker item where the other has none.
type rxMaybe struct {
	obs, marked rxgo.Observable
}

// Observe implements rxgo.Iterable.
func (r rxMaybe) Observe(opts ...rxgo.Option) <-chan rxgo.Item { return r.obs.Observe(opts...) }

// Get returns the item, or rxgo.OptionalSingleEmpty when there is none.
// An observation cut short by its context gives an error instead.
func (r rxMaybe) Get(opts ...rxgo.Option) (rxgo.Item, error) {
	item, err := first(r.marked, opts)
	if err == nil {
		if _, empty := item.V.(emptyMarker); empty {
			return rxgo.OptionalSingleEmpty, nil
		}
	}
	return item, err
}

// Map implements rxgo.OptionalSingle. The marker passes through apply
// untouched.
func (r rxMaybe) Map(apply rxgo.Func, opts ...rxgo.Option) rxgo.OptionalSingle {
	return rxMaybe{
		obs: r.obs.Map(apply, opts...),
		marked: r.marked.Map(func(ctx context.Context, v any) (any, error) {
			if _, empty := v.(emptyMarker); empty {
				return v, nil
			}
			return apply(ctx, v)
		}, opts...),
	}
}

// Run implements rxgo.OptionalSingle.
func (r rxMaybe) Run(opts ...rxgo.Option) rxgo.Disposed { return r.obs.Run(opts...) }

// first observes obs for its one item, reading the observation to its end
// so that nothing is left running.
func first(obs rxgo.Observable, opts []rxgo.Option) (rxgo.Item, error) {
	ch := obs.Observe(opts...)
	item, ok := <-ch
	for range ch { // let the source finish; it sends nothing more
	}
	if !ok {
		return rxgo.Item{}, errNoItem
	}
	return item, nil
}

// Completable is the outcome of work that yields only success or an error,
// like RxJava's Completable. The zero Completable is a success.
type Completable struct {
	err error
	// later, when set, is the outcome of work still under way.
	later *pending[struct{}]
}

// CompletableOf returns a Completable of err: a success when nil.
func CompletableOf(err error) Completable { return Completable{err: err} }

// StartCompletable runs work once, now, in a goroutine of its own, and
// returns the Completable of its outcome, pending until work returns; see
// [StartSingle].
func StartCompletable(ctx context.Context, work func(context.Context) error) Completable {
	if err := checkStart(ctx, work == nil); err != nil {
		return CompletableOf(err)
	}
	p := newPending[struct{}]()
	go func() {
		defer recoverInto(p)
		err := work(ctx)
		p.settle(struct{}{}, err == nil, err)
	}()
	return Completable{later: p}
}

// settled returns the Completable with its outcome in hand, waiting for it
// as BlockingAwait does; the error is ctx's when ctx was done first.
func (c Completable) settled(ctx context.Context) (Completable, error) {
	if c.later == nil {
		return c, nil
	}
	if err := c.later.wait(ctx); err != nil {
		return Completable{}, err
	}
	return CompletableOf(c.later.err), nil
}

// BlockingAwait returns nil on success or the error, like blockingAwait.
// It waits for the outcome, and honours ctx, as [Single.BlockingGet]
// does.
func (c Completable) BlockingAwait(ctx context.Context) error {
	c, err := c.settled(ctx)
	if err != nil {
		return err
	}
	return c.err
}

// Subscribe calls onComplete on success or onError with the error, in the
// caller's goroutine before it returns (waiting for the outcome if the
// work is still under way). A nil callback is skipped.
func (c Completable) Subscribe(onComplete func(), onError func(error)) {
	if c.later != nil {
		<-c.later.done
		c, _ = c.settled(context.Background())
	}
	switch {
	case c.err != nil:
		if onError != nil {
			onError(c.err)
		}
	case onComplete != nil:
		onComplete()
	}
}

// Rx returns the outcome as an rxgo.Observable with no items that completes,
// or emits the error. rxgo ends a cancelled observation the way it ends a
// completed one, so cancelling may read as success: use BlockingAwait for
// the outcome.
func (c Completable) Rx(opts ...rxgo.Option) rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{c.produce}, opts...)
}

func (c Completable) produce(ctx context.Context, next chan<- rxgo.Item) {
	if c, err := c.settled(ctx); err == nil && c.err != nil {
		rxgo.Error(c.err).SendContext(ctx, next)
	}
}
