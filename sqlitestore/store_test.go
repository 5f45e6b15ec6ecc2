package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

func TestParseSyncPolicy(t *testing.T) {
	for _, p := range []sqlitestore.SyncPolicy{sqlitestore.SyncFull, sqlitestore.SyncNormal} {
		got, err := sqlitestore.ParseSyncPolicy(p.String())
		require.NoError(t, err)
		require.Equal(t, p, got)
	}
	require.Equal(t, "full", sqlitestore.SyncFull.String())
	require.Equal(t, "normal", sqlitestore.SyncNormal.String())
	_, err := sqlitestore.ParseSyncPolicy("always")
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	require.ErrorContains(t, err, "full or normal")
	require.Equal(t, "SyncPolicy(9)", sqlitestore.SyncPolicy(9).String())
}

// Open refuses what it cannot use, saying what to do, and leaves nothing
// behind.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("an empty path", func(t *testing.T) {
		_, err := sqlitestore.Open(ctx, "", sqlitestore.Options{})
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	})
	t.Run("a negative option", func(t *testing.T) {
		_, err := sqlitestore.Open(ctx, newFile(t), sqlitestore.Options{PollInterval: -1})
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		_, err = sqlitestore.Open(ctx, newFile(t), sqlitestore.Options{Sync: 7})
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	})
	t.Run("a directory that does not exist", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing", "sessions.db")
		_, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
		require.Error(t, err)
		require.ErrorContains(t, err, "check that its directory exists")
		_, statErr := os.Stat(filepath.Dir(path))
		require.True(t, errors.Is(statErr, os.ErrNotExist), "nothing was created")
	})
	t.Run("a file that is not a SQLite database", func(t *testing.T) {
		path := newFile(t)
		junk := []byte("this is a sessionlog file store's log, not a SQLite database, and it goes on for a while........")
		require.NoError(t, os.WriteFile(path, junk, 0o644))
		_, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
		require.ErrorIs(t, err, sqlitestore.ErrNotDatabase)
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, junk, got, "the file is left as it was")
	})
	t.Run("a file of a newer schema version", func(t *testing.T) {
		path := newFile(t)
		open(t, path).Close()
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		_, err = db.Exec("INSERT INTO migrations (version, name, applied_at) VALUES (99, '0099_future.sql', 'now')")
		require.NoError(t, err)
		require.NoError(t, db.Close())
		_, err = sqlitestore.Open(ctx, path, sqlitestore.Options{})
		require.ErrorContains(t, err, "newer than this sqlitestore knows")
	})
}

// A closed store refuses every call with ErrClosed, closes every Changes
// channel, and a second Close is harmless.
func TestClosed(t *testing.T) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, newFile(t), sqlitestore.Options{})
	require.NoError(t, err)
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	waiting := s.Changes(eventlog.Scope{AppName: "app"})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	<-waiting
	<-s.Changes(eventlog.Scope{})
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.ErrorIs(t, err, eventlog.ErrClosed)
	_, err = s.AppendBatch(ctx, []*eventlog.Record{{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()}})
	require.ErrorIs(t, err, eventlog.ErrClosed)
	_, err = s.Load(ctx, k, eventlog.LoadOptions{})
	require.ErrorIs(t, err, eventlog.ErrClosed)
	_, err = s.List(ctx, "app", "", eventlog.ListOptions{Limit: 1})
	require.ErrorIs(t, err, eventlog.ErrClosed)
	_, _, err = s.Read(ctx, eventlog.Scope{}, 0, 1)
	require.ErrorIs(t, err, eventlog.ErrClosed)
}

// A closed store is its one database file: Close checkpoints the
// write-ahead log into it and removes the log, so that a copy of the file
// alone holds every record.
func TestClosedStoreIsOneFile(t *testing.T) {
	ctx := context.Background()
	path := newFile(t)
	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	require.NoError(t, err)
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	_, _, err = s.Read(ctx, eventlog.Scope{}, 0, 10) // the readers have connected
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoFileExists(t, path+"-wal")

	copied := filepath.Join(t.TempDir(), "copy.db")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(copied, b, 0o600))
	c, err := sqlitestore.Open(ctx, copied, sqlitestore.Options{})
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()
	v, err := c.Load(ctx, k, eventlog.LoadOptions{})
	require.NoError(t, err, "the copy holds the session")
	assert.Equal(t, k, v.Key)
}

