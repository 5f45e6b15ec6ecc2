package memstore

import (
	"hash/maphash"
	"math"

	"github.com/sessionlog/sessionlog/eventlog"
)

// idIndex finds a session's events by ID (CONTRACT A7). It is an
// open-addressing table of 8-byte slots, each holding 32 bits of the ID's
// hash beside the event's sequence number, and keeps no copy of the IDs:
// when the hash bits match, the ID is read from the event itself. That
// makes it about half the size of a map from ID to sequence number, and
// the usual lookup of an append, for an ID the session does not hold,
// reads no event at all. The zero value is empty and ready; it is guarded
// by its session's lock.
type idIndex struct {
	slots []uint64 // 0 is empty; otherwise hash<<32 | seq
	n     int
}

// maxIndexedSeq is the highest sequence number a slot holds.
const maxIndexedSeq = math.MaxUint32

// idSeed is set once, when the program starts, and never changed.
var idSeed = maphash.MakeSeed()

// idPlace is where find would put an ID: its slot and its hash.
type idPlace struct {
	slot int
	hash uint32
}

// find looks id up among events (event seq is events[seq-1]). It returns
// the event's sequence number if the index holds it, and otherwise where
// add should put it, which stays good until the index changes. Call
// reserve first.
func (x *idIndex) find(id string, events []*eventlog.Event) (seq uint64, at idPlace, found bool) {
	h := uint32(maphash.String(idSeed, id))
	mask := len(x.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		switch {
		case s == 0:
			return 0, idPlace{i, h}, false
		case uint32(s>>32) == h:
			if seq := s & maxIndexedSeq; events[seq-1].ID == id {
				return seq, idPlace{}, true
			}
		}
	}
}

// reserve makes room for one more ID (the table is at most half full, so
// that probes stay short and always end at an empty slot).
func (x *idIndex) reserve() {
	if (x.n+1)*2 <= len(x.slots) {
		return
	}
	old := x.slots
	x.slots = make([]uint64, max(8, 2*len(old)))
	mask := len(x.slots) - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(uint32(s>>32)) & mask
		for x.slots[i] != 0 {
			i = (i + 1) & mask
		}
		x.slots[i] = s
	}
}

// add puts an ID at sequence number seq where find said it goes. seq must
// be at most maxIndexedSeq.
func (x *idIndex) add(at idPlace, seq uint64) {
	x.slots[at.slot] = uint64(at.hash)<<32 | seq
	x.n++
}
