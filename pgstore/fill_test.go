package pgstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// fillSQL writes, straight into a migrated schema's tables, what the store
// would hold after creating `sessions` sessions ("s1", "s2", ... of the
// users "u0" to "u99" of app "app", each with {"n": 0, "user:tier":
// "gold"}) and appending `events` events to each ("e1", "e2", ..., each
// with the delta {"n": seq}), one session after another: the records in
// the store's format, the sessions' rows and the state tables. It is many
// times faster than appending through a store, and projection.Verify
// checks that it agrees with the store's format.
const fillSQL = `
INSERT INTO §.sessions (app, user_id, session_id, created, version, updated)
SELECT 'app', convert_to('u' || (i % 100), 'UTF8'), convert_to('s' || i, 'UTF8'), (i - 1) * ($2 + 1) + 1, $2,
	to_char((timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (i - 1) * ($2 + 1) + 1 + $2)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS".000000000Z"')
FROM generate_series(1, $1) i;

INSERT INTO §.records (position, kind, app, user_id, session_id, seq, event_id, body)
SELECT (i - 1) * ($2 + 1) + 1 + j, CASE WHEN j = 0 THEN 1 ELSE 2 END, 'app', convert_to('u' || (i % 100), 'UTF8'),
	convert_to('s' || i, 'UTF8'), j, CASE WHEN j > 0 THEN convert_to('e' || j, 'UTF8') END,
	convert_to(CASE WHEN j = 0 THEN
		format('{"position":0,"kind":"sessionCreated","key":{"appName":"app","userId":"u%s","id":"s%s"},"state":{"n":0,"user:tier":"gold"},"time":"%s"}',
			i % 100, i, t)
	ELSE
		format('{"position":0,"kind":"eventAppended","key":{"appName":"app","userId":"u%s","id":"s%s"},"seq":%s,"event":{"id":"e%s","timestamp":"%s","author":"user","content":{"parts":[{"text":"event %s of session %s"}],"role":"user"},"actions":{"stateDelta":{"n":%s}}},"time":"%s"}',
			i % 100, i, j, j, t, j, i, j, t)
	END, 'UTF8')
FROM generate_series(1, $1) i, generate_series(0, $2) j,
	LATERAL (SELECT to_char((timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => (i - 1) * ($2 + 1) + 1 + j)) AT TIME ZONE 'UTC',
		'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS t) tt;

INSERT INTO §.session_state (app, user_id, session_id, key, value, position)
SELECT 'app', convert_to('u' || (i % 100), 'UTF8'), convert_to('s' || i, 'UTF8'), 'n', convert_to($2::int::text, 'UTF8'), (i - 1) * ($2 + 1) + 1 + $2
FROM generate_series(1, $1) i;

UPDATE §.sessions s SET state = (SELECT e.state FROM §.encode_state(s.app, s.user_id, s.session_id) e);

INSERT INTO §.user_values (app, user_id, key, value, position)
SELECT 'app', convert_to('u' || (i % 100), 'UTF8'), 'tier', '"gold"', max((i - 1) * ($2 + 1) + 1)
FROM generate_series(1, $1) i GROUP BY i % 100;

SELECT setval('§.positions', $1 * ($2 + 1));
`

// fill runs fillSQL over schema, which must be empty, in one transaction.
func fill(t testing.TB, schema string, sessions, events int) {
	t.Helper()
	ctx := context.Background()
	conn := pgxConn(t)
	start := time.Now()
	sql := strings.ReplaceAll(fillSQL, "§", pgx.Identifier{schema}.Sanitize())
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	for _, stmt := range strings.Split(sql, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		var args []any // the parameters of the statements that take them
		if strings.Contains(stmt, "$1") {
			args = []any{sessions, events}
		}
		_, err := tx.Exec(ctx, stmt, args...)
		require.NoError(t, err, "fill: %.80s", strings.TrimSpace(stmt))
	}
	require.NoError(t, tx.Commit(ctx))
	t.Logf("filled schema %s with %d sessions of %d events in %v", schema, sessions, events, time.Since(start).Round(time.Millisecond))
}

// filledKey is the key of the fill's session i (from 1).
func filledKey(i int) eventlog.SessionKey {
	return eventlog.SessionKey{AppName: "app", UserID: fmt.Sprintf("u%d", i%100), SessionID: fmt.Sprintf("s%d", i)}
}
