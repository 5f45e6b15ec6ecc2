package observable

import (
	"context"
	"fmt"
	"iter"
	"runtime/debug"
	"sync/atomic"

	"github.com/reactivex/rxgo/v2"

	"github.com/sessionlog/sessionlog/service"
)

// Stream is a cold sequence of items, like an RxJava Observable: nothing
// happens until it is observed, and each observation starts from the
// stream's beginning with a cursor of its own. A session's, a user's or an
// app's stream replays the log from its starting position and then follows
// it live; it completes when its session is deleted, and ends (without
// completing) when its observation is cancelled or disposed.
type Stream[T any] struct {
	follow func(ctx context.Context) iter.Seq2[T, error]
}

// All observes the stream in the caller's goroutine, as an iterator. The
// iteration ends when the stream completes, after yielding an error, when
// the loop breaks, or when ctx is done.
func (s Stream[T]) All(ctx context.Context) iter.Seq2[T, error] {
	if s.follow == nil {
		return func(func(T, error) bool) {}
	}
	return s.follow(ctx)
}

// BlockingForEach calls fn for each item in the caller's goroutine, like
// blockingForEach. It returns nil when the stream completes, the stream's
// error or fn's, or ctx's error when ctx is done first.
func (s Stream[T]) BlockingForEach(ctx context.Context, fn func(T) error) error {
	switch {
	case ctx == nil:
		return errNilCtx
	case fn == nil:
		return errNilFunc
	}
	for item, err := range s.All(ctx) {
		if err != nil {
			return err
		}
		if err := fn(item); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Subscribe observes the stream in a goroutine of its own, like subscribe
// with three callbacks: onNext for each item, then onError or onComplete
// once. A disposed or cancelled observation calls neither. The callbacks
// run one at a time, in order, in that goroutine. A nil callback is
// skipped. An onNext that panics ends the observation: onError gets
// [ErrPanicked], as RxJava hands what onNext throws to onError. A panic
// with no one to tell (no onError, or the observation disposed while
// onNext ran), and a panic of onError or onComplete, goes on.
//
// To end the observation from inside a callback, cancel ctx (the
// Disposable is not yet in the caller's hands when the first callback may
// run). Disposing or cancelling does not wait for the observation's
// goroutine: a callback under way finishes, and one more may start (its
// goroutine had checked for the end just before); after <-Done() none
// runs. So a caller that must know no callback runs any more (to free
// what the callbacks use, say) disposes and then waits for Done, outside
// the callbacks. A nil ctx calls onError at once, in the caller's
// goroutine.
func (s Stream[T]) Subscribe(ctx context.Context, onNext func(T), onError func(error), onComplete func()) *Disposable {
	d := &Disposable{done: make(chan struct{})}
	if ctx == nil {
		close(d.done)
		if onError != nil {
			onError(fmt.Errorf("observable: subscribe: %w: ctx is nil", service.ErrInvalidArgument))
		}
		return d
	}
	ctx, d.cancel = context.WithCancel(ctx)
	go func() {
		defer close(d.done)
		defer d.cancel()
		for item, err := range s.All(ctx) {
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				if onError != nil {
					onError(err)
				}
				return
			}
			if onNext == nil {
				continue
			}
			if r, err := callNext(onNext, item); err != nil {
				if ctx.Err() != nil || onError == nil {
					panic(r) // nobody to tell: the panic goes on, as it would have
				}
				onError(err)
				return
			}
		}
		if ctx.Err() == nil && onComplete != nil {
			onComplete()
		}
	}()
	return d
}

// callNext calls onNext with item, and returns, if it panicked, the
// panic's value and ErrPanicked with that value and the stack.
func callNext[T any](onNext func(T), item T) (r any, err error) {
	defer func() {
		if r = recover(); r != nil {
			err = fmt.Errorf("%w: %v\n%s", ErrPanicked, r, debug.Stack())
		}
	}()
	onNext(item)
	return nil, nil
}

// Rx returns the stream as an rxgo.Observable. Each Observe starts an
// observation with its own cursor; pass rxgo.WithContext and cancel it to
// end one early. Mind rxgo's ways: a context given to Observe replaces one
// given to Rx; a cancelled observation ends the way a completed one does
// (ForEach calls its completed function); and an operator such as Take(n)
// ends only when the item after its n-th arrives.
func (s Stream[T]) Rx(opts ...rxgo.Option) rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		for item, err := range s.All(ctx) {
			it := rxgo.Of(item)
			if err != nil {
				it = rxgo.Error(err)
			}
			if !it.SendContext(ctx, next) {
				return
			}
		}
	}}, opts...)
}

// Disposable is a running observation of a [Stream]. A nil or zero
// Disposable stands for an observation that has already ended.
type Disposable struct {
	cancel   context.CancelFunc
	done     chan struct{}
	disposed atomic.Bool
}

// Dispose ends the observation, like dispose. It does not wait (so it may
// be called from anywhere, a callback included): a callback may still
// start just after it returns (see [Stream.Subscribe]); Done tells when
// the observation's goroutine has ended.
func (d *Disposable) Dispose() {
	if d == nil {
		return
	}
	d.disposed.Store(true)
	if d.cancel != nil {
		d.cancel()
	}
}

// Done returns a channel that is closed once the observation has ended and
// its goroutine exited: completed, failed or disposed.
func (d *Disposable) Done() <-chan struct{} {
	if d == nil || d.done == nil {
		return closedDone
	}
	return d.done
}

var closedDone = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// IsDisposed reports whether the observation was disposed or has ended,
// like isDisposed.
func (d *Disposable) IsDisposed() bool {
	if d == nil || d.disposed.Load() {
		return true
	}
	select {
	case <-d.Done():
		return true
	default:
		return false
	}
}
