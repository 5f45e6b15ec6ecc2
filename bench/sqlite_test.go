package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	adksession "google.golang.org/adk/v2/session"

	"github.com/sessionlog/sessionlog/service"
)

// sqliteWriterSide is one side of the SQLite writer workloads: new makes a
// fresh database file (once per benchmark round, removed when the round
// ends) and returns the target writer w appends through.
type sqliteWriterSide struct {
	name string
	new  func(testing.TB) func(w int) target
}

// sqliteWriterSides makes the writer workloads' sides, in a fixed order:
// the ADK in WAL mode with synchronous=FULL (the fair row for sessionlog's
// SyncFull) and with synchronous=NORMAL; with one writer also the driver's
// defaults (rollback journal, synchronous=FULL); then sessionlog with
// SyncFull and SyncNormal. Every writer of a side shares one service.
func sqliteWriterSides(oneWriter bool) []sqliteWriterSide {
	adk := func(mode adkSQLiteMode) sqliteWriterSide {
		return sqliteWriterSide{mode.name, func(tb testing.TB) func(int) target {
			svc := newADKSQLite(tb, sqlitePath(tb, "adk"), mode)
			return func(int) target { return &adkTarget{svc: svc} }
		}}
	}
	sides := []sqliteWriterSide{adk(adkWAL), adk(adkNormal)}
	if oneWriter {
		sides = append(sides, adk(adkDefaults))
	}
	for _, policy := range slSQLiteSyncs {
		sides = append(sides, sqliteWriterSide{"sessionlog/sync=" + policy, func(tb testing.TB) func(int) target {
			svc := newSLSQLite(tb, sqlitePath(tb, "sessionlog"), policy)
			return func(int) target { return &slTarget{svc: svc} }
		}})
	}
	return sides
}

