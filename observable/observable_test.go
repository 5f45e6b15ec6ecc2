package observable_test

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/sessionlog/sessionlog/observable"
)

func TestScratch(t *testing.T) {
	s := observable.SingleOf(0, errors.New("boom"))
	r := s.Rx()
	it, err := r.Get()
	fmt.Println(it, err)
	time.Sleep(100 * time.Millisecond)
	fmt.Println(runtime.NumGoroutine())
	var n int
	for it := range s.Rx().Observe() {
		n++
		fmt.Println("item", it.V, it.E)
	}
	fmt.Println(n)
	v := observable.SingleOf([]string{"a", "b"}, nil)
	it, err = v.Rx().Get()
	fmt.Printf("%#v %v\n", it, err)
}

func TestScratch2(t *testing.T) {
	r := observable.SingleOf(1, nil).Rx()
	fmt.Println(r.Get())
	fmt.Println(r.Get())
}
