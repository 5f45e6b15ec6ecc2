package adkgo_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"iter"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/adk/v2/agent/llmagent"
	"google.golang.org/adk/v2/model"
	"google.golang.org/adk/v2/runner"
	"google.golang.org/adk/v2/session"
	"google.golang.org/adk/v2/session/sessiontestsuite"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/adkgo"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/service"
)

// backend opens a service over one kind of store. dir is where a durable
// store keeps its files: opening it again after a close reads what was
// stored (the in-memory store ignores it and starts empty).
type backend struct {
	name    string
	durable bool
	// sharedNow says the store serves app: and user: state as it is now
	// in a read of a past version (PostgreSQL), not as it was then.
	sharedNow bool
	open      func(t *testing.T, dir string) *service.Service
}

// backends are the stores the time travel tests run on: the in-memory
// store and the durable file store.
var backends = []backend{
	{name: "memory", open: func(t *testing.T, _ string) *service.Service {
		svc, err := service.New(t.Context(), service.Options{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = svc.Close() })
		return svc
	}},
	{name: "file", durable: true, open: func(t *testing.T, dir string) *service.Service {
		store, err := filestore.Open(t.Context(), dir, filestore.Options{})
		require.NoError(t, err)
		svc, err := service.New(t.Context(), service.Options{Store: store})
		require.NoError(t, err)
		t.Cleanup(func() { _ = svc.Close() })
		return svc
	}},
	{name: "postgres", durable: true, sharedNow: true, open: openPostgres},
}

// openPostgres opens a service over a PostgreSQL store in a schema named
// after dir, so that opening the same dir again reopens the same store; the
// schema is dropped when the test ends. Without SESSIONLOG_POSTGRES_DSN
// the test is skipped.
func openPostgres(t *testing.T, dir string) *service.Service {
	dsn := os.Getenv("SESSIONLOG_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("SESSIONLOG_POSTGRES_DSN is not set: skipping the PostgreSQL backend " +
			"(.ci/run sets it; locally: SESSIONLOG_POSTGRES_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	sum := sha256.Sum256([]byte(dir))
	schema := "adkgo_test_" + hex.EncodeToString(sum[:6])
	if !strings.Contains(dsn, "pool_max_conns") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + "pool_max_conns=3"
	}
	store, err := pgstore.Open(t.Context(), dsn, pgstore.Options{Schema: schema})
	require.NoError(t, err)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), os.Getenv("SESSIONLOG_POSTGRES_DSN"))
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			_ = conn.Close(context.Background())
		}
	})
	svc, err := service.New(t.Context(), service.Options{Store: store})
	require.NoError(t, err)
	t.Cleanup(func() { _ = svc.Close() })
	return svc
}

// forEachBackend runs test once per backend, each with an adapter over a
// fresh service.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend, dir string, s *adkgo.Service)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dir := t.TempDir()
			test(t, b, dir, adkgo.New(b.open(t, dir)))
		})
	}
}

// appendTo appends an event of invocation inv with a state delta through a
// fresh handle of session id of user u, and returns the event.
func appendTo(t *testing.T, s *adkgo.Service, user, id, evID, inv string, delta map[string]any) *session.Event {
	t.Helper()
	ev := &session.Event{ID: evID, InvocationID: inv, Author: "bot", Actions: session.EventActions{StateDelta: delta}}
	require.NoError(t, s.AppendEvent(t.Context(), get(t, s, user, id), ev))
	return ev
}

func eventIDs(s session.Session) []string {
	ids := []string{}
	for ev := range s.Events().All() {
		ids = append(ids, ev.ID)
	}
	return ids
}

// The Go ADK's conformance suite holds with Options.SkipRewound too: on a
// session without rewinds, Get is unchanged. CONTRACT G1 G2 G3.
func TestADKConformanceSuiteSkippingRewound(t *testing.T) {
	sessiontestsuite.RunServiceTests(t, sessiontestsuite.SuiteOptions{SupportsUserProvidedSessionID: true},
		func(t *testing.T) session.Service {
			return adkgo.NewWithOptions(backends[0].open(t, ""), adkgo.Options{SkipRewound: true})
		})
}

