package projection

import (
	"math/bits"
	"slices"
	"sort"

	"github.com/sessionlog/sessionlog/eventlog"
)

// History keeps every change a fold made to a set of keys, per key in the
// order of the points they were made at (a session's versions, or an
// app's positions), so that the keys as they stood at an earlier point
// cost a binary search each ([History.AsOf]) rather than a fold of every
// record up to there (CONTRACT T1). The fold records into it as it
// applies each write, by the same rules: a session's own keys by version
// ([NewSessionWithHistory], [SessionState.ApplyEventWithHistory]), an
// app's and its users' keys by position ([AppState.History]). A change
// costs 24 bytes: its point and the value, which the record holds anyway.
// The zero value is empty and ready; a History is not safe for
// concurrent use.
type History struct {
	keys map[string]*changes
}

// change is one write of a key: the point it was made at and the value
// as written ([Removed] included).
type change struct {
	at    uint64
	value any
}

// chunkLen is how many changes a full chunk of a key's changes holds: a
// key's changes grow a chunk at a time rather than by copying them all
// into a larger array, which would allocate several times their size
// over a session's life and make appends pay for the garbage.
const (
	chunkShift = 7
	chunkLen   = 1 << chunkShift
)

// changes is one key's changes, in the order of at.
type changes struct {
	// chunks hold the changes: each but the last holds chunkLen of them;
	// the last grows by append (a key with few changes holds a small
	// array) and is followed by a new chunk once full.
	chunks [][]change
	n      int
	// forgotten has a bit per change that Forget dropped (nil while there
	// is none, and shorter than n words when the changes after its end
	// are all live). A lookup steps back over them to the last live
	// change; they are compacted away once they are half of the
	// changes, which makes that amortised O(1) per forgotten change.
	forgotten  []uint64
	nForgotten int
}

// get returns the i-th change.
func (c *changes) get(i int) *change { return &c.chunks[i>>chunkShift][i&(chunkLen-1)] }

// push adds ch after the last change.
func (c *changes) push(ch change) {
	if c.n&(chunkLen-1) == 0 && c.n > 0 {
		c.chunks = append(c.chunks, make([]change, 0, chunkLen))
	} else if c.n == 0 {
		c.chunks = append(c.chunks, nil)
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, ch)
	c.n++
}

// search returns the index of the first change after point at (n if
// there is none).
func (c *changes) search(at uint64) int {
	return sort.Search(c.n, func(i int) bool { return c.get(i).at > at })
}

// all returns the changes in one slice, live and forgotten.
func (c *changes) all() []change {
	out := make([]change, 0, c.n)
	for _, ch := range c.chunks {
		out = append(out, ch...)
	}
	return out
}

// reset makes list the key's changes, none of them forgotten.
func (c *changes) reset(list []change) {
	*c = changes{}
	for _, ch := range list {
		c.push(ch)
	}
}

// Len reports how many changes h holds, to measure it.
func (h *History) Len() int {
	n := 0
	for _, c := range h.keys {
		n += c.n
	}
	return n
}

// record notes that key was set to v (or removed, when v is [Removed]) at
// point at. Points come in order in a store's fold, which makes this an
// append; a change out of order is put in its place, and one at a point
// the key already has replaces it, as a fold of shared state in any order
// would do ([AppState.ApplyShared]).
func (h *History) record(key string, at uint64, v any) {
	c := h.keys[key]
	if c == nil {
		if h.keys == nil {
			h.keys = make(map[string]*changes)
		}
		c = new(changes)
		h.keys[key] = c
	}
	if c.n == 0 || c.get(c.n-1).at < at {
		c.push(change{at, v})
		return
	}
	// Out of order: rare, so rebuilt (which drops the forgotten changes,
	// whose bits would move).
	list := c.live()
	i := sort.Search(len(list), func(i int) bool { return list[i].at >= at })
	if i < len(list) && list[i].at == at {
		list[i].value = v
	} else {
		list = slices.Insert(list, i, change{at, v})
	}
	c.reset(list)
}

// AsOf returns the keys as they stood at point at: each key's value as
// of its last change at or before at, unless that change removed it. The
// values are the history's own: do not modify them.
func (h *History) AsOf(at uint64) map[string]any {
	out := make(map[string]any, len(h.keys))
	h.addAsOf(out, at, false)
	return out
}

