package servicetest

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// z1 checks CONTRACT Z1.
func (s suite) z1(t *testing.T) {
	t.Run("goroutines appending to their own sessions and to one they all write all succeed", func(t *testing.T) {
		// CONTRACT Z1 A6
		t.Parallel()
		h := s.open(t)
		const writers, appends = 8, 25
		common := key("app", "common-user", "common")
		h.create(common, nil)
		own := make([]*service.Session, writers)
		for w := range own {
			own[w] = h.create(key("app", fmt.Sprintf("user-%d", w%3), fmt.Sprintf("own-%d", w)), nil)
		}
		stop := make(chan struct{})
		var readers sync.WaitGroup
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: 3}); err != nil {
					t.Errorf("list: %v", err)
					return
				}
				if _, err := h.svc.ListEvents(h.ctx, common, service.ListEventsOptions{PageSize: 7}); err != nil {
					t.Errorf("list events: %v", err)
					return
				}
				runtime.Gosched()
			}
		})
		var wg sync.WaitGroup
		var retries atomic.Int64
		for w := range writers {
			wg.Go(func() {
				for i := range appends {
					_, err := h.svc.AppendEvent(h.ctx, own[w], delta(map[string]any{"n": float64(i), "app:last": float64(w), "user:n": float64(i)}))
					if err != nil {
						t.Errorf("writer %d: append to its own session: %v", w, err)
						return
					}
					for attempt := 0; ; attempt++ {
						if attempt == 100000 {
							t.Errorf("writer %d: no progress on the common session", w)
							return
						}
						sess, err := h.svc.Get(h.ctx, common, service.GetOptions{NumRecentEvents: 1})
						if err == nil {
							_, err = h.svc.AppendEvent(h.ctx, sess, &service.Event{ID: fmt.Sprintf("w%d-%d", w, i),
								Actions: service.EventActions{StateDelta: map[string]any{"by": w, "app:by": w}}})
						}
						if errors.Is(err, service.ErrStaleSession) {
							retries.Add(1)
							continue
						}
						if err != nil {
							t.Errorf("writer %d: append to the common session: %v", w, err)
							return
						}
						break
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		readers.Wait()
		if t.Failed() {
			return
		}
		for w, sess := range own {
			got := h.get(sess.Key())
			require.Equal(t, uint64(appends), got.Version, "writer %d's session", w)
			require.Len(t, got.Events, appends)
			require.Equal(t, float64(appends-1), got.State["n"])
		}
		got := h.get(common)
		require.Equal(t, uint64(writers*appends), got.Version)
		seen := map[string]bool{}
		for _, e := range got.Events {
			require.False(t, seen[e.ID], "event %s stored twice", e.ID)
			seen[e.ID] = true
		}
		require.Len(t, seen, writers*appends)
		require.Equal(t, uint64(writers*appends), uint64(len(h.events(common, 0))))
		h.verify()
		t.Logf("%d stale appends retried", retries.Load())
	})

	t.Run("concurrent deletes and re-creates of one session keep the service and the log in agreement", func(t *testing.T) {
		// CONTRACT Z1 R1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "flicker")
		const rounds, pairs = 1500, 2
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for range pairs {
			wg.Go(func() {
				for i := range rounds {
					_, err := h.svc.Create(h.ctx, k, map[string]any{"round": float64(i), "user:round": float64(i)})
					if err != nil && !errors.Is(err, service.ErrAlreadyExists) {
						t.Errorf("create: %v", err)
						return
					}
				}
			})
			wg.Go(func() {
				for range rounds {
					if err := h.svc.Delete(h.ctx, k); err != nil {
						t.Errorf("delete: %v", err)
						return
					}
				}
			})
		}
		var readers sync.WaitGroup
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if sess, err := h.svc.Get(h.ctx, k, service.GetOptions{}); err == nil {
					if _, err := h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"x": "1"})); err != nil &&
						!errors.Is(err, service.ErrNotFound) && !errors.Is(err, service.ErrStaleSession) {
						t.Errorf("append: %v", err)
						return
					}
				} else if !errors.Is(err, service.ErrNotFound) {
					t.Errorf("get: %v", err)
					return
				}
				if _, err := h.svc.List(h.ctx, "app", "user", service.ListOptions{}); err != nil {
					t.Errorf("list: %v", err)
					return
				}
			}
		})
		wg.Wait()
		close(stop)
		readers.Wait()

		_, getErr := h.svc.Get(h.ctx, k, service.GetOptions{})
		_, storeErr := h.store.Load(h.ctx, k, eventlog.LoadOptions{NoEvents: true})
		require.Equal(t, storeErr == nil, getErr == nil, "the service says %v, the store says %v", getErr, storeErr)
		h.verify()
		require.NoError(t, h.svc.Delete(h.ctx, k))
		_, err := h.svc.Create(h.ctx, k, nil)
		require.NoError(t, err, "the key is usable again")
		h.get(k)
		h.verify()
	})
}
