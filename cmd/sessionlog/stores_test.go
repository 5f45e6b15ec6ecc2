package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// testStore is an empty store of one kind, as a test names it to the
// command and opens it itself.
type testStore struct {
	kind string
	// args name the store on the command line.
	args []string
	// open opens the store for writing; the caller closes it.
	open func(t *testing.T) eventlog.Store
	// exec runs SQL on a PostgreSQL store's database, with the store's
	// quoted schema in place of each %s; nil for other kinds.
	exec func(t *testing.T, sql string) int64
	// path is a SQLite store's file; empty for other kinds.
	path string
}

// with returns the command line args of the command cmd on the store,
// followed by more.
func (s testStore) with(cmd string, more ...string) []string {
	return append(append([]string{cmd}, s.args...), more...)
}

// forEachStore runs f on an empty store of each kind: a file store, a
// SQLite store, and a PostgreSQL store in a schema of its own (skipped,
// saying why, without SESSIONLOG_POSTGRES_DSN).
func forEachStore(t *testing.T, f func(t *testing.T, newStore func(t *testing.T) testStore)) {
	t.Run("file", func(t *testing.T) { f(t, newFileStore) })
	t.Run("sqlite", func(t *testing.T) { f(t, newSQLiteStore) })
	t.Run("postgres", func(t *testing.T) {
		pgDSN(t)
		f(t, newPostgresStore)
	})
}

// newFileStore names a file store in a new directory (made by the first
// write).
func newFileStore(t *testing.T) testStore {
	dir := filepath.Join(t.TempDir(), "store")
	return testStore{
		kind: "file",
		args: []string{"-store", "file:" + dir},
		open: func(t *testing.T) eventlog.Store {
			s, err := filestore.Open(context.Background(), dir, filestore.Options{})
			require.NoError(t, err)
			return s
		},
	}
}

// newSQLiteStore names a SQLite store in a new file (made by the first
// write, which must say -create or open it through the test).
func newSQLiteStore(t *testing.T) testStore {
	path := filepath.Join(t.TempDir(), "sessions.db")
	return testStore{
		kind: "sqlite",
		args: []string{"-store", "sqlite:" + path},
		open: func(t *testing.T) eventlog.Store {
			s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
			require.NoError(t, err)
			return s
		},
		path: path,
	}
}

// pgDSN is the test database's address, from SESSIONLOG_POSTGRES_DSN.
func pgDSN(t *testing.T) string {
	t.Helper()
	v := os.Getenv("SESSIONLOG_POSTGRES_DSN")
	if v == "" {
		t.Skip("SESSIONLOG_POSTGRES_DSN is not set: skipping the command's tests on PostgreSQL " +
			"(.ci/run sets it; locally: SESSIONLOG_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return v
}

// smallPool keeps the pools of the stores a test opens small: the tests
// open many, and the server allows 100 connections.
func smallPool(dsn string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&pool_max_conns=3"
	}
	return dsn + "?pool_max_conns=3"
}

// newPostgresStore names a PostgreSQL store in a schema of the test's own,
// dropped when the test ends, so that runs and tests never see each
// other's data.
func newPostgresStore(t *testing.T) testStore {
	t.Helper()
	dsn := pgDSN(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "sessionlog_cmd_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return testStore{
		kind: "postgres",
		args: []string{"-store", smallPool(dsn), "-schema", schema},
		open: func(t *testing.T) eventlog.Store {
			s, err := pgstore.Open(context.Background(), smallPool(dsn), pgstore.Options{Schema: schema})
			require.NoError(t, err)
			return s
		},
		exec: func(t *testing.T, sql string) int64 {
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsn)
			require.NoError(t, err)
			defer conn.Close(ctx)
			tag, err := conn.Exec(ctx, strings.ReplaceAll(sql, "%s", pgx.Identifier{schema}.Sanitize()))
			require.NoError(t, err)
			return tag.RowsAffected()
		},
	}
}

// fill runs write on a service over the store, with a clock that write
// sets, and closes it.
func (s testStore) fill(t *testing.T, write func(svc *service.Service, now *time.Time)) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	svc, err := service.New(ctx, service.Options{Store: s.open(t), Now: func() time.Time { return now },
		NewID: func() string { n++; return "id-" + string(rune('0'+n)) }})
	require.NoError(t, err)
	write(svc, &now)
	require.NoError(t, svc.Close())
}

