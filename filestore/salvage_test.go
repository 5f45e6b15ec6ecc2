package filestore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/projection"
)

// original is a whole log and what it holds, for the salvage tests.
type original struct {
	file  []byte
	lines map[eventlog.Position][]byte // each record's line
	// events lists the positions of each session's events, in sequence
	// order, by the position of the session's creation.
	events map[eventlog.Position][]eventlog.Position
}

// wholeLog writes writeRecords' records into a new store and returns its
// log.
func wholeLog(t testing.TB) original {
	t.Helper()
	dir := t.TempDir()
	store := open(t, dir, filestore.Options{Sync: filestore.SyncOS})
	writeRecords(t, store)
	require.NoError(t, store.Close())
	b, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
	require.NoError(t, err)
	o := original{file: b, lines: map[eventlog.Position][]byte{}, events: map[eventlog.Position][]eventlog.Position{}}
	live := map[eventlog.SessionKey]eventlog.Position{}
	for _, line := range bytes.SplitAfter(b[bytes.IndexByte(b, '\n')+1:], []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		rec := decodeLine(t, line)
		o.lines[rec.Position] = line
		switch rec.Kind {
		case eventlog.KindSessionCreated:
			live[rec.Key] = rec.Position
		case eventlog.KindEventAppended:
			c := live[rec.Key]
			o.events[c] = append(o.events[c], rec.Position)
		}
	}
	return o
}

func decodeLine(t testing.TB, line []byte) *eventlog.Record {
	t.Helper()
	rec := new(eventlog.Record)
	require.NoError(t, rec.UnmarshalJSON(line[18:len(line)-1]))
	return rec
}

// header is the first line of every log.
var header = fmt.Sprintf("%s %d\n", filestore.Magic, filestore.Version)

// mutate applies the program ops to the records of a log (the bytes after
// its header): each 4 bytes flip a bit, cut a stretch out, cut the file
// short, or copy a line to another place.
func mutate(body []byte, ops []byte) []byte {
	body = bytes.Clone(body)
	for n := 0; len(ops) >= 4 && n < 8; ops, n = ops[4:], n+1 {
		if len(body) == 0 {
			break
		}
		x, y := int(ops[1])<<8|int(ops[2]), int(ops[3])
		switch ops[0] % 4 {
		case 0:
			body[x%len(body)] ^= 1 << (y % 8)
		case 1:
			from := x % len(body)
			body = append(body[:from], body[min(len(body), from+y+1):]...)
		case 2:
			body = body[:x%len(body)]
		case 3:
			lines := bytes.SplitAfter(body, []byte("\n"))
			line := bytes.Clone(lines[x%len(lines)])
			at := y % len(lines)
			body = bytes.Join(slices.Insert(lines, at, line), nil)
		}
	}
	return body
}

