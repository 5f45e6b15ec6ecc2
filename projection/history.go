package projection

import (
	"math/bits"
	"slices"
	"sort"

	"github.com/sessionlog/sessionlog/eventlog"
)

// History keeps, per key, the points at which a fold changed it (a
// session's versions, or an app's positions), in order, so that the keys
// as they stood at an earlier point cost a binary search each
// ([History.AsOf]) rather than a fold of every record up to there
// (CONTRACT T1). The fold records into it as it applies each write, in
// the same pass and by the same rules: a session's own keys by version
// ([NewSessionWithHistory], [SessionState.ApplyEventWithHistory]); an
// app's and its users' keys keep theirs by position on their entries
// ([AppState.KeepHistory]).
//
// A change is only its point, 8 bytes with no pointer in them, so that
// the garbage collector never scans a history: the value is read, when
// asked for, from the record at that point, which the store holds anyway
// ([RecordAt]). The zero value is empty and ready; a History is not safe
// for concurrent use.
type History struct {
	keys map[string]*changes
}

// RecordAt returns the record at a point of a [History]: a session's
// record at a version (its creation at 0), or the record at a position of
// the app's log (after a deletion, the record that took the place of the
// deleted session's record, [eventlog.Retained]).
type RecordAt func(at uint64) *eventlog.Record

// chunkLen is how many changes a full chunk of a key's changes holds: a
// key's changes grow a chunk at a time rather than by copying them all
// into a larger array, which would allocate several times their size
// over a session's life and make appends pay for the garbage.
const (
	chunkShift = 9
	chunkLen   = 1 << chunkShift
)

// changes is one key's changes: the points they were made at, in order.
type changes struct {
	// chunks hold the points: each but the last holds chunkLen of them;
	// the last grows by append (a key with few changes holds a small
	// array) and is followed by a new chunk once full.
	chunks [][]uint64
	n      int
	// forgotten has a bit per change that forget dropped (nil while there
	// is none, and shorter than n bits when the changes after its end are
	// all live). A lookup steps back over them to the last live change;
	// they are compacted away once they are half of the changes, which
	// makes that amortised O(1) per forgotten change.
	forgotten  []uint64
	nForgotten int
	// hint is where the last forget found its change: a deletion forgets
	// a session's changes of a key in order, each a short gallop from the
	// one before.
	hint int
}

// get returns the i-th change's point.
func (c *changes) get(i int) uint64 { return c.chunks[i>>chunkShift][i&(chunkLen-1)] }

// push adds a change at point at after the last one.
func (c *changes) push(at uint64) {
	switch {
	case c.n == 0:
		c.chunks = append(c.chunks[:0], nil)
	case c.n&(chunkLen-1) == 0:
		c.chunks = append(c.chunks, make([]uint64, 0, chunkLen))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, at)
	c.n++
}

// reset makes list the key's changes, none of them forgotten.
func (c *changes) reset(list []uint64) {
	*c = changes{}
	for _, at := range list {
		c.push(at)
	}
}

// record notes that key changed at point at.
func (h *History) record(key string, at uint64) {
	c := h.keys[key]
	if c == nil {
		if h.keys == nil {
			h.keys = make(map[string]*changes)
		}
		c = new(changes)
		h.keys[key] = c
	}
	c.add(at)
}

// add notes a change at point at. Points come in order in a store's fold,
// which makes this an append; a change out of order is put in its place
// (once), as a fold of shared state in any order would do
// ([AppState.ApplyShared]).
func (c *changes) add(at uint64) {
	if c.n == 0 || c.get(c.n-1) < at {
		c.push(at)
		return
	}
	// Out of order: rare, so rebuilt (which drops the forgotten changes,
	// whose bits would move).
	list := c.live()
	if i, found := slices.BinarySearch(list, at); !found {
		c.reset(slices.Insert(list, i, at))
	} else {
		c.reset(list)
	}
}

// AsOf returns the keys as they stood at point at: each key's value in
// the record of its last change at or before at (records finds it),
// unless that change removed the key. The values are the records' own: do
// not modify them.
func (h *History) AsOf(at uint64, records RecordAt) map[string]any {
	out := make(map[string]any, len(h.keys))
	h.addAsOf(out, at, records, false)
	return out
}

// addAsOf adds to out the keys as they stood at point at, deep copies of
// their values when clone is set.
func (h *History) addAsOf(out map[string]any, at uint64, records RecordAt, clone bool) {
	if h == nil {
		return
	}
	for k, c := range h.keys {
		addAsOf(out, k, c, at, records, clone)
	}
}

// addAsOf adds key k to out as it stood at point at, if it was set then.
func addAsOf(out map[string]any, k string, c *changes, at uint64, records RecordAt, clone bool) {
	i := sort.Search(c.n, func(i int) bool { return c.get(i) > at }) - 1
	if c.nForgotten > 0 {
		i = c.liveAtOrBefore(i)
	}
	if i < 0 {
		return
	}
	rec := records(c.get(i))
	if rec == nil {
		return
	}
	v, ok := rec.Writes()[k]
	if !ok || IsRemoved(v) {
		return
	}
	if clone {
		v = eventlog.CloneValue(v)
	}
	out[k] = v
}

