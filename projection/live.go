package projection

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/index"
	"github.com/sessionlog/sessionlog/internal/sessionmap"
)

// Live is the current projection of a log, safe for concurrent use. Its
// zero value is empty and ready.
//
// Locks follow the data: one per app (app state, user states, the index of
// sessions) and one per session (its state and version). An update locks
// its session for the whole commit, so a reader of that session sees an
// append's event and every part of its delta, or none of it (CONTRACT A4),
// while appends to other sessions go on. Shared writes carry their log
// position, so the order in which concurrent updates fold them does not
// matter (see [Entry]).
type Live struct {
	apps index.Index[string, *liveApp]
}

type liveApp struct {
	mu    sync.RWMutex
	state *AppState // Sessions unused: the index below holds them
	// sharedGen counts the changes to the app's and its users' state, so
	// that a session's cached merged state knows when it is out of date.
	sharedGen uint64
	// sessions is the index a call looks its session up in; its shards
	// keep calls on different sessions off each other's locks. Changed
	// under mu, with byUser.
	sessions sessionmap.Map[*liveSession]
	// byUser holds each user's sessions sorted by session ID, so that a
	// listing walks them in order instead of sorting them on every call.
	byUser map[string][]*liveSession
}

type liveSession struct {
	mu  sync.RWMutex
	app *liveApp
	key eventlog.SessionKey
	st  *SessionState
	// gone says the session was deleted, or replaced at its key by a
	// newer incarnation (which a shared store's other writers can do
	// before this projection folds the deletion). It is atomic because a
	// replacement marks it under the app lock alone.
	gone atomic.Bool
	// ownGen counts the changes to the session's own state; guarded by mu.
	ownGen uint64
	// merged caches the merged state: reads copy it rather than merge the
	// three scopes anew, which is most of the cost of a Get or a List.
	merged atomic.Pointer[mergedState]
}

// mergedState is a session's merged state as of the generations it was
// built at. Its map is never changed once stored; readers get copies.
type mergedState struct {
	sharedGen, ownGen uint64
	state             map[string]any
	// nested says a value is a map or slice, which a copy for a caller
	// must copy too; scalars are shared.
	nested bool
}

// SessionView is what an update or a read sees of a session.
type SessionView struct {
	Key            eventlog.SessionKey
	Version        uint64
	LastUpdateTime time.Time
	Created        eventlog.Position
	// State is the merged state (own, app:, user: keys), a private copy.
	State map[string]any
}

func (l *Live) app(name string, create bool) *liveApp {
	if !create {
		a, _ := l.apps.Get(name)
		return a
	}
	a, _ := l.apps.GetOrCreate(name, func() *liveApp {
		return &liveApp{
			state:  newAppState(),
			byUser: map[string][]*liveSession{},
		}
	})
	return a
}

// Create runs commit while no other create or delete can touch key's app
// index, and folds the record commit returns (a creation) into the
// projection. commit writes the record to the log; its error is returned
// as is.
func (l *Live) Create(key eventlog.SessionKey, commit func() (*eventlog.Record, error)) (SessionView, error) {
	a := l.app(key.AppName, true)
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, err := commit()
	if err != nil {
		return SessionView{}, err
	}
	s := a.addSession(rec)
	defer s.mu.Unlock()
	return s.viewLocked(), nil
}

// addSession folds a creation record and returns the new session locked
// for writing: the index makes it findable by lookups that do not take
// a.mu, and none of them may change it, or read it, before the caller is
// done with it. The caller holds a.mu for writing and unlocks s.mu.
func (a *liveApp) addSession(rec *eventlog.Record) *liveSession {
	s := &liveSession{app: a, key: rec.Key, st: newSession(rec)}
	s.mu.Lock() // nobody else can know s yet, so this never waits
	if old, ok := a.sessions.Get(rec.Key.UserID, rec.Key.SessionID); ok {
		old.gone.Store(true) // an Update waiting for it must not commit through it
	}
	a.sessions.Put(rec.Key.UserID, rec.Key.SessionID, s)
	a.byUser[rec.Key.UserID] = insertSorted(a.byUser[rec.Key.UserID], s)
	a.applyShared(rec)
	return s
}

