package servicetest

import (
	"fmt"
	"testing"

	"github.com/sessionlog/sessionlog/service"
)

// BenchmarkFork measures [service.Service.Fork] of a 1,000-event session
// into a new session, on svc's store (CONTRACT T3): each iteration copies
// the whole session, its creation and its 1,000 events, in one atomic
// batch. The events carry a short text and a two-key state delta.
func BenchmarkFork(b *testing.B, svc *service.Service) {
	ctx := b.Context()
	src := service.SessionKey{AppName: "bench", UserID: "u", SessionID: "src"}
	sess, err := svc.Create(ctx, src, map[string]any{"topic": "forks", "app:n": 0})
	if err != nil {
		b.Fatal(err)
	}
	const events = 1_000
	for i := range events {
		ev := &service.Event{InvocationID: fmt.Sprintf("inv-%d", i/2), Author: "agent", Content: text(fmt.Sprintf("message %d", i)),
			Actions: service.EventActions{StateDelta: map[string]any{"turn": i, "draft": fmt.Sprintf("draft %d", i)}}}
		if _, err := svc.AppendEvent(ctx, sess, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		fork, err := svc.Fork(ctx, src, events, service.SessionKey{SessionID: fmt.Sprintf("fork-%d", i)})
		if err != nil {
			b.Fatal(err)
		}
		if len(fork.Events) != events {
			b.Fatalf("the fork holds %d events, want %d", len(fork.Events), events)
		}
	}
}
