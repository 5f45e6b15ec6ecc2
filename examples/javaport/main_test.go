package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/internal/leaktest"
)

func TestJavaportRuns(t *testing.T) {
	defer goleak.VerifyNone(t, leaktest.Options()...)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	want := []string{
		"createSession: id-1 state=map[app:model:gemini city:Oslo user:lang:en]",
		"appendEvent: id-2 by user at 09:00:02, stored delta=map[]",
		"appendEvent: id-3 by planner at 09:00:03, stored delta=map[app:model:gemini-pro city:Bergen user:lang:nb]",
		"session handle: version=2 state=map[app:model:gemini-pro city:Bergen temp:scratch:42 user:lang:nb]",
		`getSession(numRecentEvents=1): id-1 events=["Three a day."] state=map[app:model:gemini-pro city:Bergen user:lang:nb]`,
		"getSession(nope): present=false",
		"flatMap(createSession -> appendEvent): id-4 by user, delta=map[city:Tromsø]",
		"listSessions: [id-1 trip-2]",
		`listEvents: 2 events ["Trains to Bergen?" "Three a day."], next page token ""`,
		"closeSession: id-1 completed",
		"deleteSession: id-1 completed",
		"getSession(id-1) after delete: present=false",
		`appendEvent after delete: onError: append event: append eventAppended record: session "travel"/"ada"/"id-1": not found`,
		`getSession(trip-2): events=["Hello again"] state=map[app:model:gemini-pro city:Tromsø user:lang:nb]`,
	}
	require.Equal(t, strings.Join(want, "\n")+"\n", out.String())
}

// TestJavaportCancelled checks that a done context is reported as an error,
// not a panic.
func TestJavaportCancelled(t *testing.T) {
	defer goleak.VerifyNone(t, leaktest.Options()...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	err := run(ctx, &out)
	require.ErrorIs(t, err, context.Canceled)
}
