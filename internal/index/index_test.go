package index

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIndex(t *testing.T) {
	t.Run("the zero value is empty", func(t *testing.T) {
		var x Index[string, int]
		_, ok := x.Get("a")
		require.False(t, ok)
		require.Empty(t, x.Snapshot())
	})
	t.Run("concurrent GetOrCreate calls create each key once and agree on its value", func(t *testing.T) {
		var x Index[int, *int]
		var created atomic.Int32
		var wg sync.WaitGroup
		got := make([][]*int, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range 50 {
					v, _ := x.GetOrCreate(k, func() *int { created.Add(1); v := k; return &v })
					got[g] = append(got[g], v)
				}
			}()
		}
		wg.Wait()
		require.EqualValues(t, 50, created.Load())
		for g := range 8 {
			for k := range 50 {
				require.Same(t, got[0][k], got[g][k])
				require.Equal(t, k, *got[g][k])
			}
		}
		require.Len(t, x.Snapshot(), 50)
	})
	t.Run("a snapshot does not change when keys are added later", func(t *testing.T) {
		var x Index[string, int]
		_, created := x.GetOrCreate("a", func() int { return 1 })
		require.True(t, created)
		_, created = x.GetOrCreate("a", func() int { return 9 })
		require.False(t, created, "a key is created once")
		snap := x.Snapshot()
		x.GetOrCreate("b", func() int { return 2 })
		require.Len(t, snap, 1)
		v, ok := x.Get("b")
		require.True(t, ok)
		require.Equal(t, 2, v)
	})
}
