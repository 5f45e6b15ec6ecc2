package servicetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/service"
)

// e1 checks CONTRACT E1.
func (s suite) e1(t *testing.T) {
	t.Run("pages hold the default 100 events, at most 1000, and the last page has no token", func(t *testing.T) {
		// CONTRACT E1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		page, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.NoError(t, err)
		require.Empty(t, page.Events, "no events")
		require.Empty(t, page.NextPageToken)

		var want []string
		appendN := func(n int) {
			for range n {
				want = append(want, h.appendEvent(sess, &service.Event{}).ID)
			}
		}
		appendN(service.DefaultPageSize)
		page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.NoError(t, err)
		require.Equal(t, want, ids(page.Events), "exactly one default page")
		require.Empty(t, page.NextPageToken)

		appendN(1)
		page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.NoError(t, err)
		require.Equal(t, want[:service.DefaultPageSize], ids(page.Events))
		require.NotEmpty(t, page.NextPageToken)
		rest, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageToken: page.NextPageToken})
		require.NoError(t, err)
		require.Equal(t, want[service.DefaultPageSize:], ids(rest.Events))
		require.Empty(t, rest.NextPageToken)

		appendN(service.MaxPageSize - len(want))
		for _, size := range []int{service.MaxPageSize, service.MaxPageSize + 1, math.MaxInt} {
			page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size})
			require.NoError(t, err)
			require.Equal(t, want, ids(page.Events), "exactly one full page of size %d", size)
			require.Empty(t, page.NextPageToken)
		}
		appendN(1)
		for _, size := range []int{service.MaxPageSize + 1, 5000, math.MaxInt} {
			page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size})
			require.NoError(t, err)
			require.Len(t, page.Events, service.MaxPageSize, "page size %d is clamped", size)
			require.NotEmpty(t, page.NextPageToken)
			rest, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size, PageToken: page.NextPageToken})
			require.NoError(t, err)
			require.Equal(t, want[service.MaxPageSize:], ids(rest.Events))
			require.Empty(t, rest.NextPageToken)
		}
		require.Equal(t, want, ids(h.events(k, 7)), "pages of seven")
		require.Equal(t, want, ids(h.events(k, 1)), "pages of one")

		for _, size := range []int{-1, math.MinInt} {
			page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size})
			requireInvalid(t, err, "pageSize", "page size %d", size)
			require.Nil(t, page)
		}
	})

	t.Run("a token stays valid while events are appended", func(t *testing.T) {
		// CONTRACT E1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		for i := range 3 {
			h.appendEvent(sess, &service.Event{ID: fmt.Sprintf("e%d", i+1)})
		}
		page, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 2})
		require.NoError(t, err)
		require.Equal(t, []string{"e1", "e2"}, ids(page.Events))
		h.appendEvent(sess, &service.Event{ID: "e4"})
		rest, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 2, PageToken: page.NextPageToken})
		require.NoError(t, err)
		require.Equal(t, []string{"e3", "e4"}, ids(rest.Events))
		require.Empty(t, rest.NextPageToken)
	})

	t.Run("a missing session is not found and a foreign or broken token is rejected", func(t *testing.T) {
		// CONTRACT E1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		other := key("app", "user", "other")
		for _, sk := range []service.SessionKey{k, other, key("app", "user2", "s")} {
			sess := h.create(sk, nil)
			for range 3 {
				h.appendDelta(sess, nil)
			}
		}
		page, err := h.svc.ListEvents(h.ctx, key("app", "user", "missing"), service.ListEventsOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		require.Nil(t, page)

		first, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 1})
		require.NoError(t, err)
		tok := first.NextPageToken
		require.NotEmpty(t, tok)
		listTok, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: 1})
		require.NoError(t, err)

		type bad struct {
			key   service.SessionKey
			token string
			why   string
		}
		cases := []bad{
			{k, "garbage", "garbage"},
			{k, "AAAAAAAAAAAAAAAAAAAA", "garbage"},
			{k, tok[:len(tok)-1], "truncated"},
			{k, tok + "A", "extended"},
			{other, tok, "from another session"},
			{key("app", "user2", "s"), tok, "from another user"},
			{k, listTok.NextPageToken, "from List"},
		}
		for i, f := range flipped(tok) {
			cases = append(cases, bad{k, f, fmt.Sprintf("character %d of %d flipped", i, len(tok))})
		}
		for _, c := range cases {
			page, err := h.svc.ListEvents(h.ctx, c.key, service.ListEventsOptions{PageSize: 1, PageToken: c.token})
			if !assert.ErrorIs(t, err, service.ErrInvalidArgument, "token %s (%q) accepted for %v", c.why, c.token, c.key) {
				continue
			}
			assert.Contains(t, err.Error(), "pageToken")
			assert.Nil(t, page)
		}

		// A token from before a delete and re-create names a session that
		// no longer exists.
		require.NoError(t, h.svc.Delete(h.ctx, k))
		sess := h.create(k, nil)
		for range 3 {
			h.appendDelta(sess, nil)
		}
		page, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 1, PageToken: tok})
		require.ErrorIs(t, err, service.ErrInvalidArgument, "a token of the deleted session")
		require.Nil(t, page)
	})
}
