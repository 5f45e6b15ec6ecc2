package projection

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
)

// State is the fold of a log: every app's state, its users' states and its
// live sessions. The zero value is an empty state, ready for [State.Apply].
// A State is not safe for concurrent use: a store that serves state keeps
// its own, under its own locks, folded with the same functions.
type State struct {
	Apps map[string]*AppState
}

// AppState is one app's part of a [State]: the app's state, each user's
// state, and the live sessions. A store that keeps its sessions elsewhere
// may leave Sessions nil and use the rest with [AppState.ApplyShared] and
// [AppState.Merged].
type AppState struct {
	State    Shared
	Users    map[string]Shared
	Sessions map[eventlog.SessionKey]*SessionState
	// KeepHistory makes the fold keep, beside each app: and user: key,
	// every change it applies to the key, for reads of the state as it
	// stood at an earlier position ([AppState.MergedAsOf]).
	KeepHistory bool
}

// SessionState is a live session as the log defines it.
type SessionState struct {
	// State is the session's own state (no app:, user: or temp: keys).
	State map[string]any
	// Version is the sequence number of the session's last event.
	Version uint64
	// LastUpdateTime is the creation time, then each event's timestamp.
	LastUpdateTime time.Time
	// Created is the position of the creation record: the incarnation.
	Created eventlog.Position
}

// NewAppState returns an empty AppState, ready for the fold.
func NewAppState() *AppState {
	return &AppState{
		State:    Shared{},
		Users:    map[string]Shared{},
		Sessions: map[eventlog.SessionKey]*SessionState{},
	}
}

func (s *State) app(name string) *AppState {
	if s.Apps == nil {
		s.Apps = map[string]*AppState{}
	}
	a := s.Apps[name]
	if a == nil {
		a = NewAppState()
		s.Apps[name] = a
	}
	return a
}

// Apply folds one record into the state. It is pure in the sense that
// matters: the result depends only on the records applied, so replaying a
// log always gives the same state.
func (s *State) Apply(rec *eventlog.Record) {
	a := s.app(rec.Key.AppName)
	switch rec.Kind {
	case eventlog.KindSessionCreated:
		a.Sessions[rec.Key] = NewSession(rec)
	case eventlog.KindEventAppended:
		if ss := a.Sessions[rec.Key]; ss != nil {
			ss.ApplyEvent(rec, nil)
		}
	case eventlog.KindSessionDeleted:
		delete(a.Sessions, rec.Key)
	}
	a.ApplyShared(rec)
}

// NewSession returns the state of the session that a creation record
// starts: its own keys of the initial state (app: and user: keys go to
// the app, by [AppState.ApplyShared]), version 0, the creation time, and
// the record's position as its incarnation.
func NewSession(rec *eventlog.Record) *SessionState {
	return NewSessionWithHistory(rec, nil)
}

// NewSessionWithHistory is [NewSession] that also records the session's
// own keys of the initial state in own (when not nil), at version 0.
func NewSessionWithHistory(rec *eventlog.Record, own *History) *SessionState {
	ss := &SessionState{State: map[string]any{}, LastUpdateTime: rec.Time, Created: rec.Position}
	applyWrites(rec, ss.State, own, 0, nil)
	return ss
}

// ApplyEvent folds an appended event (a KindEventAppended record) into the
// session: its own keys, its version and its last update time; and, when
// a is not nil, its app: and user: writes into a in the same pass. It
// reports whether the event writes app or user state, so that a caller
// that passed a nil a knows whether it must fold them too
// ([AppState.ApplyShared]).
func (ss *SessionState) ApplyEvent(rec *eventlog.Record, a *AppState) (shared bool) {
	return ss.ApplyEventWithHistory(rec, a, nil)
}

// ApplyEventWithHistory is [SessionState.ApplyEvent] that also records
// the event's writes of the session's own keys in own (when not nil), at
// the event's sequence number, in the same pass.
func (ss *SessionState) ApplyEventWithHistory(rec *eventlog.Record, a *AppState, own *History) (shared bool) {
	shared = applyWrites(rec, ss.State, own, rec.Seq, a)
	ss.Version = rec.Seq
	ss.LastUpdateTime = rec.Time
	return shared
}

