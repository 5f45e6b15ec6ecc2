package sqlrecord

import "sync"

// Waker hands out channels that close at the next change of an app (or of
// any app, for the empty name), made only when somebody waits: what a
// store's Changes returns. The zero value is ready for use.
type Waker struct {
	mu     sync.Mutex
	apps   map[string]chan struct{}
	any    chan struct{}
	closed bool
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Wait returns a channel closed at the next Fire of app (or of any app,
// for ""), or at Close; a closed one once the Waker is closed.
func (w *Waker) Wait(app string) <-chan struct{} {
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

// Fire wakes the waiters of app and of the whole store; an empty app
// wakes everybody.
func (w *Waker) Fire(app string) {
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

func (w *Waker) fireAllLocked() {
	for app, ch := range w.apps {
		close(ch)
		delete(w.apps, app)
	}
	if w.any != nil {
		close(w.any)
		w.any = nil
	}
}

// Close wakes everybody, and every later Wait returns a closed channel.
func (w *Waker) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	w.fireAllLocked()
}
