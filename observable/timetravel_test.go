package observable_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

// getSession reads a session as it stood at a version, or before an
// invocation, as the Go API does; a bad point is the Maybe's error.
func TestGetSessionAsItWas(t *testing.T) {
	// CONTRACT T1 X1
	eachStore(t, func(t *testing.T, svc *service.Service) {
		ctx := context.Background()
		rx := observable.New(svc)
		key := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		sess, err := svc.Create(ctx, key, map[string]any{"n": 0})
		require.NoError(t, err)
		for i, inv := range []string{"inv-1", "inv-2", "inv-2", "inv-3"} {
			_, err := svc.AppendEvent(ctx, sess, &service.Event{ID: fmt.Sprint("e", i+1), InvocationID: inv,
				Actions: service.EventActions{StateDelta: map[string]any{"n": i + 1}}})
			require.NoError(t, err)
		}

		at2 := observable.GetSessionConfig{}.WithAtVersion(2)
		got, ok, err := rx.GetSession(ctx, key, &at2).BlockingGet(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint64(2), got.Version)
		require.Equal(t, 2, got.State["n"])
		require.Len(t, got.Events, 2)

		before := observable.GetSessionConfig{}.WithBeforeInvocationID("inv-2").WithNumRecentEvents(0)
		got, ok, err = rx.GetSession(ctx, key, &before).BlockingGet(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, uint64(1), got.Version)
		require.Equal(t, 1, got.State["n"])
		require.Empty(t, got.Events, "numRecentEvents 0 returns no events, as in Java")

		for name, c := range map[string]observable.GetSessionConfig{
			"a version beyond the session's": observable.GetSessionConfig{}.WithAtVersion(5),
			"an unknown invocation":          observable.GetSessionConfig{}.WithBeforeInvocationID("inv-9"),
			"an empty invocation ID":         observable.GetSessionConfig{}.WithBeforeInvocationID(""),
		} {
			_, ok, err := rx.GetSession(ctx, key, &c).BlockingGet(ctx)
			require.ErrorIs(t, err, service.ErrInvalidArgument, name)
			require.False(t, ok, name)
		}
		missing := observable.SessionKey{AppName: "a", UserID: "u", SessionID: "nope"}
		_, ok, err = rx.GetSession(ctx, missing, &at2).BlockingGet(ctx)
		require.NoError(t, err)
		require.False(t, ok, "a missing session is an empty Maybe at any version")
	})
}
