package pgstore

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// The state a session's row carries (encode_state, migration 7) decodes
// to what session_state holds for the session, whatever bytes its keys
// and values are (L2): SQL encodes it and Go decodes it.
func TestEncodedStateDecodesToTheSessionsKeys(t *testing.T) {
	ctx := t.Context()
	pool := testPool(t)
	s := testSchema(t, pool)
	long := `"` + strings.Repeat("v", 100_000) + `"`
	keys := map[string]string{
		"":                       `1`,
		"a":                      `{"b":[1,2,{"c":null}]}`,
		"\x00\xff":               `"odd key"`,
		"k\x00":                  long,
		strings.Repeat("k", 999): `true`,
	}
	for k, v := range keys {
		_, err := pool.Exec(ctx, `INSERT INTO `+s+`.session_state (app, user_id, session_id, key, value, position) VALUES ('app', 'u', 's', $1, $2, 1)`,
			[]byte(k), []byte(v))
		require.NoError(t, err)
	}
	encoded := func(user, id string) []byte {
		var b []byte
		require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM `+s+`.encode_state('app', $1, $2)`, []byte(user), []byte(id)).Scan(&b))
		return b
	}
	got := map[string]any{}
	b := encoded("u", "s")
	require.NoError(t, decodeOwnState(got, b))
	want := map[string]any{}
	for k, v := range keys {
		value, err := eventlog.DecodeValue([]byte(v))
		require.NoError(t, err)
		want[k] = value
	}
	assert.Equal(t, want, got)

	none := encoded("u", "other")
	assert.Empty(t, none, "a session without keys encodes to no bytes")
	assert.NoError(t, decodeOwnState(map[string]any{}, none))

	// Cut anywhere inside, the bytes are reported as damaged.
	for _, n := range []int{1, 3, 4, 5, 8, len(b) - 1} {
		assert.ErrorIs(t, decodeOwnState(map[string]any{}, b[:n]), errDamagedState, "cut at %d", n)
	}
	_, err := pool.Exec(ctx, `UPDATE `+s+`.session_state SET value = '{' WHERE key = 'a'`)
	require.NoError(t, err)
	assert.ErrorContains(t, decodeOwnState(map[string]any{}, encoded("u", "s")), `state "a" is damaged`)
}

// List does not depend on the order in which a page's statement returns
// its rows (L2): the app's and a user's state that come after the
// sessions' rows still reach every view of the page, as copies.
func TestListTakesAPagesRowsInAnyOrder(t *testing.T) {
	ctx := t.Context()
	pool := testPool(t)
	s := testSchema(t, pool)
	st := &Store{pool: pool}
	for _, r := range [][3]string{{"u1", "a", "1"}, {"u1", "d", `{"e":4}`}, {"u2", "b", "2"}, {"u2", "c", "[3]"}} {
		_, err := pool.Exec(ctx, `INSERT INTO `+s+`.session_state (app, user_id, session_id, key, value, position) VALUES ('app', $1, 's', $2, $3, 1)`,
			[]byte(r[0]), []byte(r[1]), []byte(r[2]))
		require.NoError(t, err)
	}
	const rows = `SELECT k::smallint, u::bytea, i::bytea, c::bigint, v::bigint, t::text, key::bytea, value::bytea
FROM (VALUES %s) AS r(k, u, i, c, v, t, key, value)`
	const t1 = "'2026-01-02T03:04:05.000000006Z'"
	state := func(user string) string {
		return `(SELECT state FROM ` + s + `.encode_state('app', '` + user + `', 's'))`
	}
	page := `(2, 'u1', 's', 1, 1, ` + t1 + `, NULL, ` + state("u1") + `),
(1, 'u2', NULL, NULL, NULL, NULL, 'user:n', '{"x":2}'),
(2, 'u2', 's', 2, 3, ` + t1 + `, NULL, ` + state("u2") + `),
(2, 'u3', 's', 4, 5, ` + t1 + `, NULL, ''),
(1, 'u1', NULL, NULL, NULL, NULL, 'user:n', '{"x":1}'),
(0, NULL, NULL, NULL, NULL, NULL, 'app:m', '{"y":1}')`
	views, err := st.list(ctx, "app", 3, fmtRows(rows, page), nil)
	require.NoError(t, err)
	require.Len(t, views, 3)
	assert.Equal(t, eventlog.SessionKey{AppName: "app", UserID: "u1", SessionID: "s"}, views[0].Key)
	assert.Equal(t, map[string]any{"a": 1, "d": map[string]any{"e": 4}, "user:n": map[string]any{"x": 1}, "app:m": map[string]any{"y": 1}}, views[0].State)
	assert.Equal(t, eventlog.Position(2), views[1].Created)
	assert.Equal(t, uint64(3), views[1].Version)
	assert.Equal(t, map[string]any{"b": 2, "c": []any{3}, "user:n": map[string]any{"x": 2}, "app:m": map[string]any{"y": 1}}, views[1].State)
	assert.Equal(t, map[string]any{"app:m": map[string]any{"y": 1}}, views[2].State)
	// Shared values are copies: one view's change does not reach another's.
	views[0].State["app:m"].(map[string]any)["y"] = 2
	assert.Equal(t, map[string]any{"y": 1}, views[1].State["app:m"])
	assert.Equal(t, map[string]any{"y": 1}, views[2].State["app:m"])

	_, err = st.list(ctx, "app", 1, fmtRows(rows, `(2, 'u1', 's', 1, 1, `+t1+`, NULL, '\x0000')`), nil)
	assert.ErrorIs(t, err, errDamagedState)
	assert.ErrorContains(t, err, `session "app"/"u1"/"s": its encoded state is damaged`)

	_, err = st.list(ctx, "app", 1, fmtRows(rows, `(2, 'u1', 's1', 1, NULL, `+t1+`, NULL, '')`), nil)
	assert.ErrorContains(t, err, "row is damaged")
}

func fmtRows(rows, values string) string {
	return strings.Replace(rows, "%s", values, 1)
}
