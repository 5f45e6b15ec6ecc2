package filestore_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/service"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

var benchTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// benchEvent is an agent's reply with a 3-key delta in three scopes, the
// event of the service package's append benchmarks, or, unless shared, a
// 1-key delta of session state.
func benchEvent(w, i int, shared bool) *service.Event {
	delta := map[string]any{"k": i}
	if shared {
		delta["user:u"], delta["app:a"] = i, i
	}
	return &service.Event{
		ID:        strconv.Itoa(w) + "-" + strconv.Itoa(i),
		Author:    "agent",
		Timestamp: benchTime.Add(time.Duration(i) * time.Millisecond),
		Content:   &genai.Content{Role: genai.RoleModel, Parts: []*genai.Part{{Text: "It is sunny."}}},
		Actions:   service.EventActions{StateDelta: delta},
	}
}

// BenchmarkAppend measures AppendEvent through a file store under each sync
// policy, from 1 and from 16 goroutines, each appending to a session of its
// own (one app, one user). It reports appends per second of wall time and
// the fsyncs per append (group commit makes it less than 1 under "always").
//
// delta=session events write session state only; delta=shared events also
// write app: and user: state, which the store folds while it holds the
// app's lock; the fsync wait comes after that lock is released, so those
// are grouped into one fsync too.
func BenchmarkAppend(b *testing.B) {
	for _, policy := range []filestore.SyncPolicy{filestore.SyncAlways, filestore.SyncInterval, filestore.SyncOS} {
		for _, writers := range []int{1, 16} {
			for _, shared := range []bool{false, true} {
				name := fmt.Sprintf("sync=%s/writers=%d/delta=session", policy, writers)
				if shared {
					name = fmt.Sprintf("sync=%s/writers=%d/delta=shared", policy, writers)
				}
				b.Run(name, func(b *testing.B) { benchAppend(b, policy, writers, shared) })
			}
		}
	}
}

func benchAppend(b *testing.B, policy filestore.SyncPolicy, writers int, shared bool) {
	ctx := context.Background()
	store, err := filestore.Open(ctx, b.TempDir(), filestore.Options{Sync: policy})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	sessions := make([]*service.Session, writers)
	for w := range sessions {
		k := service.SessionKey{AppName: "bench", UserID: "u", SessionID: strconv.Itoa(w)}
		if sessions[w], err = svc.Create(ctx, k, nil); err != nil {
			b.Fatal(err)
		}
	}
	syncs := store.Stats().Syncs
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for w, sess := range sessions {
		wg.Go(func() {
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				if _, err := svc.AppendEvent(ctx, sess, benchEvent(w, i, shared)); err != nil {
					failed.Store(&err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	b.ReportMetric(float64(store.Stats().Syncs-syncs)/float64(b.N), "fsyncs/append")
}

// BenchmarkOpen measures opening a log of 100,000 events in 100 sessions:
// reading, checking and replaying every record.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	store, err := filestore.Open(ctx, dir, filestore.Options{Sync: filestore.SyncOS})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	for s := range 100 {
		sess, err := svc.Create(ctx, service.SessionKey{AppName: "bench", UserID: "u", SessionID: strconv.Itoa(s)}, nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := range 1000 {
			if _, err := svc.AppendEvent(ctx, sess, benchEvent(s, i, true)); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := svc.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := filestore.Open(ctx, dir, filestore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(100_100*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkFork forks a 1,000-event session on a file store whose appends
// wait for their fsync: one batch, one write and one fsync per fork.
//
//	go test -run '^$' -bench Fork -benchtime 100x -count 6 ./filestore/
func BenchmarkFork(b *testing.B) {
	ctx := context.Background()
	store, err := filestore.Open(ctx, b.TempDir(), filestore.Options{Sync: filestore.SyncAlways})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	servicetest.BenchmarkFork(b, svc)
}
