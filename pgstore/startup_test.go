package pgstore_test

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
)

// A replica starts at once and its memory does not grow with the
// database: over 1,000,000 events in 10,000 sessions, a new store's first
// Load returns soon after Open (the target is 100 ms), and the Go heap
// after it is what that one session takes, far below 50 MB. The figures
// are reported, not asserted against a clock, but for the heap. Filling
// the database takes a minute or so, so the test runs only with
// SESSIONLOG_PG_BIG=1:
//
//	SESSIONLOG_PG_BIG=1 go test -run TestReplicaStartUp -v ./pgstore/
func TestReplicaStartUp(t *testing.T) {
	if os.Getenv("SESSIONLOG_PG_BIG") != "1" {
		t.Skip("SESSIONLOG_PG_BIG is not 1: skipping the test over a million events")
	}
	schema := newSchema(t)
	ctx := t.Context()
	addr := smallPool(dsn(t))
	first, err := pgstore.Open(ctx, addr, pgstore.Options{Schema: schema})
	require.NoError(t, err)
	require.NoError(t, first.Close())
	const sessions, events = 10000, 100
	fill(t, schema, sessions, events)
	start := time.Now()
	_, err = pgxConn(t).Exec(ctx, "ANALYZE "+pgx.Identifier{schema}.Sanitize()+".records")
	require.NoError(t, err)
	t.Logf("ANALYZE records: %v", time.Since(start).Round(time.Millisecond))

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start = time.Now()
	store, err := pgstore.Open(ctx, addr, pgstore.Options{Schema: schema})
	require.NoError(t, err)
	opened := time.Since(start)
	t.Cleanup(func() { require.NoError(t, store.Close()) })
	v, err := store.Load(ctx, filledKey(sessions/2), eventlog.LoadOptions{})
	firstLoad := time.Since(start)
	require.NoError(t, err)
	require.Len(t, v.Events, events)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	start = time.Now()
	_, err = store.Load(ctx, filledKey(sessions/2), eventlog.LoadOptions{})
	require.NoError(t, err)
	warm := time.Since(start)
	start = time.Now()
	_, err = store.Load(ctx, filledKey(sessions/3), eventlog.LoadOptions{})
	require.NoError(t, err)
	cold := time.Since(start)
	start = time.Now()
	views, err := store.List(ctx, "app", "", eventlog.ListOptions{AfterUser: "u50", Limit: 100})
	require.NoError(t, err)
	require.Len(t, views, 100)
	list := time.Since(start)

	t.Logf("%d events in %d sessions: Open %v, Open to the first Load's return %v (target 100ms); Go heap after it %.1f MB (before Open %.1f MB; target 50 MB)",
		sessions*events, sessions, opened.Round(10*time.Microsecond), firstLoad.Round(10*time.Microsecond),
		float64(after.HeapAlloc)/(1<<20), float64(before.HeapAlloc)/(1<<20))
	t.Logf("then: the same Load again %v, another session's first Load %v, a List of 100 sessions %v",
		warm.Round(10*time.Microsecond), cold.Round(10*time.Microsecond), list.Round(10*time.Microsecond))
	assert.Less(t, after.HeapAlloc, uint64(50<<20), "the heap after the first Load")
}
