// Package sqlitestore is a SQLite backend for sessionlog: an
// [eventlog.Store] in one file on one machine, which opens at once
// whatever it holds and keeps only a bounded cache in memory. It is pure
// Go (modernc.org/sqlite, no cgo), and an operator can open its file with
// the sqlite3 shell.
//
// The schema is pgstore's, in SQLite's dialect: the log (one row a record,
// at its store-wide position) and, written in the same transaction as each
// record, the read model (the sessions' rows and the state of every scope,
// folded by the rules of package projection, which [projection.Verify]
// checks against a fold of the log). Load, List and Read each read one
// snapshot. The schema is versioned: Open applies, in one transaction, the
// migrations the file lacks, and refuses a file of a newer version.
//
// The file is in WAL mode. All writes of a store go through one
// connection, with group commit: the appends waiting at the same moment
// are one transaction, made durable by one sync, each in a savepoint of
// its own so that one refused append never fails the others. Readers use
// connections of their own, so reads neither wait for writes nor block
// them. How durable an acknowledged append is, [Options.Sync] chooses
// ([SyncPolicy]).
//
// Several stores, in one process or in several, may open the same file:
// SQLite's locks let one of them write at a time (the others wait up to
// [Options.BusyTimeout]). Changes wakes a store's subscribers at once for
// its own appends, and for the others' at the next poll
// ([Options.PollInterval]).
//
// A deletion frees its session's records and state at once, keeping the
// app: and user: state they wrote as retained records; SQLite reuses the
// freed pages for later writes, with no offline step. An app or user
// subscriber behind the freed records gets [eventlog.ErrCompacted].
//
// sqlitestore is a module of its own, so that programs using sessionlog
// without SQLite never download the driver.
package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/groupcommit"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// SyncPolicy chooses how far SQLite syncs each commit to disk, and so what
// an acknowledged append survives. Whatever the policy, an acknowledged
// append has been written to the operating system (the WAL file), so it
// survives the process being killed; the policy decides what happens when
// the machine itself stops.
type SyncPolicy uint8

// The sync policies.
const (
	// SyncFull (synchronous=FULL) acknowledges an append once its commit
	// is synced to disk: it survives a power failure. Appends waiting at
	// the same time share one commit and so one sync (group commit).
	SyncFull SyncPolicy = iota
	// SyncNormal (synchronous=NORMAL in WAL mode) syncs only at
	// checkpoints: an acknowledged append survives the process being
	// killed, and the file stays consistent whatever happens, but a power
	// failure may lose the last commits.
	SyncNormal
)

var policyNames = [...]string{SyncFull: "full", SyncNormal: "normal"}

// String returns the policy's name: "full" or "normal".
func (p SyncPolicy) String() string {
	if int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("SyncPolicy(%d)", uint8(p))
}

// ParseSyncPolicy returns the policy named by s, as String writes it.
func ParseSyncPolicy(s string) (SyncPolicy, error) {
	for i, name := range policyNames {
		if s == name {
			return SyncPolicy(i), nil
		}
	}
	return 0, fmt.Errorf("%w: sync policy %q is not full or normal", eventlog.ErrInvalidArgument, s)
}

// pragma is the value of PRAGMA synchronous that p stands for.
func (p SyncPolicy) pragma() string {
	if p == SyncNormal {
		return "NORMAL"
	}
	return "FULL"
}

// DefaultPollInterval is how often a store looks for other stores'
// appends to the file when [Options.PollInterval] is zero.
const DefaultPollInterval = time.Second

// DefaultBusyTimeout is how long a call waits for a lock that another
// store (another process) holds on the file when [Options.BusyTimeout] is
// zero.
const DefaultBusyTimeout = 10 * time.Second

// DefaultCachedSessions is how many sessions' events a store keeps in
// memory when [Options.CachedSessions] is zero.
const DefaultCachedSessions = 10000

// DefaultCachedBytes bounds the events a store keeps in memory, in bytes
// of their JSON, when [Options.CachedBytes] is zero.
const DefaultCachedBytes = 32 << 20

