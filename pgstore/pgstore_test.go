package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// TestMain fails the tests if a goroutine outlives them: a closed store
// must leave no listener or poller behind. genai, which sessionlog's event
// model uses, starts an opencensus worker at init that lives for the
// process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// dsn is the test database's address, from SESSIONLOG_POSTGRES_DSN.
func dsn(t testing.TB) string {
	t.Helper()
	v := os.Getenv("SESSIONLOG_POSTGRES_DSN")
	if v == "" {
		t.Skip("SESSIONLOG_POSTGRES_DSN is not set: skipping the PostgreSQL tests " +
			"(.ci/run sets it; locally: SESSIONLOG_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return v
}

// newSchema names a schema of the test's own, dropped when it ends, so
// that runs and tests never see each other's data.
func newSchema(t testing.TB) string {
	t.Helper()
	addr := dsn(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "sessionlog_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, addr)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// open opens a store over schema, closed when the test ends.
func open(t testing.TB, schema string, opts ...func(*pgstore.Options)) *pgstore.Store {
	t.Helper()
	o := pgstore.Options{Schema: schema}
	for _, f := range opts {
		f(&o)
	}
	s, err := pgstore.Open(context.Background(), smallPool(dsn(t)), o)
	require.NoError(t, err, "open a store over schema %s", schema)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// smallPool keeps a test store's pool small: the suite opens many stores,
// and the server allows 100 connections.
func smallPool(dsn string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&pool_max_conns=3"
	}
	return dsn + "?pool_max_conns=3"
}

// TestConformance runs the whole conformance suite against PostgreSQL,
// each subtest in a schema of its own.
func TestConformance(t *testing.T) {
	dsn(t)
	servicetest.Run(t, func(t *testing.T) eventlog.Store { return open(t, newSchema(t)) })
}

// TestReplicas runs the replica checks: services with their own stores
// (their own pools and listeners) over one schema.
func TestReplicas(t *testing.T) {
	dsn(t)
	servicetest.RunReplicas(t, func(t *testing.T) func() eventlog.Store {
		schema := newSchema(t)
		return func() eventlog.Store { return open(t, schema) }
	})
}
