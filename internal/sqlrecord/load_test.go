package sqlrecord_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// fakeSession answers a Load's read as a store over a database holding
// one session would: its incarnation created, its events.
type fakeSession struct {
	created eventlog.Position
	events  []*eventlog.Record
	gone    bool
	calls   [][2]uint64 // the (incarnation, have) of each read
}

func (f *fakeSession) read(incarnation eventlog.Position, have uint64) (sqlrecord.Loaded, error) {
	f.calls = append(f.calls, [2]uint64{uint64(incarnation), have})
	if f.gone {
		return sqlrecord.Loaded{}, nil
	}
	l := sqlrecord.Loaded{Found: true, Created: f.created, Version: uint64(len(f.events)),
		Updated: sqlrecord.SortableTime(time.Unix(100, 0)), Creation: &eventlog.Record{Kind: eventlog.KindSessionCreated, Position: f.created}}
	from := uint64(0)
	if incarnation == f.created {
		from = have
	}
	for _, rec := range f.events[from:] {
		l.Events, l.Sizes = append(l.Events, rec), append(l.Sizes, 10)
	}
	return l, nil
}

func (f *fakeSession) append(id string) {
	f.events = append(f.events, &eventlog.Record{Kind: eventlog.KindEventAppended, Seq: uint64(len(f.events) + 1),
		Event: &eventlog.Event{ID: id, Timestamp: time.Unix(int64(len(f.events)), 0)}})
}

// A Load reads only the events after those the cache holds of the
// session's incarnation, all of them for a new incarnation, none with
// NoEvents, and folds an as-of view from them (CONTRACT T1); a session
// gone is ErrNotFound (CONTRACT G1, D2) and leaves the cache; a log with
// a gap is an error, never a short view.
func TestCacheLoad(t *testing.T) {
	key := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	c := &sqlrecord.Cache{MaxSessions: 10, MaxBytes: 1 << 20}
	f := &fakeSession{created: 1}
	f.append("e1")
	f.append("e2")
	ids := func(v eventlog.View) []string {
		var out []string
		for _, e := range v.Events {
			out = append(out, e.ID)
		}
		return out
	}

	v, err := c.Load(t.Context(), key, eventlog.LoadOptions{}, f.read)
	require.NoError(t, err)
	assert.Equal(t, []string{"e1", "e2"}, ids(v))
	assert.Equal(t, uint64(2), v.Version)
	f.append("e3")
	v, err = c.Load(t.Context(), key, eventlog.LoadOptions{}, f.read)
	require.NoError(t, err)
	assert.Equal(t, []string{"e1", "e2", "e3"}, ids(v))
	assert.Equal(t, [][2]uint64{{0, 0}, {1, 2}}, f.calls, "the second read asks only for the events after the two held")

	one := uint64(1)
	v, err = c.Load(t.Context(), key, eventlog.LoadOptions{AsOf: &one}, f.read)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), v.Version, "the view as it stood after version 1")

	v, err = c.Load(t.Context(), key, eventlog.LoadOptions{NoEvents: true}, f.read)
	require.NoError(t, err)
	assert.Empty(t, v.Events)
	assert.Equal(t, [2]uint64{0, 0}, f.calls[len(f.calls)-1], "NoEvents does not use the cache")

	f.created, f.events = 7, nil // deleted and created again
	f.append("n1")
	v, err = c.Load(t.Context(), key, eventlog.LoadOptions{}, f.read)
	require.NoError(t, err)
	assert.Equal(t, []string{"n1"}, ids(v), "nothing of the old incarnation is kept")
	assert.Equal(t, eventlog.Position(7), v.Created)

	gap := func(eventlog.Position, uint64) (sqlrecord.Loaded, error) {
		return sqlrecord.Loaded{Found: true, Created: 8, Version: 2, Updated: sqlrecord.SortableTime(time.Unix(1, 0)),
			Events: []*eventlog.Record{{Kind: eventlog.KindEventAppended, Seq: 2, Event: &eventlog.Event{ID: "x"}}}, Sizes: []int{1}}, nil
	}
	_, err = c.Load(t.Context(), key, eventlog.LoadOptions{}, gap)
	require.ErrorContains(t, err, "gap")

	f.gone = true
	_, err = c.Load(t.Context(), key, eventlog.LoadOptions{}, f.read)
	require.ErrorIs(t, err, eventlog.ErrNotFound)
	f.gone, f.created, f.events = false, 9, nil
	f.append("m1")
	_, err = c.Load(t.Context(), key, eventlog.LoadOptions{}, f.read)
	require.NoError(t, err)
	assert.Equal(t, [2]uint64{0, 0}, f.calls[len(f.calls)-1], "a session gone left the cache")
}
