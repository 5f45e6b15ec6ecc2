package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// r2Positions checks the exact half of CONTRACT R2: an export imported into
// an empty store reproduces every record, positions included, and an
// import into a store that holds records is refused.
func (s suite) r2Positions(t *testing.T) {
	t.Run("export then import into an empty store reproduces every record exactly", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		apps := populate(h)
		want := h.exportJSON()
		requireFullLog(t, h.export())

		imported := h.fresh()
		require.NoError(t, imported.svc.Import(imported.ctx, h.svc.Export(h.ctx)))
		require.Equal(t, want, imported.exportJSON(), "the imported store's log")
		requireSameSessions(t, h, imported, apps)
		imported.verify()

		// Through JSON, as a migration between processes carries it.
		decoded := imported.fresh()
		require.NoError(t, decoded.svc.Import(decoded.ctx, decodeLines(t, want)))
		require.Equal(t, want, decoded.exportJSON(), "the log imported from JSON")
		decoded.verify()

		// Both go on at the same positions.
		for _, x := range []*harness{h, imported, decoded} {
			x.appendEvent(x.get(key("app-one", "alice", "a1")), &service.Event{ID: "after-import", Timestamp: epoch.Add(time.Hour)})
		}
		require.Equal(t, h.exportJSON(), imported.exportJSON(), "the log after one more append")
		require.Equal(t, h.exportJSON(), decoded.exportJSON(), "the log after one more append")
	})

	t.Run("an app follower's saved position is valid in the imported store", func(t *testing.T) {
		// CONTRACT R2, S2
		t.Parallel()
		h := s.open(t)
		populate(h)
		recs := h.export()
		// A position after the app's last deletion (followers behind it get
		// ErrCompacted in either store) with records of the app after it.
		var deletion service.Position
		for _, r := range recs {
			if r.Kind == eventlog.KindSessionDeleted && r.Key.AppName == "app-one" {
				deletion = r.Position
			}
		}
		require.NotZero(t, deletion, "populate deletes a session of app-one")
		saved := deletion
		imported := h.fresh()
		require.NoError(t, imported.svc.Import(imported.ctx, h.svc.Export(h.ctx)))
		for _, x := range []*harness{h, imported} {
			// The same event in both (each service has its own clock and IDs).
			x.appendEvent(x.get(key("app-one", "bob", "b1")), &service.Event{ID: "after-migration", Timestamp: epoch.Add(time.Hour),
				Actions: service.EventActions{StateDelta: map[string]any{"after": "migration"}}})
		}
		want := followJSON(t, h, "app-one", saved)
		require.NotEmpty(t, want)
		require.Equal(t, want, followJSON(t, imported, "app-one", saved), "records after the saved position")

		// Behind the deletion both stores tell the follower it missed freed
		// records, rather than skip them.
		for _, x := range []*harness{h, imported} {
			err := x.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return x.svc.SubscribeApp(ctx, "app-one", 0)
			})
			require.ErrorIs(t, err, service.ErrCompacted)
		}
	})

	t.Run("an import into a store that holds records is refused and changes nothing", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		src := s.open(t)
		populate(src)
		h := s.open(t)
		h.appendDelta(h.create(key("app", "user", "s"), map[string]any{"app:k": "v"}), map[string]any{"n": 1.0})
		before := h.exportJSON()
		err := h.svc.Import(h.ctx, src.svc.Export(src.ctx))
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		require.ErrorContains(t, err, "the store already holds records (the first at position 1); import into an empty store")
		require.Equal(t, before, h.exportJSON(), "a refused import changed the log")
		h.verify()
	})

	t.Run("records out of position order are refused", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		src := s.open(t)
		populate(src)
		recs := src.export()
		for _, c := range []struct {
			name string
			swap func([]*service.Record) []*service.Record
		}{
			{"two records swapped", func(r []*service.Record) []*service.Record {
				out := append([]*service.Record(nil), r...)
				out[2], out[3] = out[3], out[2]
				return out
			}},
			{"a position repeated", func(r []*service.Record) []*service.Record {
				dup := *r[3]
				dup.Position = r[2].Position
				return append(append([]*service.Record(nil), r[:3]...), &dup)
			}},
		} {
			h := s.open(t)
			in := c.swap(recs)
			err := h.svc.Import(h.ctx, each(in))
			require.ErrorIs(t, err, service.ErrInvalidArgument, c.name)
			require.ErrorContains(t, err, "record 4", c.name)
			require.ErrorContains(t, err, "position "+itoa(in[3].Position)+" is not after", c.name)
			require.ErrorContains(t, err, itoa(in[2].Position), c.name)
			got := h.export()
			require.Len(t, got, 3, "%s: the records before the bad one stay", c.name)
			h.verify()
		}
	})

	t.Run("a record without a position takes the next one", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		in := []*service.Record{
			{Position: 7, Kind: eventlog.KindSessionCreated, Key: k, Time: epoch, State: map[string]any{"app:a": "x"}},
			{Kind: eventlog.KindEventAppended, Key: k, Seq: 1, Time: epoch, Event: &service.Event{ID: "e1", Timestamp: epoch}},
			{Position: 20, Kind: eventlog.KindEventAppended, Key: k, Seq: 2, Time: epoch, Event: &service.Event{ID: "e2", Timestamp: epoch}},
			{Kind: eventlog.KindSessionDeleted, Key: key("app", "user", "missing"), Time: epoch}, // nothing to delete
		}
		require.NoError(t, h.svc.Import(h.ctx, each(in)))
		got := h.export()
		require.Len(t, got, 3)
		require.Equal(t, []service.Position{7, 8, 20}, []service.Position{got[0].Position, got[1].Position, got[2].Position})
		require.Equal(t, uint64(2), h.get(k).Version)
		h.verify()
	})

	t.Run("a deletion whose session the export no longer holds is kept", func(t *testing.T) {
		// CONTRACT R2, D3
		t.Parallel()
		h := s.open(t)
		keep := h.create(key("app", "u", "keep"), nil)
		in := []*service.Record{
			{Position: 3, Kind: eventlog.KindStateRetained, Key: key("app", "u", "gone"), Time: epoch, State: map[string]any{"app:kept": "yes"}},
			{Position: 5, Kind: eventlog.KindSessionDeleted, Key: key("app", "u", "gone"), Time: epoch.Add(time.Second)},
		}
		err := h.svc.Import(h.ctx, each(in))
		require.ErrorIs(t, err, service.ErrInvalidArgument, "the store holds a session")
		require.ErrorContains(t, err, "already holds records")
		_, err = h.svc.Get(h.ctx, keep.Key(), service.GetOptions{})
		require.NoError(t, err)

		into := h.fresh()
		require.NoError(t, into.svc.Import(into.ctx, each(in)))
		got := into.export()
		require.Len(t, got, 2)
		require.Equal(t, eventlog.KindSessionDeleted, got[1].Kind)
		require.Equal(t, service.Position(5), got[1].Position)
		require.True(t, got[1].Time.Equal(epoch.Add(time.Second)))
		into.verify()
		// Which positions the deletion freed is not known: an app or user
		// follower behind the one before it is told so.
		for _, mk := range []func(context.Context) iter.Seq2[*service.Record, error]{
			func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return into.svc.SubscribeApp(ctx, "app", 0)
			},
			func(ctx context.Context) iter.Seq2[*service.Record, error] {
				return into.svc.SubscribeUser(ctx, "app", "u", 0)
			},
		} {
			err := into.firstError(mk)
			var compacted *service.CompactedError
			require.True(t, errors.As(err, &compacted), "got %v", err)
			require.Equal(t, service.Position(4), compacted.Served)
		}
		// The next append follows the deletion.
		sess := into.create(key("app", "u", "new"), nil)
		require.Equal(t, map[string]any{"app:kept": "yes"}, sess.State)
		require.Equal(t, service.Position(6), into.export()[2].Position)
	})

	t.Run("a record at a position the store has passed is refused at the seam", func(t *testing.T) {
		// CONTRACT R2
		t.Parallel()
		h := s.open(t)
		h.create(key("app", "user", "a"), nil)
		h.create(key("app", "user", "b"), nil)
		before := h.exportJSON()
		for _, pos := range []service.Position{1, 2} {
			_, err := h.store.Append(h.ctx, &service.Record{Position: pos, Kind: eventlog.KindSessionCreated, Key: key("app", "user", "c"), Time: epoch})
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			require.ErrorContains(t, err, "position "+itoa(pos)+" is not after the store's last position 2")
		}
		require.Equal(t, before, h.exportJSON())
		res, err := h.store.Append(h.ctx, &service.Record{Position: 10, Kind: eventlog.KindSessionCreated, Key: key("app", "user", "c"), Time: epoch})
		require.NoError(t, err)
		require.NoError(t, res.Wait())
		require.Equal(t, service.Position(10), res.Record.Position)
		h.create(key("app", "user", "d"), nil)
		got := h.export()
		require.Equal(t, service.Position(11), got[len(got)-1].Position, "appends go on after the placed record")
		h.verify()
	})
}

