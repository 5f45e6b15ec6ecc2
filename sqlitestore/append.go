package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// Append implements [eventlog.Store.Append]. The conditions are checked in
// Go inside the writer's transaction, which holds the file's write lock,
// and the record, the session's row and the state it writes in every
// scope commit together or not at all, with the other writes waiting at
// the same moment (group commit, see [Options.Sync]). A record whose state
// or event cannot be encoded as JSON is refused with ErrInvalidArgument
// before anything is written.
//
// The record in the result is the stored one as readers decode it: its
// state and event values are JSON values as CONTRACT V1 reads them
// (integers as int, other numbers as float64, structs as maps), the same
// values the state tables hold. The result has no
// Durable: the record is as durable as the sync policy makes it when
// Append returns.
func (s *Store) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	done, err := s.enter(ctx)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	defer done()
	if err := eventlog.CheckRecord(rec); err != nil {
		return eventlog.AppendResult{}, err
	}
	w, err := sqlrecord.Encode(rec)
	if err != nil {
		return eventlog.AppendResult{}, err
	}
	var out outcome
	err = s.write(ctx, func(t *txn) error {
		out = outcome{}
		return t.append(rec, w, &out)
	})
	switch {
	case isDomain(err):
		return eventlog.AppendResult{}, fmt.Errorf("append %s record to %s: %w", rec.Kind, rec.Key, err)
	case err != nil:
		return eventlog.AppendResult{}, s.dbError(fmt.Sprintf("append %s record to %s", rec.Kind, rec.Key), err)
	}
	if out.dup != nil {
		stored, err := s.cache.Event(out.created, rec.Key, rec.Event.ID, eventlog.Position(out.dup.pos), uint64(out.dup.seq), out.dup.body)
		if err != nil {
			return eventlog.AppendResult{}, s.dbError(fmt.Sprintf("append %s record to %s", rec.Kind, rec.Key), err)
		}
		return eventlog.AppendResult{Record: stored, Duplicate: true}, nil
	}
	rec.Position = out.pos
	w.Rec.Position = out.pos
	if rec.Kind == eventlog.KindEventAppended {
		rec.Seq, w.Rec.Seq = out.seq, out.seq
		s.cache.Appended(out.created, w.Rec, len(w.Body))
	}
	if rec.Kind == eventlog.KindSessionDeleted {
		s.cache.Drop(rec.Key)
	}
	s.wake.Fire(rec.Key.AppName)
	return eventlog.AppendResult{Record: w.Rec, State: out.state}, nil
}

// isDomain reports the errors that are answers, not failures.
func isDomain(err error) bool {
	return errors.Is(err, eventlog.ErrNotFound) || errors.Is(err, eventlog.ErrAlreadyExists) ||
		errors.Is(err, eventlog.ErrStaleSession) || errors.Is(err, eventlog.ErrInvalidArgument)
}

// outcome is what an append did, for the caller to act on once it has
// committed.
type outcome struct {
	pos     eventlog.Position
	seq     uint64
	created eventlog.Position // the session's incarnation (events)
	state   map[string]any    // a creation's merged state
	dup     *row              // the stored event with the same ID
}

// append checks rec's conditions and writes it, as Append describes.
func (t *txn) append(rec *eventlog.Record, w sqlrecord.Encoded, out *outcome) error {
	if rec.Position != 0 {
		return t.place(rec, w, out)
	}
	switch rec.Kind {
	case eventlog.KindSessionCreated:
		return t.create(rec.Key, w, out)
	case eventlog.KindEventAppended:
		return t.event(rec, w, out, false)
	case eventlog.KindSessionDeleted:
		return t.delete(rec, w, out)
	}
	return t.other(rec, w, out)
}

