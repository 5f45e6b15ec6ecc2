package otelstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/sessionlog/sessionlog/eventlog"
)

// ScopeName is the instrumentation scope of the tracer and the meters
// this package makes.
const ScopeName = "github.com/sessionlog/sessionlog/otelstore"

// Options configure [Wrap]. The zero value reports to the global
// providers.
type Options struct {
	// TracerProvider makes the tracer of the spans; nil means
	// otel.GetTracerProvider(), which does nothing unless the program set
	// one.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the instruments; nil means
	// otel.GetMeterProvider(), which does nothing unless the program set
	// one.
	MeterProvider metric.MeterProvider
}

// Wrap returns a store that does what store does and reports each call
// to opts' providers (see the package documentation). It changes no
// result: the wrapped store passes the same conformance suite. Closing it
// closes store. With the API's no-op providers (go.opentelemetry.io/otel's
// trace/noop and metric/noop) for both, nothing can ever be recorded, and
// Wrap returns store itself. Wrap(nil, ...) returns nil.
func Wrap(store eventlog.Store, opts Options) eventlog.Store {
	if store == nil {
		return nil
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if isNoop(tp) && isNoopMeter(opts.MeterProvider) {
		// Nothing will ever be recorded: even a wrapper that only passes
		// calls on costs a Load a few percent (its arguments and its View
		// are copied through one more call).
		return store
	}
	w := &wrapped{next: store, inst: newInstruments(meter(opts.MeterProvider))}
	switch {
	case isNoop(tp):
		// No spans, ever: w.tracer stays nil.
	case isUnsetGlobal(tp):
		w.tracer, w.unset = tp.Tracer(ScopeName), tp
	default:
		w.tracer = tp.Tracer(ScopeName)
	}
	return w
}

// Starting a span costs allocations even where nothing records it: the
// API's no-op tracer puts its span into a new context, and the global
// tracer of a program that set no provider makes a span value and a
// context. On a memory store's Load that is more than a tenth of the
// call. So a wrapped store starts no span at all under the no-op provider,
// nor under the global one as long as the program has set no provider of
// its own; it looks again at every call (one atomic load), so a provider
// set after Wrap is used from then on, as the global tracer's delegation
// promises. (The one thing this skips is what OpenTelemetry's eBPF
// auto-instrumentation would attach to the unset global tracer.)

// isNoop reports the API's no-op tracer provider.
func isNoop(tp trace.TracerProvider) bool {
	switch tp.(type) {
	case tracenoop.TracerProvider, *tracenoop.TracerProvider:
		return true
	}
	return false
}

// isNoopMeter reports the API's no-op meter provider.
func isNoopMeter(mp metric.MeterProvider) bool {
	switch mp.(type) {
	case metricnoop.MeterProvider, *metricnoop.MeterProvider:
		return true
	}
	return false
}

// isUnsetGlobal reports whether tp is the provider that
// otel.GetTracerProvider returns until a program sets one: the global
// package's delegating provider, whose tracers record nothing until a
// provider is set. Its type is not exported, so it is known by name; were
// it renamed, spans would merely be started again where nothing records
// them.
func isUnsetGlobal(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	return t.Kind() == reflect.Pointer && t.Elem().Name() == "tracerProvider" &&
		t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

// meter returns the package's meter of mp, or of the global provider.
func meter(mp metric.MeterProvider) metric.Meter {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	return mp.Meter(ScopeName)
}

// wrapped is the store Wrap returns.
type wrapped struct {
	next eventlog.Store
	// tracer makes the spans; nil under a no-op provider.
	tracer trace.Tracer
	// unset, when not nil, is the unset global provider that tracer
	// comes from: spans start only once otel.GetTracerProvider returns
	// another.
	unset trace.TracerProvider
	inst  *instruments
}

// idle is the span of a call that no tracer records: it records nothing,
// and ending it does nothing.
var idle = trace.SpanFromContext(context.Background())

// The span names: one per store method that gets a span.
const (
	spanAppend      = "sessionlog.Append"
	spanAppendBatch = "sessionlog.AppendBatch"
	spanLoad        = "sessionlog.Load"
	spanList        = "sessionlog.List"
)

// The span attributes' keys. Values are names, numbers and outcomes,
// never state or event content.
const (
	keyApp       = attribute.Key("sessionlog.app")
	keyUser      = attribute.Key("sessionlog.user")
	keySession   = attribute.Key("sessionlog.session")
	keyKind      = attribute.Key("sessionlog.record.kind")
	keySeq       = attribute.Key("sessionlog.record.seq")
	keyPosition  = attribute.Key("sessionlog.record.position")
	keyRecords   = attribute.Key("sessionlog.batch.records")
	keyVersion   = attribute.Key("sessionlog.session.version")
	keyAsOf      = attribute.Key("sessionlog.load.as_of")
	keyEvents    = attribute.Key("sessionlog.load.events")
	keyLimit     = attribute.Key("sessionlog.list.limit")
	keySessions  = attribute.Key("sessionlog.list.sessions")
	keyOutcome   = attribute.Key("sessionlog.outcome")
	keyErrorType = attribute.Key("error.type")
)

// tracing reports whether a span started now may record: there is a
// tracer, and it is not the unset global one.
func (w *wrapped) tracing() bool {
	return w.tracer != nil && (w.unset == nil || otel.GetTracerProvider() != w.unset)
}

// Each method first asks whether anything listens (a tracer that may
// record, an enabled instrument) and, if nothing does, hands the call on
// as it is: a wrapper that only passes its arguments and results through
// costs a few nanoseconds, while one that holds a span, a start time and
// an outcome for the call costs tens, which is several percent of a
// memory store's Load.

// start begins a call: its span (with ctx, the context to pass on) and,
// if anyone listens, the time it started. The no-op providers record
// nothing, so the clock is read only for a recording span or an enabled
// duration histogram.
func (w *wrapped) start(ctx context.Context, name string) (context.Context, trace.Span, time.Time) {
	span := idle
	if w.tracing() {
		ctx, span = w.tracer.Start(ctx, name)
	}
	var t time.Time
	if span.IsRecording() || w.inst.duration.Enabled(ctx) {
		t = time.Now()
	}
	return ctx, span, t
}

// end ends a call: the outcome's attribute and status on a recording
// span, and the duration by operation and outcome.
func (w *wrapped) end(ctx context.Context, span trace.Span, t0 time.Time, op operation, out Outcome, err error) {
	if !t0.IsZero() {
		w.inst.duration.Record(ctx, time.Since(t0).Seconds(), w.inst.durationAttrs[op][out]...)
	}
	if span.IsRecording() {
		span.SetAttributes(keyOutcome.String(out.String()))
		if err != nil {
			if out == OutcomeError {
				span.SetAttributes(keyErrorType.String(errorType(err)))
			}
			span.SetStatus(codes.Error, out.String())
		}
	}
	span.End()
}

// Panicked is the error.type of a call whose store panicked: the call's
// span ends and its duration is recorded with outcome error, and the
// panic goes on to the caller. The panic's value is not recorded, as no
// error's text is.
type Panicked struct{}

func (Panicked) Error() string { return "otelstore: the store panicked" }

// ended, deferred by an observed call, ends the call's span and records
// its duration when the wrapped store panicked, then panics again.
func (w *wrapped) ended(ctx context.Context, span trace.Span, t0 time.Time, op operation) {
	if r := recover(); r != nil {
		w.end(ctx, span, t0, op, OutcomeError, Panicked{})
		panic(r)
	}
}

// Append implements [eventlog.Store.Append] with a span and metrics.
func (w *wrapped) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	if w.tracing() || w.inst.appendsEnabled(ctx) {
		return w.appendObserved(ctx, rec)
	}
	return w.next.Append(ctx, rec)
}

// appendObserved is Append with its span and measurements.
func (w *wrapped) appendObserved(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	ctx, span, t0 := w.start(ctx, spanAppend)
	defer w.ended(ctx, span, t0, opAppend)
	if span.IsRecording() && rec != nil {
		// Before the call: the store owns rec from then on.
		span.SetAttributes(keyApp.String(rec.Key.AppName), keyUser.String(rec.Key.UserID),
			keySession.String(rec.Key.SessionID), keyKind.String(rec.Kind.String()))
	}
	res, err := w.next.Append(ctx, rec)
	out := outcomeOf(err)
	switch {
	case err == nil && res.Duplicate:
		out = OutcomeDuplicate
		w.inst.duplicates.Add(ctx, 1)
	case err == nil && res.Record != nil:
		w.inst.appends.Add(ctx, 1, w.inst.kindAttrs[kindIndex(res.Record.Kind)]...)
	case out == OutcomeStale:
		w.inst.stale.Add(ctx, 1)
	}
	if span.IsRecording() && res.Record != nil {
		span.SetAttributes(keySeq.Int64(int64(res.Record.Seq)), keyPosition.Int64(int64(res.Record.Position)))
	}
	w.end(ctx, span, t0, opAppend, out, err)
	return res, err
}

// AppendBatch implements [eventlog.Store.AppendBatch] with a span and
// metrics.
func (w *wrapped) AppendBatch(ctx context.Context, recs []*eventlog.Record) (eventlog.AppendResult, error) {
	if w.tracing() || w.inst.appendsEnabled(ctx) {
		return w.appendBatchObserved(ctx, recs)
	}
	return w.next.AppendBatch(ctx, recs)
}

// appendBatchObserved is AppendBatch with its span and measurements.
func (w *wrapped) appendBatchObserved(ctx context.Context, recs []*eventlog.Record) (eventlog.AppendResult, error) {
	ctx, span, t0 := w.start(ctx, spanAppendBatch)
	defer w.ended(ctx, span, t0, opAppendBatch)
	if span.IsRecording() {
		span.SetAttributes(keyRecords.Int(len(recs)))
		if len(recs) > 0 && recs[0] != nil {
			k := recs[0].Key
			span.SetAttributes(keyApp.String(k.AppName), keyUser.String(k.UserID), keySession.String(k.SessionID),
				keyKind.String(recs[0].Kind.String()))
		}
	}
	res, err := w.next.AppendBatch(ctx, recs)
	if err == nil {
		// A batch is a creation and its events (CheckBatch).
		w.inst.appends.Add(ctx, 1, w.inst.kindAttrs[kindIndex(eventlog.KindSessionCreated)]...)
		if n := len(recs) - 1; n > 0 {
			w.inst.appends.Add(ctx, int64(n), w.inst.kindAttrs[kindIndex(eventlog.KindEventAppended)]...)
		}
		if span.IsRecording() && res.Record != nil {
			span.SetAttributes(keySeq.Int64(int64(res.Record.Seq)), keyPosition.Int64(int64(res.Record.Position)))
		}
	}
	w.end(ctx, span, t0, opAppendBatch, outcomeOf(err), err)
	return res, err
}

// Load implements [eventlog.Store.Load] with a span and metrics.
func (w *wrapped) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	if w.tracing() || w.inst.duration.Enabled(ctx) {
		return w.loadObserved(ctx, key, opts)
	}
	return w.next.Load(ctx, key, opts)
}

