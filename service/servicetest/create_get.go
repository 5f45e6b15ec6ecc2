package servicetest

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// c1 checks CONTRACT C1.
func (s suite) c1(t *testing.T) {
	t.Run("creating a session twice fails with ErrAlreadyExists and leaves it untouched", func(t *testing.T) {
		// CONTRACT C1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"k": "first", "app:a": "first", "user:u": "first"})
		h.appendDelta(sess, map[string]any{"k": "appended"})
		before := h.get(k)
		log := h.exportJSON()

		for _, id := range []string{"s", " s "} {
			again, err := h.svc.Create(h.ctx, key("app", "user", id), map[string]any{"k": "second", "app:a": "second", "user:u": "second"})
			require.ErrorIs(t, err, service.ErrAlreadyExists, "create %q again", id)
			require.Nil(t, again)
		}
		after := h.get(k)
		require.Equal(t, before.State, after.State)
		require.Equal(t, ids(before.Events), ids(after.Events))
		require.Equal(t, before.Version, after.Version)
		requireSameTime(t, before.LastUpdateTime, after.LastUpdateTime, "LastUpdateTime")
		require.Equal(t, log, h.exportJSON(), "the failed create changed the log")
		h.verify()
	})
}

// c2c3 checks CONTRACT C2 C3.
func (s suite) c2c3(t *testing.T) {
	t.Run("the initial state is split by prefix and the new session has merged state, no events and version 0", func(t *testing.T) {
		// CONTRACT C2 C3
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"s": "v", "app:a": "A", "user:u": "U", "temp:t": "T"})
		created := h.clock.Last()
		want := map[string]any{"s": "v", "app:a": "A", "user:u": "U"}
		require.Equal(t, want, sess.State)
		require.Empty(t, sess.Events)
		require.Zero(t, sess.Version)
		requireSameTime(t, created, sess.LastUpdateTime, "LastUpdateTime of the created session")
		require.Equal(t, k, sess.Key())

		got := h.get(k)
		require.Equal(t, want, got.State)
		require.Empty(t, got.Events)
		require.Zero(t, got.Version)
		requireSameTime(t, created, got.LastUpdateTime, "LastUpdateTime of the session read back")

		require.Equal(t, map[string]any{"app:a": "A", "user:u": "U"}, h.create(key("app", "user", "second"), nil).State,
			"another session of the user")
		require.Equal(t, map[string]any{"app:a": "A"}, h.create(key("app", "someone-else", "s"), nil).State,
			"a session of another user")
		require.Empty(t, h.create(key("other-app", "user", "s"), nil).State, "a session of another app")

		var creation *service.Record
		for _, rec := range h.export() {
			for k := range rec.Writes() {
				require.False(t, strings.HasPrefix(k, "temp:"), "the log holds temp key %q", k)
			}
			if rec.Kind == eventlog.KindSessionCreated && rec.Key == k {
				creation = rec
			}
		}
		require.NotNil(t, creation, "the creation is not a record in the log")
		requireSameTime(t, created, creation.Time, "the creation record's time")
		h.verify()
	})

	t.Run("a nil or empty initial state creates an empty session", func(t *testing.T) {
		// CONTRACT C2 C3
		t.Parallel()
		h := s.open(t)
		for _, state := range []map[string]any{nil, {}, {"temp:only": 1}} {
			sess := h.create(key("app", "user", ""), state)
			require.Empty(t, sess.State)
			require.Empty(t, h.get(sess.Key()).State)
		}
	})
}

// g1 checks CONTRACT G1.
func (s suite) g1(t *testing.T) {
	t.Run("getting a missing session gives ErrNotFound and no session", func(t *testing.T) {
		// CONTRACT G1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		h.create(k, nil)
		h.create(key("app", "user", "deleted"), nil)
		require.NoError(t, h.svc.Delete(h.ctx, key("app", "user", "deleted")))
		for _, missing := range []service.SessionKey{
			key("app", "user", "never"),
			key("app", "other-user", "s"),
			key("other-app", "user", "s"),
			key("app", "user", "deleted"),
		} {
			sess, err := h.svc.Get(h.ctx, missing, service.GetOptions{})
			require.ErrorIs(t, err, service.ErrNotFound, "get %v", missing)
			require.Nil(t, sess, "get %v returned a session with the error", missing)
		}
	})
}

