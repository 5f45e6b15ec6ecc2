package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/service"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// result is what one run of the command printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

func sessionlog(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// makeStore writes a small store: app "weather" with two users and three
// sessions (one deleted), app "news" with one session. Its log file holds
// 15 records (4 creations, 10 events, a deletion); its export 12 (the
// deleted session leaves 2 records of the app and user state it wrote).
func makeStore(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	store, err := filestore.Open(ctx, dir, filestore.Options{})
	require.NoError(t, err)
	svc, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	defer func() { require.NoError(t, svc.Close()) }()
	add := func(app, user, id string, events int) {
		sess, err := svc.Create(ctx, service.SessionKey{AppName: app, UserID: user, SessionID: id}, map[string]any{"app:v": 1, "user:lang": "en"})
		require.NoError(t, err)
		for i := range events {
			_, err := svc.AppendEvent(ctx, sess, &service.Event{Author: "agent",
				Actions: service.EventActions{StateDelta: map[string]any{"n": i, "user:seen": i}}})
			require.NoError(t, err)
		}
	}
	add("weather", "ada", "s1", 3)
	add("weather", "ada", "s2", 2)
	add("weather", "bob", "s3", 4)
	add("news", "ada", "n1", 1)
	require.NoError(t, svc.Delete(ctx, service.SessionKey{AppName: "weather", UserID: "bob", SessionID: "s3"}))
	return dir
}

func logBytes(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
	require.NoError(t, err)
	return b
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no command prints the usage and fails", nil, 2, "usage: sessionlog <command>"},
		{"an unknown command fails with the usage", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"a command without a store fails", []string{"inspect"}, 2, "-store is required"},
		{"-store and -dir together fail", []string{"inspect", "-dir", "x", "-store", "file:x"}, 2, "-store and -dir both name the store"},
		{"a store of no known kind fails", []string{"inspect", "-store", "mysql://x"}, 2, `-store "mysql://x" is not a store: name it as file:DIR, sqlite:FILE, postgres://..., postgresql://...`},
		{"a store kind without an address fails", []string{"inspect", "-store", "file:"}, 2, "-store file: names no store"},
		{"-schema on a file store fails", []string{"inspect", "-dir", "x", "-schema", "s"}, 2, "-schema names a PostgreSQL schema, and the store is a file store"},
		{"an unknown flag fails", []string{"verify", "-dir", "x", "-zap"}, 2, "flag provided but not defined: -zap"},
		{"a stray argument fails", []string{"compact", "-dir", "x", "extra"}, 2, `unexpected argument "extra"`},
		{"a session without its user fails", []string{"export", "-dir", "x", "-app", "a", "-session", "s"}, 2, "-session names a session of the user -user of the app -app: give all three"},
		{"a user without an app fails", []string{"export", "-dir", "x", "-user", "u"}, 2, "-user names a user of an app: give -app too"},
		{"show without a session fails", []string{"show", "-dir", "x", "-app", "a"}, 2, "-app, -user and -session are required"},
		{"-indent without one session's document fails", []string{"export", "-dir", "x", "-indent"}, 2, "-indent indents one session's ADK session document"},
		{"-indent of records fails", []string{"export", "-dir", "x", "-app", "a", "-user", "u", "-session", "s", "-format", "records", "-indent"}, 2, "-indent indents one session's ADK session document"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sessionlog(t, "", c.args...)
			require.Equal(t, c.code, r.code, "stderr: %s", r.stderr)
			require.Contains(t, r.stderr, c.want)
			require.Empty(t, r.stdout)
		})
	}
	t.Run("a usage error is followed by the command's usage", func(t *testing.T) {
		r := sessionlog(t, "", "inspect")
		require.Contains(t, r.stderr, "usage: sessionlog inspect -store STORE [-app A] [-user U] [-json]")
		require.Contains(t, r.stderr, "  -store store\n")
	})
}

// -h, -help and --help, alone or after any command, print the usage on
// stdout, nothing on stderr, and exit with status 0.
func TestHelp(t *testing.T) {
	for _, h := range []string{"-h", "-help", "--help", "help"} {
		r := sessionlog(t, "", h)
		assert.Equal(t, 0, r.code, h)
		assert.Contains(t, r.stdout, "Commands:", h)
		assert.Empty(t, r.stderr, h)
		for _, c := range commands {
			for _, args := range [][]string{{c.name, h}, {c.name, "-dir", "x", h}} {
				r := sessionlog(t, "", args...)
				assert.Equal(t, 0, r.code, "%v: %s", args, r.stderr)
				assert.Contains(t, r.stdout, "usage: sessionlog "+c.name+" -store STORE", args)
				assert.Contains(t, r.stdout, "  -store store\n", args)
				assert.Contains(t, r.stdout, "  -dir directory\n", args)
				assert.Empty(t, r.stderr, args)
			}
		}
	}
	r := sessionlog(t, "", "export", "--help")
	require.Contains(t, r.stdout, "-session")
	require.Contains(t, r.stdout, "usage: sessionlog export -store STORE [-app A [-user U]] [-o FILE]\n       sessionlog export -store STORE -app A -user U -session S")
}

