package pgstore

import (
	"sync"

	"github.com/sessionlog/sessionlog/eventlog"
)

// cache keeps some sessions' events in memory once read, so that every
// reader of a session shares one copy of each event, and a Load asks the
// database only for the events after the ones it holds. It is all the
// state a replica keeps, and it is bounded: at most maxSessions sessions,
// and at most maxBytes bytes of events (as stored, in JSON) unless one
// session alone holds more. To make room it drops sessions, arbitrary ones
// (Go's map order). A session also leaves it when this store deletes it or
// a Load finds it gone. A cached session is checked against the
// database's row (incarnation and version) on every Load, so it can be
// behind, never wrong.
//
// Lock order: a session's mu before the cache's mu, never the other way.
type cache struct {
	mu          sync.Mutex
	maxSessions int
	maxBytes    int64
	bytes       int64 // the sum of the cached sessions' counted
	sessions    map[eventlog.SessionKey]*cachedSession
}

type cachedSession struct {
	// mu is held across the database read, so that concurrent readers of
	// one session do not fetch the same events twice.
	mu          sync.Mutex
	created     eventlog.Position // the incarnation held; 0 before the first read
	records     []*eventlog.Record
	events      []*eventlog.Event // the same events as records
	timeOrdered bool              // the events' timestamps never decrease
	size        int64             // the records' bytes as stored

	counted int64 // the part of size in cache.bytes; guarded by cache.mu
}

// get returns the session's entry, making an empty one if needed.
func (c *cache) get(key eventlog.SessionKey) *cachedSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = map[eventlog.SessionKey]*cachedSession{}
	}
	cs := c.sessions[key]
	if cs == nil {
		cs = &cachedSession{timeOrdered: true}
		c.sessions[key] = cs
		c.shrinkLocked(key)
	}
	return cs
}

func (c *cache) lookup(key eventlog.SessionKey) *cachedSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[key]
}

// drop removes the session at key.
func (c *cache) drop(key eventlog.SessionKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs := c.sessions[key]; cs != nil {
		c.bytes -= cs.counted
		delete(c.sessions, key)
	}
}

// dropIf removes the session at key if its entry is still cs.
func (c *cache) dropIf(key eventlog.SessionKey, cs *cachedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[key] == cs {
		c.bytes -= cs.counted
		delete(c.sessions, key)
	}
}

// account counts cs's size, which grew, and makes room for it. The caller
// holds cs.mu.
func (c *cache) account(key eventlog.SessionKey, cs *cachedSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[key] != cs {
		return // dropped meanwhile: its events go with its last reader
	}
	c.bytes += cs.size - cs.counted
	cs.counted = cs.size
	c.shrinkLocked(key)
}

// shrinkLocked drops sessions other than keep until the cache is within
// its bounds.
func (c *cache) shrinkLocked(keep eventlog.SessionKey) {
	for (len(c.sessions) > c.maxSessions || c.bytes > c.maxBytes) && len(c.sessions) > 1 {
		for k, cs := range c.sessions {
			if k != keep {
				c.bytes -= cs.counted
				delete(c.sessions, k)
				break
			}
		}
	}
}

// reset makes cs hold the incarnation created, with no events yet. The
// caller holds cs.mu.
func (cs *cachedSession) reset(created eventlog.Position) {
	cs.created, cs.records, cs.events, cs.timeOrdered, cs.size = created, nil, nil, true, 0
}

// add appends the next event record, whose body took size bytes. The
// caller holds cs.mu.
func (cs *cachedSession) add(rec *eventlog.Record, size int) {
	if n := len(cs.events); n > 0 && rec.Event.Timestamp.Before(cs.events[n-1].Timestamp) {
		cs.timeOrdered = false
	}
	cs.records = append(cs.records, rec)
	cs.events = append(cs.events, rec.Event)
	cs.size += int64(size)
}

// appended adds a record this store just committed to the cached session
// of its incarnation, if the cache holds every event before it.
func (c *cache) appended(incarnation eventlog.Position, rec *eventlog.Record, size int) {
	cs := c.lookup(rec.Key)
	if cs == nil {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.created == incarnation && uint64(len(cs.records))+1 == rec.Seq {
		cs.add(rec, size)
		c.account(rec.Key, cs)
	}
}

// filled caches a session this store just created with its events, as a
// fork does, unless the cache holds its incarnation already.
func (c *cache) filled(incarnation eventlog.Position, events []*eventlog.Record, sizes []int) {
	key := events[0].Key
	cs := c.get(key)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.created == incarnation {
		return
	}
	cs.reset(incarnation)
	for i, rec := range events {
		cs.add(rec, sizes[i])
	}
	c.account(key, cs)
}

// event returns the stored event record with id of the session's
// incarnation: the cached one if the cache holds it, so that a retry
// returns the very record readers share, or else the one decoded from
// body.
func (c *cache) event(incarnation eventlog.Position, key eventlog.SessionKey, id string, pos eventlog.Position, seq uint64, body []byte) (*eventlog.Record, error) {
	if cs := c.lookup(key); cs != nil {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		if cs.created == incarnation && seq >= 1 && seq <= uint64(len(cs.records)) {
			if rec := cs.records[seq-1]; rec.Event.ID == id {
				return rec, nil
			}
		}
	}
	return decode(pos, seq, body)
}
