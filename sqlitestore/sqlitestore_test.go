package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/service/servicetest"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// TestMain fails the tests if a goroutine outlives them: a closed store
// must leave no poller behind. The crash test's child runs here too.
func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// open opens a store over the file at path, closed when the test ends.
func open(t testing.TB, path string, opts ...func(*sqlitestore.Options)) *sqlitestore.Store {
	t.Helper()
	var o sqlitestore.Options
	for _, f := range opts {
		f(&o)
	}
	s, err := sqlitestore.Open(context.Background(), path, o)
	require.NoError(t, err, "open a store over %s", path)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// newFile names a database file in a directory of the test's own.
func newFile(t testing.TB) string {
	return filepath.Join(t.TempDir(), "sessions.db")
}

// TestConformance runs the whole conformance suite, each subtest over a
// file of its own.
func TestConformance(t *testing.T) {
	servicetest.Run(t, func(t *testing.T) eventlog.Store { return open(t, newFile(t)) })
}

// TestReplicas runs the replica checks over stores that share one file,
// each with its own connections and cache, as processes sharing the file
// would: what one writes, the others read at once.
func TestReplicas(t *testing.T) {
	servicetest.RunReplicas(t, func(t *testing.T) func() eventlog.Store {
		path := newFile(t)
		return func() eventlog.Store { return open(t, path) }
	})
}

// CONTRACT V1: values read back by a store opened after the writer closed
// are the JSON values the writer returned.
func TestValuesAfterRestart(t *testing.T) {
	servicetest.RunRestart(t, func(t *testing.T) func() eventlog.Store {
		path := newFile(t)
		return func() eventlog.Store { return open(t, path) }
	})
}
