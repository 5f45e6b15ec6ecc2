package servicetest

import (
	"context"
	"iter"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

// a1 checks CONTRACT A1.
func (s suite) a1(t *testing.T) {
	t.Run("a nil session or event is rejected and an unknown session is not found, storing nothing", func(t *testing.T) {
		// CONTRACT A1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		h.create(key("app", "user", "deleted"), nil)
		deleted := h.get(key("app", "user", "deleted"))
		require.NoError(t, h.svc.Delete(h.ctx, deleted.Key()))
		before := h.exportJSON()

		ev, err := h.svc.AppendEvent(h.ctx, nil, delta(map[string]any{"k": 1}))
		requireInvalid(t, err, "session")
		require.Nil(t, ev)
		ev, err = h.svc.AppendEvent(h.ctx, sess, nil)
		requireInvalid(t, err, "event")
		require.Nil(t, ev)
		_, err = h.svc.AppendEvent(h.ctx, nil, nil)
		require.ErrorIs(t, err, service.ErrInvalidArgument)

		for _, unknown := range []*service.Session{
			{AppName: "app", UserID: "user", ID: "never"},
			{AppName: "app", UserID: "other", ID: "s"},
			{AppName: "other", UserID: "user", ID: "s"},
			deleted,
		} {
			ev, err = h.svc.AppendEvent(h.ctx, unknown, delta(map[string]any{"k": 1, "app:a": 1, "user:u": 1}))
			require.ErrorIs(t, err, service.ErrNotFound, "append to %v", unknown.Key())
			require.Nil(t, ev)
		}
		require.Equal(t, before, h.exportJSON(), "a failed append stored something")
		require.Zero(t, sess.Version)
		require.Empty(t, h.get(k).State)
		h.verify()
	})
}

// a2 checks CONTRACT A2.
func (s suite) a2(t *testing.T) {
	t.Run("a partial event is returned as it is and changes nothing", func(t *testing.T) {
		// CONTRACT A2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"k": "v"})
		h.appendDelta(sess, map[string]any{"k": "w"})
		log := h.exportJSON()
		version, events, state, updated := sess.Version, slices.Clone(sess.Events), normalize(t, sess.State), sess.LastUpdateTime

		for _, ev := range []*service.Event{
			{Partial: true, Content: text("chunk")},
			{Partial: true, ID: "p1", Timestamp: epoch.Add(time.Hour), Content: text("chunk"),
				Actions: service.EventActions{StateDelta: map[string]any{"k": "partial", "app:a": 1, "user:u": 1, "temp:t": 1}}},
		} {
			want := eventsJSON(t, []*service.Event{ev})
			got, err := h.svc.AppendEvent(h.ctx, sess, ev)
			require.NoError(t, err)
			require.Same(t, ev, got, "a partial event is returned as the same value")
			require.Equal(t, want, eventsJSON(t, []*service.Event{ev}), "the partial event was changed")
		}
		require.Equal(t, log, h.exportJSON(), "a partial event changed the log")
		require.Equal(t, []string{"id-000001"}, ids(h.events(k, 0)))
		require.Equal(t, version, sess.Version)
		require.Equal(t, events, sess.Events)
		require.Equal(t, state, normalize(t, sess.State))
		requireSameTime(t, updated, sess.LastUpdateTime, "the handle's LastUpdateTime")
		got := h.get(k)
		require.Equal(t, map[string]any{"k": "w"}, got.State)
		requireSameTime(t, updated, got.LastUpdateTime, "the session's LastUpdateTime")
		h.appendDelta(sess, map[string]any{"k": "after"})
		require.Equal(t, uint64(2), sess.Version, "the next complete event follows without a gap")
	})
}

// a3 checks CONTRACT A3.
func (s suite) a3(t *testing.T) {
	t.Run("an event without ID or timestamp gets a generated ID and the clock's time", func(t *testing.T) {
		// CONTRACT A3
		t.Parallel()
		h := s.open(t)
		sess := h.create(key("app", "user", "s"), nil)
		ev := &service.Event{Author: "user", Content: text("hi")}
		stored := h.appendEvent(sess, ev)
		require.NotEmpty(t, stored.ID)
		require.Equal(t, "id-000001", stored.ID, "the service's ID generator names the event")
		requireSameTime(t, h.clock.Last(), stored.Timestamp, "the stored timestamp")
		require.Empty(t, ev.ID, "the caller's event was changed")
		require.True(t, ev.Timestamp.IsZero(), "the caller's event was changed")
		require.Equal(t, []string{stored.ID}, ids(h.events(sess.Key(), 0)))

		given := epoch.Add(-time.Hour)
		kept := h.appendEvent(sess, &service.Event{ID: "mine", Timestamp: given})
		require.Equal(t, "mine", kept.ID)
		requireSameTime(t, given, kept.Timestamp, "a given timestamp")
	})

	t.Run("an event without ID gets a new random UUID and the current time", func(t *testing.T) {
		// CONTRACT A3
		t.Parallel()
		h := s.open(t, realTimeAndIDs)
		sess := h.create(key("app", "user", ""), nil)
		seen := map[string]bool{}
		for range 3 {
			before := time.Now()
			stored := h.appendEvent(sess, &service.Event{})
			after := time.Now()
			_, err := uuid.Parse(stored.ID)
			require.NoError(t, err, "event ID %q is not a UUID", stored.ID)
			require.False(t, seen[stored.ID], "event ID %q generated twice", stored.ID)
			seen[stored.ID] = true
			require.False(t, stored.Timestamp.Before(before) || stored.Timestamp.After(after),
				"timestamp %v is not the time of the append (%v to %v)", stored.Timestamp, before, after)
		}
	})

	t.Run("stored events are numbered 1, 2, 3 in append order without gaps", func(t *testing.T) {
		// CONTRACT A3
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		other := h.create(key("app", "user", "other"), nil)
		stale := h.get(k)
		h.appendEvent(sess, &service.Event{ID: "a"})
		h.appendEvent(other, &service.Event{ID: "other-1"})
		_, err := h.svc.AppendEvent(h.ctx, stale, &service.Event{ID: "stale"})
		require.ErrorIs(t, err, service.ErrStaleSession)
		h.appendEvent(sess, &service.Event{ID: "b"})
		h.appendEvent(sess, &service.Event{ID: "a"}) // a retry stores nothing
		h.appendEvent(sess, &service.Event{Partial: true})
		h.appendEvent(sess, &service.Event{ID: "c"})
		require.Equal(t, uint64(3), sess.Version)

		var seqs []uint64
		var evIDs []string
		for _, rec := range h.export() {
			if rec.Kind == eventlog.KindEventAppended && rec.Key == k {
				seqs = append(seqs, rec.Seq)
				evIDs = append(evIDs, rec.Event.ID)
			}
		}
		require.Equal(t, []uint64{1, 2, 3}, seqs, "sequence numbers in the log")
		require.Equal(t, []string{"a", "b", "c"}, evIDs)

		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		for i, rec := range sub.records(3) {
			require.Equal(t, uint64(i+1), rec.Seq)
			require.Equal(t, evIDs[i], rec.Event.ID)
		}
	})
}

// a4 checks CONTRACT A4.
func (s suite) a4(t *testing.T) {
	t.Run("temp keys update the handle only and are stripped from everything stored", func(t *testing.T) {
		// CONTRACT A4
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"temp:created": 1})
		ev := delta(map[string]any{"temp:t": "T", "k": "v", "app:a": "A", "user:u": "U"})
		stored := h.appendEvent(sess, ev)
		require.Equal(t, "T", sess.State["temp:t"], "the handle shows the temp key for the rest of the invocation")
		require.Equal(t, "v", sess.State["k"])
		require.NotContains(t, stored.Actions.StateDelta, "temp:t", "the returned event")
		require.Equal(t, map[string]any{"k": "v", "app:a": "A", "user:u": "U"}, stored.Actions.StateDelta)
		require.Contains(t, ev.Actions.StateDelta, "temp:t", "the caller's event was changed")

		h.appendEvent(sess, delta(map[string]any{"temp:only": 1}))
		require.Equal(t, 1, sess.State["temp:only"])

		require.Equal(t, map[string]any{"k": "v", "app:a": "A", "user:u": "U"}, h.get(k).State)
		for _, e := range h.events(k, 0) {
			for key := range e.Actions.StateDelta {
				require.False(t, strings.HasPrefix(key, "temp:"), "a listed event holds %q", key)
			}
		}
		for _, rec := range h.export() {
			for key := range rec.Writes() {
				require.False(t, strings.HasPrefix(key, "temp:"), "a %s record holds %q", rec.Kind, key)
			}
		}
		rebuilt, err := projection.Rebuild(h.ctx, h.store)
		require.NoError(t, err)
		require.Equal(t, map[string]any{"k": "v"}, rebuilt.Apps["app"].Sessions[k].State)
		h.verify()
		require.Equal(t, map[string]any{"app:a": "A", "user:u": "U"}, h.create(key("app", "user", "next"), nil).State)
	})

	for _, removed := range []struct {
		name  string
		value any
	}{
		{"the Removed sentinel", service.Removed},
		{"the JSON sentinel string", "__ADK_SENTINEL_REMOVED__"},
	} {
		t.Run(removed.name+" deletes the key in session, app and user scope", func(t *testing.T) {
			// CONTRACT A4
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			sess := h.create(k, map[string]any{"k": "1", "kept": "1", "app:a": "1", "app:kept": "1", "user:u": "1", "user:kept": "1"})
			sibling := h.create(key("app", "user", "sibling"), nil)
			other := h.create(key("app", "other", "o"), map[string]any{"user:u": "other's"})
			h.appendDelta(sess, map[string]any{"k": removed.value, "app:a": removed.value, "user:u": removed.value, "never-set": removed.value})
			want := map[string]any{"kept": "1", "app:kept": "1", "user:kept": "1"}
			require.Equal(t, want, sess.State, "the handle")
			require.Equal(t, want, h.get(k).State)
			require.Equal(t, map[string]any{"app:kept": "1", "user:kept": "1"}, h.get(sibling.Key()).State)
			require.Equal(t, map[string]any{"app:kept": "1", "user:u": "other's"}, h.get(other.Key()).State)
			h.verify()

			h.appendDelta(sess, map[string]any{"k": "2", "app:a": "2", "user:u": "2"})
			require.Equal(t, merged(want, map[string]any{"k": "2", "app:a": "2", "user:u": "2"}), h.get(k).State, "a removed key can be set again")
			h.verify()
		})
	}

	t.Run("a concurrent reader sees all of an append's delta or none of it", func(t *testing.T) {
		// CONTRACT A4
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "writer")
		sess := h.create(k, nil)
		sibling := key("app", "user", "sibling")
		h.create(sibling, nil)
		const appends = 200
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(done)
			for i := 1; i <= appends; i++ {
				_, err := h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"k": float64(i), "app:k": float64(i), "user:k": float64(i)}))
				if err != nil {
					t.Errorf("append %d: %v", i, err)
					return
				}
			}
		})
		for range 2 {
			wg.Go(func() {
				for reads := 0; ; reads++ {
					select {
					case <-done:
						if reads > 0 {
							return
						}
					default:
					}
					got, err := h.svc.Get(h.ctx, k, service.GetOptions{})
					if err != nil {
						t.Errorf("get: %v", err)
						return
					}
					var want any
					if n := len(got.Events); n > 0 {
						want = float64(n)
					}
					if got.State["k"] != want || got.State["app:k"] != want || got.State["user:k"] != want || got.Version != uint64(len(got.Events)) {
						t.Errorf("a reader saw part of an append: %d events, version %d, state %v", len(got.Events), got.Version, got.State)
						return
					}
					sib, err := h.svc.Get(h.ctx, sibling, service.GetOptions{})
					if err != nil {
						t.Errorf("get sibling: %v", err)
						return
					}
					if sib.State["app:k"] != sib.State["user:k"] {
						t.Errorf("a reader of another session saw part of an append: %v", sib.State)
						return
					}
				}
			})
		}
		wg.Wait()
		got := h.get(k)
		require.Len(t, got.Events, appends)
		require.Equal(t, map[string]any{"k": float64(appends), "app:k": float64(appends), "user:k": float64(appends)}, got.State)
		h.verify()
	})
}