// BenchmarkSQLiteAppendOne appends from one goroutine to one session, the
// event of the in-memory workloads, on each side: the latency of one
// durable append.
//
//	go test -run '^$' -bench '^BenchmarkSQLiteAppendOne$' -count 6
func BenchmarkSQLiteAppendOne(b *testing.B) {
	ctx := context.Background()
	for _, side := range sqliteWriterSides(true) {
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

// sqliteWriters is how many goroutines BenchmarkSQLiteAppendParallel
// appends from.
const sqliteWriters = 16

// BenchmarkSQLiteAppendParallel appends from 16 goroutines, each to a
// session of its own, all of one user in one app, through one service a
// side. Each goroutine creates its session first, inside the timer.
//
//	go test -run '^$' -bench '^BenchmarkSQLiteAppendParallel$' -count 6
func BenchmarkSQLiteAppendParallel(b *testing.B) {
	ctx := context.Background()
	for _, side := range sqliteWriterSides(false) {
		b.Run(side.name, func(b *testing.B) {
			targets := side.new(b)
			var g atomic.Int64
			b.SetParallelism(max(1, sqliteWriters/runtime.GOMAXPROCS(0)))
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

// sqliteGetEvents is how many events the Get workloads' session holds.
const sqliteGetEvents = 10_000

// sqliteGetters fills a database a side with one session of 10,000
// events (session 1 of the fills, with SQL) and opens each side over it as
// the writer workloads do (synchronous=FULL, SyncFull).
func sqliteGetters(b *testing.B) []side {
	adk := newADKSQLite(b, fillADKSQLite(b, 1, sqliteGetEvents), adkWAL)
	sl := newSLSQLite(b, fillSLSQLite(b, 1, sqliteGetEvents), "full")
	return []side{
		{"adk", func(ctx context.Context, recent int) (int, error) {
			resp, err := adkFilledGet(ctx, adk, 1, recent)
			if err != nil {
				return 0, err
			}
			return resp.Session.Events().Len(), nil
		}},
		{"sessionlog", func(ctx context.Context, recent int) (int, error) {
			return slGet(ctx, sl, filledUser(1), filledSession(1), recent)
		}},
	}
}

// BenchmarkSQLiteGetAll10000 reads a 10,000-event session with all its
// events, again and again: for sessionlog from its cache after the first.
func BenchmarkSQLiteGetAll10000(b *testing.B) {
	runGets(b, sqliteGetters(b), 0, sqliteGetEvents)
}

// BenchmarkSQLiteGetLast10 reads the same session's last 10 events.
func BenchmarkSQLiteGetLast10(b *testing.B) { runGets(b, sqliteGetters(b), 10, 10) }

// sqliteListUsers is how many users BenchmarkSQLiteList100 gives 100
// sessions each.
const sqliteListUsers = 10

// BenchmarkSQLiteList100 lists one user's 100 sessions in an app of 10
// users with 100 sessions each, every session created with the keys k,
// user:u and app:a, as BenchmarkPGList100 does. The sessions are created
// through each service opened without fsync (the ADK with
// synchronous=OFF, sessionlog with SyncNormal), which then is closed and
// opened again as the writer workloads open it.
func BenchmarkSQLiteList100(b *testing.B) {
	ctx := context.Background()
	const listed = "user4"
	adkPath, slPath := sqlitePath(b, "adk"), sqlitePath(b, "sessionlog")
	create := func(do func(u, s int) error) error {
		// Creations run from 4 goroutines, a user each at a time.
		var wg sync.WaitGroup
		errs := make([]error, sqliteListUsers)
		sem := make(chan struct{}, 4)
		for u := range sqliteListUsers {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				for s := range 100 {
					if err := do(u, s); err != nil {
						errs[u] = err
						return
					}
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	state := func(u, s int) map[string]any { return map[string]any{"k": s, "user:u": u, "app:a": 1} }
	adkFillSvc, closeADK, err := openADKSQLite(adkPath, adkFill)
	if err != nil {
		b.Fatal(err)
	}
	err = create(func(u, s int) error {
		_, err := adkFillSvc.Create(ctx, &adksession.CreateRequest{
			AppName: appName, UserID: "user" + strconv.Itoa(u), SessionID: "s" + strconv.Itoa(s), State: state(u, s),
		})
		return err
	})
	if err = errors.Join(err, closeADK()); err != nil {
		b.Fatal(err)
	}
	slFillSvc, err := openSLSQLite(ctx, slPath, "normal")
	if err != nil {
		b.Fatal(err)
	}
	err = create(func(u, s int) error {
		key := service.SessionKey{AppName: appName, UserID: "user" + strconv.Itoa(u), SessionID: "s" + strconv.Itoa(s)}
		_, err := slFillSvc.Create(ctx, key, state(u, s))
		return err
	})
	if err = errors.Join(err, slFillSvc.Close()); err != nil {
		b.Fatal(err)
	}
	adk := newADKSQLite(b, adkPath, adkWAL)
	sl := newSLSQLite(b, slPath, "full")
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

// sqliteStartSides are the sides of BenchmarkSQLiteStartUp. Their fill
// returns a database file's path, which open takes as its schema.
var sqliteStartSides = []startSide{
	{
		name: "adk",
		fill: fillADKSQLite,
		open: func(_ context.Context, _, path string) (func(context.Context, int) (any, int, error), func() error, time.Duration, error) {
			svc, closeDB, err := connectADKSQLite(path, adkWAL)
			if err != nil {
				return nil, nil, 0, err
			}
			return adkStarted(svc, closeDB)
		},
	},
	{
		name: "sessionlog",
		fill: fillSLSQLite,
		open: func(ctx context.Context, _, path string) (func(context.Context, int) (any, int, error), func() error, time.Duration, error) {
			svc, err := openSLSQLite(ctx, path, "full")
			if err != nil {
				return nil, nil, 0, err
			}
			return slStarted(svc)
		},
	},
}

// BenchmarkSQLiteStartUp opens each side over a database file that holds
// 100,000 events (1,000 sessions of 100), and, with SESSIONLOG_BENCH_BIG=1,
// 1,000,000 events (10,000 sessions of 100), and reads a session of its
// own with all its events, as BenchmarkPGStartUp does on PostgreSQL: the
// ADK opens with its AutoMigrate (migrate-ns), sessionlog with
// sqlitestore.Open. ns/op is the open and the first Get; open-ns,
// first-get-ns, get-warm-ns, heap-open-B and heap-get-B are medians. The
// files are filled with SQL, once per size and run, and stay in the
// operating system's page cache: this is a restart, not a cold boot. Run
// it with a fixed count:
//
//	SESSIONLOG_BENCH_BIG=1 go test -run '^$' -bench '^BenchmarkSQLiteStartUp$' -benchtime 5x -count 1
func BenchmarkSQLiteStartUp(b *testing.B) {
	const events = 100
	for _, sessions := range startUpSessions() {
		b.Run("events="+strconv.Itoa(sessions*events), func(b *testing.B) {
			var paths []string
			for _, side := range sqliteStartSides {
				start := time.Now()
				paths = append(paths, side.fill(b, sessions, events))
				b.Logf("%s: filled %d sessions of %d events in %v: %s", side.name, sessions, events, time.Since(start).Round(time.Millisecond), sqliteSize(paths[len(paths)-1]))
			}
			for k, side := range sqliteStartSides {
				b.Run(side.name, func(b *testing.B) {
					benchStartUp(b, side, "", paths[k], sessions, events)
				})
			}
		})
	}
}

// sqliteSize is a file's size for logs.
func sqliteSize(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%.1f MiB", float64(info.Size())/(1<<20))
}
