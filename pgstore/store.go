// Package pgstore is a PostgreSQL backend for sessionlog: an
// [eventlog.Store] whose log and read model live in a database that
// several service replicas share.
//
// The log is the truth. Each record is a row with its store-wide position;
// the database itself keeps each session's sequence numbers unique and
// gapless (optimistic concurrency, CONTRACT A6) and its event IDs unique
// (idempotent appends, A7). Positions come from a sequence, and no lock is
// held by every write: appends to different sessions commit side by side
// (Z1). A session's records take their positions while its row is locked,
// so they commit in position order; records of different sessions may
// commit out of order, so a reader of an app, a user or the whole store
// reads up to a horizon below which every record has committed (see
// Read).
//
// The read model lives beside the log, in tables written in the same
// transaction as each record: the sessions' rows (incarnation, version,
// last update time) and the state of every scope (session_state,
// user_state, app_state), folded in SQL by one function with the rules of
// package projection, which [projection.Verify] checks against a fold of
// the log. Load and List are one statement each, so one round trip and one
// snapshot; a creation and an event append are one statement each too.
// A replica folds nothing, at start or later: what it keeps is a bounded
// cache of sessions' events ([Options.CachedSessions],
// [Options.CachedBytes]), checked against the session's row on every Load,
// so any replica reads what any other wrote a moment before.
//
// Subscriptions read the log at their own position; LISTEN/NOTIFY only
// wakes them, and a poll every [Options.PollInterval] wakes them too, so a
// lost notification delays a subscriber but never makes it miss a record.
// A deletion frees its session's records; an app or user subscriber behind
// them gets [eventlog.ErrCompacted] rather than a silent gap.
//
// Open it and hand it to a service:
//
//	store, err := pgstore.Open(ctx, "postgres://postgres@127.0.0.1:5432/test", pgstore.Options{})
//	...
//	svc, err := service.New(ctx, service.Options{Store: store})
//
// The schema is versioned: Open applies the migrations a database lacks,
// folding the records of an older database into the tables a newer
// version adds. pgstore is a module of its own, so that programs using
// sessionlog without PostgreSQL never download the driver.
package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/groupcommit"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// DefaultSchema is the schema that holds sessionlog's tables when
// [Options.Schema] is empty.
const DefaultSchema = "sessionlog"

// DefaultPollInterval is how often subscribers read the log without a
// notification when [Options.PollInterval] is zero.
const DefaultPollInterval = time.Second

// DefaultStatementTimeout bounds each call's work in the database when
// [Options.StatementTimeout] is zero: long enough for a fork of a big
// session under load, short enough that a hung server or a lock held by a
// stuck transaction fails calls instead of stalling them.
const DefaultStatementTimeout = 30 * time.Second

// DefaultCachedSessions is how many sessions' events a store keeps in
// memory when [Options.CachedSessions] is zero.
const DefaultCachedSessions = 10000

// DefaultCachedBytes bounds the events a store keeps in memory, in bytes
// of their JSON, when [Options.CachedBytes] is zero.
const DefaultCachedBytes = 32 << 20

// Options configure a [Store]. The zero value uses [DefaultSchema],
// [DefaultPollInterval], [DefaultCachedSessions] and [DefaultCachedBytes].
type Options struct {
	// Schema is the PostgreSQL schema of sessionlog's tables. It is created
	// if missing (but see Existing). Replicas that share a log use the same
	// schema.
	Schema string
	// PollInterval is how often waiting subscribers read the log even
	// when no notification came, which bounds the delay a lost
	// notification can cause.
	PollInterval time.Duration
	// CachedSessions bounds how many sessions' events the store keeps in
	// memory once read; zero means [DefaultCachedSessions]. Readers of a
	// cached session share its events; the sessions least recently used
	// (read, or appended to through this store) leave first, and a
	// session read again after it left the cache is read from the
	// database in full.
	CachedSessions int
	// CachedBytes bounds the events the store keeps in memory, counted in
	// bytes of their JSON (decoded, they take a few times that); zero
	// means [DefaultCachedBytes]. The session being read stays whatever
	// its size.
	CachedBytes int64
	// StatementTimeout bounds each call's work in the database: a call
	// whose statements have not finished by then gives up with
	// context.DeadlineExceeded, whatever its own context allows, and a
	// batch of appends that waits on a lock or a hung server gives up
	// for all of them. Open also sets it as the server's
	// statement_timeout on the connections it makes, so that the server
	// ends the statement too; a pool given to New keeps its own settings
	// (set statement_timeout on it as well: else the server may finish an
	// append whose caller has given up, which a retry with the same event
	// ID then finds stored).
	// Zero means [DefaultStatementTimeout]; a negative value means none.
	StatementTimeout time.Duration
	// Batches bounds the batches of appends the store has in flight at
	// once (see [Store.Append]); zero means [DefaultBatches]. Each takes
	// a connection of the pool while it runs. One batch at a time makes
	// the biggest batches, which cost the server the least per append;
	// a few more pay off when the server is far away or has cores to
	// spare, so that one batch travels or runs while another waits for
	// its commit to reach the disk.
	Batches int
	// Logger receives what an operator should know: the listener losing
	// its connection (Warn, with the error and the pause before it
	// reconnects; a long outage again at most once a minute, each failed
	// attempt at Debug), and coming back (Info, with how long it was
	// down); each schema migration applied and each data upgrade run at
	// Open (Info, with the schema and how long it took). Nil logs nothing.
	Logger *slog.Logger

	// Observer is told what the store does inside, for metrics. Its zero
	// value observes nothing and costs nothing.
	Observer Observer

	// Existing makes Open refuse, with an error matching [ErrNoStore], a
	// schema that does not hold a sessionlog store already, rather than
	// make one; it creates nothing. Tools that read a store set it, so
	// that a mistyped schema changes nothing.
	Existing bool
}

