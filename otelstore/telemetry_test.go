package otelstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/otelstore"
	"github.com/sessionlog/sessionlog/service"
)

// telemetry is an SDK tracer provider and meter provider that keep what
// they get in memory, for tests to look at.
type telemetry struct {
	spans  *tracetest.InMemoryExporter
	reader *sdkmetric.ManualReader
	opts   otelstore.Options
}

func newTelemetry(t *testing.T) *telemetry {
	tel := &telemetry{spans: tracetest.NewInMemoryExporter(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		assert.NoError(t, tp.Shutdown(context.Background()))
		assert.NoError(t, mp.Shutdown(context.Background()))
	})
	tel.opts = otelstore.Options{TracerProvider: tp, MeterProvider: mp}
	return tel
}

// metrics collects the metrics recorded so far, by instrument name.
func (tel *telemetry) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// attrs is a span's attributes by key.
func attrs(s tracetest.SpanStub) map[attribute.Key]attribute.Value {
	out := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes {
		out[kv.Key] = kv.Value
	}
	return out
}

// histogramCount is how many measurements the histogram named name took
// with exactly the attributes kvs.
func histogramCount[N int64 | float64](t *testing.T, m metricdata.Metrics, kvs ...attribute.KeyValue) uint64 {
	t.Helper()
	h, ok := m.Data.(metricdata.Histogram[N])
	require.True(t, ok, "%s is a histogram of %T", m.Name, *new(N))
	want := attribute.NewSet(kvs...)
	for _, dp := range h.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Count
		}
	}
	return 0
}

// sum is the counter named name's value with exactly the attributes kvs.
func sum(t *testing.T, m metricdata.Metrics, kvs ...attribute.KeyValue) int64 {
	t.Helper()
	s, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int64 sum", m.Name)
	want := attribute.NewSet(kvs...)
	for _, dp := range s.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value
		}
	}
	return 0
}

func op(name, outcome string) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("sessionlog.operation", name), attribute.String("sessionlog.outcome", outcome)}
}

// secret marks every value and text the test writes: none of it may show
// in a span.
const secret = "s3cret"

