package pgstore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A statement that fails inside a batch rolls the whole batch back; each
// of its appends is then sent on its own, so only the failing one fails.
func TestSendRetriesAFailedBatchOneByOne(t *testing.T) {
	ctx := context.Background()
	pool := testPool(t)

	// 1/seq fails for 0, as an append_events call can fail on what the
	// database refuses; its fourth argument holds the appends' sequence
	// numbers.
	const many = `SELECT n::int, 0::smallint, 1/seq, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bytea
FROM unnest($4::bigint[]) WITH ORDINALITY AS t(seq, n), (SELECT $1::bytea[], $2::bytea[], $3::bytea[], $5::bytea[], $6::bytea[],
	$7::text[], $8::bigint[], $9::int[], $10::bytea[], $11::bytea[], $12::smallint[]) a`
	// The same for one append (append_event's arguments), as the retries
	// send it.
	const one = `SELECT 0::smallint, 1/$4::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bytea
FROM (SELECT $1::bytea, $2::bytea, $3::bytea, $5::bytea, $6::bytea, $7::text, $8::bytea[], $9::bytea[],
	$10::smallint[], $11::text, $12::text, $13::bigint) a`
	sql := statements{one: one, many: many}
	batch := []*pending{{wantSeq: 1}, {wantSeq: 0}, {wantSeq: 2}}
	trips := send(ctx, pool, sql, batch)
	assert.Equal(t, 1+len(batch), trips, "the failed batch, then each append on its own")
	assert.NoError(t, batch[0].err)
	assert.Equal(t, int64(1), int64(batch[0].pos))
	assert.ErrorContains(t, batch[1].err, "division by zero")
	assert.NoError(t, batch[2].err, "a neighbour of the failing statement still gets its outcome")
	assert.Equal(t, int64(0), int64(batch[2].pos), "1/2 in integers")

	batch = []*pending{{wantSeq: 1}, {wantSeq: 2}}
	assert.Equal(t, 1, send(ctx, pool, sql, batch), "a batch that succeeds is one round trip")
}
