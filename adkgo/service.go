// Package adkgo makes a sessionlog service the session service of the Go
// ADK (google.golang.org/adk/v2): [New] wraps a [service.Service] as a
// session.Service, so an ADK runner stores its sessions in sessionlog
// without a change to the agent code.
//
// What the runner gets is sessionlog's behaviour: the event log, optimistic
// concurrency, idempotent appends, app and user state merged at read time,
// and whatever store the service runs on. What it gains beyond the ADK's
// own services is reached through [Service.Subscribe], which replays a
// session's events and follows it live as ADK events, and through
// [Service.Sessionlog]: user and app subscriptions, paging, export and
// import. [ToADK] turns the events those yield into ADK events.
//
// Time travel is reached through [Service.GetAt], which reads a session as
// it stood after any version or just before an invocation, and
// [Service.Rewind] and [Service.RewindToVersion], which take a session back
// by appending one event.
//
// Events move between the two models: every field of the ADK's
// session.Event has a place in [eventlog.Event] (see [FromADK]), and the
// three actions of eventlog.Event that the Go ADK's event has no field
// for travel in its CustomMetadata under reserved keys (see [ToADK] and
// [MetadataKeyRewindBeforeInvocationID]). A stored event comes back as
// its JSON gives it, from every store: values typed any in their JSON
// form, empty maps as nil, genai durations in whole seconds.
//
// Where the ADK's in-memory service and sessionlog's rules differ, the
// adapter keeps sessionlog's: creating a session that exists fails with
// [service.ErrAlreadyExists]; an append through a handle that has not seen
// every stored event fails with [service.ErrStaleSession] (Get the session
// again and retry); an append whose event ID the session already holds
// stores nothing and succeeds; an append to a session that was deleted
// fails with [service.ErrNotFound]; a session ID is trimmed of spaces; new
// session IDs and creation times come from the service's Options.NewID and
// Options.Now, not from the ADK's platform providers. Every error wraps
// one of sessionlog's sentinel errors, so errors.Is works on them.
package adkgo

import (
	"context"
	"fmt"
	"iter"
	"sync"

	"google.golang.org/adk/v2/session"

	"github.com/sessionlog/sessionlog/service"
)

// Service is a sessionlog service seen as the Go ADK's session.Service. It
// is safe for concurrent use. The zero value wraps a new in-memory
// service, as New(nil) does.
type Service struct {
	once sync.Once
	svc  *service.Service
	opts Options
}

// Options configure an adapter. The zero value is what [New] uses.
type Options struct {
	// SkipRewound makes Get, the read a runner starts each invocation
	// with, leave out the events that rewinds annulled (see
	// [Service.Rewind]). The Go ADK builds a model's prompt from every
	// event of the session it reads and knows nothing of rewinds, so
	// without this the turns a rewind took back stay in the prompt; the
	// restored state is there either way. Off, Get returns every event,
	// as the ADK's own services do. On, Get reads all of a session's
	// events to find the annulled ones, also when NumRecentEvents asks
	// for fewer.
	SkipRewound bool
}

var _ session.Service = (*Service)(nil)

// New returns svc as a session.Service of the Go ADK. A nil svc means a new
// in-memory service. The adapter holds no state of its own: several
// adapters over one service, and callers of the service itself, see the
// same sessions.
func New(svc *service.Service) *Service {
	return &Service{svc: svc}
}

// NewWithOptions is [New] with options.
func NewWithOptions(svc *service.Service, opts Options) *Service {
	return &Service{svc: svc, opts: opts}
}

// Sessionlog returns the service the adapter wraps, for what the ADK's
// interface has no room for: SubscribeUser and SubscribeApp, ListEvents
// with paging, Export and Import.
func (s *Service) Sessionlog() *service.Service {
	s.once.Do(func() {
		if s.svc == nil {
			s.svc = new(service.Service)
		}
	})
	return s.svc
}

