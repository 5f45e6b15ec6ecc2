package filestore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
)

// Compacted says what [Compact] did: the log file's records and size
// before and after.
type Compacted struct {
	RecordsBefore, RecordsAfter int
	SizeBefore, SizeAfter       int64
}

// Compact rewrites the log in dir without the records that deleted
// sessions no longer need: their creations and events go, and what they
// wrote to app: and user: state stays as KindStateRetained records at the
// original positions, so the compacted log rebuilds to the same state and
// keeps every position (CONTRACT R1 D3). It is offline: it opens the
// directory for writing (ErrLocked while a store has it open), writes the
// new log to a temporary file, syncs it and renames it over the old one,
// so a crash leaves one log or the other, never a mix. It logs nothing;
// [CompactWith] takes a logger.
func Compact(ctx context.Context, dir string) (Compacted, error) {
	return CompactWith(ctx, dir, CompactOptions{})
}

// CompactOptions configure [CompactWith].
type CompactOptions struct {
	// Logger receives the compaction's outcome (Info: the records and
	// bytes before and after, and how long it took), and what [Open]
	// reports while compaction opens the log, such as a torn last record
	// cut off (Warn). Nil logs nothing.
	Logger *slog.Logger
}

// CompactWith is [Compact] with options.
func CompactWith(ctx context.Context, dir string, opts CompactOptions) (Compacted, error) {
	start := time.Now()
	c, err := compact(ctx, dir, orDiscard(opts.Logger))
	if err != nil {
		return c, fmt.Errorf("filestore: compact %s: %w", dir, err)
	}
	orDiscard(opts.Logger).Info("filestore: compacted the log", "file", filepath.Join(dir, LogFile),
		"records_before", c.RecordsBefore, "records_after", c.RecordsAfter,
		"bytes_before", c.SizeBefore, "bytes_after", c.SizeAfter, "duration", time.Since(start))
	return c, nil
}

func compact(ctx context.Context, dir string, logger *slog.Logger) (c Compacted, err error) {
	hasLog, err := examine(dir)
	if err == nil && !hasLog {
		err = fmt.Errorf("%w: %s holds no %s", ErrNotLog, dir, LogFile)
	}
	if err != nil {
		return c, err
	}
	s, err := open(ctx, dir, Options{Sync: SyncOS, Logger: logger})
	if err != nil {
		return c, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	c.RecordsBefore, c.SizeBefore = s.log.report.Records, s.log.report.Size
	path := filepath.Join(dir, LogFile)
	err = writeAtomically(dir, path, true, func(f *os.File) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if _, err := w.WriteString(header); err != nil {
			return err
		}
		size := int64(len(header))
		var frame []byte
		var after eventlog.Position
		for {
			recs, through, err := s.Read(ctx, eventlog.Scope{}, after, 4096)
			if err != nil {
				return err
			}
			for _, rec := range recs {
				body, err := encode(rec)
				if err != nil {
					return err
				}
				frame = appendFrame(frame[:0], body, rec.Position, false)
				if _, err := w.Write(frame); err != nil {
					return err
				}
				c.RecordsAfter++
				size += int64(len(frame))
			}
			if len(recs) == 0 {
				c.SizeAfter = size
				return w.Flush()
			}
			after = through
		}
	})
	return c, err
}
