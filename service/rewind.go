package service

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// RewindAuthor is the Author of the events Rewind and RewindToVersion
// append: a rewind is the user's request.
const RewindAuthor = "user"

// RewindOptions refine a rewind. The zero value appends a rewind with a
// new event ID at whatever version the session has when the call reads
// it.
type RewindOptions struct {
	// EventID, when not empty, is the rewind event's ID: a retry with the
	// same ID stores nothing new and returns the rewind stored first
	// (CONTRACT A7). Empty means a new ID.
	EventID string
	// ExpectVersion, when not nil, is the version the caller last saw (a
	// handle's Version): if the session holds events after it, the rewind
	// fails with ErrStaleSession and stores nothing (CONTRACT A6). A
	// version does not tell two sessions of one key apart (one deleted and
	// created again since): Session does.
	ExpectVersion *uint64
	// Session, when not nil, is the caller's handle of the session, as
	// Create or Get returned it: the rewind is appended only to the
	// session the handle was read from (one deleted since gives
	// ErrNotFound, even once a session of the same key has been created
	// again, as AppendEvent through the handle does), and, unless
	// ExpectVersion says otherwise, only at the handle's Version. The
	// handle is not changed; a handle of another key gives
	// ErrInvalidArgument.
	Session *Session
}

// Rewind takes a session back to how it stood just before the first event
// of invocation beforeInvocationID (CONTRACT T2), by appending one event,
// which it returns. Nothing leaves the log: the rewind is itself history.
//
// The rewind event's Author is [RewindAuthor], its InvocationID a new ID,
// its Actions.RewindBeforeInvocationID beforeInvocationID (the ADK's wire
// field actions.rewindBeforeInvocationId), and its state delta sets each
// session key that an event at or after the rewind point wrote back to its
// value at that point (the state [GetOptions.BeforeInvocation] reads), or
// to [Removed] if it had none there. So:
//
//   - keys set at the session's creation keep their creation values
//     unless a later event before the point changed them (the creation is
//     part of the state at the point);
//   - keys no event at or after the point wrote are untouched;
//   - app: and user: keys are not rewound: they belong to the app and the
//     user, whose other sessions may have read or written them since.
//
// The events from the point on stay in the log; [GetOptions.SkipRewound]
// leaves them out of a read ([eventlog.ActiveEvents] says which).
//
// A rewind is an append: it is appended at the session's version that the
// call read, so an event appended concurrently makes it fail with
// ErrStaleSession rather than restore from an outdated state (retry the
// call), whatever Options.LastWriterWins says. An invocation the session
// holds no event of, or an empty beforeInvocationID, gives
// ErrInvalidArgument naming it; a missing session gives ErrNotFound.
func (s *Service) Rewind(ctx context.Context, key SessionKey, beforeInvocationID string, opts RewindOptions) (*Event, error) {
	if beforeInvocationID == "" {
		return nil, fmt.Errorf("rewind session: %w", invalid("beforeInvocationId", "is empty"))
	}
	return s.rewind(ctx, key, opts, func(events []*Event) (uint64, string, error) {
		version, err := invocationStart(events, "beforeInvocationId", beforeInvocationID, key)
		return version, beforeInvocationID, err
	})
}

// RewindToVersion is [Service.Rewind] to the session as it stood just
// after the event with sequence number version (0: just after its
// creation). The event after it must be the first event of its invocation,
// and that invocation is the one the rewind names in
// Actions.RewindBeforeInvocationID: the wire field names a point by an
// invocation, so only the points where an invocation begins can be named.
// A version at or beyond the session's, a next event without an
// InvocationID, or one whose invocation began earlier gives
// ErrInvalidArgument naming it.
func (s *Service) RewindToVersion(ctx context.Context, key SessionKey, version uint64, opts RewindOptions) (*Event, error) {
	return s.rewind(ctx, key, opts, func(events []*Event) (uint64, string, error) {
		if version >= uint64(len(events)) {
			return 0, "", invalid("version", "%d is not before the session's version %d: there is nothing after it to rewind", version, len(events))
		}
		inv := events[version].InvocationID // the event with sequence number version+1
		if inv == "" {
			return 0, "", invalid("version", "%d: the event after it (%q) has no invocation ID to rewind to", version, events[version].ID)
		}
		if first, _ := invocationStart(events, "version", inv, key); first < version {
			return 0, "", invalid("version", "%d is inside invocation %q, which began after version %d", version, inv, first)
		}
		return version, inv, nil
	})
}

