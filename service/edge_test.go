package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// CONTRACT B1: the zero Service is a working in-memory service.
func TestZeroServiceWorks(t *testing.T) {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()
	sess, err := svc.Create(ctx, service.SessionKey{AppName: "a", UserID: "u"}, map[string]any{"k": 1})
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, sess, &service.Event{Author: "x"})
	require.NoError(t, err)
	got, err := svc.Get(ctx, sess.Key(), service.GetOptions{})
	require.NoError(t, err)
	require.Len(t, got.Events, 1)
	require.NoError(t, svc.Verify(ctx))
}

// CONTRACT B1 S3: after Close every call fails with ErrClosed, and closing
// again is not an error.
func TestClosedServiceRefusesEveryCall(t *testing.T) {
	ctx := context.Background()
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	key := service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess, err := svc.Create(ctx, key, nil)
	require.NoError(t, err)
	require.NoError(t, svc.Close())
	require.NoError(t, svc.Close())

	first := func(seq iter.Seq2[*service.Record, error]) error {
		for _, err := range seq {
			return err
		}
		return nil
	}
	for name, call := range map[string]func() error{
		"Create":        func() error { _, err := svc.Create(ctx, key, nil); return err },
		"Get":           func() error { _, err := svc.Get(ctx, key, service.GetOptions{}); return err },
		"List":          func() error { _, err := svc.List(ctx, "a", "u", service.ListOptions{}); return err },
		"Delete":        func() error { return svc.Delete(ctx, key) },
		"AppendEvent":   func() error { _, err := svc.AppendEvent(ctx, sess, &service.Event{}); return err },
		"ListEvents":    func() error { _, err := svc.ListEvents(ctx, key, service.ListEventsOptions{}); return err },
		"Subscribe":     func() error { return first(svc.Subscribe(ctx, key, 0)) },
		"SubscribeUser": func() error { return first(svc.SubscribeUser(ctx, "a", "u", 0)) },
		"SubscribeApp":  func() error { return first(svc.SubscribeApp(ctx, "a", 0)) },
		"Export":        func() error { return first(svc.Export(ctx)) },
		"Import":        func() error { return svc.Import(ctx, func(func(*service.Record, error) bool) {}) },
		"Verify":        func() error { return svc.Verify(ctx) },
	} {
		t.Run(name+" fails with ErrClosed", func(t *testing.T) {
			require.ErrorIs(t, call(), service.ErrClosed)
		})
	}
}

// CONTRACT B1: a nil context is refused by New too.
func TestNewRefusesANilContext(t *testing.T) {
	//nolint:staticcheck // the point is a nil context
	_, err := service.New(nil, service.Options{})
	require.ErrorIs(t, err, service.ErrInvalidArgument)
}

// CONTRACT B1: values that nest without end (a map holding itself) are
// refused with a message naming the field, not a crash.
func TestCyclicValuesAreRefused(t *testing.T) {
	ctx := context.Background()
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	defer svc.Close()
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	list := []any{nil}
	list[0] = list

	_, err = svc.Create(ctx, service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, map[string]any{"k": cyclic})
	require.ErrorIs(t, err, service.ErrInvalidArgument)
	require.Contains(t, err.Error(), "state")

	sess, err := svc.Create(ctx, service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil)
	require.NoError(t, err)
	for field, ev := range map[string]*service.Event{
		"actions.stateDelta": {Actions: service.EventActions{StateDelta: map[string]any{"k": list}}},
		"customMetadata":     {CustomMetadata: cyclic},
		"content.parts[1].functionCall.args": {Content: &genai.Content{Parts: []*genai.Part{
			{Text: "x"}, {FunctionCall: &genai.FunctionCall{Name: "f", Args: cyclic}},
		}}},
		"content.parts[0].toolCall.args": {Content: &genai.Content{Parts: []*genai.Part{
			{ToolCall: &genai.ToolCall{Args: cyclic}},
		}}},
		"content.parts[0].toolResponse.response": {Content: &genai.Content{Parts: []*genai.Part{
			{ToolResponse: &genai.ToolResponse{Response: cyclic}},
		}}},
		"output":                 {Output: list},
		"requestedInput.payload": {RequestedInput: &eventlog.RequestInput{InterruptID: "i", Payload: cyclic}},
	} {
		t.Run("a cyclic "+field+" is refused", func(t *testing.T) {
			_, err := svc.AppendEvent(ctx, sess, ev)
			require.ErrorIs(t, err, service.ErrInvalidArgument)
			require.Contains(t, err.Error(), field)
			require.Zero(t, sess.Version, "nothing stored")
		})
	}
	// A temp: key never reaches the store, but the handle keeps it.
	t.Run("a cyclic temp: value is refused", func(t *testing.T) {
		_, err := svc.AppendEvent(ctx, sess, &service.Event{Actions: service.EventActions{StateDelta: map[string]any{"k": "v", "temp:t": cyclic}}})
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		require.Contains(t, err.Error(), "actions.stateDelta")
		require.Zero(t, sess.Version, "nothing stored")
		require.NotContains(t, sess.State, "temp:t")
	})
}

