package eventlog

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Store is the seam between sessionlog and a storage backend, in the spirit
// of database/sql/driver: few methods, each needed, each with stated
// guarantees. A Store is safe for concurrent use. Package memstore holds the
// reference implementation; service/servicetest checks any other against the
// contract, also wrapped in a struct that embeds the Store, so a store must
// not rely on callers asserting its concrete type or any optional interface.
//
// A store owns its log and its read model. An append is one atomic step:
// check the conditions, write the record, fold its state (by package
// projection's rules, which its Verify checks). A read serves that
// state. Nothing outside the store folds the log, so a store that other
// processes write too (a database behind replicas) serves each of them the
// same state.
type Store interface {
	// Append commits rec to the log and folds it into the state the store
	// serves, in one atomic step: a concurrent Load or List sees all of it
	// or none of it. The store assigns rec.Position when it is 0 (and
	// rec.Seq when it is 0) and takes ownership of rec and its event; the
	// caller must not change either afterwards. Conditions, checked
	// atomically with the write (nothing is written when one fails):
	//
	//   - KindSessionCreated: the session must not exist (ErrAlreadyExists).
	//   - KindEventAppended: the session must exist, and be the
	//     incarnation rec.Incarnation names if that is set (ErrNotFound). If
	//     it already holds an event with rec.Event.ID, nothing is written
	//     and the result is the stored record with Duplicate set. Otherwise
	//     rec.Seq must be the session's version + 1 (ErrStaleSession), or 0,
	//     which appends after whatever the session holds (last writer wins).
	//   - KindSessionDeleted: the session must exist (ErrNotFound). The
	//     store then frees the session's records, keeping only the app: and
	//     user: state they wrote as KindStateRetained records at their
	//     original positions ([Retained] makes them), and ends the
	//     session's watchers. App and user readers behind the freed records
	//     get ErrCompacted (see Read).
	//   - KindStateRetained: always appended (import).
	//
	// A record whose Position is already set is placed at that position,
	// so that a copy of a log (an import) keeps every record's position.
	// The position must be after every position the store has handed out
	// (all it holds among them), else ErrInvalidArgument naming both;
	// later appends take positions after it, and the positions skipped
	// are never used. The conditions above hold, with two differences
	// that a log with freed records needs: a KindSessionDeleted of a
	// session that does not exist is stored as it is (its session's
	// records were freed), and an event whose ID the session holds is
	// ErrInvalidArgument rather than a duplicate. Which positions such a
	// deletion freed is not known, so app and user readers behind the
	// position before it get ErrCompacted (see Read).
	//
	// [CheckRecord] reports the records no store accepts; call it first.
	Append(ctx context.Context, rec *Record) (AppendResult, error)

	// AppendBatch appends recs, a new session's creation record followed
	// by events of that session (a fork's copy of another session), as
	// one atomic step: the session exists with every record or not at
	// all, to concurrent readers and after a crash alike. The records
	// take positions in their order, the events sequence numbers 1, 2,
	// 3, ...; the store takes ownership of them as Append does. The
	// session must not exist (ErrAlreadyExists, nothing written).
	// [CheckBatch] reports the batches no store accepts; call it first.
	// The result's Record is the last record as stored and its Durable
	// is as Append's; State is nil (Load the session to read it).
	AppendBatch(ctx context.Context, recs []*Record) (AppendResult, error)

	// Load returns one live session's view: its merged state, version,
	// incarnation, last update time and the events opts selects
	// ([LoadOptions.Select]); with opts.AsOf, the view of the session as
	// it stood after that version ([LoadOptions.AsOf]). A missing session
	// gives ErrNotFound, options that [LoadOptions.Check] refuses, or an
	// AsOf beyond the session's version, give ErrInvalidArgument.
	Load(ctx context.Context, key SessionKey, opts LoadOptions) (View, error)

	// List returns the views (without events) of the live sessions of
	// user in app, or of every user in the app when user is empty, in the
	// order opts.Order names ([ListOptions.Compare]), starting after the
	// session opts names, at most opts.Limit of them. An empty app, a
	// Limit below 1 or an unknown Order gives ErrInvalidArgument. Each
	// view is consistent on its own; the list as a whole need not be one
	// snapshot. In RecentFirst order, a view is one whose last update is
	// the one it was placed by: a session updated while it was listed is
	// left out rather than returned out of order.
	List(ctx context.Context, app, user string, opts ListOptions) ([]View, error)

	// Read returns at most limit (which must be positive, else
	// ErrInvalidArgument) records of scope whose Position is after after,
	// in Position order. A session scope reads the session's
	// KindEventAppended records and gives ErrNotFound once the session (or
	// the pinned incarnation) is gone; an app or user scope reads every
	// record kind, and gives an error that matches ErrCompacted (a
	// [*CompactedError] naming the first position served without a gap)
	// when a deletion freed records of the scope after after; an empty
	// scope reads the whole store as it is (what deletions left). The
	// slice and its records may be the store's own: do not modify them.
	//
	// through is how far the read got: every record of scope with a
	// position in (after, through] is in recs. It is at least the last
	// record's position, and may be further when records of other scopes
	// were passed over; the next read goes on after it, so a reader of a
	// quiet user in a busy app does not scan the same records again. A
	// store that other processes write reports in through only positions
	// below which every record has committed. Fewer than limit records
	// means the read returned every record it could then: a record that
	// becomes readable later closes a channel from Changes, which is what
	// a reader that has caught up waits on ([Follow] does). A reader that
	// reads to the end of the log without waiting reads on until a read
	// gets no further than its after.
	Read(ctx context.Context, scope Scope, after Position, limit int) (recs []*Record, through Position, err error)

	// Changes returns a channel that is closed at the next change that a
	// Read of scope could see: an append in the session (for a session
	// scope) or in the app (otherwise), the session's deletion, or the
	// store's closing. Call it before Read, and wait on it only if Read
	// found nothing new, and no append is ever missed. A store that other
	// processes write may also close it on a timer.
	Changes(scope Scope) <-chan struct{}

	// Close releases the store. Later calls give ErrClosed, and every
	// channel from Changes is closed.
	Close() error
}

