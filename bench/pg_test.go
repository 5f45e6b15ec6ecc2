package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	adksession "google.golang.org/adk/v2/session"
	"google.golang.org/adk/v2/session/database"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
)

// The PostgreSQL workloads run sessionlog's pgstore and the Go ADK's
// gorm-based session/database service on the same server, each side in a
// schema of its own made for the run and dropped after it. They need
// SESSIONLOG_POSTGRES_DSN and skip without it.

// pgDSN is the server's address, from SESSIONLOG_POSTGRES_DSN.
func pgDSN(tb testing.TB) string {
	tb.Helper()
	v := os.Getenv("SESSIONLOG_POSTGRES_DSN")
	if v == "" {
		tb.Skip("SESSIONLOG_POSTGRES_DSN is not set: skipping the PostgreSQL workloads " +
			"(for example SESSIONLOG_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return v
}

// withParam adds key=value to a PostgreSQL URL or key=value DSN.
func withParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
	}
	return dsn + " " + key + "=" + value
}

// pgExec runs statements on a connection of its own.
func pgExec(ctx context.Context, dsn string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("%.60s: %w", s, err)
		}
	}
	return nil
}

// pgSchema makes an empty schema named after prefix and a random suffix,
// dropped with everything in it when tb ends.
func pgSchema(tb testing.TB, prefix string) string {
	tb.Helper()
	dsn := pgDSN(tb)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := prefix + "_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	if err := pgExec(context.Background(), dsn, "CREATE SCHEMA "+ident); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := pgExec(context.Background(), dsn, "DROP SCHEMA IF EXISTS "+ident+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// openADKPG opens the ADK's database service over schema, as a team would:
// the gorm PostgreSQL driver with its default settings (pgx through
// database/sql, no pool limit) and the ADK's AutoMigrate. Only gorm's
// logger is silenced, so that slow statements do not print into the
// benchmark output. The close function closes its connections.
func openADKPG(_ context.Context, dsn, schema string) (adksession.Service, func() error, error) {
	svc, closeDB, err := connectADKPG(dsn, schema)
	if err != nil {
		return nil, nil, err
	}
	if err := database.AutoMigrate(svc); err != nil {
		return nil, nil, errors.Join(err, closeDB())
	}
	return svc, closeDB, nil
}

// connectADKPG is openADKPG without the AutoMigrate.
func connectADKPG(dsn, schema string) (adksession.Service, func() error, error) {
	cfg, err := pgx.ParseConfig(withParam(dsn, "search_path", schema))
	if err != nil {
		return nil, nil, err
	}
	// What postgres.Open(dsn) does inside, kept here so it can be closed.
	db := stdlib.OpenDB(*cfg)
	svc, err := database.NewSessionService(postgres.New(postgres.Config{Conn: db}),
		&gorm.Config{Logger: logger.Default.LogMode(logger.Silent)})
	if err != nil {
		return nil, nil, errors.Join(err, db.Close())
	}
	return svc, db.Close, nil
}

// newADKPG is openADKPG closed when tb ends.
func newADKPG(tb testing.TB, schema string) adksession.Service {
	tb.Helper()
	svc, closeDB, err := openADKPG(context.Background(), pgDSN(tb), schema)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = closeDB() })
	return svc
}

// openSLPG opens a sessionlog replica over schema: a pgstore store with
// its default pool and a service over it. Closing the service closes the
// store.
func openSLPG(ctx context.Context, dsn, schema string) (*service.Service, error) {
	store, err := pgstore.Open(ctx, dsn, pgstore.Options{Schema: schema})
	if err != nil {
		return nil, err
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return svc, nil
}

// newSLPG opens n replicas over schema, closed when tb ends.
func newSLPG(tb testing.TB, schema string, n int) []*service.Service {
	tb.Helper()
	var out []*service.Service
	for range n {
		svc, err := openSLPG(context.Background(), pgDSN(tb), schema)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = svc.Close() })
		out = append(out, svc)
	}
	return out
}

