package pgstore

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A statement that fails inside a batch rolls the whole batch back; each
// of its appends is then sent on its own, so only the failing one fails.
func TestSendRetriesAFailedBatchOneByOne(t *testing.T) {
	dsn := os.Getenv("SESSIONLOG_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SESSIONLOG_POSTGRES_DSN is not set: skipping the PostgreSQL tests")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	defer pool.Close()

	// 1/$1 fails for 0, as an append_event call can fail on what the
	// database refuses.
	const sql = "SELECT 0::smallint, 1/$1::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bytea"
	batch := []*pending{{args: []any{1}}, {args: []any{0}}, {args: []any{2}}}
	for _, p := range batch {
		p.done = make(chan struct{})
	}
	trips := send(ctx, pool, sql, "", batch)
	assert.Equal(t, 1+len(batch), trips, "the failed batch, then each append on its own")
	for _, p := range batch {
		<-p.done
	}
	assert.NoError(t, batch[0].err)
	assert.Equal(t, int64(1), int64(batch[0].pos))
	assert.ErrorContains(t, batch[1].err, "division by zero")
	assert.NoError(t, batch[2].err, "a neighbour of the failing statement still gets its outcome")
	assert.Equal(t, int64(0), int64(batch[2].pos), "1/2 in integers")

	batch = []*pending{{args: []any{1}}, {args: []any{2}}}
	for _, p := range batch {
		p.done = make(chan struct{})
	}
	assert.Equal(t, 1, send(ctx, pool, sql, "", batch), "a batch that succeeds is one round trip")
}