// fillSmall writes what makeStore writes: app "weather" with two users
// and three sessions (one deleted), app "news" with one session: 15
// records, of which an export holds 12.
func fillSmall(t *testing.T, s testStore) {
	s.fill(t, func(svc *service.Service, now *time.Time) {
		ctx := context.Background()
		add := func(app, user, id string, events int) {
			*now = now.Add(time.Minute)
			sess, err := svc.Create(ctx, service.SessionKey{AppName: app, UserID: user, SessionID: id}, map[string]any{"app:v": 1, "user:lang": "en"})
			require.NoError(t, err)
			for i := range events {
				*now = now.Add(time.Second)
				_, err := svc.AppendEvent(ctx, sess, &service.Event{ID: id + "-" + string(rune('a'+i)), Author: "agent",
					Actions: service.EventActions{StateDelta: map[string]any{"n": i, "user:seen": i}}})
				require.NoError(t, err)
			}
		}
		add("weather", "ada", "s1", 3)
		add("weather", "ada", "s2", 2)
		add("weather", "bob", "s3", 4)
		add("news", "ada", "n1", 1)
		require.NoError(t, svc.Delete(ctx, service.SessionKey{AppName: "weather", UserID: "bob", SessionID: "s3"}))
	})
}

// CONTRACT L1 D3: inspect lists the apps, users and live sessions of every
// store, with versions, event counts and last updates, filtered by -app
// and -user, as text or JSON lines.
func TestInspectOnEachStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(*testing.T) testStore) {
		s := newStore(t)
		fillSmall(t, s)
		r := sessionlog(t, "", s.with("inspect")...)
		require.Equal(t, 0, r.code, r.stderr)
		_, body, _ := strings.Cut(r.stdout, "\n")
		require.Equal(t, `2 apps
app "news": 1 users, 1 sessions, 1 events, 1 app state keys
  user "ada": 1 sessions, 1 events, 2 user state keys
    session "n1": version 1, 1 events, 1 session state keys, last update 2026-03-01T09:04:10Z
app "weather": 2 users, 2 sessions, 5 events, 1 app state keys
  user "ada": 2 sessions, 5 events, 2 user state keys
    session "s1": version 3, 3 events, 1 session state keys, last update 2026-03-01T09:01:03Z
    session "s2": version 2, 2 events, 1 session state keys, last update 2026-03-01T09:02:05Z
  user "bob": 0 sessions, 0 events, 2 user state keys
`, body)
		require.Regexp(t, `^store .*: 12 records`, r.stdout)

		r = sessionlog(t, "", s.with("inspect", "-user", "ada")...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "\n2 apps\n")
		require.NotContains(t, r.stdout, "bob")

		r = sessionlog(t, "", s.with("inspect", "-app", "weather", "-user", "bob", "-json")...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, `{"kind":"app","app":"weather","users":1,"sessions":0,"events":0,"stateKeys":1}
{"kind":"user","app":"weather","user":"bob","sessions":0,"events":0,"stateKeys":2}
`, r.stdout)

		r = sessionlog(t, "", s.with("inspect", "-app", "weather", "-json")...)
		require.Equal(t, 0, r.code, r.stderr)
		var last sessionLine
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		require.Len(t, lines, 5)
		require.NoError(t, json.Unmarshal([]byte(lines[3]), &last))
		require.Equal(t, sessionLine{Kind: "session", App: "weather", User: "ada", Session: "s2", Version: 2, Events: 2, StateKeys: 1,
			LastUpdate: time.Date(2026, 3, 1, 9, 2, 5, 0, time.UTC)}, last)

		r = sessionlog(t, "", s.with("inspect", "-app", "nope")...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "\n0 apps\n")
	})
}

// keysOf returns the session key of each record, formatted.
func keysOf(recs []*eventlog.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Key.String())
	}
	return out
}

