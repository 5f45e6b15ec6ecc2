package filestore

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
)

// wal writes framed records to the end of the log file and makes them
// durable. Writes happen one at a time, in the order they are made; syncs
// are group commits: one fsync covers every record written before it
// started, and each waiter wakes once a sync has covered its record.
type wal struct {
	f      *os.File
	path   string
	logger *slog.Logger

	mu     sync.Mutex // guards the fields below; taken after syncMu
	size   int64      // the end of the last whole record written
	count  int64      // the records written (a batch's each count)
	failed error      // set once the file's state is unknown: later writes fail
	closed bool
	frame  []byte // reused for each record's line
	// format is the format version of the file's header: a batch, which
	// format 1 does not know, raises it to Version first.
	format int

	syncMu  sync.Mutex
	synced  int64 // every byte before this offset is known to be on disk
	syncing bool  // a sync is running outside syncMu
	syncs   int64 // fsyncs run
	covered int64 // the records written before the last sync started
	done    *sync.Cond

	stop chan struct{} // closed by close, ends the interval syncer
	wg   sync.WaitGroup

	sync func() error // the fsync: f.Sync, or a test's stand-in
	// writeTo, if set, stands in for f.Write in a test.
	writeTo func(b []byte) (int, error)
	// onSync, when set, is told each good sync's duration and how many
	// records it made durable (Observer.OnSync).
	onSync func(time.Duration, int)
}

func newWAL(f *os.File, path string, size int64, format int, policy SyncPolicy, interval time.Duration, logger *slog.Logger) *wal {
	w := &wal{f: f, path: path, logger: orDiscard(logger), size: size, format: format, stop: make(chan struct{})}
	w.sync = f.Sync
	w.done = sync.NewCond(&w.syncMu)
	if policy == SyncInterval {
		w.wg.Go(func() { w.syncEvery(interval) })
	}
	return w
}

// write appends the record line of body at position pos and returns the
// offset where it ends. A failed write is cut off again, so the file never
// holds half a record while the store runs; if that fails too, the wal is
// failed and refuses every later write.
func (w *wal) write(body []byte, pos eventlog.Position) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	w.frame = appendFrame(w.frame[:0], body, pos, false)
	return w.put(1)
}

// writeBatch appends the lines of a batch, bodies[i] at positions[i], in
// one write, and returns the offset where they end. Every line but the
// last is marked as one with more to follow, so that a crash that cuts
// the write short leaves a batch without its end, which a scan drops
// whole. A failure leaves none of it, as write's does.
func (w *wal) writeBatch(bodies [][]byte, positions []eventlog.Position) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return 0, err
	}
	if w.format < Version {
		if err := w.upgrade(); err != nil {
			return 0, err
		}
	}
	w.frame = w.frame[:0]
	for i, body := range bodies {
		w.frame = appendFrame(w.frame, body, positions[i], i < len(bodies)-1)
	}
	return w.put(len(bodies))
}

// usable reports why the wal takes no writes, if it does not. The caller
// holds w.mu.
func (w *wal) usable() error {
	switch {
	case w.closed:
		return eventlog.ErrClosed
	case w.failed != nil:
		return w.failed
	}
	return nil
}

// upgrade rewrites the header of a format 1 file as the current format's
// and syncs it, before the first batch line is written. The new header is
// as long as the old one, whose version may take more bytes than this
// build writes ("01"): the version is padded with zeros, as readHeader
// reads it, so that the records after it stay where they are. The caller
// holds w.mu.
func (w *wal) upgrade() error {
	f, err := os.OpenFile(w.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("raise log %s to format %d: %w", w.path, Version, err)
	}
	var size int64
	if _, size, err = readHeader(bufio.NewReaderSize(io.NewSectionReader(f, 0, 1<<20), 1<<20), w.path); err == nil {
		line := fmt.Sprintf("%s %0*d\n", Magic, int(size)-len(Magic)-2, Version)
		if int64(len(line)) != size {
			err = fmt.Errorf("its header of %d bytes has no room for the version", size)
		} else if _, err = f.WriteAt([]byte(line), 0); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("raise log %s to format %d: %w", w.path, Version, err)
	}
	w.format = Version
	return nil
}

// put writes w.frame, the lines of records records, at the end of the
// file. The caller holds w.mu.
func (w *wal) put(records int) (int64, error) {
	var n int
	var err error
	if w.writeTo != nil {
		n, err = w.writeTo(w.frame)
	} else {
		n, err = w.f.Write(w.frame)
	}
	if err != nil {
		err = fmt.Errorf("write log %s at offset %d: %w", w.path, w.size, err)
		if n > 0 {
			if terr := w.f.Truncate(w.size); terr != nil {
				w.failed = fmt.Errorf("log %s refuses writes: a failed write could not be cut off (%v): %w", w.path, terr, err)
				w.logger.Error("filestore: a failed write could not be cut off, the log refuses writes",
					"file", w.path, "offset", w.size, "written", n, "error", err, "truncate_error", terr)
				return 0, err
			}
		}
		w.logger.Warn("filestore: a write to the log failed, nothing of it is kept",
			"file", w.path, "offset", w.size, "written", n, "error", err)
		return 0, err
	}
	w.size += int64(n)
	w.count += int64(records)
	return w.size, nil
}

// written returns the end of the last record written.
func (w *wal) written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// syncTo returns once every byte before end is on disk. If no sync is
// running it runs one itself, covering every record written by then; else
// it waits for the running one and looks again.
func (w *wal) syncTo(end int64) error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	for w.synced < end {
		if w.syncing {
			w.done.Wait()
			continue
		}
		w.mu.Lock()
		target, count, failed := w.size, w.count, w.failed
		w.mu.Unlock()
		if failed != nil {
			return failed
		}
		w.syncing = true
		covered := w.covered
		w.syncMu.Unlock()
		var start time.Time
		if w.onSync != nil {
			start = time.Now()
		}
		err := w.sync()
		if err == nil && w.onSync != nil {
			// Outside the locks: only the appends this sync covers wait.
			w.onSync(time.Since(start), int(count-covered))
		}
		w.syncMu.Lock()
		w.syncing = false
		w.syncs++
		w.done.Broadcast()
		if err != nil {
			// After a failed fsync the kernel may have dropped the dirty
			// pages: nothing written since the last good sync is known to
			// be on disk, so the log takes no more writes.
			err = fmt.Errorf("sync log %s: %w", w.path, err)
			w.mu.Lock()
			first := w.failed == nil
			if first {
				w.failed = fmt.Errorf("log %s refuses writes after a failed sync: %w", w.path, err)
			}
			w.mu.Unlock()
			if first {
				w.logger.Error("filestore: fsync of the log failed, the log refuses writes",
					"file", w.path, "synced", w.synced, "written", target, "error", err)
			}
			return err
		}
		w.synced = max(w.synced, target)
		w.covered = max(w.covered, count)
	}
	return nil
}

// stats returns the bytes written and synced and the number of syncs.
func (w *wal) stats() (written, synced, syncs int64) {
	written = w.written()
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	return written, w.synced, w.syncs
}

// syncEvery syncs whatever was written since the last sync, each interval,
// until close.
func (w *wal) syncEvery(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if w.syncTo(w.written()) != nil {
				return // the wal refuses writes from now on
			}
		}
	}
}

// close stops the syncer, syncs everything written and closes the file.
func (w *wal) close() error {
	close(w.stop)
	w.wg.Wait()
	w.mu.Lock()
	w.closed = true
	end := w.size
	w.mu.Unlock()
	err := w.syncTo(end)
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close log %s: %w", w.path, cerr)
	}
	return err
}
