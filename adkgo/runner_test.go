package adkgo_test

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// Name names the model.
func (echoModel) Name() string { return "echo" }

// GenerateContent replies "ok".
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
				r := newRunner(b, sessions, echoModel{})
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

// hookModel calls before, then answers like echoModel: a model call during
// which something else happens to the session.
type hookModel struct{ before func() }

// Name names the model.
func (hookModel) Name() string { return "hook" }

// GenerateContent calls the hook, then replies "ok".
func (m hookModel) GenerateContent(ctx context.Context, req *model.LLMRequest, stream bool) iter.Seq2[*model.LLMResponse, error] {
	m.before()
	return echoModel{}.GenerateContent(ctx, req, stream)
}

// newRunner returns a runner of a one-agent app over sessions.
func newRunner(t testing.TB, sessions session.Service, m model.LLM) *runner.Runner {
	t.Helper()
	a, err := llmagent.New(llmagent.Config{Name: "bot", Model: m})
	require.NoError(t, err)
	r, err := runner.New(runner.Config{AppName: "app", Agent: a, SessionService: sessions})
	require.NoError(t, err)
	return r
}

// turn runs one turn and returns the events it yielded and its first error.
func turn(r *runner.Runner, text string) (events []*session.Event, err error) {
	for ev, e := range r.Run(context.Background(), "u", "s", genai.NewContentFromText(text, genai.RoleUser), agent.RunConfig{}) {
		if e != nil {
			return events, e
		}
		events = append(events, ev)
	}
	return events, nil
}

// CONTRACT A6: two turns of one session at once, through the Go ADK's
// runner: the second turn runs to the end while the first waits on its
// model, so the first turn's handle is behind when it appends its reply.
func TestConcurrentTurnsOfOneSession(t *testing.T) {
	for _, lww := range []bool{false, true} {
		name := "the turn whose handle is behind fails with ErrStaleSession and stores nothing more"
		if lww {
			name = "with LastWriterWins both turns store every event"
		}
		t.Run(name, func(t *testing.T) {
			svc, err := service.New(t.Context(), service.Options{LastWriterWins: lww})
			require.NoError(t, err)
			t.Cleanup(func() { _ = svc.Close() })
			sessions := adkgo.New(svc)
			_, err = sessions.Create(t.Context(), &session.CreateRequest{AppName: "app", UserID: "u", SessionID: "s"})
			require.NoError(t, err)

			second := newRunner(t, sessions, echoModel{})
			var secondErr error
			first := newRunner(t, sessions, hookModel{before: func() { _, secondErr = turn(second, "second") }})
			_, firstErr := turn(first, "first")
			require.NoError(t, secondErr)

			got, err := sessions.Get(t.Context(), &session.GetRequest{AppName: "app", UserID: "u", SessionID: "s"})
			require.NoError(t, err)
			var texts []string
			for ev := range got.Session.Events().All() {
				texts = append(texts, ev.Author+": "+ev.Content.Parts[0].Text)
			}
			if lww {
				require.NoError(t, firstErr)
				assert.Equal(t, []string{"user: first", "user: second", "bot: ok", "bot: ok"}, texts)
				return
			}
			require.ErrorIs(t, firstErr, service.ErrStaleSession)
			assert.Equal(t, []string{"user: first", "user: second", "bot: ok"}, texts)
		})
	}
}

// CONTRACT B1: the log may hold an event with a nil content part (the
// service and JSON from any runtime accept one), and the Go ADK reads every
// part without a nil check. The adapter hands the ADK the event without
// its nil parts, so such a session does not crash the next turn.
func TestRunnerSurvivesAStoredNilPart(t *testing.T) {
	sessions := newService(t)
	created := create(t, sessions, "u", "s", nil)
	own := created.(*adkgo.Session)
	stored := &service.Event{ID: "odd", Author: "user", Content: &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{nil, {Text: "hi"}, nil}}}
	_, err := sessions.Sessionlog().AppendEvent(t.Context(), &service.Session{AppName: "app", UserID: "u", ID: "s", Version: own.Version()}, stored)
	require.NoError(t, err)

	var events []*session.Event
	require.NotPanics(t, func() { events, err = turn(newRunner(t, sessions, echoModel{}), "next") })
	require.NoError(t, err)
	require.NotEmpty(t, events)

	got := get(t, sessions, "u", "s").Events().At(0)
	assert.Equal(t, []*genai.Part{{Text: "hi"}}, got.Content.Parts, "the nil parts are left out")
	log, err := sessions.Sessionlog().ListEvents(t.Context(), own.Key(), service.ListEventsOptions{})
	require.NoError(t, err)
	assert.Len(t, log.Events[0].Content.Parts, 3, "the log keeps the event as it was stored")
}