// isForgotten reports whether the i-th change was forgotten.
func (c *changes) isForgotten(i int) bool {
	w := i >> 6
	return w < len(c.forgotten) && c.forgotten[w]&(1<<(i&63)) != 0
}

// liveAtOrBefore returns the index of the last change at or before index
// i that is not forgotten, or -1, a word of the bitmap at a time.
func (c *changes) liveAtOrBefore(i int) int {
	for w := i >> 6; i >= 0; w-- {
		if w >= len(c.forgotten) {
			return i // beyond the bitmap, every change is live
		}
		// The live changes of word w at or before i.
		live := ^c.forgotten[w] & (uint64(2)<<(i&63) - 1)
		if live != 0 {
			return w<<6 + 63 - bits.LeadingZeros64(live)
		}
		i = w<<6 - 1
	}
	return -1
}

// find returns the index of the first change at or after point at,
// galloping from hint when the change there is not after at (the answer
// is then at hint or beyond, the points being increasing).
func (c *changes) find(at uint64) int {
	lo, hi := 0, c.n
	if h := c.hint; h < c.n && c.get(h) <= at {
		// Every change before lo is before at; the one at hi, if any,
		// is not.
		lo, hi = h, h+1
		for step := 1; hi < c.n && c.get(hi) < at; step *= 2 {
			lo = hi + 1
			hi = min(hi+step, c.n)
		}
	}
	return lo + sort.Search(hi-lo, func(j int) bool { return c.get(lo+j) >= at })
}

// forget drops the change at point at, if there is one: a lookup then
// finds the change before it, as a fold of a log without that write
// would. The caller compacts ([changes.compact]) once it is done.
func (c *changes) forget(at uint64) {
	i := c.find(at)
	if i == c.n || c.get(i) != at || c.isForgotten(i) {
		return
	}
	c.hint = i + 1
	if w := i >> 6; w >= len(c.forgotten) {
		c.forgotten = append(c.forgotten, make([]uint64, w+1-len(c.forgotten))...)
	}
	c.forgotten[i>>6] |= 1 << (i & 63)
	c.nForgotten++
}

// compact drops the forgotten changes once they are more than half of
// them, so that memory follows the live changes at an amortised O(1) a
// change.
func (c *changes) compact() {
	if 2*c.nForgotten > c.n {
		c.reset(c.live())
	}
}

// live returns the points of the changes that are not forgotten, in one
// slice.
func (c *changes) live() []uint64 {
	out := make([]uint64, 0, c.n-c.nForgotten)
	for i := range c.n {
		if !c.isForgotten(i) {
			out = append(out, c.get(i))
		}
	}
	return out
}

// FreedWrites returns, per app: and user: key, the positions of the
// writes of a deleted session's records that do not survive its deletion,
// in position order: the writes of records[i], in position order, that
// kept[i] does not hold, the record that takes its place in the log
// ([eventlog.Retained]; nil when nothing does). It reads only the
// records, so that a store can work it out before it takes the lock over
// the app's state, and then hand it to [AppState.Forget].
func FreedWrites(records, kept []*eventlog.Record) map[string][]uint64 {
	var freed map[string][]uint64
	for i, rec := range records {
		var keep map[string]any
		if kept[i] != nil {
			keep = kept[i].Writes()
		}
		for k := range rec.Writes() {
			if in, _ := scopeOf(k); in != inApp && in != inUser {
				continue
			}
			if _, ok := keep[k]; ok {
				continue
			}
			if freed == nil {
				freed = map[string][]uint64{}
			}
			freed[k] = append(freed[k], uint64(rec.Position))
		}
	}
	return freed
}

// Forget drops from the app's history ([AppState.KeepHistory]) the
// writes that the deletion of a session of user freed ([FreedWrites]). A
// lookup then gives what a fold of the log without them gives (CONTRACT
// D3), and their memory goes once they are half of a key's changes.
func (a *AppState) Forget(user string, freed map[string][]uint64) {
	for k, positions := range freed {
		var e *Entry
		if in, _ := scopeOf(k); in == inApp {
			e = a.State[k]
		} else {
			e = a.Users[user][k]
		}
		if e == nil || e.changes == nil {
			continue
		}
		for _, p := range positions {
			e.changes.forget(p)
		}
		e.changes.compact()
	}
}

// MergedAsOf returns a session's merged state as it stood then, as
// [AppState.Merged] gives it now: its own keys as of version, from own
// and the session's records (ownRecords), and the app's and the user's
// keys as of position pos, from their histories, which a must keep
// ([AppState.KeepHistory]), and the app's log (logRecords). Values are
// deep copies.
func (a *AppState) MergedAsOf(key eventlog.SessionKey, own *History, version uint64, ownRecords RecordAt, pos eventlog.Position, logRecords RecordAt) map[string]any {
	user := a.Users[key.UserID]
	n := len(a.State) + len(user)
	if own != nil {
		n += len(own.keys)
	}
	out := make(map[string]any, n)
	own.addAsOf(out, version, ownRecords, true)
	for _, s := range []Shared{a.State, user} {
		for k, e := range s {
			if e.changes != nil {
				addAsOf(out, k, e.changes, uint64(pos), logRecords, true)
			}
		}
	}
	return out
}