// ErrNoStore reports a schema that holds no sessionlog store, to an Open
// with [Options.Existing].
var ErrNoStore = errors.New("no sessionlog store")

// Observer receives measurements from inside a [Store], for metrics
// (package otelstore, a module of its own, builds one that feeds
// OpenTelemetry instruments). It is a struct of plain functions so that
// this package depends on no metrics library. Every field is optional: a
// nil one is never called and its measurement never taken. The functions
// run in the goroutines of the store's callers, several at once, so they
// must be quick and must not call the store.
//
// The round trips of the other calls are fixed (Load, List, Read, a
// creation: one each); a pgx tracer on the pool (pgx.ConnConfig.Tracer)
// sees every statement, for those who need each one.
type Observer struct {
	// OnCommit is called after each group commit of event appends (see
	// [Store.Append]): how many appends the batch carried, how many round
	// trips it took (1, or 1 + appends when the batch failed and each
	// append was sent again on its own to get its own outcome), and how
	// long they took. Appends at a preset position (an import) are not
	// group commits and are not reported.
	OnCommit func(appends, roundTrips int, d time.Duration)
}

// Store is the PostgreSQL [eventlog.Store]. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	schema   string // the schema's quoted identifier
	channel  string // the NOTIFY channel
	sql      queries
	cache    sqlrecord.Cache
	commits  *groupcommit.Committer[*pending, eventlog.SessionKey]
	wake     sqlrecord.Waker
	closed   atomic.Bool
	timeout  time.Duration // each call's bound; 0: none
	logger   *slog.Logger

	// horizon is how far readers of more than one session may read;
	// nudge wakes them while it waits for open transactions.
	horizon      *horizon
	pollInterval time.Duration
	nudgeMu      sync.Mutex
	nudging      bool
	nudgeDelay   time.Duration

	// listenRetry is the listener's first pause after a failure, in
	// nanoseconds: listenRetry, unless a test changed it.
	listenRetry atomic.Int64
	// announceCheck is how long the announcer trusts its last look for
	// listeners, and half the listener's wait before it wakes its readers
	// again, in nanoseconds: announceCheck, unless a test changed it.
	announceCheck atomic.Int64

	stop    context.CancelFunc
	workers sync.WaitGroup
	// run is the workers' context, which Close cancels.
	run context.Context

	// listening is set once the listener runs: it starts with the first
	// reader that waits for changes (see Changes), so that a replica that
	// nobody follows holds no connection for it. listenMu orders its
	// start against Close.
	listenMu  sync.Mutex
	listening atomic.Bool

	// announcer tells other replicas of this one's appends.
	announcer *announcer

	// Test hook: a function to run in each append's transaction before it
	// commits.
	beforeCommit func(pgx.Tx)
	// afterFresh, set by tests, runs in a Read of more than one session
	// right after it learns the horizon.
	afterFresh func()
}

var _ eventlog.Store = (*Store)(nil)

