package servicetest

import (
	"context"
	"fmt"
	"iter"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// s1 checks CONTRACT S1.
func (s suite) s1(t *testing.T) {
	t.Run("a subscription from zero replays the stored events then follows live appends", func(t *testing.T) {
		// CONTRACT S1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		for i := 1; i <= 3; i++ {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i)})
		}
		other := h.create(key("app", "user", "other"), nil)
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		check := func(rec *service.Record, seq int) {
			t.Helper()
			require.Equal(t, eventlog.KindEventAppended, rec.Kind)
			require.Equal(t, k, rec.Key)
			require.Equal(t, uint64(seq), rec.Seq)
			require.Equal(t, fmt.Sprintf("e%d", seq), rec.Event.ID)
			require.NotZero(t, rec.Position)
		}
		var last service.Position
		for i, rec := range sub.records(3) {
			check(rec, i+1)
			require.Greater(t, rec.Position, last)
			last = rec.Position
		}
		for i := 4; i <= 6; i++ {
			h.appendEvent(other, &service.Event{ID: fmt.Sprintf("other-%d", i)})
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i)})
			rec := sub.record()
			check(rec, i)
			require.Greater(t, rec.Position, last)
			last = rec.Position
		}
	})

	t.Run("a subscription after sequence number k starts at k+1", func(t *testing.T) {
		// CONTRACT S1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		for i := 1; i <= 5; i++ {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i)})
		}
		for _, after := range []uint64{1, 2, 4} {
			sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, after) })
			for seq := after + 1; seq <= 5; seq++ {
				require.Equal(t, seq, sub.record().Seq, "after %d", after)
			}
			sub.stop()
		}
		// From the current version or beyond: only what comes next.
		subs := []*subscription{}
		for _, after := range []uint64{5, 6, math.MaxUint64} {
			subs = append(subs, h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, after) }))
		}
		h.appendEvent(sess, &service.Event{ID: "e6"})
		h.appendEvent(sess, &service.Event{ID: "e7"})
		require.Equal(t, uint64(6), subs[0].record().Seq, "after the current version")
		require.Equal(t, uint64(7), subs[1].record().Seq, "after a version not reached yet")
		subs[1].stop()
		subs[2].stop()
	})

	t.Run("a subscriber that reads nothing while 1000 events are appended gets them all in order", func(t *testing.T) {
		// CONTRACT S1: appenders are not blocked by a subscriber that does
		// not read (its goroutine is parked in the iterator's yield).
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		h.appendEvent(sess, &service.Event{ID: "e0001"})
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		const n = 1000
		for i := 2; i <= n; i++ {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%04d", i)})
		}
		for i := 1; i <= n; i++ {
			rec := sub.record()
			require.Equal(t, uint64(i), rec.Seq)
			require.Equal(t, fmt.Sprintf("e%04d", i), rec.Event.ID)
		}
	})

	t.Run("a subscriber reading while another goroutine appends sees no gap and no repeat", func(t *testing.T) {
		// CONTRACT S1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		const n = 500
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := 1; i <= n; i++ {
				if _, err := h.svc.AppendEvent(h.ctx, sess, &service.Event{ID: fmt.Sprintf("e%04d", i)}); err != nil {
					t.Errorf("append %d: %v", i, err)
					return
				}
				if i%50 == 0 {
					runtime.Gosched()
				}
			}
		})
		for i := 1; i <= n; i++ {
			rec := sub.record()
			require.Equal(t, uint64(i), rec.Seq)
			require.Equal(t, fmt.Sprintf("e%04d", i), rec.Event.ID)
			if i%7 == 0 {
				runtime.Gosched() // a slower reader
			}
		}
		wg.Wait()
	})

	t.Run("subscribing to a missing session gives ErrNotFound", func(t *testing.T) {
		// CONTRACT S1
		t.Parallel()
		h := s.open(t)
		h.create(key("app", "user", "s"), nil)
		for _, missing := range []service.SessionKey{key("app", "user", "missing"), key("app", "other", "s"), key("other", "user", "s")} {
			sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, missing, 0) })
			require.ErrorIs(t, sub.end(), service.ErrNotFound, "subscribe to %v", missing)
		}
	})
}

