// Package service is sessionlog's Go API: the ADK session service over an
// event log. Create, Get, List and Delete sessions, append events, page
// through a session's events, subscribe to a session, a user or an app,
// and export or import the whole store.
//
// Every call takes a context first and reports failures as one of a few
// sentinel errors, wrapped with what went wrong: [ErrInvalidArgument],
// [ErrNotFound], [ErrAlreadyExists], [ErrStaleSession], [ErrCompacted] and
// [ErrClosed].
//
// # Where the state lives
//
// A Service keeps no state of its own beyond its options. The store behind
// it ([eventlog.Store]; by default an in-memory [memstore.Store]) owns the
// log and the state folded from it: an append is one atomic step inside
// the store (check the conditions, write the record, fold its state), and
// a Get or a List reads what the store serves. The service validates its
// input, copies what the store will keep, updates the caller's [Session]
// handle, issues page tokens and offers the log as iterators. So any
// number of services may run over one store (replicas over one database),
// and each sees what the others wrote in its next call.
//
// # Who owns what
//
// Stored events are immutable and read-only: reads hand out the store's own
// events without copying them, which is why a Get costs the same for ten
// events or ten thousand. A [Session]'s Events slice is capped, so appending
// to it never writes into the store, but its elements and the events they
// point to are the store's: treat them as read-only, and call
// [slices.Clone] to reorder the slice or [Event.Clone] to change an event.
// Everything else a call returns (the Session value, its State map and the
// values in it) belongs to the caller.
//
// # Following the log
//
// [Service.Subscribe], [Service.SubscribeUser] and [Service.SubscribeApp]
// are cursors over the log: they replay it from a position and then follow
// it live, at the reader's own pace. A deletion frees its session's
// records; a user or app follower that has not read them by then is never
// skipped past them silently: it ends with an error that matches
// [ErrCompacted], a [*CompactedError] naming the position from which the
// scope is served whole (re-read the state with Get or List, then follow
// on after that position).
package service

import (
	"context"
	"fmt"
	"iter"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
)

// Names from the packages below, so that most programs import only service.
type (
	// Event is an ADK event; see [eventlog.Event].
	Event = eventlog.Event
	// EventActions is an event's side effects; see [eventlog.EventActions].
	EventActions = eventlog.EventActions
	// SessionKey names a session; see [eventlog.SessionKey].
	SessionKey = eventlog.SessionKey
	// Record is one entry of the log; see [eventlog.Record].
	Record = eventlog.Record
	// Position orders a store's records; see [eventlog.Position].
	Position = eventlog.Position
	// Order is an order of List; see [eventlog.Order].
	Order = eventlog.Order
)

// The orders of List.
const (
	// ByKey lists sessions by user ID and then session ID (byte order).
	ByKey = eventlog.ByKey
	// RecentFirst lists sessions by last update time, the most recent
	// first ("continue your last conversation").
	RecentFirst = eventlog.RecentFirst
)

// Removed, as a state delta value, deletes the key in its scope (CONTRACT
// A4). In JSON it is the string "__ADK_SENTINEL_REMOVED__", which deletes
// the key too.
const Removed = projection.Removed

// Page sizes of List and ListEvents.
const (
	// DefaultPageSize is the page size when none is given.
	DefaultPageSize = 100
	// MaxPageSize caps a page; larger requests get this many.
	MaxPageSize = 1000
)

// Options configure a [Service]. The zero value is a working in-memory
// service with real time, random UUIDs and optimistic concurrency.
type Options struct {
	// Store holds the log and serves the state folded from it. Nil means
	// a new, empty [memstore.Store].
	Store eventlog.Store
	// Now is the clock for creation times and events without a timestamp.
	// Nil means time.Now. Its times are kept in UTC, without a monotonic
	// clock reading.
	Now func() time.Time
	// NewID makes session and event IDs. Nil means random UUIDs.
	NewID func() string
	// LastWriterWins turns off optimistic concurrency (CONTRACT A6): an
	// append through a stale handle is stored after the events it has not
	// seen instead of failing with ErrStaleSession, as the Java ADK's
	// in-memory service behaves.
	LastWriterWins bool
}