// g2 checks CONTRACT G2.
func (s suite) g2(t *testing.T) {
	at := func(sec int) time.Time { return epoch.Add(time.Hour + time.Duration(sec)*time.Second) }
	type filterCase struct {
		name string
		opts service.GetOptions
		want []string
	}
	variants := []struct {
		name    string
		seconds []int // timestamps of e1..e5
		cases   []filterCase
	}{
		{
			name:    "with increasing timestamps",
			seconds: []int{10, 20, 30, 40, 50},
			cases: []filterCase{
				{"no filter keeps every event", service.GetOptions{}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"the last two", service.GetOptions{NumRecentEvents: 2}, []string{"e4", "e5"}},
				{"exactly all", service.GetOptions{NumRecentEvents: 5}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"more than there are", service.GetOptions{NumRecentEvents: 9}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"after a timestamp includes it", service.GetOptions{After: at(30)}, []string{"e3", "e4", "e5"}},
				{"after a time between events", service.GetOptions{After: at(31)}, []string{"e4", "e5"}},
				{"after the first event", service.GetOptions{After: at(10)}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"after every event", service.GetOptions{After: at(60)}, nil},
				{"n first then the time", service.GetOptions{NumRecentEvents: 4, After: at(30)}, []string{"e3", "e4", "e5"}},
				{"n first then a time before them all", service.GetOptions{NumRecentEvents: 2, After: at(0)}, []string{"e4", "e5"}},
				{"n first then a time after them all", service.GetOptions{NumRecentEvents: 2, After: at(55)}, nil},
			},
		},
		{
			name:    "with timestamps out of order",
			seconds: []int{30, 10, 50, 20, 40},
			cases: []filterCase{
				{"no filter keeps every event", service.GetOptions{}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"the last two", service.GetOptions{NumRecentEvents: 2}, []string{"e4", "e5"}},
				{"after a timestamp includes it", service.GetOptions{After: at(30)}, []string{"e1", "e3", "e5"}},
				{"after a time between events", service.GetOptions{After: at(31)}, []string{"e3", "e5"}},
				{"after the earliest event", service.GetOptions{After: at(10)}, []string{"e1", "e2", "e3", "e4", "e5"}},
				{"after the latest event", service.GetOptions{After: at(50)}, []string{"e3"}},
				{"after every event", service.GetOptions{After: at(51)}, nil},
				{"n first then the time", service.GetOptions{NumRecentEvents: 3, After: at(30)}, []string{"e3", "e5"}},
				{"n first then a time only an older event passes", service.GetOptions{NumRecentEvents: 2, After: at(45)}, nil},
				{"n first then a time the last passes", service.GetOptions{NumRecentEvents: 1, After: at(40)}, []string{"e5"}},
			},
		},
	}
	for _, v := range variants {
		t.Run("filters keep the right events "+v.name, func(t *testing.T) {
			// CONTRACT G2
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			sess := h.create(k, nil)
			for i, sec := range v.seconds {
				h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i+1), Timestamp: at(sec)})
			}
			requireSameTime(t, at(v.seconds[len(v.seconds)-1]), h.get(k).LastUpdateTime, "LastUpdateTime is the last event's timestamp")
			for _, c := range v.cases {
				got, err := h.svc.Get(h.ctx, k, c.opts)
				require.NoError(t, err, c.name)
				require.Equal(t, len(c.want), len(got.Events), "%s: got %v", c.name, ids(got.Events))
				if len(c.want) > 0 {
					require.Equal(t, c.want, ids(got.Events), c.name)
				}
				require.Equal(t, uint64(5), got.Version, "%s: filters do not change the version", c.name)
			}
		})
	}

	t.Run("a negative NumRecentEvents is rejected", func(t *testing.T) {
		// CONTRACT G2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		h.appendDelta(h.create(k, nil), map[string]any{"k": 1})
		for _, n := range []int{-1, math.MinInt} {
			sess, err := h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: n})
			requireInvalid(t, err, "numRecentEvents", "n = %d", n)
			require.Nil(t, sess)
		}
	})
}

// g3 checks CONTRACT G3.
func (s suite) g3(t *testing.T) {
	t.Run("app and user state written through one session shows in the next Get of another", func(t *testing.T) {
		// CONTRACT G3
		t.Parallel()
		h := s.open(t)
		a := h.create(key("app", "user", "a"), nil)
		b := h.create(key("app", "user", "b"), map[string]any{"own": "b"})
		other := h.create(key("app", "other-user", "c"), nil)
		require.Equal(t, map[string]any{"own": "b"}, b.State)

		h.appendDelta(a, map[string]any{"app:x": "1", "user:y": "2", "own": "a"})
		require.Equal(t, map[string]any{"own": "b", "app:x": "1", "user:y": "2"}, h.get(b.Key()).State)
		require.Equal(t, map[string]any{"app:x": "1"}, h.get(other.Key()).State)

		h.create(key("app", "user", "d"), map[string]any{"user:y": "3", "app:z": "4"})
		require.Equal(t, map[string]any{"own": "b", "app:x": "1", "user:y": "3", "app:z": "4"}, h.get(b.Key()).State,
			"a creation's shared state")

		h.appendDelta(other, map[string]any{"app:x": service.Removed, "user:y": "other"})
		require.Equal(t, map[string]any{"own": "b", "user:y": "3", "app:z": "4"}, h.get(b.Key()).State,
			"another user's change of app state and their own user state")
		require.Equal(t, map[string]any{"own": "a", "user:y": "3", "app:z": "4"}, h.get(a.Key()).State)
		require.Equal(t, map[string]any{"user:y": "other", "app:z": "4"}, h.get(other.Key()).State)
	})
}