// applyShared folds rec's app: and user: writes. The caller holds a.mu
// for writing.
func (a *liveApp) applyShared(rec *eventlog.Record) {
	a.state.applyShared(rec)
	a.sharedGen++
}

// apply folds an appended event into the session's own state, and into
// app state a when it is not nil (see SessionState.apply), and reports
// whether it writes app or user state. The caller holds s.mu for writing,
// and s.app.mu too when a is not nil, and then bumps sharedGen if shared.
func (s *liveSession) apply(rec *eventlog.Record, a *AppState) (shared bool) {
	s.ownGen++
	return s.st.apply(rec, a)
}

// removeSession folds the deletion of s. The caller holds s.mu and a.mu
// for writing. A create may have registered a new session at the key
// between the deletion's commit and this fold; that one stays.
func (a *liveApp) removeSession(s *liveSession) {
	s.gone.Store(true)
	if !a.sessions.CompareAndDelete(s.key.UserID, s.key.SessionID, s) {
		return
	}
	ids := a.byUser[s.key.UserID]
	if i, found := findSession(ids, s.key.SessionID); found {
		ids = slices.Delete(ids, i, i+1)
	}
	if len(ids) == 0 {
		delete(a.byUser, s.key.UserID)
	} else {
		a.byUser[s.key.UserID] = ids
	}
}

// findSession finds the place of session ID id in a user's sorted list.
func findSession(ids []*liveSession, id string) (int, bool) {
	return slices.BinarySearchFunc(ids, id, func(s *liveSession, id string) int { return strings.Compare(s.key.SessionID, id) })
}

// insertSorted puts s into a user's sorted list, in place of the session
// it replaces at its key if there is one.
func insertSorted(ids []*liveSession, s *liveSession) []*liveSession {
	i, found := findSession(ids, s.key.SessionID)
	if found {
		ids[i] = s
		return ids
	}
	return slices.Insert(ids, i, s)
}

// lock finds the live session at key and locks it (for writing or reading),
// or reports ErrNotFound.
func (l *Live) lock(key eventlog.SessionKey, write bool) (*liveSession, error) {
	for {
		a := l.app(key.AppName, false)
		if a == nil {
			return nil, fmt.Errorf("session %s: %w", key, eventlog.ErrNotFound)
		}
		s, _ := a.sessions.Get(key.UserID, key.SessionID)
		if s == nil {
			// A creation holds the app across its commit, and a reader
			// that found its record in the log must find the session:
			// look again once no creation is under way.
			a.mu.RLock()
			s, _ = a.sessions.Get(key.UserID, key.SessionID)
			a.mu.RUnlock()
		}
		if s == nil {
			return nil, fmt.Errorf("session %s: %w", key, eventlog.ErrNotFound)
		}
		if write {
			s.mu.Lock()
		} else {
			s.mu.RLock()
		}
		if !s.gone.Load() {
			return s, nil
		}
		// Deleted between the lookup and the lock: look again, a new
		// session may live at the key by now.
		if write {
			s.mu.Unlock()
		} else {
			s.mu.RUnlock()
		}
	}
}

// SessionInfo is what an update needs to know of the session it changes.
type SessionInfo struct {
	Key     eventlog.SessionKey
	Version uint64
	Created eventlog.Position
}

// Update locks the session at key and calls commit with what it needs to
// know of it. commit writes to the log and returns the committed record (an
// append or a deletion of this session), or nil when it wrote nothing;
// Update folds the record in before unlocking. A missing session gives
// ErrNotFound without calling commit.
//
// shared says the commit will touch what other sessions see: app or user
// state, or the app's list of sessions (a deletion). The app is then locked
// across the commit as well, so that nobody sees the record in the log
// before its effect in the projection (a subscriber that reads a record
// and then calls Get sees it folded). A commit that needs the app after all
// takes it afterwards.
func (l *Live) Update(key eventlog.SessionKey, shared bool, commit func(SessionInfo) (*eventlog.Record, error)) error {
	s, err := l.lock(key, true)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	appLocked := shared
	if shared {
		s.app.mu.Lock()
	}
	defer func() {
		if appLocked {
			s.app.mu.Unlock()
		}
	}()
	rec, err := commit(s.info())
	if err != nil || rec == nil {
		return err
	}
	return s.fold(rec, &appLocked)
}