// FuzzSalvage damages a whole log (flipped bits, stretches cut out, a file
// cut short, lines copied elsewhere) and salvages it. The report accounts
// for every byte; every record it keeps is byte for byte its line in the
// original log; every whole line of the original still in the damaged file
// is kept or reported dropped; the new store opens, verifies and serves the
// state of its log; no damaged session is served, and a session it serves
// holds every one of its events whose line survived (CONTRACT R1).
func FuzzSalvage(f *testing.F) {
	o := wholeLog(f)
	body := o.file[len(header):]
	lines := bytes.SplitAfter(body, []byte("\n"))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 40, 1})              // a flipped bit in the first record
	f.Add([]byte{0, 10, 0, 3, 0, 20, 0, 5}) // two flipped bits far apart
	f.Add([]byte{1, 0, 200, 30})            // a stretch cut out
	f.Add([]byte{2, 30, 0, 0})              // the file cut short
	f.Add([]byte{3, 0, 5, 9})               // a line copied elsewhere
	f.Add([]byte{3, 0, 9, 2})               // a line copied before itself
	f.Add([]byte{1, byte(len(lines[0]) >> 8), byte(len(lines[0])), 255, 0, 5, 0, 0})
	f.Add([]byte{0, 0, 8, 6})                                               // a frame that is no longer one
	f.Add([]byte{0, byte(len(lines[1]) >> 8), byte(len(lines[1]) + 20), 2}) // a flip inside the second record

	f.Fuzz(func(t *testing.T, ops []byte) {
		ctx := context.Background()
		damaged := append([]byte(header), mutate(body, ops)...)
		dir, out := t.TempDir(), filepath.Join(t.TempDir(), "salvaged")
		writeFile(t, dir, damaged)

		s, err := filestore.Salvage(ctx, dir, out)
		require.NoError(t, err)
		after, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
		require.NoError(t, err)
		require.Equal(t, damaged, after, "salvage changed the damaged log")
		salvaged, err := os.ReadFile(filepath.Join(out, filestore.LogFile))
		require.NoError(t, err)
		require.Equal(t, s.NewSize, int64(len(salvaged)))

		// Every byte is accounted for: the header, kept lines, damaged
		// stretches, dropped lines and a torn last record.
		type span struct{ off, n int64 }
		spans := []span{{0, int64(len(header))}}
		kept := map[int64]bool{}
		for _, k := range s.Kept {
			if k.Offset < 0 {
				continue
			}
			kept[k.Offset] = true
			spans = append(spans, span{k.Offset, k.Length})
			line := damaged[k.Offset : k.Offset+k.Length]
			require.Equal(t, line, salvaged[k.NewOffset:k.NewOffset+k.Length], "a kept line differs from the damaged log's")
			require.Equal(t, o.lines[k.Position], line, "a kept line at position %d differs from the original's", k.Position)
		}
		dropped := map[int64]eventlog.Position{}
		for _, d := range s.Damage {
			spans = append(spans, span{d.Offset, d.Length})
			if d.Position != 0 {
				dropped[d.Offset] = d.Position
			}
		}
		if s.Torn > 0 {
			spans = append(spans, span{s.Size, s.Torn})
		}
		slices.SortFunc(spans, func(a, b span) int { return int(a.off - b.off) })
		end := int64(0)
		for _, sp := range spans {
			require.Equal(t, end, sp.off, "the report skips or doubles bytes at offset %d", end)
			end += sp.n
		}
		require.Equal(t, int64(len(damaged)), end)

		// Every original line still whole in the damaged file is kept or
		// reported dropped.
		for pos, line := range o.lines {
			for from := 0; ; {
				i := bytes.Index(damaged[from:], line)
				if i < 0 {
					break
				}
				at := int64(from + i)
				if !kept[at] {
					require.Equal(t, pos, dropped[at], "the whole line of position %d at offset %d is neither kept nor reported", pos, at)
				}
				from += i + 1
			}
		}

		// The new store opens, verifies and serves its log's state.
		rep, err := filestore.Verify(ctx, out)
		require.NoError(t, err)
		require.Empty(t, rep.Damage)
		store := open(t, out, filestore.Options{ReadOnly: true})
		defer store.Close()
		require.NoError(t, projection.Verify(ctx, store))

		// A damaged session is not served; a served one holds every event
		// of the original whose line survived, in order, with no gap.
		for _, d := range s.Sessions {
			if d.Created == 0 {
				continue
			}
			v, err := store.Load(ctx, d.Key, eventlog.LoadOptions{NoEvents: true})
			if err == nil {
				require.NotEqual(t, d.Created, v.Created, "damaged session %s is served", d.Key)
			} else {
				require.ErrorIs(t, err, eventlog.ErrNotFound)
			}
		}
		for _, app := range []string{"weather", "news"} {
			views, err := store.List(ctx, app, "", eventlog.ListOptions{Limit: 1000})
			require.NoError(t, err)
			for _, v := range views {
				recs, _, err := store.Read(ctx, eventlog.SessionScope(v.Key, v.Created), v.Created, 1000)
				require.NoError(t, err)
				want := o.events[v.Created]
				require.LessOrEqual(t, len(recs), len(want), "session %s", v.Key)
				for i, rec := range recs {
					require.Equal(t, want[i], rec.Position, "session %s serves another event at sequence %d", v.Key, i+1)
				}
				for _, pos := range want[len(recs):] {
					require.False(t, bytes.Contains(damaged, o.lines[pos]),
						"session %s is served without its event at position %d, whose line is whole", v.Key, pos)
				}
			}
		}
	})
}

// lineAt returns the offset and length of the n-th record line of a log.
func lineAt(file []byte, n int) (int64, int64) {
	off := bytes.IndexByte(file, '\n') + 1
	for range n {
		off += bytes.IndexByte(file[off:], '\n') + 1
	}
	return int64(off), int64(bytes.IndexByte(file[off:], '\n') + 1)
}

