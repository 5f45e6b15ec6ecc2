package bench

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sessionlog/sessionlog/service"
)

// runSQLiteFill runs a fill's statements over db in one transaction:
// fillSQL's statements end with ";" and a blank line, and take ?1, the
// number of sessions, and ?2, the events of each.
func runSQLiteFill(tb testing.TB, db *sql.DB, fillSQL string, sessions, events int) {
	tb.Helper()
	ctx := context.Background()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, stmt := range strings.Split(fillSQL, ";\n\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		var args []any
		if strings.Contains(stmt, "?1") || strings.Contains(stmt, "?2") {
			args = []any{sessions, events}
		}
		if _, err := tx.ExecContext(ctx, stmt, args...); err != nil {
			tb.Fatalf("fill: %.80s: %v", strings.TrimSpace(stmt), err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// dumpSQLite returns every row of table in db, in primary key order, as
// the text of each value with its storage class (so that a number and
// the same digits as text differ), leaving out the columns skip names.
func dumpSQLite(tb testing.TB, db *sql.DB, table string, skip ...string) string {
	tb.Helper()
	rows, err := db.Query("SELECT name FROM pragma_table_info(?) ORDER BY cid", table)
	if err != nil {
		tb.Fatal(err)
	}
	var exprs []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			tb.Fatal(err)
		}
		if !slices.Contains(skip, c) {
			exprs = append(exprs, fmt.Sprintf("'%s=' || typeof(%q) || ':' || coalesce(CAST(%q AS TEXT), '')", c, c, c))
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(exprs) == 0 {
		tb.Fatalf("table %s has no columns", table)
	}
	rows, err = db.Query("SELECT " + strings.Join(exprs, " || ' ' || ") + " FROM " + table + " ORDER BY 1")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			tb.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(lines) == 0 {
		tb.Fatalf("table %s is empty", table)
	}
	return strings.Join(lines, "\n")
}

// readJSON is session i of a fill as get returns it, in JSON: events,
// merged state and last update time.
func readJSON(tb testing.TB, get func(i int) (events any, state map[string]any, updated string), i int) string {
	tb.Helper()
	events, state, updated := get(i)
	b, err := json.Marshal(struct {
		Events  any
		State   map[string]any
		Updated string
	}{events, state, updated})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// TestSQLiteFillsMatchTheServices checks that the SQLite workloads' SQL
// fills write what each service writes (so that BenchmarkSQLiteStartUp,
// BenchmarkSQLiteGetAll10000 and BenchmarkSQLiteGetLast10 measure
// databases a service could have written): a session filled with SQL
// reads back, through its service, the same events, state and last update
// time as the same session written through the service. For the ADK the
// tables' rows must be the same too, but for the sessions' creation
// time (the clock's); sessionlog's filled log must fold to the read model
// beside it (service.Verify, CONTRACT rule L3's check).
func TestSQLiteFillsMatchTheServices(t *testing.T) {
	ctx := context.Background()
	const sessions, events = 3, 12 // event 10 is at .01 s: a trailing zero cut
	t.Run("adk", func(t *testing.T) {
		filled := fillADKSQLite(t, sessions, events)
		written := sqlitePath(t, "adk-written")
		through := &adkTarget{svc: newADKSQLite(t, written, adkFill)}
		for i := 1; i <= sessions; i++ {
			if err := fill(ctx, through, filledUser(i), filledSession(i), events); err != nil {
				t.Fatal(err)
			}
		}
		read := func(path string) func(i int) (any, map[string]any, string) {
			svc := newADKSQLite(t, path, adkWAL)
			return func(i int) (any, map[string]any, string) {
				resp, err := adkFilledGet(ctx, svc, i, 0)
				if err != nil {
					t.Fatal(err)
				}
				return slices.Collect(resp.Session.Events().All()), maps.Collect(resp.Session.State().All()), resp.Session.LastUpdateTime().UTC().String()
			}
		}
		readWritten, readFilled := read(written), read(filled)
		for i := 1; i <= sessions; i++ {
			want, got := readJSON(t, readWritten, i), readJSON(t, readFilled, i)
			if got != want {
				t.Errorf("session %d filled with SQL reads\n%s\nwritten through the service it reads\n%s", i, got, want)
			}
		}
		for _, table := range []string{"sessions", "events", "user_states", "app_states"} {
			want := dumpSQLite(t, sqliteDB(t, written), table, "create_time")
			got := dumpSQLite(t, sqliteDB(t, filled), table, "create_time")
			if got != want {
				t.Errorf("table %s filled with SQL holds\n%s\nwritten through the service it holds\n%s", table, got, want)
			}
		}
	})
	t.Run("sessionlog", func(t *testing.T) {
		filled := fillSLSQLite(t, sessions, events)
		written := sqlitePath(t, "sessionlog-written")
		svc, err := openSLSQLite(ctx, written, "normal")
		if err != nil {
			t.Fatal(err)
		}
		through := &slTarget{svc: svc}
		for i := 1; i <= sessions; i++ {
			if err := fill(ctx, through, filledUser(i), filledSession(i), events); err != nil {
				t.Fatal(err)
			}
		}
		if err := svc.Close(); err != nil {
			t.Fatal(err)
		}
		// The tables hold the same rows, but for the records' bodies,
		// which hold the service's clock: the bodies' decoded records are
		// checked through the service below. The files are read with
		// the stores closed.
		for _, table := range []string{"head", "sessions", "records", "session_state", "user_state", "app_state"} {
			dbW, dbF := sqliteDB(t, written), sqliteDB(t, filled)
			want, got := dumpSQLite(t, dbW, table, "body"), dumpSQLite(t, dbF, table, "body")
			if got != want {
				t.Errorf("table %s filled with SQL holds\n%s\nwritten through the service it holds\n%s", table, got, want)
			}
			if err := errors.Join(dbW.Close(), dbF.Close()); err != nil {
				t.Fatal(err)
			}
		}
		read := func(path string) func(i int) (any, map[string]any, string) {
			svc := newSLSQLite(t, path, "full")
			return func(i int) (any, map[string]any, string) {
				sess, err := svc.Get(ctx, service.SessionKey{AppName: appName, UserID: filledUser(i), SessionID: filledSession(i)}, service.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				return sess.Events, sess.State, sess.LastUpdateTime.UTC().String()
			}
		}
		readWritten, readFilled := read(written), read(filled)
		for i := 1; i <= sessions; i++ {
			want, got := readJSON(t, readWritten, i), readJSON(t, readFilled, i)
			if got != want {
				t.Errorf("session %d filled with SQL reads\n%s\nwritten through the service it reads\n%s", i, got, want)
			}
		}
		if err := newSLSQLite(t, filled, "full").Verify(ctx); err != nil {
			t.Errorf("the filled log and its read model disagree: %v", err)
		}
	})
}