// s2 checks CONTRACT S2.
func (s suite) s2(t *testing.T) {
	t.Run("user and app subscriptions deliver every record of their scope in position order", func(t *testing.T) {
		// CONTRACT S2
		t.Parallel()
		h := s.open(t)
		sessions := []*service.Session{
			h.create(key("app", "u1", "a"), nil),
			h.create(key("app", "u1", "b"), nil),
			h.create(key("app", "u2", "c"), nil),
			h.create(key("app", "u1:x", "d"), nil),
		}
		elsewhere := h.create(key("other-app", "u1", "a"), nil)
		appSub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.SubscribeApp(ctx, "app", 0) })
		userSub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
			return h.svc.SubscribeUser(ctx, "app", "u1", 0)
		})

		const perSession = 60
		var wg sync.WaitGroup
		for _, sess := range append(slices.Clone(sessions), elsewhere) {
			wg.Go(func() {
				for i := range perSession {
					if _, err := h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"i": i, "app:last": sess.ID})); err != nil {
						t.Errorf("append to %v: %v", sess.Key(), err)
						return
					}
				}
			})
		}

		checkScope := func(recs []*service.Record, users map[string]bool, sessionsWant int) {
			t.Helper()
			var last service.Position
			next := map[service.SessionKey]uint64{}
			for _, rec := range recs {
				require.Greater(t, rec.Position, last, "records out of position order")
				last = rec.Position
				require.Equal(t, "app", rec.Key.AppName)
				require.True(t, users[rec.Key.UserID], "a record of user %q", rec.Key.UserID)
				switch rec.Kind {
				case eventlog.KindSessionCreated:
					require.Zero(t, next[rec.Key], "a creation after events")
				case eventlog.KindEventAppended:
					next[rec.Key]++
					require.Equal(t, next[rec.Key], rec.Seq, "a gap or repeat in %v", rec.Key)
				default:
					t.Fatalf("unexpected %s record", rec.Kind)
				}
			}
			for k, n := range next {
				require.Equal(t, uint64(perSession), n, "events of %v", k)
			}
			require.Len(t, next, sessionsWant, "sessions with events")
		}
		appRecs := appSub.records(len(sessions) * (1 + perSession))
		userRecs := userSub.records(2 * (1 + perSession))
		wg.Wait()
		checkScope(appRecs, map[string]bool{"u1": true, "u2": true, "u1:x": true}, len(sessions))
		checkScope(userRecs, map[string]bool{"u1": true}, 2)

		// From a position in the middle: exactly what follows it.
		for _, mid := range []int{0, 1, 77, len(appRecs) - 2} {
			sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, "app", appRecs[mid].Position)
			})
			for _, want := range appRecs[mid+1:] {
				got := sub.record()
				require.Equal(t, want.Position, got.Position, "app subscription after record %d", mid)
				require.Equal(t, want.Key, got.Key)
				require.Equal(t, want.Seq, got.Seq)
			}
			sub.stop()
		}
		for _, mid := range []int{0, 50, len(userRecs) - 2} {
			sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeUser(ctx, "app", "u1", userRecs[mid].Position)
			})
			for _, want := range userRecs[mid+1:] {
				got := sub.record()
				require.Equal(t, want.Position, got.Position, "user subscription after record %d", mid)
			}
			sub.stop()
		}
	})

	t.Run("a user subscription sees creations, events and deletions as they happen", func(t *testing.T) {
		// CONTRACT S2
		t.Parallel()
		h := s.open(t)
		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
			return h.svc.SubscribeUser(ctx, "app", "u", 0)
		})
		k := key("app", "u", "s")
		sess := h.create(k, map[string]any{"user:x": 1})
		rec := sub.record()
		require.Equal(t, eventlog.KindSessionCreated, rec.Kind)
		require.Equal(t, k, rec.Key)
		h.create(key("app", "someone-else", "s"), nil)
		h.appendEvent(sess, &service.Event{ID: "e1"})
		rec = sub.record()
		require.Equal(t, eventlog.KindEventAppended, rec.Kind)
		require.Equal(t, "e1", rec.Event.ID)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		rec = sub.record()
		require.Equal(t, eventlog.KindSessionDeleted, rec.Kind)
		require.Equal(t, k, rec.Key)
		h.create(k, nil)
		rec = sub.record()
		require.Equal(t, eventlog.KindSessionCreated, rec.Kind, "the user subscription goes on after a deletion")
	})

	t.Run("reading after the largest position returns nothing", func(t *testing.T) {
		// CONTRACT S2: a store reads the records after a position, even at
		// the top of the range.
		t.Parallel()
		h := s.open(t)
		h.appendDelta(h.create(key("app", "user", "s"), nil), map[string]any{"k": 1})
		for _, scope := range []eventlog.Scope{{}, {AppName: "app"}, {AppName: "app", UserID: "user"}} {
			recs, _, err := h.store.Read(h.ctx, scope, service.Position(math.MaxUint64), 10)
			assert.NoError(t, err)
			assert.Empty(t, recs, "read of %+v after the largest position", scope)
		}
	})

	t.Run("a user or app follower behind records a deletion freed gets ErrCompacted naming where to go on", func(t *testing.T) {
		// CONTRACT S2 D3: a follower is never skipped past freed records
		// silently; the error names the position from which its scope is
		// served whole, and following on from there loses nothing stored.
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "gone")
		sess := h.create(k, map[string]any{"user:x": 1})
		h.appendEvent(sess, &service.Event{ID: "e1", Actions: service.EventActions{StateDelta: map[string]any{"app:a": 1}}})
		h.appendEvent(sess, &service.Event{ID: "e2", Content: text("no state")})
		other := h.create(key("app", "other-user", "s"), nil)
		elsewhere := h.create(key("other-app", "u", "s"), nil)
		var freed []service.Position // the deleted session's records, in order
		for _, rec := range h.export() {
			if rec.Key == k {
				freed = append(freed, rec.Position)
			}
		}
		require.Len(t, freed, 3, "the session's creation and its two events")
		keeper := h.create(key("app", "u", "keeper"), nil)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		last := freed[len(freed)-1]

		type follower struct {
			name  string
			scope eventlog.Scope
			mk    func(ctx context.Context, after service.Position) iter.Seq2[*service.Record, error]
		}
		followers := []follower{
			{"the user's", eventlog.Scope{AppName: "app", UserID: "u"}, func(ctx context.Context, after service.Position) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeUser(ctx, "app", "u", after)
			}},
			{"the app's", eventlog.Scope{AppName: "app"}, func(ctx context.Context, after service.Position) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, "app", after)
			}},
		}
		for _, f := range followers {
			for _, after := range []service.Position{0, freed[0], freed[1]} {
				err := h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] { return f.mk(ctx, after) })
				require.ErrorIs(t, err, service.ErrCompacted, "%s follower after %d", f.name, after)
				var ce *service.CompactedError
				require.ErrorAs(t, err, &ce, "%s follower after %d", f.name, after)
				assert.Equal(t, last, ce.Served, "%s follower after %d: the first position served whole is the last one freed", f.name, after)
				assert.Equal(t, after, ce.After, "%s follower", f.name)
				assert.Equal(t, f.scope, ce.Scope, "%s follower", f.name)

				// Following on after Served delivers every record still
				// stored, then goes on live.
				want := []string{
					eventlog.KindSessionCreated.String() + " u/keeper",
					eventlog.KindSessionDeleted.String() + " u/gone",
				}
				if f.scope.UserID == "" {
					want = append([]string{eventlog.KindSessionCreated.String() + " other-user/s"}, want...)
				}
				sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return f.mk(ctx, ce.Served) })
				var got []string
				for range want {
					rec := sub.record()
					require.Greater(t, rec.Position, ce.Served)
					got = append(got, rec.Kind.String()+" "+rec.Key.UserID+"/"+rec.Key.SessionID)
				}
				require.Equal(t, want, got, "%s follower after %d", f.name, ce.Served)
				live := fmt.Sprintf("live-%d-%d", len(f.scope.UserID), after)
				h.appendEvent(h.get(keeper.Key()), &service.Event{ID: live})
				for {
					rec := sub.record() // earlier rounds' live events first
					require.Equal(t, eventlog.KindEventAppended, rec.Kind, "%s follower goes on live", f.name)
					if rec.Event.ID == live {
						break
					}
				}
				sub.stop()
			}
		}

		// A follower already past the freed records, another user's, and
		// another app's are behind nothing that was freed.
		for _, mk := range []func(ctx context.Context) iter.Seq2[*service.Record, error]{
			func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeUser(ctx, "app", "u", last)
			},
			func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, "app", last)
			},
			func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeUser(ctx, "app", other.UserID, 0)
			},
			func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, elsewhere.AppName, 0)
			},
		} {
			sub := h.follow(mk)
			rec := sub.record()
			require.Equal(t, eventlog.KindSessionCreated, rec.Kind)
			sub.stop()
		}
		// The whole log reads as the deletion left it.
		require.NotEmpty(t, h.export())
		h.verify()
	})
}

