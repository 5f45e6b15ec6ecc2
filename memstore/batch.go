package memstore

import (
	"context"
	"fmt"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// AppendBatch implements [eventlog.Store.AppendBatch]. The new session is
// built whole while its app is held, and is put in the index, where
// lookups find it, only then; a journal gets the batch in one WriteBatch.
func (m *Store) AppendBatch(ctx context.Context, recs []*eventlog.Record) (eventlog.AppendResult, error) {
	if err := m.check(ctx); err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := eventlog.CheckBatch(recs); err != nil {
		return eventlog.AppendResult{}, err
	}
	created := recs[0]
	n := uint64(len(recs) - 1)
	if n > maxIndexedSeq {
		return eventlog.AppendResult{}, fmt.Errorf("append batch to session %s: %w: %d events are more than a session may hold (%d)",
			created.Key, eventlog.ErrInvalidArgument, n, maxIndexedSeq)
	}
	a := m.app(created.Key.AppName, true)
	a.mu.Lock()
	defer a.mu.Unlock()
	if m.closed.Load() {
		return eventlog.AppendResult{}, eventlog.ErrClosed
	}
	if a.lookup(created.Key) != nil {
		return eventlog.AppendResult{}, fmt.Errorf("create session %s: %w", created.Key, eventlog.ErrAlreadyExists)
	}
	first := eventlog.Position(m.last.Add(n+1) - n)
	for i, rec := range recs {
		rec.Position = first + eventlog.Position(i)
		if i > 0 {
			rec.Seq = uint64(i)
		}
	}
	var durable func() error
	if m.journal != nil {
		var err error
		if durable, err = m.journal.WriteBatch(recs); err != nil {
			for _, rec := range recs {
				rec.Position = 0 // never used: later appends take later numbers
			}
			return eventlog.AppendResult{}, err
		}
	}
	s := &session{app: a, key: created.Key, created: created, timeOrdered: true}
	s.st = projection.NewSessionWithHistory(created, &s.hist)
	s.mu.Lock()
	defer s.mu.Unlock()
	shared := projection.WritesShared(created.State)
	if shared {
		a.state.ApplyShared(created)
	}
	for i, rec := range recs {
		m.publish(a, rec)
		if i == 0 {
			continue
		}
		s.ids.reserve()
		_, at, _ := s.ids.find(rec.Event.ID, s.events) // CheckBatch made the IDs distinct
		if s.st.ApplyEventWithHistory(rec, a.state, &s.hist) {
			shared = true
		}
		s.keep(rec, at)
	}
	if shared {
		a.sharedGen.Add(1)
	}
	s.durable = durable
	a.addSession(s)
	return eventlog.AppendResult{Record: recs[len(recs)-1], Durable: durable}, nil
}
