package filestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
)

// The errors of package filestore, besides eventlog's sentinels. Test for
// them with [errors.Is].
var (
	// ErrLocked reports a directory that another open store, in this
	// process or another, is writing.
	ErrLocked = errors.New("log directory is locked by another store")
	// ErrCorrupt reports a damaged log: a bad checksum or frame, or a
	// record that cannot follow the ones before it, anywhere but in a torn
	// last record. The message names the file and the offset. [Verify]
	// reports every damaged stretch, and [Salvage] copies every record
	// that can be kept into a new store.
	ErrCorrupt = errors.New("log is damaged")
	// ErrNotLog reports a directory or file that is not a sessionlog log.
	ErrNotLog = errors.New("not a sessionlog log")
	// ErrVersion reports a log written in a newer format than this build
	// reads.
	ErrVersion = errors.New("log format version is newer than this build reads")
	// ErrReadOnly reports an append to a store opened read-only.
	ErrReadOnly = errors.New("store is read-only")
)

// SyncPolicy chooses when appended records are forced to disk (fsync), and
// so what an acknowledged append survives. Whatever the policy, an
// acknowledged append has been written to the operating system, so it
// survives the process being killed; the policy decides what happens when
// the machine itself stops.
type SyncPolicy uint8

// The sync policies.
const (
	// SyncAlways acknowledges an append once it is on disk (once its
	// AppendResult.Durable returns): it survives a power failure. Appends
	// waiting at the same time are made durable by one fsync (group
	// commit).
	SyncAlways SyncPolicy = iota
	// SyncInterval syncs every Options.SyncInterval: a power failure loses
	// at most the appends acknowledged during the last interval.
	SyncInterval
	// SyncOS leaves syncing to the operating system (and Close): a power
	// failure loses whatever the OS had not yet written back.
	SyncOS
)

var policyNames = [...]string{SyncAlways: "always", SyncInterval: "interval", SyncOS: "os"}

// String returns the policy's name: "always", "interval" or "os".
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
	return 0, fmt.Errorf("%w: sync policy %q is not always, interval or os", eventlog.ErrInvalidArgument, s)
}

// DefaultSyncInterval is the interval of SyncInterval when Options leaves
// it zero.
const DefaultSyncInterval = 100 * time.Millisecond

// Options configure [Open]. The zero value syncs every append.
type Options struct {
	// Sync is the sync policy.
	Sync SyncPolicy
	// SyncInterval is how often SyncInterval syncs; zero means
	// DefaultSyncInterval.
	SyncInterval time.Duration
	// ReadOnly opens a snapshot of the log as it is: no lock is taken,
	// nothing in the directory changes (a torn last record is skipped, not
	// cut off), and every append fails with ErrReadOnly. Other processes
	// may go on writing; the snapshot does not see their appends.
	ReadOnly bool
	// Logger receives what an operator should know: a torn last record
	// that Open cuts off (Warn), a failed write that was cut off again
	// (Warn), and a failed fsync or a failed write that could not be cut
	// off, after which the log refuses writes (Error). Nil logs nothing.
	Logger *slog.Logger

	// Observer is told what the store does inside, for metrics. Its zero
	// value observes nothing and costs nothing.
	Observer Observer
}

// Observer receives measurements from inside a [Store], for metrics
// (package otelstore, a module of its own, builds one that feeds
// OpenTelemetry instruments). It is a struct of plain functions so that
// this package depends on no metrics library. Every field is optional: a
// nil one is never called and its measurement never taken. The functions
// run in the goroutines of the store's callers, several at once, on the
// append path, so they must be quick and must not call the store.
type Observer struct {
	// OnSync is called after each fsync of the log file that succeeds,
	// with how long it took and how many records it made durable: under
	// SyncAlways the group commit's size (every append written since the
	// previous sync, all waiting for this one), under SyncInterval what
	// the interval gathered. The sync at Open, which covers the replayed
	// file, reports 0 records. The appends the sync covers wait while it
	// runs.
	OnSync func(d time.Duration, records int)
}

