//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exits records the statuses an interruptible context's watcher would
// have exited with.
type exits chan int

func (e exits) exit(code int) { e <- code }

// A SIGINT or SIGTERM cancels the command's context with the signal as its
// cause; the process exits only if the command has not ended after the
// grace period, or at a second signal.
func TestInterruptible(t *testing.T) {
	self := os.Getpid()
	t.Run("the first signal cancels the context", func(t *testing.T) {
		e := make(exits, 1)
		ctx, stop := interruptible(context.Background(), time.Hour, e.exit)
		require.NoError(t, syscall.Kill(self, syscall.SIGINT))
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("SIGINT did not cancel the context")
		}
		why, ok := interruptedBy(ctx)
		require.True(t, ok, "cause %v", context.Cause(ctx))
		assert.Equal(t, 130, why.status())
		stop()
		assert.Empty(t, e, "a command that ends in time is not cut short")
	})
	t.Run("a command that does not end within the grace period is cut short", func(t *testing.T) {
		e := make(exits, 1)
		_, stop := interruptible(context.Background(), 10*time.Millisecond, e.exit)
		defer stop()
		require.NoError(t, syscall.Kill(self, syscall.SIGTERM))
		select {
		case code := <-e:
			assert.Equal(t, 143, code)
		case <-time.After(10 * time.Second):
			t.Fatal("no exit after the grace period")
		}
	})
	t.Run("a second signal cuts the command short", func(t *testing.T) {
		e := make(exits, 1)
		ctx, stop := interruptible(context.Background(), time.Hour, e.exit)
		defer stop()
		require.NoError(t, syscall.Kill(self, syscall.SIGINT))
		<-ctx.Done()
		require.NoError(t, syscall.Kill(self, syscall.SIGINT))
		select {
		case code := <-e:
			assert.Equal(t, 130, code)
		case <-time.After(10 * time.Second):
			t.Fatal("no exit at the second signal")
		}
	})
	t.Run("without a signal nothing happens", func(t *testing.T) {
		e := make(exits, 1)
		ctx, stop := interruptible(context.Background(), time.Millisecond, e.exit)
		stop()
		assert.ErrorIs(t, ctx.Err(), context.Canceled, "stop releases the context")
		_, ok := interruptedBy(ctx)
		assert.False(t, ok)
		assert.Empty(t, e)
	})
}

// An interrupted export exits with the signal's status, says so, and
// leaves neither the file it was to write nor its temporary file.
func TestInterruptedExportLeavesNoFile(t *testing.T) {
	dir := makeStore(t)
	out := t.TempDir()
	file := filepath.Join(out, "export.jsonl")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interrupted{syscall.SIGINT})
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"export", "-dir", dir, "-o", file}, strings.NewReader(""), &stdout, &stderr)
	assert.Equal(t, 130, code, stderr.String())
	assert.Contains(t, stderr.String(), "sessionlog export: interrupted (SIGINT): ")
	left, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Empty(t, left, "files left behind")
}
