package observable

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// Names from package service, so that a port imports one package.
type (
	// SessionKey names a session; its JSON is Java's SessionKey's:
	// {"appName", "userId", "id"}.
	SessionKey = service.SessionKey
	// Session is a session handle; see [service.Session].
	Session = service.Session
	// Event is an ADK event; see [service.Event].
	Event = service.Event
	// Record is one entry of the log, as streams deliver them.
	Record = service.Record
	// Position orders a store's records.
	Position = service.Position
	// EventActions is an event's side effects, its state delta among them.
	EventActions = service.EventActions
	// ListEventsOptions page ListEvents.
	ListEventsOptions = service.ListEventsOptions
	// RewindOptions refine RewindSession; see [service.RewindOptions].
	RewindOptions = service.RewindOptions
	// Kind says what a stream's record records.
	Kind = eventlog.Kind
)

// The kinds of record a stream delivers.
const (
	KindSessionCreated = eventlog.KindSessionCreated
	KindEventAppended  = eventlog.KindEventAppended
	KindSessionDeleted = eventlog.KindSessionDeleted
)

// Removed, as a state delta value, deletes the key in its scope (Java's
// State.REMOVED).
const Removed = service.Removed

// SessionService is the session service as Java's BaseSessionService
// shapes it. It wraps a [service.Service]; every call is the Go API's call,
// with its rules and errors.
type SessionService struct {
	svc *service.Service
}

// New returns the reactive face of svc.
func New(svc *service.Service) *SessionService { return &SessionService{svc: svc} }

// Service returns the wrapped Go API.
func (s *SessionService) Service() *service.Service {
	if s == nil {
		return nil
	}
	return s.svc
}

// errNoService is what every call of a SessionService without a service
// gives, rather than a panic.
var errNoService = fmt.Errorf("observable: %w: the SessionService has no service (use New)", service.ErrInvalidArgument)

func (s *SessionService) ready() error {
	if s == nil || s.svc == nil {
		return errNoService
	}
	return nil
}

// CreateSession creates a session, like createSession. An empty
// key.SessionID asks for a new one; state may be nil. A session that exists
// gives ErrAlreadyExists.
func (s *SessionService) CreateSession(ctx context.Context, key SessionKey, state map[string]any) Single[*Session] {
	if err := s.ready(); err != nil {
		return SingleOf[*Session](nil, err)
	}
	return SingleOf(s.svc.Create(ctx, key, state))
}

// GetSessionConfig filters the events GetSession returns, like Java's
// GetSessionConfig. Each field is optional; numRecentEvents applies first,
// then afterTimestamp. AtVersion and BeforeInvocationID, which Java lacks,
// name a point in the session's history to read it at, as
// [service.GetOptions] AtVersion and BeforeInvocation do (CONTRACT T1);
// the filters then select from the events up to there.
type GetSessionConfig struct {
	NumRecentEvents    *int       `json:"numRecentEvents,omitempty"`
	AfterTimestamp     *time.Time `json:"afterTimestamp,omitempty"`
	AtVersion          *uint64    `json:"atVersion,omitempty"`
	BeforeInvocationID *string    `json:"beforeInvocationId,omitempty"`
	// SkipRewound leaves out the events rewinds annulled, as
	// [service.GetOptions] SkipRewound does (CONTRACT T2).
	SkipRewound bool `json:"skipRewound,omitempty"`
}

// WithSkipRewound returns a copy of c that leaves out the events rewinds
// annulled.
func (c GetSessionConfig) WithSkipRewound() GetSessionConfig {
	c.SkipRewound = true
	return c
}

// WithAtVersion returns a copy of c that reads the session as it stood
// just after the event with sequence number v (0: just after its
// creation).
func (c GetSessionConfig) WithAtVersion(v uint64) GetSessionConfig {
	c.AtVersion = &v
	return c
}

// WithBeforeInvocationID returns a copy of c that reads the session as it
// stood just before the first event of invocation id.
func (c GetSessionConfig) WithBeforeInvocationID(id string) GetSessionConfig {
	c.BeforeInvocationID = &id
	return c
}

// WithNumRecentEvents returns a copy of c that keeps only the last n
// events, like the builder's numRecentEvents.
func (c GetSessionConfig) WithNumRecentEvents(n int) GetSessionConfig {
	c.NumRecentEvents = &n
	return c
}

// WithAfterTimestamp returns a copy of c that keeps only events at or after
// t, like the builder's afterTimestamp.
func (c GetSessionConfig) WithAfterTimestamp(t time.Time) GetSessionConfig {
	c.AfterTimestamp = &t
	return c
}

