// Package projection folds the log into state: the app state, each user's
// state within an app, and each session's state, version and last update
// time.
//
// State is never written directly. A state delta, carried by a session's
// creation record or by an appended event, is split by key prefix:
//
//	app:KEY   the app's state, shared by every session of the app
//	user:KEY  the user's state in the app, shared by the user's sessions
//	temp:KEY  the current invocation only: never stored, never folded
//	KEY       the session's own state
//
// A delta value equal to [Removed] deletes the key in its scope.
//
// [State.Apply] is the pure fold of one record; [Rebuild] replays a whole log;
// [Live] is the concurrent, always-current projection the service reads.
// Both use the same fold, so a rebuild reproduces the live state exactly
// (CONTRACT R1).
package projection
