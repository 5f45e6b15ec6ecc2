package service

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// ForkedFrom is the key under which a forked event's CustomMetadata records
// the event it copies: a map with the source session's "appName",
// "userId" and "id", and the source event's "eventId" and "seq" (its
// sequence number there).
const ForkedFrom = "sessionlog:forkedFrom"

// Fork creates a session at newKey that holds a copy of session key as it
// stood just after version atVersion (0: just after its creation), in one
// atomic step: the new session exists with all of it or not at all
// (CONTRACT T3). The source is not changed. Fork returns the new session,
// whose own state is the source's own state as of atVersion.
//
// The new session's creation record carries the source's creation state,
// and its events are copies of the source's events 1 to atVersion, in
// order, with the same content and timestamps but new IDs; each copy's
// CustomMetadata names the event it copies under [ForkedFrom]. Because
// the copies carry their state deltas, the new session read as of any
// version up to atVersion shows what the source showed at that version,
// and a rewind in it works as in the source.
//
// A fork does not write app or user state: those belong to the app and
// the user, and writing the copies' old values would set them back. So
// app: and user: keys are left out of the creation state and of the
// copies' state deltas, and the new session sees the app's and the
// user's state as they are.
//
// newKey's empty AppName and UserID mean the source's; an empty SessionID
// means a new ID. A missing source gives ErrNotFound, a version beyond the
// source's ErrInvalidArgument, and a session at newKey ErrAlreadyExists,
// with nothing written.
func (s *Service) Fork(ctx context.Context, key SessionKey, atVersion uint64, newKey SessionKey) (*Session, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("fork session: %w", err)
	}
	key, err := checkKey(key)
	if err != nil {
		return nil, fmt.Errorf("fork session: %w", err)
	}
	if newKey.AppName == "" {
		newKey.AppName = key.AppName
	}
	if newKey.UserID == "" {
		newKey.UserID = key.UserID
	}
	if newKey.SessionID = strings.TrimSpace(newKey.SessionID); newKey.SessionID == "" {
		newKey.SessionID = s.newID()
	}
	if newKey, err = checkKey(newKey); err != nil {
		return nil, fmt.Errorf("fork session: new session: %w", err)
	}
	recs, err := s.forkRecords(ctx, key, atVersion, newKey)
	if err != nil {
		return nil, fmt.Errorf("fork session: %w", err)
	}
	res, err := s.store.AppendBatch(ctx, recs)
	if err == nil {
		err = res.Wait()
	}
	if err != nil {
		return nil, fmt.Errorf("fork session %s into %s: %w", key, newKey, err)
	}
	v, err := s.store.Load(ctx, newKey, eventlog.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("fork session %s into %s: %w", key, newKey, err)
	}
	return handle(v), nil
}

// forkRecords reads the source as of atVersion and makes the new
// session's records: its creation, with the source's own creation state,
// and copies of the source's events up to atVersion. Both reads are of
// one incarnation of the source.
func (s *Service) forkRecords(ctx context.Context, key SessionKey, atVersion uint64, newKey SessionKey) ([]*Record, error) {
	const attempts = 8
	for range attempts {
		start, err := s.store.Load(ctx, key, eventlog.LoadOptions{AsOf: new(uint64), NoEvents: true})
		if err != nil {
			return nil, err
		}
		past, err := s.store.Load(ctx, key, eventlog.LoadOptions{AsOf: &atVersion})
		if err != nil {
			return nil, err
		}
		if past.Created != start.Created {
			continue // deleted and created again in between: read anew
		}
		now := s.now()
		recs := make([]*Record, 0, len(past.Events)+1)
		recs = append(recs, &Record{Kind: eventlog.KindSessionCreated, Key: newKey, Time: now, State: ownState(start.State)})
		for i, ev := range past.Events {
			recs = append(recs, &Record{Kind: eventlog.KindEventAppended, Key: newKey, Time: ev.Timestamp, Event: s.forkEvent(key, uint64(i+1), ev)})
		}
		return recs, nil
	}
	return nil, fmt.Errorf("%w: session %s was deleted and created again %d times while it was read", ErrNotFound, key, attempts)
}

// forkEvent returns the copy of ev, event seq of session src, that a fork
// holds: a new ID, its provenance under [ForkedFrom], and its state delta
// without app: and user: keys. The copy shares ev's other values, which
// are stored and so never change.
func (s *Service) forkEvent(src SessionKey, seq uint64, ev *Event) *Event {
	c := *ev
	c.ID = s.newID()
	c.CustomMetadata = make(map[string]any, len(ev.CustomMetadata)+1)
	maps.Copy(c.CustomMetadata, ev.CustomMetadata)
	c.CustomMetadata[ForkedFrom] = map[string]any{
		"appName": src.AppName, "userId": src.UserID, "id": src.SessionID,
		"eventId": ev.ID, "seq": int(seq),
	}
	c.Actions.StateDelta = ownState(ev.Actions.StateDelta)
	return &c
}

// ownState returns the session's own keys of state (no app:, user: or
// temp: key), or nil if it has none.
func ownState(state map[string]any) map[string]any {
	var own map[string]any
	for k, v := range state {
		if projection.IsOwn(k) {
			if own == nil {
				own = make(map[string]any, len(state))
			}
			own[k] = v
		}
	}
	return own
}
