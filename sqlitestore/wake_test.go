package sqlitestore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// CONTRACT S2: a store's readers are woken for what another store on the
// same file appended, though this store commits a batch of its own before
// its poll comes round (its commit moves past the other store's records,
// and the poll looks only past its commits).
func TestAnotherStoresAppendWakesReadersThoughThisOneCommitsFirst(t *testing.T) {
	path := newFile(t)
	a := open(t, path, func(o *sqlitestore.Options) { o.PollInterval = 250 * time.Millisecond })
	b := open(t, path, func(o *sqlitestore.Options) { o.PollInterval = time.Hour })
	ctx := t.Context()
	scope := eventlog.Scope{AppName: "x"}
	changed := a.Changes(scope)
	recs, _, err := a.Read(ctx, scope, 0, 10)
	require.NoError(t, err)
	require.Empty(t, recs)

	_, err = b.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Time: time.Now(),
		Key: eventlog.SessionKey{AppName: "x", UserID: "u", SessionID: "s"}})
	require.NoError(t, err)
	_, err = a.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Time: time.Now(),
		Key: eventlog.SessionKey{AppName: "y", UserID: "u", SessionID: "s"}})
	require.NoError(t, err)
	select {
	case <-changed:
	case <-time.After(3 * time.Second):
		t.Fatal("a reader of app x was not woken for the other store's append to it")
	}
	recs, _, err = a.Read(ctx, scope, 0, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1)
}

// CONTRACT S3 B1: Close while appends and loads run ends them with errors
// (never a panic or a data race, which -race would report), and every
// call after it fails with ErrClosed.
func TestCloseWhileCallsRun(t *testing.T) {
	for round := range 10 {
		s, err := sqlitestore.Open(t.Context(), newFile(t), sqlitestore.Options{Sync: sqlitestore.SyncNormal})
		require.NoError(t, err)
		ctx := t.Context()
		k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
		_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
		require.NoError(t, err)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for g := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ev := &eventlog.Event{ID: fmt.Sprint(round, g, i), Timestamp: time.Now()}
					_, _ = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: ev.Timestamp, Event: ev})
					_, _ = s.Load(ctx, k, eventlog.LoadOptions{NoEvents: i%2 == 0})
				}
			})
		}
		time.Sleep(20 * time.Millisecond)
		require.NoError(t, s.Close())
		close(stop)
		wg.Wait()
		_, err = s.Load(ctx, k, eventlog.LoadOptions{})
		require.ErrorIs(t, err, eventlog.ErrClosed)
	}
}
