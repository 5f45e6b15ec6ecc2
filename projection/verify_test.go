package projection_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
)

// alteredStore serves what the store it wraps serves, changed: each view
// Load returns goes through load, each page List returns through list, and
// each page of a user's List through listUser too.
type alteredStore struct {
	eventlog.Store
	load     func(eventlog.View) (eventlog.View, error)
	list     func(opts eventlog.ListOptions, page []eventlog.View) []eventlog.View
	listUser func(user string, page []eventlog.View) []eventlog.View
}

func (s alteredStore) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	v, err := s.Store.Load(ctx, key, opts)
	if err != nil || s.load == nil {
		return v, err
	}
	return s.load(v)
}

func (s alteredStore) List(ctx context.Context, app, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	page, err := s.Store.List(ctx, app, user, opts)
	if err != nil {
		return page, err
	}
	if s.listUser != nil && user != "" {
		page = s.listUser(user, page)
	}
	if s.list == nil {
		return page, nil
	}
	return s.list(opts, page), nil
}

// onlyFor applies change to the views of one session.
func onlyFor(key eventlog.SessionKey, change func(*eventlog.View)) func(eventlog.View) (eventlog.View, error) {
	return func(v eventlog.View) (eventlog.View, error) {
		if v.Key == key {
			change(&v)
		}
		return v, nil
	}
}