// UpdateInTwoSteps is [Live.Update] with shared set, for a commit with
// slow work to do before its record becomes visible, such as a deletion
// through eventlog.Memory.PrepareDelete: prepare does that work with the
// session locked but not the app, and returns commit, which runs with the
// app locked too and whose record is folded. The app is held from just
// before the record becomes visible, rather than for the slow part. A nil
// commit (with a nil error) means there is nothing to write.
//
// prepare may lock what its store needs for the session; commit then takes
// the app. That is safe as long as nobody who holds an app waits for a
// store's lock on a session other than one whose projection lock it holds:
// Update's commits lock only their own session, and reads hold the app
// only briefly and call no store under it. Keep it so.
func (l *Live) UpdateInTwoSteps(key eventlog.SessionKey, prepare func(SessionInfo) (commit func() (*eventlog.Record, error), err error)) error {
	s, err := l.lock(key, true)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	commit, err := prepare(s.info())
	if err != nil || commit == nil {
		return err
	}
	s.app.mu.Lock()
	defer s.app.mu.Unlock()
	rec, err := commit()
	if err != nil || rec == nil {
		return err
	}
	appLocked := true
	return s.fold(rec, &appLocked)
}

func (s *liveSession) info() SessionInfo {
	return SessionInfo{Key: s.key, Version: s.st.Version, Created: s.st.Created}
}

// fold folds a record an update of s committed. The caller holds s.mu,
// and s.app.mu if *appLocked; fold takes the app if it must, sets
// *appLocked, and leaves the unlocking to the caller.
func (s *liveSession) fold(rec *eventlog.Record, appLocked *bool) error {
	lockApp := func() {
		if !*appLocked {
			s.app.mu.Lock()
			*appLocked = true
		}
	}
	switch rec.Kind {
	case eventlog.KindEventAppended:
		if *appLocked {
			// The app is held already: one pass folds every scope.
			if s.apply(rec, s.app.state) {
				s.app.sharedGen++
			}
		} else if s.apply(rec, nil) {
			lockApp()
			s.app.applyShared(rec)
		}
	case eventlog.KindSessionDeleted:
		lockApp()
		s.app.removeSession(s)
	default:
		return fmt.Errorf("projection: update of %s folded a %s record", s.key, rec.Kind)
	}
	return nil
}

// View calls fn with a consistent view of the session at key: no update of
// it is half-seen. fn must not call back into l for the same session.
func (l *Live) View(key eventlog.SessionKey, fn func(SessionView) error) error {
	s, err := l.lock(key, false)
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return fn(s.view())
}

// view builds the session's view. The caller holds s.mu.
func (s *liveSession) view() SessionView {
	s.app.mu.RLock()
	defer s.app.mu.RUnlock()
	return s.viewLocked()
}

// viewLocked builds the session's view. The caller holds s.mu, or s.app.mu
// for writing, and s.app.mu at least for reading.
func (s *liveSession) viewLocked() SessionView {
	return SessionView{
		Key:            s.key,
		Version:        s.st.Version,
		LastUpdateTime: s.st.LastUpdateTime,
		Created:        s.st.Created,
		State:          s.mergedState(),
	}
}