// CONTRACT L1 D3: inspect counts apps, users, sessions and events, without
// the deleted session.
func TestInspect(t *testing.T) {
	dir := makeStore(t)
	before := logBytes(t, dir)
	r := sessionlog(t, "", "inspect", "-dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{
		"records",
		"2 apps\n",
		`app "news": 1 users, 1 sessions, 1 events, 1 app state keys`,
		`app "weather": 2 users, 2 sessions, 5 events, 1 app state keys`,
		`  user "ada": 2 sessions, 5 events, 2 user state keys`,
		`  user "bob": 0 sessions, 0 events, 2 user state keys`,
	} {
		require.Contains(t, r.stdout, want)
	}
	require.Equal(t, before, logBytes(t, dir), "inspect changed the log")

	r = sessionlog(t, "", "inspect", "-dir", t.TempDir())
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "not a sessionlog log")
}

func decodeLines(t *testing.T, s string) []*eventlog.Record {
	t.Helper()
	var out []*eventlog.Record
	for line := range strings.Lines(s) {
		rec := new(eventlog.Record)
		require.NoError(t, json.Unmarshal([]byte(line), rec), "line %q", line)
		out = append(out, rec)
	}
	return out
}

// CONTRACT R2: export writes every record, or one session's, as JSON lines.
func TestExport(t *testing.T) {
	dir := makeStore(t)
	t.Run("everything is every record of the store in position order", func(t *testing.T) {
		r := sessionlog(t, "", "export", "-dir", dir)
		require.Equal(t, 0, r.code, r.stderr)
		recs := decodeLines(t, r.stdout)
		store, err := filestore.Open(context.Background(), dir, filestore.Options{ReadOnly: true})
		require.NoError(t, err)
		defer store.Close()
		want, _, err := store.Read(context.Background(), eventlog.Scope{}, 0, 1000)
		require.NoError(t, err)
		require.Len(t, recs, len(want))
		for i := range want {
			require.Equal(t, want[i].Position, recs[i].Position)
			require.Equal(t, want[i].Kind, recs[i].Kind)
		}
	})

	t.Run("one session with -format records is its creation and its events", func(t *testing.T) {
		r := sessionlog(t, "", "export", "-dir", dir, "-app", "weather", "-user", "ada", "-session", "s1", "-format", "records")
		require.Equal(t, 0, r.code, r.stderr)
		recs := decodeLines(t, r.stdout)
		require.Len(t, recs, 4)
		require.Equal(t, eventlog.KindSessionCreated, recs[0].Kind)
		for i, rec := range recs[1:] {
			require.Equal(t, uint64(i+1), rec.Seq)
		}
	})

	t.Run("one session is an ADK session document in each runtime's time form", func(t *testing.T) {
		for _, format := range []string{"", "go", "python", "java"} {
			args := []string{"export", "-dir", dir, "-app", "weather", "-user", "ada", "-session", "s1", "-indent"}
			if format != "" {
				args = append(args, "-format", format)
			}
			r := sessionlog(t, "", args...)
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, "\n  \"appName\": \"weather\"", "-indent indents")
			sess, err := adkjson.Unmarshal([]byte(r.stdout))
			require.NoError(t, err, "format %q", format)
			require.Equal(t, service.SessionKey{AppName: "weather", UserID: "ada", SessionID: "s1"}, sess.Key())
			require.Len(t, sess.Events, 3)
			require.Equal(t, map[string]any{"app:v": 1, "user:lang": "en", "user:seen": 1, "n": 2}, sess.State) // CONTRACT V1
		}
		python := sessionlog(t, "", "export", "-dir", dir, "-app", "news", "-user", "ada", "-session", "n1", "-format", "python").stdout
		require.Regexp(t, `"lastUpdateTime":\d+\.?\d*`, python, "Python writes epoch seconds")
	})

	t.Run("a missing or deleted session fails", func(t *testing.T) {
		for _, format := range []string{"records", "go"} {
			r := sessionlog(t, "", "export", "-dir", dir, "-app", "weather", "-user", "bob", "-session", "s3", "-format", format)
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, "not found")
			require.Empty(t, r.stdout)
		}
	})

	t.Run("an unknown format, or a session format without a session, is a usage error", func(t *testing.T) {
		r := sessionlog(t, "", "export", "-dir", dir, "-app", "weather", "-user", "ada", "-session", "s1", "-format", "yaml")
		require.Equal(t, 2, r.code)
		require.Contains(t, r.stderr, `-format "yaml" is not go, python, java or records`)
		r = sessionlog(t, "", "export", "-dir", dir, "-format", "java")
		require.Equal(t, 2, r.code)
		require.Contains(t, r.stderr, "-format java exports one session")
	})

	t.Run("-o writes a file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.jsonl")
		r := sessionlog(t, "", "export", "-dir", dir, "-o", out)
		require.Equal(t, 0, r.code, r.stderr)
		require.Empty(t, r.stdout)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Len(t, decodeLines(t, string(b)), 12)
	})

	t.Run("-o in a missing directory fails", func(t *testing.T) {
		r := sessionlog(t, "", "export", "-dir", dir, "-o", filepath.Join(t.TempDir(), "no", "out.jsonl"))
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stderr, "no such file or directory")
	})
}