func TestSpansAndMetricsOfCallsThatSucceedAndFail(t *testing.T) {
	ctx := context.Background()
	tel := newTelemetry(t)
	svc, err := service.New(ctx, service.Options{Store: otelstore.Wrap(memstore.New(), tel.opts)})
	require.NoError(t, err)
	defer svc.Close()
	key := service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "trip-1"}

	sess, err := svc.Create(ctx, key, map[string]any{"city": secret + "-city", "app:model": secret + "-model"})
	require.NoError(t, err)
	stale, err := svc.Get(ctx, key, service.GetOptions{})
	require.NoError(t, err)
	ev := &service.Event{ID: "e1", Author: "agent", Content: genai.NewContentFromText(secret+" text", genai.RoleModel),
		Actions: service.EventActions{StateDelta: map[string]any{"city": secret + "-delta", "user:units": secret}}}
	_, err = svc.AppendEvent(ctx, sess, ev)
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, sess, &service.Event{ID: "e1", Author: "agent"})
	require.NoError(t, err, "a retry of e1 is a duplicate")
	_, err = svc.AppendEvent(ctx, stale, &service.Event{ID: "e2", Author: "agent", Content: genai.NewContentFromText(secret, genai.RoleUser)})
	require.ErrorIs(t, err, service.ErrStaleSession) // CONTRACT A6
	_, err = svc.Get(ctx, service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "missing"}, service.GetOptions{})
	require.ErrorIs(t, err, service.ErrNotFound) // CONTRACT G1

	spans := tel.spans.GetSpans()
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	require.Equal(t, []string{"sessionlog.Append", "sessionlog.Load", "sessionlog.Append", "sessionlog.Append", "sessionlog.Append", "sessionlog.Load"}, names,
		"one span per store call: create, get, append, duplicate, stale append, get of a missing session")

	t.Run("a successful append names the session, the record and the outcome", func(t *testing.T) {
		s := spans[2]
		a := attrs(s)
		assert.Equal(t, "weather", a["sessionlog.app"].AsString())
		assert.Equal(t, "ada", a["sessionlog.user"].AsString())
		assert.Equal(t, "trip-1", a["sessionlog.session"].AsString())
		assert.Equal(t, "eventAppended", a["sessionlog.record.kind"].AsString())
		assert.Equal(t, int64(1), a["sessionlog.record.seq"].AsInt64())
		assert.Equal(t, int64(2), a["sessionlog.record.position"].AsInt64())
		assert.Equal(t, "ok", a["sessionlog.outcome"].AsString())
		assert.Equal(t, codes.Unset, s.Status.Code)
		assert.Equal(t, "sessionCreated", attrs(spans[0])["sessionlog.record.kind"].AsString())
		assert.Equal(t, "duplicate", attrs(spans[3])["sessionlog.outcome"].AsString())
		assert.Equal(t, codes.Unset, spans[3].Status.Code, "a duplicate is a success (CONTRACT A7)")
		load := attrs(spans[1])
		assert.Equal(t, "ok", load["sessionlog.outcome"].AsString())
		assert.Equal(t, int64(0), load["sessionlog.session.version"].AsInt64())
	})
	t.Run("a stale append is an error span with outcome stale", func(t *testing.T) {
		s := spans[4]
		a := attrs(s)
		assert.Equal(t, "stale", a["sessionlog.outcome"].AsString())
		assert.Equal(t, "trip-1", a["sessionlog.session"].AsString())
		assert.Equal(t, codes.Error, s.Status.Code)
		assert.Equal(t, "stale", s.Status.Description)
		assert.NotContains(t, a, attribute.Key("sessionlog.record.position"), "nothing was stored")
	})
	t.Run("a missing session is an error span with outcome not_found", func(t *testing.T) {
		s := spans[5]
		a := attrs(s)
		assert.Equal(t, "not_found", a["sessionlog.outcome"].AsString())
		assert.Equal(t, "missing", a["sessionlog.session"].AsString())
		assert.Equal(t, codes.Error, s.Status.Code)
		assert.NotContains(t, a, attribute.Key("sessionlog.session.version"))
	})
	t.Run("no state value or event text is in any span", func(t *testing.T) {
		noSecret(t, spans)
	})

	m := tel.metrics(t)
	t.Run("the duration histogram counts calls by operation and outcome", func(t *testing.T) {
		d := m["sessionlog.store.duration"]
		assert.Equal(t, "s", d.Unit)
		assert.Equal(t, uint64(2), histogramCount[float64](t, d, op("append", "ok")...))
		assert.Equal(t, uint64(1), histogramCount[float64](t, d, op("append", "duplicate")...))
		assert.Equal(t, uint64(1), histogramCount[float64](t, d, op("append", "stale")...))
		assert.Equal(t, uint64(1), histogramCount[float64](t, d, op("load", "ok")...))
		assert.Equal(t, uint64(1), histogramCount[float64](t, d, op("load", "not_found")...))
	})
	t.Run("the counters count appends, conflicts and duplicates", func(t *testing.T) {
		a := m["sessionlog.store.appends"]
		assert.Equal(t, "{record}", a.Unit)
		assert.Equal(t, int64(1), sum(t, a, attribute.String("sessionlog.record.kind", "sessionCreated")))
		assert.Equal(t, int64(1), sum(t, a, attribute.String("sessionlog.record.kind", "eventAppended")), "the duplicate appended nothing")
		assert.Equal(t, int64(1), sum(t, m["sessionlog.store.stale_appends"]))
		assert.Equal(t, int64(1), sum(t, m["sessionlog.store.duplicate_appends"]))
	})
}

// noSecret fails if any attribute, event or status of spans holds the
// secret.
func noSecret(t *testing.T, spans tracetest.SpanStubs) {
	t.Helper()
	require.NotEmpty(t, spans)
	for _, s := range spans {
		for _, kv := range s.Attributes {
			assert.NotContains(t, kv.Value.Emit(), secret, "span %s attribute %s", s.Name, kv.Key)
		}
		for _, e := range s.Events {
			assert.NotContains(t, fmt.Sprint(e), secret, "span %s event %s", s.Name, e.Name)
		}
		assert.NotContains(t, s.Status.Description, secret, "span %s status", s.Name)
	}
}

// refusing is a store whose appends fail with an error that quotes the
// refused value, as a store's errors may.
type refusing struct{ eventlog.Store }

func (refusing) Append(context.Context, *eventlog.Record) (eventlog.AppendResult, error) {
	return eventlog.AppendResult{}, fmt.Errorf("append: %w: state[\"k\"] is a string that is not valid UTF-8 (%q)", eventlog.ErrInvalidArgument, secret)
}