// Service is the session service. It is safe for concurrent use. The zero
// value is an empty in-memory service with the defaults of a zero
// [Options]; [New] opens one over a store of your choice.
type Service struct {
	once   sync.Once
	closed atomic.Bool
	store  eventlog.Store
	now    func() time.Time
	newID  func() string
	lww    bool
}

// New returns a service over opts.Store. It reads nothing: the store
// serves what its log holds from the first call on.
func New(ctx context.Context, opts Options) (*Service, error) {
	if ctx == nil {
		return nil, fmt.Errorf("open service: %w", invalid("ctx", "is nil"))
	}
	s := &Service{store: opts.Store, now: opts.Now, newID: opts.NewID, lww: opts.LastWriterWins}
	s.once.Do(s.defaults)
	return s, nil
}

// defaults fills in what Options left out (all of it, for a zero Service).
func (s *Service) defaults() {
	if s.store == nil {
		s.store = memstore.New()
	}
	clock := s.now
	if clock == nil {
		clock = time.Now
	}
	s.now = func() time.Time { return eventlog.StoredTime(clock()) }
	if s.newID == nil {
		s.newID = uuid.NewString
	}
}

// ready makes a zero Service usable, and refuses a closed one and a nil
// context (which would otherwise panic deep inside the call).
func (s *Service) ready(ctx context.Context) error {
	s.once.Do(s.defaults)
	switch {
	case ctx == nil:
		return invalid("ctx", "is nil")
	case s.closed.Load():
		return ErrClosed
	}
	return nil
}

// append commits rec and waits until the store says it is durable.
func (s *Service) append(ctx context.Context, rec *Record) (eventlog.AppendResult, error) {
	res, err := s.store.Append(ctx, rec)
	if err != nil {
		return res, err
	}
	return res, res.Wait()
}

// Close closes the service and its store: subscriptions end, and every
// later call fails with ErrClosed. Closing twice is not an error.
func (s *Service) Close() error {
	s.once.Do(s.defaults)
	if s.closed.Swap(true) {
		return nil
	}
	return s.store.Close()
}

// Session is a handle on a session, as Create, Get and List return it. It
// belongs to the caller and is not safe for concurrent use; AppendEvent
// updates it in place.
type Session struct {
	ID      string `json:"id"`
	AppName string `json:"appName"`
	UserID  string `json:"userId"`
	// State is the merged state: the session's keys, and the app's and the
	// user's under their app: and user: prefixes, read when the handle was
	// made, plus temp: keys set through this handle.
	State map[string]any `json:"state"`
	// Events are the session's events in sequence order (List leaves them
	// empty). Append to the slice freely; its elements and their events are
	// the store's own, read-only (see the package doc).
	Events []*Event `json:"events"`
	// LastUpdateTime is the creation time or the last event's timestamp.
	LastUpdateTime time.Time `json:"lastUpdateTime"`
	// Version is the sequence number of the last event the handle has seen.
	Version uint64 `json:"version"`

	// created pins the handle to the session it was read from (the
	// position of its creation record): a handle of a deleted session must
	// not append to a new one of the same key. Zero (a handle built by
	// hand) matches any.
	created Position
}

// Key returns the key naming the session.
func (s *Session) Key() SessionKey {
	return SessionKey{AppName: s.AppName, UserID: s.UserID, SessionID: s.ID}
}

// handle makes a caller's handle of a store's view.
func handle(v eventlog.View) *Session {
	state := v.State
	if state == nil {
		state = map[string]any{}
	}
	return &Session{
		ID: v.Key.SessionID, AppName: v.Key.AppName, UserID: v.Key.UserID,
		State: state, Events: v.Events, LastUpdateTime: v.LastUpdateTime, Version: v.Version,
		created: v.Created,
	}
}