// CONTRACT R2: import reads what export wrote into another store, all or
// nothing.
func TestImport(t *testing.T) {
	src := makeStore(t)
	exported := sessionlog(t, "", "export", "-dir", src).stdout
	dst := filepath.Join(t.TempDir(), "copy")

	r := sessionlog(t, exported, "import", "-create", "-dir", dst)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "imported 12 records")
	counts := func(dir string) string {
		out := sessionlog(t, "", "inspect", "-dir", dir).stdout
		return out[strings.Index(out, "\n")+1:] // without the line naming the file
	}
	require.Equal(t, counts(src), counts(dst))

	t.Run("a session exported alone imports into a fresh store", func(t *testing.T) {
		one := sessionlog(t, "", "export", "-dir", src, "-app", "news", "-user", "ada", "-session", "n1", "-format", "records").stdout
		in := filepath.Join(t.TempDir(), "one.jsonl")
		require.NoError(t, os.WriteFile(in, []byte(one), 0o644))
		dir := t.TempDir()
		r := sessionlog(t, "", "import", "-dir", dir, "-i", in)
		require.Equal(t, 0, r.code, r.stderr)
		require.Contains(t, sessionlog(t, "", "inspect", "-dir", dir).stdout, `app "news": 1 users, 1 sessions, 1 events`)
	})

	// Records keep their positions (CONTRACT R2): the copy exports the
	// same lines.
	require.Equal(t, exported, sessionlog(t, "", "export", "-dir", dst).stdout)

	bad := []struct {
		name, input, want string
		alone             string // what it fails with as the only input of a fresh store; "" if it does not
	}{
		{"a line that is not JSON", exported + "{not json\n", "line 13", "line 1"},
		{"a record of an unknown kind", `{"position":1,"kind":"sessionExploded","key":{"appName":"a","userId":"u","id":"s"},"time":"2026-01-01T00:00:00Z"}` + "\n", "sessionExploded", "sessionExploded"},
		{"records into a store that holds records", exported, "the store already holds records (the first at position 1); import into an empty store", ""},
		{"an event of a missing session", `{"position":1,"kind":"eventAppended","key":{"appName":"a","userId":"u","id":"s"},"seq":1,"time":"2026-01-01T00:00:00Z","event":{"id":"e","actions":{}}}` + "\n", "already holds records", "not found"},
	}
	for _, c := range bad {
		t.Run(c.name+" fails and writes nothing", func(t *testing.T) {
			before := logBytes(t, dst)
			r := sessionlog(t, c.input, "import", "-dir", dst)
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, c.want)
			require.Equal(t, before, logBytes(t, dst))

			if c.alone != "" {
				fresh := filepath.Join(t.TempDir(), "fresh")
				r = sessionlog(t, strings.ReplaceAll(c.input, exported, ""), "import", "-create", "-dir", fresh)
				require.Equal(t, 1, r.code)
				require.Contains(t, r.stderr, c.alone)
				_, err := os.Stat(fresh)
				require.ErrorIs(t, err, os.ErrNotExist, "a failed import made the store")
			}
		})
	}

	t.Run("an ADK session document imports into a fresh store and exports the same", func(t *testing.T) {
		for _, format := range []string{"go", "python", "java"} {
			doc := sessionlog(t, "", "export", "-dir", src, "-app", "weather", "-user", "ada", "-session", "s1", "-format", format).stdout
			dir := filepath.Join(t.TempDir(), "adk")
			r := sessionlog(t, doc, "import", "-create", "-dir", dir, "-format", "adk")
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, `imported session "weather"/"ada"/"s1" with 3 events`)
			again := sessionlog(t, "", "export", "-dir", dir, "-app", "weather", "-user", "ada", "-session", "s1", "-format", format).stdout
			if format != "java" { // Java's event times keep whole milliseconds only
				require.JSONEq(t, doc, again, "format %s", format)
			}
		}
		doc := sessionlog(t, "", "export", "-dir", src, "-app", "weather", "-user", "ada", "-session", "s1").stdout
		dir := filepath.Join(t.TempDir(), "adk")
		require.Equal(t, 0, sessionlog(t, doc, "import", "-create", "-dir", dir, "-format", "adk").code)

		r = sessionlog(t, doc, "import", "-dir", dir, "-format", "adk")
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stderr, "already exists")
	})

	t.Run("a bad ADK session document writes nothing", func(t *testing.T) {
		for name, doc := range map[string]string{
			"not JSON":       "{",
			"no app name":    `{"id":"s","userId":"u","state":{},"events":[]}`,
			"a records file": exported,
		} {
			dir := filepath.Join(t.TempDir(), "adk")
			r := sessionlog(t, doc, "import", "-create", "-dir", dir, "-format", "adk")
			require.Equal(t, 1, r.code, name)
			require.Contains(t, r.stderr, "nothing imported", name)
			_, err := os.Stat(dir)
			require.ErrorIs(t, err, os.ErrNotExist, "%s: a failed import made the store", name)
		}
		r := sessionlog(t, "", "import", "-dir", dst, "-format", "xml")
		require.Equal(t, 2, r.code)
		require.Contains(t, r.stderr, `-format "xml" is not records or adk`)
	})

	t.Run("a missing input file fails", func(t *testing.T) {
		r := sessionlog(t, "", "import", "-dir", dst, "-i", filepath.Join(t.TempDir(), "missing.jsonl"))
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stderr, "missing.jsonl")
	})
}

