package observable_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/sessionlog/sessionlog/observable"
	"github.com/sessionlog/sessionlog/service"
)

func newBenchService(b *testing.B) (*service.Service, *observable.SessionService) {
	svc, err := service.New(context.Background(), service.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	return svc, observable.New(svc)
}

// BenchmarkCall compares a call through the reactive API with the same
// call through the Go API: the difference is what the reactive layer adds.
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	key := service.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	setup := func(b *testing.B) (*service.Service, *observable.SessionService, *service.Session) {
		svc, rx := newBenchService(b)
		sess, err := svc.Create(ctx, key, map[string]any{"k": 1})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			if _, err := svc.AppendEvent(ctx, sess, &service.Event{ID: strconv.Itoa(i), Author: "agent"}); err != nil {
				b.Fatal(err)
			}
		}
		return svc, rx, sess
	}
	b.Run("GetSession/go", func(b *testing.B) {
		svc, _, _ := setup(b)
		for b.Loop() {
			if _, err := svc.Get(ctx, key, service.GetOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetSession/observable", func(b *testing.B) {
		_, rx, _ := setup(b)
		for b.Loop() {
			if _, ok, err := rx.GetSession(ctx, key, nil).BlockingGet(ctx); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("AppendEvent/go", func(b *testing.B) {
		svc, _, sess := setup(b)
		for i := 0; b.Loop(); i++ {
			if _, err := svc.AppendEvent(ctx, sess, &service.Event{ID: "e" + strconv.Itoa(i), Author: "agent"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendEvent/observable", func(b *testing.B) {
		_, rx, sess := setup(b)
		for i := 0; b.Loop(); i++ {
			if _, err := rx.AppendEvent(ctx, sess, &service.Event{ID: "e" + strconv.Itoa(i), Author: "agent"}).BlockingGet(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListSessions/go", func(b *testing.B) {
		svc, _, _ := setup(b)
		for b.Loop() {
			if _, err := svc.List(ctx, "app", "u", service.ListOptions{PageSize: service.MaxPageSize}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ListSessions/observable", func(b *testing.B) {
		_, rx, _ := setup(b)
		for b.Loop() {
			if _, err := rx.ListSessions(ctx, "app", "u").BlockingGet(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStream measures a session stream's throughput to 1 and to 100
// observers: appended events per second, each delivered to every observer
// (ns/op is per event, delivered to all).
func BenchmarkStream(b *testing.B) {
	for _, observers := range []int{1, 100} {
		b.Run(fmt.Sprintf("observers=%d", observers), func(b *testing.B) {
			ctx := context.Background()
			svc, rx := newBenchService(b)
			key := service.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
			sess, err := svc.Create(ctx, key, nil)
			if err != nil {
				b.Fatal(err)
			}
			n := b.N
			var wg sync.WaitGroup
			stream := rx.SessionEvents(key, 0)
			subs := make([]*observable.Disposable, observers)
			for i := range observers {
				wg.Add(1)
				seen := 0
				subs[i] = stream.Subscribe(ctx, func(*observable.Record) {
					if seen++; seen == n {
						wg.Done()
					}
				}, func(err error) { b.Error(err) }, nil)
			}
			b.ResetTimer()
			for i := range n {
				if _, err := svc.AppendEvent(ctx, sess, &service.Event{ID: strconv.Itoa(i), Author: "agent"}); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.StopTimer()
			for _, d := range subs {
				d.Dispose()
				<-d.Done()
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

var sinkSession *service.Session

// BenchmarkLayer measures the reactive layer alone, without the call it
// wraps: making a result and taking its outcome.
func BenchmarkLayer(b *testing.B) {
	ctx := context.Background()
	sess := &service.Session{ID: "s"}
	b.Run("Single", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := observable.SingleOf(sess, nil).BlockingGet(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sinkSession = v
		}
	})
	b.Run("Maybe", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, ok, err := observable.MaybeOf(sess, true, nil).BlockingGet(ctx)
			if err != nil || !ok {
				b.Fatal(ok, err)
			}
			sinkSession = v
		}
	})
}