// g4 checks CONTRACT G4.
func (s suite) g4(t *testing.T) {
	build := func(h *harness) service.SessionKey {
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"k": "v", "nested": map[string]any{"x": "orig"}, "app:a": "A", "user:u": "U"})
		h.appendEvent(sess, &service.Event{
			ID: "e1", Content: text("hello"), LongRunningToolIDs: []string{"call-1"},
			Actions: service.EventActions{StateDelta: map[string]any{"list": []any{"a", "b"}}},
		})
		h.appendEvent(sess, &service.Event{ID: "e2", Content: text("world")})
		return k
	}

	t.Run("changing the returned state map changes nothing stored", func(t *testing.T) {
		// CONTRACT G4
		t.Parallel()
		h := s.open(t)
		k := build(h)
		want := normalize(t, h.get(k).State)
		got := h.get(k)
		got.State["injected"] = "x"
		got.State["app:injected"] = "x"
		delete(got.State, "k")
		delete(got.State, "app:a")
		got.State["nested"].(map[string]any)["x"] = "changed"
		got.State["list"].([]any)[0] = "changed"
		require.Equal(t, want, normalize(t, h.get(k).State))
		listed := h.list("app", "user", 0)
		require.Len(t, listed, 1)
		listed[0].State["nested"].(map[string]any)["x"] = "changed by a lister"
		require.Equal(t, want, normalize(t, h.get(k).State))
		require.NotContains(t, h.create(key("app", "user", ""), nil).State, "app:injected")
		h.verify()
	})

	t.Run("appending to the returned event list changes nothing stored", func(t *testing.T) {
		// CONTRACT G4
		t.Parallel()
		h := s.open(t)
		k := build(h)
		one, two := h.get(k), h.get(k)
		one.Events = append(one.Events, &service.Event{ID: "mine"})
		two.Events = append(two.Events, &service.Event{ID: "yours"})
		require.Equal(t, []string{"e1", "e2", "mine"}, ids(one.Events), "an append to another Get's events wrote into this one")
		require.Equal(t, []string{"e1", "e2"}, ids(h.get(k).Events))
		require.Equal(t, []string{"e1", "e2"}, ids(h.events(k, 0)))

		last, err := h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: 1})
		require.NoError(t, err)
		last.Events = append(last.Events, &service.Event{ID: "after-the-tail"})
		require.Equal(t, []string{"e1", "e2"}, ids(h.get(k).Events))

		page, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 1})
		require.NoError(t, err)
		_ = append(page.Events, &service.Event{ID: "into-the-page"})
		require.Equal(t, []string{"e1", "e2"}, ids(h.events(k, 0)))
	})

	t.Run("returned events are the stored events, the store's own rather than copies", func(t *testing.T) {
		// CONTRACT G4: stored events are immutable records, the store's
		// own and read-only; only a clone is the caller's to change.
		t.Parallel()
		h := s.open(t)
		k := build(h)
		first, second := h.get(k), h.get(k)
		require.Len(t, first.Events, len(second.Events))
		for i := range first.Events {
			require.Same(t, first.Events[i], second.Events[i], "event %d", i)
		}
		reordered := slices.Clone(first.Events)
		slices.Reverse(reordered)
		require.Equal(t, []string{"e1", "e2"}, ids(h.get(k).Events), "Get")
	})

	t.Run("Event.Clone gives a copy that has nothing in common with the stored event", func(t *testing.T) {
		// CONTRACT G4
		t.Parallel()
		h := s.open(t)
		k := build(h)
		want := eventsJSON(t, h.get(k).Events)
		stored := h.get(k).Events[0]
		c := stored.Clone()
		require.NotSame(t, stored, c)
		require.Equal(t, want[:1], eventsJSON(t, []*service.Event{c}), "the clone differs from the original")
		c.ID = "changed"
		c.Content.Parts[0].Text = "changed"
		c.Content.Parts = append(c.Content.Parts, &genai.Part{Text: "more"})
		c.LongRunningToolIDs[0] = "changed"
		c.Actions.StateDelta["list"].([]any)[0] = "changed"
		c.Actions.StateDelta["new"] = "changed"
		require.Equal(t, want, eventsJSON(t, h.get(k).Events))
		require.Equal(t, want, eventsJSON(t, h.events(k, 0)))
		require.Equal(t, []any{"a", "b"}, h.get(k).State["list"])
	})
}
