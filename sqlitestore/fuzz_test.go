package sqlitestore_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// FuzzStateValues: CONTRACT V1 and K1 through the SQLite tables. Any value
// DecodeValue accepts, written as a state value under any key in every
// scope (through a creation and through an event), comes back from Load
// equal to the value DecodeValue reads, from the store that wrote it and
// from one that opens the file afterwards; the event's delta comes back
// the same too.
func FuzzStateValues(f *testing.F) {
	for _, s := range []struct{ key, value string }{
		{"k", `{"a":[1,2.5,"x",null,true]}`}, {"", `"\u0000"`}, {"ключ\x00", `-0`}, {"\xff", `2`}, {"k", `1e308`}, {"k", `[[[]]]`}, {"k", `"\ud800"`},
	} {
		f.Add(s.key, []byte(s.value))
	}
	path := newFile(f)
	s := open(f, path)
	n := 0
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		want, err := eventlog.DecodeValue(data)
		if err != nil {
			return
		}
		ctx := t.Context()
		n++
		k := eventlog.SessionKey{AppName: "app\x00" + key, UserID: "u" + key, SessionID: "s" + time.Now().String()}
		create := &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k, Time: time.Now(),
			State: map[string]any{key: want, "app:" + key: want}}
		if eventlog.CheckRecord(create) != nil { // a key no store takes: refused, as CheckRecord says
			_, err := s.Append(ctx, create)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
			return
		}
		_, err = s.Append(ctx, create)
		require.NoError(t, err)
		ev := &eventlog.Event{ID: "e", Timestamp: time.Now(), Actions: eventlog.EventActions{StateDelta: map[string]any{"user:" + key: want, "d": want}}}
		_, err = s.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Time: ev.Timestamp, Event: ev})
		require.NoError(t, err)
		check := func(st *sqlitestore.Store, who string) {
			v, err := st.Load(ctx, k, eventlog.LoadOptions{})
			require.NoError(t, err, who)
			require.Equal(t, want, v.State[key], "%s: own key %q", who, key)
			require.Equal(t, want, v.State["app:"+key], "%s: app key %q", who, key)
			require.Equal(t, want, v.State["user:"+key], "%s: user key %q", who, key)
			require.Len(t, v.Events, 1, who)
			require.Equal(t, want, v.Events[0].Actions.StateDelta["d"], "%s: the event's delta", who)
		}
		check(s, "the writer")
		if n%20 == 1 { // a store that opens the file afterwards reads it all from the file
			other, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
			require.NoError(t, err)
			defer other.Close()
			check(other, "another store")
		}
	})
}