// Options configure [Open]. The zero value syncs every commit
// ([SyncFull]) and uses the defaults above.
type Options struct {
	// Sync is the sync policy.
	Sync SyncPolicy
	// PollInterval is how often the store reads the log's last position to
	// wake its subscribers for appends other stores (other processes) made
	// to the file; its own appends wake them at once. Zero means
	// [DefaultPollInterval].
	PollInterval time.Duration
	// CachedSessions bounds how many sessions' events the store keeps in
	// memory once read; zero means [DefaultCachedSessions]. The sessions
	// least recently used (read, or appended to through this store) leave
	// first; a session read again after it left the cache is read from
	// the file in full.
	CachedSessions int
	// CachedBytes bounds the events the store keeps in memory, counted in
	// bytes of their JSON; zero means [DefaultCachedBytes]. The session
	// being read stays whatever its size.
	CachedBytes int64
	// Logger receives what an operator should know: each schema migration
	// applied at Open (Info). Nil logs nothing.
	Logger *slog.Logger
	// BusyTimeout is how long a call waits for a lock another store holds
	// on the file before it fails, in whole milliseconds (rounded up) up to
	// about 24.8 days, SQLite's limit; zero means [DefaultBusyTimeout].
	BusyTimeout time.Duration
	// Readers is the most connections reads use at once; zero means the
	// number of CPUs, at least 4.
	Readers int
	// Existing makes Open refuse, with an error matching [ErrNoStore], a
	// file that does not hold a sessionlog store already (a missing file,
	// an empty one, another program's database), rather than make a store
	// in it; it leaves such a file as it was. Tools that read a store set
	// it, so that a mistyped path changes nothing.
	Existing bool
}

// ErrNotDatabase reports a file that is not a SQLite database (or whose
// header is damaged).
var ErrNotDatabase = errors.New("not a SQLite database")

// ErrNoStore reports a file that holds no sessionlog store, to an Open
// with [Options.Existing].
var ErrNoStore = errors.New("no sessionlog store")

// Store is the SQLite [eventlog.Store]. It is safe for concurrent use.
//
// It talks to SQLite through database/sql and modernc.org/sqlite's
// driver rather than the driver's low-level API: database/sql gives the
// pool of read connections, prepared statements per connection and
// context cancellation, and the writer is that same machinery held to one
// connection; the low-level API would make this package manage C-style
// handles and memory by hand for no measured gain.
type Store struct {
	path    string
	w       *sql.DB // the writer: one connection, BEGIN IMMEDIATE
	r       *sql.DB // the readers: read-only connections
	wst     stmts   // the writer's prepared statements
	rst     stmts   // the readers'
	cache   sqlrecord.Cache
	wake    sqlrecord.Waker
	commits *groupcommit.Committer[*op, struct{}]
	closed  atomic.Bool
	// calls is held shared by every call while it runs (see enter) and
	// taken by Close, which so waits for the calls under way before it
	// closes the connections they use.
	calls  sync.RWMutex
	logger *slog.Logger

	// seen is the last position this store knows of: its own commits
	// raise it, and the poll wakes subscribers when the file's is beyond.
	seen atomic.Int64

	stop    context.CancelFunc
	workers sync.WaitGroup
}

var _ eventlog.Store = (*Store)(nil)