// Close waits for the calls under way: a Load that outlasts the call to
// Close still ends well, and then the closed store is its one file, the
// log checkpointed into it, which a reader's connection left open after
// the writer's would have prevented.
func TestCloseWaitsForCallsUnderWay(t *testing.T) {
	ctx := context.Background()
	path := newFile(t)
	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{Sync: sqlitestore.SyncNormal})
	require.NoError(t, err)
	big := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "big"}
	recs := []*eventlog.Record{{Kind: eventlog.KindSessionCreated, Key: big, Time: time.Now()}}
	for i := range 5_000 {
		recs = append(recs, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: big, Time: time.Now(),
			Event: &eventlog.Event{ID: fmt.Sprint(i), Timestamp: time.Now(), Actions: eventlog.EventActions{StateDelta: map[string]any{"x": i}}}})
	}
	_, err = s.AppendBatch(ctx, recs)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	for round := range 10 {
		s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
		require.NoError(t, err)
		late := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint("late", round)}
		_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: late, Time: time.Now()})
		require.NoError(t, err)
		loaded := make(chan error, 1)
		go func() {
			_, err := s.Load(ctx, big, eventlog.LoadOptions{}) // a read of 5,000 events: tens of milliseconds
			loaded <- err
		}()
		time.Sleep(5 * time.Millisecond)
		require.NoError(t, s.Close())
		err = <-loaded
		if errors.Is(err, eventlog.ErrClosed) {
			continue // Close came first: try again
		}
		require.NoError(t, err, "the Load under way when Close was called")
		require.NoFileExists(t, path+"-wal", "the closed store left its log beside its file")
		copied := filepath.Join(t.TempDir(), "copy.db")
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(copied, b, 0o600))
		c := open(t, copied)
		_, err = c.Load(ctx, late, eventlog.LoadOptions{})
		require.NoError(t, err, "a copy of the file holds what was appended before Close")
		return
	}
	t.Fatal("in no round was the Load under way when Close was called")
}

// A BusyTimeout longer than SQLite's 32-bit milliseconds still waits for
// a lock another process holds, as a long timeout promises.
func TestLongBusyTimeoutWaits(t *testing.T) {
	path := newFile(t)
	s := open(t, path, func(o *sqlitestore.Options) { o.BusyTimeout = 1000 * time.Hour })
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	conn, err := rawDB(t, path).Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(t.Context(), "BEGIN IMMEDIATE") // another process writing
	require.NoError(t, err)
	released := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, err := conn.ExecContext(context.Background(), "ROLLBACK")
		released <- err
	}()
	_, err = s.Append(t.Context(), &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, <-released)
	require.NoError(t, err, "the append waits for the lock")
}

