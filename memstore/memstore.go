// Package memstore is the in-memory [eventlog.Store]: sessionlog's default
// store and the reference implementation of the seam. With a [Journal] it
// is the core of a durable store: the journal keeps the records, the
// memory store serves them and the state they fold to.
//
// # Locks
//
// Each app has a lock that orders its log (it hands out positions), and
// guards the app's and its users' state and each user's sorted list of
// sessions. Each session has a lock over its records, events, event ID
// index and own state. A writer takes its session's lock first and the
// app's second; nothing that holds an app's lock waits for a session's.
//
// An append checks its conditions under its session's lock, then holds
// the app's lock to take the next position, hand the record to the
// journal, put it at the end of the app's log and fold its delta (the
// app's and the user's keys, which must show as soon as the record does,
// and the session's own in the same pass): a few instructions and a map
// write per key. The session's own state is folded before its lock is
// released. So a reader of the session (Load, a session Read) sees all of
// an append or none of it (CONTRACT A4), and a reader that found a record
// in the log and then loads its session finds the record's state folded.
// Appends to different sessions of one app wait for each other only
// while the record is ordered. A deletion works out what its session
// leaves behind (CONTRACT D3) under the session's lock alone, and holds
// the app only to put that in place in the app's log.
//
// Load serves a session's merged state from a cache kept per session and
// checked against two generation counters (the session's own, and its
// app's for app and user state), so that a Load of a session nobody
// changed costs one copy of the map. Its events are the store's own,
// read-only, in a capped slice. Load of a past version (AsOf) reads
// per-key histories of the points that changed each key, which the fold
// keeps as it appends (projection.History), and takes each value from the
// record at the point found: its cost is about a Load's, however long the
// session or the app's log.
package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/index"
	"github.com/sessionlog/sessionlog/internal/sessionmap"
	"github.com/sessionlog/sessionlog/projection"
)

// Store is the in-memory [eventlog.Store]. Make one with [New] or [Open].
// It is safe for concurrent use.
type Store struct {
	apps     index.Index[string, *app]
	newAppMu sync.Mutex
	newApp   watch         // fired when an app is created
	last     atomic.Uint64 // the last position handed out
	// stored is the highest position in an app's log. A read reports how
	// far it got no further than this: a position handed out to a record
	// whose journal write failed is never stored, and a durable store that
	// restarts may hand the same number out again, so no reader may have
	// been told it was passed.
	stored  atomic.Uint64
	closed  atomic.Bool
	journal Journal // nil: none
}

// Options configure a store made by [Open]. The zero value gives a plain
// in-memory store.
type Options struct {
	// Journal, when set, is replayed by Open to fill the store, and then
	// written with every record the store appends.
	Journal Journal
}

// Journal is what keeps a store's records beyond the process: a store
// made by [Open] with a journal writes every record to it before any
// reader can see the record, and is filled from it at Open.
type Journal interface {
	// Replay calls restore with each journaled record, in the order
	// written (per app: position order). restore puts it back at its
	// own Position; a deletion of a session that does not exist is kept
	// as it is (a journal that dropped a deleted session's records keeps
	// its deletion). restore checks the conditions Append checks and
	// returns the error of a record that fails them; Replay should stop
	// and return it. restore may be called only while Replay runs, from
	// one goroutine at a time.
	Replay(ctx context.Context, restore func(*eventlog.Record) error) error
	// Write is called with each record once its conditions passed and
	// its Position (and Seq) are set, under the lock that orders its
	// app, before any reader can see it: the records of one app reach it
	// in position order, those of different apps in any order. An error:
	// the record is not stored, its position is never used, and Append
	// returns the error. durable (may be nil) is handed to the caller as
	// [eventlog.AppendResult.Durable]; it may be called more than once,
	// and concurrently, because an append of a duplicate event waits on
	// the durability of the session's last record. Write must be quick
	// and must not call the store.
	Write(rec *eventlog.Record) (durable func() error, err error)
	// WriteBatch is Write for the records of one [Store.AppendBatch], in
	// position order: the journal keeps all of them or, after a crash,
	// none (Replay must not hand back a part of a batch). An error: none
	// of them is stored.
	WriteBatch(recs []*eventlog.Record) (durable func() error, err error)
}

