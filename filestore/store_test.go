package filestore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/internal/leaktest"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
	"github.com/sessionlog/sessionlog/service/servicetest"
)

// TestMain fails the package's tests if any goroutine outlives them: the
// interval syncer must end on Close.
func TestMain(m *testing.M) {
	if crashChild() {
		return
	}
	goleak.VerifyTestMain(m, leaktest.Options()...)
}

// TestConformance runs the conformance suite against the file store, under
// each sync policy.
func TestConformance(t *testing.T) {
	for _, policy := range []filestore.SyncPolicy{filestore.SyncOS, filestore.SyncInterval, filestore.SyncAlways} {
		t.Run(policy.String(), func(t *testing.T) {
			servicetest.Run(t, func(t *testing.T) eventlog.Store {
				return open(t, t.TempDir(), filestore.Options{Sync: policy})
			})
		})
	}
}

// open opens a store and fails the test on error. The test closes it.
func open(t testing.TB, dir string, opts filestore.Options) *filestore.Store {
	t.Helper()
	s, err := filestore.Open(context.Background(), dir, opts)
	require.NoError(t, err, "open %s", dir)
	return s
}

// newService opens a service over the log in dir, closed when the test ends.
func newService(t testing.TB, dir string, opts filestore.Options) *service.Service {
	t.Helper()
	svc, err := service.New(context.Background(), service.Options{Store: open(t, dir, opts)})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	return svc
}

// history writes a bit of everything: creations with app:, user:, temp:
// and session state, events with deltas and Removed, a deletion and a
// re-creation under the same key, in two apps.
func history(t testing.TB, svc *service.Service) {
	t.Helper()
	ctx := context.Background()
	for _, app := range []string{"weather", "news"} {
		for i := range 3 {
			k := service.SessionKey{AppName: app, UserID: fmt.Sprint("u", i%2), SessionID: fmt.Sprint("s", i)}
			sess, err := svc.Create(ctx, k, map[string]any{"app:model": "m" + app, "user:lang": "en", "temp:x": 1, "n": i})
			require.NoError(t, err)
			for j := range 4 {
				_, err := svc.AppendEvent(ctx, sess, &service.Event{Author: "agent", Actions: service.EventActions{
					StateDelta: map[string]any{"n": j, "user:seen": j, "app:hits": i*10 + j, "temp:t": true, "gone": "soon"}}})
				require.NoError(t, err)
				_, err = svc.AppendEvent(ctx, sess, &service.Event{Author: "user",
					Actions: service.EventActions{StateDelta: map[string]any{"gone": service.Removed}}})
				require.NoError(t, err)
			}
		}
		k := service.SessionKey{AppName: app, UserID: "u1", SessionID: "s1"}
		require.NoError(t, svc.Delete(ctx, k))
		sess, err := svc.Create(ctx, k, map[string]any{"again": true})
		require.NoError(t, err)
		_, err = svc.AppendEvent(ctx, sess, &service.Event{Author: "agent",
			Actions: service.EventActions{StateDelta: map[string]any{"app:hits": -1}}})
		require.NoError(t, err)
	}
}

// exportJSON is the whole log as JSON lines.
func exportJSON(t testing.TB, svc *service.Service) []string {
	t.Helper()
	var out []string
	for rec, err := range svc.Export(context.Background()) {
		require.NoError(t, err)
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		out = append(out, string(b))
	}
	return out
}

