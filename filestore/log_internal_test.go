package filestore

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/logtest"
)

// The messages an operator can match on.
const (
	msgSyncFailed  = "filestore: fsync of the log failed, the log refuses writes"
	msgWriteFailed = "filestore: a write to the log failed, nothing of it is kept"
	msgNotCutOff   = "filestore: a failed write could not be cut off, the log refuses writes"
)

// A failed fsync is logged once, at Error, with the file and the error:
// from then on the log refuses writes, and the refusals log nothing more.
func TestFailedSyncIsLogged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rec := logtest.New()
	s, err := Open(ctx, dir, Options{Sync: SyncAlways, Logger: rec.Logger()})
	require.NoError(t, err)
	defer s.Close()
	s.log.wal.sync = func() error { return errors.New("the disk is gone") }

	res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	require.ErrorContains(t, res.Wait(), "the disk is gone")
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(1)})
	require.ErrorContains(t, err, "refuses writes")

	lines := rec.Find(msgSyncFailed)
	require.Len(t, lines, 1, "logged:\n%s", rec)
	l := lines[0]
	assert.Equal(t, slog.LevelError, l.Level)
	assert.Equal(t, filepath.Join(dir, LogFile), l.Attrs["file"].String())
	assert.Contains(t, l.Attrs["error"].String(), "the disk is gone")
	assert.Equal(t, s.Stats().Written, l.Attrs["written"].Int64())
	assert.Less(t, l.Attrs["synced"].Int64(), l.Attrs["written"].Int64())
	assert.Len(t, rec.Lines(), 1, "logged:\n%s", rec)
}

// A write that fails part way is cut off again and logged at Warn, with
// the offset and the bytes written; when it cannot be cut off, the log
// refuses writes and says so at Error.
func TestFailedWriteIsLogged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rec := logtest.New()
	s, err := Open(ctx, dir, Options{Sync: SyncOS, Logger: rec.Logger()})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	size := s.Stats().Written
	w := s.log.wal
	real := w.f
	half := func(b []byte) (int, error) {
		n, _ := real.Write(b[:len(b)/2])
		return n, errors.New("no space left")
	}

	w.writeTo = half
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(1)})
	require.ErrorContains(t, err, "no space left")
	require.Equal(t, size, fileSize(t, dir), "the half written record was not cut off")
	lines := rec.Find(msgWriteFailed)
	require.Len(t, lines, 1, "logged:\n%s", rec)
	l := lines[0]
	assert.Equal(t, slog.LevelWarn, l.Level)
	assert.Equal(t, filepath.Join(dir, LogFile), l.Attrs["file"].String())
	assert.Equal(t, size, l.Attrs["offset"].Int64())
	assert.Positive(t, l.Attrs["written"].Int64())
	assert.Contains(t, l.Attrs["error"].String(), "no space left")

	// A read-only handle cannot cut the half record off.
	ro, err := os.Open(filepath.Join(dir, LogFile))
	require.NoError(t, err)
	w.f = ro
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(2)})
	require.ErrorContains(t, err, "no space left")
	w.writeTo, w.f = nil, real
	require.NoError(t, ro.Close())
	lines = rec.Find(msgNotCutOff)
	require.Len(t, lines, 1, "logged:\n%s", rec)
	l = lines[0]
	assert.Equal(t, slog.LevelError, l.Level)
	assert.Equal(t, size, l.Attrs["offset"].Int64())
	assert.Contains(t, l.Attrs["error"].String(), "no space left")
	assert.NotEmpty(t, l.Attrs["truncate_error"].String())
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(3)})
	require.ErrorContains(t, err, "refuses writes")
	assert.Len(t, rec.Lines(), 2, "logged:\n%s", rec)
}

// Without a Logger, a failed fsync and a failed write log nothing, to the
// default logger neither.
func TestNoLoggerIsSilentOnFailures(t *testing.T) {
	ctx := context.Background()
	def := logtest.CaptureDefault(t)
	dir := t.TempDir()
	s, err := Open(ctx, dir, Options{Sync: SyncAlways})
	require.NoError(t, err)
	defer s.Close()
	real := s.log.wal.f
	s.log.wal.writeTo = func(b []byte) (int, error) {
		n, _ := real.Write(b[:1])
		return n, errors.New("no space left")
	}
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.ErrorContains(t, err, "no space left")
	s.log.wal.writeTo = nil
	s.log.wal.sync = func() error { return errors.New("the disk is gone") }
	res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key(0)})
	require.NoError(t, err)
	require.ErrorContains(t, res.Wait(), "the disk is gone")
	assert.Empty(t, def.Lines(), "logged through the default logger")
}

func fileSize(t *testing.T, dir string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(dir, LogFile))
	require.NoError(t, err)
	return info.Size()
}
