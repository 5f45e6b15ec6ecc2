package pgstore_test

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/projection"
)

// plans collects the plans auto_explain sends a connection as notices:
// every statement's, and every statement's inside a function.
type plans struct {
	mu    sync.Mutex
	plans []string
}

func (p *plans) notice(_ *pgconn.PgConn, n *pgconn.Notice) {
	if strings.Contains(n.Message, "Query Text:") {
		p.mu.Lock()
		p.plans = append(p.plans, n.Message)
		p.mu.Unlock()
	}
}

func (p *plans) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.plans
	p.plans = nil
	return out
}

// explainedStore opens a store over schema whose one connection has
// auto_explain report the plan of every statement it runs, nested ones
// included, with ANALYZE (so the report says whether JIT compiled it),
// with jit on at its default threshold and planMode as plan_cache_mode.
func explainedStore(t *testing.T, schema, planMode string) (*pgstore.Store, *plans) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn(t))
	require.NoError(t, err)
	p := &plans{}
	cfg.ConnConfig.OnNotice = p.notice
	cfg.MaxConns = 1
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		for _, stmt := range []string{
			"LOAD 'auto_explain'",
			"SET auto_explain.log_min_duration = 0",
			"SET auto_explain.log_analyze = on",
			"SET auto_explain.log_nested_statements = on",
			"SET auto_explain.log_level = notice",
			"SET jit = on",
			"SET jit_above_cost = 100000", // PostgreSQL's default
			"SET plan_cache_mode = " + planMode,
		} {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	if err := pool.Ping(t.Context()); err != nil {
		t.Skipf("auto_explain is not available to this database user: %v", err)
	}
	store, err := pgstore.New(context.Background(), pool, pgstore.Options{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	p.take()
	return store, p
}

var (
	topCost   = regexp.MustCompile(`\(cost=[0-9.]+\.\.([0-9.]+) `)
	seqScan   = regexp.MustCompile(`Seq Scan on (\S+)`)
	indexScan = regexp.MustCompile(`(?:Index (?:Only )?Scan (?:Backward )?using|Bitmap Index Scan on) (\S+)`)
	userScan  = regexp.MustCompile(`(?:using|on) user_values_pkey[^\n]*\n\s*Index Cond: ([^\n]*)`)
)

// The hot statements (Load, List, an event append with its nested
// statements, a creation, and the reads of an app, a user and a session)
// on a schema whose tables were never analyzed (autovacuum off, filled
// without ANALYZE), with jit on at its default threshold: every table is
// reached through an index (but the sequence of positions, one row), and
// nothing is JIT-compiled, with the plans PostgreSQL makes for the first executions
// of a prepared statement and with the generic plans it may use later.
//
// It runs over two fills: a plan the planner makes for tables it has no
// statistics of depends on their sizes (the first version of a batch's
// check for retried events chose the index of sequence numbers at about
// 12,000 to 26,000 records, and the index of event IDs at 40,000).
func TestHotStatementsUseIndexesAndNoJIT(t *testing.T) {
	for _, events := range []int{6, 20} {
		t.Run(fmt.Sprintf("records=%d", 2000*(events+1)), func(t *testing.T) { hotStatementsUseIndexes(t, 2000, events) })
	}
}

func hotStatementsUseIndexes(t *testing.T, sessions, events int) {
	schema := newSchema(t)
	ctx := t.Context()
	conn := pgxConn(t)
	open(t, schema) // migrate
	rows, err := conn.Query(ctx, "SELECT format('ALTER TABLE %I.%I SET (autovacuum_enabled = off)', schemaname, tablename) FROM pg_tables WHERE schemaname = $1", schema)
	require.NoError(t, err)
	alters, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, alters)
	for _, stmt := range alters {
		_, err := conn.Exec(ctx, stmt)
		require.NoError(t, err)
	}
	fill(t, schema, sessions, events)

	for i, mode := range []string{"auto", "force_generic_plan"} {
		t.Run("plan_cache_mode="+mode, func(t *testing.T) {
			store, p := explainedStore(t, schema, mode)
			k := filledKey(10 + i)
			what := map[string][]string{}
			do := func(name string, f func()) {
				t.Helper()
				for range 7 { // past the custom plans of a prepared statement's first five executions
					f()
				}
				what[name] = p.take()
				require.NotEmpty(t, what[name], "%s: auto_explain reported nothing", name)
			}
			do("Load", func() {
				v, err := store.Load(ctx, k, eventlog.LoadOptions{})
				require.NoError(t, err)
				require.Len(t, v.Events, events)
			})
			do("Load without events", func() {
				_, err := store.Load(ctx, k, eventlog.LoadOptions{NoEvents: true})
				require.NoError(t, err)
			})
			do("List of an app", func() {
				views, err := store.List(ctx, "app", "", eventlog.ListOptions{AfterUser: "u5", AfterSession: "s1005", Limit: 20})
				require.NoError(t, err)
				require.Len(t, views, 20)
			})
			do("List of a user", func() {
				views, err := store.List(ctx, "app", "u7", eventlog.ListOptions{Limit: 20})
				require.NoError(t, err)
				require.Len(t, views, 20)
			})
			do("List of a user, recent first", func() {
				views, err := store.List(ctx, "app", "u7", eventlog.ListOptions{Order: eventlog.RecentFirst, Limit: 20})
				require.NoError(t, err)
				require.Len(t, views, 20)
			})
			n := 0
			do("an event append", func() {
				n++
				ev := &eventlog.Event{ID: mode + string(rune('a'+n)), Timestamp: time.Now(), Actions: eventlog.EventActions{
					StateDelta: map[string]any{"own": 1.0, "app:a": 2.0, "user:u": 3.0}}}
				_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: ev.Timestamp, Event: ev})
				require.NoError(t, err)
			})
			do("a batch of appends", func() {
				n++
				var recs []*eventlog.Record
				for j := range 3 {
					rec := eventRecord(filledKey(101+j), 0, fmt.Sprintf("%s-%d-%d", mode, n, j))
					rec.Event.Actions.StateDelta = map[string]any{"own": 1.0, "app:a": 2.0, "user:u": 3.0}
					recs = append(recs, rec)
				}
				_, errs := asOneBatch(t, store, schema, eventRecord(filledKey(100), 0, fmt.Sprintf("%s-lead-%d", mode, n)), recs...)
				for _, err := range errs {
					require.NoError(t, err)
				}
			})
			do("a creation", func() {
				n++
				_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Time: time.Now(),
					Key:   eventlog.SessionKey{AppName: "app", UserID: "u3", SessionID: mode + string(rune('a'+n))},
					State: map[string]any{"own": 1.0, "app:a": 2.0, "user:u": 3.0}})
				require.NoError(t, err)
			})
			head := eventlog.Position(sessions * (events + 1))
			for name, scope := range map[string]eventlog.Scope{
				"Read of an app":    {AppName: "app"},
				"Read of a user":    {AppName: "app", UserID: k.UserID},
				"Read of a session": eventlog.SessionScope(k, 0),
			} {
				do(name, func() {
					_, _, err := store.Read(ctx, scope, head-100, 50)
					require.NoError(t, err)
				})
			}

			for name, reported := range what {
				used := map[string]bool{}
				highest := 0.0
				for _, plan := range reported {
					if m := topCost.FindStringSubmatch(plan); m != nil {
						c, err := strconv.ParseFloat(m[1], 64)
						require.NoError(t, err)
						highest = max(highest, c)
					}
					assert.NotContains(t, plan, "JIT:", "%s: a statement was JIT-compiled:\n%s", name, plan)
					for _, m := range seqScan.FindAllStringSubmatch(plan, -1) {
						assert.Equal(t, "positions", m[1], "%s: a table is scanned whole:\n%s", name, plan)
					}
					for _, m := range indexScan.FindAllStringSubmatch(plan, -1) {
						used[m[1]] = true
					}
				}
				t.Logf("%s: %d plans, the costliest estimated at %.0f (JIT from 100000); indexes used: %v", name, len(reported), highest, keys(used))
			}
			// The indexes that make each of them cheap whatever the store
			// holds. (A session's events may come through either index of a
			// session's events, or through the user's records, as the
			// planner guesses from tables it has no statistics of.)
			for name, indexes := range map[string][]string{
				"Load":                         {"records_session_"},
				"List of an app":               {"sessions_pkey"},
				"List of a user":               {"sessions_pkey"},
				"List of a user, recent first": {"sessions_pkey"},
				"an event append":              {"records_session_event"},
				"a batch of appends":           {"sessions_pkey"},
				"Read of an app":               {"records_app"},
				"Read of a user":               {"records_user"},
				"Read of a session":            {"records_"},
			} {
				if strings.HasPrefix(name, "List") {
					// A page reads the state of its own users only, not of
					// every user of the app.
					for _, plan := range what[name] {
						for _, m := range userScan.FindAllStringSubmatch(plan, -1) {
							assert.Contains(t, m[1], "user_id", "%s reads every user's state:\n%s", name, plan)
						}
						// A session's own state comes in its row.
						assert.NotContains(t, plan, "session_state", "%s reads session_state:\n%s", name, plan)
					}
				}
				if name == "a batch of appends" {
					// A batch reads no record: a retry of a stored event
					// is found by its insert, through the index of events.
					batch, arbiter := false, false
					for _, plan := range what[name] {
						if strings.Contains(plan, "append_events") {
							batch = true
						}
						// The insert of the batch's records (not the leader's
						// own append_event) meets a stored event through its
						// index.
						if strings.Contains(plan, "r_status") && strings.Contains(plan, "Conflict Arbiter Indexes: records_session_event") {
							arbiter = true
						}
						assert.NotRegexp(t, `(?:Scan (?:Backward )?using|Bitmap Index Scan on) records_`, plan, "%s reads the log", name)
					}
					assert.True(t, batch, "the appends went as a batch")
					assert.True(t, arbiter, "the batch's insert finds stored events through records_session_event")
				}
				if name == "an event append" {
					// The session's own keys, encoded into its row, are read
					// through the session's range of the key, by a statement
					// that has encode_state inlined.
					encoded := false
					for _, plan := range what[name] {
						if strings.Contains(plan, "encode_state(") {
							encoded = true
							assert.Regexp(t, `Index (Only )?Scan using session_state_pkey`, plan, "encoding a session's state")
							assert.NotContains(t, plan, "Function Scan", "encode_state is not inlined")
						}
					}
					assert.True(t, encoded, "an event append encodes its session's state")
				}
				for _, index := range indexes {
					found := false
					for _, plan := range what[name] {
						found = found || strings.Contains(plan, index)
					}
					assert.True(t, found, "%s uses %s:\n%s", name, index, strings.Join(what[name], "\n"))
				}
			}
		})
	}
	require.NoError(t, projection.Verify(ctx, open(t, schema)), "the fill is in the store's format")
}

func keys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}