// CONTRACT R2: export writes the whole store, one app, one user or one
// session of every store, and import copies an export into an empty store
// of any kind, positions kept.
func TestExportImportOnEachStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(*testing.T) testStore) {
		s := newStore(t)
		fillSmall(t, s)
		all := sessionlog(t, "", s.with("export")...)
		require.Equal(t, 0, all.code, all.stderr)
		recs := decodeLines(t, all.stdout)
		require.Len(t, recs, 12)
		for i := 1; i < len(recs); i++ {
			require.Less(t, recs[i-1].Position, recs[i].Position)
		}

		app := decodeLines(t, sessionlog(t, "", s.with("export", "-app", "weather")...).stdout)
		require.Len(t, app, 10) // s1 and s2, and the deleted s3's two retained state records and its deletion
		for _, k := range keysOf(app) {
			require.True(t, strings.HasPrefix(k, `"weather"/`), k)
		}
		user := decodeLines(t, sessionlog(t, "", s.with("export", "-app", "weather", "-user", "bob")...).stdout)
		require.Len(t, user, 3)
		require.Equal(t, eventlog.KindStateRetained, user[0].Kind)
		require.Equal(t, eventlog.KindStateRetained, user[1].Kind)
		require.Equal(t, eventlog.KindSessionDeleted, user[2].Kind)
		one := decodeLines(t, sessionlog(t, "", s.with("export", "-app", "weather", "-user", "ada", "-session", "s2", "-format", "records")...).stdout)
		require.Len(t, one, 3)
		doc := sessionlog(t, "", s.with("export", "-app", "weather", "-user", "ada", "-session", "s2")...)
		require.Equal(t, 0, doc.code, doc.stderr)
		require.Contains(t, doc.stdout, `"appName":"weather"`)
		r := sessionlog(t, "", s.with("export", "-app", "weather", "-format", "python")...)
		require.Equal(t, 2, r.code)
		require.Contains(t, r.stderr, "-format python exports one session")

		// Into an empty store of each kind: the copy exports the same.
		for name, dst := range map[string]testStore{"file": newFileStore(t), s.kind: newStore(t)} {
			r := sessionlog(t, all.stdout, dst.with("import", "-create")...)
			require.Equal(t, 0, r.code, "%s: %s", name, r.stderr)
			require.Contains(t, r.stdout, "imported 12 records into ")
			require.Equal(t, all.stdout, sessionlog(t, "", dst.with("export")...).stdout, name)
			require.Equal(t, 0, sessionlog(t, "", dst.with("verify")...).code, name)

			// A second import of records is refused and writes nothing.
			r = sessionlog(t, all.stdout, dst.with("import")...)
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, "nothing imported")
			require.Contains(t, r.stderr, "already holds records")
			require.Equal(t, all.stdout, sessionlog(t, "", dst.with("export")...).stdout, name)

			// An ADK document goes in as a new session.
			doc2 := strings.Replace(doc.stdout, `"id":"s2"`, `"id":"s2-copy"`, 1)
			r = sessionlog(t, doc2, dst.with("import", "-format", "adk")...)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, `imported session "weather"/"ada"/"s2-copy" with 2 events`)
		}

		// An app's export alone makes a store of that app.
		dst := newStore(t)
		r = sessionlog(t, sessionlog(t, "", s.with("export", "-app", "weather")...).stdout, dst.with("import", "-create")...)
		require.Equal(t, 0, r.code, r.stderr)
		r = sessionlog(t, "", dst.with("inspect")...)
		require.Contains(t, r.stdout, "\n1 apps\n")
		require.Contains(t, r.stdout, `app "weather": 2 users, 2 sessions, 5 events`)
	})
}

// CONTRACT R1: verify checks that every store serves the fold of its log.
func TestVerifyOnEachStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(*testing.T) testStore) {
		s := newStore(t)
		fillSmall(t, s)
		r := sessionlog(t, "", s.with("verify")...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "the state it serves (3 sessions) is the fold of its log (12 records)")
	})
}

// CONTRACT R1: verify fails, with exit status 1, on a PostgreSQL store
// whose served state was changed behind its back, and names the
// difference.
func TestVerifyFindsADifferenceOnPostgres(t *testing.T) {
	s := newPostgresStore(t)
	fillSmall(t, s)
	require.EqualValues(t, 1, s.exec(t, `UPDATE %s.session_state SET value = '"tampered"' WHERE ctid = (SELECT min(ctid) FROM %s.session_state)`))
	r := sessionlog(t, "", s.with("verify")...)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "tampered")
	require.Contains(t, r.stderr, "schema sessionlog_cmd_test_")
	require.Empty(t, r.stdout)
}

