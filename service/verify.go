package service

import (
	"context"
	"fmt"

	"github.com/sessionlog/sessionlog/projection"
)

// Verify checks that the state the store serves equals the state its log
// defines (CONTRACT R1): every live session's incarnation, version, last
// update time, merged state and events through Get, and every app's
// listing through List (see [projection.Verify]). Run it while nothing
// writes to the store: a write between the fold of the log and the reads
// shows as a difference.
func (s *Service) Verify(ctx context.Context) error {
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return projection.Verify(ctx, s.store) // its errors say "verify" already
}
