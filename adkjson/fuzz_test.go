package adkjson_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// addFixtureSeeds seeds f with every document in testdata, good and bad.
// More seeds, and past findings, are in testdata/fuzz/<FuzzName>.
func addFixtureSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzUnmarshal checks the codec's promises on arbitrary input: decoding
// never panics; whatever decodes encodes in the Go form to a fixed point
// (encode, decode, encode gives the same bytes); and the Python and Java
// forms either refuse a time as out of their range or read back as the
// same session, to the millisecond for Java's event timestamps.
func FuzzUnmarshal(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		sess, err := adkjson.Unmarshal(data)
		if err != nil {
			if !errors.Is(err, service.ErrInvalidArgument) {
				t.Fatalf("decode error is not ErrInvalidArgument: %v", err)
			}
			return
		}
		first, err := adkjson.Marshal(sess, adkjson.Options{})
		if err != nil {
			t.Fatalf("decoded session does not encode: %v\ninput: %q", err, data)
		}
		again, err := adkjson.Unmarshal(first)
		if err != nil {
			t.Fatalf("encoded session does not decode: %v\nencoded: %s", err, first)
		}
		second, err := adkjson.Marshal(again, adkjson.Options{})
		if err != nil {
			t.Fatalf("re-decoded session does not encode: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("encoding is not a fixed point\nfirst:  %s\nsecond: %s", first, second)
		}

		for _, format := range []adkjson.Format{adkjson.FormatPython, adkjson.FormatJava} {
			b, err := adkjson.Marshal(again, adkjson.Options{Format: format})
			if err != nil {
				if !errors.Is(err, service.ErrInvalidArgument) || !strings.Contains(err.Error(), "would read back as") {
					t.Fatalf("%s: encode failed for a reason other than the time range: %v", format, err)
				}
				continue
			}
			back, err := adkjson.Unmarshal(b)
			if err != nil {
				t.Fatalf("%s: encoded session does not decode: %v\nencoded: %s", format, err, b)
			}
			want := again
			if format == adkjson.FormatJava {
				want = withMillisecondEvents(again)
			}
			wantGo, _ := adkjson.Marshal(want, adkjson.Options{})
			backGo, err := adkjson.Marshal(back, adkjson.Options{})
			if err != nil || !bytes.Equal(wantGo, backGo) {
				t.Fatalf("%s: round trip changed the session (%v)\nwant: %s\ngot:  %s", format, err, wantGo, backGo)
			}
		}
	})
}

// withMillisecondEvents is sess with its event timestamps cut to the
// millisecond, as the Java form writes them.
func withMillisecondEvents(sess *service.Session) *service.Session {
	out := *sess
	out.Events = make([]*eventlog.Event, len(sess.Events))
	for i, ev := range sess.Events {
		c := *ev
		c.Timestamp = ev.Timestamp.Truncate(time.Millisecond)
		out.Events[i] = &c
	}
	return &out
}

// FuzzImport checks Import on arbitrary input: it never panics; a rejected
// document changes nothing in the service; an accepted one is stored so
// that the log replays to it (CONTRACT R1), Get shows the document's state
// (without temp: keys) and every event, and it exports again.
func FuzzImport(f *testing.F) {
	addFixtureSeeds(f)
	ctx := context.Background()
	bystander := service.SessionKey{AppName: "bystander app", UserID: "u", SessionID: "s"}
	f.Fuzz(func(t *testing.T, data []byte) {
		var svc service.Service
		defer svc.Close()
		if _, err := svc.Create(ctx, bystander, map[string]any{"app:a": 1.0, "k": "v"}); err != nil {
			t.Fatal(err)
		}
		before := servedOf(t, &svc)

		got, err := adkjson.Import(ctx, &svc, bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, service.ErrInvalidArgument) {
				t.Fatalf("rejection is not ErrInvalidArgument: %v", err)
			}
			if after := servedOf(t, &svc); !reflect.DeepEqual(before, after) {
				t.Fatalf("a rejected import changed the service: %v", err)
			}
			return
		}
		doc, err := adkjson.Unmarshal(data)
		if err != nil {
			t.Fatalf("Import accepted what Unmarshal rejects: %v", err)
		}
		if err := svc.Verify(ctx); err != nil {
			t.Fatal(err)
		}
		if len(got.Events) != len(doc.Events) {
			t.Fatalf("stored %d events of %d", len(got.Events), len(doc.Events))
		}
		for k, v := range doc.State {
			if strings.HasPrefix(k, "temp:") {
				continue
			}
			if g, ok := got.State[k]; !ok || !reflect.DeepEqual(g, v) {
				t.Fatalf("state[%q] is %#v, want %#v", k, g, v)
			}
		}
		var out bytes.Buffer
		if err := adkjson.Export(ctx, &svc, got.Key(), &out, adkjson.Options{}); err != nil {
			t.Fatalf("an imported session does not export: %v", err)
		}
	})
}

// FuzzParseFormat checks that a name either parses to a format whose name
// it is, in some letter case, or is refused.
func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{"go", "Python", "JAVA", "", "rust", "gö"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		format, err := adkjson.ParseFormat(name)
		switch {
		case err != nil && !errors.Is(err, service.ErrInvalidArgument):
			t.Fatalf("refusal is not ErrInvalidArgument: %v", err)
		case err == nil && !strings.EqualFold(format.String(), name):
			t.Fatalf("%q parsed as %s", name, format)
		}
	})
}
