package pgstore_test

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// BenchmarkAppend measures appends through the service: one writer, and
// 16 writers spread over two replicas of one log, each writer on a session
// of its own (so no append is stale), with a 3-key delta.
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
			var next atomic.Int64
			// Each writer appends to a session of its own, through its own
			// handle, on one of the two replicas.
			writer := func() (*service.Service, *service.Session) {
				w := int(next.Add(1))
				svc := replicas[w%2]
				sess, err := svc.Create(ctx, key("u", fmt.Sprintf("s%d", w)), nil)
				require.NoError(b, err)
				return svc, sess
			}
			if tc.writers == 1 {
				svc, sess := writer()
				for i := 0; b.Loop(); i++ {
					_, err := svc.AppendEvent(ctx, sess, delta(map[string]any{"k": float64(i), "user:u": float64(i), "app:a": float64(i)}))
					require.NoError(b, err)
				}
			} else {
				// RunParallel starts parallelism x GOMAXPROCS goroutines.
				b.SetParallelism(max(1, tc.writers/runtime.GOMAXPROCS(0)))
				b.RunParallel(func(pb *testing.PB) {
					svc, sess := writer()
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

// BenchmarkFork forks a 1,000-event session: one transaction, the
// creation and every event's statement in two round trips.
//
//	go test -run '^$' -bench Fork -benchtime 50x -count 6 ./pgstore/
func BenchmarkFork(b *testing.B) {
	servicetest.BenchmarkFork(b, newService(b, open(b, newSchema(b))))
}