// Subscribe follows a session's events as the ADK's event type: first
// those after sequence number afterSeq, then each one as it is appended,
// in order, with no gaps and no repeats, however slowly the caller reads.
// Subscribe(ctx, h.Key(), h.Version()) starts after what a handle h holds.
// It ends when ctx is done or the session is deleted; a missing session,
// a store failure or an event ToADK cannot convert is yielded as the final
// error. It is [service.Service.Subscribe] with each event converted by
// [ToADK], and starts no goroutine.
func (s *Service) Subscribe(ctx context.Context, key service.SessionKey, afterSeq uint64) iter.Seq2[*session.Event, error] {
	return func(yield func(*session.Event, error) bool) {
		for rec, err := range s.Sessionlog().Subscribe(ctx, key, afterSeq) {
			var ev *session.Event
			if err == nil {
				if ev, err = ToADK(rec.Event); err != nil {
					err = fmt.Errorf("adkgo: subscribe %s: event %q: %w", key, rec.Event.ID, err)
				}
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// Create creates a session. An empty SessionID asks for a generated one;
// the initial state is split by prefix as the ADK does it (app:, user:,
// temp: dropped, the rest the session's). A session that exists gives
// ErrAlreadyExists and is left as it was.
func (s *Service) Create(ctx context.Context, req *session.CreateRequest) (*session.CreateResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("adkgo: create session: %w: request is nil", service.ErrInvalidArgument)
	}
	svc := s.Sessionlog()
	h, err := svc.Create(ctx, service.SessionKey{AppName: req.AppName, UserID: req.UserID, SessionID: req.SessionID}, req.State)
	if err != nil {
		return nil, fmt.Errorf("adkgo: %w", err)
	}
	return &session.CreateResponse{Session: &Session{svc: svc, h: h}}, nil
}

// Get returns a session with its events, filtered as the request asks, and
// its state merged from the live app and user state. An adapter made with
// Options.SkipRewound leaves out the events rewinds annulled. A missing
// session gives ErrNotFound; a negative NumRecentEvents gives
// ErrInvalidArgument. [Service.GetAt] reads the session as it stood at a
// point in its history.
func (s *Service) Get(ctx context.Context, req *session.GetRequest) (*session.GetResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("adkgo: get session: %w: request is nil", service.ErrInvalidArgument)
	}
	key := service.SessionKey{AppName: req.AppName, UserID: req.UserID, SessionID: req.SessionID}
	return s.get(ctx, key, service.GetOptions{NumRecentEvents: req.NumRecentEvents, After: req.After, SkipRewound: s.opts.SkipRewound})
}

// get reads a session through the service and hands it out as a Session
// holding its events converted to the ADK's type.
func (s *Service) get(ctx context.Context, key service.SessionKey, opts service.GetOptions) (*session.GetResponse, error) {
	svc := s.Sessionlog()
	h, err := svc.Get(ctx, key, opts)
	if err != nil {
		return nil, fmt.Errorf("adkgo: %w", err)
	}
	sess, err := adopt(svc, h)
	if err != nil {
		return nil, fmt.Errorf("adkgo: get session %s: %w", key, err)
	}
	return &session.GetResponse{Session: sess}, nil
}

// adopt makes an ADK session of a handle svc returned, its events
// converted.
func adopt(svc *service.Service, h *service.Session) (*Session, error) {
	// One allocation holds every converted event: a long session costs
	// two allocations rather than one per event.
	slab := make([]session.Event, len(h.Events))
	events := make([]*session.Event, len(h.Events))
	for i, ev := range h.Events {
		if err := toADKInto(&slab[i], ev); err != nil {
			return nil, fmt.Errorf("event %q: %w", ev.ID, err)
		}
		events[i] = &slab[i]
	}
	return &Session{svc: svc, h: h, events: events}, nil
}

// List returns every session of a user in an app, or of every user when
// UserID is empty, without events, ordered by user ID and then session ID.
// It walks sessionlog's pages; Sessionlog().List pages by hand.
func (s *Service) List(ctx context.Context, req *session.ListRequest) (*session.ListResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("adkgo: list sessions: %w: request is nil", service.ErrInvalidArgument)
	}
	svc := s.Sessionlog()
	out := &session.ListResponse{Sessions: []session.Session{}}
	opts := service.ListOptions{PageSize: service.MaxPageSize}
	for {
		page, err := svc.List(ctx, req.AppName, req.UserID, opts)
		if err != nil {
			return nil, fmt.Errorf("adkgo: %w", err)
		}
		for _, h := range page.Sessions {
			out.Sessions = append(out.Sessions, &Session{svc: svc, h: h})
		}
		if page.NextPageToken == "" {
			return out, nil
		}
		opts.PageToken = page.NextPageToken
	}
}

// Delete deletes a session; its app and user state stay. Deleting a
// missing session, or naming the wrong user, succeeds and changes nothing.
func (s *Service) Delete(ctx context.Context, req *session.DeleteRequest) error {
	if req == nil {
		return fmt.Errorf("adkgo: delete session: %w: request is nil", service.ErrInvalidArgument)
	}
	err := s.Sessionlog().Delete(ctx, service.SessionKey{AppName: req.AppName, UserID: req.UserID, SessionID: req.SessionID})
	if err != nil {
		return fmt.Errorf("adkgo: %w", err)
	}
	return nil
}

// AppendEvent appends ev to the session sess and updates sess in place: its
// events, its state (temp: keys included, though they are never stored),
// its last update time and its version. sess must be a session this
// service returned. The storage-set fields of ev are filled in: an empty ID
// becomes a new UUID and a zero Timestamp now, as stored.
//
// A partial event stores nothing. An event whose ID the session already
// holds stores nothing and succeeds, with ev's ID and Timestamp set to the
// stored event's. A handle that has not seen every stored event gives
// ErrStaleSession (Get the session again and retry). A nil session or
// event, a session of another type or another service, and an event whose
// content cannot be converted give ErrInvalidArgument; nothing is stored.
func (s *Service) AppendEvent(ctx context.Context, sess session.Session, ev *session.Event) error {
	svc := s.Sessionlog()
	own, ok := sess.(*Session)
	switch {
	case sess == nil || (ok && own == nil):
		return fmt.Errorf("adkgo: append event: %w: session is nil", service.ErrInvalidArgument)
	case !ok:
		return fmt.Errorf("adkgo: append event: %w: session is a %T, not a session this service returned", service.ErrInvalidArgument, sess)
	case own.svc != svc || own.h == nil:
		return fmt.Errorf("adkgo: append event: %w: the session belongs to another service, or to none", service.ErrInvalidArgument)
	}
	stored, err := FromADK(ev)
	if err != nil {
		return fmt.Errorf("adkgo: append event to session %s: %w", own.Key(), err)
	}
	return own.append(ctx, svc, ev, stored)
}
