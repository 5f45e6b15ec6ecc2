package sqlitestore_test

import (
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
