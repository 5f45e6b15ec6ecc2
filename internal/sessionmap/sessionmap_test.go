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
		_, ok := m.Get(Key{"u", "s"})
		require.False(t, ok)
		require.Empty(t, m.Values())
		require.False(t, m.CompareAndDelete(Key{"u", "s"}, nil))
	})
	t.Run("user and ID together name an entry", func(t *testing.T) {
		var m Map[string]
		m.Put(Key{"u", "s"}, "u/s")
		m.Put(Key{"s", "u"}, "s/u")
		m.Put(Key{"u", "t"}, "u/t")
		m.Put(Key{"", "us"}, "/us")
		for _, k := range []Key{{"u", "s"}, {"s", "u"}, {"u", "t"}, {"", "us"}} {
			v, ok := m.Get(k)
			require.True(t, ok)
			require.Equal(t, k.User+"/"+k.ID, v)
		}
		_, ok := m.Get(Key{"us", ""})
		require.False(t, ok)
		m.Put(Key{"u", "s"}, "again")
		v, _ := m.Get(Key{"u", "s"})
		require.Equal(t, "again", v, "Put replaces")
		require.ElementsMatch(t, []string{"again", "s/u", "u/t", "/us"}, m.Values())
	})
	t.Run("CompareAndDelete deletes only the value it names", func(t *testing.T) {
		var m Map[string]
		k := Key{"u", "s"}
		m.Put(k, "new")
		require.False(t, m.CompareAndDelete(k, "old"))
		v, ok := m.Get(k)
		require.True(t, ok)
		require.Equal(t, "new", v)
		require.True(t, m.CompareAndDelete(k, "new"))
		_, ok = m.Get(k)
		require.False(t, ok)
		require.False(t, m.CompareAndDelete(k, "new"), "twice")
	})
	t.Run("concurrent puts, gets and deletes of many keys agree with a plain map", func(t *testing.T) {
		var m Map[int]
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 1000 {
					k := Key{fmt.Sprint("u", g), fmt.Sprint(i)}
					m.Put(k, i)
					if v, ok := m.Get(k); !ok || v != i {
						t.Errorf("%v: got %v, %v", k, v, ok)
					}
					if i%2 == 1 && !m.CompareAndDelete(k, i) {
						t.Errorf("%v: not deleted", k)
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
