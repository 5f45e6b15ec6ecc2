package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessionlog/sessionlog/eventlog"
)

// Read implements [eventlog.Store.Read]. A session's records commit in
// position order (each write holds the session's row when it takes its
// position), so a session scope reads what has committed. Records of many
// sessions may commit out of order, so a read of an app, a user or the
// whole store goes only up to the horizon (horizon.go), a position below
// which every record has committed or never will: first up to the
// horizon already known, and, unless that fills the page, then up to a
// horizon fresh for this call. A record whose transaction is still open
// holds back the records after it until it ends. Each statement reads the
// records and, for an app or a user, the last position a deletion freed
// there, which gives ErrCompacted to a reader behind it.
func (s *Store) Read(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	if err := s.check(ctx); err != nil {
		return nil, after, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if limit <= 0 {
		return nil, after, fmt.Errorf("read: %w: limit %d is not positive", eventlog.ErrInvalidArgument, limit)
	}
	if scope.IsSession() {
		recs, err := s.readRange(ctx, scope, after, 0, limit)
		if err != nil || len(recs) == 0 {
			return nil, after, err
		}
		return recs, recs[len(recs)-1].Position, nil
	}
	var recs []*eventlog.Record
	known := s.horizon.known()
	if known > after {
		var err error
		if recs, err = s.readRange(ctx, scope, after, known, limit); err != nil {
			return nil, after, err
		}
		if len(recs) == limit {
			return recs, recs[len(recs)-1].Position, nil
		}
	}
	upTo, err := s.horizon.fresh(ctx)
	if err != nil {
		return nil, after, s.dbError("read", err)
	}
	if s.afterFresh != nil {
		s.afterFresh()
	}
	// Positions still to be settled, or settled by another read's step
	// since this one's (its reader would wait for a wake-up that was
	// spent before it): the readers are woken again shortly.
	if s.horizon.pending() || s.horizon.known() > upTo {
		s.nudge()
	}
	from := max(after, known)
	switch {
	case upTo > from:
		more, err := s.readRange(ctx, scope, from, upTo, limit-len(recs))
		if err != nil {
			// A deletion that committed since the first range was read:
			// the records of that range are dropped with the error, so
			// the read is behind from its own start.
			var compacted *eventlog.CompactedError
			if errors.As(err, &compacted) {
				compacted.After = after
			}
			return nil, after, err
		}
		recs = append(recs, more...)
	case known <= after:
		return nil, after, s.checkScope(ctx, scope, after)
	}
	through := max(from, upTo)
	if len(recs) == limit {
		through = recs[len(recs)-1].Position
	}
	return recs, through, nil
}

// readRange reads at most limit records of scope after after and, but for
// a session scope, up to upTo, in one statement, which also reads the
// scope's guard (see guardError).
func (s *Store) readRange(ctx context.Context, scope eventlog.Scope, after, upTo eventlog.Position, limit int) ([]*eventlog.Record, error) {
	from := int64(min(after, math.MaxInt64))
	var rows pgx.Rows
	var err error
	app, user, id := []byte(scope.AppName), []byte(scope.UserID), []byte(scope.SessionID)
	switch {
	case scope.AppName == "":
		rows, err = s.pool.Query(ctx, s.sql.readAll, from, limit, int64(upTo))
	case scope.IsSession():
		rows, err = s.pool.Query(ctx, s.sql.readSession, from, limit, app, user, id)
	case scope.UserID != "":
		rows, err = s.pool.Query(ctx, s.sql.readUser, from, limit, int64(upTo), app, user)
	default:
		rows, err = s.pool.Query(ctx, s.sql.readApp, from, limit, int64(upTo), app)
	}
	if err != nil {
		return nil, s.dbError("read", err)
	}
	defer rows.Close()
	var (
		recs []*eventlog.Record
		// guard is the session's incarnation for a session scope, and
		// the last position freed in the scope for an app or a user.
		guard *eventlog.Position
	)
	for rows.Next() {
		var pos *eventlog.Position
		var seq *int64
		var body []byte
		if err := rows.Scan(&guard, &pos, &seq, &body); err != nil {
			return nil, s.dbError("read", err)
		}
		if pos == nil {
			continue // no records: the row only carries the guard
		}
		rec, err := decode(*pos, uint64(*seq), body)
		if err != nil {
			return nil, fmt.Errorf("pgstore: read: %w", err)
		}
		if rec.Kind == eventlog.KindSessionDeleted {
			s.cache.Drop(rec.Key)
		}
		recs = append(recs, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbError("read", err)
	}
	if err := guardError(scope, after, guard); err != nil {
		return nil, err
	}
	return recs, nil
}

// guardError is the error a read's guard gives: ErrNotFound for a session
// that is gone (or not the incarnation the scope pins), ErrCompacted for
// an app or user reader behind records a deletion freed.
func guardError(scope eventlog.Scope, after eventlog.Position, guard *eventlog.Position) error {
	switch {
	case scope.IsSession():
		if guard == nil || (scope.Incarnation != 0 && *guard != scope.Incarnation) {
			return fmt.Errorf("read session %s: %w", scope.Key(), eventlog.ErrNotFound)
		}
	case scope.AppName != "" && guard != nil && *guard > after:
		return &eventlog.CompactedError{Scope: scope, After: after, Served: *guard}
	}
	return nil
}

// checkScope is what a read that the horizon keeps from reading anything
// still owes its caller: ErrCompacted, if a deletion freed records of
// the scope after after.
func (s *Store) checkScope(ctx context.Context, scope eventlog.Scope, after eventlog.Position) error {
	if scope.AppName == "" {
		return nil
	}
	var guard *eventlog.Position
	var err error
	if scope.UserID != "" {
		err = s.pool.QueryRow(ctx, s.sql.freedUser, []byte(scope.AppName), []byte(scope.UserID)).Scan(&guard)
	} else {
		err = s.pool.QueryRow(ctx, s.sql.freedApp, []byte(scope.AppName)).Scan(&guard)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return s.dbError("read", err)
	}
	return guardError(scope, after, guard)
}

// nudge wakes every reader a little later, when the horizon waits for
// transactions still open: no notification may come once they end (a
// rollback sends none). The pause doubles while the horizon keeps waiting,
// up to the poll interval.
func (s *Store) nudge() {
	s.nudgeMu.Lock()
	defer s.nudgeMu.Unlock()
	if s.nudging || s.closed.Load() {
		return
	}
	s.nudging = true
	s.nudgeDelay = min(max(2*s.nudgeDelay, nudgeFirst), s.pollInterval)
	time.AfterFunc(s.nudgeDelay, func() {
		s.nudgeMu.Lock()
		s.nudging = false
		if !s.horizon.pending() {
			s.nudgeDelay = 0
		}
		s.nudgeMu.Unlock()
		s.wake.Fire("")
	})
}

// nudgeFirst is nudge's first pause.
const nudgeFirst = 2 * time.Millisecond

// Changes implements [eventlog.Store.Changes]: the channel closes when a
// notification names the scope's app (or any app, for the whole store),
// at the next poll, or when the store closes. The first call starts the
// listener's connection; until it listens, the poll wakes the readers,
// and once it listens it wakes them all, for what it may have missed.
func (s *Store) Changes(scope eventlog.Scope) <-chan struct{} {
	s.startListening()
	return s.wake.Wait(scope.AppName)
}