// CONTRACT R1: verify passes a whole log, reports a torn last record, and
// fails on damage naming the offset.
func TestVerify(t *testing.T) {
	dir := makeStore(t)
	whole := logBytes(t, dir)
	r := sessionlog(t, "", "verify", "-dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "ok: ")
	require.Contains(t, r.stdout, "15 records")

	require.NoError(t, os.WriteFile(filepath.Join(dir, filestore.LogFile), append(bytes.Clone(whole), "00000"...), 0o644))
	r = sessionlog(t, "", "verify", "-dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, fmt.Sprintf("a torn last record of 5 bytes at offset %d", len(whole)))

	damaged := bytes.Clone(whole)
	at := bytes.IndexByte(damaged, '\n') + 1 + 30 // inside the first record
	damaged[at] ^= 1
	require.NoError(t, os.WriteFile(filepath.Join(dir, filestore.LogFile), damaged, 0o644))
	r = sessionlog(t, "", "verify", "-dir", dir)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "log is damaged")
	require.Contains(t, r.stderr, fmt.Sprintf("offset %d", bytes.IndexByte(damaged, '\n')+1))
	require.Equal(t, damaged, logBytes(t, dir), "verify changed the log")
}

// CONTRACT R1 D3: compact shrinks the log and keeps what inspect shows; a
// directory in use is refused.
func TestCompact(t *testing.T) {
	dir := makeStore(t)
	before := sessionlog(t, "", "inspect", "-dir", dir).stdout
	r := sessionlog(t, "", "compact", "-dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "compacted")
	require.Contains(t, r.stdout, "15 records")
	require.Contains(t, r.stdout, "now 12 records")
	after := sessionlog(t, "", "inspect", "-dir", dir).stdout
	cut := func(s string) string { return s[strings.Index(s, "\n")+1:] }
	require.Equal(t, cut(before), cut(after))
	assert.Equal(t, 0, sessionlog(t, "", "verify", "-dir", dir).code)

	store, err := filestore.Open(context.Background(), dir, filestore.Options{})
	require.NoError(t, err)
	defer store.Close()
	r = sessionlog(t, "", "compact", "-dir", dir)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "locked")
}

// export -o never writes inside the store's directory: replacing a file
// there could replace the log itself.
func TestExportRefusesAnOutputInsideTheStore(t *testing.T) {
	dir := makeStore(t)
	before := logBytes(t, dir)
	for _, out := range []string{filepath.Join(dir, filestore.LogFile), filepath.Join(dir, "export.jsonl")} {
		r := sessionlog(t, "", "export", "-dir", dir, "-o", out)
		assert.Equal(t, 2, r.code, "%s: %s", out, r.stderr)
		assert.Contains(t, r.stderr, "inside the store's directory")
	}
	// A hard link to the log, outside the directory, is the log too.
	link := filepath.Join(t.TempDir(), "alias.log")
	require.NoError(t, os.Link(filepath.Join(dir, filestore.LogFile), link))
	r := sessionlog(t, "", "export", "-dir", dir, "-o", link)
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "is the store's log")
	assert.Equal(t, before, logBytes(t, dir), "the log is untouched")
	assert.Zero(t, sessionlog(t, "", "verify", "-dir", dir).code)
}

