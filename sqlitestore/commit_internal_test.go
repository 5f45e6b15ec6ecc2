package sqlitestore

import (
	"context"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT A7, S1: an append whose caller's context ends while its batch
// is being committed is stored all the same (the caller gets the
// context's error; a retry with the same event ID finds it), and the
// store's readers are woken for it: with a poll an hour long, nothing
// else would wake them.
func TestAppendLeftInItsBatchWakesReaders(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "sessions.db"), Options{PollInterval: time.Hour})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	ctx := t.Context()
	k := eventlog.SessionKey{AppName: "x", UserID: "u", SessionID: "s"}
	_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now()})
	require.NoError(t, err)
	scope := eventlog.Scope{AppName: "x"}
	changed := s.Changes(scope)
	_, through, err := s.Read(ctx, scope, 0, 10)
	require.NoError(t, err)

	queued := func(n int) func() bool {
		return func() bool { return s.commits.Queued() == n }
	}
	// The first op holds the writer; the second leads the next batch and
	// holds it until the append behind it has left.
	in1, release1 := make(chan struct{}), make(chan struct{})
	in2, release2 := make(chan struct{}), make(chan struct{})
	ops := make(chan error, 2)
	go func() { ops <- s.write(ctx, func(*txn) error { close(in1); <-release1; return nil }) }()
	<-in1
	go func() { ops <- s.write(ctx, func(*txn) error { close(in2); <-release2; return nil }) }()
	require.Eventually(t, queued(1), 5*time.Second, time.Millisecond)
	leaving, leave := context.WithCancel(ctx)
	left := make(chan error, 1)
	go func() {
		_, err := s.Append(leaving, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: time.Now(),
			Event: &eventlog.Event{ID: "e1", Timestamp: time.Now()}})
		left <- err
	}()
	require.Eventually(t, queued(2), 5*time.Second, time.Millisecond)
	close(release1)
	<-in2 // the second op leads a batch that holds the append
	leave()
	require.ErrorIs(t, <-left, context.Canceled)
	close(release2)
	require.NoError(t, <-ops)
	require.NoError(t, <-ops)

	select {
	case <-changed:
	case <-time.After(3 * time.Second):
		t.Fatal("the app's readers were not woken for the append its caller left")
	}
	recs, _, err := s.Read(ctx, scope, through, 10)
	require.NoError(t, err)
	require.Len(t, recs, 1, "the append is stored")
	res, err := s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: time.Now(),
		Event: &eventlog.Event{ID: "e1", Timestamp: time.Now()}})
	require.NoError(t, err)
	require.True(t, res.Duplicate, "a retry finds it")
}

// SQLite's busy_timeout takes whole milliseconds in a 32-bit integer, and
// reads a larger one as no wait at all: a BusyTimeout is rounded up and
// capped.
func TestBusyMillis(t *testing.T) {
	for d, want := range map[time.Duration]int64{
		time.Nanosecond:              1,
		900 * time.Microsecond:       1,
		time.Millisecond:             1,
		1500 * time.Microsecond:      2,
		DefaultBusyTimeout:           10_000,
		1000 * time.Hour:             math.MaxInt32,
		time.Duration(math.MaxInt64): math.MaxInt32,
	} {
		if got := busyMillis(d); got != want {
			t.Errorf("busyMillis(%v) = %d, want %d", d, got, want)
		}
	}
}
