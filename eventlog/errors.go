package eventlog

import "errors"

// The sentinel errors of sessionlog. Every layer wraps them with context, so
// test for them with [errors.Is]. Package service re-exports the same values.
var (
	// ErrInvalidArgument reports input that can never succeed: a missing
	// name, a nil value, a negative count, a malformed page token.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound reports a session that does not exist (or no longer does).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists reports a create of a session that already exists.
	ErrAlreadyExists = errors.New("already exists")
	// ErrStaleSession reports an append through a handle that has not seen
	// every event the store holds; re-read the session and retry.
	ErrStaleSession = errors.New("stale session")
	// ErrDuplicateEvent is returned by [Store.Append] when the session
	// already holds an event with the appended event's ID. The store returns
	// the stored record with it; the service turns this into a successful,
	// idempotent append.
	ErrDuplicateEvent = errors.New("duplicate event ID")
	// ErrClosed reports use of a store after Close.
	ErrClosed = errors.New("store closed")
)
