package eventlog

import (
	"context"
	"errors"
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
// The iteration ends without an error when ctx is done or when a session
// scope's session is deleted; a store failure is yielded as the final
// error. Follow starts no goroutine: it runs in the caller's.
func Follow(ctx context.Context, store Store, scope Scope, after Position) iter.Seq2[*Record, error] {
	return func(yield func(*Record, error) bool) {
		for {
			changed := store.Changes(scope)
			recs, err := store.Read(ctx, scope, after, followBatch)
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
				after = rec.Position
				if rec.Kind == KindStateRetained {
					continue
				}
				if !yield(rec, nil) {
					return
				}
			}
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
