package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/internal/leaktest"
)

func TestQuickstartRuns(t *testing.T) {
	defer goleak.VerifyNone(t, leaktest.Options()...)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	got := out.String()
	for _, want := range []string{
		"created trip-1: state map[app:model:gemini city:Oslo user:units:metric]",
		"subscriber saw event 1 by user",
		"subscriber saw event 2 by agent",
		"handle state (temp: keys live only here): map[app:model:gemini last_answer:4°C temp:tool_calls:1 user:units:celsius]",
		"stale session",
		`last event: "4°C and clear."; stored state: map[app:model:gemini last_answer:4°C user:units:celsius]`,
		"events at or after 09:00:01: 1",
		"listed trip-1: units=celsius",
		"listed trip-2: units=celsius",
		"subscription completed after delete",
		"get after delete: get session: ",
		`"weather"/"ada"/"trip-1": not found`,
	} {
		require.Contains(t, got, want)
	}
}
