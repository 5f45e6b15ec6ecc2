package adkjson_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// benchSession is a session of n events, each with a text part and a
// one-key state delta, like a plain chat.
func benchSession(n int) *service.Session {
	sess := &service.Session{ID: "s", AppName: "bench", UserID: "u", State: map[string]any{}}
	for i := range n {
		ts := t0.Add(time.Duration(i) * time.Second)
		sess.Events = append(sess.Events, &eventlog.Event{
			ID: fmt.Sprint("e", i), InvocationID: "inv", Author: "agent", Timestamp: ts,
			Content: &genai.Content{Role: "model", Parts: []*genai.Part{{Text: "a reply of a few words"}}},
			Actions: eventlog.EventActions{StateDelta: map[string]any{"turn": float64(i)}},
		})
		sess.State["turn"] = float64(i)
		sess.LastUpdateTime = ts
	}
	return sess
}

func BenchmarkMarshal(b *testing.B) {
	sess := benchSession(100)
	for _, f := range []adkjson.Format{adkjson.FormatGo, adkjson.FormatPython, adkjson.FormatJava} {
		b.Run(f.String()+"/events=100", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := adkjson.Marshal(sess, adkjson.Options{Format: f}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, f := range []adkjson.Format{adkjson.FormatGo, adkjson.FormatPython, adkjson.FormatJava} {
		data, err := adkjson.Marshal(benchSession(100), adkjson.Options{Format: f})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(f.String()+"/events=100", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := adkjson.Unmarshal(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkImportSession includes the dry run into a scratch service that
// checks the document before the real write; BenchmarkServiceImport is the
// real write alone, through the same path, for comparison.
func BenchmarkImportSession(b *testing.B) {
	ctx := context.Background()
	sess := benchSession(100)
	b.ReportAllocs()
	for b.Loop() {
		var svc service.Service
		if _, err := adkjson.ImportSession(ctx, &svc, sess); err != nil {
			b.Fatal(err)
		}
		svc.Close()
	}
}

func BenchmarkServiceImport(b *testing.B) {
	ctx := context.Background()
	sess := benchSession(100)
	records := func(yield func(*eventlog.Record, error) bool) {
		if !yield(&eventlog.Record{Kind: eventlog.KindSessionCreated, Key: sess.Key(), Time: t0}, nil) {
			return
		}
		for i, ev := range sess.Events {
			if !yield(&eventlog.Record{Kind: eventlog.KindEventAppended, Key: sess.Key(), Seq: uint64(i + 1), Time: ev.Timestamp, Event: ev}, nil) {
				return
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		var svc service.Service
		if err := svc.Import(ctx, records); err != nil {
			b.Fatal(err)
		}
		svc.Close()
	}
}

func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	var svc service.Service
	defer svc.Close()
	sess, err := adkjson.ImportSession(ctx, &svc, benchSession(100))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := adkjson.Export(ctx, &svc, sess.Key(), io.Discard, adkjson.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
