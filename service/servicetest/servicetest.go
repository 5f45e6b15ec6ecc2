// Package servicetest is sessionlog's conformance suite: one function, [Run],
// that checks a storage backend, through the Go API of package service,
// against every rule of the behaviour contract that a backend can break
// (the rules have IDs such as K1 and A6).
//
// A backend's tests call Run with a constructor of fresh, empty stores:
//
//	func TestConformance(t *testing.T) {
//		servicetest.Run(t, func(t *testing.T) eventlog.Store {
//			return mybackend.Open(t.TempDir())
//		})
//	}
//
// Run runs the whole suite twice: over the stores newStore makes, and again
// (in the subtest "wrapped") over each of them wrapped in a struct that
// embeds [eventlog.Store], so that a store that relied on its callers
// asserting its concrete type, or an optional interface, fails. Replicas,
// services whose stores are over one log (a database), are checked by
// [RunReplicas], twice in the same way.
//
// The suite's files follow the contract's rule groups: keys (K), create and
// get (C, G), list (L), delete (D), append (A), events (E), streams (S),
// rebuild (R), concurrency (Z), bad input (B), values (V), time travel (T) and replicas. Every subtest
// names the rule it checks in a `// CONTRACT X1` comment and reads as a
// sentence. The suite is deterministic: services run on a fake clock and
// counter IDs except where real UUIDs are the point, and nothing is
// asserted about timing (timeouts only turn a hang into a failure).
// Run it with -race.
package servicetest

import (
	"testing"

	"github.com/sessionlog/sessionlog/eventlog"
)

// Run runs the conformance suite against the stores newStore makes. newStore
// must return a fresh, empty store each time it is called (once per
// subtest); Run closes each store when its subtest ends. Subtests run in
// parallel, so stores from one newStore must be independent of each other.
//
// The subtests are grouped by contract rule (K1, C1, G2, ...). Each builds
// a service.Service over its own store, usually with a fake clock that
// advances one millisecond per reading and counter IDs, so that times and
// IDs are predictable; the subtests about generated UUIDs and real time use
// the service's defaults. The subtest "wrapped" runs every group again,
// each store wrapped in a struct that embeds it.
func Run(t *testing.T, newStore func(t *testing.T) eventlog.Store) {
	suite{newStore: newStore}.run(t)
	t.Run("wrapped", func(t *testing.T) {
		t.Parallel()
		suite{newStore: wrapped(newStore)}.run(t)
	})
}

// wrapped returns a constructor of the stores newStore makes, each inside
// a struct that embeds it: the same store, with none of its own methods or
// its concrete type visible, only the [eventlog.Store] interface. A store
// must behave wrapped exactly as it does itself.
func wrapped(newStore func(*testing.T) eventlog.Store) func(*testing.T) eventlog.Store {
	return func(t *testing.T) eventlog.Store { return wrap(newStore(t)) }
}

// wrap hides store's concrete type behind a struct that embeds it (nil
// stays nil).
func wrap(store eventlog.Store) eventlog.Store {
	if store == nil {
		return nil
	}
	return struct{ eventlog.Store }{store}
}

func (s suite) run(t *testing.T) {
	groups := []struct {
		name string
		run  func(*testing.T)
	}{
		{"K1 app name and user ID are required", s.k1},
		{"K2 keys compare exactly", s.k2},
		{"C1 creating an existing session fails", s.c1},
		{"C2 C3 initial state is split and merged", s.c2c3},
		{"G1 a missing session is not found", s.g1},
		{"G2 event filters", s.g2},
		{"G3 app and user state are read live", s.g3},
		{"G4 returned sessions belong to the caller", s.g4},
		{"L1 L2 listing and paging", s.l1l2},
		{"L1 L2 recent first", s.l3},
		{"D1 delete is idempotent", s.d1},
		{"D2 a deleted session is gone", s.d2},
		{"D3 delete frees the session and keeps shared state", s.d3},
		{"A1 appends with no session or event", s.a1},
		{"A2 partial events", s.a2},
		{"A3 IDs timestamps and sequence numbers", s.a3},
		{"A4 state deltas", s.a4},
		{"A5 the handle is updated in place", s.a5},
		{"A6 optimistic concurrency", s.a6},
		{"A7 idempotent retries", s.a7},
		{"A8 the store keeps its own copy", s.a8},
		{"E1 ListEvents paging", s.e1},
		{"S1 session subscriptions", s.s1},
		{"S2 user and app subscriptions", s.s2},
		{"S3 subscriptions end", s.s3},
		{"R1 a rebuild equals the served state", s.r1},
		{"R2 export and import", s.r2},
		{"R2 an import keeps every position", s.r2Positions},
		{"Z1 concurrency", s.z1},
		{"B1 bad input", s.b1},
		{"V1 values come back as they went in", s.v1},
		{"T1 a session as it was", s.t1},
		{"T2 rewind", s.t2},
		{"T3 fork", s.t3},
		{"K1 K2 V1 random keys and values come back exact and isolated", s.property},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t)
		})
	}
}
