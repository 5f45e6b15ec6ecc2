package servicetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// l3 checks List in RecentFirst order: the most recently updated first,
// ties by user and session ID, paged by tokens of their own, and walks
// that stay exact while sessions are updated.
func (s suite) l3(t *testing.T) {
	// at sets a session's last update to the given instant, by an event
	// with that timestamp.
	at := func(h *harness, sess *service.Session, when time.Time) {
		h.appendEvent(sess, &service.Event{Author: "user", Timestamp: when})
	}
	walk := func(h *harness, app, user string, size int) (keys []string, pages int) {
		opts := service.ListOptions{Order: service.RecentFirst, PageSize: size}
		for {
			page, err := h.svc.List(h.ctx, app, user, opts)
			require.NoError(h.t, err)
			for _, sess := range page.Sessions {
				keys = append(keys, sess.UserID+"/"+sess.ID)
			}
			pages++
			if page.NextPageToken == "" {
				return keys, pages
			}
			opts.PageToken = page.NextPageToken
		}
	}

	t.Run("the most recently updated first, ties by user and session ID", func(t *testing.T) {
		// CONTRACT L1 L2
		t.Parallel()
		h := s.open(t)
		base := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		type placed struct {
			k    service.SessionKey
			when time.Time
		}
		var all []placed
		for i, k := range []service.SessionKey{
			key("app", "bob", "b1"), key("app", "alice", "a1"), key("app", "alice", "a2"),
			key("app", "bob", "b2"), key("app", "carol", "c1"), key("app", "alice", "a3"),
		} {
			sess := h.create(k, map[string]any{"n": i})
			// Nanoseconds apart, and one tie of three at the same instant.
			when := base.Add(time.Duration([]int{5, 3, 9, 3, 3, 1}[i]) * time.Nanosecond)
			at(h, sess, when)
			all = append(all, placed{k, when})
		}
		h.create(key("other-app", "alice", "x"), nil)
		sorted := slices.Clone(all)
		slices.SortFunc(sorted, func(a, b placed) int {
			return eventlog.ListOptions{Order: eventlog.RecentFirst}.Compare(a.k, a.when, b.k, b.when)
		})
		require.Equal(t, []service.SessionKey{
			key("app", "alice", "a2"), key("app", "bob", "b1"),
			key("app", "alice", "a1"), key("app", "bob", "b2"), key("app", "carol", "c1"),
			key("app", "alice", "a3"),
		}, []service.SessionKey{sorted[0].k, sorted[1].k, sorted[2].k, sorted[3].k, sorted[4].k, sorted[5].k})
		var want, wantAlice []string
		for _, p := range sorted {
			want = append(want, p.k.UserID+"/"+p.k.SessionID)
			if p.k.UserID == "alice" {
				wantAlice = append(wantAlice, p.k.UserID+"/"+p.k.SessionID)
			}
		}
		for size := 1; size <= 7; size++ {
			got, pages := walk(h, "app", "", size)
			require.Equal(t, want, got, "page size %d", size)
			require.Equal(t, (len(want)+size-1)/size, pages, "page size %d", size)
			got, _ = walk(h, "app", "alice", size)
			require.Equal(t, wantAlice, got, "alice's, page size %d", size)
		}
		page, err := h.svc.List(h.ctx, "app", "", service.ListOptions{Order: service.RecentFirst, PageSize: 1})
		require.NoError(t, err)
		require.Equal(t, 9, page.Sessions[0].State["n"].(int)+7, "the page carries the merged state")
		requireSameTime(t, base.Add(9*time.Nanosecond), page.Sessions[0].LastUpdateTime, "the last update, to the nanosecond")
		empty, err := h.svc.List(h.ctx, "no-app", "", service.ListOptions{Order: service.RecentFirst})
		require.NoError(t, err)
		require.Empty(t, empty.Sessions)
	})

	t.Run("tokens belong to their order and listing; a bad order is invalid", func(t *testing.T) {
		// CONTRACT L2 B1
		t.Parallel()
		h := s.open(t)
		for i := range 3 {
			h.create(key("app", "u", fmt.Sprint("s", i)), nil)
		}
		recent, err := h.svc.List(h.ctx, "app", "u", service.ListOptions{Order: service.RecentFirst, PageSize: 1})
		require.NoError(t, err)
		byKey, err := h.svc.List(h.ctx, "app", "u", service.ListOptions{PageSize: 1})
		require.NoError(t, err)
		require.NotEmpty(t, recent.NextPageToken)
		_, err = h.svc.List(h.ctx, "app", "u", service.ListOptions{PageToken: recent.NextPageToken})
		requireInvalid(t, err, "pageToken", "a RecentFirst token in a ByKey listing")
		_, err = h.svc.List(h.ctx, "app", "u", service.ListOptions{Order: service.RecentFirst, PageToken: byKey.NextPageToken})
		requireInvalid(t, err, "pageToken", "a ByKey token in a RecentFirst listing")
		_, err = h.svc.List(h.ctx, "app", "v", service.ListOptions{Order: service.RecentFirst, PageToken: recent.NextPageToken})
		requireInvalid(t, err, "pageToken", "another user's listing")
		_, err = h.svc.List(h.ctx, "app", "u", service.ListOptions{Order: service.Order(7)})
		requireInvalid(t, err, "order")
		_, err = h.store.List(h.ctx, "app", "u", eventlog.ListOptions{Order: eventlog.Order(7), Limit: 1})
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument, "the store refuses an unknown order too")
	})

	t.Run("a walk under concurrent updates returns no session twice and every unchanged one once", func(t *testing.T) {
		// CONTRACT L2 Z1
		t.Parallel()
		h := s.open(t)
		const n = 60
		sessions := make([]*service.Session, n)
		for i := range sessions {
			sessions[i] = h.create(key("app", fmt.Sprint("u", i%3), fmt.Sprintf("s%02d", i)), nil)
		}
		updated := make([]bool, n) // touched after the walk began
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			r := rand.New(rand.NewPCG(1, 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := r.IntN(n)
				mu.Lock()
				updated[i] = true
				mu.Unlock()
				if _, err := h.svc.AppendEvent(h.ctx, sessions[i], &service.Event{Author: "user"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
		got, _ := walk(h, "app", "", 7)
		close(stop)
		wg.Wait()
		seen := map[string]bool{}
		for _, k := range got {
			require.False(t, seen[k], "%s returned twice", k)
			seen[k] = true
		}
		for i, sess := range sessions {
			if !updated[i] {
				require.True(t, seen[sess.UserID+"/"+sess.ID], "session %d was not updated but is missing", i)
			}
		}
	})
}
