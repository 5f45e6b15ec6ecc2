package bench

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"testing"

	adksession "google.golang.org/adk/v2/session"
	"google.golang.org/adk/v2/session/database"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// The SQLite workloads run sessionlog's sqlitestore and the Go ADK's
// gorm-based session/database service over gorm's SQLite driver
// (gorm.io/driver/sqlite: mattn/go-sqlite3, cgo), each side in a database
// file of its own in one temporary directory, on one file system, in one
// run.

// adkSQLiteMode is how the ADK's SQLite database is opened: the settings a
// team passes in the file name (mattn/go-sqlite3's DSN parameters).
type adkSQLiteMode struct {
	// name names the mode in benchmark names.
	name string
	// params are the DSN parameters.
	params url.Values
}

var (
	// adkWAL is the ADK side of every comparison: write-ahead log and
	// synchronous=FULL (an fsync of the log at every commit), as
	// sqlitestore's SyncFull. Write transactions begin IMMEDIATE, so that
	// concurrent writers wait for the write lock (busy timeout 5 s, the
	// driver's default) instead of failing with "database is locked" when
	// two read-then-write transactions meet. Foreign keys are on, so that
	// deleting a session deletes its events, as the ADK's schema declares
	// (ON DELETE CASCADE) and as sessionlog's deletion does.
	adkWAL = adkSQLiteMode{"adk", url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {"FULL"},
		"_txlock":       {"immediate"},
		"_busy_timeout": {"5000"},
		"_foreign_keys": {"1"},
	}}
	// adkNormal is adkWAL with synchronous=NORMAL: in WAL mode a commit
	// is not synced, only a checkpoint is; sessionlog's SyncNormal is its
	// counterpart.
	adkNormal = adkSQLiteMode{"adk-normal", url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {"NORMAL"},
		"_txlock":       {"immediate"},
		"_busy_timeout": {"5000"},
		"_foreign_keys": {"1"},
	}}
	// adkDefaults is the driver as it comes, sqlite.Open(path): a rollback
	// journal (journal_mode=DELETE) and synchronous=FULL, deferred
	// transactions, foreign keys off. Only the one-writer append runs it:
	// with many writers its read-then-write transactions fail with
	// "database is locked".
	adkDefaults = adkSQLiteMode{"adk-defaults", nil}
	// adkFill is how the set-up writes: no fsync at all. The workloads
	// reopen the file in their own mode afterwards.
	adkFill = adkSQLiteMode{"adk-fill", url.Values{
		"_journal_mode": {"WAL"},
		"_synchronous":  {"OFF"},
		"_txlock":       {"immediate"},
		"_busy_timeout": {"5000"},
		"_foreign_keys": {"1"},
	}}
)

// dsn is the mode's file name for the database at path.
func (m adkSQLiteMode) dsn(path string) string {
	if len(m.params) == 0 {
		return path
	}
	return "file:" + path + "?" + m.params.Encode()
}

// openADKSQLite opens the ADK's database service over the SQLite file at
// path in mode and runs its AutoMigrate, as a starting program does. Only
// gorm's logger is silenced. The close function closes its connections.
func openADKSQLite(path string, mode adkSQLiteMode) (adksession.Service, func() error, error) {
	svc, closeDB, err := connectADKSQLite(path, mode)
	if err != nil {
		return nil, nil, err
	}
	if err := database.AutoMigrate(svc); err != nil {
		return nil, nil, errors.Join(err, closeDB())
	}
	return svc, closeDB, nil
}

// connectADKSQLite is openADKSQLite without the AutoMigrate.
func connectADKSQLite(path string, mode adkSQLiteMode) (adksession.Service, func() error, error) {
	// What sqlite.Open(dsn) does inside, kept here so it can be closed.
	db, err := sql.Open(sqlite.DriverName, mode.dsn(path))
	if err != nil {
		return nil, nil, err
	}
	svc, err := database.NewSessionService(sqlite.New(sqlite.Config{Conn: db}),
		&gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		return nil, nil, errors.Join(err, db.Close())
	}
	return svc, db.Close, nil
}