// a5 checks CONTRACT A5.
func (s suite) a5(t *testing.T) {
	t.Run("an append updates the caller's handle in place", func(t *testing.T) {
		// CONTRACT A5
		t.Parallel()
		h := s.open(t)
		sess := h.create(key("app", "user", "s"), map[string]any{"k": "v", "app:a": "A"})
		handle := sess
		ts := epoch.Add(-24 * time.Hour) // earlier than the creation: still the last update
		stored := h.appendEvent(sess, &service.Event{ID: "e1", Timestamp: ts,
			Actions: service.EventActions{StateDelta: map[string]any{"k": "w", "app:a": "B", "user:u": "U"}}})
		require.Same(t, handle, sess)
		require.Equal(t, uint64(1), sess.Version)
		require.Len(t, sess.Events, 1)
		require.Same(t, stored, sess.Events[0], "the handle holds the stored event")
		require.Equal(t, map[string]any{"k": "w", "app:a": "B", "user:u": "U"}, sess.State)
		requireSameTime(t, ts, sess.LastUpdateTime, "the handle's LastUpdateTime")

		stored = h.appendEvent(sess, &service.Event{})
		require.Equal(t, uint64(2), sess.Version)
		require.Equal(t, []string{"e1", stored.ID}, ids(sess.Events))
		requireSameTime(t, h.clock.Last(), sess.LastUpdateTime, "the handle's LastUpdateTime")

		got := h.get(sess.Key())
		require.Equal(t, sess.Version, got.Version)
		require.Equal(t, sess.State, got.State)
		require.Equal(t, ids(sess.Events), ids(got.Events))
		requireSameTime(t, sess.LastUpdateTime, got.LastUpdateTime, "the stored LastUpdateTime")
	})

	t.Run("a handle with a nil state map is updated too", func(t *testing.T) {
		// CONTRACT A5
		t.Parallel()
		h := s.open(t)
		h.create(key("app", "user", "s"), nil)
		handle := &service.Session{AppName: "app", UserID: "user", ID: "s"}
		h.appendDelta(handle, map[string]any{"k": "v"})
		require.Equal(t, map[string]any{"k": "v"}, handle.State)
		require.Equal(t, uint64(1), handle.Version)
	})
}

