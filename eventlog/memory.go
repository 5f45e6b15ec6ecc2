package eventlog

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/sessionlog/sessionlog/internal/index"
	"github.com/sessionlog/sessionlog/internal/sessionmap"
)

// Memory is the in-memory [Store]. Its zero value is ready to use.
//
// Each session has its own lock over its records, and each app a lock over
// its log, which holds the app's records in Position order. An append locks
// its session for the whole write and its app only to take the next
// position and put the record at the end of the app's log, a few
// instructions, which is what gives each app one order (CONTRACT S2).
// Appends to different apps never wait for each other, and appends to
// different sessions of one app wait only for that step. The expensive
// parts of an append (validation, copying the event) happen in the caller
// before it. A deletion works out what its session leaves behind under the
// session's lock alone (a caller may do that part first, with
// [Memory.PrepareDelete]), and then holds the app for one galloping pass
// over the records it replaces (plus, now and then, a compaction of the
// app's log).
//
// A durable store can keep a Memory as its index: [Memory.AppendJournaled]
// hands each record to a journal before it is published, and
// [Memory.Restore] puts journaled records back at their positions.
type Memory struct {
	apps     index.Index[string, *memApp]
	newAppMu sync.Mutex
	newApp   watch         // fired when an app is created
	last     atomic.Uint64 // the last Position handed out
	// stored is the highest position in an app's log. A read reports how
	// far it got no further than this: a position handed out to a record
	// whose journal then failed is never stored, and a durable store that
	// restarts may hand the same number out again, so no reader may have
	// been told it was passed.
	stored atomic.Uint64
	closed atomic.Bool
}

type memApp struct {
	mu    sync.RWMutex
	log   []logEntry // every record of the app, in Position order
	holes int        // entries of log whose record was freed
	// sessions is changed under mu and read without it: its shards keep
	// lookups of different sessions off each other's locks and off mu,
	// which orders the app's appends.
	sessions sessionmap.Map[*memSession]
	wake     watch
}

// logEntry keeps the position beside the record so that a freed record
// leaves a hole that binary search can still step over.
type logEntry struct {
	pos Position
	rec *Record
}

