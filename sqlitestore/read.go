package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// Read implements [eventlog.Store.Read] in one read transaction: the
// records, the head position and the scope's guard (a session's
// incarnation, or the last position a deletion freed in an app or a user)
// of one snapshot. One writer at a time commits positions in order, so
// every record up to that head is in the snapshot, which is how far a read
// that found fewer than limit records got.
func (s *Store) Read(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return nil, after, err
	}
	defer done()
	if limit <= 0 {
		return nil, after, fmt.Errorf("read: %w: limit %d is not positive", eventlog.ErrInvalidArgument, limit)
	}
	recs, through, err := s.readLog(ctx, scope, after, limit)
	switch {
	case isDomain(err), errors.Is(err, eventlog.ErrCompacted):
		return nil, after, err
	case err != nil:
		return nil, after, s.dbError("read", err)
	}
	return recs, through, nil
}

func (s *Store) readLog(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) (recs []*eventlog.Record, through eventlog.Position, err error) {
	t, err := s.begin(ctx, false)
	if err != nil {
		return nil, after, err
	}
	defer func() { err = errors.Join(err, t.tx.Rollback()) }()
	var head int64
	if err := t.scan(qHead, nil, &head); err != nil {
		return nil, after, err
	}
	from := int64(min(after, math.MaxInt64))
	app, user := blob(scope.AppName), blob(scope.UserID)
	var guard int64
	guarded := func(q string, a ...any) error {
		err := t.scan(q, a, &guard)
		if errors.Is(err, sql.ErrNoRows) {
			guard = 0
			return nil
		}
		return err
	}
	var rows []row
	switch {
	case scope.AppName == "":
		rows, err = t.records(qReadAll, from, limit)
	case scope.IsSession():
		ka := keyArgs(scope.Key())
		err = t.scan(qSessionCreated, ka, &guard)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && scope.Incarnation != 0 && eventlog.Position(guard) != scope.Incarnation) {
			return nil, after, fmt.Errorf("read session %s: %w", scope.Key(), eventlog.ErrNotFound)
		}
		if err == nil {
			rows, err = t.records(qReadSession, args(ka, []any{from, limit})...)
		}
	case scope.UserID != "":
		if err = guarded(qUserFreed, app, user); err == nil && guard <= from {
			rows, err = t.records(qReadUser, app, user, from, limit)
		}
	default:
		if err = guarded(qAppFreed, app); err == nil && guard <= from {
			rows, err = t.records(qReadApp, app, from, limit)
		}
	}
	if err != nil {
		return nil, after, err
	}
	if scope.AppName != "" && !scope.IsSession() && guard > from {
		return nil, after, &eventlog.CompactedError{Scope: scope, After: after, Served: eventlog.Position(guard)}
	}
	for _, r := range rows {
		rec, err := sqlrecord.Decode(eventlog.Position(r.pos), uint64(r.seq), r.body)
		if err != nil {
			return nil, after, err
		}
		if rec.Kind == eventlog.KindSessionDeleted {
			s.cache.Drop(rec.Key)
		}
		recs = append(recs, rec)
	}
	through = max(after, eventlog.Position(head))
	if len(recs) == limit {
		through = recs[len(recs)-1].Position
	}
	return recs, through, nil
}

// Changes implements [eventlog.Store.Changes]: the channel closes at this
// store's next append in the scope's app (or in any app, for the whole
// store), at the next poll that finds another store's appends, or when
// the store closes.
func (s *Store) Changes(scope eventlog.Scope) <-chan struct{} {
	return s.wake.Wait(scope.AppName)
}
