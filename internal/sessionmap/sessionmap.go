// Package sessionmap holds a concurrent map from a session's user and ID,
// within one app, to a value: the index the in-memory store (package
// memstore) looks a session up in on every call.
//
// It is split into shards, each with its own lock, so that calls on
// different sessions of one app rarely take the same lock. One lock for
// them all would cost more than the wait for it: even a read lock writes
// to the mutex, so one lock taken by every call on an app sends its cache
// line from core to core on each call.
package sessionmap

import (
	"hash/maphash"
	"sync"
)

// key names a session within its app.
type key struct{ user, id string }

// shards is a power of two, so that a hash picks a shard with a mask.
const shards = 32

// seed is set once, when the program starts, and never changed.
var seed = maphash.MakeSeed()

// Map is a concurrent map from a session (user and ID) to V. The zero value is empty and
// ready. Each operation is atomic; Values is not a snapshot of the whole.
type Map[V comparable] struct {
	shards [shards]shard[V]
}

type shard[V comparable] struct {
	mu sync.RWMutex
	m  map[key]V
	// Pads the shard to 64 bytes, a cache line, so that locking one
	// shard does not disturb its neighbours.
	_ [32]byte
}

func (m *Map[V]) shard(k key) *shard[V] {
	h := maphash.String(seed, k.id) ^ maphash.String(seed, k.user)>>1
	return &m.shards[h&(shards-1)]
}

// Get returns the value at user's session id, if there is one.
func (m *Map[V]) Get(user, id string) (V, bool) {
	k := key{user, id}
	s := m.shard(k)
	s.mu.RLock()
	v, ok := s.m[k]
	s.mu.RUnlock()
	return v, ok
}

// Put stores v at user's session id.
func (m *Map[V]) Put(user, id string, v V) {
	k := key{user, id}
	s := m.shard(k)
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[key]V)
	}
	s.m[k] = v
	s.mu.Unlock()
}

// CompareAndDelete deletes the value at user's session id if it is old,
// and reports whether it did.
func (m *Map[V]) CompareAndDelete(user, id string, old V) bool {
	k := key{user, id}
	s := m.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[k]; !ok || v != old {
		return false
	}
	delete(s.m, k)
	return true
}

// Values returns the values, one shard at a time: a value put or deleted
// while it runs may or may not be among them.
func (m *Map[V]) Values() []V {
	var out []V
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.RLock()
		for _, v := range s.m {
			out = append(out, v)
		}
		s.mu.RUnlock()
	}
	return out
}