// rebuilt is the state a rebuild of the store's log gives, as JSON, so
// that values compare the same however they were read. It checks first
// that the store serves that state.
func rebuilt(t testing.TB, store eventlog.Store) string {
	t.Helper()
	require.NoError(t, projection.Verify(context.Background(), store), "the store serves another state than a rebuild")
	st, err := projection.Rebuild(context.Background(), store)
	require.NoError(t, err)
	type session struct {
		State   map[string]any
		Version uint64
		Time    time.Time
		Created eventlog.Position
	}
	type app struct {
		State    map[string]any
		Users    map[string]map[string]any
		Sessions map[string]session
	}
	apps := map[string]app{}
	for name, a := range st.Apps {
		out := app{State: a.State.Values(), Users: map[string]map[string]any{}, Sessions: map[string]session{}}
		for u, sh := range a.Users {
			out.Users[u] = sh.Values()
		}
		for k, ss := range a.Sessions {
			out.Sessions[k.String()] = session{ss.State, ss.Version, ss.LastUpdateTime, ss.Created}
		}
		apps[name] = out
	}
	b, err := json.Marshal(apps)
	require.NoError(t, err)
	return string(b)
}

// CONTRACT R1 R2: a reopened directory holds every record at its position,
// rebuilds to the same state, and takes new appends after the old ones.
func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	for _, policy := range []filestore.SyncPolicy{filestore.SyncAlways, filestore.SyncInterval, filestore.SyncOS} {
		t.Run("under sync policy "+policy.String(), func(t *testing.T) {
			dir := t.TempDir()
			store := open(t, dir, filestore.Options{Sync: policy})
			svc, err := service.New(ctx, service.Options{Store: store})
			require.NoError(t, err)
			history(t, svc)
			before := exportJSON(t, svc)
			state := rebuilt(t, store)
			require.NoError(t, svc.Close())

			store = open(t, dir, filestore.Options{Sync: policy})
			again, err := service.New(ctx, service.Options{Store: store})
			require.NoError(t, err)
			defer again.Close()
			require.Equal(t, before, exportJSON(t, again), "the log differs after reopening")
			require.Equal(t, state, rebuilt(t, store), "the state differs after reopening")
			require.Equal(t, 2*(3*9+3), store.Report().Records,
				"every record written was replayed: in each of 2 apps, 3 sessions of 9 records, a deletion, a creation and an event")

			k := service.SessionKey{AppName: "news", UserID: "u0", SessionID: "s0"}
			sess, err := again.Get(ctx, k, service.GetOptions{})
			require.NoError(t, err)
			require.Equal(t, uint64(8), sess.Version)
			_, err = again.AppendEvent(ctx, sess, &service.Event{Author: "agent"})
			require.NoError(t, err)
			last := again.Export(ctx)
			var positions []eventlog.Position
			for rec, err := range last {
				require.NoError(t, err)
				positions = append(positions, rec.Position)
			}
			require.Greater(t, positions[len(positions)-1], positions[len(positions)-2], "a new append follows the replayed positions")
		})
	}
}

// CONTRACT S1 S2: positions survive a restart, so a subscriber resumes from
// the last position it saw; and a follower behind records a deletion freed
// is told the same first served position before and after the restart.
func TestSubscriberResumesAfterRestart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	svc := newService(t, dir, filestore.Options{})
	history(t, svc)
	served := func(svc *service.Service) eventlog.Position {
		t.Helper()
		for _, err := range svc.SubscribeApp(ctx, "weather", 0) {
			var compacted *eventlog.CompactedError
			require.ErrorAs(t, err, &compacted, "a follower from the start is behind the deleted session's records")
			require.Positive(t, compacted.Served)
			return compacted.Served
		}
		t.Fatal("the follower ended without an error")
		return 0
	}
	from := served(svc)
	seen := from
	n := 0
	for rec, err := range svc.SubscribeApp(ctx, "weather", from) {
		require.NoError(t, err)
		require.Greater(t, rec.Position, seen)
		seen = rec.Position
		if n++; n == 10 {
			break
		}
	}
	require.NoError(t, svc.Close())

	again := newService(t, dir, filestore.Options{})
	require.Equal(t, from, served(again), "the first served position changed in the restart")
	var want []eventlog.Position
	for rec, err := range again.Export(ctx) {
		require.NoError(t, err)
		if rec.Key.AppName == "weather" && rec.Position > seen && rec.Kind != eventlog.KindStateRetained {
			want = append(want, rec.Position)
		}
	}
	var got []eventlog.Position
	for rec, err := range again.SubscribeApp(ctx, "weather", seen) {
		require.NoError(t, err)
		if got = append(got, rec.Position); len(got) == len(want) {
			break
		}
	}
	require.Equal(t, want, got)
}