// Create creates a session. An empty key.SessionID means "generate one".
// The initial state is split by prefix (app:, user:, temp: dropped,
// session); the returned handle has the merged state, no events and
// version 0. A session that exists gives ErrAlreadyExists.
func (s *Service) Create(ctx context.Context, key SessionKey, state map[string]any) (*Session, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	if err := required("appName", key.AppName); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	if err := required("userId", key.UserID); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	if err := checkValues("state", state); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	if key.SessionID = strings.TrimSpace(key.SessionID); key.SessionID == "" {
		key.SessionID = s.newID()
	} else if err := validUTF8("sessionId", key.SessionID); err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	stored, err := eventlog.NormalizeState("state", state) // CONTRACT V1
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	rec := &Record{
		Kind:  eventlog.KindSessionCreated,
		Key:   key,
		Time:  s.now(),
		State: stored,
	}
	res, err := s.append(ctx, rec)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	return handle(eventlog.View{Key: key, Created: res.Record.Position, LastUpdateTime: res.Record.Time, State: res.State}), nil
}

// GetOptions filter the events Get returns, and name the point in the
// session's history it is read at. The zero value returns the session as
// it is, with all its events.
type GetOptions struct {
	// NumRecentEvents, when positive, keeps only the last n events.
	NumRecentEvents int
	// After, when set, keeps only events with a timestamp at or after it,
	// applied after NumRecentEvents.
	After time.Time

	// AtVersion, when not nil, returns the session as it stood just after
	// the event with that sequence number (0: just after its creation)
	// (CONTRACT T1): its own state folded from its creation and its events
	// up to there, those events (the filters above select from them), that
	// Version, and LastUpdateTime that event's timestamp (or the creation
	// time). Its app: and user: state are as they stood then on the
	// in-memory and file stores (folded from the log as it now holds it:
	// a deleted session's overwritten writes are gone), and as they are
	// now on SQLite and PostgreSQL. A
	// version beyond the session's gives ErrInvalidArgument. The handle
	// is a past version: appending through it gives ErrStaleSession
	// (unless the service appends last-writer-wins) once the session has
	// later events.
	AtVersion *uint64
	// BeforeInvocation, when not empty, returns the session as it stood
	// just before the first event of that invocation (its InvocationID),
	// as AtVersion does for the version before that event. An invocation
	// the session holds no event of gives ErrInvalidArgument; so does
	// setting both BeforeInvocation and AtVersion. It reads the session's
	// events once to find the invocation, then the session as of then.
	BeforeInvocation string
	// SkipRewound leaves out the events that rewinds annulled
	// ([Service.Rewind], [eventlog.ActiveEvents]), rewind events included
	// (CONTRACT T2); NumRecentEvents and After then select from the events
	// that remain. It changes only the events: the state is the state a
	// fold of the whole log gives, which the rewinds already restored.
	// With AtVersion or BeforeInvocation, the rewinds up to that point
	// count. It reads all the session's events up to there.
	SkipRewound bool
}

// Get returns a session with its merged state and its events, filtered by
// opts. A missing session gives ErrNotFound. Its cost does not grow with
// the number of events returned: the events are the store's, not copies.
func (s *Service) Get(ctx context.Context, key SessionKey, opts GetOptions) (*Session, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	key, err := checkKey(key)
	switch {
	case err != nil:
	case opts.NumRecentEvents < 0:
		err = invalid("numRecentEvents", "is negative (%d)", opts.NumRecentEvents)
	case opts.AtVersion != nil && opts.BeforeInvocation != "":
		err = invalid("atVersion", "and beforeInvocation are both set (%d, %q): name one point", *opts.AtVersion, opts.BeforeInvocation)
	}
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	lo := eventlog.LoadOptions{NumRecentEvents: opts.NumRecentEvents, After: opts.After, AsOf: opts.AtVersion}
	var filters eventlog.LoadOptions // applied after the annulled events are left out
	if opts.SkipRewound {
		filters = eventlog.LoadOptions{NumRecentEvents: lo.NumRecentEvents, After: lo.After}
		lo.NumRecentEvents, lo.After = 0, time.Time{}
	}
	done := func(v eventlog.View) *Session {
		if opts.SkipRewound {
			v.Events = filters.Select(eventlog.ActiveEvents(v.Events), false)
		}
		return handle(v)
	}
	if opts.BeforeInvocation == "" {
		v, err := s.store.Load(ctx, key, lo)
		if err != nil {
			return nil, fmt.Errorf("get session: %w", err)
		}
		return done(v), nil
	}
	// The invocation's first event, found in one incarnation of the
	// session, and the session as of the version before it, read from the
	// same incarnation: a session deleted and created again in between is
	// looked at anew.
	const attempts = 8
	for range attempts {
		all, err := s.store.Load(ctx, key, eventlog.LoadOptions{})
		if err != nil {
			return nil, fmt.Errorf("get session: %w", err)
		}
		version, err := invocationStart(all.Events, "beforeInvocation", opts.BeforeInvocation, key)
		if err != nil {
			return nil, fmt.Errorf("get session: %w", err)
		}
		lo.AsOf = &version
		v, err := s.store.Load(ctx, key, lo)
		if err != nil {
			return nil, fmt.Errorf("get session: %w", err)
		}
		if v.Created == all.Created {
			return done(v), nil
		}
	}
	return nil, fmt.Errorf("get session: %w: session %s was deleted and created again %d times while it was read", ErrNotFound, key, attempts)
}

