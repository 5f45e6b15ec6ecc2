package servicetest

import (
	"context"
	"fmt"
	"iter"
	"testing"

	"github.com/google/uuid"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// k1 checks CONTRACT K1.
func (s suite) k1(t *testing.T) {
	blanks := []string{"", " ", "\t", " \n\t ", "\u00a0", "\u3000"}

	t.Run("a blank app name or user ID is rejected by every call and creates nothing", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		existing := h.create(key("app", "user", "s"), map[string]any{"k": "v"})
		before := h.exportJSON()
		for _, blank := range blanks {
			for _, tc := range []struct {
				field string
				key   service.SessionKey
			}{
				{"appName", key(blank, "user", "s")},
				{"userId", key("app", blank, "s")},
			} {
				what := fmt.Sprintf("%s %q", tc.field, blank)
				sess, err := h.svc.Create(h.ctx, tc.key, map[string]any{"k": "new", "app:a": 1, "user:u": 1})
				requireInvalid(t, err, tc.field, "Create with "+what)
				require.Nil(t, sess)
				sess, err = h.svc.Create(h.ctx, service.SessionKey{AppName: tc.key.AppName, UserID: tc.key.UserID}, nil)
				requireInvalid(t, err, tc.field, "Create with a generated ID and "+what)
				require.Nil(t, sess)

				sess, err = h.svc.Get(h.ctx, tc.key, service.GetOptions{})
				requireInvalid(t, err, tc.field, "Get with "+what)
				require.Nil(t, sess)

				requireInvalid(t, h.svc.Delete(h.ctx, tc.key), tc.field, "Delete with "+what)

				handle := &service.Session{AppName: tc.key.AppName, UserID: tc.key.UserID, ID: tc.key.SessionID}
				ev, err := h.svc.AppendEvent(h.ctx, handle, delta(map[string]any{"k": "appended", "app:a": 2}))
				requireInvalid(t, err, tc.field, "AppendEvent with "+what)
				require.Nil(t, ev)

				page, err := h.svc.ListEvents(h.ctx, tc.key, service.ListEventsOptions{})
				requireInvalid(t, err, tc.field, "ListEvents with "+what)
				require.Nil(t, page)

				err = h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
					return h.svc.Subscribe(ctx, tc.key, 0)
				})
				requireInvalid(t, err, tc.field, "Subscribe with "+what)
			}

			page, err := h.svc.List(h.ctx, blank, "user", service.ListOptions{})
			requireInvalid(t, err, "appName", "List with app name %q", blank)
			require.Nil(t, page)
			if blank != "" { // an empty user ID lists every user (L1)
				page, err = h.svc.List(h.ctx, "app", blank, service.ListOptions{})
				requireInvalid(t, err, "userId", "List with user ID %q", blank)
				require.Nil(t, page)
				err = h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
					return h.svc.SubscribeUser(ctx, "app", blank, 0)
				})
				requireInvalid(t, err, "userId", "SubscribeUser with user ID %q", blank)
			}
			err = h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return h.svc.SubscribeApp(ctx, blank, 0)
			})
			requireInvalid(t, err, "appName", "SubscribeApp with app name %q", blank)
		}
		require.Equal(t, before, h.exportJSON(), "a rejected call changed the log")
		require.Equal(t, []string{"user/s"}, sessionIDs(h.list("app", "", 0)))
		got := h.get(existing.Key())
		require.Equal(t, map[string]any{"k": "v"}, got.State)
		require.Empty(t, got.Events)
		h.verify()
	})

	t.Run("a name that is not valid UTF-8 is rejected by every call and stores nothing", func(t *testing.T) {
		// CONTRACT K1: JSON cannot carry such a name, so two of them would
		// become one in a file, a database or an export.
		t.Parallel()
		h := s.open(t)
		existing := h.create(key("app", "user", "s"), map[string]any{"k": "v"})
		h.appendEvent(existing, &service.Event{ID: "e1"})
		before := h.exportJSON()
		for _, bad := range []string{"a\xff", "\xfe", "x\xc3", "\xed\xa0\x80"} {
			for _, tc := range []struct {
				field string
				key   service.SessionKey
			}{
				{"appName", key(bad, "user", "s")},
				{"userId", key("app", bad, "s")},
				{"sessionId", key("app", "user", bad)},
			} {
				what := fmt.Sprintf("%s %q", tc.field, bad)
				sess, err := h.svc.Create(h.ctx, tc.key, map[string]any{"k": "new", "app:a": 1})
				requireInvalid(t, err, tc.field, "Create with "+what)
				require.Nil(t, sess)
				_, err = h.svc.Get(h.ctx, tc.key, service.GetOptions{})
				requireInvalid(t, err, tc.field, "Get with "+what)
				requireInvalid(t, h.svc.Delete(h.ctx, tc.key), tc.field, "Delete with "+what)
				handle := &service.Session{AppName: tc.key.AppName, UserID: tc.key.UserID, ID: tc.key.SessionID}
				_, err = h.svc.AppendEvent(h.ctx, handle, delta(map[string]any{"app:a": 2}))
				requireInvalid(t, err, tc.field, "AppendEvent with "+what)
				_, err = h.svc.ListEvents(h.ctx, tc.key, service.ListEventsOptions{})
				requireInvalid(t, err, tc.field, "ListEvents with "+what)
				rec := &service.Record{Kind: eventlog.KindSessionCreated, Key: tc.key, Time: epoch}
				err = h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(rec, nil) })
				require.ErrorIs(t, err, service.ErrInvalidArgument, "Import with "+what)
			}
			_, err := h.svc.List(h.ctx, bad, "", service.ListOptions{})
			requireInvalid(t, err, "appName", "List with app name %q", bad)
			_, err = h.svc.List(h.ctx, "app", bad, service.ListOptions{})
			requireInvalid(t, err, "userId", "List with user ID %q", bad)
			// An event ID that is not UTF-8 would collide the same way.
			_, err = h.svc.AppendEvent(h.ctx, existing, &service.Event{ID: "e" + bad})
			require.ErrorIs(t, err, service.ErrInvalidArgument, "AppendEvent with event ID %q", "e"+bad)
		}
		require.Equal(t, before, h.exportJSON(), "a rejected call changed the log")
		h.verify()
	})

	t.Run("importing a record whose key has a blank app name or user ID is rejected", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		for _, blank := range blanks {
			for _, k := range []service.SessionKey{key(blank, "user", "s"), key("app", blank, "s")} {
				rec := &service.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: epoch, State: map[string]any{"k": "v"}}
				err := h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(rec, nil) })
				assert.ErrorIs(t, err, service.ErrInvalidArgument, "import a creation of %v", k)
			}
		}
		require.Empty(t, h.export(), "a rejected import stored records")
	})

	t.Run("a session ID is trimmed", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		sess := h.create(key("app", "user", "  x \t"), map[string]any{"k": "v"})
		require.Equal(t, "x", sess.ID)
		require.Equal(t, "x", h.get(key("app", "user", "x")).ID)
		require.Equal(t, "x", h.get(key("app", "user", "\tx  ")).ID, "Get trims too")
		h.appendDelta(&service.Session{AppName: "app", UserID: "user", ID: " x "}, map[string]any{"k": "w"})
		require.Equal(t, "w", h.get(key("app", "user", "x")).State["k"], "AppendEvent trims the handle's ID")
		require.Len(t, h.events(key("app", "user", " x"), 0), 1, "ListEvents trims")
		_, err := h.svc.Create(h.ctx, key("app", "user", "x "), nil)
		require.ErrorIs(t, err, service.ErrAlreadyExists)
		require.NoError(t, h.svc.Delete(h.ctx, key("app", "user", " x")))
		_, err = h.svc.Get(h.ctx, key("app", "user", "x"), service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound, "Delete trims")
	})

	t.Run("an empty or blank session ID generates a new random UUID", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t, realTimeAndIDs)
		seen := map[string]bool{}
		for _, id := range []string{"", "", " ", "\t\n"} {
			sess := h.create(key("app", "user", id), map[string]any{"k": "v"})
			_, err := uuid.Parse(sess.ID)
			require.NoError(t, err, "generated session ID %q is not a UUID", sess.ID)
			require.False(t, seen[sess.ID], "session ID %q generated twice", sess.ID)
			seen[sess.ID] = true
			require.Equal(t, "v", h.get(sess.Key()).State["k"])
		}
		require.Len(t, h.list("app", "user", 0), 4)
	})

	t.Run("an empty session ID uses the service's ID generator", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		sess := h.create(key("app", "user", ""), nil)
		require.Equal(t, "id-000001", sess.ID)
		h.get(key("app", "user", "id-000001"))
	})

	t.Run("a blank session ID is rejected where a session must exist", func(t *testing.T) {
		// CONTRACT K1
		t.Parallel()
		h := s.open(t)
		h.create(key("app", "user", "s"), nil)
		for _, blank := range blanks {
			_, err := h.svc.Get(h.ctx, key("app", "user", blank), service.GetOptions{})
			requireInvalid(t, err, "sessionId", "Get")
			requireInvalid(t, h.svc.Delete(h.ctx, key("app", "user", blank)), "sessionId", "Delete")
			_, err = h.svc.AppendEvent(h.ctx, &service.Session{AppName: "app", UserID: "user", ID: blank}, &service.Event{})
			requireInvalid(t, err, "sessionId", "AppendEvent")
			_, err = h.svc.ListEvents(h.ctx, key("app", "user", blank), service.ListEventsOptions{})
			requireInvalid(t, err, "sessionId", "ListEvents")
		}
		require.Len(t, h.list("app", "", 0), 1)
	})
}

