package memstore

import (
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// Reads of a session's past (Load with AsOf) are served from histories
// the fold keeps as it appends (projection.History): per key of the
// session's own state, the versions that changed it, and per key of the
// app's and each user's state, the positions that changed it. The state
// as of a point is a binary search per key, and the value is read from
// the record at the point found (the session's, or the app log's), so
// such a read costs about what a read of the present does, however long
// the session or the app's log. An append records each write in the same
// pass over its delta that folds it: 8 bytes a write, with no pointers
// for the garbage collector to scan. A deletion frees the session's
// history with its records, and drops from the app's history the writes
// that its retained records do not keep, so that the history agrees with
// a fold of the app's log as the log holds it.

// viewAsOf returns the session's view, without events, as it stood after
// the event with sequence number version (0: its creation), which it
// holds: its own state as of that version, and its app's and its user's
// state exactly as they stood at that record's position (a fold of the
// app's log up to there, the state retained from deleted sessions
// included). The caller holds s.mu.
func (s *session) viewAsOf(version uint64) eventlog.View {
	last := s.created
	if version > 0 {
		last = s.records[version-1]
	}
	a := s.app
	a.mu.RLock()
	state := a.state.MergedAsOf(s.key, &s.hist, version, s.recordAt, last.Position, a.recordAt)
	a.mu.RUnlock()
	return eventlog.View{
		Key:            s.key,
		Created:        s.created.Position,
		Version:        version,
		LastUpdateTime: last.Time,
		State:          state,
	}
}

// recordAt returns the session's record at a version (its creation at
// 0). The caller holds s.mu.
func (s *session) recordAt(version uint64) *eventlog.Record {
	if version == 0 {
		return s.created
	}
	if version > uint64(len(s.records)) {
		return nil
	}
	return s.records[version-1]
}

// recordAt returns the record at a position of the app's log, nil if
// there is none (or it was freed). The caller holds a.mu.
func (a *app) recordAt(pos uint64) *eventlog.Record {
	i := a.searchAfter(eventlog.Position(pos) - 1)
	if i == len(a.log) || a.log[i].pos != eventlog.Position(pos) {
		return nil
	}
	return a.log[i].rec
}

// freedWrites works out which app: and user: writes of a session's
// records, all, its deletion frees, for the app's history
// (projection.AppState.Forget): survivors is what retained gave for all.
func freedWrites(all []*eventlog.Record, survivors []logEntry) map[string][]uint64 {
	kept := make([]*eventlog.Record, len(survivors))
	for i, e := range survivors {
		kept[i] = e.rec
	}
	return projection.FreedWrites(all, kept)
}