// An import that fails its dry run changes nothing in the directory, not
// even the torn last record an open for writing would cut off.
func TestFailedImportLeavesATornLogAsItIs(t *testing.T) {
	dir := makeStore(t)
	f, err := os.OpenFile(filepath.Join(dir, filestore.LogFile), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("00000040 0000") // a record cut short
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before := logBytes(t, dir)

	bad := `{"position":1,"kind":"eventAppended","key":{"appName":"weather","userId":"ada","id":"missing"},"seq":1,"event":{"id":"e"},"time":"2026-01-01T00:00:00Z"}`
	r := sessionlog(t, bad+"\n", "import", "-dir", dir)
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "nothing imported")
	r = sessionlog(t, `{"id":"s1","appName":"weather","userId":"ada","state":{},"events":[]}`, "import", "-dir", dir, "-format", "adk")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "already exists")
	assert.Equal(t, before, logBytes(t, dir), "the directory is unchanged")
}

// failingWriter refuses every write, as a full disk or a closed pipe does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("no space left on device") }

// A command whose output cannot be written fails, whichever it is.
func TestOutputThatCannotBeWrittenFails(t *testing.T) {
	dir := makeStore(t)
	for _, args := range [][]string{{"inspect", "-dir", dir}, {"verify", "-dir", dir}, {"export", "-dir", dir}} {
		var errOut bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(""), failingWriter{}, &errOut)
		assert.Equal(t, 1, code, "%v", args)
		assert.Contains(t, errOut.String(), "no space left", "%v", args)
	}
}

// A document whose event times go back is refused unless -any-time-order
// says a session's own log is coming back.
func TestImportAnyTimeOrder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	doc := `{"id":"p","appName":"a","userId":"u","state":{},"events":[
		{"id":"e1","author":"agent","timestamp":"2026-01-01T00:00:02Z"},
		{"id":"e2","author":"agent","timestamp":"2026-01-01T00:00:01Z"}]}`
	r := sessionlog(t, doc, "import", "-create", "-dir", dir, "-format", "adk")
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "time order")
	_, err := os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "a refused first import makes no store")
	r = sessionlog(t, doc, "import", "-create", "-dir", dir, "-format", "adk", "-any-time-order")
	assert.Zero(t, r.code, r.stderr)
	assert.Equal(t, 2, sessionlog(t, "", "import", "-dir", dir, "-any-time-order").code, "records need no such flag")
}

// Bad input to import gets a message that names the problem and the fix,
// in the input's terms (no Go type names), writes nothing, and a -dir that
// does not exist makes no store unless -create says so.
func TestImportMessages(t *testing.T) {
	src := makeStore(t)
	records := sessionlog(t, "", "export", "-dir", src).stdout
	doc := sessionlog(t, "", "export", "-dir", src, "-app", "news", "-user", "ada", "-session", "n1").stdout
	missing := filepath.Join(t.TempDir(), "typo")
	cases := []struct {
		name  string
		input string
		args  []string
		code  int
		want  []string
	}{
		{"a directory that does not exist", records, []string{"-dir", missing}, 1,
			[]string{"directory " + missing + " does not exist", "check -dir", "-create"}},
		{"a file as the directory", records, []string{"-dir", filepath.Join(src, filestore.LogFile)}, 1,
			[]string{"is a file, not a store's directory"}},
		{"an input file that does not exist", "", []string{"-dir", t.TempDir(), "-i", filepath.Join(t.TempDir(), "in.jsonl")}, 1,
			[]string{"in.jsonl does not exist", "check -i"}},
		{"garbage as records", "\x00\x01garbage\n", []string{"-dir", t.TempDir()}, 1,
			[]string{"nothing imported", "stdin line 1", "not JSON", "as 'sessionlog export' writes them"}},
		{"a JSON value that is no object", "[1,2]\n", []string{"-dir", t.TempDir()}, 1,
			[]string{"line 1", "not a JSON object"}},
		{"a field of the wrong JSON type", `{"position":"one","kind":"sessionCreated","key":{"appName":"a","userId":"u","id":"s"}}` + "\n", []string{"-dir", t.TempDir()}, 1,
			[]string{"line 1", `field "position" holds a JSON string`}},
		{"an ADK document read as records", doc, []string{"-dir", t.TempDir()}, 1,
			[]string{"an ADK session document, not a record", "-format adk"}},
		{"records read as an ADK document", records, []string{"-dir", t.TempDir(), "-format", "adk"}, 1,
			[]string{"holds records", "-format records"}},
		{"garbage as an ADK document", "garbage", []string{"-dir", t.TempDir(), "-format", "adk"}, 1,
			[]string{"nothing imported", "not JSON"}},
		{"a format that does not exist", records, []string{"-dir", t.TempDir(), "-format", "json"}, 2,
			[]string{`-format "json" is not records or adk`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := sessionlog(t, c.input, append([]string{"import"}, c.args...)...)
			require.Equal(t, c.code, r.code, r.stderr)
			for _, w := range c.want {
				require.Contains(t, r.stderr, w)
			}
			require.NotRegexp(t, `Go (value|struct)|eventlog\.|json\.|\*[a-z]+\.[A-Z]`, r.stderr, "a Go type name in the message")
			if dir := c.args[1]; dir != src {
				entries, _ := os.ReadDir(dir)
				require.Empty(t, entries, "a failed import wrote into %s", dir)
			}
		})
	}
	_, err := os.Stat(missing)
	require.ErrorIs(t, err, os.ErrNotExist, "a mistyped -dir made a store")

	r := sessionlog(t, records, "import", "-dir", missing, "-create")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "imported 12 records")
}

