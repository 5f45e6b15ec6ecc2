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
	ctx, cancel := s.bound(ctx)
	defer cancel()
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
	events := recs[1:]
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The events take their positions after the creation's.
		if _, err := s.create(ctx, tx, created, ws[0]); err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		return s.writeEvents(ctx, tx, events, ws[1:])
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
	if len(events) > 0 {
		stored, sizes := make([]*eventlog.Record, len(events)), make([]int, len(events))
		for i, rec := range events {
			w := ws[i+1]
			w.rec.Position, w.rec.Seq = rec.Position, rec.Seq
			stored[i], sizes[i] = w.rec, len(w.body)
		}
		// The fork is read at once (Fork returns it): its events, decoded
		// already, need not come back from the database.
		s.cache.Filled(created.Position, stored, sizes)
	}
	s.changed(created.Key.AppName)
	return eventlog.AppendResult{Record: ws[len(ws)-1].rec}, nil
}

// writeEvents writes the events of a session tx has just created, events[i]
// with sequence number i+1, at positions after the creation's in sequence
// order (it sets each event's Position), in one round trip: the records in one statement, and the state writes
// folded in Go first, so that each key is written once, with the value and
// the position of the event that wrote it last (the fold's outcome).
func (s *Store) writeEvents(ctx context.Context, tx pgx.Tx, events []*eventlog.Record, ws []encoded) error {
	k := events[0].Key
	app, user, id := []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID)
	n := len(events)
	ids, bodies := make([][]byte, n), make([][]byte, n)
	type write struct {
		value []byte
		at    int // the index of the event that wrote it last
	}
	last := map[scopedKey]write{}
	for i, w := range ws {
		ids[i], bodies[i] = []byte(events[i].Event.ID), w.body
		for j, key := range w.keys {
			last[scopedKey{w.scopes[j], string(key)}] = write{w.values[j], i}
		}
	}
	// The writes grouped by the event whose position they keep.
	groups := map[int]*stateWrites{}
	for sk, wr := range last {
		g := groups[wr.at]
		if g == nil {
			g = &stateWrites{}
			groups[wr.at] = g
		}
		g.keys, g.values, g.scopes = append(g.keys, []byte(sk.key)), append(g.values, wr.value), append(g.scopes, sk.scope)
	}
	b := &pgx.Batch{}
	b.Queue(s.sql.insertEvents, app, user, id, ids, bodies).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var seq, pos int64
			if err := rows.Scan(&seq, &pos); err != nil {
				return err
			}
			if seq < 1 || seq > int64(n) {
				return fmt.Errorf("insert of a batch returned sequence number %d of %d", seq, n)
			}
			events[seq-1].Position = eventlog.Position(pos)
		}
		return rows.Err()
	})
	b.Queue(s.sql.setVersion, app, user, id, int64(n), ws[n-1].time)
	for at, g := range groups {
		b.Queue(s.sql.writeStateAt, app, user, id, g.keys, g.values, g.scopes, int64(at+1))
	}
	return tx.SendBatch(ctx, b).Close()
}

// scopedKey is a state key in its scope.
type scopedKey struct {
	scope int16
	key   string
}