// Open opens the SQLite database at path, creating it if it does not
// exist, applies sessionlog's migrations in one transaction, and puts it
// in WAL mode. It reads nothing else: the store is ready at once, whatever
// the file holds. A file that is not a SQLite database gives an error
// matching [ErrNotDatabase]; a path whose directory does not exist or is
// not writable gives an error saying so.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if ctx == nil {
		return nil, fmt.Errorf("sqlitestore: open: %w: nil ctx", eventlog.ErrInvalidArgument)
	}
	if path == "" {
		return nil, fmt.Errorf("sqlitestore: open: %w: the path is empty (name the database file)", eventlog.ErrInvalidArgument)
	}
	poll, err := orDefault("poll interval", opts.PollInterval, DefaultPollInterval)
	if err != nil {
		return nil, err
	}
	busy, err := orDefault("busy timeout", opts.BusyTimeout, DefaultBusyTimeout)
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
	readers, err := orDefault("readers", opts.Readers, max(4, runtime.NumCPU()))
	if err != nil {
		return nil, err
	}
	if opts.Sync > SyncNormal {
		return nil, fmt.Errorf("sqlitestore: open: %w: sync policy %d is not defined", eventlog.ErrInvalidArgument, opts.Sync)
	}
	uri := "file:" + escapePath(path)
	common := fmt.Sprintf("_pragma=busy_timeout(%d)", busyMillis(busy))
	if opts.Existing {
		if err := holdsStore(ctx, path, uri+"?mode=ro&"+common); err != nil {
			return nil, err
		}
	}
	// The writer: WAL mode (kept in the file), the sync policy, and
	// BEGIN IMMEDIATE, which takes the write lock at once, so that a
	// transaction never fails halfway on a lock another writer took.
	// journal_size_limit keeps the WAL file from staying large after a
	// burst: once a checkpoint has copied it back, it is cut to 64 MiB.
	w, err := sql.Open("sqlite", uri+"?"+common+"&_pragma=journal_mode(WAL)&_pragma=synchronous("+opts.Sync.pragma()+
		")&_pragma=journal_size_limit(67108864)&_txlock=immediate")
	if err != nil {
		return nil, openError(path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{
		path:   path,
		w:      w,
		cache:  sqlrecord.Cache{MaxSessions: cached, MaxBytes: cachedBytes},
		logger: cmp.Or(opts.Logger, discard),
	}
	s.wst.db = w
	if err := migrate(ctx, w, s.logger, path); err != nil {
		w.Close()
		return nil, openError(path, err)
	}
	// The readers open the file read-only, once the writer has made it.
	r, err := sql.Open("sqlite", uri+"?mode=ro&"+common)
	if err != nil {
		w.Close()
		return nil, openError(path, err)
	}
	r.SetMaxOpenConns(readers)
	r.SetMaxIdleConns(readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	s.r = r
	s.rst.db = r
	var head int64
	if err := r.QueryRowContext(ctx, "SELECT position FROM head").Scan(&head); err != nil {
		s.closeDBs()
		return nil, openError(path, err)
	}
	s.seen.Store(head)
	s.commits = s.newCommitter()
	if err := errors.Join(s.wst.prepare(ctx), s.rst.prepare(ctx)); err != nil {
		s.closeDBs()
		return nil, openError(path, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.workers.Add(1)
	go s.poll(runCtx, poll)
	return s, nil
}

// holdsStore checks, through a read-only connection to uri, that the
// file at path holds a sessionlog store: its log's tables, and the table of
// its migrations with the columns sessionlog gives it (other programs name
// a table migrations too).
func holdsStore(ctx context.Context, path, uri string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("sqlitestore: open %s: %w: %w", path, ErrNoStore, err)
	}
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, storeTables).Scan(&n); err != nil {
		return openError(path, err)
	}
	if n != 6 {
		return fmt.Errorf("sqlitestore: open %s: %w: the database holds no sessionlog tables", path, ErrNoStore)
	}
	return nil
}

// storeTables counts what holdsStore looks for: 6 in a sessionlog store.
const storeTables = `SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('head', 'records', 'sessions'))
	+ (SELECT count(*) FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name = 'migrations' AND c.name IN ('version', 'name', 'applied_at'))`

// escapePath makes path the path of a file: URI, which SQLite decodes.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// openError says what went wrong opening the file at path, and what to do.
func openError(path string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("sqlitestore: open %s: %w (or its header is damaged): name a sessionlog SQLite file, or a new one: %w", path, ErrNotDatabase, err)
		case sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("sqlitestore: open %s: cannot open or create the file: check that its directory exists and is writable: %w", path, err)
		}
	}
	return fmt.Errorf("sqlitestore: open %s: %w", path, err)
}

// discard is the logger of a store given none.
var discard = slog.New(slog.DiscardHandler)

// busyMillis is d as SQLite's busy_timeout takes it: whole milliseconds,
// rounded up (a timeout under a millisecond still waits), and at most the
// largest 32-bit integer, about 24.8 days (SQLite reads a larger one as 0,
// no wait at all).
func busyMillis(d time.Duration) int64 {
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	return int64(min(ms, math.MaxInt32))
}