// CONTRACT R1: verify lists every damaged stretch and every session that
// is not whole; salvage writes every record that can be kept into a new
// directory, lists what it lost, never changes the damaged store, and
// refuses a directory that is not empty.
func TestVerifyAndSalvageDamage(t *testing.T) {
	dir := makeStore(t)
	whole := logBytes(t, dir)
	lines := bytes.SplitAfter(whole, []byte("\n"))
	offset := func(n int) int { // where the n-th record's line starts
		off := 0
		for _, l := range lines[:n+1] {
			off += len(l)
		}
		return off
	}
	damaged := bytes.Clone(whole)
	damaged[offset(1)+len(lines[2])-8] ^= 1 // the 2nd record: the 1st event of weather/ada/s1
	damaged[offset(12)+3] ^= 0x40           // the 13th record's frame: news/ada/n1's creation
	require.NoError(t, os.WriteFile(filepath.Join(dir, filestore.LogFile), damaged, 0o644))

	r := sessionlog(t, "", "verify", "-dir", dir)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, fmt.Sprintf("log is damaged: %s at offset %d", filepath.Join(dir, filestore.LogFile), offset(1)))
	for _, want := range []string{
		fmt.Sprintf("damaged bytes at offset %d, %d bytes, between the whole records at positions 1 and 3: checksum mismatch", offset(1), len(lines[2])),
		fmt.Sprintf("damaged bytes at offset %d, %d bytes, between the whole records at positions 12 and 14", offset(12), len(lines[13])),
		`session "weather"/"ada"/"s1" (created at position 1) is not whole: its eventAppended record at position 2 is in damaged bytes`,
		"salvage keeps its records before the loss and deletes it at position 16",
		`session "news"/"ada"/"n1" is not whole: its sessionCreated record at position 13 is in damaged bytes`,
		"none of its records is kept",
		"sessionlog salvage -dir " + dir,
	} {
		require.Contains(t, r.stdout, want)
	}
	require.Equal(t, damaged, logBytes(t, dir), "verify changed the log")

	out := filepath.Join(t.TempDir(), "salvaged")
	r = sessionlog(t, "", "salvage", "-dir", dir, "-o", out)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "kept 10 of 13 whole records, added 1 deletions")
	require.Contains(t, r.stdout, "record at position 3, offset")
	require.Contains(t, r.stdout, "not kept: it follows a lost record of its session \"weather\"/\"ada\"/\"s1\"")
	require.Equal(t, damaged, logBytes(t, dir), "salvage changed the damaged log")
	r = sessionlog(t, "", "verify", "-dir", out)
	require.Equal(t, 0, r.code, r.stderr)
	r = sessionlog(t, "", "inspect", "-dir", out)
	require.Contains(t, r.stdout, `app "weather": 2 users, 1 sessions, 2 events`)
	require.Contains(t, r.stdout, "\n1 apps\n", "app news lost its only session")

	r = sessionlog(t, "", "salvage", "-dir", dir, "-o", out)
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "is not empty")
	r = sessionlog(t, "", "salvage", "-dir", dir)
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "-o is required")
}

