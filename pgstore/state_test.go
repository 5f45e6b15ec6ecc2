package pgstore_test

import (
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

// CONTRACT R1: the app_state and user_state tables, written in the same
// transaction as each record, hold exactly the app and user state a fold
// of the log gives, also after Removed keys and deletions (a removed
// key keeps its row, without a value, for the writes that may follow).
func TestStateTablesFollowTheLog(t *testing.T) {
	schema := newSchema(t)
	store := open(t, schema)
	svc := newService(t, store)
	ctx := t.Context()
	a, err := svc.Create(ctx, key("u1", "a"), map[string]any{"app:color": "red", "user:lang": "go", "own": 1.0})
	require.NoError(t, err)
	b, err := svc.Create(ctx, key("u2", "b"), map[string]any{"user:lang": "rust"})
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, a, delta(map[string]any{"app:color": "blue", "app:size": 3.0, "user:lang": service.Removed}))
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, b, delta(map[string]any{"user:n": map[string]any{"deep": []any{1.0, "x"}}}))
	require.NoError(t, err)
	require.NoError(t, svc.Delete(ctx, b.Key()), "shared state outlives its session")

	conn := pgxConn(t)
	table := func(q string) map[string]any {
		rows, err := conn.Query(ctx, q)
		require.NoError(t, err)
		out := map[string]any{}
		for rows.Next() {
			var k, v []byte
			require.NoError(t, rows.Scan(&k, &v))
			var val any
			require.NoError(t, json.Unmarshal(v, &val))
			out[string(k)] = val
		}
		require.NoError(t, rows.Err())
		return out
	}
	s := pgx.Identifier{schema}.Sanitize()
	apps := table("SELECT key, value FROM " + s + ".app_state WHERE app = 'app' AND value IS NOT NULL")
	users := map[string]map[string]any{}
	for _, u := range []string{"u1", "u2"} {
		users[u] = table("SELECT key, value FROM " + s + ".user_state WHERE app = 'app' AND user_id = '" + u + "' AND value IS NOT NULL")
	}

	fold, err := projection.Rebuild(ctx, store)
	require.NoError(t, err)
	snap := fold.Apps["app"]
	require.NotNil(t, snap)
	assert.Equal(t, snap.State.Values(), apps)
	assert.Equal(t, map[string]any{"color": "blue", "size": 3.0}, apps)
	for u, want := range users {
		assert.Equal(t, snap.Users[u].Values(), want, "user %s", u)
	}
	assert.Equal(t, map[string]any{}, users["u1"], "a Removed key leaves the table")
	assert.Equal(t, map[string]any{"lang": "rust", "n": map[string]any{"deep": []any{1.0, "x"}}}, users["u2"])
}