// ListOptions page a listing. The zero value asks for the first page of
// [DefaultPageSize].
type ListOptions struct {
	// Order is the sessions' order: ByKey (the zero value) or
	// RecentFirst. A page token belongs to the order it was issued in.
	Order Order
	// PageSize is the most sessions a page holds: 0 means
	// DefaultPageSize, more than MaxPageSize means MaxPageSize.
	PageSize int
	// PageToken continues a listing from where the page that returned it
	// ended; empty starts at the beginning.
	PageToken string
}

// SessionPage is a page of a listing.
type SessionPage struct {
	Sessions []*Session
	// NextPageToken continues the listing; empty on the last page.
	NextPageToken string
}

// List returns a page of the sessions of userID in appName, or of every
// user in the app when userID is empty. Sessions carry their merged state
// and no events, in opts.Order: by user ID and then session ID (byte
// order), or the most recently updated first (RecentFirst).
//
// Walking every page ByKey returns each session that lives through the
// walk exactly once. RecentFirst pages go from the most recent update to
// the least, so a session updated during the walk moves ahead of the pages
// read: a walk returns each session that lives through it unchanged
// exactly once, and never one twice, and a session updated during it at
// most once (the next walk finds it first). No store keeps an index in
// that order, which every append would change: a RecentFirst page reads
// the last update of every session of the user (or of the app) and sorts
// them, so its cost grows with their number.
func (s *Service) List(ctx context.Context, appName, userID string, opts ListOptions) (*SessionPage, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	if err := required("appName", appName); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	if userID != "" {
		if err := required("userId", userID); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
	}
	size, err := pageSize(opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	after := eventlog.ListOptions{Order: opts.Order}
	kind := tokenSessions
	switch opts.Order {
	case ByKey:
	case RecentFirst:
		kind = tokenRecent
	default:
		return nil, fmt.Errorf("list sessions: %w", invalid("order", "%d is not an order (ByKey or RecentFirst)", uint8(opts.Order)))
	}
	if opts.PageToken != "" {
		nNums := 0
		if kind == tokenRecent {
			nNums = 2 // the last update's Unix seconds and nanoseconds
		}
		nums, strs, err := decodeToken(opts.PageToken, kind, nNums, 4)
		if err != nil || strs[0] != appName || strs[1] != userID || nNums > 0 && nums[1] >= 1e9 {
			return nil, fmt.Errorf("list sessions: %w", badToken("session"))
		}
		after.AfterUser, after.AfterSession = strs[2], strs[3]
		if nNums > 0 {
			after.AfterUpdate = time.Unix(int64(nums[0]), int64(nums[1])).UTC()
		}
	}
	after.Limit = size + 1
	views, err := s.store.List(ctx, appName, userID, after)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	page := &SessionPage{Sessions: make([]*Session, 0, min(size, len(views)))}
	for _, v := range views[:min(size, len(views))] {
		v.Events = nil
		page.Sessions = append(page.Sessions, handle(v))
	}
	if len(views) > size {
		last := views[size-1]
		var nums []uint64
		if kind == tokenRecent {
			t := last.LastUpdateTime
			nums = []uint64{uint64(t.Unix()), uint64(t.Nanosecond())}
		}
		page.NextPageToken = encodeToken(kind, nums, []string{appName, userID, last.Key.UserID, last.Key.SessionID})
	}
	return page, nil
}

func pageSize(n int) (int, error) {
	switch {
	case n < 0:
		return 0, invalid("pageSize", "is negative (%d)", n)
	case n == 0:
		return DefaultPageSize, nil
	}
	return min(n, MaxPageSize), nil
}

// Delete deletes a session: its events and session state are freed, while
// the app and user state it wrote stays. Deleting a missing session (or
// naming the wrong user) succeeds and changes nothing. The session's
// subscriptions complete; user and app followers still behind its records
// get ErrCompacted (see the package doc).
func (s *Service) Delete(ctx context.Context, key SessionKey) error {
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	key, err := checkKey(key)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	_, err = s.append(ctx, &Record{Kind: eventlog.KindSessionDeleted, Key: key, Time: s.now()})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// AppendEvent appends ev to the session sess names and updates sess in
// place (its events, state, LastUpdateTime and Version). It returns the
// stored event, the store's own and read-only like every stored event: a
// copy of ev with an ID (a new UUID when ev has none) and a timestamp (now
// when ev has none), and without temp: keys in its state delta; temp: keys
// still update sess. ev itself is not changed.
//
// A partial event is returned as it is and stores nothing. An event whose
// ID the session already holds stores nothing and returns the stored event
// (so retries never duplicate history); when that event is the one right
// after sess's last, sess takes it as from a new append, so that a caller
// who retries an append whose outcome it lost goes on with the same
// handle. A handle that has not seen every
// stored event gives ErrStaleSession, unless Options.LastWriterWins. A
// handle of a deleted session gives ErrNotFound, even once a session of
// the same key has been created again. The handle changes only once the
// store has made the event durable.
func (s *Service) AppendEvent(ctx context.Context, sess *Session, ev *Event) (*Event, error) {
	switch {
	case sess == nil:
		return nil, fmt.Errorf("append event: %w", invalid("session", "is nil"))
	case ev == nil:
		return nil, fmt.Errorf("append event: %w", invalid("event", "is nil"))
	}
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("append event: %w", err)
	}
	key, err := checkKey(sess.Key())
	if err == nil {
		err = checkContent(ev) // the copy below checks the JSON values
	}
	if err != nil {
		return nil, fmt.Errorf("append event: %w", err)
	}
	if ev.Partial {
		// Nothing is stored, but a missing session is still reported, and
		// so is a deleted one of this key created again.
		if err := checkEvent(ev); err != nil {
			return nil, fmt.Errorf("append event: %w", err)
		}
		v, err := s.store.Load(ctx, key, eventlog.LoadOptions{NoEvents: true})
		if err == nil && sess.created != 0 && v.Created != sess.created {
			// As a complete event through this handle would be refused.
			err = fmt.Errorf("%w: session %s was deleted since this handle was read (it has been created again)", ErrNotFound, key)
		}
		if err != nil {
			return nil, fmt.Errorf("append event: %w", err)
		}
		return ev, nil
	}
	var seq uint64 // 0: after whatever the session holds (last writer wins)
	if !s.lww {
		if sess.Version == math.MaxUint64 {
			return nil, fmt.Errorf("append event: %w", invalid("session.Version", "is %d: no session holds that many events", sess.Version))
		}
		seq = sess.Version + 1
	}
	stored, err := cloneForStore(ev)
	if err == nil && len(stored.Actions.StateDelta) != len(ev.Actions.StateDelta) {
		// The copy left out temp: keys, which the handle keeps as given.
		err = checkValues("actions.stateDelta", ev.Actions.StateDelta)
	}
	if err != nil {
		return nil, fmt.Errorf("append event: %w", err)
	}
	if stored.ID == "" {
		stored.ID = s.newID()
	}
	if stored.Timestamp.IsZero() {
		stored.Timestamp = s.now()
	}
	res, err := s.append(ctx, &Record{
		Kind: eventlog.KindEventAppended, Key: key, Seq: seq, Time: stored.Timestamp, Event: stored,
		Incarnation: sess.created,
	})
	if err != nil {
		return nil, fmt.Errorf("append event: %w", err)
	}
	stored = res.Record.Event // the store's record, as readers see it
	if res.Duplicate && res.Record.Seq != sess.Version+1 {
		// A retry the handle is past, or one it is too far behind to take.
		return stored, nil
	}
	// A new event, or a retry of the event that comes right after the
	// handle's last: the handle takes it (CONTRACT A5), as it would have
	// from the call the retry repeats, whose outcome the caller lost.
	if sess.State == nil {
		sess.State = make(map[string]any, len(ev.Actions.StateDelta))
	}
	applyToHandle(sess.State, stored.Actions.StateDelta, ev.Actions.StateDelta)
	sess.Events = append(sess.Events, stored)
	sess.LastUpdateTime = stored.Timestamp
	sess.Version = res.Record.Seq
	return stored, nil
}

// ListEventsOptions page ListEvents. The zero value asks for the first
// page of [DefaultPageSize] events.
type ListEventsOptions struct {
	// PageSize is the most events a page holds: 0 means DefaultPageSize,
	// more than MaxPageSize means MaxPageSize.
	PageSize int
	// PageToken continues a listing from where the page that returned it
	// ended; empty starts at the beginning.
	PageToken string
	// SkipRewound leaves out the events a rewind annulled, as
	// [GetOptions.SkipRewound] does (CONTRACT T2). Which events a rewind
	// annuls can change while a listing walks its pages (a later rewind
	// may annul earlier events, or bring them back): each page leaves out
	// what is annulled when it is read, and goes on after the last event
	// the page before it returned.
	SkipRewound bool
}

// EventPage is a page of a session's events.
type EventPage struct {
	// Events are the store's own, read-only.
	Events []*Event
	// NextPageToken continues the listing; empty on the last page.
	NextPageToken string
}

// ListEvents returns a page of a session's events in sequence order. A
// missing session gives ErrNotFound; a token from another listing, or from
// a deleted session of the same key, gives ErrInvalidArgument.
func (s *Service) ListEvents(ctx context.Context, key SessionKey, opts ListEventsOptions) (*EventPage, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	key, err := checkKey(key)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	size, err := pageSize(opts.PageSize)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	var incarnation Position
	var from uint64
	if opts.PageToken != "" {
		nums, strs, err := decodeToken(opts.PageToken, tokenEvents, 2, 3)
		if err != nil || strs[0] != key.AppName || strs[1] != key.UserID || strs[2] != key.SessionID || nums[0] == 0 {
			return nil, fmt.Errorf("list events: %w", badToken("event"))
		}
		incarnation, from = Position(nums[0]), nums[1]
	}
	load := eventlog.LoadOptions{AfterSeq: from, Limit: size}
	if opts.SkipRewound {
		// A rewind annuls events before it: the whole list decides.
		load = eventlog.LoadOptions{}
	}
	v, err := s.store.Load(ctx, key, load)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	if opts.PageToken != "" && (v.Created != incarnation || from > v.Version) {
		return nil, fmt.Errorf("list events: %w", badToken("event"))
	}
	events, to, more := v.Events, from+uint64(len(v.Events)), from+uint64(len(v.Events)) < v.Version
	if opts.SkipRewound {
		events, to, more = activePage(v.Events, from, size)
	}
	page := &EventPage{Events: events}
	if more {
		page.NextPageToken = encodeToken(tokenEvents,
			[]uint64{uint64(v.Created), to}, []string{key.AppName, key.UserID, key.SessionID})
	}
	return page, nil
}

// activePage returns at most size of the events that no rewind annulled
// with a sequence number above from (all holds a session's events in
// sequence order, all[i] at sequence number i+1), the sequence number of
// the last one returned (from if none), and whether more follow.
func activePage(all []*Event, from uint64, size int) (page []*Event, last uint64, more bool) {
	active := eventlog.ActiveEvents(all) // in order: a subsequence of all
	last = from
	for i, j := 0, 0; i < len(all) && j < len(active); i++ {
		if all[i] != active[j] {
			continue
		}
		j++
		if uint64(i+1) <= from {
			continue
		}
		if len(page) == size {
			return page, last, true
		}
		page = append(page, all[i])
		last = uint64(i + 1)
	}
	return page, last, false
}

// Subscribe follows a session's events: first those after sequence number
// afterSeq (0 replays them all), then each one appended, in order, with no
// gaps and no repeats, however slowly the caller reads. (Deletion frees a
// session's events, so a subscriber still behind when the session is
// deleted completes without the ones it had not read.) Each record is a
// KindEventAppended record, with the event, its Seq and its Position. The
// iteration ends when ctx is done or the session is deleted; a missing
// session or a store failure is yielded as an error. It starts no
// goroutine.
func (s *Service) Subscribe(ctx context.Context, key SessionKey, afterSeq uint64) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		if err := s.ready(ctx); err != nil {
			yield(nil, fmt.Errorf("subscribe: %w", err))
			return
		}
		key, err := checkKey(key)
		if err != nil {
			yield(nil, fmt.Errorf("subscribe: %w", err))
			return
		}
		v, err := s.store.Load(ctx, key, eventlog.LoadOptions{NoEvents: true})
		switch {
		case ctx.Err() != nil:
			return // ends quietly, as a subscription whose context is done does
		case err != nil:
			yield(nil, fmt.Errorf("subscribe: %w", err))
			return
		}
		for rec, err := range eventlog.Follow(ctx, s.store, eventlog.SessionScope(key, v.Created), v.Created) {
			if err == nil && rec.Seq <= afterSeq {
				continue
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// SubscribeUser follows every record of one user's sessions in an app
// (creations, events, deletions) after position after, in the store's
// order, with the guarantees of [Service.Subscribe]. It ends when ctx is
// done. A deletion frees its session's records: a subscriber that has not
// read them by then is not skipped past them silently but ends with an
// error matching [ErrCompacted], a [*CompactedError] whose Served names
// the position to follow on from (after re-reading the state).
func (s *Service) SubscribeUser(ctx context.Context, appName, userID string, after Position) iter.Seq2[*Record, error] {
	return s.follow(ctx, appName, userID, true, after)
}

// SubscribeApp follows every record of an app's sessions after position
// after, like [Service.SubscribeUser] for all users, ErrCompacted
// included.
func (s *Service) SubscribeApp(ctx context.Context, appName string, after Position) iter.Seq2[*Record, error] {
	return s.follow(ctx, appName, "", false, after)
}

func (s *Service) follow(ctx context.Context, appName, userID string, byUser bool, after Position) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		err := s.ready(ctx)
		if err == nil {
			err = required("appName", appName)
		}
		if err == nil && byUser {
			err = required("userId", userID)
		}
		if err != nil {
			yield(nil, fmt.Errorf("subscribe: %w", err))
			return
		}
		for rec, err := range eventlog.Follow(ctx, s.store, eventlog.Scope{AppName: appName, UserID: userID}, after) {
			if !yield(rec, err) {
				return
			}
		}
	}
}

// Export iterates over the whole log in position order: every live
// session's records, the deletions, and the app and user state deleted
// sessions left behind, each record with its position. Importing it into
// an empty service of any store reproduces the log record for record,
// positions included, and so the sessions, events, versions and state
// (CONTRACT R2).
func (s *Service) Export(ctx context.Context) iter.Seq2[*Record, error] {
	if err := s.ready(ctx); err != nil {
		return func(yield func(*Record, error) bool) { yield(nil, fmt.Errorf("export: %w", err)) }
	}
	return projection.Records(ctx, s.store)
}

// Import copies records into the service: an export (CONTRACT R2), or
// records built by hand.
//
// An export goes into a store that holds no records. Each record keeps its
// position, kind, key, sequence number, time, event and state, so that the
// new store holds the same log and a follower's saved position stays valid
// in it; deletions are kept too, also of sessions whose records the export
// no longer holds. Which positions those records had is not in the export,
// so an app or user follower whose saved position is before such a
// deletion gets ErrCompacted from the new store (Served is the position
// before the deletion), where the original may have served it. The
// records must come in increasing position order, as Export gives them,
// and no position may exceed eventlog.MaxPosition. A record that holds a
// position is refused with ErrInvalidArgument if the store held records
// when the import began: placed among others, they would change what the
// others' positions mean. When the first record holds one, that is found
// before anything is written.
//
// A record without a position (0) takes the next one, as the call that
// would have made it does, in any store (package adkjson imports a session
// document so); a deletion without a position of a session that does not
// exist changes nothing, as Delete does.
//
// Each record goes through the same checks as the call that first wrote it
// (temp: keys are dropped) and is one append to the store, so readers
// never see a record half imported. Import stops at the first record that
// fails; the records before it stay. Nobody else should write the store
// while an export is imported: an append that takes a position after an
// imported record's makes the records after it fail.
func (s *Service) Import(ctx context.Context, records iter.Seq2[*Record, error]) error {
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if records == nil {
		return fmt.Errorf("import: %w", invalid("records", "is nil"))
	}
	n, checked, placed := 0, false, false
	var held Position // the first record the store held as the import began; 0: none
	var last Position // the position of the last record imported
	for in, err := range records {
		n++
		var rec *Record
		if err == nil {
			rec, err = importable(in)
		}
		if err == nil && !checked {
			// Checked once the first record is known to be good, so that
			// bad input is reported as such whatever the store holds.
			checked = true
			if held, err = s.firstPosition(ctx); err != nil {
				return fmt.Errorf("import: %w", err)
			}
		}
		if err == nil && rec.Position != 0 && !placed {
			// The first record that holds a position: the store must have
			// been empty when the import began, whether or not records
			// without a position came before this one.
			placed = true
			if held != 0 {
				err = fmt.Errorf("%w: the store already holds records (the first at position %d); import into an empty store",
					ErrInvalidArgument, held)
			}
		}
		if err == nil && rec.Position != 0 && rec.Position <= last {
			err = invalid("position", "%d is not after the position of the record before it, %d (records come in position order, as Export gives them)", rec.Position, last)
		}
		if err == nil {
			err = s.importRecord(ctx, rec)
		}
		if err != nil {
			return fmt.Errorf("import: record %d: %w", n, err)
		}
		last = max(last, rec.Position)
	}
	return nil
}

// firstPosition is the position of the store's first record, 0 when it
// holds none.
func (s *Service) firstPosition(ctx context.Context) (Position, error) {
	recs, _, err := s.store.Read(ctx, eventlog.Scope{}, 0, 1)
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	return recs[0].Position, nil
}

// importable checks an imported record and returns the store's copy of it.
func importable(in *Record) (*Record, error) {
	if in == nil {
		return nil, invalid("record", "is nil")
	}
	if err := checkImportKey(in); err != nil {
		return nil, err
	}
	rec := &Record{Position: in.Position, Kind: in.Kind, Key: in.Key, Seq: in.Seq, Time: eventlog.StoredTime(in.Time)}
	switch in.Kind {
	case eventlog.KindSessionCreated, eventlog.KindStateRetained:
		if err := checkValues("state", in.State); err != nil {
			return nil, err
		}
		st, err := eventlog.NormalizeState("state", in.State)
		if err != nil {
			return nil, err
		}
		rec.State = st
	case eventlog.KindEventAppended:
		if err := checkEvent(in.Event); err != nil {
			return nil, err
		}
		if in.Event.Partial {
			return nil, invalid("event.partial", "is true: no call stores a partial event")
		}
		if in.Seq == 0 {
			return nil, invalid("seq", "of an event record is 0 (sequence numbers start at 1)")
		}
		ev, err := cloneForStore(in.Event)
		if err != nil {
			return nil, err
		}
		rec.Event = ev
	case eventlog.KindSessionDeleted:
	default:
		return nil, invalid("kind", "%d is not a record kind", uint8(in.Kind))
	}
	return rec, nil
}

// importRecord appends rec, made by importable, to the store.
func (s *Service) importRecord(ctx context.Context, rec *Record) error {
	res, err := s.append(ctx, rec)
	switch {
	case err != nil && rec.Kind == eventlog.KindSessionDeleted && rec.Position == 0 && isNotFound(err):
		return nil // nothing to delete, as Delete finds
	case err != nil:
		return err
	case res.Duplicate:
		return invalid("event.id", "%q is already in session %s", rec.Event.ID, rec.Key)
	}
	return nil
}

// cloneForStore is the store's copy of an event (CONTRACT A8): a deep copy
// whose state delta has no temp: keys and whose JSON values are normalized
// (CONTRACT V1).
func cloneForStore(ev *Event) (*Event, error) {
	return eventlog.NormalizeEvent(ev)
}