// orDefault reads an option whose zero value means def and which may not
// be negative.
func orDefault[T int | int64 | time.Duration](name string, v, def T) (T, error) {
	switch {
	case v == 0:
		return def, nil
	case v < 0:
		return 0, fmt.Errorf("sqlitestore: open: %w: %s %v is negative", eventlog.ErrInvalidArgument, name, v)
	}
	return v, nil
}

// Close stops the poll, wakes every waiting reader, waits for the calls
// under way to end and closes the file's connections. Later calls give
// [eventlog.ErrClosed].
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	s.workers.Wait()
	s.wake.Close()
	// A reader's connection still in use would outlive the writer's, and
	// the last connection, read-only, could not checkpoint the log.
	s.calls.Lock()
	defer s.calls.Unlock()
	return s.closeDBs()
}

// closeDBs closes the readers, then the writer: the last connection to a
// database closed by this process checkpoints its write-ahead log into the
// file and removes it, which a read-only connection cannot do, so that a
// closed store is its one database file.
func (s *Store) closeDBs() error {
	s.wst.close()
	s.rst.close()
	var err error
	if s.r != nil {
		err = s.r.Close()
	}
	err = errors.Join(err, s.w.Close())
	if err != nil {
		return fmt.Errorf("sqlitestore: close %s: %w", s.path, err)
	}
	return nil
}

// enter begins a call: it fails once the store is closed, or when ctx
// has ended; otherwise the call runs until it calls done, and Close waits
// for that.
func (s *Store) enter(ctx context.Context) (done func(), err error) {
	s.calls.RLock()
	if s.closed.Load() {
		s.calls.RUnlock()
		return nil, eventlog.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		s.calls.RUnlock()
		return nil, err
	}
	return s.calls.RUnlock, nil
}

// dbError wraps a database failure with what was being done; a closed
// store reports ErrClosed rather than the driver's error.
func (s *Store) dbError(what string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("sqlitestore: %s: %w", what, eventlog.ErrClosed)
	}
	return fmt.Errorf("sqlitestore: %s: %w", what, err)
}

// poll wakes every waiting reader when the file's last position is beyond
// the one this store knows, which another store's append did.
func (s *Store) poll(ctx context.Context, every time.Duration) {
	defer s.workers.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var head int64
		if err := s.r.QueryRowContext(ctx, "SELECT position FROM head").Scan(&head); err != nil {
			s.wake.Fire("") // whatever happened, readers look for themselves
			continue
		}
		if s.raiseSeen(head) {
			s.wake.Fire("")
		}
	}
}

// raiseSeen raises the last position the store knows to head, and reports
// whether it was below.
func (s *Store) raiseSeen(head int64) bool {
	for {
		old := s.seen.Load()
		if head <= old {
			return false
		}
		if s.seen.CompareAndSwap(old, head) {
			return true
		}
	}
}

// stmts are a database's prepared statements: all of the store's
// statements, prepared once at Open. They must be: a statement prepared
// later, on the database, would wait for a free connection, and the
// writer's one connection is held by the transaction that asks. A
// transaction that runs one on a connection where it is not prepared yet
// prepares it there, on its own connection.
type stmts struct {
	db *sql.DB
	m  map[string]*sql.Stmt
}

// prepare prepares every statement in queries.
func (p *stmts) prepare(ctx context.Context) error {
	p.m = make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		st, err := p.db.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", q, err)
		}
		p.m[q] = st
	}
	return nil
}

// get returns q prepared.
func (p *stmts) get(q string) (*sql.Stmt, error) {
	if st := p.m[q]; st != nil {
		return st, nil
	}
	return nil, fmt.Errorf("statement %q was not prepared at Open", q)
}

// close closes the statements. The map stays as it is, read by calls
// that may still run as the store closes: a closed statement fails them.
func (p *stmts) close() {
	for _, st := range p.m {
		st.Close()
	}
}

// blob is s as a BLOB argument: never nil, which would bind NULL.
func blob(s string) []byte {
	if s == "" {
		return []byte{}
	}
	return []byte(s)
}
