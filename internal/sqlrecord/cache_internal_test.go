package sqlrecord

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// lookup returns the session at key, or nil, and leaves the order of use
// as it is.
func (c *Cache) lookup(key eventlog.SessionKey) *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions[key]
}

// fillSession makes the cache hold n events of size bytes each for the
// session at key, as a store's Load would.
func fillSession(c *Cache, key eventlog.SessionKey, n, size int) *Session {
	cs := c.Get(key)
	_ = cs.Lock(context.Background()) // cannot end
	defer cs.Unlock()
	cs.Reset(1)
	for i := range n {
		cs.Add(&eventlog.Record{Position: eventlog.Position(i + 2), Kind: eventlog.KindEventAppended, Key: key, Seq: uint64(i + 1),
			Event: &eventlog.Event{ID: fmt.Sprint(i), Timestamp: time.Unix(int64(i), 0)}}, size)
	}
	c.Account(key, cs)
	return cs
}

// A store's memory is bounded: the cache holds at most MaxSessions
// sessions and, but for the session just read, at most MaxBytes bytes of
// events, whatever the database holds. An event the store appends joins
// the cached session only where the cache holds every event before it.
func TestCacheStaysWithinItsBounds(t *testing.T) {
	key := func(i int) eventlog.SessionKey {
		return eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint(i)}
	}
	t.Run("sessions", func(t *testing.T) {
		c := &Cache{MaxSessions: 3, MaxBytes: 1 << 30}
		for i := range 10 {
			fillSession(c, key(i), 2, 10)
			assert.LessOrEqual(t, len(c.sessions), 3)
		}
		assert.NotNil(t, c.lookup(key(9)), "the session just read stays")
		assert.Equal(t, int64(len(c.sessions)*20), c.bytes)
	})
	t.Run("bytes", func(t *testing.T) {
		c := &Cache{MaxSessions: 100, MaxBytes: 1000}
		for i := range 10 {
			fillSession(c, key(i), 3, 100) // 300 bytes a session
			assert.LessOrEqual(t, c.bytes, int64(1000))
		}
		assert.Len(t, c.sessions, 3)
		big := fillSession(c, key(99), 50, 100)
		assert.Same(t, big, c.lookup(key(99)), "a session larger than the bound stays while it is read")
		assert.Len(t, c.sessions, 1)
		assert.Equal(t, int64(5000), c.bytes)
		c.Drop(key(99))
		assert.Zero(t, c.bytes)
	})
	t.Run("the least recently used leave first", func(t *testing.T) {
		c := &Cache{MaxSessions: 10, MaxBytes: 1 << 30}
		for i := range 10 {
			fillSession(c, key(i), 1, 10)
		}
		// Session 0 is read, 1 appended to, 2 met by a retried append,
		// each time a newcomer arrives; the others are left alone and
		// leave, the oldest first.
		for n := 10; n < 17; n++ {
			fillSession(c, key(0), 1, 10)
			c.Appended(1, &eventlog.Record{Position: eventlog.Position(100 + n), Kind: eventlog.KindEventAppended, Key: key(1), Seq: uint64(n - 8),
				Event: &eventlog.Event{ID: fmt.Sprint("a", n)}}, 10)
			_, err := c.Event(1, key(2), "0", 2, 1, nil)
			require.NoError(t, err)
			fillSession(c, key(n), 1, 10)
			require.Len(t, c.sessions, 10)
			for i := 3; i <= n-7; i++ {
				assert.Nil(t, c.lookup(key(i)), "with %d read, session %d (read before every other) is still cached", n, i)
			}
			for _, i := range []int{0, 1, 2} {
				assert.NotNil(t, c.lookup(key(i)), "with %d read, session %d, just used, left the cache", n, i)
			}
		}
		c.Drop(key(16))
		c.Drop(key(0))
		fillSession(c, key(30), 1, 10)
		fillSession(c, key(31), 1, 10)
		fillSession(c, key(32), 1, 10)
		assert.Nil(t, c.lookup(key(10)), "session 10, the oldest after the drops, is still cached")
		assert.NotNil(t, c.lookup(key(11)))
		assert.Len(t, c.sessions, 10)
	})
	t.Run("an event appended here joins the cached session", func(t *testing.T) {
		c := &Cache{MaxSessions: 10, MaxBytes: 1 << 20}
		cs := fillSession(c, key(1), 2, 10)
		rec := &eventlog.Record{Position: 9, Kind: eventlog.KindEventAppended, Key: key(1), Seq: 3, Event: &eventlog.Event{ID: "new"}}
		c.Appended(2, rec, 10) // another incarnation: left out
		require.Len(t, cs.Records, 2)
		c.Appended(1, &eventlog.Record{Position: 9, Kind: eventlog.KindEventAppended, Key: key(1), Seq: 4, Event: &eventlog.Event{ID: "gap"}}, 10)
		require.Len(t, cs.Records, 2, "an event after a gap is left out")
		c.Appended(1, rec, 10)
		require.Len(t, cs.Records, 3)
		assert.Equal(t, int64(30), c.bytes)
		got, err := c.Event(1, key(1), "new", 9, 3, nil)
		require.NoError(t, err)
		assert.Same(t, rec, got, "a duplicate gets the record readers share")
		_, err = c.Event(1, key(1), "other", 9, 3, []byte("{"))
		require.ErrorContains(t, err, "damaged", "an event the cache does not hold is decoded from its body")
	})
}

// A Load waits for another Load of the same session (which holds it while
// it reads the database) only as long as its context lets it, and a
// record an append just committed never waits for a Load: the next read
// fetches it instead.
func TestLoadWaitsForAnotherOnlyAsLongAsItsContextLets(t *testing.T) {
	c := &Cache{MaxSessions: 10, MaxBytes: 1 << 20}
	key := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	reading, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := c.Load(context.Background(), key, eventlog.LoadOptions{}, func(eventlog.Position, uint64) (Loaded, error) {
			close(reading)
			<-release
			return Loaded{Found: true, Created: 1, Updated: SortableTime(time.Now())}, nil
		})
		first <- err
	}()
	<-reading
	defer func() {
		close(release)
		require.NoError(t, <-first)
	}()

	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() {
		_, err := c.Load(short, key, eventlog.LoadOptions{}, func(eventlog.Position, uint64) (Loaded, error) {
			return Loaded{}, fmt.Errorf("read while another reader held the session")
		})
		second <- err
	}()
	select {
	case err := <-second:
		require.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("a Load waited for another past its context's end")
	}

	appended := make(chan struct{})
	go func() {
		c.Appended(1, &eventlog.Record{Position: 2, Kind: eventlog.KindEventAppended, Key: key, Seq: 1,
			Event: &eventlog.Event{ID: "e1"}}, 10)
		close(appended)
	}()
	select {
	case <-appended:
	case <-time.After(5 * time.Second):
		t.Fatal("an appended record waited for a Load")
	}
}