// rewind appends the rewind to the point that find picks from the
// session's events.
func (s *Service) rewind(ctx context.Context, key SessionKey, opts RewindOptions, find func([]*Event) (uint64, string, error)) (*Event, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("rewind session: %w", err)
	}
	key, err := checkKey(key)
	if err == nil {
		err = validUTF8("eventId", opts.EventID)
	}
	expect, incarnation := opts.ExpectVersion, Position(0)
	if h := opts.Session; err == nil && h != nil {
		if h.Key() != key {
			err = invalid("session", "is a handle of %s, not of %s", h.Key(), key)
		}
		if expect == nil {
			expect = &h.Version
		}
		incarnation = h.created
	}
	if err == nil && expect != nil && *expect == math.MaxUint64 {
		err = invalid("expectVersion", "is %d: no session holds that many events", *expect)
	}
	if err != nil {
		return nil, fmt.Errorf("rewind session: %w", err)
	}
	cur, err := s.store.Load(ctx, key, eventlog.LoadOptions{})
	if err == nil && incarnation != 0 && cur.Created != incarnation {
		err = fmt.Errorf("session %s: %w: deleted since this handle was read", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("rewind session: %w", err)
	}
	point, inv, err := find(cur.Events)
	if err != nil {
		return nil, fmt.Errorf("rewind session: %w", err)
	}
	past, err := s.store.Load(ctx, key, eventlog.LoadOptions{AsOf: &point, NoEvents: true})
	if err != nil {
		return nil, fmt.Errorf("rewind session: %w", err)
	}
	delta := map[string]any{}
	if past.Created == cur.Created { // else the append below finds the session gone
		for _, e := range cur.Events[point:] {
			for k := range e.Actions.StateDelta {
				if !projection.IsOwn(k) {
					continue
				}
				if v, ok := past.State[k]; ok {
					delta[k] = v
				} else {
					delta[k] = Removed
				}
			}
		}
	}
	ev := &Event{
		ID:           opts.EventID,
		InvocationID: s.newID(),
		Author:       RewindAuthor,
		Timestamp:    s.now(),
		Actions:      EventActions{StateDelta: delta, RewindBeforeInvocationID: inv},
	}
	if ev.ID == "" {
		ev.ID = s.newID()
	}
	stored, err := cloneForStore(ev)
	if err != nil {
		return nil, fmt.Errorf("rewind session: %w", err)
	}
	seq := cur.Version + 1
	if expect != nil {
		seq = *expect + 1
	}
	if incarnation == 0 {
		incarnation = cur.Created
	}
	res, err := s.append(ctx, &Record{
		Kind: eventlog.KindEventAppended, Key: key, Seq: seq, Time: stored.Timestamp, Event: stored,
		Incarnation: incarnation,
	})
	if err != nil {
		return nil, fmt.Errorf("rewind session: %w", err)
	}
	return res.Record.Event, nil
}

// invocationStart returns the version just before the first of events
// (a session's events, events[i] at sequence number i+1) whose invocation
// is id: the point a rewind to that invocation, or a Get before it, names.
// An invocation no event carries is ErrInvalidArgument naming field.
func invocationStart(events []*Event, field, id string, key SessionKey) (uint64, error) {
	i := slices.IndexFunc(events, func(e *Event) bool { return e.InvocationID == id })
	if i < 0 {
		return 0, invalid(field, "%q names no invocation of session %s", id, key)
	}
	return uint64(i), nil
}
