package servicetest

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/service"
)

// l1l2 checks CONTRACT L1 L2.
func (s suite) l1l2(t *testing.T) {
	t.Run("List names one user's sessions or every user's, in user then session ID byte order", func(t *testing.T) {
		// CONTRACT L1 L2
		t.Parallel()
		h := s.open(t)
		keys := []service.SessionKey{
			key("app", "bob", "s2"), key("app", "alice", "z"), key("app", "Alice", "a"),
			key("app", "alice", "B"), key("app", "\u00e5lice", "a"), key("app", "alice", "a"),
			key("app", "bob", "s10"), key("app", "b", "x"), key("app", "alice", "\u00e9"),
			key("app", "alice", "e\u0301"), key("app", "bob", "s1"),
		}
		for i, k := range keys {
			sess := h.create(k, map[string]any{"n": float64(i), "user:name": k.UserID, "temp:t": 1})
			if i%2 == 0 {
				h.appendDelta(sess, map[string]any{"touched": true})
			}
		}
		h.create(key("other-app", "alice", "elsewhere"), map[string]any{"app:other": 1})
		last := h.create(key("app", "zed", "s"), map[string]any{"app:shared": "yes"})

		sorted := append(slices.Clone(keys), last.Key())
		sort.Slice(sorted, func(i, j int) bool {
			if sorted[i].UserID != sorted[j].UserID {
				return sorted[i].UserID < sorted[j].UserID
			}
			return sorted[i].SessionID < sorted[j].SessionID
		})
		var want []string
		for _, k := range sorted {
			want = append(want, k.UserID+"/"+k.SessionID)
		}
		all := h.list("app", "", 0)
		require.Equal(t, want, sessionIDs(all))

		var alices []string
		for _, k := range sorted {
			if k.UserID == "alice" {
				alices = append(alices, "alice/"+k.SessionID)
			}
		}
		require.Equal(t, alices, sessionIDs(h.list("app", "alice", 0)))
		require.Equal(t, []string{"alice/elsewhere"}, sessionIDs(h.list("other-app", "", 0)))
		require.Empty(t, h.list("no-such-app", "", 0))
		require.Empty(t, h.list("app", "nobody", 0))

		for _, listed := range all {
			got := h.get(listed.Key())
			require.Equal(t, "app", listed.AppName)
			require.Empty(t, listed.Events, "listed sessions carry no events")
			require.Equal(t, got.State, listed.State, "listed state of %v", listed.Key())
			require.Equal(t, "yes", listed.State["app:shared"], "listed state is merged")
			require.NotContains(t, listed.State, "temp:t")
			requireSameTime(t, got.LastUpdateTime, listed.LastUpdateTime, "listed LastUpdateTime of "+listed.ID)
		}
	})

	t.Run("walking pages of three returns every session once in order", func(t *testing.T) {
		// CONTRACT L2
		t.Parallel()
		h := s.open(t)
		var want []string
		for u := range 4 {
			for i := range 5 {
				user := fmt.Sprintf("u%d", u)
				id := fmt.Sprintf("s%02d", i)
				h.create(key("app", user, id), nil)
				want = append(want, user+"/"+id)
			}
		}
		opts := service.ListOptions{PageSize: 3}
		var got []string
		for pages := 1; ; pages++ {
			page, err := h.svc.List(h.ctx, "app", "", opts)
			require.NoError(t, err)
			got = append(got, sessionIDs(page.Sessions)...)
			if page.NextPageToken == "" {
				require.Len(t, page.Sessions, 2, "the last page")
				require.Equal(t, 7, pages)
				break
			}
			require.Len(t, page.Sessions, 3, "page %d", pages)
			opts.PageToken = page.NextPageToken
		}
		require.Equal(t, want, got)
		require.Equal(t, want[5:10], sessionIDs(h.list("app", "u1", 3)))
		require.Equal(t, want[5:10], sessionIDs(h.list("app", "u1", 5)), "a page exactly as large as the listing")
	})

	t.Run("sessions that live through a paged walk appear exactly once", func(t *testing.T) {
		// CONTRACT L2
		t.Parallel()
		h := s.open(t)
		var initial []service.SessionKey
		for u := range 4 {
			for i := range 5 {
				k := key("app", fmt.Sprintf("u%d", u), fmt.Sprintf("s%02d", i))
				h.create(k, nil)
				initial = append(initial, k)
			}
		}
		deleted := map[string]bool{}
		del := func(k service.SessionKey) {
			require.NoError(t, h.svc.Delete(h.ctx, k))
			deleted[k.UserID+"/"+k.SessionID] = true
		}
		opts := service.ListOptions{PageSize: 3}
		var got []string
		for pages := 1; ; pages++ {
			require.Less(t, pages, 50)
			page, err := h.svc.List(h.ctx, "app", "", opts)
			require.NoError(t, err)
			got = append(got, sessionIDs(page.Sessions)...)
			switch pages {
			case 1:
				del(initial[1])                             // already listed
				del(initial[10])                            // not listed yet
				h.create(key("app", "u0", "a-before"), nil) // sorts before the cursor
				h.create(key("app", "u3", "zz-after"), nil) // sorts after it
			case 2:
				del(page.Sessions[len(page.Sessions)-1].Key()) // the session the token points at
				del(initial[6])                                // the next one
				h.create(key("app", "u1", "s02a"), nil)
			case 4:
				require.NoError(t, h.svc.Delete(h.ctx, initial[2]))
				h.create(initial[2], nil) // re-created behind the cursor
			}
			if page.NextPageToken == "" {
				break
			}
			opts.PageToken = page.NextPageToken
		}
		require.True(t, slices.IsSortedFunc(got, func(a, b string) int {
			ua, ia, _ := strings.Cut(a, "/")
			ub, ib, _ := strings.Cut(b, "/")
			if c := strings.Compare(ua, ub); c != 0 {
				return c
			}
			return strings.Compare(ia, ib)
		}), "pages out of order: %v", got)
		count := map[string]int{}
		for _, id := range got {
			count[id]++
		}
		for id, n := range count {
			require.Equal(t, 1, n, "%s listed %d times", id, n)
		}
		for _, k := range initial {
			id := k.UserID + "/" + k.SessionID
			if !deleted[id] {
				require.Equal(t, 1, count[id], "%s lived through the walk but was not listed", id)
			}
		}
		require.Zero(t, count["u2/s00"], "deleted before the walk reached it")
		require.Zero(t, count["u1/s01"], "deleted before the walk reached it")
	})

	t.Run("page size zero means the default, a large one is clamped, a negative one is rejected", func(t *testing.T) {
		// CONTRACT L2
		t.Parallel()
		h := s.open(t)
		for i := range service.MaxPageSize + 1 {
			h.create(key("app", fmt.Sprintf("u%d", i%7), fmt.Sprintf("s%04d", i)), nil)
		}
		page, err := h.svc.List(h.ctx, "app", "", service.ListOptions{})
		require.NoError(t, err)
		require.Len(t, page.Sessions, service.DefaultPageSize)
		require.NotEmpty(t, page.NextPageToken)

		for _, size := range []int{service.MaxPageSize + 1, 5000, math.MaxInt} {
			page, err = h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: size})
			require.NoError(t, err)
			require.Len(t, page.Sessions, service.MaxPageSize, "page size %d", size)
			require.NotEmpty(t, page.NextPageToken)
			rest, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: size, PageToken: page.NextPageToken})
			require.NoError(t, err)
			require.Len(t, rest.Sessions, 1)
			require.Empty(t, rest.NextPageToken)
		}
		require.Len(t, h.list("app", "", 0), service.MaxPageSize+1)

		for _, size := range []int{-1, math.MinInt} {
			page, err = h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: size})
			requireInvalid(t, err, "pageSize", "page size %d", size)
			require.Nil(t, page)
		}
	})

	t.Run("a page token that this listing did not issue is rejected", func(t *testing.T) {
		// CONTRACT L2
		t.Parallel()
		h := s.open(t)
		for _, app := range []string{"app", "other-app"} {
			for _, user := range []string{"u", "uu", "uuu"} {
				for i := range 3 {
					h.create(key(app, user, fmt.Sprintf("s%d", i)), nil)
				}
			}
		}
		token := func(app, user string) string {
			page, err := h.svc.List(h.ctx, app, user, service.ListOptions{PageSize: 1})
			require.NoError(t, err)
			require.NotEmpty(t, page.NextPageToken)
			return page.NextPageToken
		}
		sess := h.get(key("app", "u", "s0"))
		h.appendDelta(sess, nil)
		h.appendDelta(sess, nil)
		evPage, err := h.svc.ListEvents(h.ctx, sess.Key(), service.ListEventsOptions{PageSize: 1})
		require.NoError(t, err)
		require.NotEmpty(t, evPage.NextPageToken)

		type bad struct{ app, user, token, why string }
		var cases []bad
		for _, garbage := range []string{"garbage", "!!!!", "AAAAAAAAAAAAAAAA", "aGVsbG8gd29ybGQ", "=", " ", "\x00", strings.Repeat("A", 4096)} {
			cases = append(cases, bad{"app", "", garbage, "garbage"})
		}
		for _, user := range []string{"", "u", "uu", "uuu"} {
			tok := token("app", user)
			cases = append(cases,
				bad{"app", user, tok[:len(tok)-1], "truncated"},
				bad{"app", user, tok + "A", "extended"},
				bad{"app", user, " " + tok, "padded"},
			)
			for i, f := range flipped(tok) {
				cases = append(cases, bad{"app", user, f, fmt.Sprintf("character %d of %d flipped", i, len(tok))})
			}
			cases = append(cases, bad{"other-app", user, tok, "from another app"})
		}
		cases = append(cases,
			bad{"app", "uu", token("app", "u"), "from another user"},
			bad{"app", "", token("app", "u"), "from one user's listing in the app-wide one"},
			bad{"app", "u", token("app", ""), "from the app-wide listing in one user's"},
			bad{"app", "u", evPage.NextPageToken, "from ListEvents"},
		)
		for _, c := range cases {
			page, err := h.svc.List(h.ctx, c.app, c.user, service.ListOptions{PageSize: 1, PageToken: c.token})
			if !assert.ErrorIs(t, err, service.ErrInvalidArgument, "token %s (%q) accepted by List(%q, %q)", c.why, c.token, c.app, c.user) {
				continue
			}
			assert.Contains(t, err.Error(), "pageToken")
			assert.Nil(t, page)
		}
	})
}

// flipped returns tok with each character in turn replaced by the next one
// of the base64url alphabet (another character if it is not in it).
func flipped(tok string) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := make([]string, 0, len(tok))
	for i := range len(tok) {
		c := tok[i] ^ 1
		if j := strings.IndexByte(alphabet, tok[i]); j >= 0 {
			c = alphabet[(j+1)%len(alphabet)]
		}
		out = append(out, tok[:i]+string(c)+tok[i+1:])
	}
	return out
}