// CONTRACT T1: a session read through the adapter as it stood after a
// version, or just before an invocation.
func TestGetAt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, _ string, s *adkgo.Service) {
		ctx := t.Context()
		// The app: and user: state of a past version: as of then, or as
		// it is now on a store that serves that (see GetAt).
		then := map[string]any{"app:n": 1, "user:m": "a"}
		atCreation := map[string]any{} // the app's and user's state at the creation
		if b.sharedNow {
			then = map[string]any{"app:n": 2, "user:m": "b"}
			atCreation = then
		}
		with := func(own map[string]any, shared map[string]any) map[string]any {
			out := maps.Clone(own)
			maps.Copy(out, shared)
			return out
		}
		create(t, s, "u", "s", map[string]any{"mood": "calm"})
		create(t, s, "u", "other", nil)
		appendTo(t, s, "u", "s", "e1", "inv-1", map[string]any{"step": 1, "app:n": 1, "user:m": "a"})
		e2 := appendTo(t, s, "u", "s", "e2", "inv-1", map[string]any{"step": 2})
		appendTo(t, s, "u", "other", "o1", "inv-o", map[string]any{"app:n": 2, "user:m": "b"})
		appendTo(t, s, "u", "s", "e3", "inv-2", map[string]any{"step": 3, "mood": "busy"})
		req := func() *adkgo.GetAtRequest { return &adkgo.GetAtRequest{AppName: "app", UserID: "u", SessionID: "s"} }

		t.Run("at a version: the state and events of then, app: and user: state of then", func(t *testing.T) {
			r := req()
			r.AtVersion = new(uint64(2))
			got, err := s.GetAt(ctx, r)
			require.NoError(t, err)
			assert.Equal(t, with(map[string]any{"mood": "calm", "step": 2}, then), stateOf(got.Session))
			assert.Equal(t, []string{"e1", "e2"}, eventIDs(got.Session))
			assert.Equal(t, uint64(2), got.Session.(*adkgo.Session).Version())
			assert.True(t, e2.Timestamp.Equal(got.Session.LastUpdateTime()), "the last update time of then")

			now := get(t, s, "u", "s")
			assert.Equal(t, map[string]any{"mood": "busy", "step": 3, "app:n": 2, "user:m": "b"}, stateOf(now))
		})

		t.Run("at version 0: the session as created", func(t *testing.T) {
			r := req()
			r.AtVersion = new(uint64(0))
			got, err := s.GetAt(ctx, r)
			require.NoError(t, err)
			assert.Equal(t, with(map[string]any{"mood": "calm"}, atCreation), stateOf(got.Session))
			assert.Zero(t, got.Session.Events().Len())
		})

		t.Run("before an invocation: the version before its first event", func(t *testing.T) {
			r := req()
			r.BeforeInvocationID = "inv-2"
			got, err := s.GetAt(ctx, r)
			require.NoError(t, err)
			assert.Equal(t, with(map[string]any{"mood": "calm", "step": 2}, then), stateOf(got.Session))
			assert.Equal(t, []string{"e1", "e2"}, eventIDs(got.Session))

			r.BeforeInvocationID = "inv-1"
			got, err = s.GetAt(ctx, r)
			require.NoError(t, err)
			assert.Equal(t, with(map[string]any{"mood": "calm"}, atCreation), stateOf(got.Session))
		})

		t.Run("NumRecentEvents and After select from the events up to the point", func(t *testing.T) {
			r := req()
			r.AtVersion, r.NumRecentEvents = new(uint64(2)), 1
			got, err := s.GetAt(ctx, r)
			require.NoError(t, err)
			assert.Equal(t, []string{"e2"}, eventIDs(got.Session))

			r.NumRecentEvents, r.After = 0, e2.Timestamp
			got, err = s.GetAt(ctx, r)
			require.NoError(t, err)
			assert.Equal(t, []string{"e2"}, eventIDs(got.Session))
		})

		t.Run("without a point it reads the session as it is", func(t *testing.T) {
			got, err := s.GetAt(ctx, req())
			require.NoError(t, err)
			assert.Equal(t, stateOf(get(t, s, "u", "s")), stateOf(got.Session))
			assert.Equal(t, []string{"e1", "e2", "e3"}, eventIDs(got.Session))
		})

		// CONTRACT A6: the past is not a handle to append through.
		t.Run("an append through a past version gives ErrStaleSession and stores nothing", func(t *testing.T) {
			r := req()
			r.AtVersion = new(uint64(1))
			got, err := s.GetAt(ctx, r)
			require.NoError(t, err)
			err = s.AppendEvent(ctx, got.Session, &session.Event{ID: "late"})
			require.ErrorIs(t, err, service.ErrStaleSession)
			assert.Equal(t, []string{"e1", "e2", "e3"}, eventIDs(get(t, s, "u", "s")))
		})

		bad := []struct {
			name string
			edit func(*adkgo.GetAtRequest)
			want error
			says string
		}{
			{"a version beyond the session's", func(r *adkgo.GetAtRequest) { r.AtVersion = new(uint64(4)) }, service.ErrInvalidArgument, "4"},
			{"an invocation the session does not hold", func(r *adkgo.GetAtRequest) { r.BeforeInvocationID = "inv-o" }, service.ErrInvalidArgument, "inv-o"},
			{"both points", func(r *adkgo.GetAtRequest) { r.AtVersion, r.BeforeInvocationID = new(uint64(1)), "inv-2" }, service.ErrInvalidArgument, "atVersion"},
			{"a negative NumRecentEvents", func(r *adkgo.GetAtRequest) { r.NumRecentEvents = -1 }, service.ErrInvalidArgument, "numRecentEvents"},
			{"an empty user ID", func(r *adkgo.GetAtRequest) { r.UserID = "" }, service.ErrInvalidArgument, "userId"},
			{"a missing session", func(r *adkgo.GetAtRequest) { r.SessionID = "nope"; r.AtVersion = new(uint64(0)) }, service.ErrNotFound, "nope"},
		}
		for _, tc := range bad {
			t.Run(tc.name+" is refused", func(t *testing.T) {
				r := req()
				tc.edit(r)
				got, err := s.GetAt(ctx, r)
				require.ErrorIs(t, err, tc.want)
				assert.Contains(t, err.Error(), tc.says)
				assert.Nil(t, got)
			})
		}
		t.Run("a nil request is refused", func(t *testing.T) {
			_, err := s.GetAt(ctx, nil)
			require.ErrorIs(t, err, service.ErrInvalidArgument)
		})
	})
}

