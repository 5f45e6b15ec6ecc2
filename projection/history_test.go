package projection_test

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
)

// histDelta returns a random delta over a few keys of every scope, with
// removals among the values.
func histDelta(r *rand.Rand, n int) map[string]any {
	delta := map[string]any{}
	for range 1 + r.IntN(4) {
		name := fmt.Sprint([]string{"", "app:", "user:", "temp:"}[r.IntN(4)], "k", r.IntN(3))
		var v any = n
		switch r.IntN(5) {
		case 0:
			v = projection.Removed
		case 1:
			v = map[string]any{"n": n}
		}
		delta[name] = v
	}
	return delta
}

// histSession is a session of the simulated store below.
type histSession struct {
	key     eventlog.SessionKey
	created *eventlog.Record
	events  []*eventlog.Record
	st      *projection.SessionState
	own     projection.History
}

// CONTRACT T1 D3: a fold that keeps histories, with deletions that free
// records as a store does (the records are replaced by what
// eventlog.Retained keeps, and AppState.Forget drops the rest),
// serves, for every version of every live session, exactly
// projection.FoldSession of the session's records and a fold of the log,
// as it now stands, up to that version's position. A history folded from
// the same log in a random order agrees too.
func TestHistoryEqualsTheFoldOfTheLog(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			app := projection.NewAppState()
			app.KeepHistory = true
			var log []*eventlog.Record // nil where a record was freed
			var live []*histSession
			pos := eventlog.Position(0)
			for n := range 300 {
				pos += eventlog.Position(1 + r.IntN(2))
				switch p := r.IntN(100); {
				case p < 15 || len(live) == 0:
					s := &histSession{key: pjKey("app", fmt.Sprint("u", r.IntN(3)), fmt.Sprint("s", n))}
					var state map[string]any
					if r.IntN(2) == 0 {
						state = histDelta(r, n)
					}
					s.created = pjCreated(pos, s.key, state)
					s.st = projection.NewSessionWithHistory(s.created, &s.own)
					app.ApplyShared(s.created)
					log = append(log, s.created)
					live = append(live, s)
				case p < 22:
					i := r.IntN(len(live))
					s := live[i]
					live = append(live[:i], live[i+1:]...)
					all := append([]*eventlog.Record{s.created}, s.events...)
					retained := eventlog.Retained(all)
					kept := make([]*eventlog.Record, len(all))
					for i, rec := range all {
						if len(retained) > 0 && retained[0].Position == rec.Position {
							kept[i], retained = retained[0], retained[1:]
						}
						for j := range log {
							if log[j] == rec {
								log[j] = kept[i]
							}
						}
					}
					app.Forget(s.key.UserID, projection.FreedWrites(all, kept))
					log = append(log, pjDeleted(pos, s.key))
				case p < 26:
					rec := pjRetained(pos, pjKey("app", fmt.Sprint("u", r.IntN(3)), "gone"), histDelta(r, n))
					app.ApplyShared(rec)
					log = append(log, rec)
				default:
					s := live[r.IntN(len(live))]
					rec := pjAppended(pos, s.key, uint64(len(s.events))+1, histDelta(r, n))
					s.st.ApplyEventWithHistory(rec, app, &s.own)
					s.events = append(s.events, rec)
					log = append(log, rec)
				}
			}
			// The same log, as it stands, folded in a random order.
			shuffled := projection.NewAppState()
			shuffled.KeepHistory = true
			for _, i := range r.Perm(len(log)) {
				if rec := log[i]; rec != nil && rec.Kind != eventlog.KindSessionDeleted {
					shuffled.ApplyShared(rec)
				}
			}
			byPos := map[uint64]*eventlog.Record{}
			for _, rec := range log {
				if rec != nil {
					byPos[uint64(rec.Position)] = rec
				}
			}
			logRecords := func(at uint64) *eventlog.Record { return byPos[at] }
			checked := 0
			for _, s := range live {
				ownRecords := func(v uint64) *eventlog.Record {
					if v == 0 {
						return s.created
					}
					return s.events[v-1]
				}
				for v := 0; v <= len(s.events); v++ {
					at := s.created.Position
					if v > 0 {
						at = s.events[v-1].Position
					}
					shared := projection.NewAppState()
					for _, rec := range log {
						if rec != nil && rec.Position <= at && rec.Kind != eventlog.KindSessionDeleted {
							shared.ApplyShared(rec)
						}
					}
					want := shared.Merged(s.key, projection.FoldSession(s.created, s.events[:v]).State)
					require.Equal(t, want, app.MergedAsOf(s.key, &s.own, uint64(v), ownRecords, at, logRecords), "%s as of version %d", s.key, v)
					require.Equal(t, want, shuffled.MergedAsOf(s.key, &s.own, uint64(v), ownRecords, at, logRecords), "%s as of version %d, folded out of order", s.key, v)
					checked++
				}
				require.Equal(t, s.st.State, s.own.AsOf(uint64(len(s.events)), ownRecords), "%s: the history's last state is the fold's", s.key)
			}
			require.NotZero(t, checked)
		})
	}
}

