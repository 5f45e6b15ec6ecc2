package adkgo

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/adk/v2/session"

	"github.com/sessionlog/sessionlog/service"
)

// GetAtRequest names a session and the point in its history that
// [Service.GetAt] reads it at. Its first five fields are those of the ADK's
// session.GetRequest. Without AtVersion or BeforeInvocationID it reads the
// session as it is now, as Get does.
type GetAtRequest struct {
	AppName   string
	UserID    string
	SessionID string
	// NumRecentEvents, when positive, keeps only the last n of the events
	// up to the point.
	NumRecentEvents int
	// After, when set, keeps only the events up to the point with a
	// timestamp at or after it, applied after NumRecentEvents.
	After time.Time

	// AtVersion, when not nil, reads the session as it stood just after
	// the event with that sequence number (0: just after its creation; a
	// handle's Version names the version it holds).
	AtVersion *uint64
	// BeforeInvocationID, when not empty, reads the session as it stood
	// just before the first event of that invocation. Setting it and
	// AtVersion both is ErrInvalidArgument.
	BeforeInvocationID string
	// SkipRewound leaves out the events that rewinds up to the point
	// annulled, the rewinds included ([Service.Rewind]); NumRecentEvents
	// and After then select from the events that remain. It changes only
	// the events: the state is the rewinds' restored state either way.
	SkipRewound bool
}

// GetAt returns a session as it stood at a point in its history: its own
// state folded from its creation and its events up to there, those events
// (filtered as the request asks), and the version and last update time of
// then. Its app: and user: state are as they stood then on the in-memory
// and file stores (folded from the log as it now holds it, which no longer
// holds a deleted session's overwritten writes), and as they are now on
// SQLite and PostgreSQL, whose state tables keep only the latest values.
//
// The session it returns is a past version: an AppendEvent through it
// gives ErrStaleSession once the session holds later events (unless the
// service appends last-writer-wins). A missing session gives ErrNotFound;
// a version beyond the session's, an invocation the session holds no event
// of, both points at once and a negative NumRecentEvents give
// ErrInvalidArgument.
func (s *Service) GetAt(ctx context.Context, req *GetAtRequest) (*session.GetResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("adkgo: get session: %w: request is nil", service.ErrInvalidArgument)
	}
	key := service.SessionKey{AppName: req.AppName, UserID: req.UserID, SessionID: req.SessionID}
	return s.get(ctx, key, service.GetOptions{
		NumRecentEvents: req.NumRecentEvents, After: req.After,
		AtVersion: req.AtVersion, BeforeInvocation: req.BeforeInvocationID, SkipRewound: req.SkipRewound,
	})
}

// RewindRequest names a session and the invocation that [Service.Rewind]
// takes it back to just before.
type RewindRequest struct {
	AppName   string
	UserID    string
	SessionID string
	// BeforeInvocationID names the invocation: the session goes back to
	// how it stood just before that invocation's first event. Required.
	BeforeInvocationID string
	// EventID, when not empty, is the rewind event's ID: a retry with the
	// same ID stores nothing new and returns the rewind stored first.
	EventID string
	// ExpectVersion, when not nil, is the version the caller last saw (a
	// handle's Version): if the session holds events after it, the rewind
	// fails with ErrStaleSession and stores nothing. A version does not
	// tell two sessions of one key apart (one deleted and created again
	// since); the service's [service.RewindOptions.Session] does.
	ExpectVersion *uint64
}

// RewindToVersionRequest names a session and the version that
// [Service.RewindToVersion] takes it back to.
type RewindToVersionRequest struct {
	AppName   string
	UserID    string
	SessionID string
	// Version is the point: the session goes back to how it stood just
	// after the event with this sequence number (0: just after its
	// creation). The event after it must be the first event of its
	// invocation.
	Version uint64
	// EventID is as in [RewindRequest].
	EventID string
	// ExpectVersion is as in [RewindRequest].
	ExpectVersion *uint64
}

