package sqlitestore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
)

// CONTRACT L1 L2: List's one statement serves the same pages as the
// in-memory store, for every user, order, limit and place to start,
// including a start in another user's sessions than the one listed (the
// three cases of the user page's bound on session_id), sessions without
// state, and sessions updated at the same time (the order's tie break).
func TestListAgreesWithMemstore(t *testing.T) {
	ctx := context.Background()
	sl, mem := open(t, newFile(t)), memstore.New()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type session struct {
		user, id string
		at       time.Time
		state    map[string]any
	}
	var sessions []session
	for u, user := range []string{"a", "b", "c"} {
		for i, id := range []string{"s1", "s2", "s3"} {
			s := session{user, id, base.Add(time.Duration(i*3+u) * time.Second),
				map[string]any{"k": fmt.Sprint(user, id), "user:u": user, "app:a": float64(u)}}
			if user == "b" && id == "s2" {
				s.state = nil // no state of its own, nor a write to its user's or app's
			}
			if user == "c" && id == "s3" {
				s.at = sessions[0].at // a tie with a/s1
			}
			sessions = append(sessions, s)
		}
	}
	for _, s := range sessions {
		rec := &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: eventlog.SessionKey{AppName: "app", UserID: s.user, SessionID: s.id},
			Time: s.at, State: s.state}
		_, err := sl.Append(ctx, rec)
		require.NoError(t, err)
		rec.Position = 0
		_, err = mem.Append(ctx, rec)
		require.NoError(t, err)
	}
	afters := []eventlog.ListOptions{{}}
	for _, s := range sessions {
		afters = append(afters, eventlog.ListOptions{AfterUser: s.user, AfterSession: s.id, AfterUpdate: s.at})
	}
	afters = append(afters,
		eventlog.ListOptions{AfterUser: "0", AfterSession: "z", AfterUpdate: base.Add(time.Hour)}, // before every user
		eventlog.ListOptions{AfterUser: "b", AfterSession: "s0", AfterUpdate: base},
		eventlog.ListOptions{AfterUser: "b", AfterSession: "s9", AfterUpdate: base.Add(4 * time.Second)},
		eventlog.ListOptions{AfterUser: "d", AfterSession: "a", AfterUpdate: base.Add(-time.Hour)}, // after every user
	)
	type view struct {
		key     eventlog.SessionKey
		version uint64
		updated time.Time
		state   map[string]any
	}
	views := func(vs []eventlog.View) []view {
		var out []view
		for _, v := range vs {
			out = append(out, view{v.Key, v.Version, v.LastUpdateTime, v.State})
		}
		return out
	}
	checked := 0
	for _, user := range []string{"", "a", "b", "c", "x"} {
		for _, order := range []eventlog.Order{eventlog.ByKey, eventlog.RecentFirst} {
			for _, limit := range []int{1, 2, 100} {
				for _, after := range afters {
					opts := after
					opts.Order, opts.Limit = order, limit
					if order == eventlog.ByKey {
						opts.AfterUpdate = time.Time{}
					}
					want, err := mem.List(ctx, "app", user, opts)
					require.NoError(t, err)
					got, err := sl.List(ctx, "app", user, opts)
					require.NoError(t, err)
					require.Equal(t, views(want), views(got), "user %q, options %+v", user, opts)
					checked += len(want)
				}
			}
		}
	}
	require.Greater(t, checked, 400, "the pages compared hold sessions")
}
