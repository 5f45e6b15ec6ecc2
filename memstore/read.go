package memstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// Load implements [eventlog.Store.Load].
func (m *Store) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	if err := m.check(ctx); err != nil {
		return eventlog.View{}, err
	}
	if err := opts.Check(); err != nil {
		return eventlog.View{}, fmt.Errorf("load session %s: %w", key, err)
	}
	var s *session
	if a := m.app(key.AppName, false); a != nil {
		s = a.rlockSession(key)
	}
	if s == nil {
		return eventlog.View{}, fmt.Errorf("load session %s: %w", key, eventlog.ErrNotFound)
	}
	defer s.mu.RUnlock()
	if opts.AsOf != nil {
		if err := opts.CheckVersion(s.st.Version); err != nil {
			return eventlog.View{}, fmt.Errorf("load session %s: %w", key, err)
		}
		v := s.viewAsOf(*opts.AsOf)
		v.Events = opts.Select(s.events, s.timeOrdered)
		return v, nil
	}
	v := s.view(false)
	v.Events = opts.Select(s.events, s.timeOrdered)
	return v, nil
}

// List implements [eventlog.Store.List].
func (m *Store) List(ctx context.Context, appName, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	if appName == "" {
		return nil, fmt.Errorf("list: %w: app name is empty", eventlog.ErrInvalidArgument)
	}
	if err := opts.Check(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	a := m.app(appName, false)
	if a == nil {
		return nil, nil
	}
	if opts.Order == eventlog.RecentFirst {
		return a.listRecent(user, opts), nil
	}
	var out []eventlog.View
	afterUser, afterID := opts.AfterUser, opts.AfterSession
	for len(out) < opts.Limit {
		picked := a.pick(user, afterUser, afterID, opts.Limit-len(out))
		if len(picked) == 0 {
			break
		}
		if out == nil {
			out = make([]eventlog.View, 0, len(picked))
		}
		for _, s := range picked {
			s.mu.RLock()
			if !s.deleted { // deleted since it was picked
				out = append(out, s.view(false))
			}
			s.mu.RUnlock()
		}
		last := picked[len(picked)-1].key
		afterUser, afterID = last.UserID, last.SessionID
	}
	return out, nil
}

// listRecent lists in RecentFirst order. No index keeps that order, which
// every append would change: it reads the last update time of each of the
// user's sessions (every user's when user is empty), and sorts the ones
// after the page's start. A session updated between that read and its view
// has moved ahead of the page and is left out.
func (a *app) listRecent(user string, opts eventlog.ListOptions) []eventlog.View {
	type placed struct {
		s      *session
		update time.Time
	}
	// The sessions are gathered under the app's lock and read after it,
	// since a session's lock comes before its app's.
	var sessions []*session
	a.mu.RLock()
	if user != "" {
		sessions = slices.Clone(a.byUser[user])
	} else {
		for _, list := range a.byUser {
			sessions = append(sessions, list...)
		}
	}
	a.mu.RUnlock()
	all := make([]placed, 0, len(sessions))
	for _, s := range sessions {
		s.mu.RLock()
		if !s.deleted && opts.After(s.key, s.st.LastUpdateTime) {
			all = append(all, placed{s, s.st.LastUpdateTime})
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(all, func(x, y placed) int { return opts.Compare(x.s.key, x.update, y.s.key, y.update) })
	out := make([]eventlog.View, 0, min(opts.Limit, len(all)))
	for _, p := range all {
		if len(out) == opts.Limit {
			break
		}
		p.s.mu.RLock()
		if !p.s.deleted && p.s.st.LastUpdateTime.Equal(p.update) {
			out = append(out, p.s.view(false))
		}
		p.s.mu.RUnlock()
	}
	return out
}

// pick returns the first n sessions of user (every user's when user is
// empty) after (afterUser, afterID), in order, from the sorted lists.
func (a *app) pick(user, afterUser, afterID string, n int) []*session {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var picked []*session
	// take adds u's sessions after (afterUser, afterID) and reports
	// whether there is room for more.
	take := func(u string) bool {
		list, i := a.byUser[u], 0
		if u == afterUser {
			var found bool
			if i, found = findSession(list, afterID); found {
				i++
			}
		}
		for _, s := range list[i:] {
			if len(picked) == n {
				return false
			}
			picked = append(picked, s)
		}
		return len(picked) < n
	}
	if user != "" {
		if user >= afterUser {
			picked = make([]*session, 0, min(n, len(a.byUser[user])))
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

// Read implements [eventlog.Store.Read].
func (m *Store) Read(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	if err := m.check(ctx); err != nil {
		return nil, after, err
	}
	if limit <= 0 {
		return nil, after, fmt.Errorf("read: %w: limit %d is not positive", eventlog.ErrInvalidArgument, limit)
	}
	if scope.AppName == "" {
		recs, through := m.readAll(after, limit)
		return recs, through, nil
	}
	// Taken before the app is looked up: an app exists before its first
	// position is handed out, so a missing app has nothing up to last.
	last := eventlog.Position(m.stored.Load())
	a := m.app(scope.AppName, false)
	if a == nil {
		if scope.IsSession() {
			return nil, after, fmt.Errorf("read %s: %w", scope, eventlog.ErrNotFound)
		}
		return nil, max(after, last), nil
	}
	if scope.IsSession() {
		s := a.rlockSession(scope.Key())
		if s == nil {
			return nil, after, fmt.Errorf("read %s: %w", scope, eventlog.ErrNotFound)
		}
		defer s.mu.RUnlock()
		if scope.Incarnation != 0 && s.st.Created != scope.Incarnation {
			return nil, after, fmt.Errorf("read %s: %w", scope, eventlog.ErrNotFound)
		}
		i := sort.Search(len(s.records), func(i int) bool { return s.records[i].Position > after })
		j := i + min(limit, len(s.records)-i) // i+limit may overflow
		through := after
		if j > i {
			through = s.records[j-1].Position
		}
		return s.records[i:j:j], through, nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if freed := a.freedIn(scope); after < freed {
		return nil, after, &eventlog.CompactedError{Scope: scope, After: after, Served: freed}
	}
	recs, through := a.read(scope, after, eventlog.Position(math.MaxUint64), limit, nil)
	return recs, through, nil
}

// read appends to out at most limit records of scope with positions in
// (after, hi], and returns how far it got: the last record's position when
// it stopped at limit, else the last position it looked at (or after). The
// caller holds a.mu for reading.
func (a *app) read(scope eventlog.Scope, after, hi eventlog.Position, limit int, out []*eventlog.Record) ([]*eventlog.Record, eventlog.Position) {
	through, n := after, 0
	for _, e := range a.log[a.searchAfter(after):] {
		if e.pos > hi {
			break
		}
		through = e.pos
		if e.rec == nil || !scope.Contains(e.rec) {
			continue
		}
		out = append(out, e.rec)
		if n++; n == limit {
			break
		}
	}
	return out, through
}

// readAll merges the apps' logs: the first limit records of the store after
// the position are among the first limit records of each app. It reads up
// to a high-water mark taken first, the highest position published:
// positions are handed out inside the app locks, so every position up to
// the mark is in its app's log by the time that app is read, or was
// given up, and the result is a prefix of the store. (A position given up
// is handed out again only if no later one was, so never one at or below
// the mark: the last position handed out, as a mark, could be, and the
// read would pass over the record that took it in an app it had read.)
// The mark is taken before the apps are listed, so their apps are in the
// list. It holds one lock at a time, and lowers the mark once it has
// limit records, so that the apps read later have less to read.
func (m *Store) readAll(after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position) {
	hi := eventlog.Position(m.stored.Load())
	var out []*eventlog.Record
	for _, a := range m.apps.Snapshot() {
		a.mu.RLock()
		out, _ = a.read(eventlog.Scope{}, after, hi, limit, out)
		a.mu.RUnlock()
		if len(out) >= limit {
			slices.SortFunc(out, func(x, y *eventlog.Record) int { return cmp.Compare(x.Position, y.Position) })
			out = out[:limit]
			hi = out[limit-1].Position
		}
	}
	slices.SortFunc(out, func(x, y *eventlog.Record) int { return cmp.Compare(x.Position, y.Position) })
	return out, max(after, hi)
}

// Changes implements [eventlog.Store.Changes]. For an app that does not
// exist yet it gives a channel closed when any app is created, rather than
// creating the app: following a name must not make the store keep it.
func (m *Store) Changes(scope eventlog.Scope) <-chan struct{} {
	if m.closed.Load() {
		return closedChan
	}
	a := m.app(scope.AppName, false)
	if a == nil {
		if scope.IsSession() {
			return closedChan
		}
		m.newAppMu.Lock()
		defer m.newAppMu.Unlock()
		if m.closed.Load() {
			return closedChan
		}
		if a = m.app(scope.AppName, false); a == nil {
			return m.newApp.wait()
		}
	}
	if !scope.IsSession() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if m.closed.Load() {
			return closedChan
		}
		return a.wake.wait()
	}
	s := a.lookup(scope.Key())
	if s == nil {
		return closedChan
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.closed.Load() || s.deleted || (scope.Incarnation != 0 && s.st.Created != scope.Incarnation) {
		return closedChan
	}
	return s.wake.wait()
}

// Close implements [eventlog.Store.Close]. It is safe to call more than
// once.
func (m *Store) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	m.newAppMu.Lock()
	m.newApp.fire()
	m.newAppMu.Unlock()
	for _, a := range m.apps.Snapshot() {
		a.mu.Lock()
		a.wake.fire()
		sessions := a.sessions.Values()
		a.mu.Unlock()
		// Session locks come before app locks, so take them one by one
		// after the app's.
		for _, s := range sessions {
			s.mu.Lock()
			s.wake.fire()
			s.mu.Unlock()
		}
	}
	return nil
}

// Snapshot copies the state the store serves into a [projection.State], to
// compare with [projection.Rebuild] of its log or to inspect. Each app is
// copied as it stood at one moment; different apps at different moments.
// Values in the copy are the store's own: do not modify them.
func (m *Store) Snapshot() *projection.State {
	out := &projection.State{Apps: map[string]*projection.AppState{}}
	for name, a := range m.apps.Snapshot() {
		as := a.snapshot()
		if len(as.State) == 0 && len(as.Users) == 0 && len(as.Sessions) == 0 {
			continue // as Rebuild leaves out an app that folds to nothing
		}
		out.Apps[name] = as
	}
	return out
}

// snapshot copies the app's state and its sessions' at one moment: it
// read-locks every session, in List's order (so that two snapshots never
// wait for each other), and then the app, and starts again if a session
// was created or deleted meanwhile.
func (a *app) snapshot() *projection.AppState {
	for {
		a.mu.RLock()
		epoch := a.epoch
		var sessions []*session
		for _, u := range slices.Sorted(maps.Keys(a.byUser)) {
			sessions = append(sessions, a.byUser[u]...)
		}
		a.mu.RUnlock()
		for _, s := range sessions {
			s.mu.RLock()
		}
		a.mu.RLock()
		var out *projection.AppState
		if a.epoch == epoch {
			out = &projection.AppState{
				State:    a.state.State.Clone(),
				Users:    make(map[string]projection.Shared, len(a.state.Users)),
				Sessions: make(map[eventlog.SessionKey]*projection.SessionState, len(sessions)),
			}
			for u, sh := range a.state.Users {
				out.Users[u] = sh.Clone()
			}
			for _, s := range sessions {
				st := *s.st
				st.State = maps.Clone(st.State)
				out.Sessions[s.key] = &st
			}
		}
		a.mu.RUnlock()
		for _, s := range sessions {
			s.mu.RUnlock()
		}
		if out != nil {
			return out
		}
	}
}
