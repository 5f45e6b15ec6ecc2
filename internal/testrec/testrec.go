// Package testrec builds log records for the tests of the packages that
// store and read them (eventlog, memstore), so that they build them alike.
package testrec

import (
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
)

// T0 is the base time of the records built here.
var T0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// Key names a session.
func Key(app, user, id string) eventlog.SessionKey {
	return eventlog.SessionKey{AppName: app, UserID: user, SessionID: id}
}

// Created builds a creation record at T0.
func Created(k eventlog.SessionKey, state map[string]any) *eventlog.Record {
	return &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: T0, State: state}
}

// Appended builds the record of an event with the given sequence number
// and ID; its timestamp is T0 plus seq seconds.
func Appended(k eventlog.SessionKey, seq uint64, id string, delta map[string]any) *eventlog.Record {
	ts := T0.Add(time.Duration(seq) * time.Second)
	return &eventlog.Record{
		Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Time: ts,
		Event: &eventlog.Event{ID: id, Author: "agent", Timestamp: ts, Actions: eventlog.EventActions{StateDelta: delta}},
	}
}

// Deleted builds a deletion record, an hour after T0.
func Deleted(k eventlog.SessionKey) *eventlog.Record {
	return &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: T0.Add(time.Hour)}
}

// Retained builds a retained-state record at T0.
func Retained(k eventlog.SessionKey, state map[string]any) *eventlog.Record {
	return &eventlog.Record{Kind: eventlog.KindStateRetained, Key: k, Time: T0, State: state}
}
