package sqlitestore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// BenchmarkAppend measures an event append under each sync policy: one
// writer at a time, and 16 writers at once, whose appends group commit
// (one transaction and one sync for the appends waiting together).
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []sqlitestore.SyncPolicy{sqlitestore.SyncFull, sqlitestore.SyncNormal} {
		for _, writers := range []int{1, 16} {
			b.Run(fmt.Sprintf("sync=%s/writers=%d", policy, writers), func(b *testing.B) {
				s := open(b, newFile(b), func(o *sqlitestore.Options) { o.Sync = policy })
				ctx := b.Context()
				var next atomic.Int64
				for w := range writers {
					k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint("s", w)}
					_, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
					require.NoError(b, err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				run := func(w int, n int) {
					k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint("s", w)}
					for range n {
						i := next.Add(1)
						ev := &eventlog.Event{ID: fmt.Sprint(i), Timestamp: time.Now(), Author: "agent",
							Actions: eventlog.EventActions{StateDelta: map[string]any{"n": float64(i)}}}
						if _, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: ev.Timestamp, Event: ev}); err != nil {
							b.Error(err)
							return
						}
					}
				}
				done := make(chan struct{})
				for w := range writers {
					go func() {
						defer func() { done <- struct{}{} }()
						run(w, b.N/writers+boolInt(w < b.N%writers))
					}()
				}
				for range writers {
					<-done
				}
			})
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BenchmarkLoad measures a Load of a 10,000-event session: all of it, and
// its last 10 events, from a store whose cache holds it (the common case
// after the first read).
func BenchmarkLoad(b *testing.B) {
	s := open(b, newFile(b), func(o *sqlitestore.Options) { o.Sync = sqlitestore.SyncNormal })
	ctx := b.Context()
	k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "big"}
	recs := []*eventlog.Record{{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()}}
	for i := range 10000 {
		ev := &eventlog.Event{ID: fmt.Sprint(i), Timestamp: time.Now(), Author: "agent",
			Actions: eventlog.EventActions{StateDelta: map[string]any{"n": float64(i)}}}
		recs = append(recs, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: ev.Timestamp, Event: ev})
	}
	_, err := s.AppendBatch(ctx, recs)
	require.NoError(b, err)
	for _, tc := range []struct {
		name string
		opts eventlog.LoadOptions
	}{{"all", eventlog.LoadOptions{}}, {"last10", eventlog.LoadOptions{NumRecentEvents: 10}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := s.Load(ctx, k, tc.opts)
				if err != nil {
					b.Fatal(err)
				}
				if len(v.Events) == 0 {
					b.Fatal("no events")
				}
			}
		})
	}
}