// workload runs a mixed random workload from several goroutines over
// stores that share one file: creations (some of sessions deleted
// before), appends at the next sequence number or at 0, deltas that write
// own, app: and user: keys that other sessions write too, temp: keys,
// Removed values and nested values, and deletions. It returns how many
// event appends were acknowledged.
func workload(t *testing.T, stores []*sqlitestore.Store, goroutines, ops int) int {
	t.Helper()
	ctx := t.Context()
	var mu sync.Mutex
	acked := 0
	var wg sync.WaitGroup
	for g := range goroutines {
		store := stores[g%len(stores)]
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 11))
			for i := range ops {
				k := eventlog.SessionKey{AppName: fmt.Sprintf("app%d", r.IntN(2)), UserID: fmt.Sprintf("u%d", r.IntN(3)), SessionID: fmt.Sprintf("s%d", r.IntN(6))}
				switch n := r.IntN(20); {
				case n < 3:
					_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now(),
						State: map[string]any{"own": float64(i), "app:shared": fmt.Sprintf("g%d-%d", g, i), "user:shared": []any{float64(g), "x"}}})
					if err != nil && !assert.ErrorIs(t, err, eventlog.ErrAlreadyExists) {
						return
					}
				case n < 4:
					_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()})
					if err != nil && !assert.ErrorIs(t, err, eventlog.ErrNotFound) {
						return
					}
				default:
					delta := map[string]any{
						"own":                              float64(i),
						fmt.Sprintf("k%d", r.IntN(4)):      map[string]any{"deep": []any{float64(i), nil, true}},
						"app:shared":                       fmt.Sprintf("g%d-%d", g, i),
						fmt.Sprintf("user:n%d", r.IntN(3)): float64(g),
						"temp:scratch":                     "never stored",
					}
					if r.IntN(3) == 0 {
						delta[fmt.Sprintf("k%d", r.IntN(4))] = projection.Removed
						delta[fmt.Sprintf("app:a%d", r.IntN(3))] = projection.Removed
						delta[fmt.Sprintf("user:n%d", r.IntN(3))] = projection.Removed
					}
					var seq uint64 // last writer wins, or the next sequence number
					if r.IntN(2) == 0 {
						v, err := store.Load(ctx, k, eventlog.LoadOptions{NoEvents: true})
						if errors.Is(err, eventlog.ErrNotFound) {
							continue
						}
						if !assert.NoError(t, err) {
							return
						}
						seq = v.Version + 1
					}
					ev := &eventlog.Event{ID: fmt.Sprintf("g%d-%d", g, i), Timestamp: time.Now(), Actions: eventlog.EventActions{StateDelta: delta}}
					_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Time: ev.Timestamp, Event: ev})
					switch {
					case err == nil:
						mu.Lock()
						acked++
						mu.Unlock()
					case errors.Is(err, eventlog.ErrNotFound), errors.Is(err, eventlog.ErrStaleSession):
					default:
						assert.NoError(t, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return acked
}

// CONTRACT R1: the state the store folds in its write transactions is the
// state a fold of the log in Go gives, as every store over the file
// serves it through Load and List: after concurrent writers of the same
// app: and user: keys from different sessions through two stores, Removed
// keys, temp: keys and deletions. And Verify sees a difference when the
// tables disagree with the log.
func TestVerifyAfterAMixedWorkload(t *testing.T) {
	path := newFile(t)
	stores := []*sqlitestore.Store{open(t, path), open(t, path)}
	acked := workload(t, stores, 6, 150)
	ctx := t.Context()
	db := rawDB(t, path)
	var live, deleted, retained int
	require.NoError(t, db.QueryRow("SELECT (SELECT count(*) FROM sessions), "+
		"(SELECT count(*) FROM records WHERE kind = 3), (SELECT count(*) FROM records WHERE kind = 4)").Scan(&live, &deleted, &retained))
	t.Logf("%d appends acknowledged; %d live sessions, %d deletions, %d retained records", acked, live, deleted, retained)
	require.Positive(t, acked)
	require.Positive(t, live)
	require.Positive(t, deleted)
	require.Positive(t, retained)
	for i, store := range stores {
		require.NoError(t, projection.Verify(ctx, store), "store %d", i)
	}
	require.NoError(t, projection.Verify(ctx, open(t, path)), "a store opened afterwards")

	// A session key changed behind the store's back: Verify says so.
	res, err := db.Exec(`UPDATE session_state SET value = '"tampered"' WHERE rowid IN (SELECT rowid FROM session_state LIMIT 1)`)
	if err != nil { // WITHOUT ROWID: name the row by its key
		res, err = db.Exec(`UPDATE session_state SET value = CAST('"tampered"' AS BLOB) WHERE (app, user_id, session_id, key) =
			(SELECT app, user_id, session_id, key FROM session_state LIMIT 1)`)
	}
	require.NoError(t, err)
	n, err := res.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.ErrorContains(t, projection.Verify(ctx, open(t, path)), "tampered")
}

// rawDB opens the file with the driver alone, as an operator's tool would.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// CONTRACT D3: a deletion frees its session's rows at once, and SQLite
// reuses the freed pages: creating, filling and deleting sessions over and
// over, with no offline step, keeps the file (and its WAL) within a bound
// set by one cycle's data rather than growing with every cycle.
func TestDeletedSpaceIsReused(t *testing.T) {
	path := newFile(t)
	s := open(t, path, func(o *sqlitestore.Options) { o.Sync = sqlitestore.SyncNormal })
	ctx := t.Context()
	payload := make([]byte, 2000)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	cycle := func(c int) {
		for sid := range 4 {
			k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprintf("c%d-s%d", c, sid)}
			recs := []*eventlog.Record{{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()}}
			for i := range 60 {
				ev := &eventlog.Event{ID: fmt.Sprint(i), Timestamp: time.Now(),
					Actions: eventlog.EventActions{StateDelta: map[string]any{"text": string(payload), fmt.Sprint("k", i%10): float64(i)}}}
				recs = append(recs, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: ev.Timestamp, Event: ev})
			}
			_, err := s.AppendBatch(ctx, recs)
			require.NoError(t, err)
			for i := range 10 { // and some single appends
				ev := &eventlog.Event{ID: fmt.Sprint("one", i), Timestamp: time.Now(), Actions: eventlog.EventActions{StateDelta: map[string]any{"text": string(payload)}}}
				_, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: ev.Timestamp, Event: ev})
				require.NoError(t, err)
			}
		}
		for sid := range 4 {
			k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprintf("c%d-s%d", c, sid)}
			_, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: k, Time: time.Now()})
			require.NoError(t, err)
		}
	}
	size := func() int64 {
		var n int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	cycle(0)
	cycle(1)
	after := size()
	const cycles = 8
	for c := 2; c < 2+cycles; c++ {
		cycle(c)
	}
	grown := size()
	// One cycle writes about 4 × 70 × 2 KB ≈ 0.6 MB of bodies (and as
	// much again in state values): eight more cycles that did not reuse
	// the space would add well over 8 MB.
	t.Logf("after 2 cycles: %d bytes; after %d more: %d bytes", after, cycles, grown)
	require.Less(t, grown, after+4<<20, "the file grows with every cycle: freed pages are not reused")
	require.NoError(t, projection.Verify(ctx, s))
}

