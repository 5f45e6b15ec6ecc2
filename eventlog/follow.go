package eventlog

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// followBatch is how many records a cursor reads at a time.
const followBatch = 256

// Follow returns an iterator over the records of scope after position
// after: first those already stored, then each new one as it is appended.
// It is a cursor, not a queue: it reads the log at its own pace, so a slow
// consumer never holds up appenders and the store buffers nothing for it
// (CONTRACT S1). Records in the iterator are in Position order, with no gaps
// and no repeats; KindStateRetained records are skipped (they are history,
// not changes).
//
// Deletion frees a session's records (CONTRACT D3). A session follower
// still behind them completes; an app or user follower never skips them
// silently: it ends with the store's [*CompactedError] (matching
// [ErrCompacted]), which names the position to follow on from after
// re-reading state (CONTRACT S2).
//
// The iteration ends without an error when ctx is done or when a session
// scope's session is deleted; a store failure is yielded as the final
// error, and so is an empty scope (follow an app, a user or a session).
// A session scope without an Incarnation follows the incarnation live when
// the iteration starts (none: it ends at once), and ends with it too: a
// session created again under the key is not followed.
// Follow starts no goroutine: it runs in the caller's.
func Follow(ctx context.Context, store Store, scope Scope, after Position) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		if scope.AppName == "" {
			yield(nil, fmt.Errorf("follow: %w: scope names no app", ErrInvalidArgument))
			return
		}
		if scope.IsSession() && scope.Incarnation == 0 {
			v, err := store.Load(ctx, scope.Key(), LoadOptions{NoEvents: true})
			switch {
			case ctx.Err() != nil || errors.Is(err, ErrNotFound):
				return
			case err != nil:
				yield(nil, err)
				return
			}
			scope.Incarnation = v.Created
		}
		for {
			changed := store.Changes(scope)
			recs, through, err := store.Read(ctx, scope, after, followBatch)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil && scope.IsSession() && errors.Is(err, ErrNotFound):
				return
			case err != nil:
				yield(nil, err)
				return
			}
			for _, rec := range recs {
				if ctx.Err() != nil {
					return // cancelled while the batch was being delivered
				}
				if rec.Kind == KindStateRetained {
					continue
				}
				if !yield(rec, nil) {
					return
				}
			}
			after = max(after, through)
			if len(recs) == followBatch {
				continue // more is stored: read on before waiting
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}
}
