package servicetest

import (
	"context"
	"iter"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

// d1 checks CONTRACT D1.
func (s suite) d1(t *testing.T) {
	t.Run("deleting a missing session succeeds and changes nothing", func(t *testing.T) {
		// CONTRACT D1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"k": "v", "app:a": 1, "user:u": 1})
		h.appendDelta(sess, map[string]any{"k": "w"})
		h.create(key("app", "user", "gone"), nil)
		require.NoError(t, h.svc.Delete(h.ctx, key("app", "user", "gone")))
		before := h.exportJSON()
		want := h.get(k)

		for _, missing := range []service.SessionKey{
			key("app", "user", "never"),
			key("app", "user", "gone"),
			key("app", "wrong-user", "s"),
			key("wrong-app", "user", "s"),
			key("app", "user", "S"),
		} {
			require.NoError(t, h.svc.Delete(h.ctx, missing), "delete %v", missing)
		}
		require.Equal(t, before, h.exportJSON(), "deleting missing sessions changed the log")
		got := h.get(k)
		require.Equal(t, want.State, got.State)
		require.Equal(t, ids(want.Events), ids(got.Events))
		require.Equal(t, want.Version, got.Version)
		require.Len(t, h.list("app", "", 0), 1)
		h.verify()
	})

	t.Run("deleting a session twice succeeds both times", func(t *testing.T) {
		// CONTRACT D1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		h.create(k, nil)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		log := h.exportJSON()
		require.NoError(t, h.svc.Delete(h.ctx, k))
		require.Equal(t, log, h.exportJSON())
	})
}

// d2 checks CONTRACT D2.
func (s suite) d2(t *testing.T) {
	t.Run("a deleted session is gone everywhere but its app and user state stays", func(t *testing.T) {
		// CONTRACT D2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"own": "created", "app:from-create": "A", "user:from-create": "U"})
		h.appendDelta(sess, map[string]any{"own": "appended", "app:from-event": "A", "user:from-event": "U"})
		h.appendDelta(sess, map[string]any{"own2": "x"})
		sibling := h.create(key("app", "user", "sibling"), nil)

		sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		require.Len(t, sub.records(2), 2)

		require.NoError(t, h.svc.Delete(h.ctx, k))
		require.NoError(t, sub.end(), "a live subscription must complete without an error")

		_, err := h.svc.Get(h.ctx, k, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		_, err = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		require.Equal(t, []string{"user/sibling"}, sessionIDs(h.list("app", "user", 0)))
		require.Equal(t, []string{"user/sibling"}, sessionIDs(h.list("app", "", 0)))
		version := sess.Version
		_, err = h.svc.AppendEvent(h.ctx, sess, delta(map[string]any{"own": "late", "app:late": 1}))
		require.ErrorIs(t, err, service.ErrNotFound, "append through the old handle")
		require.Equal(t, version, sess.Version, "a failed append changed the handle")
		err = h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.Subscribe(ctx, k, 0) })
		require.ErrorIs(t, err, service.ErrNotFound, "subscribing to a deleted session")

		shared := map[string]any{"app:from-create": "A", "user:from-create": "U", "app:from-event": "A", "user:from-event": "U"}
		require.Equal(t, shared, h.get(sibling.Key()).State)

		again := h.create(k, map[string]any{"fresh": true})
		want := merged(shared, map[string]any{"fresh": true})
		require.Equal(t, want, again.State)
		require.Empty(t, again.Events)
		require.Zero(t, again.Version)
		got := h.get(k)
		require.Equal(t, want, got.State, "the re-created session has the old session's state")
		require.Empty(t, got.Events, "the re-created session has the old session's events")
		require.Zero(t, got.Version)
		require.Empty(t, h.events(k, 0))
		h.verify()
	})

	t.Run("an old handle cannot append to a re-created session of the same ID", func(t *testing.T) {
		// CONTRACT D2: after a delete, an append through an old handle gives
		// ErrNotFound, and a later Create with the same ID starts empty.
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		fresh := h.create(k, nil) // at version 0, like the re-created session
		used := h.get(k)
		h.appendDelta(used, map[string]any{"state": "old"}) // at version 1
		require.NoError(t, h.svc.Delete(h.ctx, k))
		h.create(k, map[string]any{"state": "new"})

		_, err := h.svc.AppendEvent(h.ctx, fresh, delta(map[string]any{"state": "written through the old handle"}))
		assert.ErrorIs(t, err, service.ErrNotFound, "append through a handle at version 0 of the deleted session")
		_, err = h.svc.AppendEvent(h.ctx, used, delta(map[string]any{"state": "written through the old handle"}))
		assert.ErrorIs(t, err, service.ErrNotFound, "append through a handle at version 1 of the deleted session")
		got := h.get(k)
		assert.Equal(t, map[string]any{"state": "new"}, got.State)
		assert.Empty(t, got.Events)
		assert.Zero(t, got.Version)
	})
}