// place appends rec at its own position (see [eventlog.Store.Append]):
// the position must be after the head, which is set to the one before
// it, so that the write that follows, the same as any append's, takes
// it. A deletion of a session that does not exist is stored as it is, and
// its app's and its user's records are counted as freed up to the
// position before it (ErrCompacted for readers behind it), since which of
// them the session held is not known.
func (t *txn) place(rec *eventlog.Record, w sqlrecord.Encoded, out *outcome) error {
	pos := rec.Position
	if pos > math.MaxInt64 {
		return fmt.Errorf("%w: position %d is beyond the largest SQLite keeps (%d)", eventlog.ErrInvalidArgument, pos, int64(math.MaxInt64))
	}
	if int64(pos) <= t.head {
		return fmt.Errorf("%w: position %d is not after the store's last position %d", eventlog.ErrInvalidArgument, pos, t.head)
	}
	t.head = int64(pos) - 1
	switch rec.Kind {
	case eventlog.KindSessionCreated:
		return t.create(rec.Key, w, out)
	case eventlog.KindEventAppended:
		return t.event(rec, w, out, true)
	case eventlog.KindSessionDeleted:
		err := t.delete(rec, w, out)
		if !errors.Is(err, eventlog.ErrNotFound) {
			return err
		}
		if freed := int64(pos) - 1; freed > 0 {
			if err := t.free(rec.Key, freed); err != nil {
				return err
			}
		}
	}
	return t.other(rec, w, out)
}