// loadObserved is Load with its span and measurements.
func (w *wrapped) loadObserved(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	ctx, span, t0 := w.start(ctx, spanLoad)
	defer w.ended(ctx, span, t0, opLoad)
	view, err := w.next.Load(ctx, key, opts)
	if span.IsRecording() {
		span.SetAttributes(keyApp.String(key.AppName), keyUser.String(key.UserID), keySession.String(key.SessionID))
		if opts.AsOf != nil {
			span.SetAttributes(keyAsOf.Int64(int64(*opts.AsOf)))
		}
		if err == nil {
			span.SetAttributes(keyVersion.Int64(int64(view.Version)), keyEvents.Int(len(view.Events)))
		}
	}
	w.end(ctx, span, t0, opLoad, outcomeOf(err), err)
	return view, err
}

// List implements [eventlog.Store.List] with a span and metrics.
func (w *wrapped) List(ctx context.Context, app, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	if w.tracing() || w.inst.duration.Enabled(ctx) {
		return w.listObserved(ctx, app, user, opts)
	}
	return w.next.List(ctx, app, user, opts)
}

// listObserved is List with its span and measurements.
func (w *wrapped) listObserved(ctx context.Context, app, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	ctx, span, t0 := w.start(ctx, spanList)
	defer w.ended(ctx, span, t0, opList)
	views, err := w.next.List(ctx, app, user, opts)
	if span.IsRecording() {
		span.SetAttributes(keyApp.String(app), keyLimit.Int(opts.Limit))
		if user != "" {
			span.SetAttributes(keyUser.String(user))
		}
		if err == nil {
			span.SetAttributes(keySessions.Int(len(views)))
		}
	}
	w.end(ctx, span, t0, opList, outcomeOf(err), err)
	return views, err
}

// Read implements [eventlog.Store.Read] without a span (see the package
// documentation): it records the call's duration, the records it returned
// and, when it returned some, the follower's lag.
func (w *wrapped) Read(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	if w.inst.readsEnabled(ctx) {
		return w.readObserved(ctx, scope, after, limit)
	}
	return w.next.Read(ctx, scope, after, limit)
}

// readObserved is Read with its span and measurements.
func (w *wrapped) readObserved(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	in := w.inst
	var t0 time.Time
	if in.duration.Enabled(ctx) {
		t0 = time.Now()
	}
	defer w.ended(ctx, idle, t0, opRead)
	recs, through, err := w.next.Read(ctx, scope, after, limit)
	if !t0.IsZero() {
		in.duration.Record(ctx, time.Since(t0).Seconds(), in.durationAttrs[opRead][outcomeOf(err)]...)
	}
	if err == nil {
		sc := scopeIndex(scope)
		in.readRecords.Record(ctx, int64(len(recs)), in.scopeAttrs[sc]...)
		if len(recs) > 0 && in.lag.Enabled(ctx) {
			if last := recs[len(recs)-1]; !last.Time.IsZero() {
				in.lag.Record(ctx, max(0, time.Since(last.Time).Seconds()), in.scopeAttrs[sc]...)
			}
		}
	}
	return recs, through, err
}

