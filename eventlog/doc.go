// Package eventlog is the log at the heart of sessionlog: the ADK [Event]
// model, the [Record]s that make up the log, the [Store] seam that backends
// implement, and [Follow], a cursor that replays a log from a position and
// then follows it live. It holds no backend: package memstore is the
// in-memory store and the reference implementation of the seam.
//
// Everything that happens to a session is a record: its creation, each event
// appended to it, its deletion. Records are immutable once stored and are
// the store's own, handed to readers without a copy, so a reader must treat
// every record and event it receives as read-only ([Event.Clone] gives a
// private copy).
//
// Each record carries two numbers. Its Seq orders a session's events
// (1, 2, 3, ... with no gaps); its Position orders every record of the
// store. App-wide and user-wide readers follow Positions, session readers
// follow either.
//
// # Writing a backend
//
// A backend implements [Store]; its method docs are the contract. In short:
//
//   - Append calls [CheckRecord] first, then checks the record's conditions,
//     writes it and folds its state in one atomic step, by the rules of
//     package projection's State.Apply: keys without a prefix are the
//     session's own; app: and user: writes go to the app's and the user's
//     state, where the write of the highest position wins; a value that
//     projection.IsRemoved accepts deletes its key; temp: keys are neither
//     folded nor stored (the service drops them before Append).
//   - AppendBatch calls [CheckBatch] first, then stores a new session's
//     creation and its events as one step that readers, and a crash, see
//     whole or not at all (a fork).
//   - A deletion frees the session's records and keeps, at their original
//     positions, the records [Retained] returns for them.
//   - Load checks its options with [LoadOptions.Check] and selects events
//     with [LoadOptions.Select] (or by the same rules in a query).
//   - Read of an app or user scope behind records a deletion freed returns
//     a [*CompactedError].
//
// Test it with package service/servicetest: Run checks the contract,
// RunRestart what a durable store keeps across a reopen, and RunReplicas
// several stores over one database; Run and RunReplicas run again with
// the store wrapped in a struct that embeds Store, so nothing may depend on
// the concrete type. projection.Verify checks that what Load and List serve
// is a rebuild of the log. A durable store may be memstore with a journal
// (memstore.Options), as package filestore is.
package eventlog
