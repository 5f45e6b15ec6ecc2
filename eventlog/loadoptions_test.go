package eventlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// AsOf cuts a session's events at the version first; the other filters
// select from what is left.
func TestSelectAsOf(t *testing.T) {
	// CONTRACT T1 G2
	t0 := time.Date(2025, time.March, 1, 12, 0, 0, 0, time.UTC)
	var events []*eventlog.Event
	for i := range 5 {
		events = append(events, &eventlog.Event{ID: string(rune('a' + i)), Timestamp: t0.Add(time.Duration(i) * time.Second)})
	}
	ids := func(es []*eventlog.Event) string {
		var s string
		for _, e := range es {
			s += e.ID
		}
		return s
	}
	v := func(n uint64) *uint64 { return &n }
	for _, c := range []struct {
		opts eventlog.LoadOptions
		want string
	}{
		{eventlog.LoadOptions{AsOf: v(0)}, ""},
		{eventlog.LoadOptions{AsOf: v(3)}, "abc"},
		{eventlog.LoadOptions{AsOf: v(5)}, "abcde"},
		{eventlog.LoadOptions{AsOf: v(3), NumRecentEvents: 2}, "bc"},
		{eventlog.LoadOptions{AsOf: v(3), AfterSeq: 1}, "bc"},
		{eventlog.LoadOptions{AsOf: v(3), After: t0.Add(2 * time.Second)}, "c"},
		{eventlog.LoadOptions{AsOf: v(4), Limit: 1, AfterSeq: 2}, "c"},
		{eventlog.LoadOptions{AsOf: v(3), NoEvents: true}, ""},
	} {
		for _, ordered := range []bool{true, false} {
			require.Equal(t, c.want, ids(c.opts.Select(events, ordered)), "%+v", c.opts)
		}
	}
}

func TestCheckVersion(t *testing.T) {
	// CONTRACT T1
	require.NoError(t, eventlog.LoadOptions{}.CheckVersion(3))
	v := uint64(3)
	require.NoError(t, eventlog.LoadOptions{AsOf: &v}.CheckVersion(3))
	v = 4
	err := eventlog.LoadOptions{AsOf: &v}.CheckVersion(3)
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	require.ErrorContains(t, err, "version 4 is beyond the session's version 3")
}