// makeRewindStore writes a store with one session "chat/ada/c1", created
// with {"topic": "weather", "app:v": 1}, then three invocations of one
// event each:
//
//	1 inv-1: draft = "a", topic = "news"
//	2 inv-2: draft = "b", extra = true, user:seen = 2
//	3 inv-3: draft = "c"
func makeRewindStore(t *testing.T) (string, service.SessionKey) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	store, err := filestore.Open(ctx, dir, filestore.Options{})
	require.NoError(t, err)
	svc, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	defer func() { require.NoError(t, svc.Close()) }()
	key := service.SessionKey{AppName: "chat", UserID: "ada", SessionID: "c1"}
	sess, err := svc.Create(ctx, key, map[string]any{"topic": "weather", "app:v": 1})
	require.NoError(t, err)
	for i, delta := range []map[string]any{
		{"draft": "a", "topic": "news"},
		{"draft": "b", "extra": true, "user:seen": 2},
		{"draft": "c"},
	} {
		_, err := svc.AppendEvent(ctx, sess, &service.Event{ID: fmt.Sprintf("e%d", i+1), InvocationID: fmt.Sprintf("inv-%d", i+1),
			Author: "agent", Actions: service.EventActions{StateDelta: delta}})
		require.NoError(t, err)
	}
	return dir, key
}

// reopen reads the session from the store in dir, opened anew.
func reopen(t *testing.T, dir string, key service.SessionKey) *service.Session {
	t.Helper()
	ctx := context.Background()
	store, err := filestore.Open(ctx, dir, filestore.Options{ReadOnly: true})
	require.NoError(t, err)
	defer store.Close()
	svc, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	sess, err := svc.Get(ctx, key, service.GetOptions{})
	require.NoError(t, err)
	return sess
}

// CONTRACT T2: rewind appends one rewind event, by invocation or by
// version; the state read from the reopened store is the state at the
// point, app: and user: keys aside, and no event is deleted.
func TestRewind(t *testing.T) {
	t.Run("-before an invocation", func(t *testing.T) {
		dir, key := makeRewindStore(t)
		r := sessionlog(t, "", "rewind", "-dir", dir, "-app", "chat", "-user", "ada", "-session", "c1", "-before", "inv-2")
		require.Equal(t, 0, r.code, r.stderr)
		for _, want := range []string{
			`rewound session "chat"/"ada"/"c1" to just before invocation "inv-2"`,
			"sequence number 4",
			"no event was deleted",
			`restores draft = "a"`,
			"removes extra (it had no value then)",
			"app: and user: state is not rewound",
		} {
			require.Contains(t, r.stdout, want)
		}
		require.NotContains(t, r.stdout, "topic", "a key not written after the point is untouched")
		require.NotContains(t, r.stdout, "user:seen")
		require.NotContains(t, r.stdout, "service.", "plain words, no Go type names")

		sess := reopen(t, dir, key)
		require.Len(t, sess.Events, 4)
		require.Equal(t, uint64(4), sess.Version)
		rw := sess.Events[3]
		require.Equal(t, "inv-2", rw.Actions.RewindBeforeInvocationID)
		require.Contains(t, r.stdout, fmt.Sprintf("the rewind is event %q", rw.ID))
		require.Equal(t, map[string]any{"topic": "news", "draft": "a", "app:v": 1, "user:seen": 2}, sess.State)
	})

	t.Run("-version", func(t *testing.T) {
		dir, key := makeRewindStore(t)
		r := sessionlog(t, "", "rewind", "-dir", dir, "-app", "chat", "-user", "ada", "-session", "c1", "-version", "0")
		require.Equal(t, 0, r.code, r.stderr)
		for _, want := range []string{
			`to just before invocation "inv-1" (just after version 0)`,
			"sequence number 4",
			`restores topic = "weather"`, // set at creation: it keeps its creation value
			"removes draft",
			"removes extra",
		} {
			require.Contains(t, r.stdout, want)
		}
		sess := reopen(t, dir, key)
		require.Len(t, sess.Events, 4)
		require.Equal(t, "inv-1", sess.Events[3].Actions.RewindBeforeInvocationID)
		require.Equal(t, map[string]any{"topic": "weather", "app:v": 1, "user:seen": 2}, sess.State)
	})

	t.Run("usage errors and failures name the problem and write nothing", func(t *testing.T) {
		dir, _ := makeRewindStore(t)
		before := logBytes(t, dir)
		sess := []string{"-dir", dir, "-app", "chat", "-user", "ada", "-session", "c1"}
		cases := []struct {
			name string
			args []string
			code int
			want []string
		}{
			{"no session", []string{"-dir", dir, "-before", "inv-1"}, 2, []string{"-app, -user and -session are required"}},
			{"no point", sess, 2, []string{"name the point to rewind to", "-before INVOCATION", "-version N"}},
			{"both points", append(slices.Clone(sess), "-before", "inv-1", "-version", "1"), 2, []string{"-before and -version both name the point", "give one"}},
			{"a version that is not a number", append(slices.Clone(sess), "-version", "two"), 2, []string{`"two" is not a version`}},
			{"an unknown session", []string{"-dir", dir, "-app", "chat", "-user", "ada", "-session", "nope", "-before", "inv-1"}, 1,
				[]string{`session "chat"/"ada"/"nope"`, "not found", "check -app, -user and -session"}},
			{"an unknown invocation", append(slices.Clone(sess), "-before", "inv-9"), 1, []string{`"inv-9"`, "check -before"}},
			{"a version at the session's", append(slices.Clone(sess), "-version", "3"), 1, []string{"check -version"}},
			{"a missing directory", []string{"-dir", filepath.Join(t.TempDir(), "no"), "-app", "a", "-user", "u", "-session", "s", "-version", "0"}, 1,
				[]string{"does not exist: check -dir"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := sessionlog(t, "", append([]string{"rewind"}, c.args...)...)
				require.Equal(t, c.code, r.code, "stderr: %s", r.stderr)
				for _, want := range c.want {
					require.Contains(t, r.stderr, want)
				}
				require.Empty(t, r.stdout)
			})
		}
		require.Equal(t, before, logBytes(t, dir), "a failed rewind changed the log")
	})

	t.Run("a directory in use is refused", func(t *testing.T) {
		dir, _ := makeRewindStore(t)
		store, err := filestore.Open(context.Background(), dir, filestore.Options{})
		require.NoError(t, err)
		defer store.Close()
		r := sessionlog(t, "", "rewind", "-dir", dir, "-app", "chat", "-user", "ada", "-session", "c1", "-version", "1")
		require.Equal(t, 1, r.code)
		require.Contains(t, r.stderr, "locked")
	})
}

