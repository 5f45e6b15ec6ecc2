package service_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/service"
)

// overtaking is a store whose as-of Load first lets another writer append
// to the session: the append lands between a rewind's read and its write.
type overtaking struct {
	eventlog.Store
	svc *service.Service
}

func (o *overtaking) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	if opts.AsOf != nil {
		other, err := o.svc.Get(ctx, key, service.GetOptions{})
		if err != nil {
			return eventlog.View{}, err
		}
		if _, err := o.svc.AppendEvent(ctx, other, &service.Event{InvocationID: "other",
			Actions: service.EventActions{StateDelta: map[string]any{"a": "other"}}}); err != nil {
			return eventlog.View{}, err
		}
	}
	return o.Store.Load(ctx, key, opts)
}

// A rewind is appended at the version it read: an append that overtakes
// it makes it fail, even on a last-writer-wins service, rather than
// restore from a state the session has left.
func TestRewindOvertakenByAnAppend(t *testing.T) {
	// CONTRACT T2 A6
	ctx := context.Background()
	inner := memstore.New()
	plain, err := service.New(ctx, service.Options{Store: inner})
	require.NoError(t, err)
	t.Cleanup(func() { _ = plain.Close() })
	key := service.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	sess, err := plain.Create(ctx, key, nil)
	require.NoError(t, err)
	for _, inv := range []string{"inv-1", "inv-2"} {
		_, err := plain.AppendEvent(ctx, sess, &service.Event{InvocationID: inv,
			Actions: service.EventActions{StateDelta: map[string]any{"a": inv}}})
		require.NoError(t, err)
	}

	svc, err := service.New(ctx, service.Options{Store: &overtaking{Store: inner, svc: plain}, LastWriterWins: true})
	require.NoError(t, err)
	_, err = svc.Rewind(ctx, key, "inv-2", service.RewindOptions{})
	require.ErrorIs(t, err, service.ErrStaleSession)
	got, err := plain.Get(ctx, key, service.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(3), got.Version, "the overtaking append is stored, the rewind is not")
	require.Equal(t, "other", got.State["a"])
}
