// Package index holds a concurrent get-or-create map for long-lived
// entries, such as the apps of the in-memory store (package memstore).
package index

import "sync"

// Index maps keys to values that, once created, are never replaced or
// removed. A lookup of an existing key is a sync.Map read, which takes no
// lock once the key has settled, so goroutines working on different
// entries do not contend on the index. The zero value is empty and ready.
type Index[K comparable, V any] struct {
	mu sync.Mutex // serialises creation, so that each key's value is made once
	m  sync.Map
}

// Get returns the value at k, if there is one.
func (x *Index[K, V]) Get(k K) (V, bool) {
	if v, ok := x.m.Load(k); ok {
		return v.(V), true
	}
	var zero V
	return zero, false
}

// GetOrCreate returns the value at k, storing create() there first if there
// is none; created reports that it did. create runs at most once per key,
// and the value is in the index when GetOrCreate returns.
func (x *Index[K, V]) GetOrCreate(k K, create func() V) (v V, created bool) {
	if v, ok := x.Get(k); ok {
		return v, false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if v, ok := x.Get(k); ok {
		return v, false
	}
	v = create()
	x.m.Store(k, v)
	return v, true
}

// Snapshot returns the entries as they are now, in a new map.
func (x *Index[K, V]) Snapshot() map[K]V {
	out := map[K]V{}
	x.m.Range(func(k, v any) bool {
		out[k.(K)] = v.(V)
		return true
	})
	return out
}
