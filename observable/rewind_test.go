package observable_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

// rewindSession appends a rewind as the Go API does, and getSession can
// leave out what it annulled; a bad point is the Single's error.
func TestRewindSession(t *testing.T) {
	// CONTRACT T2 X1 X2
	eachStore(t, func(t *testing.T, svc *service.Service) {
		ctx := context.Background()
		rx := observable.New(svc)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess, err := svc.Create(ctx, key, map[string]any{"n": 0})
		require.NoError(t, err)
		for i, inv := range []string{"inv-1", "inv-2", "inv-3"} {
			_, err := svc.AppendEvent(ctx, sess, &service.Event{InvocationID: inv,
				Actions: service.EventActions{StateDelta: map[string]any{"n": i + 1}}})
			require.NoError(t, err)
		}

		rw, err := rx.RewindSession(ctx, key, "inv-2", observable.RewindOptions{}).BlockingGet(ctx)
		require.NoError(t, err)
		require.Equal(t, "inv-2", rw.Actions.RewindBeforeInvocationID)
		got, ok, err := rx.GetSession(ctx, key, nil).BlockingGet(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 1, got.State["n"])
		require.Len(t, got.Events, 4, "the log keeps every event")
		skip := observable.GetSessionConfig{}.WithSkipRewound()
		got, _, err = rx.GetSession(ctx, key, &skip).BlockingGet(ctx)
		require.NoError(t, err)
		require.Len(t, got.Events, 1, "only inv-1's event is active")

		rw, err = rx.RewindSessionToVersion(ctx, key, 0, observable.RewindOptions{}).BlockingGet(ctx)
		require.NoError(t, err)
		require.Equal(t, "inv-1", rw.Actions.RewindBeforeInvocationID)
		got, _, err = rx.GetSession(ctx, key, nil).BlockingGet(ctx)
		require.NoError(t, err)
		require.Equal(t, 0, got.State["n"])

		_, err = rx.RewindSession(ctx, key, "no-such", observable.RewindOptions{}).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		_, err = rx.RewindSession(ctx, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "missing"}, "inv-1", observable.RewindOptions{}).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrNotFound)
	})
}

// forkSession forks as the Go API does; the new session is a Single, a
// taken key or a missing source its error, and the source is untouched.
func TestForkSession(t *testing.T) {
	// CONTRACT T3 X1 X2
	eachStore(t, func(t *testing.T, svc *service.Service) {
		ctx := context.Background()
		rx := observable.New(svc)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess, err := svc.Create(ctx, key, map[string]any{"n": 0})
		require.NoError(t, err)
		for i := range 3 {
			_, err := svc.AppendEvent(ctx, sess, &service.Event{Actions: service.EventActions{StateDelta: map[string]any{"n": i + 1}}})
			require.NoError(t, err)
		}
		newKey := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "f"}
		forked, err := rx.ForkSession(ctx, key, 2, newKey).BlockingGet(ctx)
		require.NoError(t, err)
		require.Equal(t, newKey, forked.Key())
		require.Equal(t, 2, forked.State["n"])
		require.Len(t, forked.Events, 2)
		require.Equal(t, sess.Events[1].ID, forked.Events[1].CustomMetadata[service.ForkedFrom].(map[string]any)["eventId"])
		got, ok, err := rx.GetSession(ctx, key, nil).BlockingGet(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 3, got.State["n"], "the source is untouched")

		_, err = rx.ForkSession(ctx, key, 1, newKey).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrAlreadyExists)
		_, err = rx.ForkSession(ctx, observable.SessionKey{AppName: "a", UserID: "u", SessionID: "missing"}, 0, observable.SessionKey{}).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrNotFound)
		_, err = rx.ForkSession(ctx, key, 9, observable.SessionKey{}).BlockingGet(ctx)
		require.ErrorIs(t, err, service.ErrInvalidArgument)
	})
}

// eachStore runs test on a service over the in-memory store and over a
// file store.
func eachStore(t *testing.T, test func(t *testing.T, svc *service.Service)) {
	for _, name := range []string{"memory", "file"} {
		t.Run(name, func(t *testing.T) {
			var opts service.Options
			if name == "file" {
				store, err := filestore.Open(t.Context(), t.TempDir(), filestore.Options{})
				require.NoError(t, err)
				opts.Store = store
			}
			svc, err := service.New(t.Context(), opts)
			require.NoError(t, err)
			t.Cleanup(func() { _ = svc.Close() })
			test(t, svc)
		})
	}
}
