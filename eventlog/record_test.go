package eventlog_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
)

// CONTRACT R2: a record survives JSON with its kind written by name.
func TestRecordJSON(t *testing.T) {
	k := memKey("app", "user", "s1")
	ev := memAppended(k, 3, "e3", map[string]any{"app:a": 1.5, "x": "y", "nested": map[string]any{"l": []any{"a", true}}})
	ev.Position = 42
	tests := []struct {
		name string
		rec  *eventlog.Record
		kind string
	}{
		{"a creation keeps its state", &eventlog.Record{Position: 1, Kind: eventlog.KindSessionCreated, Key: k, Time: memT0, State: map[string]any{"a": "b", "app:n": 2.0}}, "sessionCreated"},
		{"an appended event keeps its event and sequence number", ev, "eventAppended"},
		{"a deletion keeps its time", &eventlog.Record{Position: 7, Kind: eventlog.KindSessionDeleted, Key: k, Time: memT0.Add(1234567 * time.Nanosecond)}, "sessionDeleted"},
		{"a retained-state record keeps its state", &eventlog.Record{Position: 9, Kind: eventlog.KindStateRetained, Key: memKey("app", "user", ""), Time: memT0, State: map[string]any{"user:k": "v"}}, "stateRetained"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.rec)
			require.NoError(t, err)
			var raw map[string]any
			require.NoError(t, json.Unmarshal(b, &raw))
			assert.Equal(t, tt.kind, raw["kind"], "the kind is written by name")
			assert.Equal(t, eventlog.FormatTimestamp(tt.rec.Time), raw["time"])

			var back eventlog.Record
			require.NoError(t, json.Unmarshal(b, &back))
			assert.Equal(t, *tt.rec, back)
		})
	}

	t.Run("a pointer and a value encode the same", func(t *testing.T) {
		a, err := json.Marshal(ev)
		require.NoError(t, err)
		b, err := json.Marshal(*ev)
		require.NoError(t, err)
		assert.JSONEq(t, string(a), string(b))
	})
	t.Run("time may be epoch milliseconds or seconds", func(t *testing.T) {
		for _, raw := range []string{`1700000000123`, `1700000000.123`, `"2023-11-14T23:13:20.123+01:00"`} {
			var rec eventlog.Record
			require.NoError(t, json.Unmarshal([]byte(`{"position":1,"kind":"sessionDeleted","key":{"appName":"a","userId":"u","id":"s"},"time":`+raw+`}`), &rec))
			assert.True(t, rec.Time.Equal(time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC)), "time %s gives %s", raw, rec.Time)
		}
	})

	bad := []struct {
		name string
		json string
	}{
		{"an unknown kind name is rejected", `{"kind":"sessionRenamed","key":{"appName":"a","userId":"u","id":"s"},"time":"2025-01-01T00:00:00Z"}`},
		{"a kind given as a number is rejected", `{"kind":2,"key":{"appName":"a","userId":"u","id":"s"},"time":"2025-01-01T00:00:00Z"}`},
		{"a kind name in another case is rejected", `{"kind":"EventAppended","key":{"appName":"a","userId":"u","id":"s"},"time":"2025-01-01T00:00:00Z"}`},
		{"an empty kind is rejected", `{"kind":"","key":{"appName":"a","userId":"u","id":"s"},"time":"2025-01-01T00:00:00Z"}`},
		{"a malformed time is rejected", `{"kind":"sessionDeleted","key":{"appName":"a","userId":"u","id":"s"},"time":"yesterday"}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var rec eventlog.Record
			require.Error(t, json.Unmarshal([]byte(tt.json), &rec))
		})
	}
	t.Run("an unknown kind name is an invalid argument naming the kind", func(t *testing.T) {
		var k eventlog.Kind
		err := k.UnmarshalText([]byte("sessionRenamed"))
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		assert.Contains(t, err.Error(), "sessionRenamed")
	})
	t.Run("an undefined kind cannot be written", func(t *testing.T) {
		for _, kind := range []eventlog.Kind{0, 5, 255} {
			_, err := json.Marshal(&eventlog.Record{Kind: kind})
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument, "kind %d", kind)
			assert.False(t, kind.Valid())
			assert.Equal(t, fmt.Sprintf("Kind(%d)", uint8(kind)), kind.String())
		}
	})
	t.Run("every defined kind's name reads back as the kind", func(t *testing.T) {
		for _, kind := range []eventlog.Kind{eventlog.KindSessionCreated, eventlog.KindEventAppended, eventlog.KindSessionDeleted, eventlog.KindStateRetained} {
			text, err := kind.MarshalText()
			require.NoError(t, err)
			assert.Equal(t, kind.String(), string(text))
			var back eventlog.Kind
			require.NoError(t, back.UnmarshalText(text))
			assert.Equal(t, kind, back)
		}
	})
}
