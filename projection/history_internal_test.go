package projection

import (
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// A key's changes find a point from any hint as a binary search over all
// of them does, and step back over forgotten changes to the last live
// one, whatever the chunk and bitmap word boundaries.
func TestChangesFindAndLiveAtOrBefore(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var c changes
		var points []uint64
		at := uint64(0)
		for range r.IntN(3 * chunkLen) {
			at += 1 + uint64(r.IntN(3))
			points = append(points, at)
			c.add(at)
		}
		require.Equal(t, len(points), c.n)
		for range 50 {
			c.hint = r.IntN(c.n + 2)
			p := uint64(r.IntN(int(at) + 3))
			want := sort.Search(len(points), func(i int) bool { return points[i] >= p })
			require.Equal(t, want, c.find(p), "round %d: find %d from hint %d", round, p, c.hint)
		}
		// Forget a random third, then check each index.
		forgotten := map[int]bool{}
		for i := range points {
			if r.IntN(3) == 0 && 2*(len(forgotten)+1) <= len(points) {
				forgotten[i] = true
				c.forget(points[i])
			}
		}
		require.Equal(t, len(forgotten), c.nForgotten)
		for i := -1; i < len(points); i++ {
			want := i
			for want >= 0 && forgotten[want] {
				want--
			}
			require.Equal(t, want, c.liveAtOrBefore(i), "round %d: index %d", round, i)
		}
		var live []uint64
		for i, p := range points {
			if !forgotten[i] {
				live = append(live, p)
			}
		}
		require.True(t, slices.Equal(live, c.live()))
	}
}