// CONTRACT R1: verify fails, with exit status 1, on a SQLite store whose
// served state was changed behind its back (here through the driver the
// store itself uses), and names the difference and the file.
func TestVerifyFindsADifferenceOnSQLite(t *testing.T) {
	s := newSQLiteStore(t)
	fillSmall(t, s)
	db, err := sql.Open("sqlite", s.path)
	require.NoError(t, err)
	res, err := db.Exec(`UPDATE session_state SET value = CAST('"tampered"' AS BLOB)
		WHERE (app, user_id, session_id, key) = (SELECT app, user_id, session_id, key FROM session_state LIMIT 1)`)
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.NoError(t, db.Close())
	r := sessionlog(t, "", s.with("verify")...)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "tampered")
	require.Contains(t, r.stderr, "sqlite:"+s.path)
	require.Empty(t, r.stdout)
}

// Each form of -store names its kind of store; -dir is file:.
func TestStoreNames(t *testing.T) {
	for _, c := range []struct {
		flags              storeFlags
		kind, addr, schema string
	}{
		{storeFlags{store: "file:/tmp/x"}, "file", "/tmp/x", ""},
		{storeFlags{store: "file:rel/dir"}, "file", "rel/dir", ""},
		{storeFlags{dir: "/tmp/y"}, "file", "/tmp/y", ""},
		{storeFlags{store: "sqlite:/tmp/s.db"}, "SQLite", "/tmp/s.db", ""},
		{storeFlags{store: "sqlite:rel/s.db"}, "SQLite", "rel/s.db", ""},
		{storeFlags{store: "postgres://h/db"}, "PostgreSQL", "postgres://h/db", ""},
		{storeFlags{store: "postgresql://h/db?sslmode=disable", schema: "s1"}, "PostgreSQL", "postgresql://h/db?sslmode=disable", "s1"},
	} {
		ref, err := c.flags.ref()
		require.NoError(t, err, "%+v", c.flags)
		require.Equal(t, c.kind, ref.kind.name)
		require.Equal(t, c.addr, ref.addr)
		require.Equal(t, c.schema, ref.schema)
	}
}

// compact and salvage work on a log file: on PostgreSQL they say so, name
// the store, exit with status 2 and change nothing.
func TestFileOnlyCommandsRefusePostgres(t *testing.T) {
	s := newPostgresStore(t)
	fillSmall(t, s)
	before := sessionlog(t, "", s.with("export")...).stdout
	for _, args := range [][]string{s.with("compact"), s.with("salvage", "-o", t.TempDir())} {
		r := sessionlog(t, "", args...)
		require.Equal(t, 2, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stderr, args[0]+" works on file stores only")
		require.Contains(t, r.stderr, "is a PostgreSQL store")
		require.Contains(t, r.stderr, "schema sessionlog_cmd_test_")
		require.NotContains(t, r.stderr, "Flags:", "not a usage error: the usage is not printed")
		require.Empty(t, r.stdout)
	}
	require.Equal(t, before, sessionlog(t, "", s.with("export")...).stdout)
}

// compact and salvage work on a log file: on SQLite they say so and why,
// name the store, exit with status 2 and change nothing.
func TestFileOnlyCommandsRefuseSQLite(t *testing.T) {
	s := newSQLiteStore(t)
	fillSmall(t, s)
	before := sessionlog(t, "", s.with("export")...).stdout
	for _, c := range []struct {
		args []string
		why  string
	}{
		{s.with("compact"), "frees a deleted session's rows when it is deleted"},
		{s.with("salvage", "-o", t.TempDir()), "keeps its file whole itself"},
	} {
		r := sessionlog(t, "", c.args...)
		require.Equal(t, 2, r.code, "%v: %s", c.args, r.stderr)
		require.Contains(t, r.stderr, c.args[0]+" works on file stores only")
		require.Contains(t, r.stderr, "sqlite:"+s.path+" is a SQLite store: SQLite "+c.why)
		require.NotContains(t, r.stderr, "Flags:", "not a usage error: the usage is not printed")
		require.Empty(t, r.stdout)
	}
	require.Equal(t, before, sessionlog(t, "", s.with("export")...).stdout)
}