// keepOnly returns the record that survives rec when only keys do, as
// eventlog.Retained builds it.
func keepOnly(rec *eventlog.Record, keys ...string) *eventlog.Record {
	state := map[string]any{}
	for _, k := range keys {
		state[k] = rec.Writes()[k]
	}
	return &eventlog.Record{Position: rec.Position, Kind: eventlog.KindStateRetained, Key: rec.Key, Time: rec.Time, State: state}
}

// Forgotten changes are looked past, across the words of the bitmap that
// marks them, and their memory goes once they are half of a key's.
func TestHistoryForget(t *testing.T) {
	// CONTRACT D3
	k := pjKey("app", "u", "s")
	app := projection.NewAppState()
	app.KeepHistory = true
	var recs []*eventlog.Record
	for i := range 300 {
		rec := pjAppended(eventlog.Position(i+1), k, uint64(i+1), map[string]any{"app:x": i, "user:y": i})
		app.ApplyShared(rec)
		recs = append(recs, rec)
	}
	require.Equal(t, 600, projection.HistoryLen(app))
	log := map[uint64]*eventlog.Record{} // the log as it stands
	for _, rec := range recs {
		log[uint64(rec.Position)] = rec
	}
	at := func(pos int) map[string]any {
		return app.MergedAsOf(k, nil, 0, nil, eventlog.Position(pos), func(at uint64) *eventlog.Record { return log[at] })
	}
	forget := func(rec *eventlog.Record, keep ...string) {
		kept := keepOnly(rec, keep...)
		if len(keep) == 0 {
			kept = nil
		}
		app.Forget(rec.Key.UserID, projection.FreedWrites([]*eventlog.Record{rec}, []*eventlog.Record{kept}))
		log[uint64(rec.Position)] = kept
	}
	// Forget app:x's changes 50..199 (at positions 51..200): 150 of 300,
	// not yet more than half.
	for _, rec := range recs[50:200] {
		forget(rec, "user:y")
	}
	require.Equal(t, 600, projection.HistoryLen(app), "half forgotten: kept until more are")
	for pos := 1; pos <= 300; pos++ {
		want := pos - 1
		if pos > 50 && pos <= 200 {
			want = 49
		}
		require.Equal(t, map[string]any{"app:x": want, "user:y": pos - 1}, at(pos), "at position %d", pos)
	}
	require.Equal(t, map[string]any{}, at(0))
	forget(recs[0], "user:y")
	require.Equal(t, 600-151, projection.HistoryLen(app), "more than half forgotten: compacted")
	require.Equal(t, map[string]any{"user:y": 0}, at(1))
	require.Equal(t, map[string]any{"app:x": 49, "user:y": 60}, at(61))
	require.Equal(t, map[string]any{"app:x": 200, "user:y": 200}, at(201))
	for _, rec := range recs {
		forget(rec)
	}
	require.Zero(t, projection.HistoryLen(app))
	require.Equal(t, map[string]any{}, at(301))
}

// A change costs the history about 8 bytes: its point (CONTRACT T1's
// reads of the past must not make a stored event much bigger).
func TestHistoryMemoryPerChange(t *testing.T) {
	const n = 50_000
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	recs := make([]*eventlog.Record, n)
	for i := range recs {
		recs[i] = pjAppended(eventlog.Position(i+1), pjKey("app", "u", "s"), uint64(i+1), map[string]any{"k": i, "app:a": i, "user:u": i})
	}
	before := heap()
	st := projection.NewSession(pjCreated(0, pjKey("app", "u", "s"), nil))
	app := projection.NewAppState()
	app.KeepHistory = true
	var own projection.History
	for _, rec := range recs {
		st.ApplyEventWithHistory(rec, app, &own)
	}
	perChange := float64(heap()-before) / (3 * n)
	t.Logf("%.1f bytes a change", perChange)
	require.LessOrEqual(t, perChange, 9.0)
	require.Equal(t, 3*n, own.Len()+projection.HistoryLen(app))
	runtime.KeepAlive(recs)
}
