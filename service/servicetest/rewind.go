package servicetest

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/service"
)

// invDelta is an event of invocation inv that sets kv.
func invDelta(inv string, kv map[string]any) *service.Event {
	return &service.Event{InvocationID: inv, Actions: service.EventActions{StateDelta: kv}}
}

// asOf reads the session k as it stood after version v.
func (h *harness) asOf(k service.SessionKey, v uint64) *service.Session {
	h.t.Helper()
	past, err := h.svc.Get(h.ctx, k, service.GetOptions{AtVersion: &v})
	require.NoError(h.t, err, "get %v as of version %d", k, v)
	return past
}

// t2 checks rewinds: the appended event, the state it restores, and the
// reads that leave out what it annulled.
func (s suite) t2(t *testing.T) {
	t.Run("a rewind restores the session's own keys as of the point", func(t *testing.T) {
		// CONTRACT T2 C2 R1
		t.Parallel()
		h := s.open(t)
		k, sib := key("app", "u", "s"), key("app", "u", "sibling")
		sess := h.create(k, map[string]any{"a": 1, "c": "created", "keep": "k", "app:x": "a0", "user:y": "u0"})
		h.appendEvent(sess, invDelta("inv1", map[string]any{"a": 2, "b": "x"}))
		h.appendEvent(sess, invDelta("inv2", map[string]any{
			"a": 3, "b": service.Removed, "c": "changed", "d": "new", "app:x": "a2", "user:y": "u2", "temp:t": 1,
		}))
		h.appendEvent(sess, invDelta("inv2", map[string]any{"e": map[string]any{"deep": []any{1, "two"}}}))
		before := h.get(k)
		point := h.asOf(k, 1)

		rw, err := h.svc.Rewind(h.ctx, k, "inv2", service.RewindOptions{})
		require.NoError(t, err)
		require.Equal(t, "inv2", rw.Actions.RewindBeforeInvocationID)
		require.Equal(t, service.RewindAuthor, rw.Author)
		require.NotEmpty(t, rw.ID)
		require.NotEmpty(t, rw.InvocationID)
		require.NotEqual(t, "inv2", rw.InvocationID, "the rewind has an invocation of its own")
		require.Equal(t, normalize(t, map[string]any{
			"a": 2, "b": "x", "c": "created", "d": service.Removed, "e": service.Removed,
		}), normalize(t, rw.Actions.StateDelta), "each session key written at or after the point, and only those")

		after := h.get(k)
		require.Equal(t, normalize(t, ownPart(point.State)), normalize(t, ownPart(after.State)), "the own state as of the point")
		require.Equal(t, "k", after.State["keep"], "a creation key no event wrote is untouched")
		require.Equal(t, normalize(t, sharedPart(before.State)), normalize(t, sharedPart(after.State)), "app: and user: state are not rewound")
		require.Equal(t, "a2", h.get(h.create(sib, nil).Key()).State["app:x"], "another session sees the app state as it is")
		require.Equal(t, uint64(4), after.Version, "the rewind is one more event")
		require.Equal(t, eventsJSON(t, before.Events), eventsJSON(t, after.Events[:3]), "nothing leaves the log")
		require.Equal(t, eventsJSON(t, []*service.Event{rw}), eventsJSON(t, after.Events[3:]))
		h.verify()
	})

	t.Run("a rewind to version 0 restores the creation state", func(t *testing.T) {
		// CONTRACT T2 C2
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, map[string]any{"a": 1, "n": map[string]any{"x": 1}, "user:y": "u0"})
		created := normalize(t, ownPart(sess.State))
		h.appendEvent(sess, invDelta("inv1", map[string]any{"a": 2, "n": service.Removed, "user:y": "u1"}))
		h.appendEvent(sess, invDelta("inv2", map[string]any{"b": true}))

		rw, err := h.svc.RewindToVersion(h.ctx, k, 0, service.RewindOptions{})
		require.NoError(t, err)
		require.Equal(t, "inv1", rw.Actions.RewindBeforeInvocationID, "the invocation of the event after the version")
		after := h.get(k)
		require.Equal(t, created, normalize(t, ownPart(after.State)), "the keys set at creation have their creation values")
		require.Equal(t, "u1", after.State["user:y"], "user: state is not rewound")
		h.verify()
	})

	t.Run("a rewind to a version is a rewind to the invocation that begins after it", func(t *testing.T) {
		// CONTRACT T2
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, nil)
		h.appendEvent(sess, invDelta("inv1", map[string]any{"a": 1}))
		h.appendEvent(sess, invDelta("inv2", map[string]any{"a": 2}))
		h.appendEvent(sess, invDelta("inv2", map[string]any{"a": 3}))
		h.appendEvent(sess, &service.Event{Content: text("no invocation")})

		_, err := h.svc.RewindToVersion(h.ctx, k, 2, service.RewindOptions{})
		requireInvalid(t, err, "version", "version 2 is inside invocation inv2")
		_, err = h.svc.RewindToVersion(h.ctx, k, 3, service.RewindOptions{})
		requireInvalid(t, err, "version", "the event after version 3 has no invocation ID")
		_, err = h.svc.RewindToVersion(h.ctx, k, 4, service.RewindOptions{})
		requireInvalid(t, err, "version", "nothing after the session's version")
		_, err = h.svc.RewindToVersion(h.ctx, k, 5, service.RewindOptions{})
		requireInvalid(t, err, "version", "a version beyond the session's")
		_, err = h.svc.Rewind(h.ctx, k, "no-such-invocation", service.RewindOptions{})
		requireInvalid(t, err, "no-such-invocation")
		_, err = h.svc.Rewind(h.ctx, k, "", service.RewindOptions{})
		requireInvalid(t, err, "beforeInvocationId")
		_, err = h.svc.Rewind(h.ctx, key("app", "u", "missing"), "inv1", service.RewindOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		require.Equal(t, uint64(4), h.get(k).Version, "no refused rewind stored anything")

		rw, err := h.svc.RewindToVersion(h.ctx, k, 1, service.RewindOptions{})
		require.NoError(t, err)
		require.Equal(t, "inv2", rw.Actions.RewindBeforeInvocationID)
		require.Equal(t, 1, h.get(k).State["a"])
		h.verify()
	})

	t.Run("a rewind through a handle goes only into the session the handle was read from", func(t *testing.T) {
		// CONTRACT T2 A6 D2
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		old := h.create(k, nil)
		h.appendEvent(old, invDelta("inv1", map[string]any{"a": 1}))
		h.appendEvent(old, invDelta("inv2", map[string]any{"a": 2}))
		require.NoError(t, h.svc.Delete(h.ctx, k))
		fresh := h.create(k, nil)
		h.appendEvent(fresh, invDelta("inv1", map[string]any{"a": "new 1"}))
		h.appendEvent(fresh, invDelta("inv2", map[string]any{"a": "new 2"}))
		require.Equal(t, old.Version, fresh.Version, "both sessions of the key are at version 2")

		_, err := h.svc.Rewind(h.ctx, k, "inv2", service.RewindOptions{Session: old})
		require.ErrorIs(t, err, service.ErrNotFound, "the handle's session was deleted")
		_, err = h.svc.Rewind(h.ctx, k, "inv-none", service.RewindOptions{Session: old})
		require.ErrorIs(t, err, service.ErrNotFound, "a point the new session does not hold: the handle's session is gone first")
		_, err = h.svc.RewindToVersion(h.ctx, k, 5, service.RewindOptions{Session: old})
		require.ErrorIs(t, err, service.ErrNotFound)
		_, err = h.svc.RewindToVersion(h.ctx, k, 1, service.RewindOptions{Session: old})
		require.ErrorIs(t, err, service.ErrNotFound)
		require.Equal(t, uint64(2), h.get(k).Version, "the new session is untouched")

		_, err = h.svc.Rewind(h.ctx, key("app", "u", "other"), "inv2", service.RewindOptions{Session: fresh})
		require.ErrorIs(t, err, service.ErrInvalidArgument, "a handle of another key")
		h.appendEvent(fresh, invDelta("inv3", map[string]any{"a": "new 3"}))
		stale := *fresh
		stale.Version = 2
		_, err = h.svc.Rewind(h.ctx, k, "inv2", service.RewindOptions{Session: &stale})
		require.ErrorIs(t, err, service.ErrStaleSession, "the session holds an event the handle has not seen")
		rw, err := h.svc.Rewind(h.ctx, k, "inv2", service.RewindOptions{Session: fresh})
		require.NoError(t, err)
		require.Equal(t, "inv2", rw.Actions.RewindBeforeInvocationID)
		got := h.get(k)
		require.Equal(t, uint64(4), got.Version)
		require.Equal(t, "new 1", got.State["a"])
		require.Equal(t, uint64(3), fresh.Version, "the handle is not changed")
		h.verify()
	})

	t.Run("a rewind is an append: a stale version is refused and a retry stores nothing new", func(t *testing.T) {
		// CONTRACT T2 A6 A7
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, nil)
		h.appendEvent(sess, invDelta("inv1", map[string]any{"a": 1}))
		stale := sess.Version
		h.appendEvent(sess, invDelta("inv2", map[string]any{"a": 2}))

		_, err := h.svc.Rewind(h.ctx, k, "inv2", service.RewindOptions{ExpectVersion: &stale})
		require.ErrorIs(t, err, service.ErrStaleSession)
		require.Equal(t, uint64(2), h.get(k).Version, "a refused rewind stores nothing")

		current := sess.Version
		opts := service.RewindOptions{EventID: "rewind-1", ExpectVersion: &current}
		first, err := h.svc.Rewind(h.ctx, k, "inv2", opts)
		require.NoError(t, err)
		require.Equal(t, "rewind-1", first.ID)
		again, err := h.svc.Rewind(h.ctx, k, "inv2", opts)
		require.NoError(t, err, "a retry with the same event ID")
		require.Equal(t, eventsJSON(t, []*service.Event{first}), eventsJSON(t, []*service.Event{again}), "the retry returns the stored rewind")
		after := h.get(k)
		require.Equal(t, uint64(3), after.Version, "the retry stored nothing")
		require.Equal(t, 1, after.State["a"])

		_, err = h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"a": 9}))
		require.ErrorIs(t, err, service.ErrStaleSession, "a handle from before the rewind is stale")
		h.verify()
	})

	t.Run("SkipRewound leaves out the events a rewind annulled", func(t *testing.T) {
		// CONTRACT T2 G2
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, nil)
		e1 := h.appendEvent(sess, invDelta("inv1", map[string]any{"a": 1}))
		h.appendEvent(sess, invDelta("inv2", map[string]any{"a": 2}))
		h.appendEvent(sess, invDelta("inv2", map[string]any{"b": 2}))
		_, err := h.svc.Rewind(h.ctx, k, "inv2", service.RewindOptions{})
		require.NoError(t, err)
		sess = h.get(k)
		e5 := h.appendEvent(sess, invDelta("inv3", map[string]any{"c": 3}))

		got, err := h.svc.Get(h.ctx, k, service.GetOptions{SkipRewound: true})
		require.NoError(t, err)
		require.Equal(t, ids([]*service.Event{e1, e5}), ids(got.Events))
		require.Equal(t, uint64(5), got.Version, "the version is the session's")
		require.Equal(t, normalize(t, h.get(k).State), normalize(t, got.State), "the state is the session's")

		got, err = h.svc.Get(h.ctx, k, service.GetOptions{SkipRewound: true, NumRecentEvents: 1})
		require.NoError(t, err)
		require.Equal(t, ids([]*service.Event{e5}), ids(got.Events), "NumRecentEvents selects from the active events")

		v := uint64(3)
		got, err = h.svc.Get(h.ctx, k, service.GetOptions{SkipRewound: true, AtVersion: &v})
		require.NoError(t, err)
		require.Len(t, got.Events, 3, "before the rewind nothing was annulled")
		got, err = h.svc.Get(h.ctx, k, service.GetOptions{SkipRewound: true, BeforeInvocation: "inv3"})
		require.NoError(t, err)
		require.Equal(t, ids([]*service.Event{e1}), ids(got.Events))

		require.Len(t, h.get(k).Events, 5, "without the option every event comes")
	})

	t.Run("ListEvents with SkipRewound pages through the events no rewind annulled", func(t *testing.T) {
		// CONTRACT T2 E1
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, nil)
		var want []*service.Event
		want = append(want, h.appendEvent(sess, invDelta("inv1", map[string]any{"a": 1})))
		h.appendEvent(sess, invDelta("inv2", map[string]any{"a": 2}))
		h.appendEvent(sess, invDelta("inv2", map[string]any{"b": 2}))
		_, err := h.svc.Rewind(h.ctx, k, "inv2", service.RewindOptions{})
		require.NoError(t, err)
		sess = h.get(k)
		for i := range 4 {
			want = append(want, h.appendEvent(sess, invDelta(fmt.Sprint("inv", 3+i), map[string]any{"c": i})))
		}
		for _, size := range []int{1, 2, 3, 5, 100} {
			var got []*service.Event
			tok := ""
			for pages := 0; ; pages++ {
				require.Less(t, pages, 10, "the listing never ends")
				page, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: size, PageToken: tok, SkipRewound: true})
				require.NoError(t, err)
				require.LessOrEqual(t, len(page.Events), size)
				got = append(got, page.Events...)
				if tok = page.NextPageToken; tok == "" {
					break
				}
				require.NotEmpty(t, page.Events, "a page before the last is not empty")
			}
			require.Equal(t, ids(want), ids(got), "page size %d", size)
		}
		all, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: 100})
		require.NoError(t, err)
		require.Len(t, all.Events, 8, "without SkipRewound every event is listed")
	})

	t.Run("a rewind of a rewind", func(t *testing.T) {
		// CONTRACT T2 R1
		t.Parallel()
		h := s.open(t)
		k := key("app", "u", "s")
		sess := h.create(k, map[string]any{"a": 0})
		e1 := h.appendEvent(sess, invDelta("inv1", map[string]any{"a": 1}))
		e2 := h.appendEvent(sess, invDelta("inv2", map[string]any{"a": 2, "b": "two"}))
		r1, err := h.svc.Rewind(h.ctx, k, "inv2", service.RewindOptions{})
		require.NoError(t, err)
		require.Equal(t, 1, h.get(k).State["a"])
		sess = h.get(k)
		h.appendEvent(sess, invDelta("inv3", map[string]any{"c": 3}))

		// Undo the rewind: back to before its own invocation.
		r2, err := h.svc.Rewind(h.ctx, k, r1.InvocationID, service.RewindOptions{})
		require.NoError(t, err)
		require.Equal(t, r1.InvocationID, r2.Actions.RewindBeforeInvocationID)
		after := h.get(k)
		require.Equal(t, normalize(t, ownPart(h.asOf(k, 2).State)), normalize(t, ownPart(after.State)), "the state before the first rewind")
		require.Equal(t, map[string]any{"a": 2, "b": "two"}, ownPart(after.State))
		got, err := h.svc.Get(h.ctx, k, service.GetOptions{SkipRewound: true})
		require.NoError(t, err)
		require.Equal(t, ids([]*service.Event{e1, e2}), ids(got.Events), "the first rewind's annulment is undone")

		// A rewind to a point after the first rewind keeps its annulment.
		sess = h.get(k)
		e6 := h.appendEvent(sess, invDelta("inv4", map[string]any{"d": 4}))
		h.appendEvent(sess, invDelta("inv5", map[string]any{"d": 5, "a": 5}))
		_, err = h.svc.Rewind(h.ctx, k, "inv5", service.RewindOptions{})
		require.NoError(t, err)
		got, err = h.svc.Get(h.ctx, k, service.GetOptions{SkipRewound: true})
		require.NoError(t, err)
		require.Equal(t, ids([]*service.Event{e1, e2, e6}), ids(got.Events))
		require.Equal(t, map[string]any{"a": 2, "b": "two", "d": 4}, ownPart(got.State))
		require.Len(t, h.get(k).Events, 8, "nothing left the log")
		h.verify()
	})
}
