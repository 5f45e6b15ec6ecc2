package otelstore_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/otelstore"
)

// A store wrapped where nothing records allocates nothing more than the
// bare store: no span, no attribute, no clock.
func TestNoProviderCostsNoAllocation(t *testing.T) {
	require.True(t, otelstore.IsUnsetGlobal(otel.GetTracerProvider()),
		"no test in this process sets the global provider (TestGlobalProvidersSetAfterWrap runs in a child)")
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	allocs := func(store eventlog.Store) (load, appends float64) {
		ctx := context.Background()
		defer store.Close()
		_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key})
		require.NoError(t, err)
		load = testing.AllocsPerRun(100, func() {
			if _, err := store.Load(ctx, key, eventlog.LoadOptions{}); err != nil {
				t.Fatal(err)
			}
		})
		seq := uint64(0)
		appends = testing.AllocsPerRun(100, func() {
			seq++
			rec := &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Seq: seq, Event: &eventlog.Event{ID: fmt.Sprint("e", seq)}}
			if _, err := store.Append(ctx, rec); err != nil {
				t.Fatal(err)
			}
		})
		return load, appends
	}
	bareLoad, bareAppend := allocs(memstore.New())
	for name, opts := range map[string]otelstore.Options{
		"global": {},
		"noop":   {TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()},
	} {
		load, appends := allocs(otelstore.Wrap(memstore.New(), opts))
		assert.Equal(t, bareLoad, load, "%s: allocations of a Load", name)
		assert.Equal(t, bareAppend, appends, "%s: allocations of an Append", name)
	}
}

// childEnv marks the child process that TestGlobalProvidersSetAfterWrap
// runs: setting the global providers is for good, so it happens in a
// process of its own.
const childEnv = "OTELSTORE_TEST_SET_GLOBAL"

// A store wrapped with the global providers before the program sets them
// reports to the providers set later, from the next call on.
func TestGlobalProvidersSetAfterWrap(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestGlobalProvidersSetAfterWrap$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "the child:\n%s", out)
		require.Contains(t, string(out), "PASS")
		return
	}
	ctx := context.Background()
	require.True(t, otelstore.IsUnsetGlobal(otel.GetTracerProvider()))
	store := otelstore.Wrap(memstore.New(), otelstore.Options{})
	defer store.Close()
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key})
	require.NoError(t, err)

	tel := newTelemetry(t)
	otel.SetTracerProvider(tel.opts.TracerProvider)
	otel.SetMeterProvider(tel.opts.MeterProvider)
	require.False(t, otelstore.IsUnsetGlobal(otel.GetTracerProvider()))
	_, err = store.Load(ctx, key, eventlog.LoadOptions{})
	require.NoError(t, err)

	spans := tel.spans.GetSpans()
	require.Len(t, spans, 1, "only the call made after the provider was set")
	assert.Equal(t, "sessionlog.Load", spans[0].Name)
	d := tel.metrics(t)["sessionlog.store.duration"]
	assert.Equal(t, uint64(1), histogramCount[float64](t, d, op("load", "ok")...))
	assert.Zero(t, histogramCount[float64](t, d, op("append", "ok")...))
}

// With the no-op providers nothing can be recorded: Wrap leaves the store
// as it is.
func TestWrapWithNoopProvidersIsTheStore(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	assert.Same(t, store, otelstore.Wrap(store, otelstore.Options{TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider()}))
	assert.NotSame(t, store, otelstore.Wrap(store, otelstore.Options{TracerProvider: tracenoop.NewTracerProvider()}),
		"the global meter provider may be set later")
}