// AppendResult is what [Store.Append] did.
type AppendResult struct {
	// Record is the stored record, as readers see it: rec itself, or, when
	// Duplicate, the record stored earlier with the same event ID.
	Record *Record
	// Duplicate reports an event whose ID the session held already:
	// nothing was written.
	Duplicate bool
	// State is, for a creation, the new session's merged state (its own
	// keys, and the app's and the user's under their prefixes), the
	// caller's to keep; nil for other kinds.
	State map[string]any
	// Durable, when not nil, waits until the record is durable. A store
	// whose records are visible before they are durable returns it so that
	// the caller waits after releasing its own locks, and appends waiting
	// at once are made durable by one flush; the append is acknowledged
	// only once it returns nil.
	Durable func() error
}

// Wait runs r.Durable, if there is one.
func (r AppendResult) Wait() error {
	if r.Durable == nil {
		return nil
	}
	return r.Durable()
}

// LoadOptions select the events a [Store.Load] returns, and the point in
// the session's history it is read at. The zero value selects all of the
// current session's events. AsOf applies first; the event filters then
// apply in the order of their fields.
type LoadOptions struct {
	// AsOf, when not nil, loads the session as it stood just after the
	// event with that sequence number (0: just after its creation),
	// rather than as it is (CONTRACT T1). The view then holds the
	// session's own state folded from its creation record and its events
	// up to that one (package projection's FoldSession), only those events (the
	// filters below select from them), that Version, and a LastUpdateTime
	// that is that event's timestamp (or the creation time). Its app and
	// user state are as of that event's position where the store can
	// serve them exactly (the in-memory store and stores built on it),
	// and as they are now otherwise; each store documents which. A version
	// beyond the session's gives ErrInvalidArgument naming both
	// ([LoadOptions.CheckVersion]).
	AsOf *uint64
	// NoEvents leaves the events out (the rest of the view still comes).
	NoEvents bool
	// AfterSeq keeps the events with a sequence number above it.
	AfterSeq uint64
	// NumRecentEvents, when positive, keeps the last n of those.
	NumRecentEvents int
	// After, when set, keeps those with a timestamp at or after it, in
	// sequence order, whether or not timestamps grow with it.
	After time.Time
	// Limit, when positive, keeps the first n of those.
	Limit int
}

// Check reports options no store accepts.
func (o LoadOptions) Check() error {
	switch {
	case o.NumRecentEvents < 0:
		return fmt.Errorf("%w: numRecentEvents is negative (%d)", ErrInvalidArgument, o.NumRecentEvents)
	case o.Limit < 0:
		return fmt.Errorf("%w: limit is negative (%d)", ErrInvalidArgument, o.Limit)
	}
	return nil
}

// CheckVersion reports an AsOf beyond version, the session's version, as
// ErrInvalidArgument naming both. Stores call it once they know the
// session's version.
func (o LoadOptions) CheckVersion(version uint64) error {
	if o.AsOf != nil && *o.AsOf > version {
		return fmt.Errorf("%w: version %d is beyond the session's version %d", ErrInvalidArgument, *o.AsOf, version)
	}
	return nil
}

