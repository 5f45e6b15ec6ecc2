package otelstore

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/sessionlog/sessionlog/filestore"
)

// FileObserver returns a [filestore.Observer] that records the file
// store's fsyncs to mp (nil: the global meter provider):
//
//   - sessionlog.file.sync.duration (s): how long each fsync of the log
//     file took;
//   - sessionlog.file.sync.records ({record}): how many records each made
//     durable, the group commit's size under filestore.SyncAlways.
//
// Pass it as filestore.Options.Observer.
func FileObserver(mp metric.MeterProvider) filestore.Observer {
	m := meter(mp)
	duration := histogram(m, "sessionlog.file.sync.duration", "s",
		"How long each fsync of the file store's log took.", secondsBuckets)
	records := intHistogram(m, "sessionlog.file.sync.records", "{record}",
		"Records each fsync of the file store's log made durable (the group commit's size).", countBuckets)
	return filestore.Observer{OnSync: func(d time.Duration, n int) {
		ctx := context.Background()
		duration.Record(ctx, d.Seconds())
		records.Record(ctx, int64(n))
	}}
}

// PostgresOnCommit returns a function for pgstore.Observer.OnCommit
// that records the PostgreSQL store's group commits of event appends to
// mp (nil: the global meter provider):
//
//   - sessionlog.pg.commit.duration (s): how long each group commit took;
//   - sessionlog.pg.commit.appends ({append}): the appends each carried;
//   - sessionlog.pg.commit.round_trips ({round_trip}): the round trips
//     they took, one per commit unless a failure made each append be
//     sent again on its own.
//
// It returns the function rather than a pgstore.Observer so that this
// module does not depend on the PostgreSQL driver:
//
//	pgstore.Open(ctx, dsn, pgstore.Options{Observer: pgstore.Observer{OnCommit: otelstore.PostgresOnCommit(nil)}})
func PostgresOnCommit(mp metric.MeterProvider) func(appends, roundTrips int, d time.Duration) {
	m := meter(mp)
	duration := histogram(m, "sessionlog.pg.commit.duration", "s",
		"How long each group commit of event appends to PostgreSQL took.", secondsBuckets)
	appends := intHistogram(m, "sessionlog.pg.commit.appends", "{append}",
		"Event appends each group commit to PostgreSQL carried.", countBuckets)
	trips := counter(m, "sessionlog.pg.commit.round_trips", "{round_trip}",
		"Round trips of the group commits to PostgreSQL.")
	return func(n, roundTrips int, d time.Duration) {
		ctx := context.Background()
		duration.Record(ctx, d.Seconds())
		appends.Record(ctx, int64(n))
		trips.Add(ctx, int64(roundTrips))
	}
}
