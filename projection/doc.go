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
// A delta value equal to [Removed] deletes the key in its scope. App and
// user state together are the shared state ([Shared]); their writes carry
// their record's position, and the write of the highest position wins, so
// they may be folded in any order.
//
// The fold is pure: [State.Apply] folds one record, [Rebuild] replays a
// store's whole log. A store that serves state folds each record with the
// same functions ([NewSession], [SessionState.ApplyEvent],
// [AppState.ApplyShared], [AppState.Merged]) as it appends it, inside its
// own critical section, or in its own language (SQL) by the same rules.
// A store that serves a session's past keeps a [History] of the points
// that changed each key, recorded by the same fold ([AppState.KeepHistory],
// [SessionState.ApplyEventWithHistory]), and reads it with
// [AppState.MergedAsOf].
// [Verify] checks any store: what it serves through Load and List must be
// what a rebuild of its log gives (CONTRACT R1).
package projection
