package service_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// sharedMemory is an in-memory store that says other writers share it, so
// that a service over it folds the log before every call, as it does over a
// database that several replicas write.
type sharedMemory struct{ *eventlog.Memory }

func (sharedMemory) Shared() bool { return true }

// TestSharedStoreConformance runs the conformance suite through the path a
// service takes over a shared store: a fold of the log before every call.
func TestSharedStoreConformance(t *testing.T) {
	servicetest.Run(t, func(*testing.T) eventlog.Store { return sharedMemory{eventlog.NewMemory()} })
}

// replicaStore is one replica's view of a shared in-memory log: closing it
// closes the replica, not the log.
type replicaStore struct {
	sharedMemory
	closed atomic.Bool
}

func (r *replicaStore) Append(ctx context.Context, rec *eventlog.Record) (*eventlog.Record, error) {
	if r.closed.Load() {
		return nil, eventlog.ErrClosed
	}
	return r.sharedMemory.Append(ctx, rec)
}

func (r *replicaStore) Close() error {
	r.closed.Store(true)
	return nil
}

// TestMemoryReplicas runs the replica checks over services that share one
// in-memory log, as replicas share a database.
func TestMemoryReplicas(t *testing.T) {
	servicetest.RunReplicas(t, func(*testing.T) func() eventlog.Store {
		log := eventlog.NewMemory()
		return func() eventlog.Store { return &replicaStore{sharedMemory: sharedMemory{log}} }
	})
}