// CONTRACT B1: a response schema is kept as JSON text, so text that is not
// JSON (which no store could encode) is refused, naming the field.
func TestResponseSchemaMustBeJSON(t *testing.T) {
	ctx := context.Background()
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	defer svc.Close()
	sess, err := svc.Create(ctx, service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, nil)
	require.NoError(t, err)

	t.Run("text that is not JSON is refused and nothing is stored", func(t *testing.T) {
		_, err := svc.AppendEvent(ctx, sess, &service.Event{RequestedInput: &eventlog.RequestInput{InterruptID: "i", ResponseSchema: []byte(`{"type":`)}})
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		require.Contains(t, err.Error(), "requestedInput.responseSchema")
		require.Zero(t, sess.Version)
	})
	t.Run("a JSON schema is stored as it was given", func(t *testing.T) {
		schema := []byte(`{"type":"object","properties":{"ok":{"type":"boolean"}}}`)
		ev, err := svc.AppendEvent(ctx, sess, &service.Event{RequestedInput: &eventlog.RequestInput{InterruptID: "i", ResponseSchema: schema}})
		require.NoError(t, err)
		require.JSONEq(t, string(schema), string(ev.RequestedInput.ResponseSchema))
		require.Equal(t, uint64(1), sess.Version)
	})
}