// Store is a [eventlog.Store] kept in a directory: an in-memory store
// ([memstore]) serves every read, condition and watcher, and journals each
// record it accepts to the directory's log file before anyone can see it.
// Opening the directory again replays the file, so sessions, events, state
// and positions survive restarts and crashes.
//
// # What an append promises
//
// Append returns once its record is in the log file (written to the
// operating system) and visible. Under SyncAlways its result's Durable waits
// for the fsync that puts it on disk; one fsync covers all the appends
// waiting together (group commit), so a caller runs it after releasing its
// own locks. The append is acknowledged once Durable returns nil; under the
// other policies there is nothing to wait for (see [SyncPolicy]). A failed
// write leaves nothing in the file and nothing visible. Readers in the same
// process (Load, List, Read and the watchers of Changes) may see a record a
// moment before it is durable. If its fsync fails, Durable reports the
// error, the record stays visible in this process, and the store refuses
// every later write; only after a machine crash in that window can a record
// that a reader saw be missing when the directory is opened again. A record
// whose append was acknowledged is never missing.
type Store struct {
	mem    *memstore.Store
	log    *journal
	unlock func() error

	closeOnce sync.Once
	closeErr  error
}

var _ eventlog.Store = (*Store)(nil)

// Open opens the log in dir, creating the directory and an empty log if
// there is none, and replays it. A torn last record (the remains of a
// write cut short by a crash) is cut off and reported to Options.Logger;
// damage anywhere else is ErrCorrupt naming the file and the offset. A
// directory that holds other files and no log gives ErrNotLog, a log of a
// newer format ErrVersion, and a directory that another store is writing
// ErrLocked; none of these changes anything in the directory.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	s, err := open(ctx, dir, opts)
	if errors.Is(err, ErrCorrupt) {
		return nil, fmt.Errorf("filestore: open %s: %w (Verify reports every damaged stretch; Salvage copies every record that can be kept into a new directory)", dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("filestore: open %s: %w", dir, err)
	}
	return s, nil
}

func open(ctx context.Context, dir string, opts Options) (*Store, error) {
	switch {
	case ctx == nil:
		return nil, fmt.Errorf("%w: ctx is nil", eventlog.ErrInvalidArgument)
	case dir == "":
		return nil, fmt.Errorf("%w: dir is empty", eventlog.ErrInvalidArgument)
	case opts.Sync > SyncOS:
		return nil, fmt.Errorf("%w: sync policy %d is not defined", eventlog.ErrInvalidArgument, uint8(opts.Sync))
	case opts.SyncInterval < 0:
		return nil, fmt.Errorf("%w: sync interval %v is negative", eventlog.ErrInvalidArgument, opts.SyncInterval)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.SyncInterval == 0 {
		opts.SyncInterval = DefaultSyncInterval
	}
	opts.Logger = orDiscard(opts.Logger)
	path := filepath.Join(dir, LogFile)
	hasLog, err := examine(dir)
	if err != nil {
		return nil, err
	}
	if opts.ReadOnly {
		if !hasLog {
			return nil, fmt.Errorf("%w: %s holds no %s", ErrNotLog, dir, LogFile)
		}
		return openReadOnly(ctx, path)
	}
	if hasLog {
		// Refuse a foreign or newer file before anything is written.
		if err := checkHeader(path); err != nil {
			return nil, err
		}
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	unlock, err := lock(filepath.Join(dir, LockFile))
	if err != nil {
		return nil, err
	}
	// Look again now that nobody else can: another store may have made
	// the log since, and it must not be made twice.
	if hasLog, err = examine(dir); err == nil && hasLog {
		err = checkHeader(path)
	}
	var s *Store
	if err == nil {
		removeTemps(dir)
		s, err = openLog(ctx, dir, path, hasLog, opts)
	}
	if err != nil {
		return nil, errors.Join(err, unlock())
	}
	s.unlock = unlock
	if rep := s.log.report; rep.Torn > 0 {
		opts.Logger.Warn("filestore: cut off a torn last record, the remains of a write a crash cut short",
			"file", path, "offset", rep.Size, "bytes", rep.Torn)
	}
	return s, nil
}

// openReadOnly replays the log file at path into a store that refuses
// appends.
func openReadOnly(ctx context.Context, path string) (*Store, error) {
	j := &journal{path: path}
	mem, err := memstore.Open(ctx, memstore.Options{Journal: j})
	if err != nil {
		return nil, err
	}
	return &Store{mem: mem, log: j, unlock: func() error { return nil }}, nil
}

// makeDir makes dir if it is missing, and syncs its parent so that the
// new directory's entry is on disk before any record in it is.
func makeDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return syncDir(filepath.Dir(filepath.Clean(dir)))
}

// openLog creates the log file if there is none, replays it into a new
// in-memory store, cuts off a torn last record and opens the file for
// appending. The caller holds the lock.
func openLog(ctx context.Context, dir, path string, hasLog bool, opts Options) (*Store, error) {
	if !hasLog {
		// Made without replacing: a log that appeared meanwhile is kept.
		if err := writeAtomically(dir, path, false, func(f *os.File) error {
			_, err := f.WriteString(header)
			return err
		}); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create log: %w", err)
		}
	}
	j := &journal{path: path, sync: opts.Sync, logger: opts.Logger, onSync: opts.Observer.OnSync}
	mem, err := memstore.Open(ctx, memstore.Options{Journal: j})
	if err != nil {
		return nil, err
	}
	// No append can reach the journal before Open returns the store, so
	// the file is opened for writing only now that the replay is done.
	if err := j.openWAL(opts.SyncInterval); err != nil {
		return nil, errors.Join(err, mem.Close())
	}
	return &Store{mem: mem, log: j, unlock: func() error { return nil }}, nil
}