// mergedState returns a private copy of the session's merged state, from
// the cache when neither the session's nor the app's state has changed
// since it was built. The locks viewLocked needs keep both generations
// still; readers holding them for reading may race to refresh the cache,
// and each stores an equal map.
func (s *liveSession) mergedState() map[string]any {
	c := s.merged.Load()
	if c == nil || c.sharedGen != s.app.sharedGen || c.ownGen != s.ownGen {
		c = &mergedState{sharedGen: s.app.sharedGen, ownGen: s.ownGen, state: s.app.state.Merged(s.key, s.st.State)}
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

// Sessions returns views of the live sessions of user in app (every user's
// when user is empty) whose (user ID, session ID) sorts after the pair
// (afterUser, afterID), in that order, at most limit of them. Each view is
// consistent on its own; the list is not one snapshot.
func (l *Live) Sessions(app, user, afterUser, afterID string, limit int) []SessionView {
	a := l.app(app, false)
	if a == nil || limit <= 0 {
		return nil
	}
	var out []SessionView
	for len(out) < limit {
		picked := a.pick(user, afterUser, afterID, limit-len(out))
		if len(picked) == 0 {
			break
		}
		if out == nil {
			out = make([]SessionView, 0, len(picked))
		}
		for _, s := range picked {
			s.mu.RLock()
			if !s.gone.Load() { // deleted since it was picked
				out = append(out, s.view())
			}
			s.mu.RUnlock()
		}
		last := picked[len(picked)-1].key
		afterUser, afterID = last.UserID, last.SessionID
	}
	return out
}

// pick returns the first n sessions of user (every user's when user is
// empty) after (afterUser, afterID), in order, from the sorted lists.
func (a *liveApp) pick(user, afterUser, afterID string, n int) []*liveSession {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var picked []*liveSession
	// take adds u's sessions after (afterUser, afterID) and reports
	// whether there is room for more.
	take := func(u string) bool {
		ids, i := a.byUser[u], 0
		if u == afterUser {
			var found bool
			if i, found = findSession(ids, afterID); found {
				i++
			}
		}
		for _, s := range ids[i:] {
			if len(picked) == n {
				return false
			}
			picked = append(picked, s)
		}
		return len(picked) < n
	}
	if user != "" {
		if user >= afterUser {
			picked = make([]*liveSession, 0, min(n, len(a.byUser[user])))
			take(user)
		}
		return picked
	}
	users := make([]string, 0, len(a.byUser))
	for u := range a.byUser {
		if u >= afterUser {
			users = append(users, u)
		}
	}
	slices.Sort(users)
	for _, u := range users {
		if !take(u) {
			break
		}
	}
	return picked
}

// Apply folds a record committed to the log outside Create and Update: the
// log a service finds when it opens a store, and the records that other
// writers append to a shared one. It folds as [State.Apply] does, so that
// the two agree on any log (CONTRACT R1), and it skips what the projection
// already holds, because a record may reach it twice (once from the Update
// that committed it, once from a read of the log): a creation of a session
// that lives at its key from that position on, an event at or below its
// session's version or older than its session, a deletion of a newer
// session. App and user writes fold by position, so repeating them changes
// nothing.
func (l *Live) Apply(rec *eventlog.Record) {
	a := l.app(rec.Key.AppName, true)
	var s *liveSession
	if rec.Kind == eventlog.KindEventAppended || rec.Kind == eventlog.KindSessionDeleted {
		s, _ = l.lock(rec.Key, true)
		if s != nil {
			defer s.mu.Unlock()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch rec.Kind {
	case eventlog.KindSessionCreated:
		if old, _ := a.sessions.Get(rec.Key.UserID, rec.Key.SessionID); old == nil || old.st.Created < rec.Position {
			a.addSession(rec).mu.Unlock()
			return // addSession folds the shared writes
		}
	case eventlog.KindEventAppended:
		if s != nil && s.st.Created < rec.Position && rec.Seq > s.st.Version {
			s.apply(rec, nil)
		}
	case eventlog.KindSessionDeleted:
		if s != nil && s.st.Created < rec.Position {
			a.removeSession(s)
		}
	}
	a.applyShared(rec)
}

// Snapshot copies the whole projection into a [State], to compare with a
// [Rebuild] or to inspect. Each app is copied under its lock.
func (l *Live) Snapshot() *State {
	out := &State{Apps: map[string]*AppState{}}
	for name, a := range l.apps.Snapshot() {
		a.mu.RLock()
		sessions := a.sessions.Values()
		as := &AppState{State: a.state.State.clone(), Users: map[string]Shared{}, Sessions: map[eventlog.SessionKey]*SessionState{}}
		for u, sh := range a.state.Users {
			as.Users[u] = sh.clone()
		}
		a.mu.RUnlock()
		for _, s := range sessions {
			s.mu.RLock()
			if !s.gone.Load() {
				st := *s.st
				st.State = maps.Clone(st.State)
				as.Sessions[s.key] = &st
			}
			s.mu.RUnlock()
		}
		out.Apps[name] = as
	}
	out.dropEmptyApps()
	return out
}
