package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/pgstore"
)

// CONTRACT B1: options that can never work are refused before anything
// reaches the database (the pool here never connects).
func TestNegativeOptionsAreRefused(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	require.NoError(t, err)
	defer pool.Close()
	for _, opts := range []pgstore.Options{{PollInterval: -time.Second}, {CachedSessions: -1}, {CachedBytes: -1}} {
		_, err := pgstore.New(context.Background(), pool, opts)
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument, "%+v", opts)
		require.ErrorContains(t, err, "is negative")
	}
	_, err = pgstore.New(context.Background(), nil, pgstore.Options{})
	require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
}

// Open with Existing refuses a schema that holds no sessionlog store with
// ErrNoStore and creates nothing; it opens a store's schema as Open does.
func TestOpenExisting(t *testing.T) {
	ctx := context.Background()
	schema := newSchema(t)
	addr := dsn(t)
	exists := func() bool {
		pool, err := pgxpool.New(ctx, addr)
		require.NoError(t, err)
		defer pool.Close()
		var found bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)", schema).Scan(&found))
		return found
	}
	_, err := pgstore.Open(ctx, addr, pgstore.Options{Schema: schema, Existing: true})
	require.ErrorIs(t, err, pgstore.ErrNoStore)
	require.False(t, exists(), "no schema is made")

	open(t, schema) // makes the store
	s, err := pgstore.Open(ctx, addr, pgstore.Options{Schema: schema, Existing: true})
	require.NoError(t, err)
	require.NoError(t, s.Close())
}
