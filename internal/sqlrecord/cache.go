package sqlrecord

import (
	"context"
	"sync"

	"github.com/sessionlog/sessionlog/eventlog"
)

// Cache keeps some sessions' events in memory once read, so that every
// reader of a session shares one copy of each event, and a Load asks the
// database only for the events after the ones it holds. It is bounded: at
// most MaxSessions sessions, and at most MaxBytes bytes of events (as
// stored, in JSON) unless one session alone holds more. To make room it
// drops the sessions least recently used: read, appended to, or met by a
// retried append. A session also leaves it when the store deletes it or a
// Load finds it gone. A cached session is checked against the database's
// row (incarnation and version) on every Load, so it can be behind, never
// wrong. The zero value with its bounds set is ready for use.
//
// Lock order: a session's lock before the cache's, never the other way.
type Cache struct {
	MaxSessions int
	MaxBytes    int64

	mu       sync.Mutex
	bytes    int64 // the sum of the cached sessions' counted
	sessions map[eventlog.SessionKey]*Session
	// newest and oldest end the list of the cached sessions in the order
	// of their last use (see Session.newer).
	newest, oldest *Session
}

// Session is one cached session's events.
type Session struct {
	// lock (Lock, TryLock, Unlock) is held across the database read, so
	// that concurrent readers of one session do not fetch the same events
	// twice; the fields below are read and changed under it. It is a
	// channel, so that a reader waiting for it gives up when its context
	// ends.
	lock        chan struct{}
	Created     eventlog.Position // the incarnation held; 0 before the first read
	Records     []*eventlog.Record
	Events      []*eventlog.Event // the same events as Records
	TimeOrdered bool              // the events' timestamps never decrease
	size        int64             // the records' bytes as stored

	counted int64 // the part of size in Cache.bytes; guarded by Cache.mu
	// key is the session's; newer and older are its neighbours in the
	// cache's list by last use. Guarded by Cache.mu.
	key          eventlog.SessionKey
	newer, older *Session
}

// Get returns the session's entry, making an empty one if needed.
func (c *Cache) Get(key eventlog.SessionKey) *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions == nil {
		c.sessions = map[eventlog.SessionKey]*Session{}
	}
	cs := c.sessions[key]
	if cs != nil {
		c.usedLocked(cs)
		return cs
	}
	cs = &Session{TimeOrdered: true, lock: make(chan struct{}, 1), key: key}
	c.sessions[key] = cs
	c.usedLocked(cs)
	c.shrinkLocked(key)
	return cs
}

// used returns the session at key, or nil, and counts it as just used.
func (c *Cache) used(key eventlog.SessionKey) *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.sessions[key]
	if cs != nil {
		c.usedLocked(cs)
	}
	return cs
}

// usedLocked moves cs, cached or about to be, to the newest end of the
// list by last use.
func (c *Cache) usedLocked(cs *Session) {
	if c.newest == cs {
		return
	}
	c.unlinkLocked(cs)
	cs.older = c.newest
	if c.newest != nil {
		c.newest.newer = cs
	}
	c.newest = cs
	if c.oldest == nil {
		c.oldest = cs
	}
}

// unlinkLocked takes cs out of the list by last use, if it is in it.
func (c *Cache) unlinkLocked(cs *Session) {
	if cs.newer != nil {
		cs.newer.older = cs.older
	} else if c.newest == cs {
		c.newest = cs.older
	}
	if cs.older != nil {
		cs.older.newer = cs.newer
	} else if c.oldest == cs {
		c.oldest = cs.newer
	}
	cs.newer, cs.older = nil, nil
}

// removeLocked takes cs, which is cached, out of the cache.
func (c *Cache) removeLocked(cs *Session) {
	c.bytes -= cs.counted
	delete(c.sessions, cs.key)
	c.unlinkLocked(cs)
}

// Drop removes the session at key.
func (c *Cache) Drop(key eventlog.SessionKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs := c.sessions[key]; cs != nil {
		c.removeLocked(cs)
	}
}

