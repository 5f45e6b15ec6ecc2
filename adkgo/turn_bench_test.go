package adkgo_test

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"testing"

	"google.golang.org/adk/v2/agent"
	"google.golang.org/adk/v2/agent/llmagent"
	"google.golang.org/adk/v2/model"
	"google.golang.org/adk/v2/runner"
	"google.golang.org/adk/v2/session"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/adkgo"
	"github.com/sessionlog/sessionlog/service"
)

// echoModel answers every request with one text reply and no network.
type echoModel struct{}

func (echoModel) Name() string { return "echo" }

func (echoModel) GenerateContent(context.Context, *model.LLMRequest, bool) iter.Seq2[*model.LLMResponse, error] {
	return func(yield func(*model.LLMResponse, error) bool) {
		yield(&model.LLMResponse{Content: genai.NewContentFromText("ok", genai.RoleModel), TurnComplete: true}, nil)
	}
}

// BenchmarkRunnerTurn runs whole agent turns through the Go ADK's runner (a
// user message, one model call, two appends) on a session that already
// holds history events, with the ADK's in-memory service and with the
// adapter: what a turn costs, the prompt built from the whole history
// included, apart from the model itself.
func BenchmarkRunnerTurn(b *testing.B) {
	for _, history := range []int{100, 1000} {
		for _, backend := range []string{"adk-inmemory", "adkgo"} {
			b.Run(fmt.Sprintf("history-%d/%s", history, backend), func(b *testing.B) {
				ctx := context.Background()
				var sessions session.Service
				if backend == "adkgo" {
					svc := new(service.Service)
					defer svc.Close()
					sessions = adkgo.New(svc)
				} else {
					sessions = session.InMemoryService()
				}
				created, err := sessions.Create(ctx, &session.CreateRequest{AppName: "app", UserID: "u", SessionID: "s"})
				if err != nil {
					b.Fatal(err)
				}
				for i := range history {
					ev := benchEvent(i)
					ev.Author = []string{"user", "bot"}[i%2]
					if err := sessions.AppendEvent(ctx, created.Session, ev); err != nil {
						b.Fatal(err)
					}
				}
				a, err := llmagent.New(llmagent.Config{Name: "bot", Model: echoModel{}})
				if err != nil {
					b.Fatal(err)
				}
				r, err := runner.New(runner.Config{AppName: "app", Agent: a, SessionService: sessions})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					msg := genai.NewContentFromText("hi "+strconv.Itoa(i), genai.RoleUser)
					for _, err := range r.Run(ctx, "u", "s", msg, agent.RunConfig{}) {
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