// newADKSQLite is openADKSQLite closed when tb ends.
func newADKSQLite(tb testing.TB, path string, mode adkSQLiteMode) adksession.Service {
	tb.Helper()
	svc, closeDB, err := openADKSQLite(path, mode)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := closeDB(); err != nil {
			tb.Errorf("close %s: %v", path, err)
		}
	})
	return svc
}

// sqlitePath is a fresh database file name in tb's temporary directory.
func sqlitePath(tb testing.TB, name string) string {
	return filepath.Join(tb.TempDir(), name+".db")
}

// sqliteDB opens the SQLite file at path for the fills and the checks,
// of either side, with mattn/go-sqlite3 alone (no gorm, no service) and
// without fsync.
func sqliteDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(sqlite.DriverName, adkFill.dsn(path))
	if err != nil {
		tb.Fatal(err)
	}
	// One connection, so that every statement sees the same transaction
	// state and the file is closed when tb ends.
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// adkSQLiteFillSQL fills the ADK's four tables, made by its AutoMigrate,
// with what its service writes for the fills' sessions (see slFillSQL in
// pg_test.go for the workload they describe), in the text formats
// mattn/go-sqlite3 writes: a time as Go's "2006-01-02
// 15:04:05.999999999-07:00", a bool as an integer, a JSON column as the
// text json.Marshal makes. n(i) counts from 1 to ?1 (sessions), e(j)
// from 0 to ?2 - 1 (events). TestSQLiteFillsMatchTheServices checks the
// fill against the same sessions written through the service.
const adkSQLiteFillSQL = `
CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?1) SELECT i FROM c;

CREATE TEMP TABLE e AS WITH RECURSIVE c(j) AS (SELECT 0 UNION ALL SELECT j + 1 FROM c WHERE j < ?2 - 1)
SELECT j, strftime('%Y-%m-%d %H:%M:%S', '2026-01-01 00:00:00', '+' || (j / 1000) || ' seconds')
	|| CASE WHEN j % 1000 = 0 THEN '' ELSE rtrim(printf('.%03d', j % 1000), '0') END || '+00:00' AS ts
FROM c;

INSERT INTO sessions (app_name, user_id, id, state, create_time, update_time)
SELECT 'app', 'u' || (i % 100), 's' || i, '{"k":' || (?2 - 1) || '}', '2026-01-01 00:00:00+00:00',
	(SELECT ts FROM e WHERE j = ?2 - 1)
FROM n;

INSERT INTO events (id, app_name, user_id, session_id, invocation_id, author, actions, timestamp, content, partial, turn_complete, interrupted)
SELECT 'e' || j, 'app', 'u' || (i % 100), 's' || i, '', 'agent',
	CAST('{"stateDelta":{"app:a":' || j || ',"k":' || j || ',"user:u":' || j || '}}' AS BLOB),
	ts, '{"parts":[{"text":"It is sunny."}],"role":"model"}', 0, 0, 0
FROM n, e;

INSERT INTO user_states (app_name, user_id, state, update_time)
SELECT 'app', 'u' || (i % 100), '{"u":' || (?2 - 1) || '}', '0001-01-01 00:00:00+00:00' FROM n WHERE i <= 100;

INSERT INTO app_states (app_name, state, update_time)
SELECT 'app', '{"a":' || (?2 - 1) || '}', '0001-01-01 00:00:00+00:00' WHERE ?1 > 0;

DROP TABLE n;

DROP TABLE e;
`

// fillADKSQLite makes the ADK's tables in a fresh file with its
// AutoMigrate and fills them with sessions×events events; it returns the
// file's path.
func fillADKSQLite(tb testing.TB, sessions, events int) string {
	tb.Helper()
	path := sqlitePath(tb, "adk")
	_, closeDB, err := openADKSQLite(path, adkFill)
	if err == nil {
		err = closeDB()
	}
	if err != nil {
		tb.Fatal(err)
	}
	runSQLiteFill(tb, sqliteDB(tb, path), adkSQLiteFillSQL, sessions, events)
	return path
}

// adkFilledGet reads session i of a fill through the ADK's service.
func adkFilledGet(ctx context.Context, svc adksession.Service, i, recent int) (*adksession.GetResponse, error) {
	return svc.Get(ctx, &adksession.GetRequest{AppName: appName, UserID: filledUser(i), SessionID: filledSession(i), NumRecentEvents: recent})
}