// CONTRACT R1: verify reads past damage and reports every damaged stretch,
// with the positions of the whole records around it, and changes nothing.
func TestVerifyReportsEveryDamagedStretch(t *testing.T) {
	o := wholeLog(t)
	posOf := func(n int) eventlog.Position {
		off, l := lineAt(o.file, n)
		return decodeLine(t, o.file[off:off+l]).Position
	}
	flip := func(b []byte, n int, at int64) []byte {
		off, _ := lineAt(o.file, n)
		b = bytes.Clone(b)
		b[off+at] ^= 1
		return b
	}
	off3, len3 := lineAt(o.file, 3)
	off9, len9 := lineAt(o.file, 9)
	off20, len20 := lineAt(o.file, 20)
	off21, len21 := lineAt(o.file, 21)
	cases := []struct {
		name string
		file []byte
		// want lists the damaged bytes and the copies; the other
		// stretches are whole records of the sessions the damage hit.
		want []filestore.Damage
	}{
		{"two flipped bits in two records", flip(flip(o.file, 3, 150), 20, 150), []filestore.Damage{
			{Offset: off3, Length: len3, After: posOf(2), Before: posOf(4), Partial: []eventlog.Position{posOf(3)}},
			{Offset: off20, Length: len20, After: posOf(19), Before: posOf(21), Partial: []eventlog.Position{posOf(20)}},
		}},
		{"a damaged frame and a line copied to the end", append(flip(o.file, 9, 3), o.file[off3:off3+len3]...), []filestore.Damage{
			{Offset: off9, Length: len9, After: posOf(8), Before: posOf(10), Partial: []eventlog.Position{posOf(9)}},
			{Offset: int64(len(o.file)), Length: len3, After: posOf(len(o.lines) - 1), Position: posOf(3)},
		}},
		{"a stretch cut out across two lines", append(bytes.Clone(o.file[:off20+120]), o.file[off21+40:]...), []filestore.Damage{
			{Offset: off20, Length: 120 + len21 - 40, After: posOf(19), Before: posOf(22), Partial: []eventlog.Position{posOf(20)}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, c.file)
			rep, err := filestore.Verify(context.Background(), dir)
			require.ErrorIs(t, err, filestore.ErrCorrupt)
			require.Contains(t, err.Error(), fmt.Sprintf("offset %d", c.want[0].Offset))
			require.Contains(t, err.Error(), fmt.Sprintf("(and %d more)", len(rep.Damage)-1))
			require.Contains(t, err.Error(), "sessionlog salvage")
			var damaged []filestore.Damage
			for _, d := range rep.Damage {
				require.NotEmpty(t, d.Problem)
				if d.Position == 0 || strings.HasPrefix(d.Problem, "a copy of the line") {
					damaged = append(damaged, d)
					continue
				}
				// a record after a gap in its session's sequence
				require.Regexp(t, "lost record of its session|stale session", d.Problem, "a whole record dropped for no reason")
			}
			require.NotEmpty(t, rep.Sessions, "no session is reported damaged")
			require.Len(t, damaged, len(c.want))
			for i := range damaged {
				got := damaged[i]
				require.Equal(t, c.want[i].Offset, got.Offset, "stretch %d", i)
				require.Equal(t, c.want[i].Length, got.Length, "stretch %d", i)
				require.Equal(t, c.want[i].After, got.After, "stretch %d", i)
				require.Equal(t, c.want[i].Before, got.Before, "stretch %d", i)
				require.Equal(t, c.want[i].Position, got.Position, "stretch %d", i)
				require.Equal(t, c.want[i].Partial, got.Partial, "stretch %d", i)
			}
			after, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
			require.NoError(t, err)
			require.Equal(t, c.file, after)
		})
	}
}