// create creates a session, with its merged state in out.
func (t *txn) create(k eventlog.SessionKey, w sqlrecord.Encoded, out *outcome) error {
	ka := keyArgs(k)
	var created, version int64
	var updated string
	switch err := t.scan(qSessionRow, ka, &created, &version, &updated); {
	case err == nil:
		return eventlog.ErrAlreadyExists
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	pos := t.next()
	if err := t.exec(qInsertSession, args(ka, []any{pos, w.Time})...); err != nil {
		return err
	}
	if err := t.insert(pos, eventlog.KindSessionCreated, k, 0, nil, w.Body); err != nil {
		return err
	}
	if err := t.writeState(k, w.Writes, pos); err != nil {
		return err
	}
	keys, vals, err := t.merged(k)
	if err != nil {
		return err
	}
	if out.state, err = sqlrecord.DecodeState(keys, vals); err != nil {
		return err
	}
	out.pos, out.created = eventlog.Position(pos), eventlog.Position(pos)
	return nil
}

// event appends an event record. placed says the record keeps its own
// position (an import): a duplicate event ID is then ErrInvalidArgument.
func (t *txn) event(rec *eventlog.Record, w sqlrecord.Encoded, out *outcome, placed bool) error {
	k := rec.Key
	ka := keyArgs(k)
	var created, version int64
	var updated string
	switch err := t.scan(qSessionRow, ka, &created, &version, &updated); {
	case errors.Is(err, sql.ErrNoRows):
		return eventlog.ErrNotFound
	case err != nil:
		return err
	}
	if rec.Incarnation != 0 && eventlog.Position(created) != rec.Incarnation {
		return eventlog.ErrNotFound
	}
	out.created = eventlog.Position(created)
	var stored row
	switch err := t.scan(qEventByID, args(ka, []any{blob(rec.Event.ID)}), &stored.pos, &stored.seq, &stored.body); {
	case err == nil:
		if placed {
			return fmt.Errorf("%w: the session already holds event %q", eventlog.ErrInvalidArgument, rec.Event.ID)
		}
		out.dup = &stored
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	seq := rec.Seq
	switch {
	case seq == 0:
		seq = uint64(version) + 1
	case seq != uint64(version)+1:
		return fmt.Errorf("%w: the handle is at version %d, the store at version %d", eventlog.ErrStaleSession, rec.Seq-1, version)
	}
	pos := t.next()
	if err := t.insert(pos, eventlog.KindEventAppended, k, int64(seq), blob(rec.Event.ID), w.Body); err != nil {
		return err
	}
	if err := t.exec(qSetVersion, args([]any{int64(seq), w.Time}, ka)...); err != nil {
		return err
	}
	if err := t.writeState(k, w.Writes, pos); err != nil {
		return err
	}
	out.pos, out.seq = eventlog.Position(pos), seq
	return nil
}

// delete frees the session's records, keeping the app: and user: writes
// that no later write of its own overrides at their positions (CONTRACT
// D3), drops its row and its own state, raises the last freed position
// of its app and its user (for ErrCompacted), and logs the deletion.
func (t *txn) delete(rec *eventlog.Record, w sqlrecord.Encoded, out *outcome) error {
	k := rec.Key
	ka := keyArgs(k)
	var created, version int64
	var updated string
	switch err := t.scan(qSessionRow, ka, &created, &version, &updated); {
	case errors.Is(err, sql.ErrNoRows):
		return eventlog.ErrNotFound
	case err != nil:
		return err
	}
	rows, err := t.records(qRecordAt, created)
	if err != nil {
		return err
	}
	events, err := t.records(qEventsAfter, args(ka, []any{0})...)
	if err != nil {
		return err
	}
	rows = append(rows, events...)
	records := make([]*eventlog.Record, 0, len(rows))
	for _, r := range rows {
		dec, err := sqlrecord.Decode(eventlog.Position(r.pos), uint64(r.seq), r.body)
		if err != nil {
			return err
		}
		records = append(records, dec)
	}
	var freed int64
	if len(rows) > 0 {
		freed = rows[len(rows)-1].pos
	}
	if err := t.exec(qDropEvents, ka...); err != nil {
		return err
	}
	if err := t.exec(qDropRecordAt, created); err != nil {
		return err
	}
	for _, r := range eventlog.Retained(records) {
		body, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encode what session %s leaves at position %d: %w", k, r.Position, err)
		}
		if err := t.insert(int64(r.Position), eventlog.KindStateRetained, k, 0, nil, body); err != nil {
			return err
		}
	}
	if err := t.exec(qDropState, ka...); err != nil {
		return err
	}
	if err := t.exec(qDropSession, ka...); err != nil {
		return err
	}
	if freed > 0 {
		if err := t.free(k, freed); err != nil {
			return err
		}
	}
	pos := t.next()
	if err := t.insert(pos, eventlog.KindSessionDeleted, k, 0, nil, w.Body); err != nil {
		return err
	}
	out.pos = eventlog.Position(pos)
	return nil
}

// other writes a record that has no conditions (a retained record, or a
// placed deletion of a session that does not exist) with its state.
func (t *txn) other(rec *eventlog.Record, w sqlrecord.Encoded, out *outcome) error {
	pos := t.next()
	var eventID []byte
	if rec.Event != nil {
		eventID = blob(rec.Event.ID)
	}
	if err := t.insert(pos, rec.Kind, rec.Key, int64(rec.Seq), eventID, w.Body); err != nil {
		return err
	}
	if err := t.writeState(rec.Key, w.Writes, pos); err != nil {
		return err
	}
	out.pos = eventlog.Position(pos)
	return nil
}

// insert writes a record's row.
func (t *txn) insert(pos int64, kind eventlog.Kind, k eventlog.SessionKey, seq int64, eventID, body []byte) error {
	return t.exec(qInsertRecord, pos, int64(kind), blob(k.AppName), blob(k.UserID), blob(k.SessionID), seq, eventID, body)
}

// free raises the last freed position of k's app and user to freed.
func (t *txn) free(k eventlog.SessionKey, freed int64) error {
	if err := t.exec(qFreeApp, blob(k.AppName), freed); err != nil {
		return err
	}
	return t.exec(qFreeUser, blob(k.AppName), blob(k.UserID), freed)
}

// writeState folds a record's state writes at position pos, in their
// scopes: a value sets its key, a nil one removes it.
func (t *txn) writeState(k eventlog.SessionKey, w sqlrecord.Writes, pos int64) error {
	app, user, id := blob(k.AppName), blob(k.UserID), blob(k.SessionID)
	for i, key := range w.Keys {
		if key == nil {
			key = []byte{}
		}
		v := w.Values[i]
		var err error
		switch w.Scopes[i] {
		case sqlrecord.ScopeSession:
			if v == nil {
				err = t.exec(qDelSessionState, app, user, id, key)
			} else {
				err = t.exec(qPutSessionState, app, user, id, key, v, pos)
			}
		case sqlrecord.ScopeApp:
			if v == nil {
				err = t.exec(qDelAppState, app, key)
			} else {
				err = t.exec(qPutAppState, app, key, v, pos)
			}
		case sqlrecord.ScopeUser:
			if v == nil {
				err = t.exec(qDelUserState, app, user, key)
			} else {
				err = t.exec(qPutUserState, app, user, key, v, pos)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
