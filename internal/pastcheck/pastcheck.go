// Package pastcheck checks a store's reads of the past (Load with AsOf)
// against folds of its log, for the tests of the stores that serve app
// and user state exactly as of a point (CONTRACT T1): memstore and
// filestore. It also writes the random logs those tests check.
package pastcheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// Check loads every live session of store as of every version it holds
// and compares each view with what the log defines: the session's own
// state by [projection.FoldSession] of its creation and events up to the
// version, and the app's and the user's state by a fold of every record
// of the app's log (deletions aside) up to that version's position, as
// the log holds it now (the state retained from deleted sessions
// included). It returns how many views it compared, and an error naming
// the first difference.
func Check(ctx context.Context, store eventlog.Store) (int, error) {
	type want struct {
		key     eventlog.SessionKey
		created eventlog.Position
		version uint64
		time    time.Time
		state   map[string]any
	}
	var wants []want
	shared := map[string]*projection.AppState{}
	created := map[eventlog.SessionKey]*eventlog.Record{}
	events := map[eventlog.SessionKey][]*eventlog.Record{}
	for rec, err := range projection.Records(ctx, store) {
		if err != nil {
			return 0, fmt.Errorf("pastcheck: read the log: %w", err)
		}
		a := shared[rec.Key.AppName]
		if a == nil {
			a = projection.NewAppState()
			shared[rec.Key.AppName] = a
		}
		if rec.Kind != eventlog.KindSessionDeleted {
			a.ApplyShared(rec)
		}
		switch rec.Kind {
		case eventlog.KindSessionCreated:
			created[rec.Key], events[rec.Key] = rec, nil
		case eventlog.KindEventAppended:
			events[rec.Key] = append(events[rec.Key], rec)
		default:
			continue
		}
		st := projection.FoldSession(created[rec.Key], events[rec.Key])
		wants = append(wants, want{rec.Key, st.Created, st.Version, st.LastUpdateTime, a.Merged(rec.Key, st.State)})
	}
	for _, w := range wants {
		v, err := store.Load(ctx, w.key, eventlog.LoadOptions{AsOf: &w.version})
		if err != nil {
			return 0, fmt.Errorf("pastcheck: load %s as of version %d: %w", w.key, w.version, err)
		}
		where := fmt.Sprintf("pastcheck: %s as of version %d", w.key, w.version)
		switch {
		case v.Created != w.created:
			return 0, fmt.Errorf("%s: incarnation %d, the log's is %d", where, v.Created, w.created)
		case v.Version != w.version:
			return 0, fmt.Errorf("%s: version %d", where, v.Version)
		case !v.LastUpdateTime.Equal(w.time):
			return 0, fmt.Errorf("%s: last update %s, the log's is %s", where, v.LastUpdateTime, w.time)
		case uint64(len(v.Events)) != w.version:
			return 0, fmt.Errorf("%s: %d events", where, len(v.Events))
		case !reflect.DeepEqual(v.State, w.state):
			return 0, fmt.Errorf("%s: state %v, the log's is %v", where, v.State, w.state)
		}
	}
	return len(wants), nil
}

// Workload writes random records to a store, from one goroutine: creations
// (with initial state) in two apps and three users, events, deletions,
// retained-state records as an import writes them, and, now and then, a
// record placed at a position of its own beyond the last one. Deltas
// write own, app:, user: and temp: keys from small sets, so that sessions
// overwrite each other's app: and user: keys, with Removed values among
// them.
type Workload struct {
	Store eventlog.Store
	Rand  *rand.Rand
	// LongSessions makes the sessions longer, so that keys gather
	// hundreds of changes.
	LongSessions bool

	live []eventlog.SessionKey
	n    int
	last eventlog.Position
}

// Run appends steps records.
func (w *Workload) Run(ctx context.Context, steps int) error {
	r := w.Rand
	deleteOdds := 10
	if w.LongSessions {
		deleteOdds = 60
	}
	for range steps {
		w.n++
		var rec *eventlog.Record
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(w.n) * time.Second)
		switch p := r.IntN(100); {
		case p < 12 || len(w.live) == 0:
			key := eventlog.SessionKey{AppName: fmt.Sprint("app", r.IntN(2)), UserID: fmt.Sprint("u", r.IntN(3)), SessionID: fmt.Sprint("s", w.n)}
			var state map[string]any
			if r.IntN(3) > 0 {
				state = w.delta()
			}
			rec = &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: key, Time: at, State: state}
			w.live = append(w.live, key)
		case p < 12+100/deleteOdds:
			i := r.IntN(len(w.live))
			rec = &eventlog.Record{Kind: eventlog.KindSessionDeleted, Key: w.live[i], Time: at}
			w.live = append(w.live[:i], w.live[i+1:]...)
		case p < 16+100/deleteOdds:
			key := eventlog.SessionKey{AppName: fmt.Sprint("app", r.IntN(2)), UserID: fmt.Sprint("u", r.IntN(3)), SessionID: "gone"}
			rec = &eventlog.Record{Kind: eventlog.KindStateRetained, Key: key, Time: at, State: w.delta()}
		default:
			key := w.live[r.IntN(len(w.live))]
			rec = &eventlog.Record{Kind: eventlog.KindEventAppended, Key: key, Time: at,
				Event: &eventlog.Event{ID: fmt.Sprint("e", w.n), Author: "agent", Timestamp: at, Actions: eventlog.EventActions{StateDelta: w.delta()}}}
		}
		if r.IntN(8) == 0 {
			rec.Position = w.last + 1 + eventlog.Position(r.IntN(3))
		}
		res, err := w.Store.Append(ctx, rec)
		if err != nil {
			return fmt.Errorf("pastcheck: append %s of %s: %w", rec.Kind, rec.Key, err)
		}
		if err := res.Wait(); err != nil {
			return err
		}
		w.last = max(w.last, res.Record.Position)
	}
	return nil
}

// delta returns a random state delta.
func (w *Workload) delta() map[string]any {
	r := w.Rand
	delta := map[string]any{}
	for range 1 + r.IntN(4) {
		name := fmt.Sprint([]string{"", "app:", "user:", "temp:"}[r.IntN(4)], "k", r.IntN(4))
		var v any = w.n
		switch r.IntN(7) {
		case 0:
			v = projection.Removed
		case 1:
			v = projection.RemovedJSON
		case 2:
			v = map[string]any{"n": w.n, "l": []any{w.n, "x"}}
		case 3:
			v = fmt.Sprint("v", w.n)
		}
		delta[name] = v
	}
	return delta
}
