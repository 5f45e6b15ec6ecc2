package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// ignoreOpencensus skips the worker that opencensus, brought in by genai,
// starts at package init and runs for the life of the process.
var ignoreOpencensus = goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start")

// TestRunnerTurnRuns runs the program and compares its whole output: the
// subscriber prints the events in the order the runner stored them (CONTRACT
// S1), the tool's user: write shows in the next Get (CONTRACT G3), and every
// goroutine has ended when run returns (CONTRACT S3).
func TestRunnerTurnRuns(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreOpencensus)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	require.Equal(t, `stored #1 user: "What's the weather in Oslo?"
stored #2 weather_agent: call get_weather(map[city:Oslo])
stored #3 weather_agent: response get_weather(map[forecast:4°C and clear in Oslo]) (sets user:last_city)
stored #4 weather_agent: "4°C and clear in Oslo"
session trip-1: 4 events, state [user:last_city=Oslo user:units=celsius]
`, out.String())
}

// TestRunnerTurnCancelled checks that a done context is an error, not a
// hang, and that nothing is left running.
func TestRunnerTurnCancelled(t *testing.T) {
	defer goleak.VerifyNone(t, ignoreOpencensus)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, run(ctx, &bytes.Buffer{}), context.Canceled)
}
