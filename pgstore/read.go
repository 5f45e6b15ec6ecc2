package pgstore

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/sessionlog/sessionlog/eventlog"
)

// Read implements [eventlog.Store.Read]. One statement reads the records
// and the head position of one snapshot; because records commit in
// position order, every record up to that head is visible in it, which is
// how far a read that found fewer than limit records got. The same
// statement reads, for an app or a user, the last position a deletion
// freed there, which gives ErrCompacted to a reader behind it.
func (s *Store) Read(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	if err := s.check(ctx); err != nil {
		return nil, after, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if limit <= 0 {
		return nil, after, fmt.Errorf("read: %w: limit %d is not positive", eventlog.ErrInvalidArgument, limit)
	}
	from := int64(min(after, math.MaxInt64))
	var rows pgx.Rows
	var err error
	app, user, id := []byte(scope.AppName), []byte(scope.UserID), []byte(scope.SessionID)
	switch {
	case scope.AppName == "":
		rows, err = s.pool.Query(ctx, s.sql.readAll, from, limit)
	case scope.IsSession():
		rows, err = s.pool.Query(ctx, s.sql.readSession, from, limit, app, user, id)
	case scope.UserID != "":
		rows, err = s.pool.Query(ctx, s.sql.readUser, from, limit, app, user)
	default:
		rows, err = s.pool.Query(ctx, s.sql.readApp, from, limit, app)
	}
	if err != nil {
		return nil, after, s.dbError("read", err)
	}
	defer rows.Close()
	var (
		recs []*eventlog.Record
		head eventlog.Position
		// guard is the session's incarnation for a session scope, and
		// the last position freed in the scope for an app or a user.
		guard *eventlog.Position
	)
	for rows.Next() {
		var pos *eventlog.Position
		var seq *int64
		var body []byte
		if err := rows.Scan(&head, &guard, &pos, &seq, &body); err != nil {
			return nil, after, s.dbError("read", err)
		}
		if pos == nil {
			continue // no records: the row only carries the head
		}
		rec, err := decode(*pos, uint64(*seq), body)
		if err != nil {
			return nil, after, fmt.Errorf("pgstore: read: %w", err)
		}
		if rec.Kind == eventlog.KindSessionDeleted {
			s.cache.drop(rec.Key)
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, after, s.dbError("read", err)
	}
	switch {
	case scope.IsSession():
		if guard == nil || (scope.Incarnation != 0 && *guard != scope.Incarnation) {
			return nil, after, fmt.Errorf("read session %s: %w", scope.Key(), eventlog.ErrNotFound)
		}
	case scope.AppName != "" && guard != nil && *guard > after:
		return nil, after, &eventlog.CompactedError{Scope: scope, After: after, Served: *guard}
	}
	through := max(after, head)
	if len(recs) == limit {
		through = recs[len(recs)-1].Position
	}
	return recs, through, nil
}

// Changes implements [eventlog.Store.Changes]: the channel closes when a
// notification names the scope's app (or any app, for the whole store),
// at the next poll, or when the store closes.
func (s *Store) Changes(scope eventlog.Scope) <-chan struct{} {
	return s.wake.wait(scope.AppName)
}