// s3 checks CONTRACT S3.
func (s suite) s3(t *testing.T) {
	kinds := []struct {
		name string
		mk   func(h *harness, k service.SessionKey) func(context.Context) iter.Seq2[*service.Record, error]
	}{
		{"session", func(h *harness, k service.SessionKey) func(context.Context) iter.Seq2[*service.Record, error] {
			return func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) }
		}},
		{"user", func(h *harness, k service.SessionKey) func(context.Context) iter.Seq2[*service.Record, error] {
			return func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeUser(ctx, k.AppName, k.UserID, 0)
			}
		}},
		{"app", func(h *harness, k service.SessionKey) func(context.Context) iter.Seq2[*service.Record, error] {
			return func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, k.AppName, 0)
			}
		}},
	}
	for _, kind := range kinds {
		t.Run("cancelling the context ends a "+kind.name+" subscription", func(t *testing.T) {
			// CONTRACT S3
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			h.appendEvent(h.create(k, nil), &service.Event{ID: "e1"})
			waiting := h.follow(kind.mk(h, k))
			waiting.record() // it has caught up and waits for more
			reading := h.follow(kind.mk(h, k))
			waiting.stop()
			reading.stop() // it has a record in hand
			notStarted := h.follow(kind.mk(h, k))
			notStarted.stop()
		})

		t.Run("breaking out of the loop ends a "+kind.name+" subscription", func(t *testing.T) {
			// CONTRACT S3
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			h.appendEvent(h.create(k, nil), &service.Event{ID: "e1"})
			h.appendEvent(h.get(k), &service.Event{ID: "e2"})
			require.NotPanics(t, func() {
				n := 0
				for rec, err := range kind.mk(h, k)(h.ctx) {
					require.NoError(t, err)
					require.NotNil(t, rec)
					if n++; n == 2 {
						break
					}
				}
			})
		})

		t.Run("closing the service ends a "+kind.name+" subscription", func(t *testing.T) {
			// CONTRACT S3
			t.Parallel()
			h := s.open(t)
			k := key("app", "user", "s")
			h.appendEvent(h.create(k, nil), &service.Event{ID: "e1"})
			sub := h.follow(kind.mk(h, k))
			sub.record()
			h.close()
			sub.drain() // an error saying the store is closed is fine
		})
	}

	t.Run("deleting the session completes its subscriptions", func(t *testing.T) {
		// CONTRACT S3 D2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		caughtUp := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		behind := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		h.appendEvent(sess, &service.Event{ID: "e1"})
		require.Equal(t, "e1", caughtUp.record().Event.ID)
		require.Equal(t, "e1", behind.record().Event.ID)
		h.appendEvent(sess, &service.Event{ID: "e2"}) // behind reads it or not: it must complete either way
		require.Equal(t, "e2", caughtUp.record().Event.ID)
		appSub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.SubscribeApp(ctx, "app", 0) })
		require.Equal(t, eventlog.KindSessionCreated, appSub.record().Kind)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		require.NoError(t, caughtUp.end(), "a caught-up subscription completes without an error")
		for {
			it, ok := behind.next()
			if !ok {
				break
			}
			require.NoError(t, it.err, "a subscription that was behind completes without an error")
		}
		h.create(k, nil)
		h.appendEvent(h.get(k), &service.Event{ID: "new"})
		for {
			rec := appSub.record()
			if rec.Kind == eventlog.KindEventAppended && rec.Event.ID == "new" {
				break // the app subscription goes on
			}
		}
	})
}
