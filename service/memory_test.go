package service_test

import (
	"context"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// subscription must leave nothing running once it ends (CONTRACT S3).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// TestMemoryConformance runs the conformance suite against the in-memory
// store, the service's default.
func TestMemoryConformance(t *testing.T) {
	servicetest.Run(t, func(*testing.T) eventlog.Store { return memstore.New() })
}

// replicaStore is one replica's handle on an in-memory store that every
// replica writes: closing it closes the replica, not the store the others
// go on using.
type replicaStore struct {
	eventlog.Store
	closed atomic.Bool
}

func (r *replicaStore) Append(ctx context.Context, rec *eventlog.Record) (eventlog.AppendResult, error) {
	if r.closed.Load() {
		return eventlog.AppendResult{}, eventlog.ErrClosed
	}
	return r.Store.Append(ctx, rec)
}

func (r *replicaStore) Close() error {
	r.closed.Store(true)
	return nil
}

// TestMemoryReplicas runs the replica checks with every replica over one
// in-memory store, as replicas run over one database: each service sees what
// the others wrote in its next call, because none keeps state of its own.
func TestMemoryReplicas(t *testing.T) {
	servicetest.RunReplicas(t, func(t *testing.T) func() eventlog.Store {
		store := memstore.New()
		t.Cleanup(func() { store.Close() })
		return func() eventlog.Store { return &replicaStore{Store: store} }
	})
}
