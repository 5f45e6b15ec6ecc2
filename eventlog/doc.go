// Package eventlog is the log at the heart of sessionlog: the ADK [Event]
// model, the [Record]s that make up the log, the [Store] seam that backends
// implement, an in-memory store, and cursors that replay a log from a
// position and then follow it live.
//
// Everything that happens to a session is a record: its creation, each event
// appended to it, its deletion. Records are immutable once stored and are
// shared with readers rather than copied, so a reader must treat every
// record and event it receives as read-only ([Event.Clone] gives a private
// copy).
//
// Each record carries two numbers. Its Seq orders a session's events
// (1, 2, 3, ... with no gaps); its Position orders every record of the
// store. App-wide and user-wide readers follow Positions, session readers
// follow either.
package eventlog