// Select applies opts, AsOf included, to a session's events (events[i] has
// sequence number i+1), returning a part of events rather than a copy where
// it can; the result is capped, so appending to it never writes into
// events. timeOrdered says the timestamps never decrease, which lets After
// binary-search. Stores that keep events in memory serve [LoadOptions]
// with it.
func (o LoadOptions) Select(events []*Event, timeOrdered bool) []*Event {
	if o.NoEvents {
		return nil
	}
	if o.AsOf != nil {
		events = events[:min(*o.AsOf, uint64(len(events)))]
	}
	events = events[min(o.AfterSeq, uint64(len(events))):]
	if n := o.NumRecentEvents; n > 0 && n < len(events) {
		events = events[len(events)-n:]
	}
	if !o.After.IsZero() {
		if timeOrdered {
			i := sort.Search(len(events), func(i int) bool { return !events[i].Timestamp.Before(o.After) })
			events = events[i:]
		} else {
			var kept []*Event
			for _, e := range events {
				if !e.Timestamp.Before(o.After) {
					kept = append(kept, e)
				}
			}
			events = kept
		}
	}
	if o.Limit > 0 && o.Limit < len(events) {
		events = events[:o.Limit]
	}
	return slices.Clip(events)
}

// ListOptions page a [Store.List].
type ListOptions struct {
	// Order is the order of the views: ByKey (the zero value) or
	// RecentFirst.
	Order Order
	// AfterUser and AfterSession name where the page starts: after the
	// session (AfterUser, AfterSession) in List's order, whose last update
	// was AfterUpdate in RecentFirst order. All zero start at the
	// beginning.
	AfterUser, AfterSession string
	AfterUpdate             time.Time
	// Limit is the most views returned; it must be positive.
	Limit int
}

// Order is an order of [Store.List].
type Order uint8

const (
	// ByKey orders sessions by user ID and then session ID, in byte
	// order.
	ByKey Order = iota
	// RecentFirst orders sessions by last update time, the most recent
	// first, and sessions updated at the same instant by user ID and then
	// session ID, in byte order.
	RecentFirst
)

// String names the order.
func (o Order) String() string {
	switch o {
	case ByKey:
		return "by key"
	case RecentFirst:
		return "recent first"
	}
	return fmt.Sprintf("Order(%d)", uint8(o))
}

// Check reports the list options no store accepts as ErrInvalidArgument.
func (o ListOptions) Check() error {
	switch {
	case o.Limit <= 0:
		return fmt.Errorf("%w: limit %d is not positive", ErrInvalidArgument, o.Limit)
	case o.Order > RecentFirst:
		return fmt.Errorf("%w: list order %d is not defined", ErrInvalidArgument, uint8(o.Order))
	}
	return nil
}

// Compare orders two sessions, each named by its key and its last update
// time, as o.Order does: negative when a comes first.
func (o ListOptions) Compare(a SessionKey, aUpdate time.Time, b SessionKey, bUpdate time.Time) int {
	if o.Order == RecentFirst {
		if c := bUpdate.Compare(aUpdate); c != 0 {
			return c
		}
	}
	if c := strings.Compare(a.UserID, b.UserID); c != 0 {
		return c
	}
	return strings.Compare(a.SessionID, b.SessionID)
}

// Start reports whether the listing starts at the beginning (no session
// named to start after).
func (o ListOptions) Start() bool {
	return o.AfterUser == "" && o.AfterSession == "" && o.AfterUpdate.IsZero()
}

// After reports whether the session at key, last updated at update, comes
// after the one o names, so that a page starting there includes it.
func (o ListOptions) After(key SessionKey, update time.Time) bool {
	return o.Start() || o.Compare(SessionKey{UserID: o.AfterUser, SessionID: o.AfterSession}, o.AfterUpdate, key, update) < 0
}

// View is a live session as a store serves it.
type View struct {
	Key SessionKey
	// Created is the position of the session's creation record: its
	// incarnation. A session deleted and created again has another.
	Created Position
	// Version is the sequence number of the last event (0 before any).
	Version uint64
	// LastUpdateTime is the creation time or the last event's timestamp.
	LastUpdateTime time.Time
	// State is the merged state: the session's own keys, and the app's and
	// the user's under their app: and user: prefixes. It and the values in
	// it belong to the caller.
	State map[string]any
	// Events are the events [LoadOptions] selected, in sequence order
	// (none from List). They are the store's own, read-only; the slice is
	// capped.
	Events []*Event
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