// a6 checks CONTRACT A6.
func (s suite) a6(t *testing.T) {
	t.Run("an append through a stale handle fails, names both versions and stores nothing", func(t *testing.T) {
		// CONTRACT A6
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "stale")
		sess := h.create(k, nil)
		for range 7 {
			h.appendDelta(sess, nil)
		}
		first, second := h.get(k), h.get(k)
		h.appendDelta(first, map[string]any{"k": "first"})
		log := h.exportJSON()

		version, events, state := second.Version, len(second.Events), normalize(t, second.State)
		ev, err := h.svc.AppendEvent(h.ctx, second, delta(map[string]any{"k": "second", "app:a": 1}))
		require.ErrorIs(t, err, service.ErrStaleSession)
		require.Nil(t, ev)
		require.Contains(t, err.Error(), "7", "the message names the handle's version")
		require.Contains(t, err.Error(), "8", "the message names the store's version")
		require.Equal(t, log, h.exportJSON(), "a stale append stored something")
		require.Equal(t, version, second.Version)
		require.Len(t, second.Events, events)
		require.Equal(t, state, normalize(t, second.State))
		require.Equal(t, map[string]any{"k": "first"}, h.get(k).State)

		retry := h.get(k)
		h.appendDelta(retry, map[string]any{"k": "second"})
		require.Equal(t, uint64(9), retry.Version)
		require.Equal(t, map[string]any{"k": "second"}, h.get(k).State)
		h.verify()
	})

	t.Run("with LastWriterWins an append through a stale handle succeeds", func(t *testing.T) {
		// CONTRACT A6
		t.Parallel()
		h := s.open(t, lastWriterWins)
		k := key("app", "user", "s")
		h.create(k, nil)
		first, second := h.get(k), h.get(k)
		h.appendEvent(first, &service.Event{ID: "first", Actions: service.EventActions{StateDelta: map[string]any{"k": "first"}}})
		stored := h.appendEvent(second, &service.Event{ID: "second", Actions: service.EventActions{StateDelta: map[string]any{"k": "second"}}})
		require.Equal(t, "second", stored.ID)
		require.Equal(t, uint64(2), second.Version)
		got := h.get(k)
		require.Equal(t, []string{"first", "second"}, ids(got.Events))
		require.Equal(t, map[string]any{"k": "second"}, got.State)
		require.Equal(t, uint64(2), got.Version)
		h.verify()
	})
}

