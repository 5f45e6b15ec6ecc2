package service_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionlog/sessionlog/internal/benchfloor"
	"github.com/sessionlog/sessionlog/service"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// The append benchmarks append the same events to sessionlog and to the
// two floors of package benchfloor (floor-bare keeps the caller's pointer,
// floor-copy a private copy, as CONTRACT A8 requires of every store). The
// ratio of sessionlog to floor-copy is the cost of everything else
// sessionlog does: validation, optimistic concurrency, the idempotency
// index, the log with its positions, the folded state, subscriptions.

var (
	benchTime  = benchfloor.Time
	benchEvent = benchfloor.Event
)

// sessionLength is how many events an append benchmark puts in a session
// before it moves on to a new one.
const sessionLength = benchfloor.SessionLength

// appender appends benchmark events to a run of sessions of
// sessionLength events each, deleting each session when it is full.
type appender struct {
	svc  *service.Service
	name string
	n    int
	sess *service.Session
	// b, when set, stops the benchmark's timer around each deletion, so
	// that the append is measured alone (BenchmarkDelete measures the
	// rest); RunParallel cannot stop it, so there deletions count.
	b *testing.B
}

func (a *appender) append(ev *service.Event) error {
	ctx := context.Background()
	if a.sess == nil || a.sess.Version == sessionLength {
		if a.sess != nil {
			if a.b != nil {
				a.b.StopTimer()
			}
			err := a.svc.Delete(ctx, a.sess.Key())
			if a.b != nil {
				a.b.StartTimer()
			}
			if err != nil {
				return err
			}
		}
		a.n++
		key := service.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint(a.name, "-", a.n)}
		var err error
		if a.sess, err = a.svc.Create(ctx, key, nil); err != nil {
			return err
		}
	}
	_, err := a.svc.AppendEvent(ctx, a.sess, ev)
	return err
}

func newBenchService(b *testing.B) *service.Service {
	svc, err := service.New(context.Background(), service.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	return svc
}

func BenchmarkAppend(b *testing.B) {
	for _, copy := range []bool{false, true} {
		b.Run(benchfloor.Name(copy), func(b *testing.B) {
			f := benchfloor.New(copy)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				f.Append(benchEvent(i))
			}
		})
	}
	b.Run("sessionlog", func(b *testing.B) {
		a := &appender{svc: newBenchService(b), name: "s", b: b}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := a.append(benchEvent(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAppendParallel appends from every P to a session of its own.
func BenchmarkAppendParallel(b *testing.B) {
	for _, copy := range []bool{false, true} {
		b.Run(benchfloor.Name(copy), func(b *testing.B) {
			f := benchfloor.New(copy)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					f.Append(benchEvent(i))
				}
			})
		})
	}
	b.Run("sessionlog", func(b *testing.B) {
		svc := newBenchService(b)
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			a := &appender{svc: svc, name: fmt.Sprint("p", n.Add(1))}
			for i := 0; pb.Next(); i++ {
				if err := a.append(benchEvent(i)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkDelete deletes a session of sessionLength events, each of which
// wrote app: and user: state, so that the deletion has to work out which of
// those writes to keep (CONTRACT D3). Reported per deleted event.
func BenchmarkDelete(b *testing.B) {
	ctx := context.Background()
	svc := newBenchService(b)
	b.ReportAllocs()
	var deleted int
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		key := service.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint("d", i)}
		sess, err := svc.Create(ctx, key, nil)
		if err != nil {
			b.Fatal(err)
		}
		for j := range sessionLength {
			if _, err := svc.AppendEvent(ctx, sess, benchEvent(j)); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := svc.Delete(ctx, key); err != nil {
			b.Fatal(err)
		}
		deleted += sessionLength
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(deleted), "ns/event")
}

// BenchmarkGet reads a 10,000-event session: its cost must not depend on
// how many events it returns.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	halfway := uint64(5_000)
	svc := newBenchService(b)
	key := service.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
	sess, err := svc.Create(ctx, key, map[string]any{"k": 1, "user:u": 1, "app:a": 1})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10_000 {
		if _, err := svc.AppendEvent(ctx, sess, benchEvent(i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		opts service.GetOptions
		want int
	}{
		{"all-10000", service.GetOptions{}, 10_000},
		{"last-10", service.GetOptions{NumRecentEvents: 10}, 10},
		{"after-last-10", service.GetOptions{After: benchTime.Add(9_990 * time.Millisecond)}, 10},
		// A session as it stood halfway (CONTRACT T1): its own state is
		// folded from the log, and app and user state too.
		{"at-version-5000", service.GetOptions{AtVersion: &halfway}, 5_000},
		{"at-version-5000-last-10", service.GetOptions{AtVersion: &halfway, NumRecentEvents: 10}, 10},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := svc.Get(ctx, key, bc.opts)
				if err != nil || len(got.Events) != bc.want {
					b.Fatalf("got %d events, %v; want %d", len(got.Events), err, bc.want)
				}
			}
		})
	}
}

// BenchmarkList lists one user's 100 sessions among 10,000 in the app.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	svc := newBenchService(b)
	for u := range 100 {
		for s := range 100 {
			key := service.SessionKey{AppName: "app", UserID: fmt.Sprint("user", u), SessionID: fmt.Sprint("s", s)}
			if _, err := svc.Create(ctx, key, map[string]any{"k": s, "user:u": u, "app:a": 1}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		page, err := svc.List(ctx, "app", "user42", service.ListOptions{PageSize: 100})
		if err != nil || len(page.Sessions) != 100 {
			b.Fatalf("got %v, %v", page, err)
		}
	}
}

// BenchmarkFork forks a 1,000-event session on the memory store.
//
//	go test -run '^$' -bench Fork -benchtime 200x -count 6 ./service/
func BenchmarkFork(b *testing.B) { servicetest.BenchmarkFork(b, newBenchService(b)) }
