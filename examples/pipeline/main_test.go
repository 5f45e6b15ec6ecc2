package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/internal/leaktest"
)

// TestPipelineRuns runs the program and compares its whole output. The
// agent is one goroutine appending in a fixed order, and the app's stream
// delivers records in the store's order, so even the per-buffer lines are
// the same on every run, however the goroutines interleave.
func TestPipelineRuns(t *testing.T) {
	defer goleak.VerifyNone(t, leaktest.Options()...)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), &out))
	want := []string{
		"buffer 1 (events 1-4): planner=1 user=2 weather=1",
		"  planner set [destination] in ada/oslo",
		"  weather set [forecast] in ada/oslo",
		"buffer 2 (events 5-8): booker=1 planner=2 user=1",
		"  planner set [destination user:budget] in bob/rome",
		"  booker set [app:bookings hotel] in bob/rome",
		"  planner set [destination user:budget] in cyd/lima",
		"buffer 3 (events 9-12): booker=2 user=1 weather=1",
		"  booker set [app:bookings hotel] in ada/oslo",
		"  weather set [forecast] in cyd/lima",
		"  booker set [app:bookings hotel] in cyd/lima",
		"totals: 12 events in 3 buffers: booker=3 planner=3 user=4 weather=2",
	}
	require.Equal(t, strings.Join(want, "\n")+"\n", out.String())
}

// TestPipelineCancelled checks that a done context is an error, not a
// hang or a panic.
func TestPipelineCancelled(t *testing.T) {
	defer goleak.VerifyNone(t, leaktest.Options()...)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, &bytes.Buffer{})
	require.ErrorIs(t, err, context.Canceled)
}

// cancelOnWrite is a writer that cancels a context on its first write.
type cancelOnWrite struct {
	once   sync.Once
	cancel context.CancelFunc
	buf    bytes.Buffer
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.once.Do(c.cancel)
	return c.buf.Write(p)
}

// TestPipelineStopsMidway cancels the run's context when the first buffer
// is printed, while the agent is still at work: run must return with every
// goroutine ended. Whether the agent had finished by then depends on
// timing, so either outcome is accepted.
func TestPipelineStopsMidway(t *testing.T) {
	defer goleak.VerifyNone(t, leaktest.Options()...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOnWrite{cancel: cancel}
	err := run(ctx, w)
	if err != nil {
		require.ErrorIs(t, err, context.Canceled)
	}
	require.True(t, strings.HasPrefix(w.buf.String(), "buffer 1 (events 1-4): planner=1 user=2 weather=1\n"), w.buf.String())
}