// A SQLite store named on the command line must exist, unless import
// makes it with -create in a directory that exists: a mistyped path never
// makes a new, empty database. A directory is not a database file.
func TestSQLiteStoreMustExist(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.db")
	for _, args := range [][]string{
		{"inspect", "-store", "sqlite:" + missing},
		{"verify", "-store", "sqlite:" + missing},
		{"export", "-store", "sqlite:" + missing},
		{"rewind", "-store", "sqlite:" + missing, "-app", "a", "-user", "u", "-session", "s", "-version", "0"},
	} {
		r := sessionlog(t, "", args...)
		require.Equal(t, 1, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stderr, "the SQLite database "+missing+" does not exist: check -store\n")
		require.NoFileExists(t, missing, "%v made the file", args)
	}
	r := sessionlog(t, "", "import", "-store", "sqlite:"+missing)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "add -create to make a new store there")
	require.NoFileExists(t, missing)

	r = sessionlog(t, "", "import", "-create", "-store", "sqlite:"+filepath.Join(dir, "no-dir", "s.db"))
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "the directory "+filepath.Join(dir, "no-dir")+" of the new SQLite database")

	r = sessionlog(t, "", "inspect", "-store", "sqlite:"+dir)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "names a directory, not a SQLite database file")

	r = sessionlog(t, "", "import", "-create", "-store", "sqlite:"+missing)
	require.Equal(t, 0, r.code, r.stderr)
	require.FileExists(t, missing)
	r = sessionlog(t, "", "inspect", "-store", "sqlite:"+missing)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "\n0 apps\n")
}

// The store's address is shown without its password.
func TestPostgresAddressIsShownWithoutPassword(t *testing.T) {
	ref, err := (&storeFlags{store: "postgres://ada:secret@db.example:5432/x?sslmode=disable"}).ref()
	require.NoError(t, err)
	require.Equal(t, "postgres://ada:xxxxx@db.example:5432/x?sslmode=disable schema sessionlog", ref.String())
	require.NotContains(t, ref.fileOnly("compact").Error(), "secret")
}

// fillTimeline writes the session "chat"/"ada"/"c1" that TestShow prints:
// a question, a function call and its response, an answer that removes a
// key, and a rewind to before the answer's invocation.
func fillTimeline(t *testing.T, s testStore) service.SessionKey {
	key := service.SessionKey{AppName: "chat", UserID: "ada", SessionID: "c1"}
	s.fill(t, func(svc *service.Service, now *time.Time) {
		ctx := context.Background()
		sess, err := svc.Create(ctx, key, map[string]any{"topic": "weather", "app:v": 1})
		require.NoError(t, err)
		at := func(sec int) time.Time { return time.Date(2026, 3, 1, 9, 0, sec, 0, time.UTC) }
		for _, ev := range []*service.Event{
			{ID: "e1", InvocationID: "inv-1", Author: "user", Timestamp: at(1),
				Content: genai.NewContentFromText("What's the weather in Oslo?", genai.RoleUser),
				Actions: service.EventActions{StateDelta: map[string]any{"draft": "a", "topic": "news"}}},
			{ID: "e2", InvocationID: "inv-1", Author: "forecaster", Timestamp: at(2),
				Content: &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{
					genai.NewPartFromFunctionCall("get_weather", map[string]any{"city": "Oslo", "days": 2})}}},
			{ID: "e3", InvocationID: "inv-1", Author: "forecaster", Timestamp: at(3),
				Content: &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{
					genai.NewPartFromFunctionResponse("get_weather", map[string]any{"temp": 3, "sky": "snow"})}},
				Actions: service.EventActions{StateDelta: map[string]any{"extra": true, "user:seen": 2}}},
			{ID: "e4", InvocationID: "inv-2", Author: "forecaster", Timestamp: at(4),
				Content: genai.NewContentFromText("Cold.\nTake a coat.", genai.RoleModel),
				Actions: service.EventActions{StateDelta: map[string]any{"draft": service.Removed}}},
		} {
			_, err := svc.AppendEvent(ctx, sess, ev)
			require.NoError(t, err)
		}
		*now = at(5)
		_, err = svc.Rewind(ctx, key, "inv-2", service.RewindOptions{})
		require.NoError(t, err)
	})
	return key
}

