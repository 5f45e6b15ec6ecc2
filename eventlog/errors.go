package eventlog

import (
	"errors"
	"fmt"
)

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
	// ErrCompacted reports a follower of an app or a user that is behind
	// records a deletion freed: reading on would skip them silently. The
	// error is a [*CompactedError] naming the first position from which the
	// scope is served whole; re-read the state (Get, List) and follow on
	// from there.
	ErrCompacted = errors.New("records compacted")
	// ErrClosed reports use of a store after Close.
	ErrClosed = errors.New("store closed")
)

// CompactedError is the error of a [Store.Read] (and of a follower) that is
// behind records a deletion freed. It matches [ErrCompacted].
type CompactedError struct {
	// Scope is the scope read.
	Scope Scope
	// After is the position the read started after.
	After Position
	// Served is the first position from which the scope is served without
	// a gap: every record of the scope after it is still stored. Reading
	// after Served succeeds.
	Served Position
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("read %s after position %d: %v: records up to position %d were freed by a deletion; read again after %d",
		e.Scope, e.After, ErrCompacted, e.Served, e.Served)
}

// Is makes errors.Is(err, ErrCompacted) hold.
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }
