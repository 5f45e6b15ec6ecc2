// Package otelstore traces and measures an [eventlog.Store] with
// OpenTelemetry: [Wrap] returns a store that does what the wrapped one
// does, and reports each call as a span and as metrics.
//
//	store := otelstore.Wrap(memstore.New(), otelstore.Options{})
//	svc, err := service.New(ctx, service.Options{Store: store})
//
// With zero Options it reports to the global providers (otel.SetTracerProvider,
// otel.SetMeterProvider), which do nothing until the program sets them, so
// a wrapped store costs next to nothing where nobody collects. It is a
// module of its own so that programs using sessionlog without
// OpenTelemetry never download it.
//
// # Spans
//
// Each call of Append, AppendBatch, Load and List gets a span named after
// the method ("sessionlog.Append", "sessionlog.AppendBatch",
// "sessionlog.Load", "sessionlog.List"), so each call of package
// service's API shows as the store work it did: Create, AppendEvent,
// Rewind and Delete append one record each, Get and ListEvents load,
// List lists, Fork appends a batch (after loading its source). A span
// carries the session's app, user and session ID, the record kind, the
// sequence number and position, the session's version, counts, and the
// call's outcome (see [Outcome]); a failed call sets the span's status to
// Error with the outcome's name. Attributes are set after the span
// starts, once it is known to be recording, so that a provider that
// records nothing costs no attribute; a sampler therefore sees only the
// span's name. An append's span ends when Append returns: under
// filestore.SyncAlways the caller's wait for the fsync comes after it,
// and [FileObserver] measures that fsync.
//
// A span never carries a state value, a delta, event content or an error
// message: a store's error messages may quote part of a value they
// refused (an invalid string, an integer out of range), so a failed span
// names only the error's kind (sessionlog.outcome, and error.type for
// failures that are not sessionlog's sentinels).
//
// Read and Changes get no span: subscribers and followers call them in a
// loop, once per batch or per wake-up, and a span per poll would bury the
// calls that matter. Their work shows in the metrics instead.
//
// # Metrics
//
// All instruments are named under "sessionlog." (the README's "Operating
// sessionlog" section lists them with their units and attributes). Their
// attributes are few and bounded (operation, outcome, record kind, scope
// kind); app, user and session IDs go only into spans, since every
// distinct attribute value is a time series of its own.
//
// A follower's lag cannot be counted in records through the Store seam: a
// store can tell a reader how far its read got, not how many records of
// the reader's scope are stored after that (an app reader's position is
// its app's, a store-wide head counts other apps' records too). So the
// lag is measured in time instead: for each Read that returns records,
// how long ago the newest of them happened (its Record.Time), together
// with the number of records each Read returns. A follower keeping up
// reads small batches moments after they happen; one that falls behind
// reads full batches of old records.
//
// The stores' insides need their cooperation: [FileObserver] gives the
// file store's fsync latency and group-commit size, [PostgresOnCommit]
// the PostgreSQL store's group commits and round trips.
package otelstore
