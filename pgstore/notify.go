package pgstore

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// waker hands out channels that close at the next change of an app (or of
// any app, for the empty name), made only when somebody waits.
type waker struct {
	mu     sync.Mutex
	apps   map[string]chan struct{}
	any    chan struct{}
	closed bool
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (w *waker) wait(app string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return closedChan
	}
	if app == "" {
		if w.any == nil {
			w.any = make(chan struct{})
		}
		return w.any
	}
	if w.apps == nil {
		w.apps = map[string]chan struct{}{}
	}
	ch := w.apps[app]
	if ch == nil {
		ch = make(chan struct{})
		w.apps[app] = ch
	}
	return ch
}

// fire wakes the waiters of app and of the whole store; an empty app
// wakes everybody.
func (w *waker) fire(app string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if app == "" {
		w.fireAllLocked()
		return
	}
	if ch := w.apps[app]; ch != nil {
		close(ch)
		delete(w.apps, app)
	}
	if w.any != nil {
		close(w.any)
		w.any = nil
	}
}

func (w *waker) fireAllLocked() {
	for app, ch := range w.apps {
		close(ch)
		delete(w.apps, app)
	}
	if w.any != nil {
		close(w.any)
		w.any = nil
	}
}

func (w *waker) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.fireAllLocked()
}

// listen holds a connection of its own that LISTENs for other replicas'
// appends and wakes the readers of the app each names, until ctx ends.
// When the connection fails it wakes everybody (a notification may have
// been lost) and connects again after a pause.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig) {
	defer s.workers.Done()
	const pause = 200 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		s.listenOnce(ctx, cfg)
		s.wake.fire("")
		timer.Reset(pause)
	}
}

func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return
	}
	s.wake.fire("") // anything may have happened before this connection listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return
		}
		s.wake.fire(n.Payload)
	}
}

// poll wakes every waiting reader each interval, so that a lost
// notification delays a reader by at most that long.
func (s *Store) poll(ctx context.Context, every time.Duration) {
	defer s.workers.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.wake.fire("")
		}
	}
}