func (refusing) Load(context.Context, eventlog.SessionKey, eventlog.LoadOptions) (eventlog.View, error) {
	return eventlog.View{}, fmt.Errorf("load: %w", &diskError{secret})
}

type diskError struct{ detail string }

func (e *diskError) Error() string { return "disk: " + e.detail }

// A failed call's span names the kind of failure, never the error's
// message, which may quote a value.
func TestErrorMessagesStayOutOfSpans(t *testing.T) {
	ctx := context.Background()
	tel := newTelemetry(t)
	store := otelstore.Wrap(refusing{memstore.New()}, tel.opts)
	defer store.Close()
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, State: map[string]any{"k": secret}})
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	_, err = store.Load(ctx, key, eventlog.LoadOptions{})
	var disk *diskError
	require.ErrorAs(t, err, &disk)

	spans := tel.spans.GetSpans()
	require.Len(t, spans, 2)
	assert.Equal(t, "invalid", attrs(spans[0])["sessionlog.outcome"].AsString())
	assert.Equal(t, codes.Error, spans[0].Status.Code)
	a := attrs(spans[1])
	assert.Equal(t, "error", a["sessionlog.outcome"].AsString())
	assert.Equal(t, "*otelstore_test.diskError", a["error.type"].AsString())
	noSecret(t, spans)
}

// panicking is a store whose calls panic, as a driver's bug would.
type panicking struct{ eventlog.Store }

func (panicking) Append(context.Context, *eventlog.Record) (eventlog.AppendResult, error) {
	panic("a driver's bug")
}

func (panicking) AppendBatch(context.Context, []*eventlog.Record) (eventlog.AppendResult, error) {
	panic("a driver's bug")
}

func (panicking) Load(context.Context, eventlog.SessionKey, eventlog.LoadOptions) (eventlog.View, error) {
	panic("a driver's bug")
}

func (panicking) List(context.Context, string, string, eventlog.ListOptions) ([]eventlog.View, error) {
	panic("a driver's bug")
}

func (panicking) Read(context.Context, eventlog.Scope, eventlog.Position, int) ([]*eventlog.Record, eventlog.Position, error) {
	panic("a driver's bug")
}

// A call whose store panics still ends its span, as an error of type
// otelstore.Panicked without the panic's value, and records its duration;
// the panic goes on to the caller.
func TestStorePanicEndsTheSpan(t *testing.T) {
	ctx := context.Background()
	tel := newTelemetry(t)
	store := otelstore.Wrap(panicking{memstore.New()}, tel.opts)
	defer store.Close()
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	created := &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key}
	for name, call := range map[string]func(){
		"append":       func() { _, _ = store.Append(ctx, created) },
		"append_batch": func() { _, _ = store.AppendBatch(ctx, []*eventlog.Record{created}) },
		"load":         func() { _, _ = store.Load(ctx, key, eventlog.LoadOptions{}) },
		"list":         func() { _, _ = store.List(ctx, "a", "", eventlog.ListOptions{}) },
		"read":         func() { _, _, _ = store.Read(ctx, eventlog.Scope{}, 0, 10) },
	} {
		assert.PanicsWithValue(t, "a driver's bug", call, name)
	}
	spans := tel.spans.GetSpans()
	require.Len(t, spans, 4, "a span for each call but the read")
	for _, span := range spans {
		a := attrs(span)
		assert.Equal(t, codes.Error, span.Status.Code, span.Name)
		assert.Equal(t, "error", a["sessionlog.outcome"].AsString(), span.Name)
		assert.Equal(t, "otelstore.Panicked", a["error.type"].AsString(), span.Name)
		assert.Empty(t, span.Events, "%s: no event carries the panic", span.Name)
	}
	noSecret(t, spans)
	m := tel.metrics(t)
	for _, name := range []string{"append", "append_batch", "load", "list", "read"} {
		assert.Equal(t, uint64(1), histogramCount[float64](t, m["sessionlog.store.duration"], op(name, "error")...), name)
	}
}

