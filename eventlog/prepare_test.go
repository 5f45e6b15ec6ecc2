package eventlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// memHistory fills store with interleaved sessions of one app whose events
// write session, app and user state, and returns their keys.
func memHistory(t *testing.T, store eventlog.Store) []eventlog.SessionKey {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	var keys []eventlog.SessionKey
	for i := range 4 {
		k := memKey("app", fmt.Sprint("u", i%2), fmt.Sprint("s", i))
		memAppend(t, store, memCreated(k, map[string]any{"app:a": i, "own": i}))
		keys = append(keys, k)
	}
	seqs := make([]uint64, len(keys))
	for n := range 400 {
		i := r.IntN(len(keys))
		seqs[i]++
		delta := map[string]any{"own": n}
		switch r.IntN(3) {
		case 0:
			delta[fmt.Sprint("app:k", r.IntN(5))] = n
		case 1:
			delta[fmt.Sprint("user:k", r.IntN(5))] = n
		}
		memAppend(t, store, memAppended(keys[i], seqs[i], fmt.Sprint("e", n), delta))
	}
	return keys
}

// CONTRACT D3: a deletion done in two steps (PrepareDelete, then its
// commit) leaves the log exactly as Append of the deletion does.
func TestMemoryPrepareDeleteEqualsAppend(t *testing.T) {
	ctx := context.Background()
	one, two := eventlog.NewMemory(), eventlog.NewMemory()
	keys := memHistory(t, one)
	memHistory(t, two)
	for _, k := range []eventlog.SessionKey{keys[1], keys[3], keys[0]} {
		want := memAppend(t, one, memDeleted(k))
		commit, err := two.PrepareDelete(ctx, memDeleted(k))
		require.NoError(t, err)
		got, err := commit()
		require.NoError(t, err)
		require.Equal(t, want, got)
		_, err = two.Session(ctx, k)
		require.ErrorIs(t, err, eventlog.ErrNotFound)
	}
	require.Equal(t, memReadAll(t, one, eventlog.Scope{}), memReadAll(t, two, eventlog.Scope{}))
	require.Equal(t, memReadAll(t, one, eventlog.Scope{AppName: "app", UserID: "u0"}), memReadAll(t, two, eventlog.Scope{AppName: "app", UserID: "u0"}))
}

// CONTRACT D1 A6: between PrepareDelete and its commit the session takes no
// write: an append that arrives meanwhile finds the session deleted.
func TestMemoryPrepareDeleteHoldsTheSession(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	k := memKey("app", "u", "s")
	memAppend(t, store, memCreated(k, nil))
	commit, err := store.PrepareDelete(ctx, memDeleted(k))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := store.Append(ctx, memAppended(k, 1, "late", nil))
		done <- err
	}()
	_, err = commit()
	require.NoError(t, err)
	require.ErrorIs(t, <-done, eventlog.ErrNotFound)
	_, err = commit()
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument, "a second commit is refused and unlocks nothing")
	require.NoError(t, store.Close(), "nothing is left locked")
}

// PrepareDelete refuses what Append of a deletion would refuse, and then
// holds nothing.
func TestMemoryPrepareDeleteErrors(t *testing.T) {
	ctx := context.Background()
	store := eventlog.NewMemory()
	k := memKey("app", "u", "s")
	memAppend(t, store, memCreated(k, nil))
	for _, tt := range []struct {
		name string
		rec  *eventlog.Record
		want error
	}{
		{"a nil record", nil, eventlog.ErrInvalidArgument},
		{"a record of another kind", memAppended(k, 1, "e", nil), eventlog.ErrInvalidArgument},
		{"a key without a session ID", memDeleted(memKey("app", "u", "")), eventlog.ErrInvalidArgument},
		{"a missing app", memDeleted(memKey("nope", "u", "s")), eventlog.ErrNotFound},
		{"a missing session", memDeleted(memKey("app", "u", "nope")), eventlog.ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			commit, err := store.PrepareDelete(ctx, tt.rec)
			require.ErrorIs(t, err, tt.want)
			require.Nil(t, commit)
		})
	}
	// Nothing was left locked: the session still takes appends.
	memAppend(t, store, memAppended(k, 1, "e1", nil))
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := store.PrepareDelete(cancelled, memDeleted(k))
	require.ErrorIs(t, err, context.Canceled)
	require.NoError(t, store.Close())
	_, err = store.PrepareDelete(ctx, memDeleted(k))
	require.ErrorIs(t, err, eventlog.ErrClosed)
}
