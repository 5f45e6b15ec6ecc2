package eventlog_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/internal/testrec"
	"github.com/sessionlog/sessionlog/memstore"
)

// TestMain fails the package's tests if any goroutine outlives them: Follow
// promises to start none, and every test here ends the ones it starts.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// flWait bounds every wait in these tests. It is never a measured duration:
// it only turns a hang into a failure.
const flWait = 20 * time.Second

var (
	memT0       = testrec.T0
	memKey      = testrec.Key
	memCreated  = testrec.Created
	memAppended = testrec.Appended
	memDeleted  = testrec.Deleted
)

// memAppend appends rec, fails the test on error, and returns the stored
// record.
func memAppend(t testing.TB, store eventlog.Store, rec *eventlog.Record) *eventlog.Record {
	t.Helper()
	res, err := store.Append(context.Background(), rec)
	require.NoError(t, err, "append %s of %s", rec.Kind, rec.Key)
	return res.Record
}

// memReadAll reads every record of scope in one call.
func memReadAll(t testing.TB, store eventlog.Store, scope eventlog.Scope) []*eventlog.Record {
	t.Helper()
	recs, _, err := store.Read(context.Background(), scope, 0, 1<<30)
	require.NoError(t, err)
	return recs
}

func memPositions(recs []*eventlog.Record) []eventlog.Position {
	out := make([]eventlog.Position, len(recs))
	for i, r := range recs {
		out[i] = r.Position
	}
	return out
}

// flItem is one step of a Follow iteration.
type flItem struct {
	rec *eventlog.Record
	err error
}

// flStart runs Follow in a goroutine and hands its steps over a channel,
// which is closed when the iteration ends. The goroutine ends when the
// iteration does or when ctx is done; t.Cleanup cancels ctx and waits.
func flStart(t *testing.T, store eventlog.Store, scope eventlog.Scope, after eventlog.Position) (<-chan flItem, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan flItem)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		for rec, err := range eventlog.Follow(ctx, store, scope, after) {
			select {
			case ch <- flItem{rec, err}:
			case <-ctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(flWait):
			t.Error("the Follow goroutine did not end after its context was cancelled")
		}
	})
	return ch, cancel
}

// flNext receives the next step; it fails if the iteration ended.
func flNext(t *testing.T, ch <-chan flItem) flItem {
	t.Helper()
	select {
	case it, ok := <-ch:
		require.True(t, ok, "the iteration ended early")
		return it
	case <-time.After(flWait):
		t.Fatal("no record arrived")
	}
	return flItem{}
}

// flRecords receives n records and fails on an error.
func flRecords(t *testing.T, ch <-chan flItem, n int) []*eventlog.Record {
	t.Helper()
	out := make([]*eventlog.Record, 0, n)
	for range n {
		it := flNext(t, ch)
		require.NoError(t, it.err)
		out = append(out, it.rec)
	}
	return out
}

// flEnd waits for the iteration to end and returns the steps it yielded on
// the way.
func flEnd(t *testing.T, ch <-chan flItem) []flItem {
	t.Helper()
	var rest []flItem
	timeout := time.After(flWait)
	for {
		select {
		case it, ok := <-ch:
			if !ok {
				return rest
			}
			rest = append(rest, it)
		case <-timeout:
			t.Fatal("the iteration did not end")
		}
	}
}

// flGapless checks that got is exactly want: same records, same order.
func flGapless(t *testing.T, want, got []*eventlog.Record) {
	t.Helper()
	require.Equal(t, memPositions(want), memPositions(got))
	for i := range want {
		require.Same(t, want[i], got[i])
	}
}