// CONTRACT B1: a value JSON cannot hold is rejected before anything is
// written.
func TestUnencodableValueWritesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := open(t, dir, filestore.Options{})
	defer store.Close()
	k := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: k})
	require.NoError(t, err)
	size := fileSize(t, dir)
	for name, v := range map[string]any{"a NaN": math.NaN(), "an infinity": math.Inf(1), "a channel": make(chan int), "a function": func() {}} {
		t.Run(name+" in a state delta is ErrInvalidArgument and stores nothing", func(t *testing.T) {
			_, err := store.Append(ctx, &eventlog.Record{Kind: eventlog.KindEventAppended, Key: k, Seq: 1,
				Event: &eventlog.Event{ID: "e", Actions: eventlog.EventActions{StateDelta: map[string]any{"v": v}}}})
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
			require.Contains(t, err.Error(), "JSON")
			view, err := store.Load(ctx, k, eventlog.LoadOptions{})
			require.NoError(t, err)
			require.Zero(t, view.Version)
			require.Equal(t, size, fileSize(t, dir))
		})
	}
}

func fileSize(t testing.TB, dir string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(dir, filestore.LogFile))
	require.NoError(t, err)
	return info.Size()
}

// writeLog makes a closed log in a new directory holding history, and
// returns the directory and the file's bytes.
func writeLog(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	svc, err := service.New(context.Background(), service.Options{Store: open(t, dir, filestore.Options{Sync: filestore.SyncOS})})
	require.NoError(t, err)
	history(t, svc)
	require.NoError(t, svc.Close())
	b, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
	require.NoError(t, err)
	return dir, b
}

func writeFile(t *testing.T, dir string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, filestore.LogFile), b, 0o644))
}

