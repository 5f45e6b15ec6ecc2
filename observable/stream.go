package observable

import (
	"context"
	"iter"

	"github.com/reactivex/rxgo/v2"
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
// skipped.
func (s Stream[T]) Subscribe(ctx context.Context, onNext func(T), onError func(error), onComplete func()) *Disposable {
	ctx, cancel := context.WithCancel(ctx)
	d := &Disposable{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		defer cancel()
		for item, err := range s.All(ctx) {
			if err != nil {
				if onError != nil {
					onError(err)
				}
				return
			}
			if onNext != nil {
				onNext(item)
			}
		}
		if ctx.Err() == nil && onComplete != nil {
			onComplete()
		}
	}()
	return d
}

// Rx returns the stream as an rxgo.Observable. Each Observe starts an
// observation with its own cursor; pass rxgo.WithContext and cancel it to
// end one early.
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

// Disposable is a running observation of a [Stream].
type Disposable struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Dispose ends the observation, like dispose. It does not wait (so it may
// be called from a callback); Done tells when the observation's goroutine
// has ended.
func (d *Disposable) Dispose() { d.cancel() }

// Done returns a channel that is closed once the observation has ended and
// its goroutine exited: completed, failed or disposed.
func (d *Disposable) Done() <-chan struct{} { return d.done }

// IsDisposed reports whether the observation has ended, like isDisposed.
func (d *Disposable) IsDisposed() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}
