package memstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// Append implements [eventlog.Store.Append]. A record whose Position is
// set is placed at that position (see [eventlog.Store.Append]): it must be
// after every position the store has handed out, and a deletion of a
// session that does not exist is stored as it is, as a journal's records
// are when [Open] replays them.
func (m *Store) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	if err := m.check(ctx); err != nil {
		return eventlog.AppendResult{}, err
	}
	mode := placeNext
	if rec != nil && rec.Position != 0 {
		mode = placeOwn
	}
	return m.append(rec, mode)
}

// placement says where an append puts its record.
type placement uint8

const (
	// placeNext gives the record the next position.
	placeNext placement = iota
	// placeOwn keeps the position the record holds, which must be after
	// every position handed out, and journals the record.
	placeOwn
	// placeRestored keeps the position of a record the journal replays,
	// which must be after every position its app holds; the journal is
	// not written.
	placeRestored
)

// append appends rec at the position mode says. A record that keeps its
// own position (placeOwn or placeRestored) follows the rules of a replayed
// journal: a deletion of a session that does not exist is stored as it
// is, and an event ID the session holds is an error rather than a
// duplicate.
func (m *Store) append(rec *eventlog.Record, mode placement) (eventlog.AppendResult, error) {
	if err := eventlog.CheckRecord(rec); err != nil {
		return eventlog.AppendResult{}, err
	}
	switch rec.Kind {
	case eventlog.KindSessionCreated:
		return m.create(m.app(rec.Key.AppName, true), rec, mode)
	case eventlog.KindStateRetained:
		return m.retain(m.app(rec.Key.AppName, true), rec, mode)
	}
	// An event or a deletion: lock the session, then the app for as long
	// as it takes to order the record.
	a := m.app(rec.Key.AppName, mode != placeNext)
	if a == nil {
		return eventlog.AppendResult{}, fmt.Errorf("append %s record: session %s: %w", rec.Kind, rec.Key, eventlog.ErrNotFound)
	}
	s, err := m.lockSession(a, rec.Key)
	switch {
	case err == nil && rec.Kind == eventlog.KindSessionDeleted:
		return m.delete(a, s, rec, mode)
	case err == nil:
		return m.appendEvent(a, s, rec, mode)
	case mode != placeNext && rec.Kind == eventlog.KindSessionDeleted && errors.Is(err, eventlog.ErrNotFound):
		return m.keepDeletion(a, rec, mode)
	}
	return eventlog.AppendResult{}, fmt.Errorf("append %s record: %w", rec.Kind, err)
}

// create appends a creation record and adds its session.
func (m *Store) create(a *app, rec *eventlog.Record, mode placement) (eventlog.AppendResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m.closed.Load() {
		return eventlog.AppendResult{}, eventlog.ErrClosed
	}
	if a.lookup(rec.Key) != nil {
		return eventlog.AppendResult{}, fmt.Errorf("create session %s: %w", rec.Key, eventlog.ErrAlreadyExists)
	}
	durable, err := m.add(a, rec, mode)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	s := &session{app: a, key: rec.Key, created: rec, timeOrdered: true, durable: durable}
	s.st = projection.NewSessionWithHistory(rec, &s.hist)
	// The index makes s findable by lookups that do not take a.mu: none
	// of them may read it before its state is complete.
	s.mu.Lock()
	defer s.mu.Unlock()
	a.addSession(s)
	if projection.WritesShared(rec.State) {
		a.state.ApplyShared(rec)
		a.sharedGen.Add(1)
	}
	res := eventlog.AppendResult{Record: rec, Durable: durable}
	if mode != placeRestored {
		res.State = s.mergedState(true)
	}
	return res, nil
}

// retain appends a retained-state record, which no condition guards.
func (m *Store) retain(a *app, rec *eventlog.Record, mode placement) (eventlog.AppendResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m.closed.Load() {
		return eventlog.AppendResult{}, eventlog.ErrClosed
	}
	durable, err := m.add(a, rec, mode)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	if projection.WritesShared(rec.State) {
		a.state.ApplyShared(rec)
		a.sharedGen.Add(1)
	}
	return eventlog.AppendResult{Record: rec, Durable: durable}, nil
}