type memSession struct {
	// mu guards the fields below; a.mu, when both are held, is taken
	// second.
	mu          sync.RWMutex
	deleted     bool
	created     *Record
	records     []*Record
	events      []*Event
	ids         idIndex
	timeOrdered bool
	wake        watch
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

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) app(name string, create bool) *memApp {
	if a, ok := m.apps.Get(name); ok || !create {
		return a
	}
	a, created := m.apps.GetOrCreate(name, func() *memApp {
		return &memApp{}
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

func (m *Memory) check(ctx context.Context) error {
	if m.closed.Load() {
		return ErrClosed
	}
	return ctx.Err()
}

// Append implements [Store.Append].
func (m *Memory) Append(ctx context.Context, rec *Record) (*Record, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	return m.append(rec, placement{})
}

// Journal is called by [Memory.AppendJournaled] with each record it is
// about to store; see there.
type Journal func(rec *Record) error

// AppendJournaled is [Memory.Append] with a journal, the hook a durable
// store builds on. journal is called with the record once its conditions
// have passed and its Position is assigned, under the lock that orders the
// record's app, and before any reader can see the record. If journal
// returns an error, the record is neither stored nor published, its
// position is never used, and AppendJournaled returns that error.
//
// Because journal runs under the app's lock, the records of one app reach
// it in Position order; records of different apps may reach it out of
// Position order. A duplicate event (ErrDuplicateEvent) and a failed
// condition do not call journal. journal must be quick and must not call
// the store.
func (m *Memory) AppendJournaled(ctx context.Context, rec *Record, journal Journal) (*Record, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	return m.append(rec, placement{journal: journal})
}

// Restore puts a record read back from a journal into the store at its own
// Position, without calling any journal. It checks the same conditions as
// Append, with two differences that a journal needs: the Position must be
// later than every position the record's app holds, and a deletion of a
// session that does not exist is stored as it is (a compacted journal
// keeps deletions whose sessions it dropped). Later appends get positions
// after the highest one restored.
//
// Restore is meant for filling a store before it is used: while it runs,
// a whole-store Read may miss records of other apps restored concurrently.
func (m *Memory) Restore(rec *Record) error {
	if m.closed.Load() {
		return ErrClosed
	}
	_, err := m.append(rec, placement{restore: true})
	return err
}

// placement says how append places a record: at the next position, handed
// to journal first (nil: none), or at the position it carries (restore).
type placement struct {
	journal Journal
	restore bool
}

func (m *Memory) append(rec *Record, p placement) (*Record, error) {
	if err := CheckRecord(rec); err != nil {
		return nil, err
	}
	a := m.app(rec.Key.AppName, true)
	switch rec.Kind {
	case KindSessionCreated:
		return m.create(a, rec, p)
	case KindStateRetained:
		return m.addLocked(a, rec, p)
	}
	// An event or a deletion: lock the session, then the app for as long
	// as it takes to order the record (sessions never wait on each other
	// for longer than that).
	s, err := m.lockSession(a, rec.Key)
	if err != nil {
		if p.restore && rec.Kind == KindSessionDeleted && errors.Is(err, ErrNotFound) {
			return m.addLocked(a, rec, p)
		}
		return nil, err
	}
	if rec.Kind == KindSessionDeleted {
		return m.deleter(a, s, rec, p)()
	}
	defer s.mu.Unlock()
	if rec.Incarnation != 0 && rec.Incarnation != s.created.Position {
		return nil, fmt.Errorf("append to session %s: %w: the session the event is for was deleted", rec.Key, ErrNotFound)
	}
	s.ids.reserve()
	seq, at, dup := s.ids.find(rec.Event.ID, s.events)
	if dup {
		if p.restore {
			return nil, fmt.Errorf("restore event %q of session %s: %w: the session already holds it", rec.Event.ID, rec.Key, ErrInvalidArgument)
		}
		return s.records[seq-1], ErrDuplicateEvent
	}
	if want := uint64(len(s.records)) + 1; rec.Seq != want {
		return nil, fmt.Errorf("append to session %s: %w: the handle is at version %d, the store at version %d",
			rec.Key, ErrStaleSession, rec.Seq-1, want-1)
	}
	if rec.Seq > maxIndexedSeq {
		return nil, fmt.Errorf("append to session %s: %w: the session holds %d events, the most one may", rec.Key, ErrInvalidArgument, maxIndexedSeq)
	}
	a.mu.Lock()
	err = a.add(m, rec, p)
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if n := len(s.events); n > 0 && rec.Event.Timestamp.Before(s.events[n-1].Timestamp) {
		s.timeOrdered = false
	}
	s.records = append(s.records, rec)
	s.events = append(s.events, rec.Event)
	s.ids.add(at, rec.Seq)
	s.wake.fire()
	return rec, nil
}

// PrepareDelete does a deletion in two steps, so that a caller who must
// hold other locks from the moment the record becomes visible holds them
// only for that moment: it checks rec, a KindSessionDeleted record, as
// Append would, locks its session against other writes and works out what
// the session's records leave behind (CONTRACT D3), the slow part of a
// deletion. It returns commit, which orders and appends rec as Append
// would and releases the session. The caller must call commit once and
// without delay: until then the session, and a Close, wait for it. On an
// error nothing is locked.
//
// A service over a Memory itself deletes this way; a store that wraps a
// Memory is used through its Append, as any other store is.
func (m *Memory) PrepareDelete(ctx context.Context, rec *Record) (commit func() (*Record, error), err error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	if err := CheckRecord(rec); err != nil {
		return nil, err
	}
	if rec.Kind != KindSessionDeleted {
		return nil, fmt.Errorf("prepare delete: %w: a %s record", ErrInvalidArgument, rec.Kind)
	}
	a := m.app(rec.Key.AppName, false)
	if a == nil {
		return nil, fmt.Errorf("session %s: %w", rec.Key, ErrNotFound)
	}
	s, err := m.lockSession(a, rec.Key)
	if err != nil {
		return nil, err
	}
	return m.deleter(a, s, rec, placement{}), nil
}

// deleter works out what the session's records leave behind, the slow
// part of a deletion, under s.mu alone (which the caller holds), and
// returns the step that orders the deletion under the app's lock and
// releases s.mu. Until that step runs, the session takes no other write.
func (m *Memory) deleter(a *memApp, s *memSession, rec *Record, p placement) func() (*Record, error) {
	survivors := s.retained()
	var done atomic.Bool
	return func() (*Record, error) {
		if !done.CompareAndSwap(false, true) {
			return nil, fmt.Errorf("delete session %s: %w: the deletion was committed already", rec.Key, ErrInvalidArgument)
		}
		defer s.mu.Unlock()
		a.mu.Lock()
		defer a.mu.Unlock()
		if err := a.add(m, rec, p); err != nil {
			return nil, err
		}
		a.replace(survivors)
		a.sessions.CompareAndDelete(rec.Key.UserID, rec.Key.SessionID, s)
		s.deleted = true
		s.wake.fire() // its watchers read again and find it gone
		return rec, nil
	}
}

// addLocked adds a record that no condition guards under the app's lock.
func (m *Memory) addLocked(a *memApp, rec *Record, p placement) (*Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if err := a.add(m, rec, p); err != nil {
		return nil, err
	}
	return rec, nil
}

func (m *Memory) create(a *memApp, rec *Record, p placement) (*Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if _, ok := a.sessions.Get(rec.Key.UserID, rec.Key.SessionID); ok {
		return nil, fmt.Errorf("create session %s: %w", rec.Key, ErrAlreadyExists)
	}
	if err := a.add(m, rec, p); err != nil {
		return nil, err
	}
	a.sessions.Put(rec.Key.UserID, rec.Key.SessionID, &memSession{created: rec, timeOrdered: true})
	return rec, nil
}

// lookup returns the live session at key, or nil.
func (a *memApp) lookup(key SessionKey) *memSession {
	s, _ := a.sessions.Get(key.UserID, key.SessionID)
	return s
}

// lockSession finds the live session at key and locks it for writing.
func (m *Memory) lockSession(a *memApp, key SessionKey) (*memSession, error) {
	for {
		s := a.lookup(key)
		if s == nil {
			return nil, fmt.Errorf("session %s: %w", key, ErrNotFound)
		}
		s.mu.Lock()
		if m.closed.Load() {
			s.mu.Unlock()
			return nil, ErrClosed
		}
		if !s.deleted {
			return s, nil
		}
		s.mu.Unlock() // deleted meanwhile: look again
	}
}

// rlockSession finds the live session at key and locks it for reading; nil
// if there is none.
func (a *memApp) rlockSession(key SessionKey) *memSession {
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

// add gives rec the next position (or, restoring, checks the one it has),
// hands it to the journal, if any, and puts it at the end of the app's
// log. The caller holds a.mu, which is what keeps the app's log in order.
func (a *memApp) add(m *Memory, rec *Record, p placement) error {
	if p.restore {
		if err := a.restoreAt(m, rec.Position); err != nil {
			return fmt.Errorf("restore %s record of session %s: %w", rec.Kind, rec.Key, err)
		}
	} else {
		rec.Position = Position(m.last.Add(1))
	}
	if p.journal != nil {
		if err := p.journal(rec); err != nil {
			return err
		}
	}
	a.log = append(a.log, logEntry{rec.Position, rec})
	for {
		old := m.stored.Load()
		if uint64(rec.Position) <= old || m.stored.CompareAndSwap(old, uint64(rec.Position)) {
			break
		}
	}
	a.wake.fire()
	return nil
}

// restoreAt checks that pos may follow the app's log and makes later
// appends take positions after it. The caller holds a.mu.
func (a *memApp) restoreAt(m *Memory, pos Position) error {
	if pos == 0 {
		return fmt.Errorf("%w: position 0 (positions start at 1)", ErrInvalidArgument)
	}
	if n := len(a.log); n > 0 && a.log[n-1].pos >= pos {
		return fmt.Errorf("%w: position %d is not after the app's last position %d", ErrInvalidArgument, pos, a.log[n-1].pos)
	}
	for {
		last := m.last.Load()
		if uint64(pos) <= last || m.last.CompareAndSwap(last, uint64(pos)) {
			return nil
		}
	}
}

// retained works out what must survive a deleted session's records
// (CONTRACT D3, by [Retained]): one entry per record, in position order,
// holding the retained record at that position or nil where nothing
// survives. The caller holds s.mu only: this is the slow part of a
// deletion, and other sessions' appends need not wait for it.
func (s *memSession) retained() []logEntry {
	all := make([]*Record, 0, len(s.records)+1)
	all = append(append(all, s.created), s.records...)
	kept := Retained(all)
	out := make([]logEntry, len(all))
	for i, rec := range all {
		out[i].pos = rec.Position
		if len(kept) > 0 && kept[0].Position == rec.Position {
			out[i].rec, kept = kept[0], kept[1:]
		}
	}
	return out
}

// replace puts what survives a deleted session's records in their places in
// the app log. The caller holds a.mu.
func (a *memApp) replace(entries []logEntry) {
	i := 0
	for _, e := range entries {
		// The entries are in position order: each search starts where
		// the last one ended, and gallops, so a session's records cost
		// about a step each when other sessions' records lie between
		// them, rather than a search of the whole log each.
		if i = a.searchFrom(i, e.pos); i == len(a.log) || a.log[i].pos != e.pos {
			continue
		}
		a.log[i].rec = e.rec
		if e.rec == nil {
			a.holes++
		}
	}
	// Compact once holes are most of the log: amortised O(1) per record.
	if a.holes > 64 && a.holes > len(a.log)/2 {
		a.log = slices.DeleteFunc(a.log, func(e logEntry) bool { return e.rec == nil })
		a.log = slices.Clip(a.log)
		a.holes = 0
	}
}

// searchFrom returns the index of the first log entry at or after pos,
// given that every entry before lo is before pos: it gallops from lo
// (steps of 1, 2, 4...) and then searches the last step.
func (a *memApp) searchFrom(lo int, pos Position) int {
	hi, step := lo, 1
	for hi < len(a.log) && a.log[hi].pos < pos {
		lo = hi + 1
		hi += step
		step *= 2
	}
	hi = min(hi, len(a.log))
	return lo + sort.Search(hi-lo, func(j int) bool { return a.log[lo+j].pos >= pos })
}

// searchAfter returns the index of the first log entry after pos.
func (a *memApp) searchAfter(pos Position) int {
	return sort.Search(len(a.log), func(i int) bool { return a.log[i].pos > pos })
}

// Session implements [Store.Session].
func (m *Memory) Session(ctx context.Context, key SessionKey) (SessionLog, error) {
	if err := m.check(ctx); err != nil {
		return SessionLog{}, err
	}
	a := m.app(key.AppName, false)
	if a == nil {
		return SessionLog{}, fmt.Errorf("session %s: %w", key, ErrNotFound)
	}
	s := a.rlockSession(key)
	if s == nil {
		return SessionLog{}, fmt.Errorf("session %s: %w", key, ErrNotFound)
	}
	defer s.mu.RUnlock()
	n := len(s.records)
	return SessionLog{
		Created:     s.created,
		Records:     s.records[:n:n],
		Events:      s.events[:n:n],
		TimeOrdered: s.timeOrdered,
	}, nil
}

// Read implements [Store.Read].
func (m *Memory) Read(ctx context.Context, scope Scope, after Position, limit int) ([]*Record, Position, error) {
	if err := m.check(ctx); err != nil {
		return nil, after, err
	}
	if limit <= 0 {
		return nil, after, fmt.Errorf("read: %w: limit %d is not positive", ErrInvalidArgument, limit)
	}
	if scope.AppName == "" {
		recs, through := m.readAll(after, limit)
		return recs, through, nil
	}
	// Taken before the app is looked up: an app exists before its first
	// position is handed out, so a missing app has nothing up to last.
	last := Position(m.stored.Load())
	a := m.app(scope.AppName, false)
	if a == nil {
		if scope.IsSession() {
			return nil, after, fmt.Errorf("read session %s: %w", scope.Key(), ErrNotFound)
		}
		return nil, max(after, last), nil
	}
	if scope.IsSession() {
		s := a.rlockSession(scope.Key())
		if s == nil {
			return nil, after, fmt.Errorf("read session %s: %w", scope.Key(), ErrNotFound)
		}
		defer s.mu.RUnlock()
		if scope.Incarnation != 0 && s.created.Position != scope.Incarnation {
			return nil, after, fmt.Errorf("read session %s: %w", scope.Key(), ErrNotFound)
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
	recs, through := a.read(scope, after, Position(math.MaxUint64), limit, nil)
	return recs, through, nil
}

// read appends to out at most limit records of scope with positions in
// (after, hi], and returns how far it got: the last record's position when
// it stopped at limit, else the last position it looked at (or after). The
// caller holds a.mu for reading.
func (a *memApp) read(scope Scope, after, hi Position, limit int, out []*Record) ([]*Record, Position) {
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
// to a high-water mark taken first: positions are handed out inside the app
// locks, so every position up to the mark is in its app's log by the time
// that app is read, and the result is a prefix of the store. (The mark is
// taken before the apps are listed, so their apps are in the list.) It
// holds one lock at a time, and lowers the mark once it has limit records,
// so that the apps read later have less to read.
func (m *Memory) readAll(after Position, limit int) ([]*Record, Position) {
	hi := Position(m.last.Load())
	var out []*Record
	for _, a := range m.apps.Snapshot() {
		a.mu.RLock()
		out, _ = a.read(Scope{}, after, hi, limit, out)
		a.mu.RUnlock()
		if len(out) >= limit {
			slices.SortFunc(out, func(x, y *Record) int { return cmp.Compare(x.Position, y.Position) })
			out = out[:limit]
			hi = out[limit-1].Position
		}
	}
	slices.SortFunc(out, func(x, y *Record) int { return cmp.Compare(x.Position, y.Position) })
	return out, max(after, min(hi, Position(m.stored.Load())))
}

// Changes implements [Store.Changes]. For an app that does not exist yet
// it gives a channel closed when any app is created, rather than creating
// the app: following a name must not make the store keep it.
func (m *Memory) Changes(scope Scope) <-chan struct{} {
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
	if m.closed.Load() || s.deleted || (scope.Incarnation != 0 && s.created.Position != scope.Incarnation) {
		return closedChan
	}
	return s.wake.wait()
}

// Close implements [Store.Close]. It is safe to call more than once.
func (m *Memory) Close() error {
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
