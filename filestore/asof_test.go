package filestore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/internal/pastcheck"
)

// CONTRACT T1 D3 R1: a file store serves every version of every live
// session, with the app's and the user's state exactly as of then, as its
// log defines them: while it is written, after it is reopened from its
// journal (which replays the deletions), and after a compaction (which
// leaves deleted sessions' app and user writes as retained records).
func TestLoadAsOfEqualsTheFoldOfTheLogAfterReopening(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			dir := t.TempDir()
			check := func(store *filestore.Store, when string) {
				t.Helper()
				n, err := pastcheck.Check(ctx, store)
				require.NoError(t, err, when)
				require.NotZero(t, n, when)
			}
			store, err := filestore.Open(ctx, dir, filestore.Options{Sync: filestore.SyncOS})
			require.NoError(t, err)
			w := &pastcheck.Workload{Store: store, Rand: rand.New(rand.NewPCG(seed, 3)), LongSessions: seed == 2}
			require.NoError(t, w.Run(ctx, 600))
			check(store, "written")
			require.NoError(t, store.Close())

			store, err = filestore.Open(ctx, dir, filestore.Options{Sync: filestore.SyncOS})
			require.NoError(t, err)
			check(store, "reopened")
			w.Store = store
			require.NoError(t, w.Run(ctx, 300))
			check(store, "written after reopening")
			require.NoError(t, store.Close())

			_, err = filestore.Compact(ctx, dir)
			require.NoError(t, err)
			store, err = filestore.Open(ctx, dir, filestore.Options{Sync: filestore.SyncOS})
			require.NoError(t, err)
			defer store.Close()
			check(store, "compacted and reopened")
		})
	}
}
