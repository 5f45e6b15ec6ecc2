package memstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
)

// The in-memory store serves a session's past with its app's and user's
// state exactly as they stood then: writes of other sessions of the app
// and the user before that point show, later ones do not, the writes a
// deleted session left behind count at their own positions, and another
// user's state never shows.
func TestLoadAsOfServesAppAndUserStateAsTheyWere(t *testing.T) {
	// CONTRACT T1
	ctx := context.Background()
	store := memstore.New()
	s, sib, other := key("app", "u1", "s"), key("app", "u1", "sibling"), key("app", "u2", "o")
	mustAppend(t, store, created(s, map[string]any{"a": 1, "app:x": "created", "user:y": "created"}))
	mustAppend(t, store, created(sib, nil))
	mustAppend(t, store, created(other, nil))
	mustAppend(t, store, appended(s, 1, "s1", map[string]any{"a": 2}))
	mustAppend(t, store, appended(sib, 1, "sib1", map[string]any{"app:x": "sibling", "user:y": "sibling"}))
	mustAppend(t, store, appended(other, 1, "o1", map[string]any{"user:y": "other user", "app:z": 1}))
	mustAppend(t, store, appended(s, 2, "s2", map[string]any{"user:y": projection.Removed}))
	mustAppend(t, store, deleted(sib))
	mustAppend(t, store, appended(s, 3, "s3", map[string]any{"b": true}))
	mustAppend(t, store, appended(other, 2, "o2", map[string]any{"app:x": "later"}))

	want := []map[string]any{
		{"a": 1, "app:x": "created", "user:y": "created"},
		{"a": 2, "app:x": "created", "user:y": "created"},
		{"a": 2, "app:x": "sibling", "app:z": 1},
		{"a": 2, "b": true, "app:x": "sibling", "app:z": 1},
	}
	for v, state := range want {
		for _, noEvents := range []bool{false, true} {
			version := uint64(v)
			got, err := store.Load(ctx, s, eventlog.LoadOptions{AsOf: &version, NoEvents: noEvents})
			require.NoError(t, err)
			require.Equal(t, state, got.State, "version %d", v)
			require.Equal(t, version, got.Version)
			require.Equal(t, t0.Add(time.Duration(v)*time.Second), got.LastUpdateTime, "version %d", v)
			if noEvents {
				require.Empty(t, got.Events)
			} else {
				require.Len(t, got.Events, v)
			}
		}
	}
	require.Equal(t, map[string]any{"a": 2, "b": true, "app:x": "later", "app:z": 1}, load(t, store, s).State, "as it is")

	v := uint64(4)
	_, err := store.Load(ctx, s, eventlog.LoadOptions{AsOf: &v})
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	require.ErrorContains(t, err, "version 4 is beyond the session's version 3")
	requireVerified(t, store)
}
