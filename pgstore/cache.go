package pgstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/sessionlog/sessionlog/eventlog"
)

// cache keeps the sessions' events in memory once read, so that every
// reader of a session shares one copy of each event, and a read asks the
// database only for what came after it. A session leaves the cache when it
// is deleted, when a read finds it gone, or, once the cache holds max
// sessions, to make room for another (an arbitrary one: Go's map order).
type cache struct {
	mu       sync.Mutex
	max      int
	sessions map[eventlog.SessionKey]*cachedSession
}

type cachedSession struct {
	// mu is held across the database read, so that concurrent readers of
	// one session do not fetch the same events twice.
	mu          sync.Mutex
	created     *eventlog.Record // nil until the first read
	records     []*eventlog.Record
	events      []*eventlog.Event
	timeOrdered bool
}

func (c *cache) get(key eventlog.SessionKey) *cachedSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = map[eventlog.SessionKey]*cachedSession{}
	}
	cs := c.sessions[key]
	if cs == nil {
		if len(c.sessions) >= c.max {
			for k := range c.sessions {
				delete(c.sessions, k)
				break
			}
		}
		cs = &cachedSession{}
		c.sessions[key] = cs
	}
	return cs
}

func (c *cache) lookup(key eventlog.SessionKey) *cachedSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[key]
}

func (c *cache) drop(key eventlog.SessionKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.sessions, key)
}

// read brings the session at key up to date with query, which returns the
// session's row (incarnation, version), its creation record's body if its
// incarnation is not the one given, and its events after sequence number
// have, and returns the session's log as of that read.
func (c *cache) read(ctx context.Context, key eventlog.SessionKey, query func(incarnation eventlog.Position, have uint64) (pgx.Rows, error)) (eventlog.SessionLog, error) {
	cs := c.get(key)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var incarnation eventlog.Position
	if cs.created != nil {
		incarnation = cs.created.Position
	}
	rows, err := query(incarnation, uint64(len(cs.records)))
	if err != nil {
		return eventlog.SessionLog{}, err
	}
	defer rows.Close()
	found := false
	var created eventlog.Position
	var version uint64
	for rows.Next() {
		var createdBody, body []byte
		var pos *eventlog.Position
		if err := rows.Scan(&created, &version, &createdBody, &pos, &body); err != nil {
			return eventlog.SessionLog{}, err
		}
		if !found && created != incarnation {
			// Another incarnation (or the first read): start over.
			rec, err := decode(created, createdBody)
			if err != nil {
				return eventlog.SessionLog{}, err
			}
			cs.created, cs.records, cs.events, cs.timeOrdered = rec, nil, nil, true
		}
		found = true
		if pos == nil {
			continue // no new events: the row only carries the session
		}
		rec, err := decode(*pos, body)
		if err != nil {
			return eventlog.SessionLog{}, err
		}
		if rec.Seq == uint64(len(cs.records))+1 {
			cs.add(rec)
		}
	}
	if err := rows.Err(); err != nil {
		return eventlog.SessionLog{}, err
	}
	if !found {
		c.drop(key)
		return eventlog.SessionLog{}, eventlog.ErrNotFound
	}
	if uint64(len(cs.records)) < version {
		return eventlog.SessionLog{}, fmt.Errorf("session %s holds %d of its %d events: its log has a gap", key, len(cs.records), version)
	}
	n := int(version)
	return eventlog.SessionLog{
		Created:     cs.created,
		Records:     cs.records[:n:n],
		Events:      cs.events[:n:n],
		TimeOrdered: cs.timeOrdered,
	}, nil
}

// add appends the next event record. The caller holds cs.mu.
func (cs *cachedSession) add(rec *eventlog.Record) {
	if n := len(cs.events); n > 0 && rec.Event.Timestamp.Before(cs.events[n-1].Timestamp) {
		cs.timeOrdered = false
	}
	cs.records = append(cs.records, rec)
	cs.events = append(cs.events, rec.Event)
}

// appended adds a record this store just committed to the cached session
// of its incarnation, if the cache holds every event before it.
func (c *cache) appended(incarnation eventlog.Position, rec *eventlog.Record) {
	cs := c.lookup(rec.Key)
	if cs == nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.created != nil && cs.created.Position == incarnation && uint64(len(cs.records))+1 == rec.Seq {
		cs.add(rec)
	}
}

// event returns the stored event record with id of the session's
// incarnation: the cached one if the cache holds it, so that a retry
// returns the very event readers share, or else the one decoded from body.
func (c *cache) event(incarnation eventlog.Position, key eventlog.SessionKey, id string, pos eventlog.Position, body []byte) (*eventlog.Record, error) {
	if cs := c.lookup(key); cs != nil {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		if cs.created != nil && cs.created.Position == incarnation {
			for _, rec := range cs.records {
				if rec.Event.ID == id {
					return rec, nil
				}
			}
		}
	}
	return decode(pos, body)
}
