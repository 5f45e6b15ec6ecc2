package pgstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
)

// BenchmarkAppend measures appends through the service: one writer on one
// replica, and 16 writers spread over two replicas of one log, each writer
// on sessions of its own (so no append is stale), with a 3-key delta.
//
//	go test -run '^$' -bench Append -benchtime 3000x -count 3 ./pgstore/
func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct {
		name    string
		writers int
	}{{"writers=1", 1}, {"writers=16", 16}} {
		b.Run(tc.name, func(b *testing.B) {
			schema := newSchema(b)
			stores := []*pgstore.Store{open(b, schema), open(b, schema)}
			replicas := []*service.Service{newService(b, stores[0]), newService(b, stores[1])}
			ctx := b.Context()
			sessions := make([]*service.Session, tc.writers)
			for i := range sessions {
				var err error
				sessions[i], err = replicas[i%2].Create(ctx, key("u", fmt.Sprintf("s%d", i)), nil)
				require.NoError(b, err)
			}
			var next atomic.Int64
			b.SetParallelism((tc.writers + 1) / 2) // GOMAXPROCS is 2 here: 2 x 8 = 16 writers
			b.ResetTimer()
			if tc.writers == 1 {
				for i := 0; b.Loop(); i++ {
					_, err := replicas[0].AppendEvent(ctx, sessions[0], delta(map[string]any{"k": float64(i), "user:u": float64(i), "app:a": float64(i)}))
					require.NoError(b, err)
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					w := int(next.Add(1)-1) % tc.writers
					svc, sess := replicas[w%2], sessions[w]
					for i := 0; pb.Next(); i++ {
						_, err := svc.AppendEvent(ctx, sess, delta(map[string]any{"k": float64(i), "user:u": float64(i), "app:a": float64(i)}))
						if err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			var batches, appends uint64
			for _, st := range stores {
				n, m := pgstore.BatchStats(st)
				batches, appends = batches+n, appends+m
			}
			b.ReportMetric(float64(appends)/float64(batches), "appends/batch")
		})
	}
}