// CONTRACT R1: Verify accepts a store that serves the state its log
// defines, and reports one that serves anything else: a wrong value, a
// stale shared value, a wrong version or incarnation or time, a missing
// session or event, a listing that leaves out, adds, reorders or changes a
// session.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	store := pjLog(t)
	k := pjKey("app", "u2", "s1")
	k2 := pjKey("app", "u1", "s1")

	t.Run("the memory store passes, bare and wrapped", func(t *testing.T) {
		require.NoError(t, projection.Verify(ctx, store))
		require.NoError(t, projection.Verify(ctx, struct{ eventlog.Store }{store}))
		require.NoError(t, projection.Verify(ctx, alteredStore{Store: store}))
	})
	t.Run("an empty store passes", func(t *testing.T) {
		require.NoError(t, projection.Verify(ctx, memstore.New()))
	})

	bad := []struct {
		name  string
		store alteredStore
		msg   []string // what the error must say
	}{
		{"a Load with a changed own value", alteredStore{load: onlyFor(k, func(v *eventlog.View) { v.State["b"] = 2 })},
			[]string{`"u2"/"s1"`, `"b" is 2 (want 1)`}},
		{"a Load with an extra key", alteredStore{load: onlyFor(k, func(v *eventlog.View) { v.State["extra"] = true })},
			[]string{`"extra" = true is not in the log's state`}},
		{"a Load with a missing app key", alteredStore{load: onlyFor(k, func(v *eventlog.View) { delete(v.State, "app:shared") })},
			[]string{`"app:shared" missing`}},
		{"a Load with a stale app value", alteredStore{load: onlyFor(k2, func(v *eventlog.View) { v.State["app:shared"] = "k1 again" })},
			[]string{`"app:shared" is "k1 again"`}},
		{"a Load with a removed key still there", alteredStore{load: onlyFor(k, func(v *eventlog.View) { v.State["user:name"] = "bob" })},
			[]string{`"user:name"`}},
		{"a Load with a changed nested value", alteredStore{load: onlyFor(k, func(v *eventlog.View) {
			v.State["nested"] = map[string]any{"x": []any{1, 3}}
		})}, []string{`"nested"`}},
		{"a Load with another version", alteredStore{load: onlyFor(k, func(v *eventlog.View) { v.Version++ })},
			[]string{"version 2, the log's is 1"}},
		{"a Load with another incarnation", alteredStore{load: onlyFor(k, func(v *eventlog.View) { v.Created++ })},
			[]string{"incarnation"}},
		{"a Load with another last update time", alteredStore{load: onlyFor(k, func(v *eventlog.View) { v.LastUpdateTime = v.LastUpdateTime.Add(1) })},
			[]string{"last update time"}},
		{"a Load without its last event", alteredStore{load: onlyFor(k, func(v *eventlog.View) { v.Events = v.Events[:len(v.Events)-1] })},
			[]string{"events"}},
		{"a Load of a session that is not found", alteredStore{load: func(v eventlog.View) (eventlog.View, error) {
			if v.Key == k {
				return eventlog.View{}, eventlog.ErrNotFound
			}
			return v, nil
		}}, []string{"not found, but the log holds it"}},
		{"a List that leaves a session out", alteredStore{list: func(_ eventlog.ListOptions, page []eventlog.View) []eventlog.View {
			return slices.DeleteFunc(page, func(v eventlog.View) bool { return v.Key == k })
		}}, []string{`List of app "app": sessions`}},
		{"a List that repeats a session", alteredStore{list: func(_ eventlog.ListOptions, page []eventlog.View) []eventlog.View {
			if len(page) > 0 {
				page = append(page, page[len(page)-1])
			}
			return page
		}}, []string{"List of app"}},
		{"a List in another order", alteredStore{list: func(_ eventlog.ListOptions, page []eventlog.View) []eventlog.View {
			slices.Reverse(page)
			return page
		}}, []string{`List of app "app": sessions`}},
		{"a List with a changed state", alteredStore{list: func(_ eventlog.ListOptions, page []eventlog.View) []eventlog.View {
			for i := range page {
				page[i].State = maps.Clone(page[i].State)
				page[i].State["app:shared"] = "stale"
			}
			return page
		}}, []string{`List of app "app", session`, `"app:shared" is "stale"`}},
		{"a List with events", alteredStore{list: func(_ eventlog.ListOptions, page []eventlog.View) []eventlog.View {
			for i := range page {
				page[i].Events = []*eventlog.Event{{ID: "x"}}
			}
			return page
		}}, []string{"a listing carries none"}},
		{"a List that never ends", alteredStore{list: func(opts eventlog.ListOptions, page []eventlog.View) []eventlog.View {
			return slices.Repeat([]eventlog.View{{Key: k}}, opts.Limit)
		}}, []string{"does not end"}},
		{"a Load with an event that is not the log's, under its ID", alteredStore{load: onlyFor(k, func(v *eventlog.View) {
			v.Events = slices.Clone(v.Events)
			forged := v.Events[0].Clone()
			forged.Author = "someone else"
			v.Events[0] = forged
		})}, []string{`Load of "app"/"u2"/"s1": event 1`, "is not the one the log holds"}},
		{"a List of one user that leaves the user's session out", alteredStore{listUser: func(user string, page []eventlog.View) []eventlog.View {
			if user == "u2" {
				return nil
			}
			return page
		}}, []string{`List of app "app", user "u2": sessions []`}},
	}
	for _, tt := range bad {
		t.Run(tt.name+" fails", func(t *testing.T) {
			tt.store.Store = store
			err := projection.Verify(ctx, tt.store)
			require.Error(t, err)
			for _, m := range tt.msg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}

	t.Run("a List that loses a session at each turn of a page fails", func(t *testing.T) {
		many := memstore.New()
		for i := range 5 {
			_, err := many.Append(ctx, pjCreated(0, pjKey("app", "u", string(rune('a'+i))), nil))
			require.NoError(t, err)
		}
		err := projection.Verify(ctx, alteredStore{Store: many, list: func(opts eventlog.ListOptions, page []eventlog.View) []eventlog.View {
			if opts.AfterSession != "" && len(page) > 0 {
				return page[1:] // a later page that skips its first session
			}
			return page
		}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "(in pages of 2)")
	})
	t.Run("a deleted session still served fails", func(t *testing.T) {
		gone := memstore.New()
		dk := pjKey("gone", "u", "s")
		for _, rec := range []*eventlog.Record{pjCreated(0, dk, nil), pjDeleted(0, dk)} {
			_, err := gone.Append(ctx, rec)
			require.NoError(t, err)
		}
		require.NoError(t, projection.Verify(ctx, gone))
		err := projection.Verify(ctx, ghostStore{Store: gone, key: dk})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `Load of "gone"/"u"/"s": found, but the log deleted it`)
		assert.Contains(t, err.Error(), `List of app "gone": sessions ["gone"/"u"/"s"], the log holds []`)
	})
	t.Run("a store whose Load fails gives that error", func(t *testing.T) {
		boom := errors.New("boom")
		err := projection.Verify(ctx, alteredStore{Store: store, load: func(eventlog.View) (eventlog.View, error) { return eventlog.View{}, boom }})
		require.ErrorIs(t, err, boom)
	})
	t.Run("a closed store gives ErrClosed", func(t *testing.T) {
		closed := pjLog(t)
		require.NoError(t, closed.Close())
		require.ErrorIs(t, projection.Verify(ctx, closed), eventlog.ErrClosed)
	})
	t.Run("many differences are counted, the first few described", func(t *testing.T) {
		many := memstore.New()
		for i := range 30 {
			_, err := many.Append(ctx, pjCreated(0, pjKey("app", "u", string(rune('a'+i))), map[string]any{"n": i}))
			require.NoError(t, err)
		}
		err := projection.Verify(ctx, alteredStore{Store: many, load: func(v eventlog.View) (eventlog.View, error) {
			v.Version = 9
			return v, nil
		}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "(30 differences)")
		assert.Contains(t, err.Error(), "and 10 more")
	})
}

// ghostStore serves the session at key, which its log deleted, as if it
// were still there: Load finds it and List lists it.
type ghostStore struct {
	eventlog.Store
	key eventlog.SessionKey
}

func (s ghostStore) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	if key == s.key {
		return eventlog.View{Key: key, Created: 1}, nil
	}
	return s.Store.Load(ctx, key, opts)
}

func (s ghostStore) List(ctx context.Context, app, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	page, err := s.Store.List(ctx, app, user, opts)
	if err == nil && app == s.key.AppName && opts.AfterUser == "" && opts.AfterSession == "" {
		page = append(page, eventlog.View{Key: s.key, Created: 1})
	}
	return page, err
}