// addAsOf adds to out the keys as they stood at point at, deep copies of
// their values when clone is set.
func (h *History) addAsOf(out map[string]any, at uint64, clone bool) {
	if h == nil {
		return
	}
	for k, c := range h.keys {
		if v, ok := c.asOf(at); ok {
			if clone {
				v = eventlog.CloneValue(v)
			}
			out[k] = v
		}
	}
}

// asOf returns the key's value as of its last live change at or before
// at; false if there is none or that change removed the key.
func (c *changes) asOf(at uint64) (any, bool) {
	i := c.search(at) - 1
	if c.nForgotten > 0 {
		i = c.liveAtOrBefore(i)
	}
	if i < 0 {
		return nil, false
	}
	v := c.get(i).value
	if IsRemoved(v) {
		return nil, false
	}
	return v, true
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

// forget drops key's change at point at, if it has one: a lookup then
// finds the change before it, as a fold of a log without that write
// would.
func (h *History) forget(key string, at uint64) {
	c := h.keys[key]
	if c == nil {
		return
	}
	i := sort.Search(c.n, func(i int) bool { return c.get(i).at >= at })
	if i == c.n || c.get(i).at != at || c.isForgotten(i) {
		return
	}
	if w := i >> 6; w >= len(c.forgotten) {
		c.forgotten = append(c.forgotten, make([]uint64, w+1-len(c.forgotten))...)
	}
	c.forgotten[i>>6] |= 1 << (i & 63)
	c.nForgotten++
	if 2*c.nForgotten > c.n {
		if c.reset(c.live()); c.n == 0 {
			delete(h.keys, key)
		}
	}
}

// live returns the changes that are not forgotten, in one slice.
func (c *changes) live() []change {
	if c.nForgotten == 0 {
		return c.all()
	}
	out := make([]change, 0, c.n-c.nForgotten)
	for i := range c.n {
		if !c.isForgotten(i) {
			out = append(out, *c.get(i))
		}
	}
	return out
}

// SharedHistory is the [History] of an app's state and of each of its
// users' states, by position. The zero value is empty and ready.
type SharedHistory struct {
	App   History
	Users map[string]*History
}

// user returns the history of a user's state, made when create is set;
// nil if there is none.
func (h *SharedHistory) user(id string, create bool) *History {
	u := h.Users[id]
	if u == nil && create {
		if h.Users == nil {
			h.Users = map[string]*History{}
		}
		u = new(History)
		h.Users[id] = u
	}
	return u
}

// Len reports how many changes h holds, to measure it.
func (h *SharedHistory) Len() int {
	n := h.App.Len()
	for _, u := range h.Users {
		n += u.Len()
	}
	return n
}

// Forget drops from the history the app: and user: writes of rec, a
// record of a deleted session, that do not survive the deletion: those
// that kept, the record that takes rec's place in the log
// ([eventlog.Retained]; nil when nothing does), does not hold. A lookup
// then gives what a fold of the log without them gives (CONTRACT D3),
// and their memory goes once they are half of a key's changes.
func (h *SharedHistory) Forget(rec, kept *eventlog.Record) {
	var keep map[string]any
	if kept != nil {
		keep = kept.Writes()
	}
	var user *History
	for k := range rec.Writes() {
		in, _ := scopeOf(k)
		if in != inApp && in != inUser {
			continue
		}
		if _, ok := keep[k]; ok {
			continue
		}
		if in == inApp {
			h.App.forget(k, uint64(rec.Position))
			continue
		}
		if user == nil {
			if user = h.user(rec.Key.UserID, false); user == nil {
				continue
			}
		}
		user.forget(k, uint64(rec.Position))
	}
	if user != nil && len(user.keys) == 0 {
		delete(h.Users, rec.Key.UserID)
	}
}

// MergedAsOf returns a session's merged state as it stood then, as
// [AppState.Merged] gives it now: its own keys as of version, from own,
// and the app's and the user's keys as of position pos, from a.History,
// which must be kept. Values are deep copies.
func (a *AppState) MergedAsOf(key eventlog.SessionKey, own *History, version uint64, pos eventlog.Position) map[string]any {
	user := a.History.Users[key.UserID]
	n := 0
	if own != nil {
		n += len(own.keys)
	}
	if user != nil {
		n += len(user.keys)
	}
	out := make(map[string]any, n+len(a.History.App.keys))
	own.addAsOf(out, version, true)
	a.History.App.addAsOf(out, uint64(pos), true)
	user.addAsOf(out, uint64(pos), true)
	return out
}