// GetSession returns a session, like getSession: empty when there is no
// such session. A nil config returns every event; numRecentEvents set to 0
// returns none, as in Java (the Go API's 0 means "no limit").
func (s *SessionService) GetSession(ctx context.Context, key SessionKey, config *GetSessionConfig) Maybe[*Session] {
	if err := s.ready(); err != nil {
		return MaybeOf[*Session](nil, false, err)
	}
	var opts service.GetOptions
	none := false // numRecentEvents set to 0: Java returns no events
	if config != nil {
		if config.NumRecentEvents != nil {
			opts.NumRecentEvents = *config.NumRecentEvents
			none = opts.NumRecentEvents == 0
		}
		if config.AfterTimestamp != nil {
			opts.After = *config.AfterTimestamp
		}
		opts.AtVersion = config.AtVersion
		if config.BeforeInvocationID != nil {
			if *config.BeforeInvocationID == "" {
				return MaybeOf[*Session](nil, false, fmt.Errorf("get session: %w: beforeInvocationId is empty", service.ErrInvalidArgument))
			}
			opts.BeforeInvocation = *config.BeforeInvocationID
		}
		opts.SkipRewound = config.SkipRewound
	}
	sess, err := s.svc.Get(ctx, key, opts)
	if errors.Is(err, service.ErrNotFound) {
		return MaybeOf[*Session](nil, false, nil)
	}
	if err == nil && none {
		sess.Events = []*Event{}
	}
	return MaybeOf(sess, err == nil, err)
}

// ListSessionsResponse is a listing's result, like Java's.
type ListSessionsResponse struct {
	Sessions []*Session `json:"sessions"`
}

// SessionIDs returns the listed sessions' IDs, in listing order.
func (r ListSessionsResponse) SessionIDs() []string {
	ids := make([]string, len(r.Sessions))
	for i, sess := range r.Sessions {
		ids[i] = sess.ID
	}
	return ids
}

// ListSessions lists a user's sessions in an app (every user's when userID
// is empty), with merged state and no events, like listSessions: all of
// them, in the order of [service.Service.List]. No sessions gives an empty
// list.
func (s *SessionService) ListSessions(ctx context.Context, appName, userID string) Single[ListSessionsResponse] {
	if err := s.ready(); err != nil {
		return SingleOf(ListSessionsResponse{}, err)
	}
	resp := ListSessionsResponse{Sessions: []*Session{}}
	opts := service.ListOptions{PageSize: service.MaxPageSize}
	for {
		page, err := s.svc.List(ctx, appName, userID, opts)
		if err != nil {
			return SingleOf(ListSessionsResponse{}, err)
		}
		resp.Sessions = append(resp.Sessions, page.Sessions...)
		if page.NextPageToken == "" {
			return SingleOf(resp, nil)
		}
		opts.PageToken = page.NextPageToken
	}
}

// DeleteSession deletes a session, like deleteSession. Deleting a missing
// session completes too.
func (s *SessionService) DeleteSession(ctx context.Context, key SessionKey) Completable {
	if err := s.ready(); err != nil {
		return CompletableOf(err)
	}
	return CompletableOf(s.svc.Delete(ctx, key))
}

// ListEventsResponse is a page of a session's events, like Java's.
type ListEventsResponse struct {
	Events        []*Event `json:"events"`
	NextPageToken string   `json:"nextPageToken,omitempty"`
}

// ListEvents returns a session's events, like listEvents: without a page
// size or token all of them (as Java's in-memory service does; SkipRewound
// still leaves out what rewinds annulled), else the page opts ask for,
// with the token of the next. A missing session gives ErrNotFound
// (Java gives an empty response).
func (s *SessionService) ListEvents(ctx context.Context, key SessionKey, opts ListEventsOptions) Single[ListEventsResponse] {
	if err := s.ready(); err != nil {
		return SingleOf(ListEventsResponse{}, err)
	}
	if opts.PageSize == 0 && opts.PageToken == "" {
		// A Get hands out all the events without copying them.
		sess, err := s.svc.Get(ctx, key, service.GetOptions{SkipRewound: opts.SkipRewound})
		if err != nil {
			return SingleOf(ListEventsResponse{}, fmt.Errorf("list events: %w", err))
		}
		return SingleOf(ListEventsResponse{Events: sess.Events}, nil)
	}
	page, err := s.svc.ListEvents(ctx, key, opts)
	if err != nil {
		return SingleOf(ListEventsResponse{}, err)
	}
	return SingleOf(ListEventsResponse{Events: page.Events, NextPageToken: page.NextPageToken}, nil)
}