// removeTemps removes the temporary files a crash during the creation or
// compaction of a log left in dir. The caller holds the lock.
func removeTemps(dir string) {
	temps, _ := filepath.Glob(filepath.Join(dir, LogFile+".tmp*"))
	for _, name := range temps {
		os.Remove(name) // what cannot be removed is ignored again next time
	}
}

// examine reports whether dir holds a log. A missing or empty directory
// holds none; a directory with other files and no log is ErrNotLog.
func examine(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	var others []string
	for _, e := range entries {
		switch name := e.Name(); {
		case name == LogFile:
			if !e.Type().IsRegular() {
				return false, fmt.Errorf("%w: %s in %s is not a regular file", ErrNotLog, LogFile, dir)
			}
			return true, nil
		case name == LockFile, strings.HasPrefix(name, LogFile+".tmp"):
			// what a store leaves behind when it crashes while creating
			// or compacting a log
		default:
			others = append(others, name)
		}
	}
	if len(others) > 0 {
		return false, fmt.Errorf("%w: %s holds %d other files (such as %q) and no %s", ErrNotLog, dir, len(others), others[0], LogFile)
	}
	return false, nil
}

// writeAtomically makes the file at path by writing a temporary file with
// fill, syncing it, moving it to path and syncing the directory: after a
// crash, path is either as it was or complete. Unless replace is set, an
// existing file at path is kept and the error wraps fs.ErrExist.
func writeAtomically(dir, path string, replace bool, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	err = fill(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
	case replace:
		err = os.Rename(tmp.Name(), path)
	default:
		err = os.Link(tmp.Name(), path) // fails if path exists
		if err != nil && !errors.Is(err, fs.ErrExist) {
			// A file system without hard links: rename, unless path
			// appeared (the caller's lock keeps other stores out).
			if _, serr := os.Lstat(path); errors.Is(serr, fs.ErrNotExist) {
				err = os.Rename(tmp.Name(), path)
			}
		}
	}
	if err == nil {
		err = syncDir(dir)
	}
	return err
}

// discard is the logger of a store given none.
var discard = slog.New(slog.DiscardHandler)

