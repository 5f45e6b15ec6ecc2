package servicetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// t3 checks Fork: a new session holding a copy of another as it stood at
// a version, made in one atomic step, with the source untouched.
func (s suite) t3(t *testing.T) {
	// history makes a session whose own and shared state change over five
	// events, one of them a rewind, and returns its key.
	history := func(h *harness) service.SessionKey {
		k := key("app", "u", "src")
		sess := h.create(k, map[string]any{"topic": "go", "kept": 1, "app:shared": "created", "user:pref": "dark"})
		h.appendEvent(sess, &service.Event{InvocationID: "inv-1", Content: text("hello"),
			Actions: service.EventActions{StateDelta: map[string]any{"draft": 1, "app:shared": "inv-1"}}})
		h.appendEvent(sess, &service.Event{InvocationID: "inv-2", Content: text("change topic"),
			Actions: service.EventActions{StateDelta: map[string]any{"topic": "rust", "draft": 2, "user:pref": "light"}}})
		_, err := h.svc.Rewind(h.ctx, k, "inv-2", service.RewindOptions{})
		require.NoError(t, err)
		sess = h.get(k)
		h.appendEvent(sess, &service.Event{InvocationID: "inv-4", Content: text("again"),
			Actions: service.EventActions{StateDelta: map[string]any{"topic": "zig", "gone": service.Removed}}})
		h.appendEvent(sess, &service.Event{InvocationID: "inv-5", Content: text("last"),
			Actions: service.EventActions{StateDelta: map[string]any{"draft": 5, "app:shared": "inv-5"}}})
		return k
	}

	t.Run("the fork holds the source as of the version, with provenance", func(t *testing.T) {
		// CONTRACT T3 T1 T2
		t.Parallel()
		h := s.open(t)
		src := history(h)
		before := h.get(src)
		beforeLog := h.exportJSON()
		for v := uint64(0); v <= before.Version; v++ {
			fk := key("app", "u", "fork-"+string(rune('a'+v)))
			fork, err := h.svc.Fork(h.ctx, src, v, fk)
			require.NoError(t, err, "fork at version %d", v)
			require.Equal(t, fk, fork.Key())
			require.Equal(t, v, fork.Version, "version %d", v)
			past, err := h.svc.Get(h.ctx, src, service.GetOptions{AtVersion: &v})
			require.NoError(t, err)
			require.Equal(t, normalize(t, ownPart(past.State)), normalize(t, ownPart(fork.State)), "own state of the fork at version %d", v)
			require.Equal(t, normalize(t, sharedPart(h.get(src).State)), normalize(t, sharedPart(fork.State)),
				"the fork sees the app's and the user's state as they are")
			require.Len(t, fork.Events, int(v))
			for i, ev := range fork.Events {
				orig := past.Events[i]
				require.NotEqual(t, orig.ID, ev.ID, "a copy has a new ID")
				require.Equal(t, map[string]any{"appName": "app", "userId": "u", "id": "src", "eventId": orig.ID, "seq": i + 1},
					ev.CustomMetadata[service.ForkedFrom], "event %d names its source", i+1)
				require.Equal(t, orig.InvocationID, ev.InvocationID)
				require.Equal(t, orig.Actions.RewindBeforeInvocationID, ev.Actions.RewindBeforeInvocationID)
				require.Equal(t, normalize(t, orig.Content), normalize(t, ev.Content))
				requireSameTime(t, orig.Timestamp, ev.Timestamp, "a copy keeps its timestamp")
				require.Equal(t, normalize(t, ownPart(orig.Actions.StateDelta)), normalize(t, ownPart(ev.Actions.StateDelta)))
				require.Empty(t, sharedPart(ev.Actions.StateDelta), "a copy writes no app or user state")
				// The fork read as of each of its versions is the source
				// then (own state), so rewinds in it work as in the source.
				at := uint64(i + 1)
				fpast, err := h.svc.Get(h.ctx, fk, service.GetOptions{AtVersion: &at})
				require.NoError(t, err)
				spast, err := h.svc.Get(h.ctx, src, service.GetOptions{AtVersion: &at})
				require.NoError(t, err)
				require.Equal(t, normalize(t, ownPart(spast.State)), normalize(t, ownPart(fpast.State)), "fork %d as of version %d", v, at)
			}
			active, err := h.svc.Get(h.ctx, fk, service.GetOptions{SkipRewound: true})
			require.NoError(t, err)
			srcActive, err := h.svc.Get(h.ctx, src, service.GetOptions{AtVersion: &v, SkipRewound: true})
			require.NoError(t, err)
			require.Equal(t, len(srcActive.Events), len(active.Events), "the same events are active in the fork at version %d", v)
		}
		after := h.get(src)
		require.Equal(t, eventsJSON(t, before.Events), eventsJSON(t, after.Events), "the source is untouched")
		require.Equal(t, normalize(t, before.State), normalize(t, after.State), "the source's state is untouched")
		require.Equal(t, beforeLog, h.exportJSON()[:len(beforeLog)], "the log before the forks is untouched")
		h.verify()
	})

	t.Run("a fork goes on as a session of its own", func(t *testing.T) {
		// CONTRACT T3 A6
		t.Parallel()
		h := s.open(t)
		src := history(h)
		fork, err := h.svc.Fork(h.ctx, src, 2, service.SessionKey{})
		require.NoError(t, err)
		require.Equal(t, "app", fork.AppName, "an empty app name is the source's")
		require.Equal(t, "u", fork.UserID, "an empty user ID is the source's")
		require.NotEmpty(t, fork.ID)
		require.NotEqual(t, "src", fork.ID)
		h.appendDelta(fork, map[string]any{"topic": "fork only"})
		require.Equal(t, uint64(3), fork.Version)
		require.Equal(t, "zig", h.get(src).State["topic"], "the source does not see the fork's appends")
		require.Equal(t, "fork only", h.get(fork.Key()).State["topic"])
		// Forking into another user keeps the source's own state only.
		other, err := h.svc.Fork(h.ctx, src, 2, key("app", "v", "elsewhere"))
		require.NoError(t, err)
		require.Equal(t, "rust", other.State["topic"])
		require.NotContains(t, other.State, "user:pref", "the other user's state, which has no pref")
		require.Equal(t, "inv-5", other.State["app:shared"], "the app's state as it is")
		h.verify()
	})

	t.Run("a fork that cannot be made writes nothing", func(t *testing.T) {
		// CONTRACT T3 C1 G1 B1
		t.Parallel()
		h := s.open(t)
		src := history(h)
		taken := h.create(key("app", "u", "taken"), map[string]any{"mine": true})
		logBefore := h.exportJSON()
		_, err := h.svc.Fork(h.ctx, src, 3, taken.Key())
		require.ErrorIs(t, err, service.ErrAlreadyExists)
		_, err = h.svc.Fork(h.ctx, src, 3, src)
		require.ErrorIs(t, err, service.ErrAlreadyExists, "a session cannot be forked onto itself")
		_, err = h.svc.Fork(h.ctx, src, 6, key("app", "u", "new"))
		require.ErrorIs(t, err, service.ErrInvalidArgument, "version 6 is beyond the source's 5")
		_, err = h.svc.Fork(h.ctx, key("app", "u", "missing"), 0, key("app", "u", "new"))
		require.ErrorIs(t, err, service.ErrNotFound)
		_, err = h.svc.Fork(h.ctx, service.SessionKey{UserID: "u", SessionID: "src"}, 0, key("app", "u", "new"))
		require.ErrorIs(t, err, service.ErrInvalidArgument, "the source has no app name")
		_, err = h.svc.Fork(h.ctx, src, 0, key("app", "u", "\xff"))
		require.ErrorIs(t, err, service.ErrInvalidArgument, "the new session ID is not UTF-8")
		require.Equal(t, logBefore, h.exportJSON(), "nothing was written")
		require.Equal(t, map[string]any{"mine": true}, ownPart(h.get(taken.Key()).State))
		_, err = h.svc.Get(h.ctx, key("app", "u", "new"), service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
	})

	t.Run("a batch folds as its records one by one would", func(t *testing.T) {
		// CONTRACT T3 R1: AppendBatch at the seam, with app:, user: and
		// removed keys, which a fork never writes but a batch may.
		t.Parallel()
		h := s.open(t)
		other := h.create(key("app", "u", "other"), map[string]any{"app:a": "other", "user:b": "other", "own": 1})
		k := key("app", "u", "batch")
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		recs := []*eventlog.Record{{Kind: eventlog.KindSessionCreated, Key: k, Time: at, State: map[string]any{"x": 1, "app:a": "created", "gone": true}}}
		for i, delta := range []map[string]any{
			{"x": 2, "app:a": "e1", "user:b": "e1"},
			{"gone": service.Removed, "user:b": "e2", "y": "e2"},
			{"app:a": service.Removed, "x": 3},
			{"y": service.Removed, "z": map[string]any{"deep": []any{1, "two"}}},
		} {
			recs = append(recs, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: at.Add(time.Duration(i+1) * time.Second),
				Event: &eventlog.Event{ID: fmt.Sprintf("b%d", i+1), Author: "agent", Timestamp: at.Add(time.Duration(i+1) * time.Second),
					Actions: eventlog.EventActions{StateDelta: delta}}})
		}
		require.NoError(t, eventlog.CheckBatch(recs))
		res, err := h.store.AppendBatch(h.ctx, recs)
		require.NoError(t, err)
		require.NoError(t, res.Wait())
		require.Equal(t, "b4", res.Record.Event.ID, "the result is the batch's last record")
		for i, rec := range recs[1:] {
			require.Equal(t, uint64(i+1), rec.Seq)
			require.Greater(t, rec.Position, recs[i].Position, "the records take positions in their order")
		}
		got := h.get(k)
		require.Equal(t, uint64(4), got.Version)
		require.Equal(t, normalize(t, map[string]any{"x": 3, "user:b": "e2", "z": map[string]any{"deep": []any{1, "two"}}}), normalize(t, got.State))
		require.NotContains(t, h.get(other.Key()).State, "app:a", "the batch removed the app's key for everyone")
		requireSameTime(t, at.Add(4*time.Second), got.LastUpdateTime, "the last event's time")
		h.verify()

		_, err = h.store.AppendBatch(h.ctx, []*eventlog.Record{{Kind: eventlog.KindSessionCreated, Key: k, Time: at}})
		require.ErrorIs(t, err, eventlog.ErrAlreadyExists)
		for name, bad := range map[string][]*eventlog.Record{
			"an empty batch":    nil,
			"no creation first": {{Kind: eventlog.KindEventAppended, Key: k, Event: &eventlog.Event{ID: "e"}}},
			"another session's event": {{Kind: eventlog.KindSessionCreated, Key: key("app", "u", "n")},
				{Kind: eventlog.KindEventAppended, Key: k, Event: &eventlog.Event{ID: "e"}}},
			"one ID twice": {{Kind: eventlog.KindSessionCreated, Key: key("app", "u", "n")},
				{Kind: eventlog.KindEventAppended, Key: key("app", "u", "n"), Event: &eventlog.Event{ID: "e"}},
				{Kind: eventlog.KindEventAppended, Key: key("app", "u", "n"), Event: &eventlog.Event{ID: "e"}}},
			"a wrong sequence number": {{Kind: eventlog.KindSessionCreated, Key: key("app", "u", "n")},
				{Kind: eventlog.KindEventAppended, Key: key("app", "u", "n"), Seq: 2, Event: &eventlog.Event{ID: "e"}}},
			"a preset position": {{Kind: eventlog.KindSessionCreated, Key: key("app", "u", "n"), Position: 1000}},
		} {
			_, err := h.store.AppendBatch(h.ctx, bad)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument, name)
		}
		_, err = h.svc.Get(h.ctx, key("app", "u", "n"), service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound, "no refused batch wrote anything")
	})

	t.Run("readers see a fork whole or not at all", func(t *testing.T) {
		// CONTRACT T3 Z1
		t.Parallel()
		h := s.open(t)
		src := key("app", "u", "big")
		sess := h.create(src, map[string]any{"n": 0})
		for i := 1; i <= 200; i++ {
			h.appendDelta(sess, map[string]any{"n": i})
		}
		const forks = 4
		var wg sync.WaitGroup
		errs := make(chan error, forks+1)
		done := make(chan struct{})
		wg.Go(func() { // reads the forks while they are made
			for {
				select {
				case <-done:
					return
				default:
				}
				for i := range forks {
					got, err := h.svc.Get(h.ctx, key("app", "u", "copy-"+string(rune('0'+i))), service.GetOptions{})
					switch {
					case errors.Is(err, service.ErrNotFound):
					case err != nil:
						errs <- err
						return
					case got.Version != 200 || len(got.Events) != 200 || got.State["n"] != 200:
						errs <- fmt.Errorf("a reader saw a fork in part: version %d, %d events, n=%v (%T)", got.Version, len(got.Events), got.State["n"], got.State["n"])
						return
					}
				}
			}
		})
		for i := range forks {
			wg.Go(func() {
				if _, err := h.svc.Fork(h.ctx, src, 200, key("app", "u", "copy-"+string(rune('0'+i)))); err != nil {
					errs <- err
				}
			})
		}
		// An app subscriber sees each fork's records in order, with no gap.
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.SubscribeApp(ctx, "app", 0) })
		recs := sub.records(201 + forks*201)
		sub.stop()
		close(done)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		seqs := map[service.SessionKey]uint64{}
		for _, rec := range recs {
			if rec.Kind == eventlog.KindEventAppended {
				require.Equal(t, seqs[rec.Key]+1, rec.Seq, "session %v", rec.Key)
				seqs[rec.Key] = rec.Seq
			}
		}
		for i := range forks {
			require.Equal(t, uint64(200), seqs[key("app", "u", "copy-"+string(rune('0'+i)))])
		}
		h.verify()
	})
}
