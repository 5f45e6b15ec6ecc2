package eventlog

import (
	"context"
	"strings"
)

// Store is the seam between sessionlog and a storage backend, in the spirit
// of database/sql/driver: few methods, each with stated guarantees. A Store
// is safe for concurrent use. The in-memory [Memory] store is the reference
// implementation; service/servicetest checks any other against the contract.
//
// A store is a log, not a database of sessions: it enforces the few
// conditions that must hold atomically with a write (a session exists, a
// handle is current, an event ID is new) and otherwise only stores and
// serves records. State is folded from the records by package projection.
type Store interface {
	// Append commits rec to the log, assigning rec.Position, and returns the
	// stored record. The store takes ownership of rec and its event; the
	// caller must not change either afterwards. Conditions, checked
	// atomically with the write (nothing is written when one fails):
	//
	//   - KindSessionCreated: the session must not exist (ErrAlreadyExists).
	//   - KindEventAppended: the session must exist, and be the
	//     incarnation rec.Incarnation names if it is set (ErrNotFound). If it
	//     already holds an event with rec.Event.ID, nothing is written and
	//     the stored record is returned with ErrDuplicateEvent. Otherwise
	//     rec.Seq must be the session's version + 1 (ErrStaleSession).
	//   - KindSessionDeleted: the session must exist (ErrNotFound). The
	//     store then frees the session's records, keeping only the app: and
	//     user: state they wrote as KindStateRetained records at their
	//     original positions, and ends the session's watchers.
	//   - KindStateRetained: always appended (import and compaction).
	Append(ctx context.Context, rec *Record) (*Record, error)

	// Session returns a live session's log. A missing session gives
	// ErrNotFound.
	Session(ctx context.Context, key SessionKey) (SessionLog, error)

	// Read returns at most limit records of scope whose Position is after
	// after, in Position order. A session scope reads the session's
	// KindEventAppended records and gives ErrNotFound once the session (or
	// the pinned incarnation) is gone; an app or user scope reads every
	// record kind; an empty scope reads the whole store. The returned slice
	// may be shared with the store: do not modify it.
	//
	// through is how far the read got: every record of scope with a
	// position in (after, through] is in recs. It is at least the last
	// record's position, and may be further when records of other scopes
	// were passed over; the next read goes on after it, so a reader of a
	// quiet user in a busy app does not scan the same records again.
	Read(ctx context.Context, scope Scope, after Position, limit int) (recs []*Record, through Position, err error)

	// Changes returns a channel that is closed at the next change that a
	// Read of scope could see: an append in the session (for a session
	// scope) or in the app (otherwise), the session's deletion, or the
	// store's closing. Call it before Read, and wait on it only if Read
	// found nothing new, and no append is ever missed.
	Changes(scope Scope) <-chan struct{}

	// Close releases the store. Later calls give ErrClosed, and every
	// channel from Changes is closed.
	Close() error
}

// SharedStore is a [Store] that other writers append to as well, such as a
// database shared by several service replicas. A service over a shared
// store cannot see those records as it writes its own, so it reads the
// whole log after the last record it folded (Read with an empty scope)
// before every call, and [Store.Read] must then report, in through, a
// position up to which every committed record is visible.
type SharedStore interface {
	Store
	// Shared reports whether other writers may append to the store.
	Shared() bool
}

// A DeferredAppender is a [Store] whose records become visible to readers
// before they are durable (written to disk), and that can hand the wait
// for durability back to its caller: AppendDeferred does Append's work up
// to the point where the record is in the log's order and visible, and
// returns with a function that waits until the record is durable, which is
// what Append itself waits for before it returns. durable is nil when
// there is nothing to wait for. A service calls it after releasing its own
// locks, so that appends that lock the same app share one wait (one fsync
// for all of them). With ErrDuplicateEvent, durable waits for the stored
// record.
type DeferredAppender interface {
	AppendDeferred(ctx context.Context, rec *Record) (stored *Record, durable func() error, err error)
}

// The state key prefixes. They belong to the log's format because a store
// must keep the app: and user: writes of a deleted session (package
// projection gives their full meaning).
const (
	AppPrefix  = "app:"
	UserPrefix = "user:"
	TempPrefix = "temp:"
)

// Writes returns the state the record writes: a creation's initial state,
// an event's state delta, or a retained record's state. Do not modify it.
func (r *Record) Writes() map[string]any {
	switch r.Kind {
	case KindSessionCreated, KindStateRetained:
		return r.State
	case KindEventAppended:
		if r.Event != nil {
			return r.Event.Actions.StateDelta
		}
	}
	return nil
}

// isShared reports whether a state key belongs to the app or the user.
func isShared(key string) bool {
	return strings.HasPrefix(key, AppPrefix) || strings.HasPrefix(key, UserPrefix)
}
