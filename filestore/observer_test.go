package filestore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
)

// syncs collects what an Observer's OnSync is told.
type syncs struct {
	mu      sync.Mutex
	records []int
	total   time.Duration
}

func (s *syncs) observe(d time.Duration, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, records)
	s.total += d
}

func (s *syncs) sum() (calls, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.records {
		records += n
	}
	return len(s.records), records
}

func TestObserverSeesEverySyncAndTheRecordsItCovers(t *testing.T) {
	ctx := context.Background()
	var seen syncs
	s, err := filestore.Open(ctx, t.TempDir(), filestore.Options{Observer: filestore.Observer{OnSync: seen.observe}})
	require.NoError(t, err)
	defer s.Close()
	calls, records := seen.sum()
	require.Equal(t, 1, calls, "the sync at Open")
	require.Zero(t, records, "the sync at Open covers only the replayed file")

	// Appends from several goroutines, each waiting for its fsync: the
	// syncs' records add up to the appends, whatever the groups were.
	const writers, each = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			key := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint("s", w)}
			res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key})
			if err == nil {
				err = res.Wait()
			}
			for i := 1; err == nil && i <= each; i++ {
				res, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Seq: uint64(i), Event: &eventlog.Event{ID: fmt.Sprint("e", i)}})
				if err == nil {
					err = res.Wait()
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	for range writers {
		require.NoError(t, <-errs)
	}
	// A batch counts each of its records.
	fork := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "fork"}
	res, err := s.AppendBatch(ctx, []*eventlog.Record{
		{Kind: eventlog.KindSessionCreated, Key: fork},
		{Kind: eventlog.KindEventAppended, Key: fork, Event: &eventlog.Event{ID: "a"}},
		{Kind: eventlog.KindEventAppended, Key: fork, Event: &eventlog.Event{ID: "b"}},
	})
	require.NoError(t, err)
	require.NoError(t, res.Wait())

	calls, records = seen.sum()
	require.Equal(t, writers*(1+each)+3, records)
	require.EqualValues(t, s.Stats().Syncs, calls, "one call per fsync")
}

func TestObserverUnderSyncOSHearsOfTheSyncAtClose(t *testing.T) {
	ctx := context.Background()
	var seen syncs
	s, err := filestore.Open(ctx, t.TempDir(), filestore.Options{Sync: filestore.SyncOS, Observer: filestore.Observer{OnSync: seen.observe}})
	require.NoError(t, err)
	key := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key})
	require.NoError(t, err)
	calls, _ := seen.sum()
	require.Equal(t, 1, calls, "under SyncOS an append does not sync")
	require.NoError(t, s.Close())
	calls, records := seen.sum()
	require.Equal(t, 2, calls)
	require.Equal(t, 1, records, "Close syncs the record written since Open")
}
