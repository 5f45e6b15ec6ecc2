package filestore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/service"
)

// forkedLog writes a source session of three events and a fork of it
// (one batch of four lines) and returns the log file's bytes and where the
// fork's batch starts in it.
func forkedLog(t *testing.T) (file []byte, batchAt int) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store := open(t, dir, filestore.Options{Sync: filestore.SyncOS})
	svc, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	src := service.SessionKey{AppName: "app", UserID: "u", SessionID: "src"}
	sess, err := svc.Create(ctx, src, map[string]any{"a": 1})
	require.NoError(t, err)
	for i := range 3 {
		_, err := svc.AppendEvent(ctx, sess, &service.Event{Author: "user", Actions: service.EventActions{StateDelta: map[string]any{"a": i + 2}}})
		require.NoError(t, err)
	}
	path := filepath.Join(dir, filestore.LogFile)
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = svc.Fork(ctx, src, 3, service.SessionKey{SessionID: "fork"})
	require.NoError(t, err)
	require.NoError(t, svc.Close())
	file, err = os.ReadFile(path)
	require.NoError(t, err)
	return file, len(before)
}

// logDir writes b as the log of a new store directory.
func logDir(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, filestore.LogFile), b, 0o644))
	return dir
}

// CONTRACT T3 A1: a fork is one batch in the log: every line but the last
// is marked, and a crash that cuts the batch short anywhere leaves none of
// the fork, while the rest of the log is kept and the store takes appends
// again.
func TestBatchIsKeptWholeOrNotAtAll(t *testing.T) {
	ctx := context.Background()
	file, batchAt := forkedLog(t)
	lines := bytes.SplitAfter(file[batchAt:], []byte("\n"))
	lines = lines[:len(lines)-1] // the empty rest after the last newline
	require.Len(t, lines, 4, "the fork's creation and its three events")
	for i, line := range lines {
		want := byte('+')
		if i == len(lines)-1 {
			want = ' '
		}
		require.Equal(t, want, line[17], "line %d of the batch", i)
	}

	check := func(t *testing.T, cut int) {
		dir := logDir(t, file[:cut])
		rep, err := filestore.Verify(ctx, dir)
		require.NoError(t, err)
		require.Empty(t, rep.Damage, "a cut batch is a torn write, not damage")
		require.Equal(t, int64(batchAt), rep.Size, "the whole records end where the batch starts")
		require.Equal(t, int64(cut-batchAt), rep.Torn)
		svc, err := service.New(ctx, service.Options{Store: open(t, dir, filestore.Options{})})
		require.NoError(t, err)
		defer svc.Close()
		_, err = svc.Get(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: "fork"}, service.GetOptions{})
		require.ErrorIs(t, err, service.ErrNotFound, "no part of the fork is served")
		src, err := svc.Get(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: "src"}, service.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, uint64(3), src.Version)
		_, err = svc.AppendEvent(ctx, src, &service.Event{Author: "user"})
		require.NoError(t, err, "the torn batch was cut off and the log takes appends")
		require.NoError(t, svc.Verify(ctx))
	}
	off := batchAt
	for i, line := range lines {
		if i > 0 {
			t.Run(fmt.Sprintf("cut after line %d", i), func(t *testing.T) { check(t, off) })
		}
		t.Run(fmt.Sprintf("cut inside line %d", i+1), func(t *testing.T) { check(t, off+len(line)/2) })
		off += len(line)
	}

	t.Run("the whole batch is the fork", func(t *testing.T) {
		dir := logDir(t, file)
		svc, err := service.New(ctx, service.Options{Store: open(t, dir, filestore.Options{})})
		require.NoError(t, err)
		defer svc.Close()
		fork, err := svc.Get(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: "fork"}, service.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, uint64(3), fork.Version)
		require.Equal(t, 4, fork.State["a"])
	})
}

