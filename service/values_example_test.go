package service_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sessionlog/sessionlog/service"
)

// State values come back as JSON values, the same Go types from every
// store (CONTRACT V1): integers as int, other numbers as float64, other Go
// types as their JSON form.
func Example_values() {
	ctx := context.Background()
	svc := newExampleService()
	key := service.SessionKey{AppName: "shop", UserID: "ada", SessionID: "cart"}
	_, err := svc.Create(ctx, key, map[string]any{
		"count": 3, "big": int64(1)<<60 + 1, "ratio": 3.0,
		"when": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "tags": []string{"a"},
	})
	if err != nil {
		panic(err)
	}
	got, err := svc.Get(ctx, key, service.GetOptions{})
	if err != nil {
		panic(err)
	}
	for _, k := range []string{"count", "big", "ratio", "when", "tags"} {
		fmt.Printf("%s: %T %v\n", k, got.State[k], got.State[k])
	}
	_, err = svc.Create(ctx, service.SessionKey{AppName: "shop", UserID: "ada"}, map[string]any{"n": uint64(math.MaxUint64)})
	fmt.Println(errors.Is(err, service.ErrInvalidArgument))
	// Output:
	// count: int 3
	// big: int 1152921504606846977
	// ratio: float64 3
	// when: string 2026-01-02T03:04:05Z
	// tags: []interface {} [a]
	// true
}