// appendEvent appends an event record to s, which the caller has locked
// for writing; appendEvent unlocks it.
func (m *Store) appendEvent(a *app, s *session, rec *eventlog.Record, mode placement) (eventlog.AppendResult, error) {
	defer s.mu.Unlock()
	if rec.Incarnation != 0 && rec.Incarnation != s.st.Created {
		return eventlog.AppendResult{}, fmt.Errorf("append to session %s: %w: the session the event is for was deleted", rec.Key, eventlog.ErrNotFound)
	}
	s.ids.reserve()
	seq, at, dup := s.ids.find(rec.Event.ID, s.events)
	if dup {
		if mode != placeNext {
			return eventlog.AppendResult{}, fmt.Errorf("put event %q of session %s at position %d: %w: the session already holds it", rec.Event.ID, rec.Key, rec.Position, eventlog.ErrInvalidArgument)
		}
		return eventlog.AppendResult{Record: s.records[seq-1], Duplicate: true, Durable: s.durable}, nil
	}
	next := uint64(len(s.records)) + 1
	assigned := rec.Seq == 0
	switch {
	case assigned:
		rec.Seq = next
	case rec.Seq != next:
		return eventlog.AppendResult{}, fmt.Errorf("append to session %s: %w: the handle is at version %d, the store at version %d",
			rec.Key, eventlog.ErrStaleSession, rec.Seq-1, next-1)
	}
	if next > maxIndexedSeq {
		if assigned {
			rec.Seq = 0
		}
		return eventlog.AppendResult{}, fmt.Errorf("append to session %s: %w: the session holds %d events, the most one may", rec.Key, eventlog.ErrInvalidArgument, maxIndexedSeq)
	}
	// App and user writes are folded in the step that orders the record,
	// so that nobody reads the record before its state. The session's own
	// writes are folded in the same pass over the delta: telling the two
	// apart first would take a pass of its own on every append, and an
	// own key costs the app's lock one map write.
	a.mu.Lock()
	durable, err := m.add(a, rec, mode)
	if err != nil {
		a.mu.Unlock()
		if assigned {
			rec.Seq = 0
		}
		return eventlog.AppendResult{}, err
	}
	if s.st.ApplyEventWithHistory(rec, a.state, &s.hist) {
		a.sharedGen.Add(1)
	}
	a.mu.Unlock()
	s.keep(rec, at)
	if durable != nil {
		s.durable = durable
	}
	s.wake.fire()
	return eventlog.AppendResult{Record: rec, Durable: durable}, nil
}

// keep adds rec, an event record stored and folded, to s's events; at is
// the place of its ID in s.ids, which find returned. The caller holds s.mu
// for writing.
func (s *session) keep(rec *eventlog.Record, at idPlace) {
	s.ownGen++
	if n := len(s.events); n > 0 && rec.Event.Timestamp.Before(s.events[n-1].Timestamp) {
		s.timeOrdered = false
	}
	s.records = append(s.records, rec)
	s.events = append(s.events, rec.Event)
	s.ids.add(at, rec.Seq)
}

// delete appends a deletion of s, which the caller has locked for
// writing, and frees the session; delete unlocks s.
func (m *Store) delete(a *app, s *session, rec *eventlog.Record, mode placement) (eventlog.AppendResult, error) {
	defer s.mu.Unlock()
	// What the session leaves behind, the slow part, is worked out
	// before the app is held: other sessions' appends need not wait.
	all := s.all()
	survivors := retained(all)
	freed := freedWrites(all, survivors)
	a.mu.Lock()
	defer a.mu.Unlock()
	durable, err := m.add(a, rec, mode)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	a.replace(survivors)
	a.state.Forget(rec.Key.UserID, freed)
	a.free(rec.Key.UserID, survivors[len(survivors)-1].pos)
	a.removeSession(s)
	s.deleted = true
	s.wake.fire() // its watchers read again and find it gone
	// Nobody reads a deleted session's records through it again: let
	// them go with the session's other memory.
	s.records, s.events, s.ids, s.hist = nil, nil, idIndex{}, projection.History{}
	s.merged.Store(nil)
	return eventlog.AppendResult{Record: rec, Durable: durable}, nil
}

// keepDeletion stores a deletion of a session that is not there, at the
// deletion's own position: a journal, or an export, that holds the
// deletion without the session's records (they were freed). Which of the
// app's positions those records held is not known, so every app or user
// reader behind the deletion is told the scope was compacted: the freed
// positions are taken to reach the one before the deletion.
func (m *Store) keepDeletion(a *app, rec *eventlog.Record, mode placement) (eventlog.AppendResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	durable, err := m.add(a, rec, mode)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	a.free(rec.Key.UserID, rec.Position-1)
	return eventlog.AppendResult{Record: rec, Durable: durable}, nil
}

