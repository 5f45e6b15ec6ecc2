package pgstore_test

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// write_state (one record's writes, a key at a time) and fold_states
// (any writes, in one statement, as a batch of appends folds them) fold
// the same writes into the same state: here the same records, written one
// by one in one schema and all at once in another, with writes of every
// scope, removals, keys written again at later positions and positions
// out of order, leave the same values at the same positions. write_state
// also leaves each session's own state encoded in its row.
func TestWriteStateAgreesWithWriteStates(t *testing.T) {
	one, all := newSchema(t), newSchema(t)
	open(t, one)
	open(t, all)
	ctx := t.Context()
	conn := pgxConn(t)

	type write struct {
		key   string
		value any // nil removes
		scope int16
	}
	type record struct {
		user, session string
		pos           int64
		writes        []write
	}
	records := []record{
		{"u1", "a", 1, []write{{"own", `1`, 0}, {"color", `"red"`, 1}, {"lang", `"go"`, 2}}},
		{"u2", "b", 2, []write{{"lang", `"rust"`, 2}, {"color", `"blue"`, 1}}},
		{"u1", "a", 4, []write{{"own", nil, 0}, {"size", `3`, 1}, {"lang", nil, 2}}},
		{"u1", "c", 3, []write{{"color", `"green"`, 1}, {"mine", `true`, 0}}}, // commits after position 4
		{"u2", "b", 5, []write{{"lang", `"zig"`, 2}, {"size", nil, 1}}},
		{"u1", "a", 6, []write{{"own", `2`, 0}, {"lang", `"c"`, 2}}},
		{"u1", "c", 7, []write{{"mine", nil, 0}}}, // its only key goes
	}
	_, err := conn.Exec(ctx, `INSERT INTO `+pgx.Identifier{one}.Sanitize()+`.sessions (app, user_id, session_id, created, version, updated)
VALUES ('app', 'u1', 'a', 1, 0, ''), ('app', 'u2', 'b', 2, 0, ''), ('app', 'u1', 'c', 3, 0, '')`)
	require.NoError(t, err)
	var apps, users, sessions, keys, values [][]byte
	var scopes []int16
	var positions []int64
	for _, r := range records {
		var rk, rv [][]byte
		var rs []int16
		for _, w := range r.writes {
			var v []byte
			if w.value != nil {
				v = []byte(w.value.(string))
			}
			rk, rv, rs = append(rk, []byte(w.key)), append(rv, v), append(rs, w.scope)
			apps, users, sessions = append(apps, []byte("app")), append(users, []byte(r.user)), append(sessions, []byte(r.session))
			keys, values, scopes, positions = append(keys, []byte(w.key)), append(values, v), append(scopes, w.scope), append(positions, r.pos)
		}
		_, err := conn.Exec(ctx, "SELECT "+pgx.Identifier{one}.Sanitize()+".write_state($1, $2, $3, $4, $5, $6, $7)",
			[]byte("app"), []byte(r.user), []byte(r.session), rk, rv, rs, r.pos)
		require.NoError(t, err)
	}
	_, err = conn.Exec(ctx, "SELECT "+pgx.Identifier{all}.Sanitize()+".fold_states($1, $2, $3, $4, $5, $6, $7)",
		apps, users, sessions, keys, values, scopes, positions)
	require.NoError(t, err)

	state := func(schema string) []string {
		s := pgx.Identifier{schema}.Sanitize()
		rows, err := conn.Query(ctx, `SELECT 'session ' || convert_from(user_id, 'UTF8') || '/' || convert_from(session_id, 'UTF8'), key, value, position FROM `+s+`.session_state
UNION ALL SELECT 'app', key, value, position FROM `+s+`.app_state
UNION ALL SELECT 'user ' || convert_from(user_id, 'UTF8'), key, value, position FROM `+s+`.user_state
ORDER BY 1, 2`)
		require.NoError(t, err)
		var out []string
		for rows.Next() {
			var scope string
			var key, value []byte
			var pos int64
			require.NoError(t, rows.Scan(&scope, &key, &value, &pos))
			out = append(out, fmt.Sprintf("%s %s=%s @%d", scope, key, value, pos))
		}
		require.NoError(t, rows.Err())
		return out
	}
	got := state(one)
	assert.Equal(t, got, state(all))
	assert.Equal(t, []string{
		`app color="green" @3`,
		`session u1/a own=2 @6`,
		`user u1 lang="c" @6`,
		`user u2 lang="zig" @5`,
	}, got)

	var encoded []string
	rows, err := conn.Query(ctx, `SELECT convert_from(user_id, 'UTF8') || '/' || convert_from(session_id, 'UTF8'), state FROM `+pgx.Identifier{one}.Sanitize()+`.sessions ORDER BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		var state []byte
		require.NoError(t, rows.Scan(&id, &state))
		encoded = append(encoded, fmt.Sprintf("%s %x", id, state))
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{
		"u1/a 000000036f776e0000000132", // own=2
		"u1/c ",                         // no keys left
		"u2/b ",                         // none written
	}, encoded)
}
