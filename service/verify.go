package service

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/sessionlog/sessionlog/projection"
)

// Snapshot copies the live projections: every app's state, its users'
// states and its sessions' states, versions and times.
func (s *Service) Snapshot() *projection.State { return s.live.Snapshot() }

// Verify rebuilds the projections from the log and compares them with the
// live ones (CONTRACT R1). Run it while nothing writes to the service: a
// write between the two reads shows as a difference.
func (s *Service) Verify(ctx context.Context) error {
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	rebuilt, err := projection.Rebuild(ctx, s.store)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if live := s.live.Snapshot(); !reflect.DeepEqual(live, rebuilt) {
		return fmt.Errorf("verify: the live state differs from the state rebuilt from the log:\nlive:    %s\nrebuilt: %s",
			describe(live), describe(rebuilt))
	}
	return nil
}

func describe(st *projection.State) string {
	var out strings.Builder
	for name, a := range st.Apps {
		users := make(map[string]map[string]any, len(a.Users))
		for u, sh := range a.Users {
			users[u] = sh.Values()
		}
		fmt.Fprintf(&out, "[app %q: state %v users %v sessions %d]", name, a.State.Values(), users, len(a.Sessions))
	}
	return out.String()
}