// rewindFixture creates session s: created with mood calm, then invocation
// inv-1 (e1: step 1), then inv-2 (e2: step 2, mood busy, draft, user:seen;
// e3: step 3). It returns the handle after e3, at version 3.
func rewindFixture(t *testing.T, s *adkgo.Service) *adkgo.Session {
	t.Helper()
	create(t, s, "u", "s", map[string]any{"mood": "calm"})
	appendTo(t, s, "u", "s", "e1", "inv-1", map[string]any{"step": 1})
	appendTo(t, s, "u", "s", "e2", "inv-2", map[string]any{"step": 2, "mood": "busy", "draft": "x", "user:seen": true})
	appendTo(t, s, "u", "s", "e3", "inv-2", map[string]any{"step": 3})
	return get(t, s, "u", "s").(*adkgo.Session)
}

// CONTRACT T2: a rewind through the adapter appends one event that
// restores the session state, carries its field to the ADK's side, and
// keeps A6 and A7.
func TestRewind(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, dir string, s *adkgo.Service) {
		ctx := t.Context()
		h := rewindFixture(t, s)
		require.Equal(t, uint64(3), h.Version())

		rw, err := s.Rewind(ctx, &adkgo.RewindRequest{
			AppName: "app", UserID: "u", SessionID: "s", BeforeInvocationID: "inv-2",
			EventID: "rw-1", ExpectVersion: new(h.Version()),
		})
		require.NoError(t, err)

		t.Run("the rewind event is an ADK event carrying the field and the restoring delta", func(t *testing.T) {
			assert.Equal(t, "rw-1", rw.ID)
			assert.Equal(t, service.RewindAuthor, rw.Author)
			assert.NotEmpty(t, rw.InvocationID)
			assert.NotContains(t, []string{"inv-1", "inv-2"}, rw.InvocationID)
			assert.Equal(t, map[string]any{adkgo.MetadataKeyRewindBeforeInvocationID: "inv-2"}, rw.CustomMetadata)
			assert.Equal(t, map[string]any{"step": 1, "mood": "calm", "draft": string(service.Removed)}, rw.Actions.StateDelta,
				"user: keys are not rewound")
		})

		t.Run("Get shows the restored state and the rewind with its field", func(t *testing.T) {
			got := get(t, s, "u", "s")
			assert.Equal(t, map[string]any{"mood": "calm", "step": 1, "user:seen": true}, stateOf(got))
			assert.Equal(t, []string{"e1", "e2", "e3", "rw-1"}, eventIDs(got))
			last := got.Events().At(3)
			assert.Equal(t, "inv-2", last.CustomMetadata[adkgo.MetadataKeyRewindBeforeInvocationID])
			assert.Equal(t, uint64(4), got.(*adkgo.Session).Version())
		})

		t.Run("SkipRewound leaves out the annulled events and the rewind", func(t *testing.T) {
			got, err := s.GetAt(ctx, &adkgo.GetAtRequest{AppName: "app", UserID: "u", SessionID: "s", SkipRewound: true})
			require.NoError(t, err)
			assert.Equal(t, []string{"e1"}, eventIDs(got.Session))
			assert.Equal(t, map[string]any{"mood": "calm", "step": 1, "user:seen": true}, stateOf(got.Session), "the state is the restored one")

			// The adapter's option does the same for Get, the runner's read.
			skipping := adkgo.NewWithOptions(s.Sessionlog(), adkgo.Options{SkipRewound: true})
			assert.Equal(t, []string{"e1"}, eventIDs(get(t, skipping, "u", "s")))
			assert.Equal(t, []string{"e1", "e2", "e3", "rw-1"}, eventIDs(get(t, s, "u", "s")), "New's adapter returns every event")
		})

		t.Run("as of a version before the rewind, SkipRewound counts only the rewinds up to there", func(t *testing.T) {
			got, err := s.GetAt(ctx, &adkgo.GetAtRequest{AppName: "app", UserID: "u", SessionID: "s", AtVersion: new(uint64(3)), SkipRewound: true})
			require.NoError(t, err)
			assert.Equal(t, []string{"e1", "e2", "e3"}, eventIDs(got.Session))
			assert.Equal(t, 3, stateOf(got.Session)["step"])
		})

		// CONTRACT A7.
		t.Run("a retry with the same event ID stores nothing and returns the first rewind", func(t *testing.T) {
			again, err := s.Rewind(ctx, &adkgo.RewindRequest{AppName: "app", UserID: "u", SessionID: "s", BeforeInvocationID: "inv-2", EventID: "rw-1"})
			require.NoError(t, err)
			assert.Equal(t, rw.ID, again.ID)
			assert.Equal(t, rw.InvocationID, again.InvocationID)
			assert.True(t, rw.Timestamp.Equal(again.Timestamp))
			assert.Equal(t, []string{"e1", "e2", "e3", "rw-1"}, eventIDs(get(t, s, "u", "s")))
		})

		// CONTRACT A6.
		t.Run("a rewind from a version the session has moved past gives ErrStaleSession and stores nothing", func(t *testing.T) {
			_, err := s.Rewind(ctx, &adkgo.RewindRequest{AppName: "app", UserID: "u", SessionID: "s", BeforeInvocationID: "inv-1", ExpectVersion: new(h.Version())})
			require.ErrorIs(t, err, service.ErrStaleSession)
			_, err = s.RewindToVersion(ctx, &adkgo.RewindToVersionRequest{AppName: "app", UserID: "u", SessionID: "s", Version: 0, ExpectVersion: new(h.Version())})
			require.ErrorIs(t, err, service.ErrStaleSession)
			got := get(t, s, "u", "s")
			assert.Equal(t, []string{"e1", "e2", "e3", "rw-1"}, eventIDs(got))
			assert.Equal(t, 1, stateOf(got)["step"])
			// The handle read before the rewind is behind it too.
			require.ErrorIs(t, s.AppendEvent(ctx, h, &session.Event{ID: "late"}), service.ErrStaleSession)
		})

		if b.durable {
			// The rest runs on the store opened again: the rewind and
			// its field were read back from the file.
			require.NoError(t, s.Sessionlog().Close())
			s = adkgo.New(b.open(t, dir))
			t.Run("the rewind and its field survive a reopen of the store", func(t *testing.T) {
				got := get(t, s, "u", "s")
				assert.Equal(t, map[string]any{"mood": "calm", "step": 1, "user:seen": true}, stateOf(got))
				assert.Equal(t, "inv-2", got.Events().At(3).CustomMetadata[adkgo.MetadataKeyRewindBeforeInvocationID])
			})
		}

		t.Run("a rewind to version 0 takes the session back to its creation", func(t *testing.T) {
			v := get(t, s, "u", "s").(*adkgo.Session).Version()
			back, err := s.RewindToVersion(ctx, &adkgo.RewindToVersionRequest{AppName: "app", UserID: "u", SessionID: "s", Version: 0, ExpectVersion: &v})
			require.NoError(t, err)
			assert.Equal(t, "inv-1", back.CustomMetadata[adkgo.MetadataKeyRewindBeforeInvocationID])
			got := get(t, s, "u", "s")
			assert.Equal(t, map[string]any{"mood": "calm", "user:seen": true}, stateOf(got))
			active, err := s.GetAt(ctx, &adkgo.GetAtRequest{AppName: "app", UserID: "u", SessionID: "s", SkipRewound: true})
			require.NoError(t, err)
			assert.Empty(t, eventIDs(active.Session), "the first rewind and everything before it are annulled")
		})

		bad := []struct {
			name string
			run  func() (*session.Event, error)
			want error
			says string
		}{
			{"an empty invocation ID", func() (*session.Event, error) {
				return s.Rewind(ctx, &adkgo.RewindRequest{AppName: "app", UserID: "u", SessionID: "s"})
			}, service.ErrInvalidArgument, "beforeInvocationId"},
			{"an invocation the session does not hold", func() (*session.Event, error) {
				return s.Rewind(ctx, &adkgo.RewindRequest{AppName: "app", UserID: "u", SessionID: "s", BeforeInvocationID: "inv-9"})
			}, service.ErrInvalidArgument, "inv-9"},
			{"a missing session", func() (*session.Event, error) {
				return s.Rewind(ctx, &adkgo.RewindRequest{AppName: "app", UserID: "u", SessionID: "nope", BeforeInvocationID: "inv-1"})
			}, service.ErrNotFound, "nope"},
			{"a version at the session's", func() (*session.Event, error) {
				v := get(t, s, "u", "s").(*adkgo.Session).Version()
				return s.RewindToVersion(ctx, &adkgo.RewindToVersionRequest{AppName: "app", UserID: "u", SessionID: "s", Version: v})
			}, service.ErrInvalidArgument, "version"},
			{"a version inside an invocation", func() (*session.Event, error) {
				return s.RewindToVersion(ctx, &adkgo.RewindToVersionRequest{AppName: "app", UserID: "u", SessionID: "s", Version: 2})
			}, service.ErrInvalidArgument, "inside invocation"},
			{"a nil rewind request", func() (*session.Event, error) { return s.Rewind(ctx, nil) }, service.ErrInvalidArgument, "nil"},
			{"a nil rewind-to-version request", func() (*session.Event, error) { return s.RewindToVersion(ctx, nil) }, service.ErrInvalidArgument, "nil"},
		}
		for _, tc := range bad {
			t.Run(tc.name+" is refused and stores nothing", func(t *testing.T) {
				before := eventIDs(get(t, s, "u", "s"))
				got, err := tc.run()
				require.ErrorIs(t, err, tc.want)
				assert.Contains(t, err.Error(), tc.says)
				assert.Nil(t, got)
				assert.Equal(t, before, eventIDs(get(t, s, "u", "s")))
			})
		}
	})
}

