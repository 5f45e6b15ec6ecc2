package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

func key(i int) eventlog.SessionKey {
	return eventlog.SessionKey{AppName: fmt.Sprint("app", i%3), UserID: "u", SessionID: fmt.Sprint("s", i)}
}

// CONTRACT A1 A4: a write the file refuses publishes nothing: the append
// fails, readers see no record, and the file holds no part of it.
func TestFailedWritePublishesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	size := s.Stats().Written

	// Swap in a read-only handle of the file, so that the next write fails.
	ro, err := os.Open(filepath.Join(dir, LogFile))
	require.NoError(t, err)
	real := s.log.wal.f
	s.log.wal.f = ro
	changed := s.Changes(eventlog.Scope{AppName: key(0).AppName})
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key(0), Seq: 1, Event: &eventlog.Event{ID: "e"}})
	require.Error(t, err)
	require.Contains(t, err.Error(), "write log")
	view, err := s.Load(ctx, key(0), eventlog.LoadOptions{})
	require.NoError(t, err)
	require.Zero(t, view.Version, "the failed record is visible")
	recs, _, err := s.Read(ctx, eventlog.Scope{}, 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1, "the failed record is in the log the store serves")
	select {
	case <-changed:
		t.Fatal("readers were woken by a record that was not stored")
	default:
	}
	s.log.wal.f = real
	require.NoError(t, ro.Close())
	require.Equal(t, size, s.Stats().Written)

	res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key(0), Seq: 1, Event: &eventlog.Event{ID: "e"}})
	require.NoError(t, err, "the store goes on once the file takes writes again")
	require.NoError(t, res.Wait())
	require.Greater(t, res.Record.Position, recs[0].Position)
}

// CONTRACT Z1: under SyncAlways, one fsync covers concurrent appends (group
// commit), and every append's durability wait returns only once it is
// synced.
func TestGroupCommitCoversAppendsWithOneSync(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{Sync: SyncAlways})
	require.NoError(t, err)
	defer s.Close()
	const writers, each = 16, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(w)})
			assert.NoError(t, err)
			assert.NotNil(t, res.Durable, "SyncAlways gives a durability wait")
			assert.NoError(t, res.Wait())
			for i := range each {
				res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key(w), Seq: uint64(i + 1),
					Event: &eventlog.Event{ID: fmt.Sprint(i)}})
				assert.NoError(t, err)
				assert.NoError(t, res.Wait())
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	require.Equal(t, st.Written, st.Synced, "an append returned before its sync")
	require.Less(t, st.Syncs, int64(writers*(each+1)), "every append ran its own fsync")
	t.Logf("%d appends, %d fsyncs", writers*(each+1), st.Syncs)
}

// CONTRACT Z1: under SyncInterval the background syncer syncs what was
// written, and Close ends it (TestMain checks for leaks).
func TestIntervalSyncerSyncs(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{Sync: SyncInterval, SyncInterval: time.Millisecond})
	require.NoError(t, err)
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	require.Eventually(t, func() bool { st := s.Stats(); return st.Synced == st.Written && st.Syncs > 0 },
		10*time.Second, time.Millisecond, "the interval syncer never synced")
	require.NoError(t, s.Close())
}

// CONTRACT A7: an idempotent retry of an event returns only once the stored
// event is durable.
func TestDuplicateWaitsForTheStoredEvent(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{Sync: SyncOS})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	ev := func() *eventlog.Record {
		return &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key(0), Seq: 1, Event: &eventlog.Event{ID: "e"}}
	}
	first, err := s.Append(ctx, ev())
	require.NoError(t, err)
	require.Nil(t, first.Durable, "SyncOS has nothing to wait for")
	st := s.Stats()
	require.Less(t, st.Synced, st.Written, "SyncOS synced the first append")
	s.log.sync = SyncAlways // as if the first append's sync were still running
	again, err := s.Append(ctx, ev())
	require.NoError(t, err)
	require.True(t, again.Duplicate)
	require.Same(t, first.Record, again.Record)
	require.NotNil(t, again.Durable, "the duplicate waits for the stored event")
	require.NoError(t, again.Wait())
	st = s.Stats()
	require.Equal(t, st.Written, st.Synced)
}

// CONTRACT A4: after a failed fsync nothing written since the last good one
// is known to be on disk, so the log refuses every later write and every
// waiter gets the error.
func TestFailedSyncRefusesLaterWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), LogFile)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	w := newWAL(f, path, 0, Version, SyncAlways, 0, nil)
	body, err := encode(&eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	end, err := w.write(body, 1)
	require.NoError(t, err)
	require.NoError(t, f.Close()) // the next fsync fails
	err = w.syncTo(end)
	require.ErrorContains(t, err, "sync log")
	_, err = w.write(body, 2)
	require.ErrorContains(t, err, "refuses writes after a failed sync")
	require.ErrorContains(t, w.syncTo(end), "refuses writes")
}

// CONTRACT Z1: a store that found no log, and meanwhile lost the race to
// make it, keeps the log the winner made and the records in it.
func TestMakingALogNeverReplacesOne(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first, err := Open(ctx, dir, Options{})
	require.NoError(t, err)
	_, err = first.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	require.NoError(t, first.Close())

	late, err := openLog(ctx, dir, filepath.Join(dir, LogFile), false, Options{})
	require.NoError(t, err)
	defer late.Close()
	require.Equal(t, 1, late.Report().Records, "the log made first was replaced")
	_, err = late.Load(ctx, key(0), eventlog.LoadOptions{})
	require.NoError(t, err)
}

// CONTRACT A3 (durability): under SyncAlways an append's durability wait
// returns only after a sync that began after its record was written. A record written while
// another append's fsync runs waits for the next fsync, not that one.
func TestAnAppendWaitsForASyncThatCoversIt(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), Options{Sync: SyncAlways})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(1)})
	require.NoError(t, err)

	entered, release := make(chan struct{}), make(chan struct{})
	var calls sync.Mutex
	first := true
	s.log.wal.syncMu.Lock()
	s.log.wal.sync = func() error {
		calls.Lock()
		block := first
		first = false
		calls.Unlock()
		if block {
			close(entered)
			<-release
		}
		return s.log.wal.f.Sync()
	}
	s.log.wal.syncMu.Unlock()
	before := s.Stats().Syncs

	var wg sync.WaitGroup
	wg.Go(func() { // its fsync blocks
		res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key(0), Seq: 1, Event: &eventlog.Event{ID: "a"}})
		assert.NoError(t, err)
		assert.NoError(t, res.Wait())
	})
	<-entered
	afterFirst := s.Stats().Written
	done := make(chan struct{})
	wg.Go(func() { // written while that fsync runs
		res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key(1), Seq: 1, Event: &eventlog.Event{ID: "b"}})
		assert.NoError(t, err)
		assert.NoError(t, res.Wait())
		close(done)
	})
	require.Eventually(t, func() bool { return s.Stats().Written > afterFirst }, 10*time.Second, time.Millisecond,
		"the second record is written during the first fsync")
	select {
	case <-done:
		t.Fatal("an append returned before any fsync covered its record")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	wg.Wait()
	st := s.Stats()
	assert.Equal(t, before+2, st.Syncs, "the second append waited for an fsync of its own")
	assert.Equal(t, st.Written, st.Synced)
}