// CONTRACT S1: a session cursor replays what is stored, then follows live
// appends, in order, with no gaps and no repeats.
func TestFollowReplaysThenFollowsLive(t *testing.T) {
	k := memKey("app", "user", "s1")
	tests := []struct {
		name   string
		stored int // events appended before Follow starts
		live   int // events appended while it runs
		after  int // Follow starts after this many of the stored events
	}{
		{"a cursor from the start replays a few events, then follows", 3, 5, 0},
		{"a cursor from the middle replays only the later events", 10, 5, 4},
		{"a cursor at the end replays nothing and follows", 4, 6, 4},
		{"a cursor on an empty session follows from the first event", 0, 5, 0},
		{"a cursor replays more than one read batch", 700, 20, 0},
		{"a cursor replays exactly one read batch, then follows", 256, 3, 0},
		{"a cursor follows more than one batch of live events", 0, 600, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New()
			created := memAppend(t, store, memCreated(k, nil))
			memAppend(t, store, memCreated(memKey("app", "user", "noise"), nil))
			var all []*eventlog.Record
			appendOne := func() {
				seq := uint64(len(all) + 1)
				all = append(all, memAppend(t, store, memAppended(k, seq, "e"+strconv.FormatUint(seq, 10), nil)))
				memAppend(t, store, memAppended(memKey("app", "user", "noise"), seq, "n"+strconv.FormatUint(seq, 10), nil))
			}
			for range tt.stored {
				appendOne()
			}
			after := created.Position
			if tt.after > 0 {
				after = all[tt.after-1].Position
			}
			ch, _ := flStart(t, store, eventlog.SessionScope(k, created.Position), after)
			got := flRecords(t, ch, tt.stored-tt.after)
			for range tt.live {
				appendOne()
			}
			got = append(got, flRecords(t, ch, tt.live)...)
			flGapless(t, all[tt.after:], got)
			for i, rec := range got {
				assert.Equal(t, uint64(tt.after+i+1), rec.Seq)
			}
		})
	}
}