// CONTRACT R1: a crash in the middle of a write leaves a torn last record;
// Open cuts it off, reports it, and keeps every whole record.
func TestTornLastRecordIsCutOffAndReported(t *testing.T) {
	dir, whole := writeLog(t)
	lines := bytes.SplitAfter(whole, []byte("\n"))
	last := lines[len(lines)-2] // the last record's line (the final split is empty)
	for _, cut := range []int{1, 10, 18, 40, len(last) - 1} {
		t.Run(fmt.Sprintf("a last record cut after %d bytes is cut off", cut), func(t *testing.T) {
			torn := append(bytes.Clone(whole[:len(whole)-len(last)]), last[:cut]...)
			writeFile(t, dir, torn)
			var logged bytes.Buffer
			store := open(t, dir, filestore.Options{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
			rep := store.Report()
			require.Equal(t, int64(cut), rep.Torn)
			require.Equal(t, int64(len(whole)-len(last)), rep.Size)
			require.Contains(t, logged.String(), "torn last record")
			require.Contains(t, logged.String(), fmt.Sprintf("offset=%d", rep.Size))
			require.NoError(t, store.Close())
			after, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
			require.NoError(t, err)
			require.Equal(t, whole[:len(whole)-len(last)], after, "only the torn record was cut off")
		})
	}

	t.Run("a read-only open skips a torn record and leaves the file as it is", func(t *testing.T) {
		torn := append(bytes.Clone(whole), []byte("0000")...)
		writeFile(t, dir, torn)
		store := open(t, dir, filestore.Options{ReadOnly: true})
		require.Equal(t, int64(4), store.Report().Torn)
		require.NoError(t, store.Close())
		after, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
		require.NoError(t, err)
		require.Equal(t, torn, after)
	})
}

// CONTRACT R1 B1: damage anywhere but in a torn last record is ErrCorrupt
// naming the file and the offset, and changes nothing.
func TestDamageIsAnErrorNamingTheFileAndOffset(t *testing.T) {
	dir, whole := writeLog(t)
	lines := bytes.SplitAfter(whole, []byte("\n"))
	third := int64(len(lines[0]) + len(lines[1]) + len(lines[2])) // where the 3rd record's line starts
	flip := func(at int64, bit byte) []byte {
		b := bytes.Clone(whole)
		b[at] ^= bit
		return b
	}
	cases := []struct {
		name string
		file []byte
		at   int64
		want string
	}{
		{"a flipped bit in a record's JSON", flip(third+40, 0x01), third, "checksum mismatch"},
		{"a changed digit in a record's checksum", retype(whole, third+12), third, "checksum mismatch"},
		{"a damaged length", retype(whole, third+7), third, "does not end with a newline"},
		{"a length that runs past the end", retype(whole, third+2), third, "runs past the end of the file"},
		{"a garbled frame", flip(third+8, 0x40), third, "is not a record's length and checksum"},
		{"a missing newline between records", bytes.Replace(whole, lines[3], lines[3][:len(lines[3])-1], 1), third, "newline"},
		{"a damaged last record that ends with a newline", flip(int64(len(whole))-5, 0x01), int64(len(whole) - len(lines[len(lines)-2])), "checksum mismatch"},
		{"a file cut inside a record followed by more records", append(bytes.Clone(whole[:third+30]), whole[third+int64(len(lines[3])):]...), third, ""},
	}
	for _, c := range cases {
		t.Run(c.name+" is ErrCorrupt and changes nothing", func(t *testing.T) {
			writeFile(t, dir, c.file)
			for _, opts := range []filestore.Options{{}, {ReadOnly: true}} {
				_, err := filestore.Open(context.Background(), dir, opts)
				require.ErrorIs(t, err, filestore.ErrCorrupt)
				require.Contains(t, err.Error(), filepath.Join(dir, filestore.LogFile))
				require.Contains(t, err.Error(), fmt.Sprintf("offset %d", c.at))
				require.Contains(t, err.Error(), c.want)
			}
			_, err := filestore.Verify(context.Background(), dir)
			require.ErrorIs(t, err, filestore.ErrCorrupt)
			after, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
			require.NoError(t, err)
			require.Equal(t, c.file, after)
		})
	}
}

// retype changes the hex digit at b[at] to another digit.
func retype(b []byte, at int64) []byte {
	b = bytes.Clone(b)
	if b[at] == 'f' {
		b[at] = 'e'
	} else {
		b[at] = 'f'
	}
	return b
}

// CONTRACT A3 R1: a record with a good checksum that cannot follow the
// records before it (a sequence gap, a position out of order) is damage too.
func TestRecordsThatCannotFollowAreDamage(t *testing.T) {
	k := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	created := &eventlog.Record{Position: 1, Kind: eventlog.KindSessionCreated, Key: k}
	event := func(pos eventlog.Position, seq uint64, id string) *eventlog.Record {
		return &eventlog.Record{Position: pos, Kind: eventlog.KindEventAppended, Key: k, Seq: seq, Event: &eventlog.Event{ID: id}}
	}
	cases := []struct {
		name string
		recs []*eventlog.Record
		want error
	}{
		{"a sequence gap", []*eventlog.Record{created, event(2, 1, "a"), event(3, 3, "b")}, eventlog.ErrStaleSession},
		{"a position that goes back within an app", []*eventlog.Record{created, event(5, 1, "a"), event(4, 2, "b")}, eventlog.ErrInvalidArgument},
		{"an event before its session", []*eventlog.Record{event(2, 1, "a")}, eventlog.ErrNotFound},
	}
	for _, c := range cases {
		t.Run(c.name+" is ErrCorrupt at the record's offset", func(t *testing.T) {
			dir := t.TempDir()
			b := []byte(fmt.Sprintf("%s %d\n", filestore.Magic, filestore.Version))
			var offsets []int64
			for _, rec := range c.recs {
				offsets = append(offsets, int64(len(b)))
				b = append(b, frame(t, rec)...)
			}
			writeFile(t, dir, b)
			_, err := filestore.Verify(context.Background(), dir)
			require.ErrorIs(t, err, filestore.ErrCorrupt)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), fmt.Sprintf("offset %d", offsets[len(offsets)-1]))
		})
	}
}

