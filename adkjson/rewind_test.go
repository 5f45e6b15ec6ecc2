package adkjson_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/service"
)

// A session document in the Python ADK's shape that holds a rewind: the
// event codec reads and writes actions.rewindBeforeInvocationId, and the
// imported session leaves out what the rewind annulled when asked.
func TestRewindEventRoundTrips(t *testing.T) {
	// CONTRACT T2 R2
	const doc = `{"id": "s", "appName": "a", "userId": "u", "state": {"topic": "go"},
	  "lastUpdateTime": 1763715603.0,
	  "events": [
	    {"id": "e1", "invocationId": "inv-1", "author": "user", "timestamp": 1763715600.0,
	     "actions": {"stateDelta": {"topic": "go"}}},
	    {"id": "e2", "invocationId": "inv-2", "author": "user", "timestamp": 1763715601.0,
	     "actions": {"stateDelta": {"topic": "rust", "draft": 1}}},
	    {"id": "e3", "invocationId": "inv-3", "author": "user", "timestamp": 1763715602.0,
	     "actions": {"stateDelta": {"topic": "go", "draft": "__ADK_SENTINEL_REMOVED__"},
	                 "rewindBeforeInvocationId": "inv-2"}}
	  ]}`
	sess, err := adkjson.Unmarshal([]byte(doc))
	require.NoError(t, err)
	require.Equal(t, "inv-2", sess.Events[2].Actions.RewindBeforeInvocationID)
	for _, f := range []adkjson.Format{adkjson.FormatGo, adkjson.FormatPython, adkjson.FormatJava} {
		b, err := adkjson.Marshal(sess, adkjson.Options{Format: f})
		require.NoError(t, err, f)
		require.Contains(t, string(b), `"rewindBeforeInvocationId":"inv-2"`, f)
	}

	ctx := context.Background()
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	_, err = adkjson.Import(ctx, svc, strings.NewReader(doc))
	require.NoError(t, err)
	key := service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	got, err := svc.Get(ctx, key, service.GetOptions{SkipRewound: true})
	require.NoError(t, err)
	require.Len(t, got.Events, 1)
	require.Equal(t, "e1", got.Events[0].ID, "the rewind and the invocation it annulled are left out")
	require.Equal(t, map[string]any{"topic": "go"}, got.State)
}
