package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// Append implements [eventlog.Store.Append]. Each append is one
// transaction: the conditions are checked against the session's locked
// row, and the record, the session's row and the state it writes in every
// scope commit together or not at all (other replicas hear of it after
// the commit, from the announcer, or at their next poll). Creations and event appends are one statement each (one round
// trip), and event appends that wait at the same moment travel together,
// in one round trip and one transaction; a deletion, which reads what its
// session leaves behind first, takes a few. A record whose state or event
// cannot be encoded as JSON is refused with ErrInvalidArgument before
// anything is written. A record whose position is set (an import) is
// placed there in a transaction of its own, one statement at a time.
//
// The record in the result is the stored one as readers decode it: its
// state and event values are JSON values as CONTRACT V1 reads them
// (integers as int, other numbers as float64, structs as maps), the same
// values the state tables hold. The result has no
// Durable: the record is durable when Append returns.
func (s *Store) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	if err := s.check(ctx); err != nil {
		return eventlog.AppendResult{}, err
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := eventlog.CheckRecord(rec); err != nil {
		return eventlog.AppendResult{}, err
	}
	w, err := s.encode(rec)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	var res eventlog.AppendResult
	switch {
	case rec.Position != 0:
		res, err = s.place(ctx, rec, w)
	case rec.Kind == eventlog.KindSessionCreated:
		res, err = s.create(ctx, s.pool, rec, w)
	case rec.Kind == eventlog.KindEventAppended:
		res, err = s.appendEvent(ctx, rec, w)
	default:
		// A deletion holds its session's row before it takes a position
		// (lockSession), as every write of a session does.
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if rec.Kind == eventlog.KindSessionDeleted {
				return s.delete(ctx, tx, rec, w)
			}
			return s.write(ctx, tx, rec, w, nil)
		})
		res.Record = w.rec
	}
	switch {
	case isDomain(err):
		return eventlog.AppendResult{}, fmt.Errorf("append %s record to %s: %w", rec.Kind, rec.Key, err)
	case err != nil:
		return eventlog.AppendResult{}, s.dbError(fmt.Sprintf("append %s record to %s", rec.Kind, rec.Key), err)
	}
	if !res.Duplicate {
		if rec.Kind != eventlog.KindEventAppended {
			// An event's record has its position already (eventResult):
			// it is in the cache, shared with readers, and never written
			// again.
			w.rec.Position, w.rec.Seq = rec.Position, rec.Seq
		}
		if rec.Kind == eventlog.KindSessionDeleted {
			s.cache.Drop(rec.Key)
		}
	}
	// A duplicate too: it may be this very event, stored by an earlier
	// try whose commit the caller never heard of (a connection lost at
	// commit, a batch that failed after it committed), and then nobody
	// has told the readers of it yet. When it is an older event, they
	// read and find nothing new.
	s.changed(rec.Key.AppName)
	return res, nil
}

// isDomain reports the errors that are answers, not failures.
func isDomain(err error) bool {
	return errors.Is(err, eventlog.ErrNotFound) || errors.Is(err, eventlog.ErrAlreadyExists) ||
		errors.Is(err, eventlog.ErrStaleSession) || errors.Is(err, eventlog.ErrInvalidArgument)
}

// The scopes of a state write, as write_state numbers them.
const (
	scopeSession = sqlrecord.ScopeSession
	scopeApp     = sqlrecord.ScopeApp
	scopeUser    = sqlrecord.ScopeUser
)

// stateWrites are a record's state writes as write_state takes them: keys
// without their prefix, each value encoded on its own (nil removes the
// key), and the scope of each.
type stateWrites struct {
	keys   [][]byte
	values [][]byte
	scopes []int16
}

// writesOf returns the writes the fold applies for rec, a record as
// readers decode it: a creation's and an event's keys in every scope, a
// retained record's app: and user: keys; never a temp: key. They come
// sorted by scope and then key.
func writesOf(rec *eventlog.Record) (stateWrites, error) {
	w, err := sqlrecord.WritesOf(rec)
	return stateWrites{keys: w.Keys, values: w.Values, scopes: w.Scopes}, err
}

// encoded is a record as the database keeps it: its JSON body, the record
// as readers decode that body, the time of it that a session's row keeps,
// and its state writes.
type encoded struct {
	body []byte
	rec  *eventlog.Record
	time string
	stateWrites
}