// AppendEvent appends an event and updates the handle in place, like
// appendEvent, and yields the stored event (a partial event comes back as
// it is, storing nothing). See [service.Service.AppendEvent].
func (s *SessionService) AppendEvent(ctx context.Context, session *Session, event *Event) Single[*Event] {
	if err := s.ready(); err != nil {
		return SingleOf[*Event](nil, err)
	}
	return SingleOf(s.svc.AppendEvent(ctx, session, event))
}

// RewindSession takes a session back to how it stood just before the first
// event of invocation beforeInvocationID by appending one rewind event,
// which the Single carries: [service.Service.Rewind], which Java's
// BaseSessionService lacks (CONTRACT T2). A missing session is the
// Single's ErrNotFound, as in AppendEvent.
func (s *SessionService) RewindSession(ctx context.Context, key SessionKey, beforeInvocationID string, opts RewindOptions) Single[*Event] {
	if err := s.ready(); err != nil {
		return SingleOf[*Event](nil, err)
	}
	return SingleOf(s.svc.Rewind(ctx, key, beforeInvocationID, opts))
}

// RewindSessionToVersion is RewindSession to the session as it stood just
// after the event with sequence number version:
// [service.Service.RewindToVersion].
func (s *SessionService) RewindSessionToVersion(ctx context.Context, key SessionKey, version uint64, opts RewindOptions) Single[*Event] {
	if err := s.ready(); err != nil {
		return SingleOf[*Event](nil, err)
	}
	return SingleOf(s.svc.RewindToVersion(ctx, key, version, opts))
}

// ForkSession creates a session at newKey holding a copy of session key
// as it stood just after version atVersion, in one atomic step, which the
// Single carries: [service.Service.Fork], which Java's BaseSessionService
// lacks (CONTRACT T3). A missing source is the Single's ErrNotFound, a
// taken newKey its ErrAlreadyExists.
func (s *SessionService) ForkSession(ctx context.Context, key SessionKey, atVersion uint64, newKey SessionKey) Single[*Session] {
	if err := s.ready(); err != nil {
		return SingleOf[*Session](nil, err)
	}
	return SingleOf(s.svc.Fork(ctx, key, atVersion, newKey))
}

// CloseSession closes a session handle, like closeSession. There is
// nothing to release, so it completes; a nil session or ctx, or a done
// ctx, is an error.
func (s *SessionService) CloseSession(ctx context.Context, session *Session) Completable {
	if err := s.ready(); err != nil {
		return CompletableOf(err)
	}
	switch {
	case session == nil:
		return CompletableOf(fmt.Errorf("close session: %w: session is nil", service.ErrInvalidArgument))
	case ctx == nil:
		return CompletableOf(fmt.Errorf("close session: %w: ctx is nil", service.ErrInvalidArgument))
	}
	return CompletableOf(ctx.Err())
}

// SessionEvents is the stream of a session's appended events after
// sequence number afterSeq (0 for all), then live; it completes when the
// session is deleted. See [service.Service.Subscribe].
func (s *SessionService) SessionEvents(key SessionKey, afterSeq uint64) Stream[*Record] {
	return s.stream(func(ctx context.Context, svc *service.Service) iter.Seq2[*Record, error] {
		return svc.Subscribe(ctx, key, afterSeq)
	})
}

// UserEvents is the stream of every record of a user's sessions in an app
// after a position, then live. A stream behind records that a deletion
// freed ends with an error matching [service.ErrCompacted], which names
// the position to go on from. See [service.Service.SubscribeUser].
func (s *SessionService) UserEvents(appName, userID string, after Position) Stream[*Record] {
	return s.stream(func(ctx context.Context, svc *service.Service) iter.Seq2[*Record, error] {
		return svc.SubscribeUser(ctx, appName, userID, after)
	})
}

// AppEvents is the stream of every record of an app's sessions after a
// position, then live, ending with ErrCompacted as [SessionService.UserEvents]
// does. See [service.Service.SubscribeApp].
func (s *SessionService) AppEvents(appName string, after Position) Stream[*Record] {
	return s.stream(func(ctx context.Context, svc *service.Service) iter.Seq2[*Record, error] {
		return svc.SubscribeApp(ctx, appName, after)
	})
}

func (s *SessionService) stream(follow func(context.Context, *service.Service) iter.Seq2[*Record, error]) Stream[*Record] {
	return Stream[*Record]{follow: func(ctx context.Context) iter.Seq2[*Record, error] {
		if err := s.ready(); err != nil {
			return func(yield func(*Record, error) bool) { yield(nil, err) }
		}
		return follow(ctx, s.svc)
	}}
}