// replyModel answers each request with "re: " and the request's last user
// text, and records what it was asked: a model whose prompt shows what the
// runner read from the session.
type replyModel struct {
	mu    sync.Mutex
	asked []request
}

// request is what replyModel records of one call.
type request struct {
	instruction string
	history     []string // "role: text" of each content part with text
}

// Name names the model.
func (*replyModel) Name() string { return "reply" }

// GenerateContent records the request and replies.
func (m *replyModel) GenerateContent(_ context.Context, req *model.LLMRequest, _ bool) iter.Seq2[*model.LLMResponse, error] {
	var r request
	if req.Config != nil && req.Config.SystemInstruction != nil {
		for _, p := range req.Config.SystemInstruction.Parts {
			r.instruction += p.Text
		}
	}
	last := ""
	for _, c := range req.Contents {
		for _, p := range c.Parts {
			if p.Text != "" {
				r.history = append(r.history, c.Role+": "+p.Text)
				if c.Role == genai.RoleUser {
					last = p.Text
				}
			}
		}
	}
	m.mu.Lock()
	m.asked = append(m.asked, r)
	m.mu.Unlock()
	return func(yield func(*model.LLMResponse, error) bool) {
		yield(&model.LLMResponse{Content: genai.NewContentFromText("re: "+last, genai.RoleModel), TurnComplete: true}, nil)
	}
}