// encode encodes rec, refusing what JSON cannot hold (a function, a
// channel, NaN) before any write. The state writes come from the decoded
// record, so that the tables hold exactly what a fold of the log gives.
func (s *Store) encode(rec *eventlog.Record) (encoded, error) {
	if err := checkLengths(rec); err != nil {
		return encoded{}, fmt.Errorf("append %s record: %w", rec.Kind, err)
	}
	e, err := sqlrecord.Encode(rec)
	if err != nil {
		return encoded{}, err
	}
	return encoded{body: e.Body, rec: e.Rec, time: e.Time,
		stateWrites: stateWrites{keys: e.Keys, values: e.Values, scopes: e.Scopes}}, nil
}

// MaxKeyBytes bounds the bytes of a session key (app name, user ID and
// session ID together) plus an event ID, and of a state key with its
// session's key: PostgreSQL's indexes refuse entries much longer than
// this, and a refusal inside a batch would fail the appends beside it.
const MaxKeyBytes = 2048

// checkLengths refuses keys too long for the indexes, as
// ErrInvalidArgument, before anything is sent.
func checkLengths(rec *eventlog.Record) error {
	k := rec.Key
	n := len(k.AppName) + len(k.UserID) + len(k.SessionID)
	if rec.Event != nil {
		n += len(rec.Event.ID)
	}
	if n > MaxKeyBytes {
		return fmt.Errorf("%w: the key and event ID are %d bytes, more than %d", eventlog.ErrInvalidArgument, n, MaxKeyBytes)
	}
	for key := range rec.Writes() {
		if len(k.AppName)+len(k.UserID)+len(k.SessionID)+len(key) > MaxKeyBytes {
			return fmt.Errorf("%w: state key %.40q... is too long (at most %d bytes with the session's key)",
				eventlog.ErrInvalidArgument, key, MaxKeyBytes)
		}
	}
	return nil
}

// noChannel is the channel argument of create_session and append_event:
// none. They can send a notification in their transaction, but a
// transaction that sends one holds the server's notification lock from
// just before its commit to its end, WAL flush included, so that every
// notifying commit waits for the one before it; the store announces its
// appends after they commit instead (announce.go).
var noChannel *string

// payload names the app in a notification. NOTIFY takes text of under
// 8000 bytes; an app name that is not such text is sent as "", which
// wakes every reader.
func payload(app string) string {
	if len(app) > 4000 || !utf8.ValidString(app) || strings.IndexByte(app, 0) >= 0 {
		return ""
	}
	return app
}

// querier runs a statement that returns one row: the pool, or a
// transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// create creates a session with create_session: one statement, which
// returns the new session's merged state.
func (s *Store) create(ctx context.Context, q querier, rec *eventlog.Record, w encoded) (eventlog.AppendResult, error) {
	k := rec.Key
	var status int16
	var pos *int64
	var keys, vals [][]byte
	err := q.QueryRow(ctx, s.sql.createSession, []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID),
		w.body, w.time, w.keys, w.values, w.scopes, noChannel, "").Scan(&status, &pos, &keys, &vals)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	if status != 0 || pos == nil {
		return eventlog.AppendResult{}, eventlog.ErrAlreadyExists
	}
	state, err := decodeState(keys, vals)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	rec.Position = eventlog.Position(*pos)
	return eventlog.AppendResult{Record: w.rec, State: state}, nil
}

