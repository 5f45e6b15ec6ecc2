// Runnerturn runs one agent turn through the Go ADK's runner with sessionlog
// as its session service, and prints the session's events as the runner
// appends them. The agent is an ADK LLM agent with one tool; its model is
// scripted (it calls the tool, then answers with the tool's result), so the
// program needs no network and prints the same on every run.
//
// The wiring is one line, adkgo.New(svc), where the runner takes a
// session.Service. A subscriber, started before the turn, follows the
// session through the adapter's Subscribe and prints each event, in the
// ADK's event type, as it is stored. Afterwards the program reads the
// session through the adapter, as the next turn's runner would.
//
//	go run ./examples/runnerturn
package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"maps"
	"os"
	"slices"
	"strings"

	"google.golang.org/adk/v2/agent"
	"google.golang.org/adk/v2/agent/llmagent"
	"google.golang.org/adk/v2/model"
	"google.golang.org/adk/v2/runner"
	"google.golang.org/adk/v2/session"
	"google.golang.org/adk/v2/tool"
	"google.golang.org/adk/v2/tool/functiontool"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/adkgo"
	"github.com/sessionlog/sessionlog/service"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "runnerturn:", err)
		os.Exit(1)
	}
}

const (
	appName = "weather"
	userID  = "ada"
)

// run plays one turn and writes what the subscriber saw, then the session
// as the adapter returns it, to out. It returns once the subscriber's
// goroutine has ended.
func run(ctx context.Context, out io.Writer) error {
	svc, err := service.New(ctx, service.Options{})
	if err != nil {
		return err
	}
	defer svc.Close()
	sessions := adkgo.New(svc) // the one line: sessionlog as the ADK's session.Service

	weatherAgent, err := newAgent()
	if err != nil {
		return err
	}
	r, err := runner.New(runner.Config{AppName: appName, Agent: weatherAgent, SessionService: sessions})
	if err != nil {
		return err
	}
	created, err := sessions.Create(ctx, &session.CreateRequest{
		AppName: appName, UserID: userID, SessionID: "trip-1",
		State: map[string]any{"user:units": "celsius"},
	})
	if err != nil {
		return err
	}
	handle := created.Session.(*adkgo.Session)

	// The subscriber prints each event as it is stored and reports its
	// sequence number (they follow the handle's version with no gaps), so
	// that run knows when it has printed them all.
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	printed := make(chan uint64, 16)
	subDone := make(chan error, 1)
	go func() {
		defer close(printed)
		seq := handle.Version()
		for ev, err := range sessions.Subscribe(subCtx, handle.Key(), seq) {
			if err != nil {
				subDone <- err
				return
			}
			seq++
			fmt.Fprintf(out, "stored #%d %s\n", seq, describe(ev))
			select {
			case printed <- seq:
			case <-subCtx.Done():
			}
		}
		subDone <- nil
	}()

	// The turn. The runner appends every event it yields before yielding
	// it; the subscriber prints them, so the loop only drains the turn.
	msg := genai.NewContentFromText("What's the weather in Oslo?", genai.RoleUser)
	for _, err := range r.Run(ctx, userID, "trip-1", msg, agent.RunConfig{}) {
		if err != nil {
			stop()
			<-subDone
			return err
		}
	}

	got, err := sessions.Get(ctx, &session.GetRequest{AppName: appName, UserID: userID, SessionID: "trip-1"})
	if err != nil {
		stop()
		<-subDone
		return err
	}
	last := got.Session.(*adkgo.Session).Version()
	for seq := range printed {
		if seq == last {
			break
		}
	}
	stop()
	if err := <-subDone; err != nil {
		return err
	}

	fmt.Fprintf(out, "session %s: %d events, state %s\n", got.Session.ID(), got.Session.Events().Len(), describeState(got.Session.State()))
	return nil
}

// newAgent builds the weather agent: the scripted model and a weather tool
// that remembers the last city asked about in user state.
func newAgent() (agent.Agent, error) {
	type args struct {
		City string `json:"city"`
	}
	type result struct {
		Forecast string `json:"forecast"`
	}
	weather, err := functiontool.New(functiontool.Config{Name: "get_weather", Description: "Returns the forecast for a city."},
		func(ctx agent.Context, a args) (result, error) {
			if err := ctx.State().Set("user:last_city", a.City); err != nil {
				return result{}, err
			}
			return result{Forecast: "4°C and clear in " + a.City}, nil
		})
	if err != nil {
		return nil, err
	}
	return llmagent.New(llmagent.Config{
		Name:        "weather_agent",
		Model:       scriptedModel{},
		Instruction: "Answer questions about the weather.",
		Tools:       []tool.Tool{weather},
	})
}

// scriptedModel stands in for an LLM: asked anything, it calls
// get_weather for Oslo; given the tool's response, it reads the forecast
// out.
type scriptedModel struct{}

// Name names the model.
func (scriptedModel) Name() string { return "scripted" }

// GenerateContent answers one request with one complete response.
func (scriptedModel) GenerateContent(_ context.Context, req *model.LLMRequest, _ bool) iter.Seq2[*model.LLMResponse, error] {
	return func(yield func(*model.LLMResponse, error) bool) {
		reply := genai.NewContentFromFunctionCall("get_weather", map[string]any{"city": "Oslo"}, genai.RoleModel)
		if n := len(req.Contents); n > 0 {
			for _, p := range req.Contents[n-1].Parts {
				if p.FunctionResponse != nil {
					reply = genai.NewContentFromText(fmt.Sprint(p.FunctionResponse.Response["forecast"]), genai.RoleModel)
				}
			}
		}
		yield(&model.LLMResponse{Content: reply, TurnComplete: true, ModelVersion: "scripted-1"}, nil)
	}
}

// describe sums an event up in one line: its author, its parts and the
// state keys it sets. IDs and times vary from run to run and are left out.
func describe(ev *session.Event) string {
	var parts []string
	if ev.Content != nil {
		for _, p := range ev.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				parts = append(parts, fmt.Sprintf("call %s(%v)", p.FunctionCall.Name, p.FunctionCall.Args))
			case p.FunctionResponse != nil:
				parts = append(parts, fmt.Sprintf("response %s(%v)", p.FunctionResponse.Name, p.FunctionResponse.Response))
			case p.Text != "":
				parts = append(parts, fmt.Sprintf("%q", p.Text))
			}
		}
	}
	line := ev.Author + ": " + strings.Join(parts, ", ")
	if len(ev.Actions.StateDelta) > 0 {
		keys := slices.Sorted(maps.Keys(ev.Actions.StateDelta))
		line += fmt.Sprintf(" (sets %s)", strings.Join(keys, ", "))
	}
	return line
}

// describeState writes state as sorted key=value pairs.
func describeState(st session.State) string {
	var kv []string
	for k, v := range st.All() {
		kv = append(kv, fmt.Sprintf("%s=%v", k, v))
	}
	slices.Sort(kv)
	return "[" + strings.Join(kv, " ") + "]"
}
