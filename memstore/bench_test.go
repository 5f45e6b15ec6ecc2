package memstore_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/benchfloor"
	"github.com/sessionlog/sessionlog/memstore"
)

// The append benchmarks append the same events as service's (package
// benchfloor's), straight to the store, beside the same two floors.
// memstore appends the event as it is, so compare it with floor-bare;
// memstore-copy clones it first, as the service does, so compare it with
// floor-copy. The ratio is the cost of the log, its positions, the
// conditions, the idempotency index and the fold.

var (
	benchTime  = benchfloor.Time
	benchEvent = benchfloor.Event
)

// sessionLength is how many events an append benchmark puts in a session
// before it moves on to a new one.
const sessionLength = benchfloor.SessionLength

// appender appends benchmark events to a run of sessions of sessionLength
// events each, deleting each session when it is full.
type appender struct {
	store   *memstore.Store
	name    string
	copy    bool
	n       int
	key     eventlog.SessionKey
	version uint64
	// b, when set, stops the benchmark's timer around each session
	// change, so that the append is measured alone; RunParallel cannot
	// stop it, so there they count.
	b *testing.B
}

func (a *appender) append(ev *eventlog.Event) error {
	ctx := context.Background()
	if a.n == 0 || a.version == sessionLength {
		if a.b != nil {
			a.b.StopTimer()
		}
		if a.n > 0 {
			if _, err := a.store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: a.key, Time: benchTime}); err != nil {
				return err
			}
		}
		a.n++
		a.key = eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint(a.name, "-", a.n)}
		if _, err := a.store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: a.key, Time: benchTime}); err != nil {
			return err
		}
		a.version = 0
		if a.b != nil {
			a.b.StartTimer()
		}
	}
	if a.copy {
		ev = ev.Clone()
	}
	a.version++
	_, err := a.store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: a.key, Seq: a.version, Time: ev.Timestamp, Event: ev})
	return err
}

func storeName(copy bool) string {
	if copy {
		return "memstore-copy"
	}
	return "memstore"
}

func newBenchStore(b *testing.B) *memstore.Store {
	store := memstore.New()
	b.Cleanup(func() { store.Close() })
	return store
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
		b.Run(storeName(copy), func(b *testing.B) {
			a := &appender{store: newBenchStore(b), name: "s", copy: copy, b: b}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := a.append(benchEvent(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendParallel appends from every P to a session of its own,
// all in one app.
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
		b.Run(storeName(copy), func(b *testing.B) {
			store := newBenchStore(b)
			var n atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				a := &appender{store: store, name: fmt.Sprint("p", n.Add(1)), copy: copy}
				for i := 0; pb.Next(); i++ {
					if err := a.append(benchEvent(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkDelete deletes a session of sessionLength events, each of which
// wrote app: and user: state, so that the deletion has to work out which of
// those writes to keep (CONTRACT D3). Reported per deleted event.
func BenchmarkDelete(b *testing.B) {
	store := newBenchStore(b)
	b.ReportAllocs()
	var deleted int
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		a := &appender{store: store, name: fmt.Sprint("d", i)}
		for j := range sessionLength {
			if err := a.append(benchEvent(j)); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if _, err := store.Append(context.Background(), &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: a.key, Time: benchTime}); err != nil {
			b.Fatal(err)
		}
		deleted += sessionLength
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(deleted), "ns/event")
}

// BenchmarkLoad loads a 10,000-event session: its cost must not depend on
// how many events it returns.
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	store := newBenchStore(b)
	a := &appender{store: store, name: "s"}
	for i := range sessionLength {
		if err := a.append(benchEvent(i)); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name string
		opts eventlog.LoadOptions
		want int
	}{
		{"all-10000", eventlog.LoadOptions{}, 10_000},
		{"last-10", eventlog.LoadOptions{NumRecentEvents: 10}, 10},
		{"after-last-10", eventlog.LoadOptions{After: benchTime.Add(9_990 * time.Millisecond)}, 10},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, err := store.Load(ctx, a.key, bc.opts)
				if err != nil || len(v.Events) != bc.want {
					b.Fatalf("got %d events, %v; want %d", len(v.Events), err, bc.want)
				}
			}
		})
	}
}

// BenchmarkList lists one user's 100 sessions among 10,000 in the app.
func BenchmarkList(b *testing.B) {
	ctx := context.Background()
	store := newBenchStore(b)
	for u := range 100 {
		for s := range 100 {
			k := eventlog.SessionKey{AppName: "app", UserID: fmt.Sprint("user", u), SessionID: fmt.Sprint("s", s)}
			rec := &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: benchTime, State: map[string]any{"k": s, "user:u": u, "app:a": 1}}
			if _, err := store.Append(ctx, rec); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		views, err := store.List(ctx, "app", "user42", eventlog.ListOptions{Limit: 100})
		if err != nil || len(views) != 100 {
			b.Fatalf("got %d views, %v", len(views), err)
		}
	}
}

// BenchmarkHeapPerEvent reports the heap the store takes per stored event
// of the append benchmarks (3 state keys: an own, a user: and an app:
// one), the event itself aside (it is built beforehand): the record, the
// log entry, the idempotency index, the folded state and the histories
// that reads of the past use. Run it with -benchtime 1x.
func BenchmarkHeapPerEvent(b *testing.B) {
	const events = 20_000
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	ctx := context.Background()
	var perEvent float64
	for b.Loop() {
		evs := make([]*eventlog.Event, events)
		for i := range evs {
			evs[i] = benchEvent(i)
		}
		before := heap()
		store := memstore.New()
		k := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
		if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: benchTime}); err != nil {
			b.Fatal(err)
		}
		for i, ev := range evs {
			if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: uint64(i + 1), Time: ev.Timestamp, Event: ev}); err != nil {
				b.Fatal(err)
			}
		}
		perEvent = float64(heap()-before) / events
		runtime.KeepAlive(store)
		runtime.KeepAlive(evs)
		store.Close()
	}
	b.ReportMetric(perEvent, "heap-B/event")
}