// place appends rec at its own position (see [eventlog.Store.Append]) in
// one transaction: it checks that the position is after the last one the
// sequence handed out and sets the sequence to the position before it, so
// that the write that follows, the same as any append's, takes the
// record's position. A write that took another one (an append of another
// replica came in between) is rolled back and refused: an import goes to
// a store nobody else writes. A deletion of a session that does not exist
// is stored as it is, and its app's and its user's records are counted as
// freed up to the position before it (ErrCompacted for readers behind
// it), since which of them the session held is not known.
func (s *Store) place(ctx context.Context, rec *eventlog.Record, w encoded) (eventlog.AppendResult, error) {
	pos := rec.Position
	if pos > math.MaxInt64 {
		return eventlog.AppendResult{}, fmt.Errorf("%w: position %d is beyond the largest PostgreSQL keeps (%d)", eventlog.ErrInvalidArgument, pos, int64(math.MaxInt64))
	}
	var res eventlog.AppendResult
	var appended *pending
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		res, appended = eventlog.AppendResult{}, nil
		// The transaction's ID first, before the sequence moves (see
		// take_position).
		if _, err := tx.Exec(ctx, s.sql.takeID); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRow(ctx, s.sql.lastPosition).Scan(&last); err != nil {
			return err
		}
		if int64(pos) <= last {
			return fmt.Errorf("%w: position %d is not after the store's last position %d", eventlog.ErrInvalidArgument, pos, last)
		}
		if _, err := tx.Exec(ctx, s.sql.setPosition, int64(pos)-1); err != nil {
			return err
		}
		err := s.placeAt(ctx, tx, rec, w, &res, &appended)
		if err == nil && rec.Position != pos {
			err = fmt.Errorf("position %d was taken by another write while it was placed: import into a store that nobody else writes", pos)
		}
		return err
	})
	if err != nil {
		rec.Position = pos
		return eventlog.AppendResult{}, err
	}
	if appended != nil {
		s.cache.Appended(appended.created, w.rec, len(w.body))
	}
	return res, nil
}

// placeAt writes rec, in place's transaction, at the next position.
func (s *Store) placeAt(ctx context.Context, tx pgx.Tx, rec *eventlog.Record, w encoded, res *eventlog.AppendResult, appended **pending) error {
	pos := rec.Position
	var err error
	switch rec.Kind {
	case eventlog.KindSessionCreated:
		*res, err = s.create(ctx, tx, rec, w)
		return err
	case eventlog.KindEventAppended:
		p := s.eventArgs(rec, w)
		if err := p.scan(tx.QueryRow(ctx, s.sql.appendEvent, p.args()...)); err != nil {
			return err
		}
		if p.status == statusDuplicate {
			return fmt.Errorf("%w: the session already holds event %q", eventlog.ErrInvalidArgument, rec.Event.ID)
		}
		*res, err = s.eventResult(rec, w, p)
		*appended = p
		return err
	case eventlog.KindSessionDeleted:
		err = s.delete(ctx, tx, rec, w)
		if errors.Is(err, eventlog.ErrNotFound) {
			err = s.write(ctx, tx, rec, w, func(b *pgx.Batch) {
				if freed := int64(pos) - 1; freed > 0 {
					app, user := []byte(rec.Key.AppName), []byte(rec.Key.UserID)
					b.Queue(s.sql.freeApp, app, freed)
					b.Queue(s.sql.freeUser, app, user, freed)
				}
			})
		}
	default:
		err = s.write(ctx, tx, rec, w, nil)
	}
	res.Record = w.rec
	return err
}

// eventArgs is the append of rec, whose encoding is w.
func (s *Store) eventArgs(rec *eventlog.Record, w encoded) *pending {
	return &pending{key: rec.Key, wantSeq: int64(rec.Seq), eventID: []byte(rec.Event.ID), body: w.body, time: w.time,
		incarnation: int64(rec.Incarnation), writes: w.stateWrites}
}

// appendEvent appends an event record through the committer, which sends
// the appends waiting at that moment to the server together, as one
// transaction, so that concurrent appends share one round trip and one
// WAL flush.
func (s *Store) appendEvent(ctx context.Context, rec *eventlog.Record, w encoded) (eventlog.AppendResult, error) {
	p := s.eventArgs(rec, w)
	if s.beforeCommit != nil {
		// Tests: one transaction of its own, with a pause before commit.
		p.err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := p.scan(tx.QueryRow(ctx, s.sql.appendEvent, p.args()...)); err != nil {
				return err
			}
			s.beforeCommit(tx)
			return nil
		})
	} else if err := s.commits.Do(ctx, p); err != nil {
		return eventlog.AppendResult{}, err
	}
	if p.err != nil {
		return eventlog.AppendResult{}, p.err
	}
	res, err := s.eventResult(rec, w, p)
	if err == nil && !res.Duplicate {
		s.cache.Appended(p.created, w.rec, len(w.body))
	}
	return res, err
}

