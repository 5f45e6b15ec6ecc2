package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// Append implements [eventlog.Store.Append]. Each append is one
// transaction: the conditions are checked against the session's locked row,
// and the record, the session's version, the app and user state it writes
// and the notification to other replicas commit together or not at all. A
// record whose state or event cannot be encoded as JSON is refused with
// ErrInvalidArgument before anything is written. The record returned is the
// stored one as readers decode it: its state and event values are JSON's
// (numbers are float64, structs are maps).
func (s *Store) Append(ctx context.Context, rec *eventlog.Record) (*eventlog.Record, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := eventlog.CheckRecord(rec); err != nil {
		return nil, err
	}
	w, err := s.encode(rec)
	if err != nil {
		return nil, err
	}
	var stored *eventlog.Record
	var incarnation eventlog.Position
	if rec.Kind == eventlog.KindEventAppended {
		incarnation, stored, err = s.appendEvent(ctx, rec, w)
	} else {
		// Every write takes the head row before any other row, so writers
		// never wait for each other in a cycle: write's batch starts by
		// taking it, and a deletion, which reads its session's rows
		// first, takes it before that.
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			switch rec.Kind {
			case eventlog.KindSessionCreated:
				return s.create(ctx, tx, rec, w)
			case eventlog.KindSessionDeleted:
				return s.delete(ctx, tx, rec, w)
			}
			return s.write(ctx, tx, rec, w, nil)
		})
	}
	switch {
	case errors.Is(err, eventlog.ErrDuplicateEvent):
		return stored, err
	case isDomain(err):
		return nil, fmt.Errorf("append %s record to %s: %w", rec.Kind, rec.Key, err)
	case err != nil:
		return nil, s.dbError(fmt.Sprintf("append %s record to %s", rec.Kind, rec.Key), err)
	}
	// Hand back the record as every reader will see it, decoded from what
	// was stored, so that this replica folds the same values (numbers as
	// float64, and so on) as the others and as a rebuild (CONTRACT R1).
	out, err := decode(rec.Position, w.body)
	if err != nil {
		return nil, fmt.Errorf("pgstore: append %s record to %s: %w", rec.Kind, rec.Key, err)
	}
	switch rec.Kind {
	case eventlog.KindEventAppended:
		s.cache.appended(incarnation, out)
	case eventlog.KindSessionDeleted:
		s.cache.drop(rec.Key)
	}
	s.wake.fire(rec.Key.AppName)
	return out, nil
}

// isDomain reports the errors that are answers, not failures.
func isDomain(err error) bool {
	return errors.Is(err, eventlog.ErrNotFound) || errors.Is(err, eventlog.ErrAlreadyExists) ||
		errors.Is(err, eventlog.ErrStaleSession) || errors.Is(err, eventlog.ErrInvalidArgument)
}

// encoded is a record as the database keeps it: its JSON body, and its
// app: and user: writes as write_state takes them: keys without their
// prefix, each value encoded on its own (nil removes the key), and whether
// each is the user's.
type encoded struct {
	body       []byte
	keys       [][]byte
	values     [][]byte
	userScoped []bool
}

// encode encodes rec, refusing what JSON cannot hold (a function, a
// channel, NaN) before any write.
func (s *Store) encode(rec *eventlog.Record) (encoded, error) {
	if err := checkLengths(rec); err != nil {
		return encoded{}, fmt.Errorf("append %s record: %w", rec.Kind, err)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return encoded{}, fmt.Errorf("append %s record to %s: %w: it cannot be encoded as JSON: %w",
			rec.Kind, rec.Key, eventlog.ErrInvalidArgument, err)
	}
	out := encoded{body: body}
	for k, v := range rec.Writes() {
		var key []byte
		user := false
		switch {
		case strings.HasPrefix(k, eventlog.AppPrefix):
			key = []byte(k[len(eventlog.AppPrefix):])
		case strings.HasPrefix(k, eventlog.UserPrefix):
			key, user = []byte(k[len(eventlog.UserPrefix):]), true
		default:
			continue
		}
		var value []byte
		if !projection.IsRemoved(v) {
			if value, err = json.Marshal(v); err != nil {
				return encoded{}, fmt.Errorf("append %s record to %s: %w: state %q cannot be encoded as JSON: %w",
					rec.Kind, rec.Key, eventlog.ErrInvalidArgument, k, err)
			}
		}
		out.keys, out.values, out.userScoped = append(out.keys, key), append(out.values, value), append(out.userScoped, user)
	}
	return out, nil
}

// MaxKeyBytes bounds the bytes of a session key (app name, user ID and
// session ID together) plus an event ID, and of an app or user state key
// with its app name and user ID: PostgreSQL's indexes refuse entries much
// longer than this, and a refusal inside a batch would fail the appends
// beside it.
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
		if len(k.AppName)+len(k.UserID)+len(key) > MaxKeyBytes {
			return fmt.Errorf("%w: state key %.40q... is too long (at most %d bytes with the app name and user ID)",
				eventlog.ErrInvalidArgument, key, MaxKeyBytes)
		}
	}
	return nil
}