// lastAsked returns the last request the model got.
func (m *replyModel) lastAsked() request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.asked[len(m.asked)-1]
}

// CONTRACT T2: a Go ADK runner that goes on after a rewind through the
// adapter works from the restored state; with Options.SkipRewound its
// model's prompt leaves out the turns the rewind took back.
func TestRunnerContinuesAfterRewind(t *testing.T) {
	for _, b := range backends {
		for _, skip := range []bool{false, true} {
			name := b.name + "/every event in the prompt"
			if skip {
				name = b.name + "/SkipRewound leaves the annulled turn out of the prompt"
			}
			t.Run(name, func(t *testing.T) {
				sessions := adkgo.NewWithOptions(b.open(t, t.TempDir()), adkgo.Options{SkipRewound: skip})
				create(t, sessions, "u", "s", nil)
				m := &replyModel{}
				a, err := llmagent.New(llmagent.Config{Name: "bot", Model: m, Instruction: "Last reply: {reply?}.", OutputKey: "reply"})
				require.NoError(t, err)
				r, err := runner.New(runner.Config{AppName: "app", Agent: a, SessionService: sessions})
				require.NoError(t, err)

				_, err = turn(r, "first")
				require.NoError(t, err)
				second, err := turn(r, "second")
				require.NoError(t, err)
				require.NotEmpty(t, second)
				require.Equal(t, "re: second", stateOf(get(t, sessions, "u", "s"))["reply"])

				_, err = sessions.Rewind(t.Context(), &adkgo.RewindRequest{AppName: "app", UserID: "u", SessionID: "s", BeforeInvocationID: second[0].InvocationID})
				require.NoError(t, err)
				require.Equal(t, "re: first", stateOf(get(t, sessions, "u", "s"))["reply"])

				third, err := turn(r, "third")
				require.NoError(t, err)
				require.NotEmpty(t, third)
				asked := m.lastAsked()
				assert.True(t, strings.HasPrefix(asked.instruction, "Last reply: re: first.\n"), "the instruction is built from the restored state: %q", asked.instruction)
				if skip {
					assert.Equal(t, []string{"user: first", "model: re: first", "user: third"}, asked.history)
				} else {
					assert.Equal(t, []string{"user: first", "model: re: first", "user: second", "model: re: second", "user: third"}, asked.history)
				}
				assert.Equal(t, "re: third", stateOf(get(t, sessions, "u", "s"))["reply"])
			})
		}
	}
}