// Another store's appends to the file (another process's, here another
// store in this one) wake a subscriber at the next poll.
func TestChangesSeeAnotherStoresAppends(t *testing.T) {
	path := newFile(t)
	reader := open(t, path, func(o *sqlitestore.Options) { o.PollInterval = 10 * time.Millisecond })
	writer := open(t, path)
	ctx := t.Context()
	scope := eventlog.Scope{AppName: "app"}
	changed := reader.Changes(scope)
	recs, through, err := reader.Read(ctx, scope, 0, 10)
	require.NoError(t, err)
	require.Empty(t, recs)
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err = writer.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("the poll did not wake the subscriber")
	}
	recs, _, err = reader.Read(ctx, scope, through, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, eventlog.KindSessionCreated, recs[0].Kind)
}

// Open with Existing refuses a file that holds no sessionlog store (one
// that does not exist, an empty one, another program's database) with
// ErrNoStore and leaves it as it was; it opens a store's file as Open does.
func TestOpenExisting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	existing := sqlitestore.Options{Existing: true}

	missing := filepath.Join(dir, "missing.db")
	_, err := sqlitestore.Open(ctx, missing, existing)
	require.ErrorIs(t, err, sqlitestore.ErrNoStore)
	require.NoFileExists(t, missing)

	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	_, err = sqlitestore.Open(ctx, empty, existing)
	require.ErrorIs(t, err, sqlitestore.ErrNoStore)
	fi, err := os.Stat(empty)
	require.NoError(t, err)
	assert.Zero(t, fi.Size(), "the empty file stays empty")

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	require.NoError(t, err)
	_, err = db.Exec("CREATE TABLE users (id INTEGER)")
	require.NoError(t, err)
	require.NoError(t, db.Close())
	before, err := os.ReadFile(other)
	require.NoError(t, err)
	_, err = sqlitestore.Open(ctx, other, existing)
	require.ErrorIs(t, err, sqlitestore.ErrNoStore)
	after, err := os.ReadFile(other)
	require.NoError(t, err)
	assert.Equal(t, before, after, "another program's database is left as it was")
	require.NoFileExists(t, other+"-wal")

	notDB := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notDB, []byte("just some text, long enough to be read as a header......................................................"), 0o600))
	_, err = sqlitestore.Open(ctx, notDB, existing)
	require.ErrorIs(t, err, sqlitestore.ErrNotDatabase)

	store := newFile(t)
	s, err := sqlitestore.Open(ctx, store, sqlitestore.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s, err = sqlitestore.Open(ctx, store, existing)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// Another program's table named migrations does not make its database a
// store: Open with Existing still refuses it and leaves it as it was.
func TestOpenExistingRefusesAnotherProgramsMigrations(t *testing.T) {
	ctx := context.Background()
	for _, schema := range []string{
		"CREATE TABLE migrations (id INTEGER PRIMARY KEY, migration TEXT, batch INTEGER)",
		"CREATE TABLE migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)",
	} {
		path := filepath.Join(t.TempDir(), "other.db")
		db, err := sql.Open("sqlite", path)
		require.NoError(t, err)
		_, err = db.Exec(schema)
		require.NoError(t, err)
		require.NoError(t, db.Close())
		before, err := os.ReadFile(path)
		require.NoError(t, err)
		_, err = sqlitestore.Open(ctx, path, sqlitestore.Options{Existing: true})
		require.ErrorIs(t, err, sqlitestore.ErrNoStore, schema)
		after, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, before, after, "the database is left as it was")
	}
}
