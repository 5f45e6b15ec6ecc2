package sessionmap

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestMap(t *testing.T) {
	t.Run("the zero value is empty", func(t *testing.T) {
		var m Map[*int]
		_, ok := m.Get("u", "s")
		require.False(t, ok)
		require.Empty(t, m.Values())
		require.False(t, m.CompareAndDelete("u", "s", nil))
	})
	t.Run("user and ID together name an entry", func(t *testing.T) {
		var m Map[string]
		m.Put("u", "s", "u/s")
		m.Put("s", "u", "s/u")
		m.Put("u", "t", "u/t")
		m.Put("", "us", "/us")
		for _, k := range [][2]string{{"u", "s"}, {"s", "u"}, {"u", "t"}, {"", "us"}} {
			v, ok := m.Get(k[0], k[1])
			require.True(t, ok)
			require.Equal(t, k[0]+"/"+k[1], v)
		}
		_, ok := m.Get("us", "")
		require.False(t, ok)
		m.Put("u", "s", "again")
		v, _ := m.Get("u", "s")
		require.Equal(t, "again", v, "Put replaces")
		require.ElementsMatch(t, []string{"again", "s/u", "u/t", "/us"}, m.Values())
	})
	t.Run("CompareAndDelete deletes only the value it names", func(t *testing.T) {
		var m Map[string]
		m.Put("u", "s", "new")
		require.False(t, m.CompareAndDelete("u", "s", "old"))
		v, ok := m.Get("u", "s")
		require.True(t, ok)
		require.Equal(t, "new", v)
		require.True(t, m.CompareAndDelete("u", "s", "new"))
		_, ok = m.Get("u", "s")
		require.False(t, ok)
		require.False(t, m.CompareAndDelete("u", "s", "new"), "twice")
	})
	t.Run("concurrent puts, gets and deletes of many keys agree with a plain map", func(t *testing.T) {
		var m Map[int]
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 1000 {
					user, id := fmt.Sprint("u", g), fmt.Sprint(i)
					m.Put(user, id, i)
					if v, ok := m.Get(user, id); !ok || v != i {
						t.Errorf("%s/%s: got %v, %v", user, id, v, ok)
					}
					if i%2 == 1 && !m.CompareAndDelete(user, id, i) {
						t.Errorf("%s/%s: not deleted", user, id)
					}
				}
			}()
		}
		wg.Wait()
		got := m.Values()
		require.Len(t, got, 4*500)
		slices.Sort(got)
		for i, v := range got {
			require.Equal(t, (i/4)*2, v)
		}
	})
	t.Run("a shard fills a cache line", func(t *testing.T) {
		require.EqualValues(t, 64, unsafe.Sizeof(shard[*int]{}))
	})
}