// frame is a record's line, as the format describes it.
func frame(t testing.TB, rec *eventlog.Record) []byte {
	t.Helper()
	body, err := json.Marshal(rec)
	require.NoError(t, err)
	return []byte(fmt.Sprintf("%08x %08x %s\n", len(body), crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)), body))
}

// CONTRACT B1: a directory that is not a log, and a log of a newer format,
// are clear errors that write nothing.
func TestNotALog(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		files map[string]string
		want  error
		msg   string
	}{
		{"a directory of other files", map[string]string{"notes.txt": "hello"}, filestore.ErrNotLog, `"notes.txt"`},
		{"a log file without the header", map[string]string{filestore.LogFile: "hello\n"}, filestore.ErrNotLog, "does not start with the line"},
		{"an empty log file", map[string]string{filestore.LogFile: ""}, filestore.ErrNotLog, "does not start with the line"},
		{"a log file with a garbled version", map[string]string{filestore.LogFile: filestore.Magic + " one\n"}, filestore.ErrNotLog, `"one"`},
		{"a log of a newer format version", map[string]string{filestore.LogFile: fmt.Sprintf("%s %d\n", filestore.Magic, filestore.Version+1)}, filestore.ErrVersion, fmt.Sprintf("format version %d", filestore.Version+1)},
	}
	for _, c := range cases {
		t.Run(c.name+" is refused and nothing is written", func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range c.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
			}
			for _, opts := range []filestore.Options{{}, {ReadOnly: true}} {
				_, err := filestore.Open(ctx, dir, opts)
				require.ErrorIs(t, err, c.want)
				require.Contains(t, err.Error(), c.msg)
			}
			_, err := filestore.Verify(ctx, dir)
			require.ErrorIs(t, err, c.want)
			_, err = filestore.Compact(ctx, dir)
			require.ErrorIs(t, err, c.want)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				require.NoError(t, err)
				require.Equal(t, c.files[e.Name()], string(b), "the file %s changed", e.Name())
			}
			require.Len(t, names, len(c.files), "files were added: %v", names)
		})
	}

	t.Run("a read-only open of a directory with no log is ErrNotLog", func(t *testing.T) {
		_, err := filestore.Open(ctx, filepath.Join(t.TempDir(), "missing"), filestore.Options{ReadOnly: true})
		require.ErrorIs(t, err, filestore.ErrNotLog)
	})

	t.Run("bad options are ErrInvalidArgument", func(t *testing.T) {
		for _, opts := range []filestore.Options{{Sync: 9}, {Sync: filestore.SyncInterval, SyncInterval: -1}} {
			_, err := filestore.Open(ctx, t.TempDir(), opts)
			require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		}
		_, err := filestore.Open(ctx, "", filestore.Options{})
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
	})
}

// CONTRACT Z1: a directory has one writer; a second open, in this process
// or another, is ErrLocked until the first closes.
func TestSecondOpenIsLocked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := open(t, dir, filestore.Options{})
	_, err := filestore.Open(ctx, dir, filestore.Options{})
	require.ErrorIs(t, err, filestore.ErrLocked)
	require.Contains(t, err.Error(), filestore.LockFile)
	_, err = filestore.Compact(ctx, dir)
	require.ErrorIs(t, err, filestore.ErrLocked)

	reader := open(t, dir, filestore.Options{ReadOnly: true})
	_, err = reader.Append(ctx, &eventlog.Record{Kind: eventlog.KindSessionCreated, Key: eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}})
	require.ErrorIs(t, err, filestore.ErrReadOnly)
	require.NoError(t, reader.Close())

	require.NoError(t, first.Close())
	require.NoError(t, first.Close(), "closing twice is not an error")
	second := open(t, dir, filestore.Options{})
	require.NoError(t, second.Close())
}

