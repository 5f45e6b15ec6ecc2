package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessionlog/sessionlog/service"
)

// BenchmarkPGBatchFloor is the server's side of pgstore's batches alone:
// appends that are already encoded, sent straight to the append_events
// function of a migrated schema (what pgstore sends for a batch) from
// inFlight connections at once, each with a batch of its own sessions.
// There is no service, no encoding and no queue, so next to
// BenchmarkPGAppendParallel it shows how much of an append's time the
// server takes, and how many appends per second the server allows: the
// pgWriters writers of BenchmarkPGAppendParallel make batches of 16 with
// one batch in flight (pgstore's default, Options.Batches), and two
// batches of 8 with two. benchtable shows them under the 16-writer rows.
//
// Each append is the workload's: the same record body (read back from an
// append through the service) and the same three state writes, one per
// scope.
//
// When the server runs on this machine (a loopback or Unix socket
// address) and Linux shows its processes, server-ns/append is the CPU
// time the backends spent on the calls, per append, read from
// /proc/<pid>/schedstat: the server's work alone, which the load of other
// processes changes less than it changes the rate. Batches of 4 beside
// batches of 16, both with one in flight, split a call's CPU into a part
// per call and a part per append.
//
//	SESSIONLOG_POSTGRES_DSN=... go test -run '^$' -bench 'PGAppendParallel/sessionlog/replicas=1$|PGBatchFloor' -count 6
func BenchmarkPGBatchFloor(b *testing.B) {
	dsn := pgDSN(b)
	ctx := context.Background()
	for _, run := range []struct{ batch, inFlight int }{{pgWriters, 1}, {pgWriters / 2, 2}, {pgWriters, 2}, {pgWriters / 4, 1}} {
		batch, inFlight := run.batch, run.inFlight
		b.Run(fmt.Sprintf("batch=%d/in-flight=%d", batch, inFlight), func(b *testing.B) {
			schema := pgSchema(b, "bench_floor")
			svc := newSLPG(b, schema, 1)[0]
			sessions := make([][]service.SessionKey, inFlight)
			for g := range sessions {
				for i := range batch {
					k := service.SessionKey{AppName: appName, UserID: userID, SessionID: fmt.Sprintf("f%d-%d", g, i)}
					sess, err := svc.Create(ctx, k, nil)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := svc.AppendEvent(ctx, sess, slEvent(0)); err != nil {
						b.Fatal(err)
					}
					sessions[g] = append(sessions[g], k)
				}
			}
			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			var body []byte
			err = conn.QueryRow(ctx, "SELECT body FROM "+pgx.Identifier{schema, "records"}.Sanitize()+" WHERE kind = 2 LIMIT 1").Scan(&body)
			_ = conn.Close(ctx)
			if err != nil {
				b.Fatal(err)
			}
			call := "SELECT count(*) FILTER (WHERE status = 0) FROM " + pgx.Identifier{schema}.Sanitize() +
				".append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"

			calls := int64((b.N + batch - 1) / batch)
			var next atomic.Int64
			var wg sync.WaitGroup
			errs := make([]error, inFlight)
			cpu := make([]time.Duration, inFlight) // each connection's backend's; -1: not known
			b.ResetTimer()
			for g := range inFlight {
				wg.Go(func() { cpu[g], errs[g] = floorCalls(ctx, dsn, call, sessions[g], body, &next, calls) })
			}
			wg.Wait()
			b.StopTimer()
			for _, err := range errs {
				if err != nil {
					b.Fatal(err)
				}
			}
			appends := float64(calls * int64(batch))
			b.ReportMetric(appends/b.Elapsed().Seconds(), "appends/s")
			var total time.Duration
			for _, d := range cpu {
				if d < 0 {
					return
				}
				total += d
			}
			b.ReportMetric(float64(total)/appends, "server-ns/append")
		})
	}
}

// floorCalls calls append_events on a connection of its own, a batch of
// one append to each of sessions per call, until next reaches calls. It
// returns the CPU time the connection's backend spent on the calls, or -1
// when that cannot be read (see backendCPU).
func floorCalls(ctx context.Context, dsn, call string, sessions []service.SessionKey, body []byte, next *atomic.Int64, calls int64) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return -1, err
	}
	defer conn.Close(context.Background())
	cpu, err := backendCPU(ctx, conn)
	if err != nil {
		return -1, err
	}
	before := cpu()
	n := len(sessions)
	apps, users, ids := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	bodies, times, zeros := make([][]byte, n), make([]string, n), make([]int64, n)
	var of []int32
	var keys, values [][]byte
	var scopes []int16
	for i, k := range sessions {
		apps[i], users[i], ids[i] = []byte(k.AppName), []byte(k.UserID), []byte(k.SessionID)
		bodies[i], times[i] = body, "2026-12-06T00:00:00Z"
		// k, app:a and user:u, as pgstore sends them: without their
		// prefixes, in the session's, the app's and the user's scope.
		for scope, key := range []string{"k", "a", "u"} {
			of, keys, scopes = append(of, int32(i+1)), append(keys, []byte(key)), append(scopes, int16(scope))
			values = append(values, []byte(strconv.Itoa(i)))
		}
	}
	eventIDs := make([][]byte, n)
	for c := next.Add(1); c <= calls; c = next.Add(1) {
		for i := range eventIDs {
			eventIDs[i] = fmt.Appendf(eventIDs[i][:0], "f%d-%d", c, i)
		}
		var appended int
		if err := conn.QueryRow(ctx, call, apps, users, ids, zeros, eventIDs, bodies, times, zeros, of, keys, values, scopes).Scan(&appended); err != nil {
			return -1, err
		}
		if appended != n {
			return -1, fmt.Errorf("append_events appended %d of %d", appended, n)
		}
	}
	if before < 0 {
		return -1, nil
	}
	return cpu() - before, nil
}

// backendCPU returns a reader of the CPU time that conn's backend has
// spent so far, which gives -1 unless the server runs on this machine:
// conn's address is a loopback or Unix socket one, and
// /proc/<pid>/schedstat of the backend's process ID is that of a postgres
// process.
func backendCPU(ctx context.Context, conn *pgx.Conn) (func() time.Duration, error) {
	unknown := func() time.Duration { return -1 }
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		return nil, err
	}
	switch a := conn.PgConn().Conn().RemoteAddr().(type) {
	case *net.UnixAddr:
	case *net.TCPAddr:
		if !a.IP.IsLoopback() {
			return unknown, nil
		}
	default:
		return unknown, nil
	}
	if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != "postgres" {
		return unknown, nil
	}
	path := fmt.Sprintf("/proc/%d/schedstat", pid)
	return func() time.Duration {
		b, err := os.ReadFile(path)
		if err != nil {
			return -1
		}
		f := strings.Fields(string(b)) // on the CPU (ns), waiting to run (ns), time slices
		if len(f) == 0 {
			return -1
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return -1
		}
		return time.Duration(ns)
	}, nil
}
