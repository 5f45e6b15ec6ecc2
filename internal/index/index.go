// Package index holds a concurrent get-or-create map for the few, long-lived
// entries that the store and the projections keep per app.
package index

import (
	"sync"
	"sync/atomic"
)

// Index maps keys to values that, once created, are never replaced or
// removed. A lookup is one atomic load and takes no lock, so goroutines
// working on different entries never contend on the index; adding a key
// copies the map, which suits a small set of keys read far more often than
// added. The zero value is empty and ready.
type Index[K comparable, V any] struct {
	mu sync.Mutex // serialises additions
	m  atomic.Pointer[map[K]V]
}

// Get returns the value at k, if there is one.
func (x *Index[K, V]) Get(k K) (V, bool) {
	if m := x.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// GetOrCreate returns the value at k, storing create() there first if there
// is none. create runs at most once per key.
func (x *Index[K, V]) GetOrCreate(k K, create func() V) V {
	if v, ok := x.Get(k); ok {
		return v
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	old := x.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	next := make(map[K]V, 1)
	if old != nil {
		next = make(map[K]V, len(*old)+1)
		for k, v := range *old {
			next[k] = v
		}
	}
	v := create()
	next[k] = v
	x.m.Store(&next)
	return v
}

// Snapshot returns the map as it is now. It must not be modified.
func (x *Index[K, V]) Snapshot() map[K]V {
	if m := x.m.Load(); m != nil {
		return *m
	}
	return nil
}