// show prints a session as a timeline, the same on every store.
func TestShow(t *testing.T) {
	const want = `session "chat"/"ada"/"c1"
version 5, 5 events, last update 2026-03-01T09:00:05Z
state: 5 keys
  app:v = 1
  draft = "a"
  extra = true
  topic = "news"
  user:seen = 2

#1 2026-03-01T09:00:01Z user, invocation inv-1
    text: What's the weather in Oslo?
    set draft = "a"
    set topic = "news"

#2 2026-03-01T09:00:02Z forecaster, invocation inv-1
    call get_weather(city="Oslo", days=2)

#3 2026-03-01T09:00:03Z forecaster, invocation inv-1
    response get_weather: {"sky":"snow","temp":3}
    set extra = true
    set user:seen = 2

#4 2026-03-01T09:00:04Z forecaster, invocation inv-2 [annulled by a later rewind]
    text: Cold.
      Take a coat.
    remove draft

#5 2026-03-01T09:00:05Z user, invocation id-1: REWIND to just before invocation inv-2
    set draft = "a"
`
	forEachStore(t, func(t *testing.T, newStore func(*testing.T) testStore) {
		s := newStore(t)
		fillTimeline(t, s)
		r := sessionlog(t, "", s.with("show", "-app", "chat", "-user", "ada", "-session", "c1")...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Equal(t, want, r.stdout)

		r = sessionlog(t, "", s.with("show", "-app", "chat", "-user", "ada", "-session", "c1", "-version", "1")...)
		require.Equal(t, 0, r.code, r.stderr)
		require.True(t, strings.HasPrefix(r.stdout, "session \"chat\"/\"ada\"/\"c1\"\nversion 1, 1 events, last update 2026-03-01T09:00:01Z\n"), r.stdout)
		require.NotContains(t, r.stdout, "#2")

		r = sessionlog(t, "", s.with("show", "-app", "chat", "-user", "ada", "-session", "nope")...)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stderr, "not found")
		require.Contains(t, r.stderr, "check -app, -user and -session")
		require.Empty(t, r.stdout)
	})
}

// CONTRACT T2: rewind appends one rewind event on every store; fork copies
// a session as it stood at a version into a new one.
func TestRewindAndForkOnEachStore(t *testing.T) {
	forEachStore(t, func(t *testing.T, newStore func(*testing.T) testStore) {
		s := newStore(t)
		key := fillTimeline(t, s)
		sess := []string{"-app", key.AppName, "-user", key.UserID, "-session", key.SessionID}

		r := sessionlog(t, "", s.with("rewind", append(sess, "-version", "0")...)...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, `to just before invocation "inv-1" (just after version 0)`)
		require.Contains(t, r.stdout, "sequence number 6")
		require.Contains(t, r.stdout, `restores topic = "weather"`)
		require.Contains(t, r.stdout, "removes draft")
		r = sessionlog(t, "", s.with("show", sess...)...)
		require.Contains(t, r.stdout, "version 6, 6 events")
		require.Contains(t, r.stdout, "#1 2026-03-01T09:00:01Z user, invocation inv-1 [annulled by a later rewind]")
		require.Contains(t, r.stdout, "#6 ")

		r = sessionlog(t, "", s.with("fork", append(sess, "-version", "3", "-to", "c2", "-to-user", "bob")...)...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, `forked session "chat"/"ada"/"c1" at version 3 into "chat"/"bob"/"c2"`)
		r = sessionlog(t, "", s.with("show", "-app", "chat", "-user", "bob", "-session", "c2")...)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, r.stdout, "version 3, 3 events")
		require.Contains(t, r.stdout, "  draft = \"a\"\n  extra = true\n")

		r = sessionlog(t, "", s.with("fork", append(sess, "-to", "c2", "-to-user", "bob")...)...)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stderr, "check -to")
		r = sessionlog(t, "", s.with("rewind", append(sess, "-before", "inv-9")...)...)
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stderr, "check -before")
	})
}

