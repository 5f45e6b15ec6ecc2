// Package bench runs the same session workloads against sessionlog and
// against the Go ADK's in-memory session service, and (pg_test.go) against
// sessionlog's PostgreSQL store and the Go ADK's database session service
// on one server, so that the two can be compared number for number. It is
// a module of its own so that users of sessionlog never download the Go
// ADK or gorm.
package bench

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	adksession "google.golang.org/adk/v2/session"
	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

const (
	appName = "app"
	userID  = "u"
	// sessionLength is how many events a session gets before the append
	// workloads move on to a fresh one, deleting the full one on both
	// sides, so that the heap stays bounded and the benchmarks measure
	// appends rather than the garbage collector scanning millions of
	// live events.
	sessionLength = 10_000
)

var baseTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// eventParts is what both services get for event i: the same ID,
// timestamp, author, one text part and a three-key delta (session, user
// and app scope). Every call allocates fresh content and a fresh delta,
// so both sides pay the same for building their input.
type eventParts struct {
	id      string
	ts      time.Time
	author  string
	content *genai.Content
	delta   map[string]any
}

func makeParts(i int) eventParts {
	return eventParts{
		id:      "e" + strconv.Itoa(i),
		ts:      baseTime.Add(time.Duration(i) * time.Millisecond),
		author:  "agent",
		content: &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{{Text: "It is sunny."}}},
		delta:   map[string]any{"k": i, "user:u": i, "app:a": i},
	}
}

func adkEvent(i int) *adksession.Event {
	p := makeParts(i)
	ev := &adksession.Event{
		ID:        p.id,
		Timestamp: p.ts,
		Author:    p.author,
		Actions:   adksession.EventActions{StateDelta: p.delta},
	}
	ev.Content = p.content
	return ev
}

func slEvent(i int) *service.Event {
	p := makeParts(i)
	return &service.Event{
		ID:        p.id,
		Timestamp: p.ts,
		Author:    p.author,
		Content:   p.content,
		Actions:   service.EventActions{StateDelta: p.delta},
	}
}

// target is one side of a comparison: a session service that can create
// a session, append to it and delete it.
type target interface {
	create(ctx context.Context, user, id string) error
	append(ctx context.Context, i int) error
	delete(ctx context.Context, user, id string) error
}

type adkTarget struct {
	svc  adksession.Service
	sess adksession.Session
}

func (t *adkTarget) create(ctx context.Context, user, id string) error {
	resp, err := t.svc.Create(ctx, &adksession.CreateRequest{AppName: appName, UserID: user, SessionID: id})
	if err != nil {
		return err
	}
	t.sess = resp.Session
	return nil
}

func (t *adkTarget) append(ctx context.Context, i int) error {
	return t.svc.AppendEvent(ctx, t.sess, adkEvent(i))
}

func (t *adkTarget) delete(ctx context.Context, user, id string) error {
	t.sess = nil
	return t.svc.Delete(ctx, &adksession.DeleteRequest{AppName: appName, UserID: user, SessionID: id})
}

type slTarget struct {
	svc  *service.Service
	sess *service.Session
}

func (t *slTarget) create(ctx context.Context, user, id string) error {
	sess, err := t.svc.Create(ctx, service.SessionKey{AppName: appName, UserID: user, SessionID: id}, nil)
	t.sess = sess
	return err
}

func (t *slTarget) append(ctx context.Context, i int) error {
	_, err := t.svc.AppendEvent(ctx, t.sess, slEvent(i))
	return err
}

func (t *slTarget) delete(ctx context.Context, user, id string) error {
	t.sess = nil
	return t.svc.Delete(ctx, service.SessionKey{AppName: appName, UserID: user, SessionID: id})
}

func newSL(tb testing.TB) *service.Service {
	svc, err := service.New(context.Background(), service.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close() })
	return svc
}

// floorTarget is the least a session store can do and still be trusted
// with its callers' events: under one mutex it keeps a private deep copy
// of each event (Event.Clone, as CONTRACT A8 requires) in its session's
// slice and writes the delta into a map. No validation, no scopes, no
// idempotency, no log. It is not a service; the append workloads run it
// to show how low a ratio to the ADK any store that copies can go.
type floorTarget struct {
	mu       *sync.Mutex
	sessions map[string][]*service.Event
	state    map[string]any
	id       string
}

