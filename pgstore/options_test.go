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