// replicaCounts are the numbers of sessionlog replicas the writer
// workloads run with: stores over one schema, each with its own service.
var replicaCounts = []int{1, 2, 4}

// pgWriterSides makes the writer workloads' sides, in a fixed order: the
// ADK, then sessionlog with each replica count. Each call of a side's new
// (once per benchmark round) makes a fresh schema, dropped when the round
// ends; the targets it returns share its services, writer w using
// replica w mod n.
func pgWriterSides() []struct {
	name string
	new  func(testing.TB) func(w int) target
} {
	sides := []struct {
		name string
		new  func(testing.TB) func(w int) target
	}{{"adk", func(tb testing.TB) func(int) target {
		svc := newADKPG(tb, pgSchema(tb, "bench_adk"))
		return func(int) target { return &adkTarget{svc: svc} }
	}}}
	for _, n := range replicaCounts {
		sides = append(sides, struct {
			name string
			new  func(testing.TB) func(w int) target
		}{fmt.Sprintf("sessionlog/replicas=%d", n), func(tb testing.TB) func(int) target {
			svcs := newSLPG(tb, pgSchema(tb, "bench_sl"), n)
			return func(w int) target { return &slTarget{svc: svcs[w%n]} }
		}})
	}
	return sides
}

// BenchmarkPGAppendOne appends from one goroutine to one session, the
// event of the in-memory workloads, on each side. With several sessionlog
// replicas the writer uses the first; the others are open and idle (with
// no subscriber they do not listen, so nothing is announced to them).
//
//	SESSIONLOG_POSTGRES_DSN=... go test -run '^$' -bench '^BenchmarkPGAppendOne$' -count 6
func BenchmarkPGAppendOne(b *testing.B) {
	pgDSN(b)
	ctx := context.Background()
	for _, side := range pgWriterSides() {
		b.Run(side.name, func(b *testing.B) {
			r := &rotator{t: side.new(b)(0), user: userID, pfx: "one", b: b}
			b.ReportAllocs()
			for b.Loop() {
				if err := r.append(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// pgWriters is how many goroutines BenchmarkPGAppendParallel appends from.
const pgWriters = 16

// BenchmarkPGAppendParallel appends from 16 goroutines, each to a session
// of its own, all of one user in one app (so on both sides every append
// writes the same user and app state). Each goroutine creates its session
// first, inside the timer.
//
//	SESSIONLOG_POSTGRES_DSN=... go test -run '^$' -bench '^BenchmarkPGAppendParallel$' -count 6
func BenchmarkPGAppendParallel(b *testing.B) {
	pgDSN(b)
	ctx := context.Background()
	for _, side := range pgWriterSides() {
		b.Run(side.name, func(b *testing.B) {
			targets := side.new(b)
			var g atomic.Int64
			b.SetParallelism(max(1, pgWriters/runtime.GOMAXPROCS(0)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := int(g.Add(1))
				r := &rotator{t: targets(w), user: userID, pfx: "p" + strconv.Itoa(w)}
				for pb.Next() {
					if err := r.append(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// pgGetters fills session "g" of userID with events on each side, through
// the services, and returns a getter for each.
func pgGetters(b *testing.B, events int) []side {
	ctx := context.Background()
	adk := &adkTarget{svc: newADKPG(b, pgSchema(b, "bench_adk"))}
	sl := &slTarget{svc: newSLPG(b, pgSchema(b, "bench_sl"), 1)[0]}
	for _, t := range []target{adk, sl} {
		if err := fill(ctx, t, userID, "g", events); err != nil {
			b.Fatal(err)
		}
	}
	return []side{
		{"adk", func(ctx context.Context, recent int) (int, error) {
			return adkGet(ctx, adk.svc, userID, "g", recent)
		}},
		{"sessionlog", func(ctx context.Context, recent int) (int, error) {
			return slGet(ctx, sl.svc, userID, "g", recent)
		}},
	}
}

func adkGet(ctx context.Context, svc adksession.Service, user, id string, recent int) (int, error) {
	resp, err := svc.Get(ctx, &adksession.GetRequest{AppName: appName, UserID: user, SessionID: id, NumRecentEvents: recent})
	if err != nil {
		return 0, err
	}
	return resp.Session.Events().Len(), nil
}

func slGet(ctx context.Context, svc *service.Service, user, id string, recent int) (int, error) {
	sess, err := svc.Get(ctx, service.SessionKey{AppName: appName, UserID: user, SessionID: id}, service.GetOptions{NumRecentEvents: recent})
	if err != nil {
		return 0, err
	}
	return len(sess.Events), nil
}

func benchPGGet(b *testing.B, recent, want int) {
	pgDSN(b)
	runGets(b, pgGetters(b, 100), recent, want)
}

// BenchmarkPGGetAll100 reads a 100-event session with all its events. The
// schema holds that session only; BenchmarkPGStartUp's get-warm-ns reads
// one among 100,000 or 1,000,000 events.
func BenchmarkPGGetAll100(b *testing.B) { benchPGGet(b, 0, 100) }

// BenchmarkPGGetLast10 reads the same session's last 10 events.
func BenchmarkPGGetLast10(b *testing.B) { benchPGGet(b, 10, 10) }

// pgListUsers is how many users BenchmarkPGList100 gives 100 sessions each.
const pgListUsers = 10

// BenchmarkPGList100 lists one user's 100 sessions in an app of 10 users
// with 100 sessions each, every session created with the keys k, user:u
// and app:a, as BenchmarkList100of10000 does in memory.
func BenchmarkPGList100(b *testing.B) {
	pgDSN(b)
	ctx := context.Background()
	const listed = "user4"
	adk := newADKPG(b, pgSchema(b, "bench_adk"))
	sl := newSLPG(b, pgSchema(b, "bench_sl"), 1)[0]
	create := map[string]func(u, s int) error{
		"adk": func(u, s int) error {
			_, err := adk.Create(ctx, &adksession.CreateRequest{
				AppName: appName, UserID: "user" + strconv.Itoa(u), SessionID: "s" + strconv.Itoa(s),
				State: map[string]any{"k": s, "user:u": u, "app:a": 1},
			})
			return err
		},
		"sessionlog": func(u, s int) error {
			key := service.SessionKey{AppName: appName, UserID: "user" + strconv.Itoa(u), SessionID: "s" + strconv.Itoa(s)}
			_, err := sl.Create(ctx, key, map[string]any{"k": s, "user:u": u, "app:a": 1})
			return err
		},
	}
	for _, name := range []string{"adk", "sessionlog"} {
		// Creations run from 8 goroutines, a user each at a time, to keep
		// the set-up short.
		var wg sync.WaitGroup
		errs := make([]error, pgListUsers)
		sem := make(chan struct{}, 8)
		for u := range pgListUsers {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				for s := range 100 {
					if err := create[name](u, s); err != nil {
						errs[u] = err
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			b.Fatalf("%s: %v", name, err)
		}
	}
	b.Run("adk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			resp, err := adk.List(ctx, &adksession.ListRequest{AppName: appName, UserID: listed})
			if err != nil || len(resp.Sessions) != 100 {
				b.Fatalf("got %v, %v", resp, err)
			}
		}
	})
	b.Run("sessionlog", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			page, err := sl.List(ctx, appName, listed, service.ListOptions{PageSize: 100})
			if err != nil || len(page.Sessions) != 100 {
				b.Fatalf("got %v, %v", page, err)
			}
		}
	})
}

// startSide is one side of BenchmarkPGStartUp: it fills a schema and opens
// a new replica over it.
type startSide struct {
	name string
	// fill writes sessions×events events into a fresh schema and returns
	// its name.
	fill func(tb testing.TB, sessions, events int) string
	// open opens a replica over the schema and returns a Get of session
	// i of the fill, a close, and how long of the open went to a separate
	// schema migration step (zero when there is none).
	open func(ctx context.Context, dsn, schema string) (get func(ctx context.Context, i int) (any, int, error), closeFn func() error, migrate time.Duration, err error)
}

// startUpSessions are the fills of the start-up benchmarks, in sessions of
// 100 events: 1,000, and with SESSIONLOG_BENCH_BIG=1 also 10,000.
func startUpSessions() []int {
	if os.Getenv("SESSIONLOG_BENCH_BIG") == "1" {
		return []int{1_000, 10_000}
	}
	return []int{1_000}
}

// adkStarted ends a start-up side's open of the ADK's service over a
// filled database: its AutoMigrate, timed, as a starting program runs it;
// then the side's Get and close.
func adkStarted(svc adksession.Service, closeDB func() error) (func(context.Context, int) (any, int, error), func() error, time.Duration, error) {
	start := time.Now()
	if err := database.AutoMigrate(svc); err != nil {
		return nil, nil, 0, errors.Join(err, closeDB())
	}
	migrate := time.Since(start)
	return func(ctx context.Context, i int) (any, int, error) {
		resp, err := adkFilledGet(ctx, svc, i, 0)
		if err != nil {
			return nil, 0, err
		}
		return resp, resp.Session.Events().Len(), nil
	}, closeDB, migrate, nil
}

// slStarted is a start-up side's Get and close over sessionlog's service.
func slStarted(svc *service.Service) (func(context.Context, int) (any, int, error), func() error, time.Duration, error) {
	return func(ctx context.Context, i int) (any, int, error) {
		sess, err := svc.Get(ctx, service.SessionKey{AppName: appName, UserID: filledUser(i), SessionID: filledSession(i)}, service.GetOptions{})
		if err != nil {
			return nil, 0, err
		}
		return sess, len(sess.Events), nil
	}, svc.Close, 0, nil
}

var startSides = []startSide{
	{
		name: "adk",
		fill: func(tb testing.TB, sessions, events int) string {
			schema := pgSchema(tb, "bench_adk")
			// Tables as the ADK's AutoMigrate makes them.
			newADKPG(tb, schema)
			fillSchema(tb, schema, adkFillSQL, sessions, events)
			return schema
		},
		open: func(ctx context.Context, dsn, schema string) (func(context.Context, int) (any, int, error), func() error, time.Duration, error) {
			svc, closeDB, err := connectADKPG(dsn, schema)
			if err != nil {
				return nil, nil, 0, err
			}
			return adkStarted(svc, closeDB)
		},
	},
	{
		name: "sessionlog",
		fill: func(tb testing.TB, sessions, events int) string {
			schema := pgSchema(tb, "bench_sl")
			// Migrate the schema, then close the store.
			svc, err := openSLPG(context.Background(), pgDSN(tb), schema)
			if err == nil {
				err = svc.Close()
			}
			if err != nil {
				tb.Fatal(err)
			}
			fillSchema(tb, schema, slFillSQL, sessions, events)
			return schema
		},
		open: func(ctx context.Context, dsn, schema string) (func(context.Context, int) (any, int, error), func() error, time.Duration, error) {
			svc, err := openSLPG(ctx, dsn, schema)
			if err != nil {
				return nil, nil, 0, err
			}
			return slStarted(svc)
		},
	},
}

// BenchmarkPGStartUp opens a new replica of each side over a database
// that holds 100,000 events (1,000 sessions of 100), and, with
// SESSIONLOG_BENCH_BIG=1, 1,000,000 events (10,000 sessions of 100).
// Each iteration opens the service (for the ADK with its AutoMigrate, as
// a starting program runs it; for sessionlog pgstore.Open, which applies
// the migrations a database lacks) and reads a session of its own with
// all its events. ns/op is the open and that first Get; open-ns,
// first-get-ns and get-warm-ns (the same Get again) are their medians,
// and migrate-ns the ADK's AutoMigrate, part of its open-ns;
// heap-open-B and heap-get-B are the median live Go heap the replica adds
// after the open and after the first Get, and heap-events-B the heap that
// a copy of the Get's events takes, each decoded anew from its JSON into
// the side's event type: what any service that returns those events
// holds for them at least, whatever else it keeps. The databases are filled with
// SQL, once per size and run. Run it with a fixed count:
//
//	SESSIONLOG_POSTGRES_DSN=... go test -run '^$' -bench '^BenchmarkPGStartUp$' -benchtime 5x -count 1
func BenchmarkPGStartUp(b *testing.B) {
	dsn := pgDSN(b)
	const events = 100
	for _, sessions := range startUpSessions() {
		b.Run("events="+strconv.Itoa(sessions*events), func(b *testing.B) {
			var schemas []string
			for _, side := range startSides {
				start := time.Now()
				schemas = append(schemas, side.fill(b, sessions, events))
				b.Logf("%s: filled %d sessions of %d events in %v", side.name, sessions, events, time.Since(start).Round(time.Millisecond))
			}
			for k, side := range startSides {
				b.Run(side.name, func(b *testing.B) {
					benchStartUp(b, side, dsn, schemas[k], sessions, events)
				})
			}
		})
	}
}

func benchStartUp(b *testing.B, side startSide, dsn, schema string, sessions, events int) {
	ctx := context.Background()
	var opens, migrates, firsts, warms, heapOpen, heapGet, heapEvents []float64
	live := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	// growth is how much the heap grew from before, or 0 if it shrank:
	// then the replica holds less than the noise.
	growth := func(before, after uint64) float64 {
		if after < before {
			return 0
		}
		return float64(after - before)
	}
	iter := 0
	for b.Loop() {
		iter++
		// A session of its own each time, spread over the fill.
		i := 1 + (iter*7919)%sessions
		b.StopTimer()
		before := live()
		b.StartTimer()

		start := time.Now()
		get, closeFn, migrate, err := side.open(ctx, dsn, schema)
		if err != nil {
			b.Fatal(err)
		}
		opened := time.Since(start)

		b.StopTimer()
		afterOpen := live()
		b.StartTimer()

		start = time.Now()
		sess, n, err := get(ctx, i)
		first := time.Since(start)
		if err != nil || n != events {
			b.Fatalf("first Get of session %d: %d events, %v; want %d", i, n, err, events)
		}

		b.StopTimer()
		afterGet := live()
		copied, err := decodedAnew(sess)
		if err != nil {
			b.Fatal(err)
		}
		afterEvents := live()
		runtime.KeepAlive(copied)
		runtime.KeepAlive(sess)
		start = time.Now()
		if _, n, err = get(ctx, i); err != nil || n != events {
			b.Fatalf("second Get of session %d: %d events, %v; want %d", i, n, err, events)
		}
		warm := time.Since(start)
		if err := closeFn(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()

		opens = append(opens, float64(opened))
		migrates = append(migrates, float64(migrate))
		firsts = append(firsts, float64(first))
		warms = append(warms, float64(warm))
		heapOpen = append(heapOpen, growth(before, afterOpen))
		heapGet = append(heapGet, growth(before, afterGet))
		heapEvents = append(heapEvents, growth(afterGet, afterEvents))
	}
	b.ReportMetric(medianOf(opens), "open-ns")
	if m := medianOf(migrates); m > 0 {
		b.ReportMetric(m, "migrate-ns")
	}
	b.ReportMetric(medianOf(firsts), "first-get-ns")
	b.ReportMetric(medianOf(warms), "get-warm-ns")
	b.ReportMetric(medianOf(heapOpen), "heap-open-B")
	b.ReportMetric(medianOf(heapGet), "heap-get-B")
	b.ReportMetric(medianOf(heapEvents), "heap-events-B")
}

// decodedAnew returns a copy of the events of a start-up side's Get
// result, each encoded to JSON and decoded into a new value of the side's
// event type, so that the copy shares nothing with the result.
func decodedAnew(result any) (any, error) {
	switch r := result.(type) {
	case *adksession.GetResponse:
		out := make([]*adksession.Event, 0, r.Session.Events().Len())
		for ev := range r.Session.Events().All() {
			cp, err := jsonCopy(ev)
			if err != nil {
				return nil, err
			}
			out = append(out, cp)
		}
		return out, nil
	case *service.Session:
		out := make([]*service.Event, 0, len(r.Events))
		for _, ev := range r.Events {
			cp, err := jsonCopy(ev)
			if err != nil {
				return nil, err
			}
			out = append(out, cp)
		}
		return out, nil
	}
	return nil, fmt.Errorf("decodedAnew: a Get result of type %T", result)
}

// jsonCopy encodes v to JSON and decodes that into a new T.
func jsonCopy[T any](v *T) (*T, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	cp := new(T)
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, err
	}
	return cp, nil
}

func medianOf(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	vs = slices.SortedFunc(slices.Values(vs), cmp.Compare[float64])
	if n := len(vs); n%2 == 0 {
		return (vs[n/2-1] + vs[n/2]) / 2
	}
	return vs[len(vs)/2]
}

// The fills write, straight into a migrated schema, what each side holds
// after its service created `sessions` sessions ("s1", "s2", ... of the
// users "u0" to "u99", given no state) and appended to each the events
// 0 to events-1 of the workloads (makeParts: ID "e<j>", timestamp
// baseTime + j ms, author "agent", the text "It is sunny." and the delta
// {"k": j, "user:u": j, "app:a": j}), one session after another.
// TestPGFillsMatchTheServices checks that a Get of a filled session
// returns what a Get of a session written through the service does.
// $1 is sessions, $2 events.

// adkFillSQL fills the ADK's four tables. Its actions column holds the
// JSON encoding of session.EventActions, as the service writes it.
const adkFillSQL = `
INSERT INTO §.sessions (app_name, user_id, id, state, create_time, update_time)
SELECT 'app', 'u' || (i % 100), 's' || i, jsonb_build_object('k', $2 - 1),
	timestamptz '2026-01-01 00:00:00+00',
	timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => ($2 - 1) / 1000.0)
FROM generate_series(1, $1) i;

INSERT INTO §.events (id, app_name, user_id, session_id, invocation_id, author, actions, timestamp, content, partial, turn_complete, interrupted)
SELECT 'e' || j, 'app', 'u' || (i % 100), 's' || i, '', 'agent',
	convert_to(format('{"stateDelta":{"app:a":%s,"k":%s,"user:u":%s}}', j, j, j), 'UTF8'),
	timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => j / 1000.0),
	'{"role": "model", "parts": [{"text": "It is sunny."}]}'::jsonb, false, false, false
FROM generate_series(1, $1) i, generate_series(0, $2 - 1) j;

INSERT INTO §.user_states (app_name, user_id, state, update_time)
SELECT 'app', 'u' || (i % 100), jsonb_build_object('u', $2 - 1), timestamptz '0001-01-01 00:00:00+00'
FROM generate_series(1, least($1, 100)) i;

INSERT INTO §.app_states (app_name, state, update_time)
SELECT 'app', jsonb_build_object('a', $2 - 1), timestamptz '0001-01-01 00:00:00+00' WHERE $1 > 0;
`

// slFillSQL fills pgstore's tables: the records in the store's format,
// the sessions' rows (their own state encoded last), the state of the three scopes and the sequence of positions. Session
// i's creation is at position (i-1)*($2+1)+1 and its event j at the
// position after that plus j. A timestamp is written as Go's RFC 3339
// with nanoseconds writes it: no trailing zeros in the fraction.
const slFillSQL = `
CREATE FUNCTION pg_temp.rfc3339(ts timestamptz) RETURNS text LANGUAGE sql AS $f$
	SELECT rtrim(rtrim(to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.') || 'Z'
$f$;

INSERT INTO §.sessions (app, user_id, session_id, created, version, updated)
SELECT 'app', convert_to('u' || (i % 100), 'UTF8'), convert_to('s' || i, 'UTF8'), (i - 1) * ($2 + 1) + 1, $2,
	pg_temp.rfc3339(timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => ($2 - 1) / 1000.0))
FROM generate_series(1, $1) i;

INSERT INTO §.records (position, kind, app, user_id, session_id, seq, event_id, body)
SELECT (i - 1) * ($2 + 1) + 1 + j, CASE WHEN j = 0 THEN 1 ELSE 2 END, 'app', convert_to('u' || (i % 100), 'UTF8'),
	convert_to('s' || i, 'UTF8'), j, CASE WHEN j > 0 THEN convert_to('e' || (j - 1), 'UTF8') END,
	convert_to(CASE WHEN j = 0 THEN
		format('{"position":0,"kind":"sessionCreated","key":{"appName":"app","userId":"u%s","id":"s%s"},"time":"2026-01-01T00:00:00Z"}',
			i % 100, i)
	ELSE
		format('{"position":0,"kind":"eventAppended","key":{"appName":"app","userId":"u%s","id":"s%s"},"seq":%s,"event":{"id":"e%s","author":"agent","timestamp":"%s","content":{"parts":[{"text":"It is sunny."}],"role":"model"},"actions":{"stateDelta":{"app:a":%s,"k":%s,"user:u":%s}}},"time":"%s"}',
			i % 100, i, j, j - 1, t, j - 1, j - 1, j - 1, t)
	END, 'UTF8')
FROM generate_series(1, $1) i, generate_series(0, $2) j,
	LATERAL (SELECT pg_temp.rfc3339(timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => (j - 1) / 1000.0)) AS t) tt;

INSERT INTO §.session_state (app, user_id, session_id, key, value, position)
SELECT 'app', convert_to('u' || (i % 100), 'UTF8'), convert_to('s' || i, 'UTF8'), 'k', convert_to(($2 - 1)::text, 'UTF8'), i * ($2 + 1)
FROM generate_series(1, $1) i;

UPDATE §.sessions s SET state = (SELECT e.state FROM §.encode_state(s.app, s.user_id, s.session_id) e);

INSERT INTO §.user_values (app, user_id, key, value, position)
SELECT 'app', convert_to('u' || (i % 100), 'UTF8'), 'u', convert_to(($2 - 1)::text, 'UTF8'), max(i * ($2 + 1))
FROM generate_series(1, $1) i GROUP BY i % 100;

INSERT INTO §.app_values (app, key, value, position)
VALUES ('app', 'a', convert_to(($2 - 1)::text, 'UTF8'), $1 * ($2 + 1));

SELECT setval('§.positions', $1 * ($2 + 1));
`

// filledUser and filledSession name the fills' session i (from 1).
func filledUser(i int) string    { return "u" + strconv.Itoa(i%100) }
func filledSession(i int) string { return "s" + strconv.Itoa(i) }

// fillSchema runs a fill over schema in one transaction, then analyzes
// the schema's tables, as autovacuum would soon after.
func fillSchema(tb testing.TB, schema, fillSQL string, sessions, events int) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgDSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{schema}.Sanitize()
	tx, err := conn.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, stmt := range strings.Split(strings.ReplaceAll(fillSQL, "§", ident), ";\n\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		var args []any
		if strings.Contains(stmt, "$1") {
			args = []any{sessions, events}
		}
		if _, err := tx.Exec(ctx, stmt, args...); err != nil {
			tb.Fatalf("fill: %.80s: %v", strings.TrimSpace(stmt), err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT format('ANALYZE %I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = $1", schema)
	if err != nil {
		tb.Fatal(err)
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			tb.Fatal(err)
		}
	}
}