// orDiscard returns l, or a logger that writes nothing if l is nil.
func orDiscard(l *slog.Logger) *slog.Logger { return cmp.Or(l, discard) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// Report describes the log file as Open found it: its records and a torn
// last record, if there was one (cut off since, unless the store is
// read-only).
func (s *Store) Report() Report { return s.log.report }

// Stats are a store's counters since Open.
type Stats struct {
	// Written is the log file's size: every record written so far.
	Written int64
	// Synced is how much of it is known to be on disk.
	Synced int64
	// Syncs is the number of fsyncs of the log file. Under SyncAlways,
	// one fsync covers all the appends waiting at once, so there are fewer
	// syncs than appends.
	Syncs int64
}

// Stats returns the store's counters; zero for a read-only store.
func (s *Store) Stats() Stats {
	if s.log.wal == nil {
		return Stats{}
	}
	w, sy, n := s.log.wal.stats()
	return Stats{Written: w, Synced: sy, Syncs: n}
}

// Append implements [eventlog.Store.Append]. A read-only store refuses
// every append with ErrReadOnly. Append encodes the record before anything
// else, so a value that JSON cannot hold (a NaN, a channel) is
// ErrInvalidArgument and stores nothing. It returns once the record is in
// the log file and visible; under SyncAlways the result's Durable waits for
// the record's fsync, and for a Duplicate it waits for the stored record's,
// which may still be on its way to disk.
func (s *Store) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	if s.log.wal == nil {
		return eventlog.AppendResult{}, fmt.Errorf("append: %w", ErrReadOnly)
	}
	if rec != nil && eventlog.CheckRecord(rec) == nil {
		done, err := s.log.prepare(rec)
		if err != nil {
			return eventlog.AppendResult{}, err
		}
		defer done()
	}
	res, err := s.mem.Append(ctx, rec)
	if err == nil && res.Duplicate && s.log.sync == SyncAlways {
		// The stored record was written before this append looked for it,
		// so it lies within what the file holds by now.
		res.Durable = s.log.durable(s.log.wal.written())
	}
	return res, err
}

// AppendBatch implements [eventlog.Store.AppendBatch]: the records are
// written to the log file in one write, as one batch, which a crash
// leaves whole or drops whole (a batch without its last line is a torn
// write, cut off at the next Open). Durable is as Append's.
func (s *Store) AppendBatch(ctx context.Context, recs []*eventlog.Record) (eventlog.AppendResult, error) {
	if s.log.wal == nil {
		return eventlog.AppendResult{}, fmt.Errorf("append: %w", ErrReadOnly)
	}
	if eventlog.CheckBatch(recs) == nil {
		// Encoded here, before the app is held; the events' sequence
		// numbers are their places in the batch, known already.
		for i, rec := range recs[1:] {
			rec.Seq = uint64(i + 1)
		}
		for _, rec := range recs {
			done, err := s.log.prepare(rec)
			if err != nil {
				return eventlog.AppendResult{}, err
			}
			defer done()
		}
	}
	return s.mem.AppendBatch(ctx, recs)
}

// Load implements [eventlog.Store.Load].
func (s *Store) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	return s.mem.Load(ctx, key, opts)
}

// List implements [eventlog.Store.List].
func (s *Store) List(ctx context.Context, app, user string, opts eventlog.ListOptions) ([]eventlog.View, error) {
	return s.mem.List(ctx, app, user, opts)
}

// Read implements [eventlog.Store.Read].
func (s *Store) Read(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	return s.mem.Read(ctx, scope, after, limit)
}

// Changes implements [eventlog.Store.Changes].
func (s *Store) Changes(scope eventlog.Scope) <-chan struct{} { return s.mem.Changes(scope) }

// Close implements [eventlog.Store.Close]: it closes the in-memory store,
// syncs the log file whatever the policy, closes it and releases the
// directory. An append that wrote its record before Close is covered by
// that sync; one that comes later gets ErrClosed. Closing twice is not an
// error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		err := s.mem.Close()
		if s.log.wal != nil {
			err = errors.Join(err, s.log.wal.close())
		}
		s.closeErr = errors.Join(err, s.unlock())
	})
	return s.closeErr
}
