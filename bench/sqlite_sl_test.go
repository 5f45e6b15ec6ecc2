package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sessionlog/sessionlog/service"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// slSQLiteSyncs are the sync policies the writer workloads run
// sessionlog's SQLite store with, as sqlitestore.SyncPolicy.String names
// them.
var slSQLiteSyncs = []string{"full", "normal"}

// openSLSQLite opens a sessionlog service over the SQLite file at path
// (sqlitestore.Open, its defaults but the sync policy named). Closing the
// service closes the store.
func openSLSQLite(ctx context.Context, path, policyName string) (*service.Service, error) {
	policy, err := sqlitestore.ParseSyncPolicy(policyName)
	if err != nil {
		return nil, err
	}
	store, err := sqlitestore.Open(ctx, path, sqlitestore.Options{Sync: policy})
	if err != nil {
		return nil, err
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return svc, nil
}

// newSLSQLite is openSLSQLite closed when tb ends.
func newSLSQLite(tb testing.TB, path, policyName string) *service.Service {
	tb.Helper()
	svc, err := openSLSQLite(context.Background(), path, policyName)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := svc.Close(); err != nil {
			tb.Errorf("close %s: %v", path, err)
		}
	})
	return svc
}

// slSQLiteFillSQL fills sqlitestore's tables as pgstore's slFillSQL fills
// pgstore's (pg_test.go): the same records, bodies and state, in SQLite's
// dialect, every key and value a BLOB as the store binds them, and the
// sessions' last update time in the store's sortable form (nine
// fractional digits). Session i's creation is at position
// (i-1)*(?2+1)+1 and its event j-1 at the position after that plus j.
// n(i) counts from 1 to ?1 (sessions), e(j) from 0 to ?2 (events), t being
// event j-1's time as Go's RFC 3339 with nanoseconds writes it.
const slSQLiteFillSQL = `
CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1) SELECT i FROM c;

CREATE TEMP TABLE e AS WITH RECURSIVE c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j < ?2)
SELECT j, strftime('%Y-%m-%dT%H:%M:%S', '2026-01-01 00:00:00', '+' || ((j - 1) / 1000) || ' seconds')
	|| CASE WHEN (j - 1) % 1000 = 0 THEN '' ELSE rtrim(printf('.%03d', (j - 1) % 1000), '0') END || 'Z' AS t
FROM c;

INSERT INTO sessions (app, user_id, session_id, created, version, updated)
SELECT CAST('app' AS BLOB), CAST('u' || (i % 100) AS BLOB), CAST('s' || i AS BLOB), (i - 1) * (?2 + 1) + 1, ?2,
	strftime('%Y-%m-%dT%H:%M:%S', '2026-01-01 00:00:00', '+' || ((?2 - 1) / 1000) || ' seconds') || printf('.%03d000000Z', (?2 - 1) % 1000)
FROM n;

INSERT INTO records (position, kind, app, user_id, session_id, seq, event_id, body)
SELECT (i - 1) * (?2 + 1) + 1 + j, CASE WHEN j = 0 THEN 1 ELSE 2 END, CAST('app' AS BLOB), CAST('u' || (i % 100) AS BLOB),
	CAST('s' || i AS BLOB), j, CASE WHEN j > 0 THEN CAST('e' || (j - 1) AS BLOB) END,
	CAST(CASE WHEN j = 0 THEN
		format('{"position":0,"kind":"sessionCreated","key":{"appName":"app","userId":"u%d","id":"s%d"},"time":"2026-01-01T00:00:00Z"}',
			i % 100, i)
	ELSE
		format('{"position":0,"kind":"eventAppended","key":{"appName":"app","userId":"u%d","id":"s%d"},"seq":%d,"event":{"id":"e%d","author":"agent","timestamp":"%s","content":{"parts":[{"text":"It is sunny."}],"role":"model"},"actions":{"stateDelta":{"app:a":%d,"k":%d,"user:u":%d}}},"time":"%s"}',
			i % 100, i, j, j - 1, t, j - 1, j - 1, j - 1, t)
	END AS BLOB)
FROM n, e;

INSERT INTO session_state (app, user_id, session_id, key, value, position)
SELECT CAST('app' AS BLOB), CAST('u' || (i % 100) AS BLOB), CAST('s' || i AS BLOB), CAST('k' AS BLOB), CAST(CAST(?2 - 1 AS TEXT) AS BLOB), i * (?2 + 1)
FROM n;

INSERT INTO user_state (app, user_id, key, value, position)
SELECT CAST('app' AS BLOB), CAST('u' || (i % 100) AS BLOB), CAST('u' AS BLOB), CAST(CAST(?2 - 1 AS TEXT) AS BLOB), max(i * (?2 + 1))
FROM n GROUP BY i % 100;

INSERT INTO app_state (app, key, value, position)
SELECT CAST('app' AS BLOB), CAST('a' AS BLOB), CAST(CAST(?2 - 1 AS TEXT) AS BLOB), ?1 * (?2 + 1) WHERE ?1 > 0;

UPDATE head SET position = ?1 * (?2 + 1);

DROP TABLE n;

DROP TABLE e;
`

// fillSLSQLite makes sqlitestore's tables in a fresh file (sqlitestore.Open
// migrates it), closes the store and fills them with sessions×events
// events; it returns the file's path.
func fillSLSQLite(tb testing.TB, sessions, events int) string {
	tb.Helper()
	path := sqlitePath(tb, "sessionlog")
	store, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
	if err == nil {
		err = store.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	// The store is closed: its SQLite (modernc.org/sqlite) and the fill's
	// (mattn/go-sqlite3) never hold the file at once.
	db := sqliteDB(tb, path)
	runSQLiteFill(tb, db, slSQLiteFillSQL, sessions, events)
	if err := db.Close(); err != nil {
		tb.Fatal(fmt.Errorf("close the fill's connection: %w", err))
	}
	return path
}
