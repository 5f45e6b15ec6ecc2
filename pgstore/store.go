// Package pgstore is a PostgreSQL backend for sessionlog: an
// [eventlog.Store] whose log lives in a database that several service
// replicas share.
//
// The log is the truth. Each record is a row with its store-wide position;
// the database itself keeps each session's sequence numbers unique and
// gapless (optimistic concurrency, CONTRACT A6) and its event IDs unique
// (idempotent appends, A7). Writes take the next position under one row
// lock and hold it until they commit, so records commit in position order
// and a reader that sees a position has seen every record before it. App
// and user state are also kept in tables of their own, written in the same
// transaction as the record that changes them, for SQL readers.
//
// A [Store] reports itself shared ([eventlog.SharedStore]), so a service
// over it reads what other replicas appended before every call: a Get on
// one replica returns an event appended through another a moment before.
// Subscriptions read the log at their own position; LISTEN/NOTIFY only
// wakes them, and a poll every [Options.PollInterval] wakes them too, so a
// lost notification delays a subscriber but never makes it miss a record.
//
// Open it and hand it to a service:
//
//	store, err := pgstore.Open(ctx, "postgres://postgres@127.0.0.1:5432/test", pgstore.Options{})
//	...
//	svc, err := service.New(ctx, service.Options{Store: store})
//
// pgstore is a module of its own, so that programs using sessionlog without
// PostgreSQL never download the driver.
package pgstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionlog/sessionlog/eventlog"
)

// DefaultSchema is the schema that holds sessionlog's tables when
// [Options.Schema] is empty.
const DefaultSchema = "sessionlog"

// DefaultPollInterval is how often subscribers read the log without a
// notification when [Options.PollInterval] is zero.
const DefaultPollInterval = time.Second

// DefaultCachedSessions is how many sessions' events a store keeps in
// memory when [Options.CachedSessions] is zero.
const DefaultCachedSessions = 10000

// Options configure a [Store]. The zero value uses [DefaultSchema],
// [DefaultPollInterval] and [DefaultCachedSessions].
type Options struct {
	// Schema is the PostgreSQL schema of sessionlog's tables. It is created
	// if missing. Replicas that share a log use the same schema.
	Schema string
	// PollInterval is how often waiting subscribers read the log even
	// when no notification came, which bounds the delay a lost
	// notification can cause.
	PollInterval time.Duration
	// CachedSessions bounds how many sessions' events the store keeps in
	// memory once read; zero means [DefaultCachedSessions]. Readers of a
	// cached session share its events; a session read again after it
	// left the cache is read from the database in full.
	CachedSessions int
}

// Store is the PostgreSQL [eventlog.Store]. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	schema   string // the schema's quoted identifier
	channel  string // the NOTIFY channel
	sql      queries
	cache    cache
	commits  committer
	wake     waker
	closed   atomic.Bool

	stop    context.CancelFunc
	workers sync.WaitGroup

	// Test hooks: appends send no notification; a function to run in each
	// append's transaction before it commits.
	noNotify     bool
	beforeCommit func(pgx.Tx)
}

var _ eventlog.SharedStore = (*Store)(nil)

// Open connects to the database at dsn (a PostgreSQL URL or key=value
// string, as pgx reads it) with a pool of its own, applies sessionlog's
// migrations to opts.Schema, and starts listening for other replicas'
// appends. Close closes the pool.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w: %w", eventlog.ErrInvalidArgument, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	s, err := New(ctx, pool, opts)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// New is [Open] over a pool the caller owns: Close leaves it open. The
// store also opens one connection of its own, with the pool's settings, to
// listen for notifications.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Store, error) {
	if ctx == nil || pool == nil {
		return nil, fmt.Errorf("pgstore: open: %w: nil ctx or pool", eventlog.ErrInvalidArgument)
	}
	name := opts.Schema
	if name == "" {
		name = DefaultSchema
	}
	poll, err := orDefault("poll interval", opts.PollInterval, DefaultPollInterval)
	if err != nil {
		return nil, err
	}
	cached, err := orDefault("cached sessions", opts.CachedSessions, DefaultCachedSessions)
	if err != nil {
		return nil, err
	}
	s := &Store{
		pool:    pool,
		schema:  pgx.Identifier{name}.Sanitize(),
		channel: channelFor(name),
		cache:   cache{max: cached},
	}
	s.sql = newQueries(s.schema)
	if err := migrate(ctx, pool, name, s.schema); err != nil {
		return nil, fmt.Errorf("pgstore: open schema %q: %w", name, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.workers.Add(2)
	go s.listen(runCtx, pool.Config().ConnConfig.Copy())
	go s.poll(runCtx, poll)
	return s, nil
}

// orDefault reads an option whose zero value means def and which may not
// be negative.
func orDefault[T int | time.Duration](name string, v, def T) (T, error) {
	switch {
	case v == 0:
		return def, nil
	case v < 0:
		return 0, fmt.Errorf("pgstore: open: %w: %s %v is negative", eventlog.ErrInvalidArgument, name, v)
	}
	return v, nil
}

// channelFor names the NOTIFY channel of a schema. Channel names are
// identifiers of at most 63 bytes, and a schema name may be that long
// already, so the channel carries a hash of it.
func channelFor(schema string) string {
	h := fnv.New64a()
	h.Write([]byte(schema))
	return fmt.Sprintf("sessionlog_%016x", h.Sum64())
}

// Shared reports true: other replicas append to the same log.
func (s *Store) Shared() bool { return true }

// Close stops listening, wakes every waiting reader and, if Open made the
// pool, closes it. Later calls give [eventlog.ErrClosed].
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	s.workers.Wait()
	s.wake.close()
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return eventlog.ErrClosed
	}
	return ctx.Err()
}

// dbError wraps a database failure with what was being done; a closed
// store reports ErrClosed rather than the pool's error.
func (s *Store) dbError(what string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("pgstore: %s: %w", what, eventlog.ErrClosed)
	}
	return fmt.Errorf("pgstore: %s: %w", what, err)
}
