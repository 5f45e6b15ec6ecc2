package otelstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/benchfloor"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/otelstore"
)

// The benchmarks run the same calls on a bare memory store and on the
// same store wrapped: in a struct that only passes calls on (embed, the
// floor of any wrapper), by Wrap with the global providers as a program
// that sets none has them (global), with the API's no-op providers (noop,
// where Wrap returns the store itself), and with the SDK recording every
// span and measurement (sdk, for the cost of turning telemetry on).
// Compare global and noop with bare and embed:
//
//	go test -run '^$' -bench 'Append|Load' -count 8 | tee out.txt; benchstat -col /store out.txt
var benchStores = []struct {
	name string
	wrap func(b *testing.B, s eventlog.Store) eventlog.Store
}{
	{"bare", func(_ *testing.B, s eventlog.Store) eventlog.Store { return s }},
	// embed is the least any wrapper costs: the store in a struct that
	// embeds it, which only passes each call on.
	{"embed", func(_ *testing.B, s eventlog.Store) eventlog.Store { return struct{ eventlog.Store }{s} }},
	{"global", func(_ *testing.B, s eventlog.Store) eventlog.Store { return otelstore.Wrap(s, otelstore.Options{}) }},
	{"noop", func(_ *testing.B, s eventlog.Store) eventlog.Store {
		return otelstore.Wrap(s, otelstore.Options{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()})
	}},
	{"sdk", func(b *testing.B, s eventlog.Store) eventlog.Store {
		tp := sdktrace.NewTracerProvider()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() {
			tp.Shutdown(context.Background())
			mp.Shutdown(context.Background())
		})
		return otelstore.Wrap(s, otelstore.Options{TracerProvider: tp, MeterProvider: mp})
	}},
}

// BenchmarkAppend appends benchfloor's events, SessionLength to a session,
// deleting each full session with the timer stopped.
func BenchmarkAppend(b *testing.B) {
	for _, bs := range benchStores {
		b.Run("store="+bs.name, func(b *testing.B) {
			store := bs.wrap(b, memstore.New())
			b.Cleanup(func() { store.Close() })
			ctx := context.Background()
			var key eventlog.SessionKey
			var version uint64
			n := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if n == 0 || version == benchfloor.SessionLength {
					b.StopTimer()
					if n > 0 {
						if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: key, Time: benchfloor.Time}); err != nil {
							b.Fatal(err)
						}
					}
					n++
					key = eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint("s", n)}
					if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: benchfloor.Time}); err != nil {
						b.Fatal(err)
					}
					version = 0
					b.StartTimer()
				}
				ev := benchfloor.Event(i)
				version++
				if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Seq: version, Time: ev.Timestamp, Event: ev}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoad loads a session of 20 events with its last 10, as a Get
// before a model call does.
func BenchmarkLoad(b *testing.B) {
	for _, bs := range benchStores {
		b.Run("store="+bs.name, func(b *testing.B) {
			store := bs.wrap(b, memstore.New())
			b.Cleanup(func() { store.Close() })
			ctx := context.Background()
			key := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
			if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: benchfloor.Time}); err != nil {
				b.Fatal(err)
			}
			for i := 1; i <= 20; i++ {
				ev := benchfloor.Event(i)
				if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Seq: uint64(i), Time: ev.Timestamp, Event: ev}); err != nil {
					b.Fatal(err)
				}
			}
			opts := eventlog.LoadOptions{NumRecentEvents: 10}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := store.Load(ctx, key, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOverhead measures the wrapped stores against the bare one in
// turns, in blocks of 50 calls, rotating which goes first, and reports for
// each store the median block's time per call, the wrapped ones' overhead
// in percent of the bare store's, and Wrap's with the global providers in
// percent of the embedding struct's (what Wrap adds to any wrapper). On a machine that others load,
// a block either runs whole or is cut by a preemption, a garbage
// collection or a neighbour's burst; the median block is one that ran
// whole, so the comparison holds where the mean of whole runs (what
// BenchmarkAppend and BenchmarkLoad report) varies by tens of percent.
func BenchmarkOverhead(b *testing.B) {
	ops := []struct {
		name string
		run  func(s *benchTarget, i int)
	}{
		{"Append", func(s *benchTarget, i int) { s.append(b, i) }},
		{"Load", func(s *benchTarget, _ int) { s.load(b) }},
	}
	for _, o := range ops {
		b.Run(o.name, func(b *testing.B) {
			targets := make([]*benchTarget, 4) // bare, embed, global, noop
			for i := range targets {
				targets[i] = newBenchTarget(b, benchStores[i].wrap(b, memstore.New()))
			}
			const block = 50
			blocks := make([][]time.Duration, len(targets))
			calls := 0
			for round := 0; calls < b.N; round++ {
				for j := range targets {
					k := (round + j) % len(targets)
					t0 := time.Now()
					for i := range block {
						o.run(targets[k], calls+i)
					}
					blocks[k] = append(blocks[k], time.Since(t0))
				}
				calls += block
			}
			per := make([]float64, len(targets))
			for k, d := range blocks {
				slices.Sort(d)
				per[k] = float64(d[len(d)/2].Nanoseconds()) / block
			}
			b.ReportMetric(0, "ns/op")
			for k, name := range []string{"bare", "embed", "global", "noop"} {
				b.ReportMetric(per[k], name+"-ns/call")
				if k > 0 {
					b.ReportMetric(100*(per[k]/per[0]-1), name+"-over-bare-%")
				}
			}
			b.ReportMetric(100*(per[2]/per[1]-1), "global-over-embed-%")
		})
	}
}

// benchTarget is a store with a session to load and a run of sessions to
// append to, as BenchmarkAppend and BenchmarkLoad use them.
type benchTarget struct {
	store   eventlog.Store
	loadKey eventlog.SessionKey
	key     eventlog.SessionKey
	n       int
	version uint64
}

func newBenchTarget(b *testing.B, store eventlog.Store) *benchTarget {
	b.Cleanup(func() { store.Close() })
	ctx := context.Background()
	t := &benchTarget{store: store, loadKey: eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "load"}}
	if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: t.loadKey, Time: benchfloor.Time}); err != nil {
		b.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		ev := benchfloor.Event(i)
		if _, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: t.loadKey, Seq: uint64(i), Time: ev.Timestamp, Event: ev}); err != nil {
			b.Fatal(err)
		}
	}
	return t
}

func (t *benchTarget) load(b *testing.B) {
	if _, err := t.store.Load(context.Background(), t.loadKey, eventlog.LoadOptions{NumRecentEvents: 10}); err != nil {
		b.Fatal(err)
	}
}

// append appends benchfloor's i-th event; every SessionLength events it
// deletes the session and starts another (counted in the time: the three
// stores do it alike).
func (t *benchTarget) append(b *testing.B, i int) {
	ctx := context.Background()
	if t.n == 0 || t.version == benchfloor.SessionLength {
		if t.n > 0 {
			if _, err := t.store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: t.key, Time: benchfloor.Time}); err != nil {
				b.Fatal(err)
			}
		}
		t.n++
		t.key = eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: fmt.Sprint("s", t.n)}
		if _, err := t.store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: t.key, Time: benchfloor.Time}); err != nil {
			b.Fatal(err)
		}
		t.version = 0
	}
	ev := benchfloor.Event(i)
	t.version++
	if _, err := t.store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: t.key, Seq: t.version, Time: ev.Timestamp, Event: ev}); err != nil {
		b.Fatal(err)
	}
}
