package filestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
)

// journal is the [memstore.Journal] of a file store: Replay reads the log
// file back, and Write adds each record the in-memory store accepts to its
// end, with the durability wait the sync policy calls for.
type journal struct {
	path   string
	sync   SyncPolicy
	report Report // what Replay found in the file
	logger *slog.Logger
	wal    *wal                     // nil during Replay, and for good in a read-only store
	onSync func(time.Duration, int) // Options.Observer.OnSync

	// encoded holds the records that Append encoded before handing them
	// to the in-memory store, so that Write, which runs under the lock
	// that orders the record's app, does not encode them again.
	mu      sync.Mutex
	encoded map[*eventlog.Record]encoding
}

var _ memstore.Journal = (*journal)(nil)

// encoding is a record's JSON as [encode] made it, with the fields the
// in-memory store may still set as they were then.
type encoding struct {
	seq  uint64
	time time.Time
	body []byte
}

// Replay implements [memstore.Journal.Replay]: it hands restore every
// whole record of the log file, in the file's order, and keeps the
// [Report] of the file. A record restore refuses, like damage to a frame,
// is ErrCorrupt naming the file and the offset; a torn last record is not
// damage, and shows in the Report. Replay gives up with ctx's error once
// ctx is done.
func (j *journal) Replay(ctx context.Context, restore func(*eventlog.Record) error) error {
	n := 0
	rep, err := scan(j.path, func(_ int64, rec *eventlog.Record) error {
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return errStop
		}
		return restore(rec)
	})
	j.report = rep
	if errors.Is(err, errStop) {
		return ctx.Err()
	}
	return err
}

// errStop ends a scan early without meaning damage.
var errStop = errors.New("stopped")

// openWAL opens the replayed file for appending, once Replay has found
// where its whole records end: it cuts off a torn last record and syncs
// what the file holds.
func (j *journal) openWAL(interval time.Duration) error {
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if j.report.Torn > 0 {
		if err := f.Truncate(j.report.Size); err != nil {
			return errors.Join(fmt.Errorf("cut off the torn record at %s offset %d: %w", j.path, j.report.Size, err), f.Close())
		}
	}
	w := newWAL(f, j.path, j.report.Size, j.report.Format, j.sync, interval, j.logger)
	w.onSync = j.onSync
	// What the file holds may not be on disk yet: a writer killed between
	// a write and its fsync leaves its record in the page cache, where the
	// replay read it. Sync it now, so that an append that finds its event
	// there (a retry after the crash, CONTRACT A7) is acknowledged only
	// for a record on disk.
	if err := w.syncTo(j.report.Size); err != nil {
		return errors.Join(err, w.close())
	}
	j.wal = w
	return nil
}

// prepare encodes rec for Write, ahead of the lock Write runs under. A
// value JSON cannot hold is ErrInvalidArgument. The caller calls done once
// the append is over. An event whose sequence number the store is yet to
// choose is left for Write to encode.
func (j *journal) prepare(rec *eventlog.Record) (done func(), err error) {
	if rec.Kind == eventlog.KindEventAppended && rec.Seq == 0 {
		return func() {}, nil
	}
	body, err := encode(rec)
	if err != nil {
		return nil, err
	}
	j.mu.Lock()
	if j.encoded == nil {
		j.encoded = make(map[*eventlog.Record]encoding)
	}
	j.encoded[rec] = encoding{seq: rec.Seq, time: rec.Time, body: body}
	j.mu.Unlock()
	return func() {
		j.mu.Lock()
		delete(j.encoded, rec)
		j.mu.Unlock()
	}, nil
}

// Write implements [memstore.Journal.Write]: it writes rec's line at the
// end of the log file. A failed write leaves no part of it in the file.
// Under SyncAlways it returns the wait for the fsync that covers the line;
// one fsync covers all the appends waiting at once.
func (j *journal) Write(rec *eventlog.Record) (durable func() error, err error) {
	if j.wal == nil {
		return nil, fmt.Errorf("append: %w", ErrReadOnly)
	}
	body, err := j.body(rec)
	if err != nil {
		return nil, err
	}
	end, err := j.wal.write(body, rec.Position)
	if err != nil {
		return nil, err
	}
	return j.durable(end), nil
}

// WriteBatch implements [memstore.Journal.WriteBatch]: it writes the
// records' lines at the end of the log file in one write, marked as one
// batch, which a crash leaves whole or drops whole. Its durable is
// Write's.
func (j *journal) WriteBatch(recs []*eventlog.Record) (durable func() error, err error) {
	if j.wal == nil {
		return nil, fmt.Errorf("append: %w", ErrReadOnly)
	}
	bodies := make([][]byte, len(recs))
	positions := make([]eventlog.Position, len(recs))
	for i, rec := range recs {
		if bodies[i], err = j.body(rec); err != nil {
			return nil, err
		}
		positions[i] = rec.Position
	}
	end, err := j.wal.writeBatch(bodies, positions)
	if err != nil {
		return nil, err
	}
	return j.durable(end), nil
}

// body returns rec's JSON with position 0: the one prepare made, if the
// store changed nothing in it since.
func (j *journal) body(rec *eventlog.Record) ([]byte, error) {
	j.mu.Lock()
	e, ok := j.encoded[rec]
	j.mu.Unlock()
	if ok && e.seq == rec.Seq && e.time.Equal(rec.Time) {
		return e.body, nil
	}
	return encode(rec)
}

// durable returns the wait for every byte of the file before end to be on
// disk, under SyncAlways; nil under the other policies.
func (j *journal) durable(end int64) func() error {
	if j.sync != SyncAlways {
		return nil
	}
	return func() error { return j.wal.syncTo(end) }
}