// CONTRACT R1 D3: compaction drops the records of deleted sessions, keeps
// the app and user state they wrote, and the compacted log rebuilds to the
// same state with the same positions.
func TestCompactKeepsTheState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := open(t, dir, filestore.Options{Sync: filestore.SyncOS})
	svc, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	history(t, svc)
	for i := range 20 { // sessions that come and go, writing shared state
		k := service.SessionKey{AppName: "weather", UserID: "u0", SessionID: fmt.Sprint("temp", i)}
		sess, err := svc.Create(ctx, k, nil)
		require.NoError(t, err)
		for j := range 10 {
			_, err := svc.AppendEvent(ctx, sess, &service.Event{Author: "agent", Actions: service.EventActions{
				StateDelta: map[string]any{"own": j, "user:last": i, "app:count": i*10 + j}}})
			require.NoError(t, err)
		}
		require.NoError(t, svc.Delete(ctx, k))
	}
	before := exportJSON(t, svc)
	state := rebuilt(t, store)
	require.NoError(t, svc.Close())
	sizeBefore := fileSize(t, dir)

	c, err := filestore.Compact(ctx, dir)
	require.NoError(t, err)
	require.Equal(t, sizeBefore, c.SizeBefore)
	require.Equal(t, fileSize(t, dir), c.SizeAfter)
	require.Less(t, c.SizeAfter, c.SizeBefore)
	require.Equal(t, len(before), c.RecordsAfter)
	require.Less(t, c.RecordsAfter, c.RecordsBefore)

	store = open(t, dir, filestore.Options{})
	again, err := service.New(ctx, service.Options{Store: store})
	require.NoError(t, err)
	defer again.Close()
	require.Equal(t, before, exportJSON(t, again), "the compacted log differs from the store's")
	require.Equal(t, state, rebuilt(t, store), "the compacted log rebuilds to another state")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.Contains(e.Name(), ".tmp"), "compaction left %s behind", e.Name())
	}
}

// CONTRACT R1: what a crash during creation or compaction leaves behind (a
// temporary file, a lock file without a log) does not stop an open, and is
// cleaned up.
func TestLeftoversOfACrashAreCleanedUp(t *testing.T) {
	ctx := context.Background()
	t.Run("a temporary file beside a log is removed", func(t *testing.T) {
		dir, whole := writeLog(t)
		tmp := filepath.Join(dir, filestore.LogFile+".tmp12345")
		require.NoError(t, os.WriteFile(tmp, []byte("half a compaction"), 0o644))
		store := open(t, dir, filestore.Options{})
		require.NoError(t, store.Close())
		_, err := os.Stat(tmp)
		require.ErrorIs(t, err, os.ErrNotExist)
		require.Equal(t, int64(len(whole)), fileSize(t, dir))
	})
	t.Run("a lock file and a temporary file without a log make a new log", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, filestore.LockFile), nil, 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(dir, filestore.LogFile+".tmp1"), []byte("sessionlog-files"), 0o644))
		store := open(t, dir, filestore.Options{})
		require.Zero(t, store.Report().Records)
		require.NoError(t, store.Close())
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 2, "only the log and the lock file remain")
	})
	t.Run("a cancelled context opens nothing", func(t *testing.T) {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err := filestore.Open(cancelled, t.TempDir(), filestore.Options{})
		require.ErrorIs(t, err, context.Canceled)
	})
}