// app is one app: its log, its state and the index of its sessions.
type app struct {
	// mu orders the app's log; it guards every field below but
	// sessions and sharedGen. Taken after a session's mu, never before.
	mu    sync.RWMutex
	log   []logEntry // every record of the app, in position order
	holes int        // entries of log whose record was freed
	// state is the app's and its users' state (Sessions unused: the
	// index below holds the sessions), with the history of its keys kept.
	state *projection.AppState
	// sharedGen counts the changes to state (app and user state), so that a
	// session's cached merged state knows when it is out of date. Changed
	// under mu held for writing; read without it.
	sharedGen atomic.Uint64
	// sessions is the index every call looks its session up in; its
	// shards keep calls on different sessions off each other's locks and
	// off mu. Changed under mu, with byUser; read without mu.
	sessions sessionmap.Map[*session]
	// byUser holds each user's sessions sorted by session ID, so that a
	// listing walks them in order instead of sorting them on every call.
	byUser map[string][]*session
	// epoch counts the creations and deletions of sessions.
	epoch uint64
	// freed is the highest position of the records deletions freed in the
	// app, and userFreed the same per user: an app or user reader behind
	// it would miss records (eventlog.ErrCompacted).
	freed     eventlog.Position
	userFreed map[string]eventlog.Position
	wake      watch
}

// logEntry keeps the position beside the record so that a freed record
// leaves a hole that binary search can still step over.
type logEntry struct {
	pos eventlog.Position
	rec *eventlog.Record // nil: freed
}

// session is one live session (or, once deleted is set, a dead one that a
// caller may still hold).
type session struct {
	// mu guards the fields below but merged; a.mu, when both are held,
	// is taken second.
	mu      sync.RWMutex
	app     *app
	key     eventlog.SessionKey
	deleted bool
	created *eventlog.Record
	records []*eventlog.Record // the events' records; records[i].Seq == i+1
	events  []*eventlog.Event
	ids     idIndex
	// timeOrdered says the events' timestamps never decrease, which lets
	// Load's After filter search rather than scan.
	timeOrdered bool
	// st is the session's own state, version, last update and
	// incarnation; ownGen counts its changes.
	st     *projection.SessionState
	ownGen uint64
	// hist is the history of the session's own keys, by version, for
	// reads of its past (viewAsOf); the app's state keeps the history of
	// its app: and user: keys.
	hist projection.History
	// durable waits for the durability of the session's last record (nil:
	// nothing to wait for).
	durable func() error
	// merged caches the merged state: reads copy it rather than merge the
	// three scopes anew, which is most of the cost of a Load or a List.
	merged atomic.Pointer[mergedState]
	wake   watch
}

// mergedState is a session's merged state as of the generations it was
// built at. Its map is never changed once stored; readers get copies.
type mergedState struct {
	sharedGen, ownGen uint64
	state             map[string]any
	// nested says a value is a map or slice, which a copy for a caller
	// must copy too; scalars need no copy.
	nested bool
}

// watch is a broadcast signal: a channel closed at the next change, made
// only when somebody waits for it. Guarded by its owner's lock.
type watch struct {
	ch      chan struct{}
	watched bool
}

func (w *watch) wait() <-chan struct{} {
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	w.watched = true
	return w.ch
}