// CONTRACT S1: a consumer that stops reading never holds up appenders, and
// still gets every record, in order, when it reads on.
func TestFollowSlowConsumerGetsEverything(t *testing.T) {
	k := memKey("app", "user", "s1")
	store := memstore.New()
	created := memAppend(t, store, memCreated(k, nil))
	var (
		mu  sync.Mutex
		all []*eventlog.Record
	)
	const total = 1500
	appendN := func(from, to int) error {
		for seq := from; seq <= to; seq++ {
			res, err := store.Append(context.Background(), memAppended(k, uint64(seq), "e"+strconv.Itoa(seq), nil))
			if err != nil {
				return err
			}
			mu.Lock()
			all = append(all, res.Record)
			mu.Unlock()
		}
		return nil
	}
	require.NoError(t, appendN(1, 10))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The consumer takes one record, then waits, without reading, until
	// the appender has stored every other record.
	appended := make(chan error, 1)
	var got []*eventlog.Record
	for rec, err := range eventlog.Follow(ctx, store, eventlog.SessionScope(k, created.Position), created.Position) {
		require.NoError(t, err)
		got = append(got, rec)
		if len(got) == 1 {
			go func() { appended <- appendN(11, total) }()
			select {
			case err := <-appended:
				require.NoError(t, err, "the appender failed")
			case <-time.After(flWait):
				t.Fatal("the appender was held up by a consumer that does not read")
			}
		}
		if len(got) == total {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	flGapless(t, all, got)
}

// CONTRACT S1 S2: a cursor sees the records of concurrent appenders, in
// position order, with no gaps and no repeats.
func TestFollowConcurrentAppenders(t *testing.T) {
	store := memstore.New()
	const writers, perWriter = 6, 150
	keys := make([]eventlog.SessionKey, writers)
	for i := range keys {
		keys[i] = memKey("app", "u"+strconv.Itoa(i%2), "s"+strconv.Itoa(i))
		memAppend(t, store, memCreated(keys[i], nil))
	}
	scopes := []struct {
		name  string
		scope eventlog.Scope
		count int
	}{
		{"the app", eventlog.Scope{AppName: "app"}, writers * perWriter},
		{"user u1", eventlog.Scope{AppName: "app", UserID: "u1"}, writers / 2 * perWriter},
		{"session s3", eventlog.SessionScope(keys[3], 0), perWriter},
	}
	chans := make([]<-chan flItem, len(scopes))
	for i, sc := range scopes {
		chans[i], _ = flStart(t, store, sc.scope, eventlog.Position(writers))
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for _, k := range keys {
		wg.Go(func() {
			for seq := uint64(1); seq <= perWriter; seq++ {
				if _, err := store.Append(context.Background(), memAppended(k, seq, fmt.Sprint(seq), nil)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i, sc := range scopes {
		t.Run("a cursor over "+sc.name+" sees every record once, in order", func(t *testing.T) {
			got := flRecords(t, chans[i], sc.count)
			want, _, err := store.Read(context.Background(), sc.scope, eventlog.Position(writers), 1<<20)
			require.NoError(t, err)
			flGapless(t, want, got)
			seqs := map[eventlog.SessionKey]uint64{}
			for _, rec := range got {
				seqs[rec.Key]++
				assert.Equal(t, seqs[rec.Key], rec.Seq, "events of %s out of order", rec.Key)
			}
		})
	}
}

// CONTRACT S3: the iteration ends when its context is cancelled, whether it
// is replaying or waiting, and when the consumer stops.
func TestFollowEnds(t *testing.T) {
	k := memKey("app", "user", "s1")
	setup := func(t *testing.T, events int) (*memstore.Store, *eventlog.Record) {
		store := memstore.New()
		created := memAppend(t, store, memCreated(k, nil))
		for seq := 1; seq <= events; seq++ {
			memAppend(t, store, memAppended(k, uint64(seq), strconv.Itoa(seq), nil))
		}
		return store, created
	}
	scopes := []struct {
		name  string
		scope eventlog.Scope
	}{
		{"a session cursor", eventlog.SessionScope(k, 0)},
		{"a user cursor", eventlog.Scope{AppName: "app", UserID: "user"}},
		{"an app cursor", eventlog.Scope{AppName: "app"}},
		{"a cursor over an app with no records yet", eventlog.Scope{AppName: "empty"}},
	}
	for _, sc := range scopes {
		t.Run(sc.name+" waiting for records ends when its context is cancelled", func(t *testing.T) {
			store, _ := setup(t, 3)
			ch, cancel := flStart(t, store, sc.scope, 1<<40)
			cancel()
			assert.Empty(t, flEnd(t, ch), "nothing is yielded, no error either")
		})
		t.Run(sc.name+" ends when the consumer breaks", func(t *testing.T) {
			store, _ := setup(t, 600)
			if sc.scope.AppName == "empty" {
				memAppend(t, store, memCreated(memKey("empty", "u", "s"), nil))
				memAppend(t, store, memCreated(memKey("empty", "u", "t"), nil))
			}
			n := 0
			for rec, err := range eventlog.Follow(context.Background(), store, sc.scope, 0) {
				require.NoError(t, err)
				require.NotNil(t, rec)
				if n++; n == 2 {
					break
				}
			}
			assert.Equal(t, 2, n)
		})
	}
	t.Run("a cursor replaying a long log ends when its context is cancelled", func(t *testing.T) {
		store, created := setup(t, 1000)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		for _, err := range eventlog.Follow(ctx, store, eventlog.SessionScope(k, created.Position), 0) {
			require.NoError(t, err)
			if n++; n == 300 {
				cancel()
			}
		}
		assert.Less(t, n, 1000, "the cursor stopped reading once cancelled")
	})
	t.Run("a cursor with a context cancelled beforehand yields nothing", func(t *testing.T) {
		store, _ := setup(t, 3)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for rec, err := range eventlog.Follow(ctx, store, eventlog.Scope{AppName: "app"}, 0) {
			t.Fatalf("yielded %v, %v", rec, err)
		}
	})
}

// CONTRACT S3 D2: a session cursor completes, without an error, when its
// session is deleted; a cursor pinned to an incarnation does not follow
// the next one.
func TestFollowEndsWhenSessionIsDeleted(t *testing.T) {
	k := memKey("app", "user", "s1")
	tests := []struct {
		name      string
		stored    int
		pinned    bool
		recreate  bool
		wantCount int
	}{
		{"a live cursor delivers every event, then ends at the deletion", 3, true, false, 3},
		{"a cursor on an empty session ends at its deletion", 0, true, false, 0},
		{"a pinned cursor ends even when the session is created again at once", 2, true, true, 2},
		{"an unpinned cursor follows the incarnation live when it starts, and ends with it", 2, false, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := memstore.New()
			created := memAppend(t, store, memCreated(k, nil))
			var want []*eventlog.Record
			pin := created.Position
			if !tt.pinned {
				pin = 0
			}
			ch, _ := flStart(t, store, eventlog.SessionScope(k, pin), created.Position)
			for seq := 1; seq <= tt.stored; seq++ {
				want = append(want, memAppend(t, store, memAppended(k, uint64(seq), strconv.Itoa(seq), nil)))
			}
			got := flRecords(t, ch, tt.wantCount)
			memAppend(t, store, memDeleted(k))
			if tt.recreate {
				again := memAppend(t, store, memCreated(k, nil))
				memAppend(t, store, memAppended(k, 1, "new", nil))
				require.NotEqual(t, created.Position, again.Position)
			}
			assert.Empty(t, flEnd(t, ch), "the cursor ends without an error or a record of the next incarnation")
			flGapless(t, want, got)
		})
	}
	t.Run("a cursor on a session that does not exist ends at once", func(t *testing.T) {
		store := memstore.New()
		for rec, err := range eventlog.Follow(context.Background(), store, eventlog.SessionScope(k, 0), 0) {
			t.Fatalf("yielded %v, %v", rec, err)
		}
	})
	t.Run("a cursor pinned to a deleted incarnation ends at once", func(t *testing.T) {
		store := memstore.New()
		created := memAppend(t, store, memCreated(k, nil))
		memAppend(t, store, memDeleted(k))
		memAppend(t, store, memCreated(k, nil))
		memAppend(t, store, memAppended(k, 1, "new", nil))
		for rec, err := range eventlog.Follow(context.Background(), store, eventlog.SessionScope(k, created.Position), 0) {
			t.Fatalf("yielded %v, %v", rec, err)
		}
	})
}

// CONTRACT S3: closing the store ends every cursor with ErrClosed.
func TestFollowYieldsErrClosed(t *testing.T) {
	k := memKey("app", "user", "s1")
	scopes := []struct {
		name  string
		scope eventlog.Scope
	}{
		{"a session cursor", eventlog.SessionScope(k, 0)},
		{"a user cursor", eventlog.Scope{AppName: "app", UserID: "user"}},
		{"an app cursor", eventlog.Scope{AppName: "app"}},
	}
	for _, sc := range scopes {
		t.Run(sc.name+" waiting for records yields ErrClosed when the store closes", func(t *testing.T) {
			store := memstore.New()
			memAppend(t, store, memCreated(k, nil))
			rec := memAppend(t, store, memAppended(k, 1, "e1", nil))
			ch, _ := flStart(t, store, sc.scope, 0)
			if !sc.scope.IsSession() {
				flRecords(t, ch, 1) // the creation
			}
			assert.Same(t, rec, flRecords(t, ch, 1)[0])
			require.NoError(t, store.Close())
			rest := flEnd(t, ch)
			require.Len(t, rest, 1)
			assert.Nil(t, rest[0].rec)
			assert.ErrorIs(t, rest[0].err, eventlog.ErrClosed)
		})
		t.Run(sc.name+" over a closed store yields ErrClosed at once", func(t *testing.T) {
			store := memstore.New()
			memAppend(t, store, memCreated(k, nil))
			require.NoError(t, store.Close())
			var errs []error
			for rec, err := range eventlog.Follow(context.Background(), store, sc.scope, 0) {
				assert.Nil(t, rec)
				errs = append(errs, err)
			}
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], eventlog.ErrClosed)
		})
	}
}

// CONTRACT D3 S2: retained-state records are history, not changes: a
// cursor skips them, whether a deletion left them or an import wrote them.
func TestFollowSkipsRetainedState(t *testing.T) {
	store := memstore.New()
	gone := memKey("app", "user", "gone")
	keep := memKey("app", "user", "keep")
	memAppend(t, store, memCreated(gone, map[string]any{"app:a": 1}))
	g1 := memAppend(t, store, memAppended(gone, 1, "g1", map[string]any{"user:b": 2}))
	kc := memAppend(t, store, memCreated(keep, nil))
	d := memAppend(t, store, memDeleted(gone))
	memAppend(t, store, &eventlog.Record{Kind: eventlog.KindStateRetained, Key: memKey("app", "user", ""), State: map[string]any{"app:c": 3}})
	k1 := memAppend(t, store, memAppended(keep, 1, "k1", nil))

	retained := 0
	for _, rec := range memReadAll(t, store, eventlog.Scope{}) {
		if rec.Kind == eventlog.KindStateRetained {
			retained++
		}
	}
	require.Equal(t, 3, retained, "the log holds the retained records the cursor must skip")

	t.Run("a cursor from where the app is served whole yields only the creation, the deletion and the event", func(t *testing.T) {
		ch, _ := flStart(t, store, eventlog.Scope{AppName: "app"}, g1.Position)
		flGapless(t, []*eventlog.Record{kc, d, k1}, flRecords(t, ch, 3))
	})
	t.Run("an import's retained record arriving live is skipped too", func(t *testing.T) {
		ch, _ := flStart(t, store, eventlog.Scope{AppName: "app", UserID: "user"}, g1.Position)
		flGapless(t, []*eventlog.Record{kc, d, k1}, flRecords(t, ch, 3))
		memAppend(t, store, &eventlog.Record{Kind: eventlog.KindStateRetained, Key: memKey("app", "user", ""), State: map[string]any{"user:x": 1}})
		k2 := memAppend(t, store, memAppended(keep, 2, "k2", nil))
		assert.Same(t, k2, flRecords(t, ch, 1)[0])
	})
}

// CONTRACT S2: a follower of an app or a user that is behind records a
// deletion freed is never skipped past them silently: it ends with
// ErrCompacted naming where the scope is served whole, and following on
// from there delivers the rest. A follower that was caught up is not
// affected, nor is one of another user.
func TestFollowBehindADeletionEndsWithErrCompacted(t *testing.T) {
	gone := memKey("app", "u", "gone")
	keep := memKey("app", "u", "keep")
	other := memKey("app", "v", "other")
	setup := func(t *testing.T) (*memstore.Store, *eventlog.Record) {
		store := memstore.New()
		memAppend(t, store, memCreated(keep, nil))
		memAppend(t, store, memCreated(other, nil))
		memAppend(t, store, memCreated(gone, nil))
		last := memAppend(t, store, memAppended(gone, 1, "g1", nil))
		return store, last
	}
	for _, scope := range []eventlog.Scope{{AppName: "app"}, {AppName: "app", UserID: "u"}} {
		t.Run("a "+scope.String()+" follower behind the deletion ends with ErrCompacted, and Served is a restart point", func(t *testing.T) {
			store, last := setup(t)
			d := memAppend(t, store, memDeleted(gone))
			ch, _ := flStart(t, store, scope, 0)
			rest := flEnd(t, ch)
			require.Len(t, rest, 1, "the error and nothing else")
			require.ErrorIs(t, rest[0].err, eventlog.ErrCompacted)
			var ce *eventlog.CompactedError
			require.ErrorAs(t, rest[0].err, &ce)
			assert.Equal(t, last.Position, ce.Served)

			ch, _ = flStart(t, store, scope, ce.Served)
			assert.Same(t, d, flRecords(t, ch, 1)[0])
			k1 := memAppend(t, store, memAppended(keep, 1, "k1", nil))
			assert.Same(t, k1, flRecords(t, ch, 1)[0])
		})
	}
	t.Run("a follower that read the freed records before the deletion goes on", func(t *testing.T) {
		store, last := setup(t)
		ch, _ := flStart(t, store, eventlog.Scope{AppName: "app"}, 0)
		got := flRecords(t, ch, 4)
		require.Same(t, last, got[3])
		// The follower has read past the records the deletion frees.
		d := memAppend(t, store, memDeleted(gone))
		it := flNext(t, ch)
		require.NoError(t, it.err)
		assert.Same(t, d, it.rec)
	})
	t.Run("a follower of another user is not affected", func(t *testing.T) {
		store, _ := setup(t)
		d := memAppend(t, store, memDeleted(gone))
		ch, _ := flStart(t, store, eventlog.Scope{AppName: "app", UserID: "v"}, 0)
		assert.Equal(t, memKey("app", "v", "other"), flRecords(t, ch, 1)[0].Key)
		v1 := memAppend(t, store, memAppended(other, 1, "v1", nil))
		assert.Same(t, v1, flRecords(t, ch, 1)[0])
		assert.Greater(t, v1.Position, d.Position)
	})
}

// CONTRACT S2: an app cursor sees the creations, events and deletions of
// many sessions, written concurrently, in the store's order.
func TestFollowAppSeesManySessions(t *testing.T) {
	store := memstore.New()
	const sessions, events = 12, 30
	ch, _ := flStart(t, store, eventlog.Scope{AppName: "app"}, 0)
	otherApp, _ := flStart(t, store, eventlog.Scope{AppName: "other"}, 0)

	keys := make([]eventlog.SessionKey, sessions)
	for i := range keys {
		keys[i] = memKey("app", "u"+strconv.Itoa(i%3), "s"+strconv.Itoa(i))
	}
	run := func(phase func(k eventlog.SessionKey) error) {
		var wg sync.WaitGroup
		errs := make(chan error, len(keys))
		for _, k := range keys {
			wg.Go(func() {
				if err := phase(k); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}
	ctx := context.Background()
	// Creations and events first; the cursor takes them all before the
	// deletions, which free a session's records (a cursor that has not
	// read them by then would find them gone, CONTRACT D3).
	run(func(k eventlog.SessionKey) error {
		if _, err := store.Append(ctx, memCreated(k, nil)); err != nil {
			return err
		}
		for seq := uint64(1); seq <= events; seq++ {
			if _, err := store.Append(ctx, memAppended(k, seq, strconv.FormatUint(seq, 10), map[string]any{"app:last": k.SessionID})); err != nil {
				return err
			}
		}
		return nil
	})
	got := flRecords(t, ch, sessions*(events+1))
	run(func(k eventlog.SessionKey) error {
		_, err := store.Append(ctx, memDeleted(k))
		return err
	})
	got = append(got, flRecords(t, ch, sessions)...)

	t.Run("positions strictly increase", func(t *testing.T) {
		for i := 1; i < len(got); i++ {
			require.Greater(t, got[i].Position, got[i-1].Position)
		}
	})
	t.Run("each session shows its creation, its events in order, then its deletion", func(t *testing.T) {
		type seen struct {
			created, deleted bool
			seq              uint64
		}
		state := map[eventlog.SessionKey]*seen{}
		for _, rec := range got {
			s := state[rec.Key]
			switch rec.Kind {
			case eventlog.KindSessionCreated:
				require.Nil(t, s, "%s created twice", rec.Key)
				state[rec.Key] = &seen{created: true}
			case eventlog.KindEventAppended:
				require.NotNil(t, s, "%s has an event before its creation", rec.Key)
				require.False(t, s.deleted)
				s.seq++
				require.Equal(t, s.seq, rec.Seq)
			case eventlog.KindSessionDeleted:
				require.NotNil(t, s)
				require.Equal(t, uint64(events), s.seq)
				s.deleted = true
			default:
				t.Fatalf("unexpected %s record", rec.Kind)
			}
		}
		require.Len(t, state, sessions)
		for k, s := range state {
			assert.True(t, s.deleted, "%s was not deleted", k)
		}
	})
	t.Run("a cursor over another app sees none of it", func(t *testing.T) {
		rec := memAppend(t, store, memCreated(memKey("other", "u", "s"), nil))
		assert.Same(t, rec, flRecords(t, otherApp, 1)[0])
	})
}