// DropIf removes the session at key if its entry is still cs.
func (c *Cache) DropIf(key eventlog.SessionKey, cs *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[key] == cs {
		c.removeLocked(cs)
	}
}

// Account counts cs's size, which grew, and makes room for it. The caller
// holds cs's lock.
func (c *Cache) Account(key eventlog.SessionKey, cs *Session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sessions[key] != cs {
		return // dropped meanwhile: its events go with its last reader
	}
	c.bytes += cs.size - cs.counted
	cs.counted = cs.size
	c.shrinkLocked(key)
}

// shrinkLocked drops sessions other than keep, the least recently used
// first, until the cache is within its bounds.
func (c *Cache) shrinkLocked(keep eventlog.SessionKey) {
	for cs := c.oldest; cs != nil && (len(c.sessions) > c.MaxSessions || c.bytes > c.MaxBytes); {
		newer := cs.newer
		if cs.key != keep {
			c.removeLocked(cs)
		}
		cs = newer
	}
}

// Lock takes cs's lock, or returns ctx's error if ctx ends first.
func (cs *Session) Lock(ctx context.Context) error {
	select {
	case cs.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TryLock takes cs's lock if it is free, and reports whether it did.
func (cs *Session) TryLock() bool {
	select {
	case cs.lock <- struct{}{}:
		return true
	default:
		return false
	}
}

// Unlock releases cs's lock.
func (cs *Session) Unlock() { <-cs.lock }

// Reset makes cs hold the incarnation created, with no events yet. The
// caller holds cs's lock.
func (cs *Session) Reset(created eventlog.Position) {
	cs.Created, cs.Records, cs.Events, cs.TimeOrdered, cs.size = created, nil, nil, true, 0
}

// Add appends the next event record, whose body took size bytes. The
// caller holds cs's lock.
func (cs *Session) Add(rec *eventlog.Record, size int) {
	if n := len(cs.Events); n > 0 && rec.Event.Timestamp.Before(cs.Events[n-1].Timestamp) {
		cs.TimeOrdered = false
	}
	cs.Records = append(cs.Records, rec)
	cs.Events = append(cs.Events, rec.Event)
	cs.size += int64(size)
}

// Appended adds a record the store just committed to the cached session
// of its incarnation, if the cache holds every event before it. It never
// waits: while a reader holds the session, the record is left for the
// next read to fetch, so that an append does not queue behind a read.
func (c *Cache) Appended(incarnation eventlog.Position, rec *eventlog.Record, size int) {
	cs := c.used(rec.Key)
	if cs == nil || !cs.TryLock() {
		return
	}
	defer cs.Unlock()
	if cs.Created == incarnation && uint64(len(cs.Records))+1 == rec.Seq {
		cs.Add(rec, size)
		c.Account(rec.Key, cs)
	}
}

// Filled caches a session the store just created with its events, as a
// fork does, unless the cache holds its incarnation already.
func (c *Cache) Filled(incarnation eventlog.Position, events []*eventlog.Record, sizes []int) {
	key := events[0].Key
	cs := c.Get(key)
	if !cs.TryLock() {
		return // a reader holds it, and fetches the events itself
	}
	defer cs.Unlock()
	if cs.Created == incarnation {
		return
	}
	cs.Reset(incarnation)
	for i, rec := range events {
		cs.Add(rec, sizes[i])
	}
	c.Account(key, cs)
}

// Event returns the stored event record with id of the session's
// incarnation: the cached one if the cache holds it, so that a retry
// returns the very record readers share, or else the one decoded from
// body.
func (c *Cache) Event(incarnation eventlog.Position, key eventlog.SessionKey, id string, pos eventlog.Position, seq uint64, body []byte) (*eventlog.Record, error) {
	if cs := c.used(key); cs != nil && cs.TryLock() {
		defer cs.Unlock()
		if cs.Created == incarnation && seq >= 1 && seq <= uint64(len(cs.Records)) {
			if rec := cs.Records[seq-1]; rec.Event.ID == id {
				return rec, nil
			}
		}
	}
	return Decode(pos, seq, body)
}
