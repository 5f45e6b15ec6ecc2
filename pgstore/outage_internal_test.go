package pgstore

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/internal/logtest"
)

// A long outage of the listener is reported at Warn when it starts and
// then at most once per listenReport, each failed attempt in between at
// Debug; the pause between attempts doubles up to listenRetryMax; the end
// of the outage is reported at Info with its length and the attempts.
func TestOutageBacksOffAndRateLimitsItsWarnings(t *testing.T) {
	rec := logtest.New()
	var retry atomic.Int64
	retry.Store(int64(listenRetry))
	o := outage{logger: rec.Logger(), poll: time.Second, retry: &retry}
	down := errors.New("connection refused")

	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := start
	o.recovered(now) // the first connection
	require.Empty(t, rec.Lines(), "the first connection is no recovery")

	now = now.Add(time.Hour)
	lostAt := now
	var pauses []time.Duration
	for now.Sub(lostAt) < 10*time.Minute {
		d := o.failed(now, down)
		pauses = append(pauses, d)
		now = now.Add(d)
	}
	assert.Equal(t, []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 3200 * time.Millisecond, listenRetryMax, listenRetryMax}, pauses[:7])
	for _, d := range pauses[5:] {
		require.Equal(t, listenRetryMax, d, "the pause grows past its cap")
	}

	lost := rec.Find("pgstore: listener lost its connection, subscribers rely on the poll until it is back")
	require.Len(t, lost, 1)
	assert.Equal(t, slog.LevelWarn, lost[0].Level)
	assert.Equal(t, "connection refused", lost[0].Attrs["error"].Any().(error).Error())
	assert.Equal(t, listenRetry, lost[0].Attrs["retry_in"].Duration())
	assert.Equal(t, time.Second, lost[0].Attrs["poll_interval"].Duration())

	still := rec.Find("pgstore: listener is still disconnected")
	require.Len(t, still, 9, "ten minutes of outage are reported once a minute after the first warning")
	last := time.Duration(0)
	for _, l := range still {
		assert.Equal(t, slog.LevelWarn, l.Level)
		d := l.Attrs["down_for"].Duration()
		assert.GreaterOrEqual(t, d-last, listenReport, "two warnings less than a minute apart")
		last = d
	}
	debug := rec.Find("pgstore: listener failed to reconnect")
	assert.Len(t, debug, len(pauses)-1-len(still))
	for _, l := range debug {
		assert.Equal(t, slog.LevelDebug, l.Level)
	}

	o.recovered(now)
	back := rec.Find("pgstore: listener reconnected")
	require.Len(t, back, 1)
	assert.Equal(t, slog.LevelInfo, back[0].Level)
	assert.Equal(t, now.Sub(lostAt), back[0].Attrs["down_for"].Duration())
	assert.Equal(t, int64(len(pauses)), back[0].Attrs["attempts"].Int64(), "every reconnection, the last one included")

	// A connection that fails again soon after it came back goes on
	// backing off; one that held for a while starts over.
	now = now.Add(time.Second)
	assert.Equal(t, listenRetryMax, o.failed(now, down))
	now = now.Add(listenRetryMax)
	o.recovered(now)
	now = now.Add(time.Hour)
	assert.Equal(t, listenRetry, o.failed(now, down))
}