// A follower's reads get no span; their sizes and the follower's lag are
// metrics by scope kind.
func TestFollowerReadsAreMetricsNotSpans(t *testing.T) {
	tel := newTelemetry(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := otelstore.Wrap(memstore.New(), tel.opts)
	defer store.Close()
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	then := time.Now().Add(-time.Minute)
	_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: then})
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Seq: uint64(i), Time: then,
			Event: &eventlog.Event{ID: fmt.Sprint("e", i), Timestamp: then}})
		require.NoError(t, err)
	}
	tel.spans.Reset()

	n := 0
	for rec, err := range eventlog.Follow(ctx, store, eventlog.Scope{AppName: "a"}, 0) {
		require.NoError(t, err)
		require.NotNil(t, rec)
		if n++; n == 4 {
			break
		}
	}
	assert.Empty(t, tel.spans.GetSpans(), "reads make no span")

	m := tel.metrics(t)
	app := attribute.String("sessionlog.scope", "app")
	assert.Equal(t, uint64(1), histogramCount[int64](t, m["sessionlog.follower.read.records"], app))
	h := m["sessionlog.follower.read.records"].Data.(metricdata.Histogram[int64])
	require.Len(t, h.DataPoints, 1)
	assert.Equal(t, int64(4), h.DataPoints[0].Sum, "one read of the 4 records")
	lag := m["sessionlog.follower.lag"]
	assert.Equal(t, "s", lag.Unit)
	lh := lag.Data.(metricdata.Histogram[float64])
	require.Len(t, lh.DataPoints, 1)
	assert.Equal(t, uint64(1), lh.DataPoints[0].Count)
	assert.GreaterOrEqual(t, lh.DataPoints[0].Sum, time.Minute.Seconds(), "the newest record happened a minute ago")
	assert.Equal(t, uint64(1), histogramCount[float64](t, m["sessionlog.store.duration"], op("read", "ok")...))
}

// Wrap of nothing is nothing, not a store that panics later.
func TestWrapNil(t *testing.T) {
	assert.Nil(t, otelstore.Wrap(nil, otelstore.Options{}))
}

func TestOutcomeNames(t *testing.T) {
	for o, want := range map[otelstore.Outcome]string{
		otelstore.OutcomeOK: "ok", otelstore.OutcomeDuplicate: "duplicate", otelstore.OutcomeNotFound: "not_found",
		otelstore.OutcomeStale: "stale", otelstore.OutcomeAlreadyExists: "already_exists", otelstore.OutcomeInvalid: "invalid",
		otelstore.OutcomeCompacted: "compacted", otelstore.OutcomeClosed: "closed", otelstore.OutcomeCanceled: "canceled",
		otelstore.OutcomeError: "error", otelstore.Outcome(200): "Outcome(200)",
	} {
		assert.Equal(t, want, o.String())
	}
}

// The file store's observer records each fsync's duration and the records
// it made durable.
func TestFileObserver(t *testing.T) {
	ctx := context.Background()
	tel := newTelemetry(t)
	store, err := filestore.Open(ctx, t.TempDir(), filestore.Options{Observer: otelstore.FileObserver(tel.opts.MeterProvider)})
	require.NoError(t, err)
	defer store.Close()
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	res, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key})
	require.NoError(t, err)
	require.NoError(t, res.Wait())

	m := tel.metrics(t)
	d := m["sessionlog.file.sync.duration"]
	assert.Equal(t, "s", d.Unit)
	syncs := uint64(store.Stats().Syncs)
	assert.Equal(t, syncs, histogramCount[float64](t, d), "one measurement per fsync")
	r := m["sessionlog.file.sync.records"]
	assert.Equal(t, "{record}", r.Unit)
	assert.Equal(t, syncs, histogramCount[int64](t, r))
	assert.Equal(t, int64(1), r.Data.(metricdata.Histogram[int64]).DataPoints[0].Sum, "the one record appended")
}

// The PostgreSQL store's hook records each group commit.
func TestPostgresOnCommit(t *testing.T) {
	tel := newTelemetry(t)
	onCommit := otelstore.PostgresOnCommit(tel.opts.MeterProvider)
	onCommit(5, 1, 2*time.Millisecond)
	onCommit(3, 4, time.Millisecond)

	m := tel.metrics(t)
	a := m["sessionlog.pg.commit.appends"].Data.(metricdata.Histogram[int64])
	require.Len(t, a.DataPoints, 1)
	assert.Equal(t, uint64(2), a.DataPoints[0].Count)
	assert.Equal(t, int64(8), a.DataPoints[0].Sum)
	assert.Equal(t, int64(5), sum(t, m["sessionlog.pg.commit.round_trips"]))
	d := m["sessionlog.pg.commit.duration"].Data.(metricdata.Histogram[float64])
	require.Len(t, d.DataPoints, 1)
	assert.InDelta(t, 0.003, d.DataPoints[0].Sum, 1e-9)
}
