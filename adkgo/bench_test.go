package adkgo_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"google.golang.org/adk/v2/model"
	"google.golang.org/adk/v2/session"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/adkgo"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// sessionLength is how many events a benchmark session holds: the append
// benchmarks move to a fresh session at this length, deleting the full one
// with the timer stopped, so the heap stays bounded.
const sessionLength = 10_000

var benchBase = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchEvent is the event of iteration i in the ADK's type: an agent reply
// with one text part and a three-key delta (session, user and app scope).
func benchEvent(i int) *session.Event {
	return &session.Event{
		ID:        "e" + strconv.Itoa(i),
		Timestamp: benchBase.Add(time.Duration(i) * time.Millisecond),
		Author:    "agent",
		LLMResponse: model.LLMResponse{
			Content: &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{{Text: "It is sunny."}}},
		},
		Actions: session.EventActions{StateDelta: map[string]any{"k": i, "user:u": i, "app:a": i}},
	}
}

// benchEventlog is the same event in sessionlog's type, built as directly.
func benchEventlog(i int) *eventlog.Event {
	return &eventlog.Event{
		ID:        "e" + strconv.Itoa(i),
		Timestamp: benchBase.Add(time.Duration(i) * time.Millisecond),
		Author:    "agent",
		Content:   &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{{Text: "It is sunny."}}},
		Actions:   eventlog.EventActions{StateDelta: map[string]any{"k": i, "user:u": i, "app:a": i}},
	}
}

// BenchmarkAppend compares an append through the adapter with the same
// append through the service it wraps: the difference is the adapter
// (conversion, the handle's lock and its converted event).
func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	b.Run("service", func(b *testing.B) {
		svc := new(service.Service)
		defer svc.Close()
		var sess *service.Session
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if i%sessionLength == 0 {
				b.StopTimer()
				sess = freshSession(b, svc, i)
				b.StartTimer()
			}
			if _, err := svc.AppendEvent(ctx, sess, benchEventlog(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("adkgo", func(b *testing.B) {
		svc := new(service.Service)
		defer svc.Close()
		a := adkgo.New(svc)
		var sess session.Session
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if i%sessionLength == 0 {
				b.StopTimer()
				freshSession(b, svc, i)
				got, err := a.Get(ctx, &session.GetRequest{AppName: "app", UserID: "u", SessionID: strconv.Itoa(i)})
				if err != nil {
					b.Fatal(err)
				}
				sess = got.Session
				b.StartTimer()
			}
			if err := a.AppendEvent(ctx, sess, benchEvent(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// freshSession deletes the session the last sessionLength appends filled
// and creates the next one, named after iteration i.
func freshSession(b *testing.B, svc *service.Service, i int) *service.Session {
	ctx := context.Background()
	if i > 0 {
		old := service.SessionKey{AppName: "app", UserID: "u", SessionID: strconv.Itoa(i - sessionLength)}
		if err := svc.Delete(ctx, old); err != nil {
			b.Fatal(err)
		}
	}
	sess, err := svc.Create(ctx, service.SessionKey{AppName: "app", UserID: "u", SessionID: strconv.Itoa(i)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return sess
}

// BenchmarkGet reads a 10,000-event session through the service, through
// the adapter, which converts every event it returns, and through the Go
// ADK's in-memory service, which copies its list of event pointers.
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	svc := new(service.Service)
	defer svc.Close()
	sess := freshSession(b, svc, 0)
	inMemory := session.InMemoryService()
	created, err := inMemory.Create(ctx, &session.CreateRequest{AppName: "app", UserID: "u", SessionID: "0"})
	if err != nil {
		b.Fatal(err)
	}
	for i := range sessionLength {
		if _, err := svc.AppendEvent(ctx, sess, benchEventlog(i)); err != nil {
			b.Fatal(err)
		}
		if err := inMemory.AppendEvent(ctx, created.Session, benchEvent(i)); err != nil {
			b.Fatal(err)
		}
	}
	adapter := adkgo.New(svc)
	for _, n := range []int{0, 10} {
		name := "all-10000"
		if n > 0 {
			name = "last-10"
		}
		b.Run(name+"/service", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.Get(ctx, sess.Key(), service.GetOptions{NumRecentEvents: n}); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, backend := range []struct {
			name string
			s    session.Service
		}{{"adkgo", adapter}, {"adk-inmemory", inMemory}} {
			b.Run(name+"/"+backend.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := backend.s.Get(ctx, &session.GetRequest{AppName: "app", UserID: "u", SessionID: "0", NumRecentEvents: n}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
