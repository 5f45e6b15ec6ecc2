// Package service is sessionlog's Go API: the ADK session service over an
// event log. Create, Get, List and Delete sessions, append events, page
// through a session's events, subscribe to a session, a user or an app,
// and export or import the whole store.
//
// Every call takes a context first and reports failures as one of four
// sentinel errors, wrapped with what went wrong: [ErrInvalidArgument],
// [ErrNotFound], [ErrAlreadyExists] and [ErrStaleSession].
//
// Stored events are immutable and shared: reads hand out the store's own
// events without copying them, which is why a Get costs the same for ten
// events or ten thousand. A [Session]'s Events slice is capped, so appending
// to it never writes into the store, but its elements and the events they
// point to are the store's: treat them as read-only, and call
// [slices.Clone] to reorder the slice or [Event.Clone] to change an event.
// Everything else a call returns (the Session value, its State map and the
// values in it) belongs to the caller.
package service

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/sessionlog/sessionlog/eventlog"
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
)

// Removed, as a state delta value, deletes the key in its scope.
var Removed = projection.Removed

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
	// Store holds the log. Nil means a new [eventlog.Memory].
	Store eventlog.Store
	// Now is the clock for creation times and events without a timestamp.
	// Nil means time.Now.
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
	live   projection.Live
	now    func() time.Time
	newID  func() string
	lww    bool

	// A shared store (eventlog.SharedStore) has writers besides this
	// service; before each call the service folds what they appended.
	shared bool
	// deferred is the store, if it can hand back the wait for durability
	// (eventlog.DeferredAppender).
	deferred eventlog.DeferredAppender
	// prepareDelete does a deletion's slow part before its app is held
	// (see deleteSession); nil unless the store is an eventlog.Memory.
	prepareDelete func(context.Context, *Record) (func() (*Record, error), error)
	// foldMu orders the folds; applied is the position of the last record
	// folded from the log. Folds are numbered as they start (foldStarted)
	// and foldDone is the number of the last one that finished, so that a
	// call can tell whether a fold that began after it did has finished.
	foldMu      sync.Mutex
	applied     Position
	foldStarted atomic.Uint64
	foldDone    uint64
}

// New returns a service over opts.Store, folding whatever log the store
// already holds into the live state.
//
// Over an [eventlog.SharedStore] that reports itself shared (a database
// that several service replicas write), the service also folds the records
// the other writers appended before every call, so that each call sees
// everything committed before it began: a Get on one replica returns an
// event appended through another, with the app and user state it wrote.
func New(ctx context.Context, opts Options) (*Service, error) {
	if ctx == nil {
		return nil, fmt.Errorf("open service: %w", invalid("ctx", "is nil"))
	}
	s := &Service{store: opts.Store, now: opts.Now, newID: opts.NewID, lww: opts.LastWriterWins}
	s.once.Do(s.defaults)
	if sh, ok := s.store.(eventlog.SharedStore); ok {
		s.shared = sh.Shared()
	}
	if err := s.fold(ctx); err != nil {
		return nil, fmt.Errorf("open service: %w", err)
	}
	return s, nil
}

// fold folds the records of the log after the last one folded.
func (s *Service) fold(ctx context.Context) error {
	for rec, err := range projection.RecordsAfter(ctx, s.store, s.applied) {
		if err != nil {
			return err
		}
		s.live.Apply(rec)
		s.applied = rec.Position
	}
	return nil
}

// holdApp says whether an update that touches what other sessions see
// (shared) must hold its app across the commit (see [projection.Live.Update]):
// so that no reader finds a record in the log before its effect in the
// projection. Over a shared store that cannot happen anyway, because every
// call folds the log before it reads; holding the app there would only
// keep one app's appends from going to the database together.
func (s *Service) holdApp(shared bool) bool { return shared && !s.shared }