// add gives rec its position (the next one, or, as mode says, checks the
// one it has), writes it to the journal, if any and unless restoring, and
// puts it at the end of the app's log. The caller holds a.mu for writing,
// which is what keeps the app's log in order.
func (m *Store) add(a *app, rec *eventlog.Record, mode placement) (durable func() error, err error) {
	switch mode {
	case placeRestored:
		if err := m.restoreAt(a, rec.Position); err != nil {
			return nil, fmt.Errorf("restore %s record of session %s: %w", rec.Kind, rec.Key, err)
		}
	case placeOwn:
		prev, err := m.placeAt(rec.Position)
		if err != nil {
			return nil, fmt.Errorf("append %s record of session %s: %w", rec.Kind, rec.Key, err)
		}
		if m.journal != nil {
			if durable, err = m.journal.Write(rec); err != nil {
				// Never used: hand the numbers after prev out again,
				// unless another append took one meanwhile.
				m.last.CompareAndSwap(uint64(rec.Position), prev)
				return nil, err
			}
		}
	default:
		rec.Position = eventlog.Position(m.last.Add(1))
		if m.journal != nil {
			if durable, err = m.journal.Write(rec); err != nil {
				rec.Position = 0 // never used: the next append takes the next number
				return nil, err
			}
		}
	}
	m.publish(a, rec)
	return durable, nil
}

// publish adds rec, which holds its position and is journaled, to its
// app's log, where readers find it. The caller holds a.mu.
func (m *Store) publish(a *app, rec *eventlog.Record) {
	a.log = append(a.log, logEntry{rec.Position, rec})
	for {
		old := m.stored.Load()
		if uint64(rec.Position) <= old || m.stored.CompareAndSwap(old, uint64(rec.Position)) {
			break
		}
	}
	a.wake.fire()
}

// placeAt takes pos as the last position handed out, if it is after every
// position handed out so far (else ErrInvalidArgument naming both), and
// returns the last position before it.
func (m *Store) placeAt(pos eventlog.Position) (prev uint64, err error) {
	for {
		last := m.last.Load()
		if uint64(pos) <= last {
			return 0, fmt.Errorf("%w: position %d is not after the store's last position %d", eventlog.ErrInvalidArgument, pos, last)
		}
		if m.last.CompareAndSwap(last, uint64(pos)) {
			return last, nil
		}
	}
}

// restoreAt checks that pos may follow the app's log and makes later
// appends take positions after it. The caller holds a.mu.
func (m *Store) restoreAt(a *app, pos eventlog.Position) error {
	if pos == 0 {
		return fmt.Errorf("%w: position 0 (positions start at 1)", eventlog.ErrInvalidArgument)
	}
	if n := len(a.log); n > 0 && a.log[n-1].pos >= pos {
		return fmt.Errorf("%w: position %d is not after the app's last position %d", eventlog.ErrInvalidArgument, pos, a.log[n-1].pos)
	}
	for {
		last := m.last.Load()
		if uint64(pos) <= last || m.last.CompareAndSwap(last, uint64(pos)) {
			return nil
		}
	}
}

// all returns s's records, its creation first. The caller holds s.mu.
func (s *session) all() []*eventlog.Record {
	all := make([]*eventlog.Record, 0, len(s.records)+1)
	return append(append(all, s.created), s.records...)
}

// retained works out what must survive a deleted session's records, all
// (CONTRACT D3, by [eventlog.Retained]): one entry per record, in position
// order, holding the retained record at that position or nil where nothing
// survives.
func retained(all []*eventlog.Record) []logEntry {
	kept := eventlog.Retained(all)
	out := make([]logEntry, len(all))
	for i, rec := range all {
		out[i].pos = rec.Position
		if len(kept) > 0 && kept[0].Position == rec.Position {
			out[i].rec, kept = kept[0], kept[1:]
		}
	}
	return out
}

// free notes that a deletion freed records of user up to position through.
// The caller holds a.mu for writing.
func (a *app) free(user string, through eventlog.Position) {
	a.freed = max(a.freed, through)
	if a.userFreed == nil {
		a.userFreed = map[string]eventlog.Position{}
	}
	a.userFreed[user] = max(a.userFreed[user], through)
}

// freedIn returns the last position freed in scope, an app or user
// scope. The caller holds a.mu.
func (a *app) freedIn(scope eventlog.Scope) eventlog.Position {
	if scope.UserID != "" {
		return a.userFreed[scope.UserID]
	}
	return a.freed
}

// replace puts what survives a deleted session's records in their places
// in the app log. The caller holds a.mu for writing.
func (a *app) replace(entries []logEntry) {
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
func (a *app) searchFrom(lo int, pos eventlog.Position) int {
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
func (a *app) searchAfter(pos eventlog.Position) int {
	return sort.Search(len(a.log), func(i int) bool { return a.log[i].pos > pos })
}