func merged(ms ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// d3 checks CONTRACT D3.
func (s suite) d3(t *testing.T) {
	t.Run("a deleted session's log is freed but its app and user writes survive a rebuild", func(t *testing.T) {
		// CONTRACT D3
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, map[string]any{"own": "x", "app:created": "A", "user:created": "U"})
		h.appendDelta(sess, map[string]any{"own": "y", "app:appended": "A", "user:appended": "U", "user:removed": "gone soon"})
		h.appendDelta(sess, map[string]any{"own": "z", "user:removed": service.Removed})
		h.appendEvent(sess, &service.Event{Content: text("no state")})
		keeper := h.create(key("app", "user", "keeper"), map[string]any{"k": "v"})

		var created service.Position
		for _, rec := range h.export() {
			if rec.Kind == eventlog.KindSessionCreated && rec.Key == k {
				created = rec.Position
			}
		}
		require.NotZero(t, created)

		require.NoError(t, h.svc.Delete(h.ctx, k))

		_, err := h.store.Load(h.ctx, k, eventlog.LoadOptions{})
		require.ErrorIs(t, err, service.ErrNotFound, "the store still serves the deleted session")
		views, err := h.store.List(h.ctx, "app", "", eventlog.ListOptions{Limit: 10})
		require.NoError(t, err)
		require.Len(t, views, 1, "the store still lists the deleted session")
		require.Equal(t, keeper.Key(), views[0].Key)
		for _, incarnation := range []service.Position{0, created} {
			_, _, err = h.store.Read(h.ctx, eventlog.SessionScope(k, incarnation), 0, 100)
			require.ErrorIs(t, err, service.ErrNotFound, "the store still reads the deleted session (incarnation %d)", incarnation)
		}
		all, _, err := h.store.Read(h.ctx, eventlog.Scope{}, 0, 100000)
		require.NoError(t, err)
		for _, rec := range all {
			if rec.Key != k {
				continue
			}
			require.NotContains(t, []eventlog.Kind{eventlog.KindSessionCreated, eventlog.KindEventAppended}, rec.Kind,
				"the store still holds a %s record of the deleted session", rec.Kind)
			require.Nil(t, rec.Event, "the store still holds an event of the deleted session")
			for key := range rec.Writes() {
				require.True(t, strings.HasPrefix(key, "app:") || strings.HasPrefix(key, "user:"),
					"the store still holds session key %q of the deleted session", key)
			}
		}

		wantShared := map[string]any{"app:created": "A", "user:created": "U", "app:appended": "A", "user:appended": "U"}
		require.Equal(t, merged(wantShared, map[string]any{"k": "v"}), h.get(keeper.Key()).State)

		rebuilt, err := projection.Rebuild(h.ctx, h.store)
		require.NoError(t, err)
		app := rebuilt.Apps["app"]
		require.NotNil(t, app, "the rebuild lost the app")
		require.Equal(t, map[string]any{"created": "A", "appended": "A"}, app.State.Values())
		require.Equal(t, map[string]any{"created": "U", "appended": "U"}, app.Users["user"].Values())
		require.NotContains(t, app.Sessions, k)
		require.Contains(t, app.Sessions, keeper.Key())
		h.verify()

		// A fresh service fed the export has the same shared state.
		imported := h.fresh()
		require.NoError(t, imported.svc.Import(imported.ctx, h.svc.Export(h.ctx)))
		require.Equal(t, merged(wantShared, map[string]any{"k": "v"}), imported.get(keeper.Key()).State)
		_, err = imported.svc.Get(imported.ctx, k, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound)
		require.Equal(t, wantShared, imported.create(key("app", "user", "new"), nil).State)
		imported.verify()
	})

	t.Run("the old incarnation of a re-created session cannot be read from the store", func(t *testing.T) {
		// CONTRACT D3
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		h.appendDelta(h.create(k, nil), map[string]any{"n": "one"})
		old, err := h.store.Load(h.ctx, k, eventlog.LoadOptions{})
		require.NoError(t, err)
		require.NoError(t, h.svc.Delete(h.ctx, k))
		h.appendDelta(h.create(k, nil), map[string]any{"n": "two"})
		_, _, err = h.store.Read(h.ctx, eventlog.SessionScope(k, old.Created), 0, 100)
		require.ErrorIs(t, err, service.ErrNotFound)
		cur, err := h.store.Load(h.ctx, k, eventlog.LoadOptions{})
		require.NoError(t, err)
		require.NotEqual(t, old.Created, cur.Created)
		require.Equal(t, uint64(1), cur.Version)
		require.Len(t, cur.Events, 1)
		require.Equal(t, "two", cur.Events[0].Actions.StateDelta["n"])
		recs, _, err := h.store.Read(h.ctx, eventlog.SessionScope(k, cur.Created), 0, 100)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		require.Equal(t, "two", recs[0].Event.Actions.StateDelta["n"])
	})
}
