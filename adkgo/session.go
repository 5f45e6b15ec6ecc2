package adkgo

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/adk/v2/session"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// Session is the handle a [Service] returns, as the ADK's session.Session.
// It is what a runner holds for an invocation: its own appends show in its
// Events and State at once, and so do temp: keys set through it (which
// are never stored). Its app: and user: state is what the service merged
// when the handle was read, plus the handle's own writes; a later Get
// shows other sessions' writes. It is safe for concurrent use, as agents
// running in parallel read it while the runner appends.
//
// The events it holds are the store's own, handed to every reader without
// a copy: treat them as read-only, as the ADK's own services require.
//
// A Session the service did not return (the zero value, or nil) reads as
// an empty session with no key; AppendEvent and State().Set refuse it with
// ErrInvalidArgument.
type Session struct {
	svc *service.Service

	mu     sync.RWMutex
	h      *service.Session
	events []*session.Event // h.Events converted, in the same order
}

var _ session.Session = (*Session)(nil)

// made reports whether a Service made s: a nil or zero Session (built by
// hand) has no handle, and reads as an empty session with no key. The
// handle never changes once set, so no lock is needed to look.
func (s *Session) made() bool { return s != nil && s.h != nil }

// ID returns the session ID.
func (s *Session) ID() string { return s.Key().SessionID }

// AppName returns the app the session belongs to.
func (s *Session) AppName() string { return s.Key().AppName }

// UserID returns the user the session belongs to.
func (s *Session) UserID() string { return s.Key().UserID }

// Key returns the sessionlog key naming the session, for the calls of
// [Service.Sessionlog] such as Subscribe.
func (s *Session) Key() service.SessionKey {
	if !s.made() {
		return service.SessionKey{}
	}
	return s.h.Key()
}

// Version returns the sequence number of the last event the handle has
// seen: Sessionlog().Subscribe(ctx, s.Key(), s.Version()) follows the
// session from there on, without replaying what the handle holds.
func (s *Session) Version() uint64 {
	if !s.made() {
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.h.Version
}

// LastUpdateTime returns the creation time or the last event's timestamp.
func (s *Session) LastUpdateTime() time.Time {
	if !s.made() {
		return time.Time{}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.h.LastUpdateTime
}

// State returns the handle's merged state. Set changes the handle only, as
// it does in the ADK's services; state is stored through an event's
// StateDelta.
func (s *Session) State() session.State { return state{s} }

// Events returns the events the handle holds, oldest first: those it was
// read with and those appended through it since.
func (s *Session) Events() session.Events {
	if !s.made() {
		return events(nil)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return events(s.events[:len(s.events):len(s.events)])
}

// append stores ev, already converted to stored, through the handle and
// brings the handle and ev's storage-set fields up to date.
func (s *Session) append(ctx context.Context, svc *service.Service, ev *session.Event, stored *eventlog.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.h.Version
	got, err := svc.AppendEvent(ctx, s.h, stored)
	if err != nil {
		return fmt.Errorf("adkgo: %w", err)
	}
	if ev.Partial {
		return nil
	}
	ev.ID, ev.Timestamp = got.ID, got.Timestamp
	if s.h.Version == before {
		return nil // the session held this event ID already
	}
	view, err := ToADK(got)
	if err != nil {
		// FromADK made got, and every event it makes converts back.
		return fmt.Errorf("adkgo: event %q of session %s is stored but cannot be read back: %w", got.ID, s.h.Key(), err)
	}
	s.events = append(s.events, view)
	return nil
}

// state is a Session's merged state as the ADK's session.State.
type state struct{ s *Session }

// Get returns the value of key, or session.ErrStateKeyNotExist.
func (st state) Get(key string) (any, error) {
	if !st.s.made() {
		return nil, session.ErrStateKeyNotExist
	}
	st.s.mu.RLock()
	defer st.s.mu.RUnlock()
	v, ok := st.s.h.State[key]
	if !ok {
		return nil, session.ErrStateKeyNotExist // unwrapped: callers compare with ==
	}
	return v, nil
}

// Set sets key in the handle's state. A Session the service did not
// return has no state to set: ErrInvalidArgument.
func (st state) Set(key string, v any) error {
	if !st.s.made() {
		return fmt.Errorf("adkgo: set state key %q: %w: the session is not one a Service returned", key, service.ErrInvalidArgument)
	}
	st.s.mu.Lock()
	defer st.s.mu.Unlock()
	if st.s.h.State == nil {
		st.s.h.State = make(map[string]any)
	}
	st.s.h.State[key] = v
	return nil
}

// All iterates over a copy of the state taken when All is called.
func (st state) All() iter.Seq2[string, any] {
	if !st.s.made() {
		return maps.All(map[string]any(nil))
	}
	st.s.mu.RLock()
	snapshot := maps.Clone(st.s.h.State)
	st.s.mu.RUnlock()
	return maps.All(snapshot)
}

// events is a Session's events as the ADK's session.Events.
type events []*session.Event

// All yields the events in order.
func (e events) All() iter.Seq[*session.Event] { return slices.Values(e) }

// Len returns the number of events.
func (e events) Len() int { return len(e) }

// At returns the i-th event, or nil when i is out of range.
func (e events) At(i int) *session.Event {
	if i < 0 || i >= len(e) {
		return nil
	}
	return e[i]
}
