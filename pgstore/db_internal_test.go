package pgstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The internal tests' database: its address, a pool and a schema of
// their own.

// testDSN is the test database's address; the test skips without one.
func testDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SESSIONLOG_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SESSIONLOG_POSTGRES_DSN is not set: skipping the PostgreSQL tests")
	}
	return dsn
}

// testPool is a pool to the test database, closed when the test ends.
func testPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), testDSN(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// testSchema migrates a schema of its own, dropped when the test ends,
// and returns its quoted name.
func testSchema(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "internal_" + hex.EncodeToString(b)
	schema := pgx.Identifier{name}.Sanitize()
	require.NoError(t, migrate(t.Context(), pool, name, schema, discard))
	t.Cleanup(func() {
		_, err := pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		assert.NoError(t, err)
	})
	return schema
}