// CONTRACT R1 D3: salvage keeps a session whose record is lost up to the
// loss and deletes it; drops the records of a session whose creation is
// lost; deletes a session whose deletion is lost before its key is created
// again; never changes the damaged log, and writes only a new or empty
// directory.
func TestSalvageNeverServesADamagedSession(t *testing.T) {
	ctx := context.Background()
	k := func(s string) eventlog.SessionKey {
		return eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: s}
	}
	created := func(pos eventlog.Position, s string) *eventlog.Record {
		return &eventlog.Record{Position: pos, Kind: eventlog.KindSessionCreated, Key: k(s), Time: verifyTime}
	}
	event := func(pos eventlog.Position, s string, seq uint64, delta map[string]any) *eventlog.Record {
		return &eventlog.Record{Position: pos, Kind: eventlog.KindEventAppended, Key: k(s), Seq: seq, Time: verifyTime,
			Event: &eventlog.Event{ID: fmt.Sprint("e", pos), Timestamp: verifyTime, Actions: eventlog.EventActions{StateDelta: delta}}}
	}
	deleted := func(pos eventlog.Position, s string) *eventlog.Record {
		return &eventlog.Record{Position: pos, Kind: eventlog.KindSessionDeleted, Key: k(s), Time: verifyTime}
	}
	recs := []*eventlog.Record{
		created(1, "gap"), event(2, "gap", 1, map[string]any{"app:first": 1}), event(3, "gap", 2, nil), event(4, "gap", 3, map[string]any{"app:third": 3}),
		created(5, "orphan"), event(6, "orphan", 1, nil),
		created(7, "again"), deleted(8, "again"), created(9, "again"), event(10, "again", 1, nil),
		created(11, "whole"), event(12, "whole", 1, nil),
	}
	var file []byte
	file = append(file, header...)
	offsets := map[eventlog.Position]int64{}
	for _, rec := range recs {
		offsets[rec.Position] = int64(len(file))
		file = append(file, frame(t, rec)...)
	}
	// A flipped bit in the record's time, after its key.
	damage := func(pos eventlog.Position) { file[offsets[pos+1]-8] ^= 1 }
	damage(3) // an event in the middle of session "gap"
	damage(5) // the creation of session "orphan"
	damage(8) // the deletion of the first session "again"
	dir := t.TempDir()
	writeFile(t, dir, file)

	out := filepath.Join(t.TempDir(), "new")
	s, err := filestore.Salvage(ctx, dir, out)
	require.NoError(t, err)
	after, err := os.ReadFile(filepath.Join(dir, filestore.LogFile))
	require.NoError(t, err)
	require.Equal(t, file, after, "salvage changed the damaged log")

	var keptPos []eventlog.Position
	for _, kp := range s.Kept {
		keptPos = append(keptPos, kp.Position)
	}
	// 2 and 4 are kept but not served: session "gap" is deleted at 13,
	// after every position of the log. The first "again" is deleted at 8,
	// the free position before its key's next creation.
	require.Equal(t, []eventlog.Position{1, 2, 7, 8, 9, 10, 11, 12, 13}, keptPos)
	require.Equal(t, []filestore.DamagedSession{
		{Key: k("gap"), Created: 1, Deleted: 13, Dropped: 1, Problem: "its eventAppended record at position 3 is in damaged bytes at offset " + fmt.Sprint(offsets[3])},
		{Key: k("orphan"), Problem: "its sessionCreated record at position 5 is in damaged bytes at offset " + fmt.Sprint(offsets[5]), Dropped: 1},
		{Key: k("again"), Created: 7, Deleted: 8, Problem: "its sessionDeleted record at position 8 is in damaged bytes at offset " + fmt.Sprint(offsets[8])},
	}, s.Sessions)
	var dropped []eventlog.Position
	for _, d := range s.Damage {
		if d.Position != 0 {
			dropped = append(dropped, d.Position)
		}
	}
	require.Equal(t, []eventlog.Position{4, 6}, dropped)

	store := open(t, out, filestore.Options{ReadOnly: true})
	defer store.Close()
	require.NoError(t, projection.Verify(ctx, store))
	for _, gone := range []string{"gap", "orphan"} {
		_, err := store.Load(ctx, k(gone), eventlog.LoadOptions{})
		require.ErrorIs(t, err, eventlog.ErrNotFound, "session %s is served", gone)
	}
	for _, whole := range []string{"again", "whole"} {
		v, err := store.Load(ctx, k(whole), eventlog.LoadOptions{})
		require.NoError(t, err)
		require.Len(t, v.Events, 1, whole)
	}
	v, err := store.Load(ctx, k("whole"), eventlog.LoadOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, v.State["app:first"], "the app state a kept record of a deleted session wrote stays")
	require.NotContains(t, v.State, "app:third", "a dropped record's app state is lost")

	t.Run("a new directory that is not empty, or inside the store, is refused", func(t *testing.T) {
		_, err := filestore.Salvage(ctx, dir, out)
		require.ErrorIs(t, err, os.ErrExist)
		_, err = filestore.Salvage(ctx, dir, filepath.Join(dir, "new"))
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		_, err = filestore.Salvage(ctx, dir, dir)
		require.ErrorIs(t, err, eventlog.ErrInvalidArgument)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1, "salvage wrote into the damaged store's directory")
	})
}