// CONTRACT K1 A2 A4 R2: Import refuses what no call could address or
// store, and drops temp: keys, as the calls that first wrote the records
// do.
func TestImportKeepsTheRulesOfTheCalls(t *testing.T) {
	ctx := context.Background()
	records := func(recs ...*service.Record) iter.Seq2[*service.Record, error] {
		return func(yield func(*service.Record, error) bool) {
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
	t.Run("a session ID with surrounding spaces is refused", func(t *testing.T) {
		svc, _ := service.New(ctx, service.Options{})
		defer svc.Close()
		err := svc.Import(ctx, records(&service.Record{Kind: 1, Key: service.SessionKey{AppName: "a", UserID: "u", SessionID: " s "}}))
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		require.Contains(t, err.Error(), "sessionId")
	})
	t.Run("a partial event is refused, and not stored", func(t *testing.T) {
		// CONTRACT A2: no call stores a partial event.
		svc, _ := service.New(ctx, service.Options{})
		defer svc.Close()
		key := service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		err := svc.Import(ctx, records(
			&service.Record{Kind: 1, Key: key},
			&service.Record{Kind: 2, Key: key, Seq: 1, Event: &service.Event{ID: "chunk", Partial: true,
				Actions: service.EventActions{StateDelta: map[string]any{"k": "from a chunk", "app:a": 1}}}},
		))
		require.ErrorIs(t, err, service.ErrInvalidArgument)
		require.Contains(t, err.Error(), "partial")
		got, err := svc.Get(ctx, key, service.GetOptions{})
		require.NoError(t, err, "the records before the refused one stay")
		require.Empty(t, got.Events)
		require.Empty(t, got.State)
	})
	t.Run("temp: keys are dropped from the state and the events", func(t *testing.T) {
		svc, _ := service.New(ctx, service.Options{})
		defer svc.Close()
		key := service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
		err := svc.Import(ctx, records(
			&service.Record{Kind: 1, Key: key, State: map[string]any{"k": 1, "temp:t": 2}},
			&service.Record{Kind: 2, Key: key, Seq: 1, Event: &service.Event{ID: "e1",
				Actions: service.EventActions{StateDelta: map[string]any{"j": 3, "temp:u": 4}}}},
		))
		require.NoError(t, err)
		got, err := svc.Get(ctx, key, service.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, map[string]any{"k": 1, "j": 3}, got.State)
		require.Equal(t, map[string]any{"j": 3}, got.Events[0].Actions.StateDelta)
	})
}

// CONTRACT A4 G3: a subscriber that has read an append sees its app: and
// user: writes in the next Get of any session; the log is never ahead of
// the state.
func TestSubscriberNeverSeesTheLogAheadOfTheState(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	defer svc.Close()
	writer, err := svc.Create(ctx, service.SessionKey{AppName: "a", UserID: "u", SessionID: "w"}, nil)
	require.NoError(t, err)
	other, err := svc.Create(ctx, service.SessionKey{AppName: "a", UserID: "u", SessionID: "o"}, nil)
	require.NoError(t, err)

	const n = 2000
	done := make(chan error, 1)
	go func() {
		seen := 0
		for rec, err := range svc.SubscribeApp(ctx, "a", 0) {
			if err != nil {
				done <- err
				return
			}
			if rec.Event == nil {
				continue
			}
			want := rec.Event.Actions.StateDelta["app:k"].(int)
			got, err := svc.Get(ctx, other.Key(), service.GetOptions{})
			if err != nil {
				done <- err
				return
			}
			if have, _ := got.State["app:k"].(int); have < want || got.State["user:k"].(int) < want {
				done <- fmt.Errorf("read the append writing %d, then Get showed app:k=%v user:k=%v", want, got.State["app:k"], got.State["user:k"])
				return
			}
			if seen++; seen == n {
				done <- nil
				return
			}
		}
		done <- errors.New("the subscription ended early")
	}()
	for i := 1; i <= n; i++ {
		_, err := svc.AppendEvent(ctx, writer, &service.Event{Actions: service.EventActions{StateDelta: map[string]any{"app:k": i, "user:k": i}}})
		require.NoError(t, err)
	}
	require.NoError(t, <-done)
}

// CONTRACT D2: a handle of a session deleted and created again under the
// same key appends nothing to the new one, complete event or partial:
// both are ErrNotFound, and a handle of the new session takes both.
func TestHandleOfADeletedSessionAppendsNothing(t *testing.T) {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()
	key := service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	old, err := svc.Create(ctx, key, nil)
	require.NoError(t, err)
	require.NoError(t, svc.Delete(ctx, key))
	fresh, err := svc.Create(ctx, key, nil)
	require.NoError(t, err)
	for _, partial := range []bool{false, true} {
		_, err := svc.AppendEvent(ctx, old, &service.Event{Author: "x", Partial: partial})
		require.ErrorIs(t, err, service.ErrNotFound, "partial: %v", partial)
		_, err = svc.AppendEvent(ctx, fresh, &service.Event{Author: "x", Partial: partial})
		require.NoError(t, err, "partial: %v", partial)
	}
}

// CONTRACT V1: a session written as JSON and read back has the values that
// went in: a float holding a whole number stays a float, an integer an
// int, as in its events' deltas; a state that is not an object is refused.
func TestSessionAsJSONKeepsItsValues(t *testing.T) {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()
	state := map[string]any{"f": 3.0, "i": 3, "s": "x", "l": []any{1.0, 2}, "app:m": map[string]any{"g": 2.0}}
	sess, err := svc.Create(ctx, service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}, state)
	require.NoError(t, err)
	_, err = svc.AppendEvent(ctx, sess, &service.Event{Author: "x", Actions: service.EventActions{StateDelta: map[string]any{"g": 2.0}}})
	require.NoError(t, err)
	b, err := json.Marshal(sess)
	require.NoError(t, err)
	require.Contains(t, string(b), `"f":3.0`)
	var back service.Session
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, sess.State, back.State)
	require.Equal(t, sess.Key(), back.Key())
	require.Equal(t, sess.Version, back.Version)
	require.Len(t, back.Events, 1)
	require.Equal(t, 2.0, back.Events[0].Actions.StateDelta["g"])

	require.Error(t, json.Unmarshal([]byte(`{"id":"s","state":[1]}`), &back))
	var empty service.Session
	require.NoError(t, json.Unmarshal([]byte(`{"id":"s","state":null}`), &empty))
	require.Nil(t, empty.State)
}

