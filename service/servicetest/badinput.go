package servicetest

import (
	"context"
	"iter"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// b1 checks CONTRACT B1.
func (s suite) b1(t *testing.T) {
	t.Run("every rejection is a sentinel error whose message names the field", func(t *testing.T) {
		// CONTRACT B1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		cases := []struct {
			name  string
			err   func() error
			want  error
			field string
		}{
			{"Create without an app name", func() error { _, err := h.svc.Create(h.ctx, key("", "u", "s"), nil); return err }, service.ErrInvalidArgument, "appName"},
			{"Create without a user ID", func() error { _, err := h.svc.Create(h.ctx, key("a", " ", "s"), nil); return err }, service.ErrInvalidArgument, "userId"},
			{"Create of an existing session", func() error { _, err := h.svc.Create(h.ctx, k, nil); return err }, service.ErrAlreadyExists, "s"},
			{"Get without a session ID", func() error { _, err := h.svc.Get(h.ctx, key("app", "user", ""), service.GetOptions{}); return err }, service.ErrInvalidArgument, "sessionId"},
			{"Get with a negative count", func() error {
				_, err := h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: -3})
				return err
			}, service.ErrInvalidArgument, "numRecentEvents"},
			{"Get of a missing session", func() error { _, err := h.svc.Get(h.ctx, key("app", "user", "x"), service.GetOptions{}); return err }, service.ErrNotFound, "x"},
			{"List with a negative page size", func() error {
				_, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: -1})
				return err
			}, service.ErrInvalidArgument, "pageSize"},
			{"List with a bad token", func() error {
				_, err := h.svc.List(h.ctx, "app", "", service.ListOptions{PageToken: "bad"})
				return err
			}, service.ErrInvalidArgument, "pageToken"},
			{"ListEvents with a bad token", func() error {
				_, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageToken: "bad"})
				return err
			}, service.ErrInvalidArgument, "pageToken"},
			{"ListEvents with a negative page size", func() error {
				_, err := h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: -1})
				return err
			}, service.ErrInvalidArgument, "pageSize"},
			{"AppendEvent without a session", func() error { _, err := h.svc.AppendEvent(h.ctx, nil, &service.Event{}); return err }, service.ErrInvalidArgument, "session"},
			{"AppendEvent without an event", func() error { _, err := h.svc.AppendEvent(h.ctx, sess, nil); return err }, service.ErrInvalidArgument, "event"},
			{"AppendEvent through a zero handle", func() error {
				_, err := h.svc.AppendEvent(h.ctx, &service.Session{}, &service.Event{})
				return err
			}, service.ErrInvalidArgument, "appName"},
			{"Subscribe without an app name", func() error {
				return h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
					return h.svc.Subscribe(ctx, key("", "u", "s"), 0)
				})
			}, service.ErrInvalidArgument, "appName"},
			{"SubscribeUser without a user ID", func() error {
				return h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] {
					return h.svc.SubscribeUser(ctx, "app", "", 0)
				})
			}, service.ErrInvalidArgument, "userId"},
			{"SubscribeApp without an app name", func() error {
				return h.firstError(func(ctx context.Context) iter.Seq2[*service.Record, error] { return h.svc.SubscribeApp(ctx, "", 0) })
			}, service.ErrInvalidArgument, "appName"},
			{"Import of a nil record", func() error {
				return h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(nil, nil) })
			}, service.ErrInvalidArgument, "record"},
		}
		for _, c := range cases {
			err := c.err()
			require.ErrorIs(t, err, c.want, c.name)
			require.Contains(t, err.Error(), c.field, c.name)
		}
	})

	t.Run("no bad input makes the service panic", func(t *testing.T) {
		// CONTRACT B1
		t.Parallel()
		h := s.open(t)
		k := key("app", "user", "s")
		sess := h.create(k, nil)
		h.appendEvent(sess, &service.Event{ID: "e1"})
		cancelled, cancel := context.WithCancel(h.ctx)
		cancel()
		weird := []string{"", " ", "\x00", "\xff\xfe", strings.Repeat("x", 1<<16), "app:", "user:", "temp:", "a/b:c\x00d"}
		var calls []func()
		for _, w := range weird {
			calls = append(calls,
				func() { _, _ = h.svc.Create(h.ctx, key(w, w, w), map[string]any{w: w}) },
				func() { _, _ = h.svc.Create(h.ctx, key("app", "user", w), map[string]any{w: nil, "app:" + w: w}) },
				func() { _, _ = h.svc.Get(h.ctx, key(w, w, w), service.GetOptions{}) },
				func() { _, _ = h.svc.List(h.ctx, w, w, service.ListOptions{PageToken: w}) },
				func() { _, _ = h.svc.List(h.ctx, "app", "", service.ListOptions{PageToken: w}) },
				func() { _, _ = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageToken: w}) },
				func() { _ = h.svc.Delete(h.ctx, key(w, w, w)) },
				func() {
					_, _ = h.svc.AppendEvent(h.ctx, &service.Session{AppName: w, UserID: w, ID: w}, &service.Event{ID: w})
				},
			)
		}
		calls = append(calls,
			func() { _, _ = h.svc.Create(h.ctx, service.SessionKey{}, nil) },
			func() {
				_, _ = h.svc.Create(h.ctx, key("app", "user", ""), map[string]any{
					"nil": nil, "nilmap": map[string]any(nil), "list": []any{nil, map[string]any(nil)}, "removed": service.Removed,
					"app:removed": service.Removed, "user:nil": nil, "ch": make(chan int), "fn": func() {},
				})
			},
			func() { _, _ = h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: math.MaxInt}) },
			func() { _, _ = h.svc.Get(h.ctx, k, service.GetOptions{NumRecentEvents: math.MinInt}) },
			func() { _, _ = h.svc.Get(h.ctx, k, service.GetOptions{After: time.Unix(1<<62, 0)}) },
			func() { _, _ = h.svc.Get(h.ctx, k, service.GetOptions{After: time.Time{}.Add(-time.Hour)}) },
			func() { _, _ = h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: math.MaxInt}) },
			func() { _, _ = h.svc.List(h.ctx, "app", "", service.ListOptions{PageSize: math.MinInt}) },
			func() { _, _ = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: math.MaxInt}) },
			func() { _, _ = h.svc.ListEvents(h.ctx, k, service.ListEventsOptions{PageSize: math.MinInt}) },
			func() { _, _ = h.svc.AppendEvent(h.ctx, &service.Session{}, &service.Event{}) },
			func() { _, _ = h.svc.AppendEvent(h.ctx, nil, nil) },
			func() {
				_, _ = h.svc.AppendEvent(h.ctx, &service.Session{AppName: "app", UserID: "user", ID: "s", Version: math.MaxUint64}, &service.Event{})
			},
			func() {
				_, _ = h.svc.AppendEvent(h.ctx, h.get(k), &service.Event{
					Content:            &genai.Content{Parts: []*genai.Part{nil, {Text: "x"}, nil}},
					LongRunningToolIDs: []string{},
					CustomMetadata:     map[string]any{"nil": nil},
					Actions: service.EventActions{StateDelta: map[string]any{
						"": 1, "app:": 2, "user:": 3, "temp:": 4, "nil": nil, "removed": service.Removed,
					}},
				})
			},
			func() {
				_, _ = h.svc.AppendEvent(h.ctx, h.get(k), &service.Event{Content: &genai.Content{Parts: []*genai.Part{nil}}})
			},
			func() {
				_, _ = h.svc.AppendEvent(h.ctx, h.get(k), &service.Event{Content: &genai.Content{}, UsageMetadata: &genai.GenerateContentResponseUsageMetadata{}, GroundingMetadata: &genai.GroundingMetadata{}})
			},
			func() { _, _ = h.svc.AppendEvent(cancelled, h.get(k), &service.Event{}) },
			func() { _, _ = h.svc.Create(cancelled, key("app", "user", "cancelled"), nil) },
			func() { _ = h.svc.Delete(cancelled, k) },
			func() { _, _ = h.svc.Get(cancelled, k, service.GetOptions{}) },
			func() { _, _ = h.svc.List(cancelled, "app", "", service.ListOptions{}) },
			func() { _, _ = h.svc.ListEvents(cancelled, k, service.ListEventsOptions{}) },
			func() {
				for range h.svc.Subscribe(cancelled, k, math.MaxUint64) {
				}
			},
			func() {
				for range h.svc.SubscribeApp(cancelled, "app", service.Position(math.MaxUint64)) {
				}
			},
			func() {
				for range h.svc.SubscribeUser(cancelled, "app", "user", service.Position(math.MaxUint64)) {
				}
			},
			func() {
				for range h.svc.Export(cancelled) {
				}
			},
			func() {
				for _, rec := range []*service.Record{
					nil,
					{},
					{Kind: eventlog.Kind(0), Key: k},
					{Kind: eventlog.Kind(200), Key: k},
					{Kind: eventlog.KindEventAppended, Key: k},
					{Kind: eventlog.KindEventAppended, Key: k, Seq: math.MaxUint64, Event: &service.Event{}},
					{Kind: eventlog.KindEventAppended, Key: key("app", "user", "missing"), Seq: 1, Event: &service.Event{ID: "x"}},
					{Kind: eventlog.KindSessionDeleted, Key: service.SessionKey{}},
					{Kind: eventlog.KindStateRetained, Key: service.SessionKey{}},
					{Kind: eventlog.KindStateRetained, Key: key("app", "", ""), State: map[string]any{"user:x": 1, "app:y": service.Removed}},
				} {
					_ = h.svc.Import(h.ctx, func(yield func(*service.Record, error) bool) { yield(rec, nil) })
				}
			},
		)
		for i, call := range calls {
			require.NotPanics(t, call, "call %d", i)
		}
		got := h.get(k)
		require.Equal(t, "e1", got.Events[0].ID)
	})

	t.Run("importing a nil record sequence is rejected, not a panic", func(t *testing.T) {
		// CONTRACT B1
		t.Parallel()
		h := s.open(t)
		var err error
		assert.NotPanics(t, func() { err = h.svc.Import(h.ctx, nil) })
		assert.ErrorIs(t, err, service.ErrInvalidArgument)
	})
}