// export -o never writes over the SQLite database it reads, nor over the
// files SQLite keeps beside it: the rename that puts the export in place
// would replace the store.
func TestExportRefusesTheSQLiteDatabase(t *testing.T) {
	s := newSQLiteStore(t)
	fillSmall(t, s)
	before := sessionlog(t, "", s.with("export")...)
	require.Equal(t, 0, before.code, before.stderr)
	link := filepath.Join(t.TempDir(), "alias.db")
	require.NoError(t, os.Link(s.path, link))
	dirLink := filepath.Join(t.TempDir(), "dir")
	require.NoError(t, os.Symlink(filepath.Dir(s.path), dirLink))
	viaDir := filepath.Join(dirLink, filepath.Base(s.path))
	for _, out := range []string{s.path, s.path + "-wal", s.path + "-shm", link, viaDir, viaDir + "-journal"} {
		r := sessionlog(t, "", s.with("export", "-o", out)...)
		assert.Equal(t, 2, r.code, "%s: %s", out, r.stderr)
		assert.Contains(t, r.stderr, "is the SQLite database")
	}
	after := sessionlog(t, "", s.with("export")...)
	require.Equal(t, 0, after.code, after.stderr)
	assert.Equal(t, before.stdout, after.stdout, "the store is untouched")
}

// The commands that read a SQLite store refuse a file that holds none (an
// empty file, another program's database) and leave it as it was; only
// import -create makes a store in it.
func TestSQLiteCommandsReadOnlyAStore(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE users (id INTEGER)")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	before, err := os.ReadFile(other)
	require.NoError(t, err)
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	for _, path := range []string{other, empty} {
		for _, args := range [][]string{
			{"inspect", "-store", "sqlite:" + path},
			{"verify", "-store", "sqlite:" + path},
			{"export", "-store", "sqlite:" + path},
			{"show", "-store", "sqlite:" + path, "-app", "a", "-user", "u", "-session", "s"},
		} {
			r := sessionlog(t, "", args...)
			assert.Equal(t, 1, r.code, "%v: %s", args, r.stderr)
			assert.Contains(t, r.stderr, "holds no sessionlog tables: check -store\n", "%v", args)
		}
		r := sessionlog(t, "", "import", "-store", "sqlite:"+path)
		assert.Equal(t, 1, r.code, r.stderr)
		assert.Contains(t, r.stderr, "check -store, or add -create to make a new store there")
	}
	after, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the other program's database is as it was")
	fi, err := os.Stat(empty)
	require.NoError(t, err)
	assert.Zero(t, fi.Size())

	r := sessionlog(t, "", "import", "-create", "-store", "sqlite:"+other)
	require.Equal(t, 0, r.code, r.stderr)
	r = sessionlog(t, "", "inspect", "-store", "sqlite:"+other)
	require.Equal(t, 0, r.code, r.stderr)
}

// The commands that read a PostgreSQL store refuse a schema that holds
// none and make nothing, and an import whose dry run fails leaves no
// schema behind; an import that succeeds makes it.
func TestPostgresCommandsMakeNoSchemaTheyDoNotWrite(t *testing.T) {
	s := newPostgresStore(t) // never filled: its schema does not exist
	schema := s.args[len(s.args)-1]
	schemaExists := func() bool {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, pgDSN(t))
		require.NoError(t, err)
		defer conn.Close(ctx)
		var found bool
		require.NoError(t, conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&found))
		return found
	}
	session := []string{"-app", "a", "-user", "u", "-session", "s"}
	for _, args := range [][]string{
		s.with("inspect"), s.with("verify"), s.with("export"),
		s.with("show", session...),
		s.with("rewind", append(session, "-version", "0")...),
		s.with("fork", session...),
	} {
		r := sessionlog(t, "", args...)
		assert.Equal(t, 1, r.code, "%v: %s", args, r.stderr)
		assert.Contains(t, r.stderr, "no sessionlog store", "%v", args)
		assert.NotContains(t, r.stderr, "-create", "%v: only import takes -create", args)
	}
	r := sessionlog(t, "{not a record}\n", s.with("import")...)
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "nothing imported")
	assert.False(t, schemaExists(), "no schema is made")

	r = sessionlog(t, "", s.with("import")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.True(t, schemaExists(), "an import makes the schema")
	r = sessionlog(t, "", s.with("inspect")...)
	require.Equal(t, 0, r.code, r.stderr)
}