// requireFullLog checks that a log holds what an exact copy must carry:
// every kind of record, and a gap in its positions where a deletion freed
// records.
func requireFullLog(t *testing.T, recs []*service.Record) {
	t.Helper()
	kinds := map[eventlog.Kind]bool{}
	gap := false
	for i, r := range recs {
		kinds[r.Kind] = true
		if i > 0 && r.Position != recs[i-1].Position+1 {
			gap = true
		}
	}
	for _, k := range []eventlog.Kind{eventlog.KindSessionCreated, eventlog.KindEventAppended, eventlog.KindSessionDeleted, eventlog.KindStateRetained} {
		require.True(t, kinds[k], "the log holds no %s record", k)
	}
	require.True(t, gap, "the log's positions have no gap")
}

// followJSON follows app from after until it has read every record the
// store holds there, and returns them as JSON lines.
func followJSON(t *testing.T, h *harness, app string, after service.Position) []string {
	t.Helper()
	var want int
	for _, r := range h.export() {
		if r.Key.AppName == app && r.Position > after {
			want++
		}
	}
	sub := h.follow(func(ctx context.Context) iter.Seq2[*service.Record, error] {
		return h.svc.SubscribeApp(ctx, app, after)
	})
	defer sub.stop()
	var out []string
	for _, r := range sub.records(want) {
		out = append(out, string(mustJSON(t, r)))
	}
	return out
}

// each iterates over records, as Import takes them.
func each(records []*service.Record) iter.Seq2[*service.Record, error] {
	return func(yield func(*service.Record, error) bool) {
		for _, r := range records {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// decodeLines iterates over the records that JSON lines hold.
func decodeLines(t *testing.T, lines []string) iter.Seq2[*service.Record, error] {
	t.Helper()
	return func(yield func(*service.Record, error) bool) {
		for _, line := range lines {
			r := new(service.Record)
			err := json.Unmarshal([]byte(line), r)
			if !yield(r, err) {
				return
			}
		}
	}
}

func itoa(p service.Position) string { return strconv.FormatUint(uint64(p), 10) }

func mustJSON(t *testing.T, r *service.Record) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	require.NoError(t, err)
	return b
}