// a7 checks CONTRACT A7.
func (s suite) a7(t *testing.T) {
	t.Run("appending an event ID the session holds returns the stored event and stores nothing", func(t *testing.T) {
		// CONTRACT A7
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		stale := h.get(k)
		original := h.appendEvent(sess, &service.Event{ID: "e1", Author: "first", Actions: service.EventActions{StateDelta: map[string]any{"k": "first"}}})
		h.appendEvent(sess, &service.Event{ID: "e2"})
		log := h.exportJSON()

		for _, handle := range []*service.Session{sess, stale, h.get(k)} {
			version := handle.Version
			got, err := h.svc.AppendEvent(h.ctx, handle, &service.Event{ID: "e1", Author: "retry",
				Actions: service.EventActions{StateDelta: map[string]any{"k": "retry", "app:a": 1}}})
			require.NoError(t, err, "a retry through a handle at version %d", version)
			require.Equal(t, "first", got.Author, "the stored event is returned")
			require.Equal(t, eventsJSON(t, []*service.Event{original}), eventsJSON(t, []*service.Event{got}))
			if version == 0 {
				// The stored event is the one after the handle's last: the
				// handle takes it, as from the append it retries (A5).
				require.Equal(t, uint64(1), handle.Version)
				require.Equal(t, []string{"e1"}, ids(handle.Events))
				require.Equal(t, "first", handle.State["k"])
			} else {
				require.Equal(t, version, handle.Version, "a handle past the stored event is left as it is")
			}
		}
		require.Equal(t, log, h.exportJSON(), "a retry stored something")
		got := h.get(k)
		require.Equal(t, []string{"e1", "e2"}, ids(got.Events))
		require.Equal(t, map[string]any{"k": "first"}, got.State)
		h.verify()
	})

	t.Run("a retry through the handle of an append whose outcome was lost updates it, and the next append goes on", func(t *testing.T) {
		// CONTRACT A5 A7: a producer whose append timed out after it was
		// stored retries it through the same handle, then goes on.
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"n": 0})
		lost := h.get(k) // the producer's handle, which the lost call left alone
		h.appendEvent(sess, &service.Event{ID: "e1", Actions: service.EventActions{StateDelta: map[string]any{"n": 1, "temp:t": "x"}}})
		retried, err := h.svc.AppendEvent(h.ctx, lost, &service.Event{ID: "e1", Actions: service.EventActions{StateDelta: map[string]any{"n": 1, "temp:t": "x"}}})
		require.NoError(t, err)
		require.Equal(t, uint64(1), lost.Version)
		require.Equal(t, []*service.Event{retried}, lost.Events)
		require.Equal(t, retried.Timestamp, lost.LastUpdateTime)
		require.Equal(t, map[string]any{"n": 1, "temp:t": "x"}, lost.State)
		h.appendEvent(lost, &service.Event{ID: "e2"})
		require.Equal(t, uint64(2), lost.Version)
		require.Equal(t, []string{"e1", "e2"}, ids(h.get(k).Events))
		h.verify()
	})

	t.Run("an event ID of another session is not a duplicate", func(t *testing.T) {
		// CONTRACT A7
		t.Parallel()
		h := s.open(t)
		a := h.create(key("app", "user", "a"), nil)
		b := h.create(key("app", "user", "b"), nil)
		h.appendEvent(a, &service.Event{ID: "same"})
		h.appendEvent(b, &service.Event{ID: "same"})
		require.Len(t, h.events(b.Key(), 0), 1)
		require.NoError(t, h.svc.Delete(h.ctx, a.Key()))
		again := h.create(a.Key(), nil)
		h.appendEvent(again, &service.Event{ID: "same"})
		require.Equal(t, uint64(1), again.Version, "a re-created session does not hold the old session's IDs")
	})
}