func newFloor() *floorTarget {
	return &floorTarget{mu: new(sync.Mutex), sessions: map[string][]*service.Event{}, state: map[string]any{}}
}

func (t *floorTarget) create(_ context.Context, user, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.id = user + "/" + id
	t.sessions[t.id] = nil
	return nil
}

func (t *floorTarget) append(_ context.Context, i int) error {
	ev := slEvent(i).Clone()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sessions[t.id] = append(t.sessions[t.id], ev)
	for k, v := range ev.Actions.StateDelta {
		t.state[k] = v
	}
	return nil
}

func (t *floorTarget) delete(_ context.Context, user, id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.sessions, user+"/"+id)
	return nil
}

// sides makes a fresh target for each service, in a fixed order. The
// append workloads also run the floor.
var sides = []struct {
	name string
	new  func(testing.TB) target
}{
	{"adk", func(testing.TB) target { return &adkTarget{svc: adksession.InMemoryService()} }},
	{"sessionlog", func(tb testing.TB) target { return &slTarget{svc: newSL(tb)} }},
	{"floor", func(testing.TB) target { return newFloor() }},
}

// rotator appends to a run of sessions of sessionLength events each,
// deleting each one when it is full. With b set, deletion and creation
// run with the timer stopped.
type rotator struct {
	t    target
	user string
	pfx  string
	n    int // sessions made so far
	i    int // events in the current session
	b    *testing.B
}

func (r *rotator) next(ctx context.Context) error {
	if r.n == 0 || r.i == sessionLength {
		if r.b != nil {
			r.b.StopTimer()
			defer r.b.StartTimer()
		}
		if r.n > 0 {
			if err := r.t.delete(ctx, r.user, r.sessionID()); err != nil {
				return err
			}
		}
		r.n++
		r.i = 0
		if err := r.t.create(ctx, r.user, r.sessionID()); err != nil {
			return err
		}
	}
	return nil
}

func (r *rotator) sessionID() string { return r.pfx + "-" + strconv.Itoa(r.n) }

func (r *rotator) append(ctx context.Context) error {
	if err := r.next(ctx); err != nil {
		return err
	}
	err := r.t.append(ctx, r.i)
	r.i++
	return err
}