// Changes implements [eventlog.Store.Changes]; it is not measured.
func (w *wrapped) Changes(scope eventlog.Scope) <-chan struct{} { return w.next.Changes(scope) }

// Close implements [eventlog.Store.Close]: it closes the wrapped store.
func (w *wrapped) Close() error { return w.next.Close() }

// Outcome is how a store call ended, the value of the attribute
// sessionlog.outcome on spans and on the duration histogram.
type Outcome uint8

// The outcomes.
const (
	// OutcomeOK is a call that did what it was asked.
	OutcomeOK Outcome = iota
	// OutcomeDuplicate is an append of an event the session held already:
	// nothing was written (CONTRACT A7).
	OutcomeDuplicate
	// OutcomeNotFound is eventlog.ErrNotFound.
	OutcomeNotFound
	// OutcomeStale is eventlog.ErrStaleSession: an optimistic concurrency
	// conflict (CONTRACT A6).
	OutcomeStale
	// OutcomeAlreadyExists is eventlog.ErrAlreadyExists.
	OutcomeAlreadyExists
	// OutcomeInvalid is eventlog.ErrInvalidArgument.
	OutcomeInvalid
	// OutcomeCompacted is eventlog.ErrCompacted: a follower behind
	// records a deletion freed.
	OutcomeCompacted
	// OutcomeClosed is eventlog.ErrClosed.
	OutcomeClosed
	// OutcomeCanceled is a call whose context was canceled.
	OutcomeCanceled
	// OutcomeError is any other failure: the store could not do its work
	// (a disk, a database, a deadline).
	OutcomeError

	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	OutcomeOK:            "ok",
	OutcomeDuplicate:     "duplicate",
	OutcomeNotFound:      "not_found",
	OutcomeStale:         "stale",
	OutcomeAlreadyExists: "already_exists",
	OutcomeInvalid:       "invalid",
	OutcomeCompacted:     "compacted",
	OutcomeClosed:        "closed",
	OutcomeCanceled:      "canceled",
	OutcomeError:         "error",
}

// String returns the outcome's attribute value, such as "not_found".
func (o Outcome) String() string {
	if o < numOutcomes {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// outcomeOf classifies err by the sentinel it matches.
func outcomeOf(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, eventlog.ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, eventlog.ErrStaleSession):
		return OutcomeStale
	case errors.Is(err, eventlog.ErrAlreadyExists):
		return OutcomeAlreadyExists
	case errors.Is(err, eventlog.ErrInvalidArgument):
		return OutcomeInvalid
	case errors.Is(err, eventlog.ErrCompacted):
		return OutcomeCompacted
	case errors.Is(err, eventlog.ErrClosed):
		return OutcomeClosed
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	}
	return OutcomeError
}

// errorType names the Go type of the innermost error err wraps (such as
// "*fs.PathError"), for the error.type attribute: a kind of failure,
// never its message.
func errorType(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return fmt.Sprintf("%T", err)
		}
		err = next
	}
}