// a8 checks CONTRACT A8.
func (s suite) a8(t *testing.T) {
	t.Run("changing an appended event afterwards changes nothing stored", func(t *testing.T) {
		// CONTRACT A8
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		nested := map[string]any{"x": "orig", "list": []any{"a", map[string]any{"deep": "orig"}}}
		ev := &service.Event{
			ID:                 "e1",
			Content:            &genai.Content{Role: "model", Parts: []*genai.Part{{Text: "one"}, {Text: "two"}}},
			LongRunningToolIDs: []string{"call-1", "call-2"},
			CustomMetadata:     map[string]any{"tag": "orig"},
			Actions: service.EventActions{
				StateDelta:    map[string]any{"k": "orig", "nested": nested, "app:a": "orig", "user:u": []any{"orig"}},
				ArtifactDelta: map[string]int64{"file": 1},
			},
		}
		h.appendEvent(sess, ev)
		single := &service.Event{ID: "e2", Content: text("single part")}
		h.appendEvent(sess, single)
		wantEvents := eventsJSON(t, h.events(k, 0))
		wantState := normalize(t, h.get(k).State)

		ev.Actions.StateDelta["k"] = "changed"
		ev.Actions.StateDelta["added"] = "changed"
		nested["x"] = "changed"
		nested["list"].([]any)[0] = "changed"
		nested["list"].([]any)[1].(map[string]any)["deep"] = "changed"
		ev.Actions.StateDelta["user:u"].([]any)[0] = "changed"
		ev.Actions.ArtifactDelta["file"] = 99
		ev.Content.Parts[0].Text = "changed"
		ev.Content.Parts[1] = &genai.Part{Text: "replaced"}
		ev.Content.Parts = append(ev.Content.Parts, &genai.Part{Text: "added"})
		ev.LongRunningToolIDs[0] = "changed"
		ev.CustomMetadata["tag"] = "changed"
		ev.ID = "changed"
		single.Content.Parts[0].Text = "changed"

		require.Equal(t, wantEvents, eventsJSON(t, h.events(k, 0)))
		require.Equal(t, wantEvents, eventsJSON(t, h.get(k).Events))
		require.Equal(t, wantState, normalize(t, h.get(k).State))
		h.verify()
	})

	t.Run("changing the initial state map after Create changes nothing stored", func(t *testing.T) {
		// CONTRACT A8
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		nested := map[string]any{"x": "orig"}
		state := map[string]any{"k": "orig", "nested": nested, "app:a": []any{"orig"}}
		h.create(k, state)
		state["k"] = "changed"
		state["added"] = "changed"
		nested["x"] = "changed"
		state["app:a"].([]any)[0] = "changed"
		require.Equal(t, map[string]any{"k": "orig", "nested": map[string]any{"x": "orig"}, "app:a": []any{"orig"}}, h.get(k).State)
	})
}