// CONTRACT T1: export -version writes the session as it stood after that
// version: its events up to it and its state then.
func TestExportVersion(t *testing.T) {
	dir, key := makeRewindStore(t)
	one := []string{"export", "-dir", dir, "-app", "chat", "-user", "ada", "-session", "c1"}

	t.Run("an ADK session document", func(t *testing.T) {
		for v, want := range []map[string]any{
			// The file store serves app: and user: state as it was too.
			{"topic": "weather", "app:v": 1},
			{"topic": "news", "draft": "a", "app:v": 1},
			{"topic": "news", "draft": "b", "extra": true, "app:v": 1, "user:seen": 2},
		} {
			r := sessionlog(t, "", append(slices.Clone(one), "-version", fmt.Sprint(v))...)
			require.Equal(t, 0, r.code, r.stderr)
			sess, err := adkjson.Unmarshal([]byte(r.stdout))
			require.NoError(t, err)
			require.Equal(t, key, sess.Key())
			require.Len(t, sess.Events, v, "version %d", v)
			for i, ev := range sess.Events {
				require.Equal(t, fmt.Sprintf("e%d", i+1), ev.ID)
			}
			require.Equal(t, want, sess.State, "version %d", v)
		}
	})

	t.Run("records", func(t *testing.T) {
		r := sessionlog(t, "", append(slices.Clone(one), "-format", "records", "-version", "2")...)
		require.Equal(t, 0, r.code, r.stderr)
		recs := decodeLines(t, r.stdout)
		require.Len(t, recs, 3)
		require.Equal(t, eventlog.KindSessionCreated, recs[0].Kind)
		for i, rec := range recs[1:] {
			require.Equal(t, uint64(i+1), rec.Seq)
			require.Equal(t, fmt.Sprintf("e%d", i+1), rec.Event.ID)
		}
	})

	t.Run("the last version is the whole session", func(t *testing.T) {
		whole := sessionlog(t, "", one...)
		at := sessionlog(t, "", append(slices.Clone(one), "-version", "3")...)
		require.Equal(t, 0, at.code, at.stderr)
		require.Equal(t, whole.stdout, at.stdout)
	})

	t.Run("a version beyond the session's fails and writes nothing", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.json")
		for _, format := range []string{"go", "records"} {
			r := sessionlog(t, "", append(slices.Clone(one), "-format", format, "-version", "4", "-o", out)...)
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, "-version 4")
			require.Contains(t, r.stderr, "beyond the session's version 3")
			require.NoFileExists(t, out)
		}
	})

	t.Run("-version without a session is a usage error", func(t *testing.T) {
		r := sessionlog(t, "", "export", "-dir", dir, "-version", "1")
		require.Equal(t, 2, r.code)
		require.Contains(t, r.stderr, "-version exports one session")
		r = sessionlog(t, "", append(slices.Clone(one), "-version", "-1")...)
		require.Equal(t, 2, r.code)
		require.Contains(t, r.stderr, `"-1" is not a version`)
	})
}
