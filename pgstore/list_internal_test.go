package pgstore

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// A page's statement returns the state of its sessions in rows of their
// own. List does not depend on the order in which they come (L2): a
// state row that comes before its session's row, or after another
// session's, still lands in the right view; a state row whose session the
// page does not hold is an error, not a silent loss.
func TestListTakesAPagesRowsInAnyOrder(t *testing.T) {
	ctx := t.Context()
	s := &Store{pool: testPool(t)}

	const rows = `SELECT k::smallint, u::bytea, i::bytea, c::bigint, v::bigint, t::text, key::bytea, value::bytea
FROM (VALUES %s) AS r(k, u, i, c, v, t, key, value)`
	const t1 = "'2026-01-02T03:04:05.000000006Z'"
	page := `(3, 'u1', 's2', NULL, NULL, NULL, 'b', '2'),
(2, 'u1', 's1', 1, 1, ` + t1 + `, NULL, NULL),
(3, 'u1', 's1', NULL, NULL, NULL, 'a', '1'),
(1, 'u1', NULL, NULL, NULL, NULL, 'user:n', '{"x":1}'),
(2, 'u1', 's2', 2, 3, ` + t1 + `, NULL, NULL),
(3, 'u1', 's2', NULL, NULL, NULL, 'c', '[3]'),
(3, 'u1', 's1', NULL, NULL, NULL, 'd', '{"e":4}'),
(0, NULL, NULL, NULL, NULL, NULL, 'app:m', 'true')`
	views, err := s.list(ctx, "app", fmtRows(rows, page), nil)
	require.NoError(t, err)
	require.Len(t, views, 2)
	assert.Equal(t, eventlog.SessionKey{AppName: "app", UserID: "u1", SessionID: "s1"}, views[0].Key)
	assert.Equal(t, map[string]any{"a": 1, "d": map[string]any{"e": 4}, "user:n": map[string]any{"x": 1}, "app:m": true}, views[0].State)
	assert.Equal(t, eventlog.Position(2), views[1].Created)
	assert.Equal(t, uint64(3), views[1].Version)
	assert.Equal(t, map[string]any{"b": 2, "c": []any{3}, "user:n": map[string]any{"x": 1}, "app:m": true}, views[1].State)
	// Shared values are copies: one view's change does not reach another's.
	views[0].State["user:n"].(map[string]any)["x"] = 2
	assert.Equal(t, map[string]any{"x": 1}, views[1].State["user:n"])

	_, err = s.list(ctx, "app", fmtRows(rows, `(2, 'u1', 's1', 1, 1, `+t1+`, NULL, NULL),
(3, 'u1', 's9', NULL, NULL, NULL, 'a', '1')`), nil)
	assert.ErrorContains(t, err, `state of session "s9" of user "u1" has no session row`)

	_, err = s.list(ctx, "app", fmtRows(rows, `(2, 'u1', 's1', 1, 1, `+t1+`, NULL, NULL),
(3, 'u1', 's1', NULL, NULL, NULL, 'a', '{')`), nil)
	assert.ErrorContains(t, err, `state "a" is damaged`)

	_, err = s.list(ctx, "app", fmtRows(rows, `(2, 'u1', 's1', 1, NULL, `+t1+`, NULL, NULL)`), nil)
	assert.ErrorContains(t, err, "row is damaged")
}

func fmtRows(rows, values string) string {
	return strings.Replace(rows, "%s", values, 1)
}
