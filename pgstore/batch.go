package pgstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/sessionlog/sessionlog/eventlog"
)

// AppendBatch implements [eventlog.Store.AppendBatch] as one transaction:
// the creation, then every event in one round trip, committed together or
// not at all. Records that cannot be encoded are refused before anything
// is sent.
func (s *Store) AppendBatch(ctx context.Context, recs []*eventlog.Record) (eventlog.AppendResult, error) {
	if err := s.check(ctx); err != nil {
		return eventlog.AppendResult{}, err
	}
	if err := eventlog.CheckBatch(recs); err != nil {
		return eventlog.AppendResult{}, err
	}
	created := recs[0]
	ws := make([]encoded, len(recs))
	for i, rec := range recs {
		if i > 0 {
			rec.Seq = uint64(i)
		}
		w, err := s.encode(rec)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		ws[i] = w
	}
	events := make([]*pending, len(recs)-1)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.create(ctx, tx, created, ws[0]); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for i, rec := range recs[1:] {
			p := s.eventArgs(rec, ws[i+1])
			events[i] = p
			b.Queue(s.sql.appendEvent, p.args...).QueryRow(p.scan)
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		for i, p := range events {
			if p.status != statusAppended {
				// The session is this transaction's own: nothing else can
				// have written it.
				return fmt.Errorf("event %q of the batch was not appended (status %d)", recs[i+1].Event.ID, p.status)
			}
		}
		return nil
	})
	if err != nil {
		for _, rec := range recs {
			rec.Position = 0 // rolled back: never used
		}
	}
	switch {
	case isDomain(err):
		return eventlog.AppendResult{}, fmt.Errorf("append batch to %s: %w", created.Key, err)
	case err != nil:
		return eventlog.AppendResult{}, s.dbError(fmt.Sprintf("append batch to %s", created.Key), err)
	}
	ws[0].rec.Position = created.Position
	for i, p := range events {
		rec, w := recs[i+1], ws[i+1]
		rec.Position, rec.Seq = p.pos, p.seq
		w.rec.Position, w.rec.Seq = p.pos, p.seq
	}
	s.wake.fire(created.Key.AppName)
	return eventlog.AppendResult{Record: ws[len(ws)-1].rec}, nil
}