// catchUp folds, over a shared store, what other writers appended before
// this call began. Concurrent calls share the work: a call that finds a
// fold begun after it arrived, and finished, has nothing left to do.
func (s *Service) catchUp(ctx context.Context) error {
	if !s.shared {
		return nil
	}
	arrived := s.foldStarted.Load()
	s.foldMu.Lock()
	defer s.foldMu.Unlock()
	if s.foldDone > arrived {
		return nil
	}
	n := s.foldStarted.Add(1)
	if err := s.fold(ctx); err != nil {
		return fmt.Errorf("read the shared log: %w", err)
	}
	s.foldDone = n
	return nil
}

// defaults fills in what Options left out (all of it, for a zero Service).
func (s *Service) defaults() {
	if s.store == nil {
		s.store = eventlog.NewMemory()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.newID == nil {
		s.newID = uuid.NewString
	}
	s.deferred, _ = s.store.(eventlog.DeferredAppender)
	if m, ok := s.store.(*eventlog.Memory); ok {
		// A Memory itself, not a store that wraps one: a wrapper's own
		// Append must see every record.
		s.prepareDelete = m.PrepareDelete
	}
}

// append commits rec to the store. A store that makes records visible
// before they are durable hands back the wait for durability: append
// leaves it in *durable, for the caller to run with [wait] once the
// projection's locks are released, so that appends holding the same app
// share it (group commit). With a nil durable it waits itself.
func (s *Service) append(ctx context.Context, rec *Record, durable *func() error) (*Record, error) {
	if s.deferred == nil {
		return s.store.Append(ctx, rec)
	}
	stored, w, err := s.deferred.AppendDeferred(ctx, rec)
	if w != nil && (err == nil || errIsDuplicate(err)) {
		if durable != nil {
			*durable = w
		} else if werr := w(); werr != nil {
			return nil, werr
		}
	}
	return stored, err
}

// wait runs the wait for durability that append left, if any.
func wait(durable func() error) error {
	if durable == nil {
		return nil
	}
	return durable()
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
	return s.catchUp(ctx)
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
	// shared with the store and read-only (see the package doc).
	Events []*Event `json:"events"`
	// LastUpdateTime is the creation time or the last event's timestamp.
	LastUpdateTime time.Time `json:"lastUpdateTime"`
	// Version is the sequence number of the last event the handle has seen.
	Version uint64 `json:"version"`

	// created pins the handle to the session it was read from: a handle
	// of a deleted session must not append to a new one of the same key.
	// Zero (a handle built by hand) matches any.
	created Position
}

// Key returns the key naming the session.
func (s *Session) Key() SessionKey {
	return SessionKey{AppName: s.AppName, UserID: s.UserID, SessionID: s.ID}
}

func handle(v projection.SessionView) *Session {
	return &Session{
		ID: v.Key.SessionID, AppName: v.Key.AppName, UserID: v.Key.UserID,
		State: v.State, LastUpdateTime: v.LastUpdateTime, Version: v.Version,
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
	}
	rec := &Record{
		Kind:  eventlog.KindSessionCreated,
		Key:   key,
		Time:  s.now(),
		State: projection.CloneWithoutTemp(state),
	}
	var durable func() error
	v, err := s.live.Create(key, func() (*Record, error) { return s.append(ctx, rec, &durable) })
	if err == nil {
		err = wait(durable)
	}
	if err != nil {
		return nil, err
	}
	return handle(v), nil
}

// GetOptions filter the events Get returns. The zero value returns all.
type GetOptions struct {
	// NumRecentEvents, when positive, keeps only the last n events.
	NumRecentEvents int
	// After, when set, keeps only events with a timestamp at or after it,
	// applied after NumRecentEvents.
	After time.Time
}

// Get returns a session with its merged state and its events, filtered by
// opts. A missing session gives ErrNotFound. Its cost does not grow with
// the number of events returned: the events are the store's, not copies.
func (s *Service) Get(ctx context.Context, key SessionKey, opts GetOptions) (*Session, error) {
	if err := s.ready(ctx); err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	key, err := checkKey(key)
	if err == nil && opts.NumRecentEvents < 0 {
		err = invalid("numRecentEvents", "is negative (%d)", opts.NumRecentEvents)
	}
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	var out *Session
	for attempt := 0; ; attempt++ {
		err = s.live.View(key, func(v projection.SessionView) error {
			log, err := s.store.Session(ctx, key)
			if err != nil {
				return err
			}
			if log.Created.Position != v.Created || log.Version() < v.Version {
				return errMoved
			}
			// Over a shared store the log may already hold events that
			// the view has not folded: the handle shows what it folded.
			log.Records, log.Events = log.Records[:v.Version:v.Version], log.Events[:v.Version:v.Version]
			out = handle(v)
			out.Events = filterEvents(log, opts)
			return nil
		})
		if err != errMoved || attempt == maxRetries {
			break
		}
		// Another writer deleted or re-created the session between the
		// view and the read: fold its records and look again.
		if err = s.catchUp(ctx); err != nil {
			break
		}
	}
	if err == errMoved {
		err = fmt.Errorf("session %s: %w: it keeps changing under concurrent deletes", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get session: %w", err)
	}
	return out, nil
}

// errMoved reports that the log and the live view of a session disagree,
// which a shared store's other writers can cause for a moment.
var errMoved = errors.New("the session changed between the view and the log")

// maxRetries bounds how often a call folds a shared store's new records
// and tries again.
const maxRetries = 8

// filterEvents applies GetOptions to a session's events without copying
// them when it can.
func filterEvents(log eventlog.SessionLog, opts GetOptions) []*Event {
	events := log.Events
	if n := opts.NumRecentEvents; n > 0 && n < len(events) {
		events = events[len(events)-n:]
	}
	if opts.After.IsZero() {
		return events
	}
	if log.TimeOrdered {
		i := sort.Search(len(events), func(i int) bool { return !events[i].Timestamp.Before(opts.After) })
		return events[i:]
	}
	var kept []*Event
	for _, e := range events {
		if !e.Timestamp.Before(opts.After) {
			kept = append(kept, e)
		}
	}
	return kept
}

// ListOptions page a listing. The zero value asks for the first page of
// [DefaultPageSize].
type ListOptions struct {
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
// and no events, ordered by user ID and then session ID (byte order).
// Walking every page returns each session that lives through the walk
// exactly once.
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
	var afterUser, afterID string
	if opts.PageToken != "" {
		_, strs, err := decodeToken(opts.PageToken, tokenSessions, 0, 4)
		if err != nil || strs[0] != appName || strs[1] != userID {
			return nil, fmt.Errorf("list sessions: %w", badToken("session"))
		}
		afterUser, afterID = strs[2], strs[3]
	}
	views := s.live.Sessions(appName, userID, afterUser, afterID, size+1)
	page := &SessionPage{Sessions: make([]*Session, 0, min(size, len(views)))}
	for _, v := range views[:min(size, len(views))] {
		page.Sessions = append(page.Sessions, handle(v))
	}
	if len(views) > size {
		last := views[size-1].Key
		page.NextPageToken = encodeToken(tokenSessions, nil, []string{appName, userID, last.UserID, last.SessionID})
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
// subscriptions complete.
func (s *Service) Delete(ctx context.Context, key SessionKey) error {
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	key, err := checkKey(key)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	var durable func() error
	err = s.deleteSession(ctx, &Record{Kind: eventlog.KindSessionDeleted, Key: key, Time: s.now()}, &durable)
	if err == nil {
		err = wait(durable)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// deleteSession commits the deletion rec of its session (leaving the wait
// for durability in *durable, as append does) and folds it. A deletion
// touches what other sessions see, so the app is held from the moment the
// record is ordered (see holdApp). Over an eventlog.Memory, the slow
// part, working out what a long session leaves behind, runs before that
// (Memory.PrepareDelete), so that deleting one session does not stall its
// app's other calls for as long.
func (s *Service) deleteSession(ctx context.Context, rec *Record, durable *func() error) error {
	if s.prepareDelete == nil || !s.holdApp(true) {
		return s.live.Update(rec.Key, s.holdApp(true), func(projection.SessionInfo) (*Record, error) {
			return s.append(ctx, rec, durable)
		})
	}
	return s.live.UpdateInTwoSteps(rec.Key, func(projection.SessionInfo) (func() (*Record, error), error) {
		return s.prepareDelete(ctx, rec)
	})
}

// AppendEvent appends ev to the session sess names and updates sess in
// place (its events, state, LastUpdateTime and Version). It returns the
// stored event, shared with the store and read-only like every stored
// event: a copy of ev with an ID (a new UUID when ev has none) and a
// timestamp (now when ev has none), and without temp: keys in its state
// delta; temp: keys still update sess. ev itself is not changed.
//
// A partial event is returned as it is and stores nothing. An event whose
// ID the session already holds stores nothing and returns the stored event
// (so retries never duplicate history). A handle that has not seen every
// stored event gives ErrStaleSession, unless Options.LastWriterWins.
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
		err = checkEvent(ev)
	}
	if err != nil {
		return nil, fmt.Errorf("append event: %w", err)
	}
	if ev.Partial {
		// Nothing is stored, but a missing session is still reported.
		if _, err := s.store.Session(ctx, key); err != nil {
			return nil, fmt.Errorf("append event: %w", err)
		}
		return ev, nil
	}
	stored, writesShared := cloneForStore(ev)
	if stored.ID == "" {
		stored.ID = s.newID()
	}
	if stored.Timestamp.IsZero() {
		stored.Timestamp = s.now()
	}

	var rec *Record
	var durable func() error
	commit := func(v projection.SessionInfo) (*Record, error) {
		if sess.created != 0 && sess.created != v.Created {
			return nil, fmt.Errorf("session %s: %w: the handle's session was deleted", key, ErrNotFound)
		}
		seq := sess.Version + 1
		if s.lww {
			seq = v.Version + 1
		}
		got, err := s.append(ctx, &Record{
			Kind: eventlog.KindEventAppended, Key: key, Seq: seq, Time: stored.Timestamp, Event: stored,
			Incarnation: v.Created, // another writer of a shared store may have replaced it
		}, &durable)
		switch {
		case err == nil:
			rec, stored = got, got.Event // the store's record, as readers see it
			return got, nil
		case errIsDuplicate(err):
			stored = got.Event
			return nil, nil
		}
		return nil, err
	}
	shared := s.holdApp(writesShared)
	for attempt := 0; ; attempt++ {
		err = s.live.Update(key, shared, commit)
		if !s.shared || !s.lww || !errors.Is(err, ErrStaleSession) || attempt == maxRetries {
			break
		}
		// Last writer wins, but another writer of the shared store got in
		// first: fold its events and go after them.
		if err = s.catchUp(ctx); err != nil {
			break
		}
	}
	if err == nil {
		// Durable before the handle shows it (the wait runs outside the
		// projection's locks: see append).
		err = wait(durable)
	}
	if err != nil {
		return nil, fmt.Errorf("append event: %w", err)
	}
	if rec != nil {
		if sess.State == nil {
			sess.State = make(map[string]any, len(ev.Actions.StateDelta))
		}
		projection.ApplyDelta(sess.State, ev.Actions.StateDelta)
		sess.Events = append(sess.Events, stored)
		sess.LastUpdateTime = stored.Timestamp
		sess.Version = rec.Seq
	}
	return stored, nil
}

// ListEventsOptions page ListEvents; see [ListOptions].
type ListEventsOptions = ListOptions

// EventPage is a page of a session's events.
type EventPage struct {
	// Events are shared read-only with the store.
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
	log, err := s.store.Session(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	var from uint64
	if opts.PageToken != "" {
		nums, strs, err := decodeToken(opts.PageToken, tokenEvents, 2, 3)
		if err != nil || strs[0] != key.AppName || strs[1] != key.UserID || strs[2] != key.SessionID ||
			Position(nums[0]) != log.Created.Position || nums[1] > log.Version() {
			return nil, fmt.Errorf("list events: %w", badToken("event"))
		}
		from = nums[1]
	}
	to := min(log.Version(), from+uint64(size))
	page := &EventPage{Events: log.Events[from:to:to]}
	if to < log.Version() {
		page.NextPageToken = encodeToken(tokenEvents,
			[]uint64{uint64(log.Created.Position), to}, []string{key.AppName, key.UserID, key.SessionID})
	}
	return page, nil
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
		log, err := s.store.Session(ctx, key)
		switch {
		case ctx.Err() != nil:
			return // ends quietly, as a subscription whose context is done does
		case err != nil:
			yield(nil, fmt.Errorf("subscribe: %w", err))
			return
		}
		after := log.Created.Position
		if n := min(afterSeq, log.Version()); n > 0 {
			after = log.Records[n-1].Position
		}
		for rec, err := range eventlog.Follow(ctx, s.store, eventlog.SessionScope(key, log.Created.Position), after) {
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
// done. One exception to "every": deletion frees a session's records, so
// a subscriber that has not read them by then gets only the deletion.
func (s *Service) SubscribeUser(ctx context.Context, appName, userID string, after Position) iter.Seq2[*Record, error] {
	return s.follow(ctx, appName, userID, true, after)
}

// SubscribeApp follows every record of an app's sessions after position
// after, like [Service.SubscribeUser] for all users.
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
// sessions left behind. Importing it into an empty service reproduces the
// sessions, events, versions and state (CONTRACT R2).
func (s *Service) Export(ctx context.Context) iter.Seq2[*Record, error] {
	if err := s.ready(ctx); err != nil {
		return func(yield func(*Record, error) bool) { yield(nil, fmt.Errorf("export: %w", err)) }
	}
	return projection.Records(ctx, s.store)
}

// Import appends exported records to the service, in order, keeping their
// kinds, keys, sequence numbers, times, events and state (positions are
// assigned anew). Each record goes through the same checks and the same
// locks as the call that first wrote it (temp: keys are dropped), so
// readers never see an import half done. It stops at the first record that
// fails; the records before it stay. A deletion of a session that does not
// exist is skipped.
func (s *Service) Import(ctx context.Context, records iter.Seq2[*Record, error]) error {
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if records == nil {
		return fmt.Errorf("import: %w", invalid("records", "is nil"))
	}
	n := 0
	for in, err := range records {
		n++
		if err == nil {
			err = s.importRecord(ctx, in)
		}
		if err != nil {
			return fmt.Errorf("import: record %d: %w", n, err)
		}
	}
	return nil
}

func (s *Service) importRecord(ctx context.Context, in *Record) error {
	if in == nil {
		return invalid("record", "is nil")
	}
	if err := checkImportKey(in); err != nil {
		return err
	}
	rec := &Record{Kind: in.Kind, Key: in.Key, Seq: in.Seq, Time: in.Time}
	commit := func(projection.SessionInfo) (*Record, error) { return s.append(ctx, rec, nil) }
	switch in.Kind {
	case eventlog.KindSessionCreated:
		if err := checkValues("state", in.State); err != nil {
			return err
		}
		rec.State = projection.CloneWithoutTemp(in.State)
		_, err := s.live.Create(in.Key, func() (*Record, error) { return s.append(ctx, rec, nil) })
		return err
	case eventlog.KindEventAppended:
		if err := checkEvent(in.Event); err != nil {
			return err
		}
		var writesShared bool
		rec.Event, writesShared = cloneForStore(in.Event)
		return s.live.Update(in.Key, s.holdApp(writesShared), commit)
	case eventlog.KindSessionDeleted:
		if err := s.deleteSession(ctx, rec, nil); err != nil && !isNotFound(err) {
			return err
		}
		return nil
	case eventlog.KindStateRetained:
		if err := checkValues("state", in.State); err != nil {
			return err
		}
		rec.State = projection.CloneWithoutTemp(in.State)
		stored, err := s.append(ctx, rec, nil)
		if err == nil {
			s.live.Apply(stored)
		}
		return err
	}
	return invalid("kind", "%d is not a record kind", uint8(in.Kind))
}

// cloneForStore is the store's copy of an event (CONTRACT A8): a deep copy
// whose state delta has no temp: keys, made in one pass over the delta,
// which also tells whether the event writes app or user state.
func cloneForStore(ev *Event) (*Event, bool) {
	shallow := *ev
	shallow.Actions.StateDelta = nil
	stored := shallow.Clone()
	var shared bool
	stored.Actions.StateDelta, shared = projection.CloneForLog(ev.Actions.StateDelta)
	return stored, shared
}