// A batch whose last line is damaged is lost whole: Verify reports its
// marked lines as damage, and Salvage keeps none of the fork.
func TestDamagedBatchIsDroppedWhole(t *testing.T) {
	ctx := context.Background()
	file, batchAt := forkedLog(t)
	damaged := bytes.Clone(file)
	last := bytes.LastIndexByte(damaged[:len(damaged)-1], '\n') + 1
	damaged[last+30] ^= 0x20 // inside the last line's JSON: its checksum fails
	damaged = append(damaged, file[batchAt:bytes.IndexByte(file[batchAt:], '\n')+batchAt+1]...)
	// ...and a whole line after it, so that the damage is not a torn end.
	dir := logDir(t, damaged)
	rep, err := filestore.Verify(ctx, dir)
	require.ErrorIs(t, err, filestore.ErrCorrupt)
	require.GreaterOrEqual(t, len(rep.Damage), 4, "the batch's three marked lines and its damaged last line: %+v", rep.Damage)
	out := filepath.Join(t.TempDir(), "salvaged")
	_, err = filestore.Salvage(ctx, dir, out)
	require.NoError(t, err)
	svc, err := service.New(ctx, service.Options{Store: open(t, out, filestore.Options{})})
	require.NoError(t, err)
	defer svc.Close()
	_, err = svc.Get(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: "fork"}, service.GetOptions{})
	require.ErrorIs(t, err, service.ErrNotFound, "no part of a damaged batch is kept")
	require.NoError(t, svc.Verify(ctx))
}

// A log of format 1 is read as it is, and the first batch written to it
// raises its header to the current format, so that no older build reads
// a batch's mark as damage. A header that writes the version in more bytes
// (here "01") is raised to one of the same length, so that the records
// after it stay where they were.
func TestFormatOneLogTakesBatches(t *testing.T) {
	for _, c := range []struct{ old, raised string }{
		{fmt.Sprintf("%s 1\n", filestore.Magic), fmt.Sprintf("%s %d\n", filestore.Magic, filestore.Version)},
		{fmt.Sprintf("%s 01\n", filestore.Magic), fmt.Sprintf("%s 0%d\n", filestore.Magic, filestore.Version)},
	} {
		t.Run(strings.TrimSpace(c.old), func(t *testing.T) {
			ctx := context.Background()
			file, batchAt := forkedLog(t)
			first := bytes.IndexByte(file, '\n') + 1
			dir := logDir(t, append([]byte(c.old), file[first:batchAt]...))
			svc, err := service.New(ctx, service.Options{Store: open(t, dir, filestore.Options{})})
			require.NoError(t, err)
			_, err = svc.Fork(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: "src"}, 2, service.SessionKey{SessionID: "fork"})
			require.NoError(t, err)
			require.NoError(t, svc.Close())
			b, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
			require.NoError(t, err)
			require.Equal(t, c.raised, string(b[:bytes.IndexByte(b, '\n')+1]), "the header is raised to format %d", filestore.Version)
			rep, err := filestore.Verify(ctx, dir)
			require.NoError(t, err)
			require.Empty(t, rep.Damage)
			require.Equal(t, filestore.Version, rep.Format)
			svc, err = service.New(ctx, service.Options{Store: open(t, dir, filestore.Options{})})
			require.NoError(t, err)
			defer svc.Close()
			fork, err := svc.Get(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: "fork"}, service.GetOptions{})
			require.NoError(t, err)
			require.Equal(t, uint64(2), fork.Version)
		})
	}
}

// A log whose header writes its format version another way (here "02")
// reads as the same log: Verify finds nothing damaged, and Open, read-only
// or not, serves the same sessions and takes appends.
func TestHeaderWithTheVersionWrittenAnotherWay(t *testing.T) {
	ctx := context.Background()
	file, _ := forkedLog(t)
	first := bytes.IndexByte(file, '\n') + 1
	other := append([]byte(fmt.Sprintf("%s 0%d\n", filestore.Magic, filestore.Version)), file[first:]...)
	dir := logDir(t, other)
	rep, err := filestore.Verify(ctx, dir)
	require.NoError(t, err)
	require.Empty(t, rep.Damage)
	require.Empty(t, rep.Sessions)
	require.Equal(t, filestore.Version, rep.Format, "Verify's report names the header's format")
	for _, readOnly := range []bool{true, false} {
		store, err := filestore.Open(ctx, dir, filestore.Options{ReadOnly: readOnly, Sync: filestore.SyncOS})
		require.NoError(t, err, "read-only: %v", readOnly)
		v, err := store.Load(ctx, eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "fork"}, eventlog.LoadOptions{})
		require.NoError(t, err, "read-only: %v", readOnly)
		require.Len(t, v.Events, 3)
		if !readOnly {
			_, err = store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Time: time.Now(),
				Key: eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "new"}})
			require.NoError(t, err)
		}
		require.NoError(t, store.Close())
	}
}