// CONTRACT T3: a fork through the adapter is an ADK session holding the
// source as of a version, with provenance in each copy's CustomMetadata;
// the source is untouched, the fork takes appends of its own, and a fork
// that cannot be made writes nothing.
func TestFork(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend, dir string, s *adkgo.Service) {
		ctx := t.Context()
		rewindFixture(t, s)
		before := get(t, s, "u", "s")

		resp, err := s.Fork(ctx, &adkgo.ForkRequest{AppName: "app", UserID: "u", SessionID: "s", AtVersion: 2, NewSessionID: "f"})
		require.NoError(t, err)
		forked := resp.Session
		assert.Equal(t, "f", forked.ID())
		assert.Equal(t, "u", forked.UserID(), "an empty NewUserID is the source's")
		assert.Equal(t, map[string]any{"mood": "busy", "step": 2, "draft": "x", "user:seen": true}, stateOf(forked))
		require.Equal(t, 2, forked.Events().Len())
		for i, id := range []string{"e1", "e2"} {
			ev := forked.Events().At(i)
			assert.NotEqual(t, id, ev.ID, "a copy has a new ID")
			assert.Equal(t, map[string]any{"appName": "app", "userId": "u", "id": "s", "eventId": id, "seq": i + 1},
				ev.CustomMetadata[service.ForkedFrom])
		}
		assert.NotContains(t, forked.Events().At(1).Actions.StateDelta, "user:seen", "a copy writes no user state")

		require.NoError(t, s.AppendEvent(ctx, forked, &session.Event{ID: "f3", Author: "bot",
			Actions: session.EventActions{StateDelta: map[string]any{"mood": "forked"}}}))
		assert.Equal(t, "forked", stateOf(get(t, s, "u", "f"))["mood"])
		after := get(t, s, "u", "s")
		assert.Equal(t, stateOf(before), stateOf(after), "the source is untouched")
		assert.Equal(t, eventIDs(before), eventIDs(after))

		_, err = s.Fork(ctx, &adkgo.ForkRequest{AppName: "app", UserID: "u", SessionID: "s", AtVersion: 1, NewSessionID: "f"})
		assert.ErrorIs(t, err, service.ErrAlreadyExists)
		_, err = s.Fork(ctx, &adkgo.ForkRequest{AppName: "app", UserID: "u", SessionID: "s", AtVersion: 4})
		assert.ErrorIs(t, err, service.ErrInvalidArgument)
		_, err = s.Fork(ctx, &adkgo.ForkRequest{AppName: "app", UserID: "u", SessionID: "nope"})
		assert.ErrorIs(t, err, service.ErrNotFound)
		_, err = s.Fork(ctx, nil)
		assert.ErrorIs(t, err, service.ErrInvalidArgument)
		require.NoError(t, s.Sessionlog().Verify(ctx))

		if b.durable {
			require.NoError(t, s.Sessionlog().Close())
			reopened := adkgo.New(b.open(t, dir))
			assert.Equal(t, map[string]any{"mood": "forked", "step": 2, "draft": "x", "user:seen": true}, stateOf(get(t, reopened, "u", "f")))
		}
	})
}
