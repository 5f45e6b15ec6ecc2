package otelstore

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/sessionlog/sessionlog/eventlog"
)

// The metric attributes' keys. Their values are few and fixed, so each
// combination is a precomputed attribute set: recording a measurement
// allocates nothing.
const (
	keyOperation = attribute.Key("sessionlog.operation")
	keyScope     = attribute.Key("sessionlog.scope")
)

// operation is a store method, the value of sessionlog.operation.
type operation uint8

const (
	opAppend operation = iota
	opAppendBatch
	opLoad
	opList
	opRead
	numOps
)

var opNames = [numOps]string{
	opAppend:      "append",
	opAppendBatch: "append_batch",
	opLoad:        "load",
	opList:        "list",
	opRead:        "read",
}

// scopeNames are the values of sessionlog.scope: what a Read reads.
var scopeNames = [...]string{"store", "app", "user", "session"}

// scopeIndex returns the index in scopeNames of scope's kind.
func scopeIndex(s eventlog.Scope) int {
	switch {
	case s.AppName == "":
		return 0
	case s.IsSession():
		return 3
	case s.UserID != "":
		return 2
	}
	return 1
}

// kindIndex returns the index in instruments.kindAttrs of a record kind:
// the kind itself, or 0 for one that is not defined.
func kindIndex(k eventlog.Kind) int {
	if k.Valid() {
		return int(k)
	}
	return 0
}

// The histograms' bucket boundaries. A memory store answers in
// microseconds, a database in milliseconds, a disk's fsync in either.
var (
	secondsBuckets = []float64{
		0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
		0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
	}
	countBuckets = []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}
	lagBuckets   = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600}
)

// instruments are the instruments of a wrapped store, with their
// attribute sets made once.
type instruments struct {
	duration    metric.Float64Histogram
	appends     metric.Int64Counter
	stale       metric.Int64Counter
	duplicates  metric.Int64Counter
	readRecords metric.Int64Histogram
	lag         metric.Float64Histogram

	durationAttrs [numOps][numOutcomes][]metric.RecordOption
	kindAttrs     [eventlog.KindStateRetained + 1][]metric.AddOption
	scopeAttrs    [len(scopeNames)][]metric.RecordOption
}

// appendsEnabled reports whether any instrument an append feeds takes
// measurements.
func (in *instruments) appendsEnabled(ctx context.Context) bool {
	return in.duration.Enabled(ctx) || in.appends.Enabled(ctx) || in.stale.Enabled(ctx) || in.duplicates.Enabled(ctx)
}

// readsEnabled reports whether any instrument a read feeds takes
// measurements.
func (in *instruments) readsEnabled(ctx context.Context) bool {
	return in.duration.Enabled(ctx) || in.readRecords.Enabled(ctx) || in.lag.Enabled(ctx)
}

func newInstruments(m metric.Meter) *instruments {
	in := &instruments{
		duration: histogram(m, "sessionlog.store.duration", "s",
			"How long store calls take, by operation and outcome.", secondsBuckets),
		appends: counter(m, "sessionlog.store.appends", "{record}",
			"Records appended, by record kind; a duplicate appends nothing."),
		stale: counter(m, "sessionlog.store.stale_appends", "{append}",
			"Appends refused because the caller's handle had not seen every event (optimistic concurrency conflicts)."),
		duplicates: counter(m, "sessionlog.store.duplicate_appends", "{append}",
			"Appends of an event ID the session held already (retries); nothing was written."),
		readRecords: intHistogram(m, "sessionlog.follower.read.records", "{record}",
			"Records each log read by a follower returned, by scope kind; full batches mean a follower that is behind.", countBuckets),
		lag: histogram(m, "sessionlog.follower.lag", "s",
			"How long ago the newest record a follower's read returned happened, by scope kind.", lagBuckets),
	}
	for op := range numOps {
		for out := range numOutcomes {
			set := attribute.NewSet(keyOperation.String(opNames[op]), keyOutcome.String(out.String()))
			in.durationAttrs[op][out] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
	}
	for k := range in.kindAttrs {
		name := "unknown"
		if eventlog.Kind(k).Valid() {
			name = eventlog.Kind(k).String()
		}
		in.kindAttrs[k] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(keyKind.String(name)))}
	}
	for i, name := range scopeNames {
		in.scopeAttrs[i] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(keyScope.String(name)))}
	}
	return in
}

// histogram makes a float64 histogram; if m refuses, the failure goes to
// OpenTelemetry's error handler and a no-op takes its place, so that a
// store call never fails because of its metrics.
func histogram(m metric.Meter, name, unit, desc string, buckets []float64) metric.Float64Histogram {
	h, err := m.Float64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(buckets...))
	if err != nil {
		otel.Handle(err)
		return metricnoop.Float64Histogram{}
	}
	return h
}

// intHistogram is histogram for int64 measurements.
func intHistogram(m metric.Meter, name, unit, desc string, buckets []float64) metric.Int64Histogram {
	h, err := m.Int64Histogram(name, metric.WithUnit(unit), metric.WithDescription(desc),
		metric.WithExplicitBucketBoundaries(buckets...))
	if err != nil {
		otel.Handle(err)
		return metricnoop.Int64Histogram{}
	}
	return h
}

// counter makes an int64 counter, as histogram does a histogram.
func counter(m metric.Meter, name, unit, desc string) metric.Int64Counter {
	c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
	if err != nil {
		otel.Handle(err)
		return metricnoop.Int64Counter{}
	}
	return c
}