// eventResult is the outcome of append_event for rec, from p's row.
func (s *Store) eventResult(rec *eventlog.Record, w encoded, p *pending) (eventlog.AppendResult, error) {
	k := rec.Key
	switch p.status {
	case statusAppended:
		rec.Position, rec.Seq = p.pos, p.seq
		w.rec.Position, w.rec.Seq = p.pos, p.seq
		return eventlog.AppendResult{Record: w.rec}, nil
	case statusNotFound:
		return eventlog.AppendResult{}, eventlog.ErrNotFound
	case statusDuplicate:
		stored, err := s.cache.Event(p.created, k, rec.Event.ID, p.pos, p.seq, p.stored)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		return eventlog.AppendResult{Record: stored, Duplicate: true}, nil
	}
	return eventlog.AppendResult{}, fmt.Errorf("%w: the handle is at version %d, the store at version %d", eventlog.ErrStaleSession, rec.Seq-1, p.version)
}

// write takes the next position and writes rec there with its state and
// its notification, after the statements of before, all in one round trip.
// It sets rec.Position. before's statements are queued after the position
// is taken, so they may read it as currval of the sequence.
func (s *Store) write(ctx context.Context, tx pgx.Tx, rec *eventlog.Record, w encoded, before func(*pgx.Batch)) error {
	k := rec.Key
	app, user, id := []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID)
	b := &pgx.Batch{}
	b.Queue(s.sql.next).QueryRow(func(row pgx.Row) error { return row.Scan(&rec.Position) })
	if before != nil {
		before(b)
	}
	var eventID []byte
	if rec.Event != nil {
		eventID = []byte(rec.Event.ID)
	}
	b.Queue(s.sql.insertRecord, int16(rec.Kind), app, user, id, int64(rec.Seq), eventID, w.body)
	if len(w.keys) > 0 {
		b.Queue(s.sql.writeState, app, user, id, w.keys, w.values, w.scopes)
	}
	return tx.SendBatch(ctx, b).Close()
}

// delete frees the session's records, keeping the app: and user: writes
// that no later write of its own overrides at their positions (CONTRACT
// D3), drops its row and its own state, raises the last freed position of
// its app and its user (for ErrCompacted), and logs the deletion.
func (s *Store) delete(ctx context.Context, tx pgx.Tx, rec *eventlog.Record, w encoded) error {
	k := rec.Key
	app, user, id := []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID)
	// One round trip: the records are read by a statement of their own,
	// which starts once the lock is held (see lockSession).
	b := &pgx.Batch{}
	b.Queue(s.sql.lockSession, app, user, id)
	b.Queue(s.sql.sessionRecords, app, user, id)
	results := tx.SendBatch(ctx, b)
	var created int64
	if err := results.QueryRow().Scan(&created); err != nil {
		_ = results.Close()
		if errors.Is(err, pgx.ErrNoRows) {
			return eventlog.ErrNotFound
		}
		return err
	}
	var records []*eventlog.Record
	rows, err := results.Query()
	if err == nil {
		for rows.Next() {
			var pos, seq int64
			var body []byte
			if err = rows.Scan(&pos, &seq, &body); err != nil {
				break
			}
			var r *eventlog.Record
			if r, err = decode(eventlog.Position(pos), uint64(seq), body); err != nil {
				break
			}
			records = append(records, r)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err = errors.Join(err, results.Close()); err != nil {
		return err
	}
	var freed int64
	if len(records) > 0 {
		freed = int64(records[len(records)-1].Position)
	}
	var kept [][]byte
	retained := eventlog.Retained(records)
	for _, r := range retained {
		body, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode what session %s leaves at position %d: %w", k, r.Position, err)
		}
		kept = append(kept, body)
	}
	return s.write(ctx, tx, rec, w, func(b *pgx.Batch) {
		b.Queue(s.sql.dropRecords, app, user, id)
		for i, r := range retained {
			b.Queue(s.sql.insertAt, int64(r.Position), int16(eventlog.KindStateRetained), app, user, id, kept[i])
		}
		b.Queue(s.sql.dropState, app, user, id)
		b.Queue(s.sql.dropSession, app, user, id)
		if freed > 0 {
			b.Queue(s.sql.freeApp, app, freed)
			b.Queue(s.sql.freeUser, app, user, freed)
		}
	})
}

// decode reads a record's body; its position, and an event's sequence
// number, are the columns'.
func decode(pos eventlog.Position, seq uint64, body []byte) (*eventlog.Record, error) {
	return sqlrecord.Decode(pos, seq, body)
}

// decodeState builds a merged state from its keys and JSON values, read
// as every store reads them (CONTRACT V1).
func decodeState(keys, vals [][]byte) (map[string]any, error) {
	return sqlrecord.DecodeState(keys, vals)
}
