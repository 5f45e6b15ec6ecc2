package sqlrecord

import (
	"context"
	"fmt"

	"github.com/sessionlog/sessionlog/eventlog"
)

// Loaded is what a store read of one session returned, in one snapshot.
type Loaded struct {
	Found   bool // whether the session exists; nothing else is set when not
	Created eventlog.Position
	Version uint64
	Updated string // the row's last update time, as SortableTime wrote it
	// Keys and Vals are the session's merged state, each key with its
	// scope's prefix, each value in JSON.
	Keys, Vals [][]byte
	// Events are events of the session in sequence order, at least those
	// after the ones the cache holds of its incarnation; Sizes are the
	// bytes of each one's body.
	Events []*eventlog.Record
	Sizes  []int
	// Creation is the session's creation record, when it was asked for.
	Creation *eventlog.Record
}

// View is the loaded session's view, without events.
func (l Loaded) View(key eventlog.SessionKey) (eventlog.View, error) {
	updated, err := ParseTime(l.Updated)
	if err != nil {
		return eventlog.View{}, fmt.Errorf("session %s: %w", key, err)
	}
	state, err := DecodeState(l.Keys, l.Vals)
	if err != nil {
		return eventlog.View{}, fmt.Errorf("session %s: %w", key, err)
	}
	return eventlog.View{Key: key, Created: l.Created, Version: l.Version, LastUpdateTime: updated, State: state}, nil
}

// Load returns the session at key as opts asks, its events from the
// cache. read reads the session in one snapshot: given the incarnation
// the cache holds of it (0 for none) and how many of its events, it
// returns at least the events after those (all of them for another
// incarnation) and, with opts.AsOf, the creation record. The cache then
// holds every event up to the session's version, and opts selects from
// them there; a session that is gone leaves the cache. With opts.NoEvents
// and no AsOf the cache is neither read nor changed, and read is called
// with (0, 0).
//
// A missing session is eventlog.ErrNotFound; read's errors are returned
// as they are, and so is ctx's when it ends while another reader of the
// session holds it.
func (c *Cache) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions, read func(incarnation eventlog.Position, have uint64) (Loaded, error)) (eventlog.View, error) {
	if opts.NoEvents && opts.AsOf == nil {
		l, err := read(0, 0)
		if err != nil {
			return eventlog.View{}, err
		}
		if !l.Found {
			return eventlog.View{}, eventlog.ErrNotFound
		}
		return l.View(key)
	}
	cs := c.Get(key)
	if err := cs.Lock(ctx); err != nil {
		return eventlog.View{}, err
	}
	defer cs.Unlock()
	l, err := read(cs.Created, uint64(len(cs.Records)))
	if err != nil {
		return eventlog.View{}, err
	}
	if !l.Found {
		c.DropIf(key, cs)
		return eventlog.View{}, eventlog.ErrNotFound
	}
	if l.Created != cs.Created {
		cs.Reset(l.Created) // another incarnation, or the first read
	}
	for i, rec := range l.Events {
		if rec.Seq == uint64(len(cs.Records))+1 {
			cs.Add(rec, l.Sizes[i])
		}
	}
	c.Account(key, cs)
	if uint64(len(cs.Records)) < l.Version {
		return eventlog.View{}, fmt.Errorf("session %s holds %d of its %d events: its log has a gap", key, len(cs.Records), l.Version)
	}
	v, err := l.View(key)
	if err != nil {
		return eventlog.View{}, err
	}
	n := l.Version
	if opts.AsOf != nil {
		if v, err = AsOf(v, l.Creation, cs.Records[:n:n], opts); err != nil {
			return eventlog.View{}, err
		}
	}
	v.Events = opts.Select(cs.Events[:n:n], cs.TimeOrdered)
	return v, nil
}