// CONTRACT R2: records that hold positions are imported only into a store
// that was empty when the import began, also when records without a
// position come first; and no position beyond eventlog.MaxPosition is
// taken, which would leave no room for the appends after it.
func TestImportPlacesRecordsOnlyInAnEmptyStore(t *testing.T) {
	ctx := context.Background()
	key := func(id string) service.SessionKey {
		return service.SessionKey{AppName: "a", UserID: "u", SessionID: id}
	}
	records := func(recs ...*service.Record) iter.Seq2[*service.Record, error] {
		return func(yield func(*service.Record, error) bool) {
			for _, r := range recs {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	defer svc.Close()
	_, err = svc.Create(ctx, key("held"), nil)
	require.NoError(t, err)
	err = svc.Import(ctx, records(
		&service.Record{Kind: eventlog.KindSessionCreated, Key: key("free")},
		&service.Record{Position: 100, Kind: eventlog.KindSessionCreated, Key: key("placed")},
	))
	require.ErrorIs(t, err, service.ErrInvalidArgument)
	assert.Contains(t, err.Error(), "record 2: invalid argument: the store already holds records")
	_, err = svc.Get(ctx, key("placed"), service.GetOptions{})
	require.ErrorIs(t, err, service.ErrNotFound, "the placed record is not stored")

	empty, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	defer empty.Close()
	require.NoError(t, empty.Import(ctx, records(
		&service.Record{Kind: eventlog.KindSessionCreated, Key: key("free")},
		&service.Record{Position: 100, Kind: eventlog.KindSessionCreated, Key: key("placed")},
	)), "into a store empty when the import began, the import's own records come first")
	assert.Equal(t, []service.Position{1, 100}, positions(t, empty))

	for _, pos := range []service.Position{eventlog.MaxPosition + 1, math.MaxUint64} {
		fresh, err := service.New(ctx, service.Options{})
		require.NoError(t, err)
		err = fresh.Import(ctx, records(&service.Record{Position: pos, Kind: eventlog.KindSessionCreated, Key: key("far")}))
		require.ErrorIs(t, err, service.ErrInvalidArgument, "position %d", pos)
		assert.Contains(t, err.Error(), "beyond the largest a store holds")
		_, err = fresh.Create(ctx, key("next"), nil)
		require.NoError(t, err)
		assert.Equal(t, []service.Position{1}, positions(t, fresh), "the positions go on from where they were")
		require.NoError(t, fresh.Close())
	}
}

// positions are the positions of the records svc exports.
func positions(t *testing.T, svc *service.Service) []service.Position {
	t.Helper()
	var out []service.Position
	for rec, err := range svc.Export(context.Background()) {
		require.NoError(t, err)
		out = append(out, rec.Position)
	}
	return out
}

// Imported records' times are kept as every store reads them back: in
// UTC, without a monotonic clock reading.
func TestImportKeepsTimesInUTC(t *testing.T) {
	ctx := context.Background()
	svc, err := service.New(ctx, service.Options{})
	require.NoError(t, err)
	defer svc.Close()
	k := service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	elsewhere := time.Now().In(time.FixedZone("UTC+3", 3*3600))
	require.NoError(t, svc.Import(ctx, func(yield func(*service.Record, error) bool) {
		if yield(&service.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: elsewhere}, nil) {
			yield(&service.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: 1, Time: elsewhere,
				Event: &service.Event{ID: "e", Timestamp: elsewhere}}, nil)
		}
	}))
	for rec, err := range svc.Export(ctx) {
		require.NoError(t, err)
		assert.Same(t, time.UTC, rec.Time.Location())
		assert.True(t, rec.Time == rec.Time.Round(0), "%s has a monotonic clock reading", rec.Time)
		assert.True(t, rec.Time.Equal(elsewhere))
	}
	got, err := svc.Get(ctx, k, service.GetOptions{})
	require.NoError(t, err)
	assert.Same(t, time.UTC, got.LastUpdateTime.Location())
}