// k2 checks CONTRACT K2.
func (s suite) k2(t *testing.T) {
	pairs := []struct {
		name string
		a, b service.SessionKey
	}{
		{"a colon in the app name is not a colon in the user ID", key("a:b", "c", "s"), key("a", "b:c", "s")},
		{"a slash in the app name is not a slash in the user ID", key("a/b", "c", "s"), key("a", "b/c", "s")},
		{"a NUL in the app name is not a NUL in the user ID", key("a\x00b", "c", "s"), key("a", "b\x00c", "s")},
		{"a colon in the user ID is not a colon in the session ID", key("a", "b:c", "d"), key("a", "b", "c:d")},
		{"a slash in the user ID is not a slash in the session ID", key("a", "b/c", "d"), key("a", "b", "c/d")},
		{"a NUL in the user ID is not a NUL in the session ID", key("a", "b\x00c", "d"), key("a", "b", "c\x00d")},
		{"session IDs that differ by a trailing NUL are different", key("a", "u", "s"), key("a", "u", "s\x00")},
		{"user IDs that differ by a trailing NUL are different", key("a", "u", "s"), key("a", "u\x00", "s")},
		{"a composed é in the app name is not a decomposed one", key("caf\u00e9", "u", "s"), key("cafe\u0301", "u", "s")},
		{"a composed é in the user ID is not a decomposed one", key("a", "caf\u00e9", "s"), key("a", "cafe\u0301", "s")},
		{"a composed é in the session ID is not a decomposed one", key("a", "u", "caf\u00e9"), key("a", "u", "cafe\u0301")},
		{"user a is not user a:b", key("app", "a", "s"), key("app", "a:b", "s")},
		{"user app is not the app prefix", key("app", "app:", "s"), key("app", "user:", "s")},
		{"letter case matters", key("App", "User", "S"), key("app", "user", "s")},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			// CONTRACT K2
			t.Parallel()
			h := s.open(t)
			sameApp := p.a.AppName == p.b.AppName
			sameUser := sameApp && p.a.UserID == p.b.UserID

			a := h.create(p.a, map[string]any{"own": "A", "user:who": "A", "app:who": "A"})
			h.appendDelta(a, map[string]any{"own": "A1"})

			// Nothing under b sees, changes or deletes a.
			_, err := h.svc.Get(h.ctx, p.b, service.GetOptions{})
			require.ErrorIs(t, err, service.ErrNotFound, "Get of b found a")
			_, err = h.svc.ListEvents(h.ctx, p.b, service.ListEventsOptions{})
			require.ErrorIs(t, err, service.ErrNotFound, "ListEvents of b found a")
			if !sameUser {
				require.Empty(t, h.list(p.b.AppName, p.b.UserID, 0), "List of b's user lists a")
			}
			if !sameApp {
				require.Empty(t, h.list(p.b.AppName, "", 0), "List of b's app lists a")
			}
			require.NoError(t, h.svc.Delete(h.ctx, p.b))
			_, err = h.svc.AppendEvent(h.ctx, &service.Session{AppName: p.b.AppName, UserID: p.b.UserID, ID: p.b.SessionID},
				delta(map[string]any{"own": "B!"}))
			require.ErrorIs(t, err, service.ErrNotFound, "an append to b reached a")
			gotA := h.get(p.a)
			require.Equal(t, uint64(1), gotA.Version)
			require.Equal(t, "A1", gotA.State["own"])

			// b is a session of its own.
			b, err := h.svc.Create(h.ctx, p.b, map[string]any{"own": "B"})
			require.NoError(t, err, "creating b collided with a")
			require.Equal(t, "B", b.State["own"])
			if !sameUser {
				require.NotContains(t, b.State, "user:who", "b sees a's user state")
			}
			if !sameApp {
				require.NotContains(t, b.State, "app:who", "b sees a's app state")
			}
			h.appendDelta(b, map[string]any{"own": "B1", "user:who": "B", "app:who": "B"})
			h.appendDelta(b, map[string]any{"own": "B2"})

			gotA = h.get(p.a)
			require.Equal(t, uint64(1), gotA.Version, "b's appends reached a")
			require.Len(t, gotA.Events, 1)
			require.Equal(t, "A1", gotA.State["own"])
			if !sameUser {
				require.Equal(t, "A", gotA.State["user:who"], "b's user state reached a")
			}
			if !sameApp {
				require.Equal(t, "A", gotA.State["app:who"], "b's app state reached a")
			}
			gotB := h.get(p.b)
			require.Equal(t, uint64(2), gotB.Version)
			require.Equal(t, "B2", gotB.State["own"])

			listedA := sessionIDs(h.list(p.a.AppName, p.a.UserID, 0))
			if sameUser {
				require.ElementsMatch(t, []string{p.a.UserID + "/" + p.a.SessionID, p.b.UserID + "/" + p.b.SessionID}, listedA)
			} else {
				require.Equal(t, []string{p.a.UserID + "/" + p.a.SessionID}, listedA)
			}

			// Deleting b leaves a alone.
			require.NoError(t, h.svc.Delete(h.ctx, p.b))
			gotA = h.get(p.a)
			require.Equal(t, uint64(1), gotA.Version)
			require.Len(t, h.events(p.a, 0), 1)
			_, err = h.svc.Get(h.ctx, p.b, service.GetOptions{})
			require.ErrorIs(t, err, service.ErrNotFound)
			h.verify()
		})
	}
}
