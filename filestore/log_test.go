package filestore_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/internal/logtest"
)

// The messages an operator can match on.
const (
	msgTorn     = "filestore: cut off a torn last record, the remains of a write a crash cut short"
	msgCompact  = "filestore: compacted the log"
	msgSalvaged = "filestore: salvaged the log"
)

// tornLog writes a log whose last record is torn (cut 10 bytes in) into
// a new directory, and returns the directory, where the whole records end
// and the torn bytes.
func tornLog(t *testing.T) (dir string, size, torn int64) {
	t.Helper()
	dir, whole := writeLog(t)
	lines := bytes.SplitAfter(whole, []byte("\n"))
	last := lines[len(lines)-2]
	writeFile(t, dir, append(bytes.Clone(whole[:len(whole)-len(last)]), last[:10]...))
	return dir, int64(len(whole) - len(last)), 10
}

// Open reports a torn last record it cuts off to Options.Logger, at Warn,
// naming the file, where the whole records end and the bytes cut off.
func TestTornRecordIsLoggedToTheOptionsLogger(t *testing.T) {
	dir, size, torn := tornLog(t)
	rec := logtest.New()
	def := logtest.CaptureDefault(t)
	store := open(t, dir, filestore.Options{Logger: rec.Logger()})
	require.NoError(t, store.Close())

	lines := rec.Find(msgTorn)
	require.Len(t, lines, 1, "logged:\n%s", rec)
	l := lines[0]
	assert.Equal(t, slog.LevelWarn, l.Level)
	assert.Equal(t, filepath.Join(dir, filestore.LogFile), l.Attrs["file"].String())
	assert.Equal(t, size, l.Attrs["offset"].Int64())
	assert.Equal(t, torn, l.Attrs["bytes"].Int64())
	assert.Len(t, rec.Lines(), 1, "logged:\n%s", rec)
	assert.Empty(t, def.Lines(), "a store with a Logger wrote to the default logger")
}

// Compaction through CompactWith logs its outcome at Info: the records
// and bytes before and after, as the returned Compacted says, and its
// duration; a torn last record it cuts off goes to the same logger.
func TestCompactionIsLogged(t *testing.T) {
	dir, size, torn := tornLog(t)
	rec := logtest.New()
	c, err := filestore.CompactWith(context.Background(), dir, filestore.CompactOptions{Logger: rec.Logger()})
	require.NoError(t, err)

	require.Len(t, rec.Find(msgTorn), 1, "logged:\n%s", rec)
	assert.Equal(t, torn, rec.Find(msgTorn)[0].Attrs["bytes"].Int64())
	lines := rec.Find(msgCompact)
	require.Len(t, lines, 1, "logged:\n%s", rec)
	l := lines[0]
	assert.Equal(t, slog.LevelInfo, l.Level)
	assert.Equal(t, filepath.Join(dir, filestore.LogFile), l.Attrs["file"].String())
	assert.Equal(t, int64(c.RecordsBefore), l.Attrs["records_before"].Int64())
	assert.Equal(t, int64(c.RecordsAfter), l.Attrs["records_after"].Int64())
	assert.Equal(t, size, l.Attrs["bytes_before"].Int64(), "the size once the torn record is cut off")
	assert.Equal(t, c.SizeAfter, l.Attrs["bytes_after"].Int64())
	assert.Equal(t, fileSize(t, dir), c.SizeAfter)
	assert.Positive(t, l.Attrs["duration"].Duration())
	assert.Positive(t, c.RecordsAfter)
}

// Salvage through SalvageWith logs what it found and kept: at Warn when a
// damaged stretch was left out, at Info for a log without damage.
func TestSalvageIsLogged(t *testing.T) {
	ctx := context.Background()
	dir, whole := writeLog(t)
	lines := bytes.SplitAfter(whole, []byte("\n"))
	third := int64(len(lines[0]) + len(lines[1]) + len(lines[2]))

	t.Run("a damaged log at Warn", func(t *testing.T) {
		writeFile(t, dir, retype(whole, third+12))
		rec := logtest.New()
		out := filepath.Join(t.TempDir(), "salvaged")
		s, err := filestore.SalvageWith(ctx, dir, out, filestore.SalvageOptions{Logger: rec.Logger()})
		require.NoError(t, err)
		require.NotEmpty(t, s.Damage)
		found := rec.Find(msgSalvaged)
		require.Len(t, found, 1, "logged:\n%s", rec)
		l := found[0]
		assert.Equal(t, slog.LevelWarn, l.Level)
		assert.Equal(t, filepath.Join(dir, filestore.LogFile), l.Attrs["file"].String())
		assert.Equal(t, out, l.Attrs["dir"].String())
		assert.Equal(t, int64(s.Records), l.Attrs["records"].Int64())
		assert.Equal(t, int64(len(s.Kept)), l.Attrs["kept"].Int64())
		assert.Equal(t, int64(len(s.Damage)), l.Attrs["damaged_stretches"].Int64())
		assert.Equal(t, int64(len(s.Sessions)), l.Attrs["damaged_sessions"].Int64())
		assert.Equal(t, s.NewSize, l.Attrs["bytes_after"].Int64())
		assert.Zero(t, l.Attrs["torn_bytes"].Int64())
		assert.Positive(t, l.Attrs["duration"].Duration())
	})
	t.Run("a log without damage at Info", func(t *testing.T) {
		writeFile(t, dir, whole)
		rec := logtest.New()
		_, err := filestore.SalvageWith(ctx, dir, filepath.Join(t.TempDir(), "salvaged"), filestore.SalvageOptions{Logger: rec.Logger()})
		require.NoError(t, err)
		found := rec.Find(msgSalvaged)
		require.Len(t, found, 1, "logged:\n%s", rec)
		assert.Equal(t, slog.LevelInfo, found[0].Level)
		assert.Zero(t, found[0].Attrs["damaged_stretches"].Int64())
	})
}

// Without a Logger the file store logs nothing, to the default logger
// neither: not a torn record, a compaction or a salvage.
func TestNoLoggerIsSilent(t *testing.T) {
	ctx := context.Background()
	def := logtest.CaptureDefault(t)

	dir, _, _ := tornLog(t)
	store := open(t, dir, filestore.Options{})
	require.Positive(t, store.Report().Torn, "the log had no torn record to report")
	require.NoError(t, store.Close())

	dir, _, _ = tornLog(t)
	_, err := filestore.Compact(ctx, dir)
	require.NoError(t, err)
	dir, _, _ = tornLog(t)
	_, err = filestore.CompactWith(ctx, dir, filestore.CompactOptions{})
	require.NoError(t, err)

	dir, whole := writeLog(t)
	lines := bytes.SplitAfter(whole, []byte("\n"))
	writeFile(t, dir, retype(whole, int64(len(lines[0])+12)))
	_, err = filestore.Salvage(ctx, dir, filepath.Join(t.TempDir(), "salvaged"))
	require.NoError(t, err)

	assert.Empty(t, def.Lines(), "logged through the default logger")
}
