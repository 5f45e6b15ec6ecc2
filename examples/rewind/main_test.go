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

// TestRewindRuns runs the program and compares its whole output: the
// clock and the IDs are fixed, so every line is the same on every run. A
// rewind that restored the wrong state (or dropped the creation's tone),
// a read that kept an annulled event or dropped an active one, or a past
// version that no longer read as it stood changes a line.
func TestRewindRuns(t *testing.T) {
	// CONTRACT T1 T2
	defer goleak.VerifyNone(t, leaktest.Options()...)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	want := []string{
		`before the edit, version 4, state {draft="Salt wind, grey waves.", form="haiku", tone="playful", topic="the sea"}`,
		// Only the keys inv-2 wrote are in the delta; form was first set
		// in inv-2, so it goes; tone, set at creation, is not touched.
		`rewound before inv-2: the rewind event by user restores {draft="Red leaves let go.", form=(removed), topic="autumn"}`,
		`after the rewind, version 5, state {draft="Red leaves let go.", tone="playful", topic="autumn"}`,
		`active conversation, version 7:`,
		`  user: A haiku about autumn, please.`,
		`  poet: Red leaves let go.`,
		`  user: Now one about the mountains.`,
		`  poet: Stone peaks hold the snow.`,
		`state {draft="Stone peaks hold the snow.", tone="playful", topic="the mountains"}`,
		`full log, 7 events:`,
		`  1 active   inv-1 user: A haiku about autumn, please.`,
		`  2 active   inv-1 poet: Red leaves let go.`,
		`  3 annulled inv-2 user: Now one about the sea.`,
		`  4 annulled inv-2 poet: Salt wind, grey waves.`,
		`  5 annulled id-5 user: (rewind before inv-2)`,
		`  6 active   inv-3 user: Now one about the mountains.`,
		`  7 active   inv-3 poet: Stone peaks hold the snow.`,
		`version 4 still reads: last user message "Now one about the sea.", state {draft="Salt wind, grey waves.", form="haiku", tone="playful", topic="the sea"}`,
	}
	require.Equal(t, strings.Join(want, "\n")+"\n", out.String())
}