// write takes the next position and writes rec there with its state and
// its notification, after the statements of before, all in one round trip.
// It sets rec.Position. before's statements are queued after the position
// is taken, so they may read it from the head row.
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
		b.Queue(s.sql.writeState, app, user, w.keys, w.values, w.userScoped)
	}
	if !s.noNotify {
		b.Queue(s.sql.notify, s.channel, payload(k.AppName))
	}
	return tx.SendBatch(ctx, b).Close()
}

// payload names the app in a notification. NOTIFY takes text of under
// 8000 bytes; an app name that is not such text is sent as "", which
// wakes every reader.
func payload(app string) string {
	if len(app) > 4000 || !utf8.ValidString(app) || strings.IndexByte(app, 0) >= 0 {
		return ""
	}
	return app
}

func (s *Store) create(ctx context.Context, tx pgx.Tx, rec *eventlog.Record, w encoded) error {
	k := rec.Key
	var created pgconn.CommandTag
	err := s.write(ctx, tx, rec, w, func(b *pgx.Batch) {
		b.Queue(s.sql.createSession, []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID)).Exec(func(tag pgconn.CommandTag) error {
			created = tag
			return nil
		})
	})
	if err != nil {
		return err
	}
	if created.RowsAffected() == 0 {
		return eventlog.ErrAlreadyExists
	}
	return nil
}

// appendEvent appends an event record through the committer, which sends
// the appends waiting at that moment to the server together, as one
// transaction, so that concurrent appends share one round trip and one
// WAL flush. It returns the session's incarnation, and with
// ErrDuplicateEvent the stored record.
func (s *Store) appendEvent(ctx context.Context, rec *eventlog.Record, w encoded) (eventlog.Position, *eventlog.Record, error) {
	k := rec.Key
	var channel *string
	if !s.noNotify {
		channel = &s.channel
	}
	p := &pending{args: []any{
		[]byte(k.AppName), []byte(k.UserID), []byte(k.SessionID), int64(rec.Seq), []byte(rec.Event.ID), w.body,
		w.keys, w.values, w.userScoped, channel, payload(k.AppName), int64(rec.Incarnation),
	}}
	if s.beforeCommit != nil {
		// Tests: one transaction of its own, with a pause before commit.
		p.err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := p.scan(tx.QueryRow(ctx, s.sql.appendEvent, p.args...)); err != nil {
				return err
			}
			s.beforeCommit(tx)
			return nil
		})
	} else if err := s.commits.do(ctx, s.pool, s.sql.appendEvent, p); err != nil {
		return 0, nil, err
	}
	if p.err != nil {
		return 0, nil, p.err
	}
	switch p.status {
	case statusAppended:
		rec.Position = p.pos
		return p.created, nil, nil
	case statusNotFound:
		return 0, nil, eventlog.ErrNotFound
	case statusDuplicate:
		stored, err := s.cache.event(p.created, k, rec.Event.ID, p.pos, p.stored)
		if err != nil {
			return 0, nil, err
		}
		return p.created, stored, eventlog.ErrDuplicateEvent
	}
	return 0, nil, fmt.Errorf("%w: the handle is at version %d, the store at version %d", eventlog.ErrStaleSession, rec.Seq-1, p.version)
}

// delete frees the session's records, keeping the app: and user: writes
// that no later write of its own overrides at their positions (CONTRACT
// D3), and logs the deletion.
func (s *Store) delete(ctx context.Context, tx pgx.Tx, rec *eventlog.Record, w encoded) error {
	k := rec.Key
	app, user, id := []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID)
	if _, err := tx.Exec(ctx, s.sql.lockHead); err != nil {
		return err
	}
	var created eventlog.Position
	if err := tx.QueryRow(ctx, s.sql.lockSession, app, user, id).Scan(&created); errors.Is(err, pgx.ErrNoRows) {
		return eventlog.ErrNotFound
	} else if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, s.sql.sessionRecords, app, user, id)
	if err != nil {
		return err
	}
	var records []*eventlog.Record
	for rows.Next() {
		var pos eventlog.Position
		var body []byte
		if err := rows.Scan(&pos, &body); err != nil {
			rows.Close()
			return err
		}
		r, err := decode(pos, body)
		if err != nil {
			rows.Close()
			return err
		}
		records = append(records, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var kept []encoded
	retained := eventlog.Retained(records)
	for _, r := range retained {
		body, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode what session %s leaves at position %d: %w", k, r.Position, err)
		}
		kept = append(kept, encoded{body: body})
	}
	return s.write(ctx, tx, rec, w, func(b *pgx.Batch) {
		b.Queue(s.sql.dropRecords, app, user, id)
		for i, r := range retained {
			b.Queue(s.sql.insertAt, int64(r.Position), int16(eventlog.KindStateRetained), app, user, id, kept[i].body)
		}
		b.Queue(s.sql.deleteSession, app, user, id)
	})
}

// decode reads a record's body.
func decode(pos eventlog.Position, body []byte) (*eventlog.Record, error) {
	rec := new(eventlog.Record)
	if err := json.Unmarshal(body, rec); err != nil {
		return nil, fmt.Errorf("record at position %d is damaged: %w", pos, err)
	}
	rec.Position = pos
	return rec, nil
}
