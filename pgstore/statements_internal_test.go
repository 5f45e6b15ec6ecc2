package pgstore

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// A pool made by Open keeps statementCache prepared statements per
// connection: more than the store runs, so that none is prepared again
// for having been evicted by another. The store's statements are those of
// its queries, plus the few that migrations and data upgrades run once.
func TestStatementCacheHoldsTheStoresStatements(t *testing.T) {
	q := reflect.ValueOf(newQueries(`"s"`))
	distinct := map[string]bool{}
	for i := range q.NumField() {
		f := q.Field(i)
		require.Equal(t, reflect.String, f.Kind(), "queries.%s is not a statement", q.Type().Field(i).Name)
		require.NotEmpty(t, f.String(), "queries.%s is empty", q.Type().Field(i).Name)
		distinct[f.String()] = true
	}
	t.Logf("%d distinct statements in queries", len(distinct))
	const once = 8 // migrate's and upgrade's own statements, generously
	assert.Less(t, len(distinct)+once, statementCache,
		"the store runs %d statements: raise statementCache", len(distinct)+once)
}

// Open sizes its connections' statement caches to statementCache, unless
// the DSN asks for smaller ones; the store works either way.
func TestOpenSizesTheStatementCache(t *testing.T) {
	dsn := testDSN(t)
	for _, c := range []struct {
		param string
		want  int
	}{{"", statementCache}, {"statement_cache_capacity=4&description_cache_capacity=4", 4}} {
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		if c.param != "" {
			u.RawQuery += "&" + c.param
		}
		schema := fmt.Sprintf("sizes_%d_%d", c.want, time.Now().UnixNano())
		s, err := Open(t.Context(), u.String(), Options{Schema: schema})
		require.NoError(t, err)
		t.Cleanup(func() {
			_, err := s.pool.Exec(context.Background(), "DROP SCHEMA "+s.schema+" CASCADE")
			assert.NoError(t, err)
			assert.NoError(t, s.Close())
		})
		cfg := s.pool.Config().ConnConfig
		assert.Equal(t, c.want, cfg.StatementCacheCapacity, c.param)
		assert.Equal(t, c.want, cfg.DescriptionCacheCapacity, c.param)
		// More statements than the smaller cache holds, twice over.
		key := eventlog.SessionKey{AppName: "app", UserID: "u", SessionID: "s"}
		for i := range 2 {
			_, err = s.Append(t.Context(), &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: time.Now()})
			if i == 0 {
				require.NoError(t, err)
			}
			_, err = s.Append(t.Context(), &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Time: time.Now(),
				Event: &eventlog.Event{ID: fmt.Sprint("e", i), Timestamp: time.Now()}})
			require.NoError(t, err)
			_, err = s.Load(t.Context(), key, eventlog.LoadOptions{})
			require.NoError(t, err)
			_, err = s.List(t.Context(), "app", "u", eventlog.ListOptions{Limit: 10})
			require.NoError(t, err)
			_, _, err = s.Read(t.Context(), eventlog.Scope{AppName: "app"}, 0, 10)
			require.NoError(t, err)
		}
	}
}