func (w *watch) fire() {
	if w.watched {
		close(w.ch)
		w.ch, w.watched = nil, false
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// New returns an empty store without a journal.
func New() *Store { return &Store{} }

// Open returns a store that writes every record to opts.Journal, filled
// first with the records the journal replays. Later appends take positions
// after the highest one replayed.
func Open(ctx context.Context, opts Options) (*Store, error) {
	m := New()
	if opts.Journal == nil {
		return m, nil
	}
	replaying := true
	err := opts.Journal.Replay(ctx, func(rec *eventlog.Record) error {
		if !replaying {
			return fmt.Errorf("memstore: restore of a %s record after the replay ended: %w", kindOf(rec), eventlog.ErrInvalidArgument)
		}
		_, err := m.append(rec, placeRestored)
		return err
	})
	replaying = false
	if err != nil {
		return nil, fmt.Errorf("memstore: replay the journal: %w", err)
	}
	m.journal = opts.Journal
	return m, nil
}

func kindOf(rec *eventlog.Record) eventlog.Kind {
	if rec == nil {
		return 0
	}
	return rec.Kind
}

var _ eventlog.Store = (*Store)(nil)

func (m *Store) check(ctx context.Context) error {
	if m.closed.Load() {
		return eventlog.ErrClosed
	}
	return ctx.Err()
}

// app returns the app called name, made first when create is set; nil if
// there is none.
func (m *Store) app(name string, create bool) *app {
	if a, ok := m.apps.Get(name); ok || !create {
		return a
	}
	a, created := m.apps.GetOrCreate(name, func() *app {
		state := projection.NewAppState()
		state.KeepHistory = true
		return &app{state: state, byUser: map[string][]*session{}}
	})
	if created {
		// Wake those waiting for an app that did not exist: it may be
		// this one. The app is in the index by now, and a waiter looks in
		// the index under newAppMu before it waits, so none is missed.
		m.newAppMu.Lock()
		m.newApp.fire()
		m.newAppMu.Unlock()
	}
	return a
}

// lookup returns the session at key, or nil.
func (a *app) lookup(key eventlog.SessionKey) *session {
	s, _ := a.sessions.Get(key.UserID, key.SessionID)
	return s
}

// lockSession finds the live session at key and locks it for writing.
func (m *Store) lockSession(a *app, key eventlog.SessionKey) (*session, error) {
	for {
		s := a.lookup(key)
		if s == nil {
			return nil, fmt.Errorf("session %s: %w", key, eventlog.ErrNotFound)
		}
		s.mu.Lock()
		if m.closed.Load() {
			s.mu.Unlock()
			return nil, eventlog.ErrClosed
		}
		if !s.deleted {
			return s, nil
		}
		s.mu.Unlock() // deleted meanwhile: look again
	}
}

// rlockSession finds the live session at key and locks it for reading;
// nil if there is none.
func (a *app) rlockSession(key eventlog.SessionKey) *session {
	for {
		s := a.lookup(key)
		if s == nil {
			return nil
		}
		s.mu.RLock()
		if !s.deleted {
			return s
		}
		s.mu.RUnlock()
	}
}

// view returns the session's view, without events. The caller holds s.mu
// (and s.app.mu for writing when appLocked).
func (s *session) view(appLocked bool) eventlog.View {
	return eventlog.View{
		Key:            s.key,
		Created:        s.st.Created,
		Version:        s.st.Version,
		LastUpdateTime: s.st.LastUpdateTime,
		State:          s.mergedState(appLocked),
	}
}

// mergedState returns a private copy of the session's merged state, from
// the cache when neither the session's nor the app's state has changed
// since it was built. The caller holds s.mu, which keeps the session's
// generation still, and, when appLocked, s.app.mu for writing; otherwise
// the cache is rebuilt under s.app.mu held for reading. Readers may race
// to refresh the cache, and each stores an equal map.
func (s *session) mergedState(appLocked bool) map[string]any {
	a := s.app
	c := s.merged.Load()
	if c == nil || c.ownGen != s.ownGen || c.sharedGen != a.sharedGen.Load() {
		if !appLocked {
			a.mu.RLock()
		}
		c = &mergedState{sharedGen: a.sharedGen.Load(), ownGen: s.ownGen, state: a.state.Merged(s.key, s.st.State)}
		if !appLocked {
			a.mu.RUnlock()
		}
		for _, v := range c.state {
			if eventlog.NeedsClone(v) {
				c.nested = true
				break
			}
		}
		s.merged.Store(c)
	}
	out := maps.Clone(c.state)
	if c.nested {
		for k, v := range out {
			out[k] = eventlog.CloneValue(v)
		}
	}
	return out
}

// findSession finds the place of session ID id in a user's sorted list.
func findSession(list []*session, id string) (int, bool) {
	return slices.BinarySearchFunc(list, id, func(s *session, id string) int { return strings.Compare(s.key.SessionID, id) })
}

// addSession puts s into the index and its user's sorted list. The caller
// holds a.mu for writing.
func (a *app) addSession(s *session) {
	a.sessions.Put(s.key.UserID, s.key.SessionID, s)
	list := a.byUser[s.key.UserID]
	i, _ := findSession(list, s.key.SessionID)
	a.byUser[s.key.UserID] = slices.Insert(list, i, s)
	a.epoch++
}

// removeSession takes s out of the index and its user's sorted list. The
// caller holds a.mu for writing.
func (a *app) removeSession(s *session) {
	a.sessions.CompareAndDelete(s.key.UserID, s.key.SessionID, s)
	list := a.byUser[s.key.UserID]
	if i, found := findSession(list, s.key.SessionID); found && list[i] == s {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(a.byUser, s.key.UserID)
	} else {
		a.byUser[s.key.UserID] = list
	}
	a.epoch++
}
