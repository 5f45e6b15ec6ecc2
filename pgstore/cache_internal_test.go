package pgstore

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// fillSession makes the cache hold n events of size bytes each for the
// session at key, as a Load would.
func fillSession(c *cache, key eventlog.SessionKey, n, size int) *cachedSession {
	cs := c.get(key)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.reset(1)
	for i := range n {
		cs.add(&eventlog.Record{Position: eventlog.Position(i + 2), Kind: eventlog.KindEventAppended, Key: key, Seq: uint64(i + 1),
			Event: &eventlog.Event{ID: fmt.Sprint(i), Timestamp: time.Unix(int64(i), 0)}}, size)
	}
	c.account(key, cs)
	return cs
}

// A replica's memory is bounded: the cache holds at most maxSessions
// sessions and, but for the session just read, at most maxBytes bytes of
// events, whatever the database holds.
func TestCacheStaysWithinItsBounds(t *testing.T) {
	key := func(i int) eventlog.SessionKey {
		return eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint(i)}
	}
	t.Run("sessions", func(t *testing.T) {
		c := &cache{maxSessions: 3, maxBytes: 1 << 30}
		for i := range 10 {
			fillSession(c, key(i), 2, 10)
			assert.LessOrEqual(t, len(c.sessions), 3)
		}
		assert.NotNil(t, c.lookup(key(9)), "the session just read stays")
		assert.Equal(t, int64(len(c.sessions)*20), c.bytes)
	})
	t.Run("bytes", func(t *testing.T) {
		c := &cache{maxSessions: 100, maxBytes: 1000}
		for i := range 10 {
			fillSession(c, key(i), 3, 100) // 300 bytes a session
			assert.LessOrEqual(t, c.bytes, int64(1000))
		}
		assert.Len(t, c.sessions, 3)
		big := fillSession(c, key(99), 50, 100)
		assert.Same(t, big, c.lookup(key(99)), "a session larger than the bound stays while it is read")
		assert.Len(t, c.sessions, 1)
		assert.Equal(t, int64(5000), c.bytes)
		c.drop(key(99))
		assert.Zero(t, c.bytes)
	})
	t.Run("an event appended here joins the cached session", func(t *testing.T) {
		c := &cache{maxSessions: 10, maxBytes: 1 << 20}
		cs := fillSession(c, key(1), 2, 10)
		rec := &eventlog.Record{Position: 9, Kind: eventlog.KindEventAppended, Key: key(1), Seq: 3, Event: &eventlog.Event{ID: "new"}}
		c.appended(2, rec, 10) // another incarnation: left out
		require.Len(t, cs.records, 2)
		c.appended(1, rec, 10)
		require.Len(t, cs.records, 3)
		assert.Equal(t, int64(30), c.bytes)
		got, err := c.event(1, key(1), "new", 9, 3, nil)
		require.NoError(t, err)
		assert.Same(t, rec, got, "a duplicate gets the record readers share")
	})
}