// Open connects to the database at dsn (a PostgreSQL URL or key=value
// string, as pgx reads it) with a pool of its own, applies sessionlog's
// migrations to opts.Schema, and readies the pool's connection for the
// first read. It reads nothing else: the store is ready at once, whatever
// the database holds. Other replicas' appends are listened for from the
// first time a subscriber waits for records. Close closes the pool.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w: %w", eventlog.ErrInvalidArgument, err)
	}
	if _, set := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !set {
		if d := statementTimeout(opts.StatementTimeout); d > 0 {
			cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(d.Milliseconds(), 10)
		}
	}
	// The pool runs the store's statements only: caches sized for them
	// save each connection most of the memory pgx's defaults set aside.
	cfg.ConnConfig.StatementCacheCapacity = min(cfg.ConnConfig.StatementCacheCapacity, statementCache)
	cfg.ConnConfig.DescriptionCacheCapacity = min(cfg.ConnConfig.DescriptionCacheCapacity, statementCache)
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
// store also opens two connections of its own, with the pool's settings:
// one to listen for notifications, once a subscriber first waits for
// records, and one to announce appends, with the first append.
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
	cachedBytes, err := orDefault("cached bytes", opts.CachedBytes, DefaultCachedBytes)
	if err != nil {
		return nil, err
	}
	batches, err := orDefault("batches", opts.Batches, DefaultBatches)
	if err != nil {
		return nil, err
	}
	s := &Store{
		pool:    pool,
		schema:  pgx.Identifier{name}.Sanitize(),
		channel: channelFor(name),
		cache:   sqlrecord.Cache{MaxSessions: cached, MaxBytes: cachedBytes},
		logger:  cmp.Or(opts.Logger, discard),
		timeout: statementTimeout(opts.StatementTimeout),

		announcer: newAnnouncer(false),

		pollInterval: poll,
	}
	s.listenRetry.Store(int64(listenRetry))
	s.announceCheck.Store(int64(announceCheck))
	s.sql = newQueries(s.schema)
	s.commits = s.newCommitter(batches, opts.Observer.OnCommit)
	if opts.Existing {
		var found bool
		// The log's tables and the table of its migrations.
		if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL",
			s.schema+".migrations", s.schema+".records", s.schema+".sessions").Scan(&found); err != nil {
			return nil, fmt.Errorf("pgstore: open schema %q: %w", name, err)
		}
		if !found {
			return nil, fmt.Errorf("pgstore: open schema %q: %w: the schema, or its sessionlog tables, does not exist", name, ErrNoStore)
		}
	}
	if err := migrate(ctx, pool, name, s.schema, s.logger); err != nil {
		return nil, fmt.Errorf("pgstore: open schema %q: %w", name, err)
	}
	s.warm(ctx)
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.run = runCtx
	s.horizon = newHorizon(runCtx, pool, &s.sql, holderName(name), s.timeout)
	s.workers.Add(2)
	go s.announce(runCtx, s.announcer, pool.Config().ConnConfig.Copy())
	go s.poll(runCtx, poll)
	return s, nil
}

// warm readies the pool's connection for the first read: it runs the
// load statement once, for no session, so that the statement is prepared
// on the connection and the server has read the catalog entries of the
// tables it touches. The first Get of a new replica then costs about what
// any Get costs: on the 2-core test machine a fresh connection's first
// load took 14 ms where the next took 3 ms. A failure here is left for
// the first read to meet and report.
func (s *Store) warm(ctx context.Context) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, s.sql.load, []byte{}, []byte{}, []byte{}, int64(0), int64(0), false, false)
	if err == nil {
		rows.Close()
	}
}

// statementCache is how many prepared statements each connection of a
// pool made by Open keeps (pgx keeps 512 unless told otherwise, a map
// preallocated at about 27 KB per connection for each of its two caches).
// The store runs fewer distinct statements than that (see
// TestStatementCacheHoldsTheStoresStatements); a DSN that asks for fewer,
// or none (statement_cache_capacity=0, as behind a transaction pooler),
// keeps its own.
const statementCache = 64

// discard is the logger of a store given none.
var discard = slog.New(slog.DiscardHandler)

// orDefault reads an option whose zero value means def and which may not
// be negative.
func orDefault[T int | int64 | time.Duration](name string, v, def T) (T, error) {
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

// Close stops listening, wakes every waiting reader and, if Open made the
// pool, closes it. Later calls give [eventlog.ErrClosed].
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.listenMu.Lock() // a listener starting now has been counted in workers
	s.listenMu.Unlock()
	s.stop()
	s.workers.Wait()
	s.horizon.close()
	s.wake.Close()
	if s.ownsPool {
		s.pool.Close()
	}
	return nil
}

// statementTimeout is the bound Options.StatementTimeout names: 0 for
// none.
func statementTimeout(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultStatementTimeout
	case d < 0:
		return 0
	}
	return d
}

// bound returns ctx bounded by the statement timeout, and its cancel.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return bounded(ctx, s.timeout)
}

// bounded returns ctx bounded by timeout (0: not bounded), and its
// cancel: the bound of a caller's call, of a batch and of a horizon step.
func bounded(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, timeout)
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