func BenchmarkAppendOne(b *testing.B) {
	ctx := context.Background()
	for _, side := range sides {
		b.Run(side.name, func(b *testing.B) {
			r := &rotator{t: side.new(b), user: userID, pfx: "one", b: b}
			b.ReportAllocs()
			for b.Loop() {
				if err := r.append(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendParallel appends from every goroutine to a session of
// its own, all of one user in one app. RunParallel cannot stop the timer,
// so the rotations (one delete and one create per 10,000 appends) are
// counted on both sides.
func BenchmarkAppendParallel(b *testing.B) {
	ctx := context.Background()
	for _, side := range sides {
		b.Run(side.name, func(b *testing.B) {
			t := side.new(b)
			var g atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				// Each goroutine has its own handle on the shared service.
				var own target
				switch t := t.(type) {
				case *adkTarget:
					own = &adkTarget{svc: t.svc}
				case *slTarget:
					own = &slTarget{svc: t.svc}
				case *floorTarget:
					own = &floorTarget{mu: t.mu, sessions: t.sessions, state: t.state}
				}
				r := &rotator{t: own, user: userID, pfx: "p" + strconv.FormatInt(g.Add(1), 10)}
				for pb.Next() {
					if err := r.append(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// subscribers follows one sessionlog session with n goroutines that only
// count the events they receive.
type subscribers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	counts []atomic.Int64
}

func startSubscribers(svc *service.Service, key service.SessionKey, n int) *subscribers {
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscribers{cancel: cancel, counts: make([]atomic.Int64, n)}
	for j := range n {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for _, err := range svc.Subscribe(ctx, key, 0) {
				if err != nil {
					return
				}
				s.counts[j].Add(1)
			}
		}()
	}
	return s
}

// waitFor returns once every subscriber has received want events.
func (s *subscribers) waitFor(want int64) {
	for j := range s.counts {
		for s.counts[j].Load() < want {
			runtime.Gosched()
		}
	}
}

func (s *subscribers) stop() {
	s.cancel()
	s.wg.Wait()
}

// BenchmarkAppendSubscribers appends to one sessionlog session followed
// by n live subscribers. The timed work includes letting every subscriber
// catch up at the end of each session (and of the run), so the figure is
// the cost of an append delivered to all of them, not just of the write.
func BenchmarkAppendSubscribers(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{0, 1, 10, 100} {
		b.Run("subs="+strconv.Itoa(n), func(b *testing.B) {
			svc := newSL(b)
			var (
				subs *subscribers
				sess *service.Session
				key  service.SessionKey
				made int
				i    int
			)
			open := func() {
				made++
				key = service.SessionKey{AppName: appName, UserID: userID, SessionID: "s-" + strconv.Itoa(made)}
				var err error
				if sess, err = svc.Create(ctx, key, nil); err != nil {
					b.Fatal(err)
				}
				subs = startSubscribers(svc, key, n)
				i = 0
			}
			open()
			b.ReportAllocs()
			for b.Loop() {
				if i == sessionLength {
					subs.waitFor(int64(i))
					b.StopTimer()
					subs.stop()
					if err := svc.Delete(ctx, key); err != nil {
						b.Fatal(err)
					}
					open()
					b.StartTimer()
				}
				if _, err := svc.AppendEvent(ctx, sess, slEvent(i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			subs.waitFor(int64(i))
			b.StopTimer()
			subs.stop()
		})
	}
}

// fill creates session id of user and appends n events to it.
func fill(ctx context.Context, t target, user, id string, n int) error {
	if err := t.create(ctx, user, id); err != nil {
		return err
	}
	for i := range n {
		if err := t.append(ctx, i); err != nil {
			return err
		}
	}
	return nil
}

// getter reads session "g" of userID on one side with a recent-events
// limit (0 for all) and returns how many events came back.
type getter func(ctx context.Context, recent int) (int, error)

// side is one side of a Get workload.
type side struct {
	name string
	get  getter
}

// runGets runs a Get workload on each side: a Get of the last recent
// events (0: all), which must return want of them.
func runGets(b *testing.B, sides []side, recent, want int) {
	ctx := context.Background()
	for _, side := range sides {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := side.get(ctx, recent)
				if err != nil || got != want {
					b.Fatalf("got %d events, %v; want %d", got, err, want)
				}
			}
		})
	}
}

func getters(b *testing.B) []side {
	ctx := context.Background()
	adk := &adkTarget{svc: adksession.InMemoryService()}
	sl := &slTarget{svc: newSL(b)}
	for _, t := range []target{adk, sl} {
		if err := fill(ctx, t, userID, "g", 10_000); err != nil {
			b.Fatal(err)
		}
	}
	return []side{
		{"adk", func(ctx context.Context, recent int) (int, error) {
			resp, err := adk.svc.Get(ctx, &adksession.GetRequest{AppName: appName, UserID: userID, SessionID: "g", NumRecentEvents: recent})
			if err != nil {
				return 0, err
			}
			return resp.Session.Events().Len(), nil
		}},
		{"sessionlog", func(ctx context.Context, recent int) (int, error) {
			sess, err := sl.svc.Get(ctx, service.SessionKey{AppName: appName, UserID: userID, SessionID: "g"}, service.GetOptions{NumRecentEvents: recent})
			if err != nil {
				return 0, err
			}
			return len(sess.Events), nil
		}},
	}
}

func benchGet(b *testing.B, recent, want int) { runGets(b, getters(b), recent, want) }

func BenchmarkGetAll10000(b *testing.B) { benchGet(b, 0, 10_000) }

func BenchmarkGetLast10(b *testing.B) { benchGet(b, 10, 10) }

// BenchmarkList100of10000 lists one user's 100 sessions in an app of 100
// users with 100 sessions each. Every session is created with the same
// three keys, k, user:u and app:a, so each listed session carries a
// three-key merged state on both sides. (The ADK keeps all three in the
// session's own map; sessionlog files them under their scopes and merges
// them back.)
func BenchmarkList100of10000(b *testing.B) {
	ctx := context.Background()
	const listed = "user42"
	b.Run("adk", func(b *testing.B) {
		svc := adksession.InMemoryService()
		for u := range 100 {
			for s := range 100 {
				// The ADK keeps the initial state map it is given, so
				// each session gets a map of its own.
				_, err := svc.Create(ctx, &adksession.CreateRequest{
					AppName: appName, UserID: "user" + strconv.Itoa(u), SessionID: "s" + strconv.Itoa(s),
					State: map[string]any{"k": s, "user:u": u, "app:a": 1},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := svc.List(ctx, &adksession.ListRequest{AppName: appName, UserID: listed})
			if err != nil || len(resp.Sessions) != 100 {
				b.Fatalf("got %v, %v", resp, err)
			}
		}
	})
	b.Run("sessionlog", func(b *testing.B) {
		svc := newSL(b)
		for u := range 100 {
			for s := range 100 {
				key := service.SessionKey{AppName: appName, UserID: "user" + strconv.Itoa(u), SessionID: "s" + strconv.Itoa(s)}
				if _, err := svc.Create(ctx, key, map[string]any{"k": s, "user:u": u, "app:a": 1}); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			page, err := svc.List(ctx, appName, listed, service.ListOptions{PageSize: 100})
			if err != nil || len(page.Sessions) != 100 {
				b.Fatalf("got %v, %v", page, err)
			}
		}
	})
}

// heapGrowth fills t with sessions×perSession events and returns the live
// heap it added. Only the service stays reachable: session handles are
// dropped when their session is full.
func heapGrowth(tb testing.TB, svc any, t target, sessions, perSession int) uint64 {
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for s := range sessions {
		if err := fill(ctx, t, userID, "h"+strconv.Itoa(s), perSession); err != nil {
			tb.Fatal(err)
		}
	}
	switch t := t.(type) {
	case *adkTarget:
		t.sess = nil
	case *slTarget:
		t.sess = nil
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(svc)
	if after.HeapAlloc < before.HeapAlloc {
		// Something else let go of more than the service holds: the
		// difference would wrap around rather than mean anything.
		tb.Fatalf("the heap shrank from %d to %d bytes while the service filled", before.HeapAlloc, after.HeapAlloc)
	}
	return after.HeapAlloc - before.HeapAlloc
}

// TestHeapPerEvent measures the live heap each service holds per stored
// event, over 1,000,000 events in 100 sessions. It is heavy, so it runs
// only with SESSIONLOG_BENCH_HEAP=1.
func TestHeapPerEvent(t *testing.T) {
	if os.Getenv("SESSIONLOG_BENCH_HEAP") != "1" {
		t.Skip("set SESSIONLOG_BENCH_HEAP=1 to run")
	}
	const sessions, perSession = 100, 10_000
	const events = sessions * perSession

	adkSvc := adksession.InMemoryService()
	adkBytes := heapGrowth(t, adkSvc, &adkTarget{svc: adkSvc}, sessions, perSession)

	slSvc, err := service.New(context.Background(), service.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer slSvc.Close()
	slBytes := heapGrowth(t, slSvc, &slTarget{svc: slSvc}, sessions, perSession)

	adkPer := float64(adkBytes) / events
	slPer := float64(slBytes) / events
	t.Logf("adk:        %d bytes live for %d events: %.1f B/event", adkBytes, events, adkPer)
	t.Logf("sessionlog: %d bytes live for %d events: %.1f B/event", slBytes, events, slPer)
	t.Logf("ratio sessionlog/adk: %.2f", slPer/adkPer)
}

// BenchmarkRebuild1M folds a log of 1,000,000 events (100 sessions of
// 10,000) from scratch. The store is built once per process, outside the
// timer. Run it with -benchtime=3x.
func BenchmarkRebuild1M(b *testing.B) {
	store := rebuildStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := projection.Rebuild(ctx, store); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	rebuildOnce sync.Once
	rebuildLog  *memstore.Store
	rebuildErr  error
)

func rebuildStore(b *testing.B) *memstore.Store {
	b.StopTimer()
	defer b.StartTimer()
	rebuildOnce.Do(func() {
		ctx := context.Background()
		store := memstore.New()
		svc, err := service.New(ctx, service.Options{Store: store})
		if err != nil {
			rebuildErr = err
			return
		}
		t := &slTarget{svc: svc}
		for s := range 100 {
			if err := fill(ctx, t, userID, fmt.Sprint("r", s), sessionLength); err != nil {
				rebuildErr = err
				return
			}
		}
		// The service is dropped but not closed: closing it would close
		// the store.
		rebuildLog = store
	})
	if rebuildErr != nil {
		b.Fatal(rebuildErr)
	}
	return rebuildLog
}