// FoldSession returns the state of a session as it stood after events, its
// first events in sequence order (the KindEventAppended records that
// follow created, its creation record): [NewSession] and
// [SessionState.ApplyEvent] over them, the fold every store serves a
// session's past from (CONTRACT T1).
func FoldSession(created *eventlog.Record, events []*eventlog.Record) *SessionState {
	ss := NewSession(created)
	for _, rec := range events {
		ss.ApplyEvent(rec, nil)
	}
	return ss
}

// ApplyShared folds the app: and user: writes of a record of any kind (a
// creation's initial state, an event's delta, a retained record's state).
// Each write carries its record's position, and the write of the highest
// position wins, so records may be folded here in any order.
func (a *AppState) ApplyShared(rec *eventlog.Record) {
	applyWrites(rec, nil, nil, 0, a)
}

// applyWrites folds rec's writes in one pass: its session keys into own
// (and into ownHistory at point ownAt) and its app: and user: keys into a
// (with their histories when a keeps them), each skipped when nil. It is the one place that sorts
// writes by scope for the fold and for the histories, so that both keep
// the same rules. It reports whether rec writes app or user state.
func applyWrites(rec *eventlog.Record, own map[string]any, ownHistory *History, ownAt uint64, a *AppState) (shared bool) {
	var user Shared
	for k, v := range rec.Writes() {
		switch in, _ := scopeOf(k); in {
		case inSession:
			if own != nil {
				set(own, k, v)
				if ownHistory != nil {
					ownHistory.record(k, ownAt)
				}
			}
		case inApp:
			shared = true
			if a != nil {
				a.State.write(k, v, rec.Position, a.KeepHistory)
			}
		case inUser:
			shared = true
			if a != nil {
				if user == nil {
					user = a.user(rec.Key.UserID)
				}
				user.write(k, v, rec.Position, a.KeepHistory)
			}
		}
	}
	return shared
}

func (a *AppState) user(id string) Shared {
	u := a.Users[id]
	if u == nil {
		u = Shared{}
		a.Users[id] = u
	}
	return u
}

// Merged returns a session's state as a handle shows it: its own keys, and
// the app's and the user's under their prefixes. Values are deep copies.
func (a *AppState) Merged(key eventlog.SessionKey, own map[string]any) map[string]any {
	user := a.Users[key.UserID]
	out := make(map[string]any, len(own)+len(a.State)+len(user))
	for k, v := range own {
		out[k] = eventlog.CloneValue(v)
	}
	a.State.mergeInto(out)
	user.mergeInto(out)
	return out
}

// rebuildBatch is how many records Rebuild reads at a time.
const rebuildBatch = 4096

// Rebuild replays a store's whole log into a new State.
func Rebuild(ctx context.Context, store eventlog.Store) (*State, error) {
	return RebuildFrom(Records(ctx, store))
}

// RebuildFrom folds a sequence of records, in order, into a new State. It
// stops at the first error the sequence yields.
func RebuildFrom(records iter.Seq2[*eventlog.Record, error]) (*State, error) {
	s := &State{Apps: map[string]*AppState{}}
	for rec, err := range records {
		if err != nil {
			return nil, fmt.Errorf("rebuild: %w", err)
		}
		s.Apply(rec)
	}
	s.dropEmptyApps()
	return s, nil
}

// dropEmptyApps removes apps with no sessions and no state, which a fold
// can leave behind, so that equal logs give equal States.
func (s *State) dropEmptyApps() {
	for name, a := range s.Apps {
		if len(a.State) == 0 && len(a.Users) == 0 && len(a.Sessions) == 0 {
			delete(s.Apps, name)
		}
	}
}

// Records iterates over a store's whole log in position order, as it is
// when each batch is read: what [Rebuild] folds and what an export writes.
func Records(ctx context.Context, store eventlog.Store) iter.Seq2[*eventlog.Record, error] {
	return RecordsAfter(ctx, store, 0)
}

// RecordsAfter iterates over the records of a store's whole log after
// position after, in position order, as [Records] does.
func RecordsAfter(ctx context.Context, store eventlog.Store, after eventlog.Position) iter.Seq2[*eventlog.Record, error] {
	return func(yield func(*eventlog.Record, error) bool) {
		for {
			recs, through, err := store.Read(ctx, eventlog.Scope{}, after, rebuildBatch)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, rec := range recs {
				if !yield(rec, nil) {
					return
				}
			}
			if len(recs) == 0 && through <= after {
				return // a read that got nowhere: the log ends here
			}
			after = max(after, through)
		}
	}
}
