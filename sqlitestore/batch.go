package sqlitestore

import (
	"context"
	"fmt"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// AppendBatch implements [eventlog.Store.AppendBatch] as one op of a
// group commit: the creation and every event, written in one savepoint of
// the writer's transaction, commit together or not at all. Records that
// cannot be encoded are refused before anything is written.
func (s *Store) AppendBatch(ctx context.Context, recs []*eventlog.Record) (eventlog.AppendResult, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	defer done()
	if err := eventlog.CheckBatch(recs); err != nil {
		return eventlog.AppendResult{}, err
	}
	created := recs[0]
	ws := make([]sqlrecord.Encoded, len(recs))
	for i, rec := range recs {
		if i > 0 {
			rec.Seq = uint64(i)
		}
		w, err := sqlrecord.Encode(rec)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		ws[i] = w
	}
	var first eventlog.Position
	err = s.write(ctx, func(t *txn) error {
		var out outcome
		if err := t.create(created.Key, ws[0], &out); err != nil {
			return err
		}
		first = out.pos
		k := created.Key
		for i, rec := range recs[1:] {
			w := ws[i+1]
			pos := t.next()
			if err := t.insert(pos, eventlog.KindEventAppended, k, int64(i+1), blob(rec.Event.ID), w.Body); err != nil {
				return err
			}
			if err := t.writeState(k, w.Writes, pos); err != nil {
				return err
			}
		}
		if n := len(recs) - 1; n > 0 {
			return t.exec(qSetVersion, args([]any{int64(n), ws[n].Time}, keyArgs(k))...)
		}
		return nil
	})
	switch {
	case isDomain(err):
		return eventlog.AppendResult{}, fmt.Errorf("append batch to %s: %w", created.Key, err)
	case err != nil:
		return eventlog.AppendResult{}, s.dbError(fmt.Sprintf("append batch to %s", created.Key), err)
	}
	stored, sizes := make([]*eventlog.Record, 0, len(recs)-1), make([]int, 0, len(recs)-1)
	for i, rec := range recs {
		rec.Position = first + eventlog.Position(i)
		ws[i].Rec.Position, ws[i].Rec.Seq = rec.Position, rec.Seq
		if i > 0 {
			stored, sizes = append(stored, ws[i].Rec), append(sizes, len(ws[i].Body))
		}
	}
	if len(stored) > 0 {
		// The fork is read at once (Fork returns it): its events, decoded
		// already, need not come back from the file.
		s.cache.Filled(first, stored, sizes)
	}
	s.wake.Fire(created.Key.AppName)
	return eventlog.AppendResult{Record: ws[len(ws)-1].Rec}, nil
}