// Rewind takes a session back to how it stood just before an invocation,
// by appending one event, which it returns in the ADK's type. Nothing
// leaves the log, so a later rewind can undo this one.
//
// The rewind event is [service.Service.Rewind]'s: authored by
// [service.RewindAuthor], with a new invocation ID, the invocation it
// names in CustomMetadata under [MetadataKeyRewindBeforeInvocationID], and
// a state delta that sets each session key written at or after the point
// back to its value there ([service.Removed] when it had none). Keys set at
// creation keep their creation values; app: and user: keys are not
// rewound. Handles read before the rewind are behind it: Get the session
// again (a runner does so at each invocation). [GetAtRequest.SkipRewound]
// and Options.SkipRewound leave out the events the rewind annulled.
//
// A rewind is an append: an event appended concurrently, or a session
// beyond ExpectVersion, gives ErrStaleSession and stores nothing (read the
// session again and retry). An empty BeforeInvocationID, or one the session
// holds no event of, gives ErrInvalidArgument; a missing session gives
// ErrNotFound.
func (s *Service) Rewind(ctx context.Context, req *RewindRequest) (*session.Event, error) {
	if req == nil {
		return nil, fmt.Errorf("adkgo: rewind session: %w: request is nil", service.ErrInvalidArgument)
	}
	key := service.SessionKey{AppName: req.AppName, UserID: req.UserID, SessionID: req.SessionID}
	rw, err := s.Sessionlog().Rewind(ctx, key, req.BeforeInvocationID, service.RewindOptions{EventID: req.EventID, ExpectVersion: req.ExpectVersion})
	return rewound(key, rw, err)
}

// RewindToVersion is [Service.Rewind] to just after a version. The rewind
// event names the invocation that begins after that version, since the
// wire field names a point by an invocation: a version at or beyond the
// session's, or one the next event of which does not begin its invocation,
// gives ErrInvalidArgument.
func (s *Service) RewindToVersion(ctx context.Context, req *RewindToVersionRequest) (*session.Event, error) {
	if req == nil {
		return nil, fmt.Errorf("adkgo: rewind session: %w: request is nil", service.ErrInvalidArgument)
	}
	key := service.SessionKey{AppName: req.AppName, UserID: req.UserID, SessionID: req.SessionID}
	rw, err := s.Sessionlog().RewindToVersion(ctx, key, req.Version, service.RewindOptions{EventID: req.EventID, ExpectVersion: req.ExpectVersion})
	return rewound(key, rw, err)
}

// rewound converts the rewind event a service call returned.
func rewound(key service.SessionKey, rw *service.Event, err error) (*session.Event, error) {
	if err != nil {
		return nil, fmt.Errorf("adkgo: %w", err)
	}
	ev, err := ToADK(rw)
	if err != nil {
		// A rewind's fields all convert; this guards the conversion only.
		return nil, fmt.Errorf("adkgo: rewind %q of session %s is stored but cannot be read back: %w", rw.ID, key, err)
	}
	return ev, nil
}

// ForkRequest names a session, the version of it that [Service.Fork]
// copies, and the new session's key.
type ForkRequest struct {
	AppName   string
	UserID    string
	SessionID string
	// AtVersion is the version copied: the session as it stood just after
	// the event with this sequence number (0: just after its creation).
	AtVersion uint64
	// NewAppName, NewUserID and NewSessionID are the new session's key:
	// an empty NewAppName or NewUserID means the source's, an empty
	// NewSessionID a generated ID.
	NewAppName   string
	NewUserID    string
	NewSessionID string
}

// Fork creates a session holding a copy of another as it stood at a
// version, in one atomic step, and returns it as the ADK's type: the
// source's creation state and copies of its events up to the version,
// with new IDs, each naming the event it copies in its CustomMetadata
// under [service.ForkedFrom]. App: and user: state is not copied: the
// fork sees the app's and the user's state as they are. The source is not
// changed. See [service.Service.Fork]. A missing source gives
// ErrNotFound, a version beyond the source's ErrInvalidArgument, and a
// session at the new key ErrAlreadyExists, with nothing written.
func (s *Service) Fork(ctx context.Context, req *ForkRequest) (*session.CreateResponse, error) {
	if req == nil {
		return nil, fmt.Errorf("adkgo: fork session: %w: request is nil", service.ErrInvalidArgument)
	}
	svc := s.Sessionlog()
	key := service.SessionKey{AppName: req.AppName, UserID: req.UserID, SessionID: req.SessionID}
	newKey := service.SessionKey{AppName: req.NewAppName, UserID: req.NewUserID, SessionID: req.NewSessionID}
	h, err := svc.Fork(ctx, key, req.AtVersion, newKey)
	if err != nil {
		return nil, fmt.Errorf("adkgo: %w", err)
	}
	sess, err := adopt(svc, h)
	if err != nil {
		return nil, fmt.Errorf("adkgo: fork session %s: the fork is stored but cannot be read back: %w", key, err)
	}
	return &session.CreateResponse{Session: sess}, nil
}
