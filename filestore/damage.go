package filestore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/memstore"
	"github.com/sessionlog/sessionlog/projection"
)

// Damage is one stretch of a log file that holds no record a store can
// keep: damaged bytes, or one whole line, its checksum intact, whose record
// cannot follow the records before it.
type Damage struct {
	// Offset and Length place the stretch in the file, in bytes.
	Offset, Length int64
	// After is the position of the last whole record before the stretch
	// in the file, Before that of the first whole record after it; 0 where
	// there is none. Each app's records stand in position order, so the
	// positions the stretch held lie between those of its app's records
	// around it.
	After, Before eventlog.Position
	// Position is the record's position when the stretch is a whole line
	// that cannot be kept (a copy of an earlier line, a record that cannot
	// follow the ones before it, a record of a session that is not kept);
	// 0 for damaged bytes.
	Position eventlog.Position
	// Partial lists, for damaged bytes, the positions of the records whose
	// beginning (position, kind and session) can still be read there, as
	// the bytes say; damage may have changed them.
	Partial []eventlog.Position
	// Problem says what is wrong.
	Problem string

	err error // the store's refusal of a whole line, if that was the problem
}

// DamagedSession is a session that a damaged log does not hold whole: a
// record of it is lost or cannot be kept. Such a session is never served as
// if it were whole: [Salvage] keeps its records up to the first one lost
// and deletes it, or, when its creation is lost, keeps none of its records.
type DamagedSession struct {
	Key eventlog.SessionKey
	// Created is the position of the session's creation record; 0 when
	// the creation is lost, so that nothing of the session is kept.
	Created eventlog.Position
	// Deleted is the position of the deletion that Salvage adds to the new
	// log so that the session is not served; 0 when the log deletes the
	// session itself, or its creation is lost.
	Deleted eventlog.Position
	// Dropped is the number of the session's whole records that cannot be
	// kept (each is also a Damage with its position).
	Dropped int
	// Problem says what is lost.
	Problem string
}

// Kept is one record of a log that [Salvage] writes.
type Kept struct {
	Position eventlog.Position
	// Offset is where the record's line starts in the damaged log, whose
	// bytes it copies exactly; -1 for a deletion Salvage adds.
	Offset int64
	// NewOffset is where the line starts in the new log.
	NewOffset int64
	// Length is the line's length, frame and newline included.
	Length int64
}

// Salvaged says what [Salvage] found and wrote.
type Salvaged struct {
	// Report describes the damaged log: its whole records, every
	// damaged stretch and every session it does not hold whole.
	Report
	// Dir is the new store's directory.
	Dir string
	// Kept lists every record of the new log, in the new log's order.
	Kept []Kept
	// NewSize is the new log file's size.
	NewSize int64
}

// Verify checks the log in dir without changing anything or taking the
// lock: the header, every record's frame and checksum, and that each
// record can follow the ones before it (positions rise within each app,
// sequence numbers have no gaps, events belong to live sessions, no line is
// written twice). It reads past damage, finding the next whole line by its
// frame and checksum, and reports every damaged stretch and every session
// the log does not hold whole in the Report; any of them is ErrCorrupt
// naming the file and the first stretch's offset. A torn last record is not
// damage and shows in Report.Torn.
func Verify(ctx context.Context, dir string) (Report, error) {
	if ctx == nil {
		return Report{}, fmt.Errorf("filestore: verify: %w: ctx is nil", eventlog.ErrInvalidArgument)
	}
	a, err := analyze(ctx, dir, time.Time{})
	if err == nil {
		err = a.report.damaged()
	}
	if err != nil {
		return a.report, fmt.Errorf("filestore: verify %s: %w", dir, err)
	}
	return a.report, nil
}

// Salvage writes to the directory out a new store that holds every record
// of the log in dir that a store can keep, and reports what it could not
// keep. It never changes dir, and refuses an out that exists and is not
// empty, or that lies inside dir.
//
// It reads the log as [Verify] does, past every damaged stretch, and
// copies each whole record's line exactly, in the same order, at the same
// position. A session the log does not hold whole (a [DamagedSession]) is
// never served as if it were: when its creation survives, the new log keeps
// its records up to the first one lost and then deletes it, with a
// deletion record that Salvage adds at a position no record of the old log
// holds (so the app: and user: state those records wrote stays, as after
// any deletion); its later records are dropped. A whole event line that
// cannot be kept where it stands (out of place, or after a gap) and
// follows the creation of a session of its key that is still live makes
// that session not whole too. When its creation is lost, none of its
// records is kept. A torn last record is left out. A whole
// line that cannot follow the ones before it, and a copy of an earlier
// line, are dropped. Salvage then opens the new store and checks that the
// state it serves is that of its log ([projection.Verify]). It logs
// nothing; [SalvageWith] takes a logger.
func Salvage(ctx context.Context, dir, out string) (Salvaged, error) {
	return SalvageWith(ctx, dir, out, SalvageOptions{})
}

// SalvageOptions configure [SalvageWith].
type SalvageOptions struct {
	// Logger receives the salvage's outcome: the records found and kept,
	// the damaged stretches and sessions, the torn bytes left out, the new
	// log's size and how long it took; Warn when anything could not be
	// kept, Info otherwise. Nil logs nothing.
	Logger *slog.Logger
}

// SalvageWith is [Salvage] with options.
func SalvageWith(ctx context.Context, dir, out string, opts SalvageOptions) (Salvaged, error) {
	start := time.Now()
	s, err := salvage(ctx, dir, out)
	if err != nil {
		return s, fmt.Errorf("filestore: salvage %s: %w", dir, err)
	}
	level := slog.LevelInfo
	if len(s.Damage) > 0 || len(s.Sessions) > 0 || s.Torn > 0 {
		level = slog.LevelWarn
	}
	orDiscard(opts.Logger).Log(ctx, level, "filestore: salvaged the log", "file", s.File, "dir", s.Dir,
		"records", s.Records, "kept", len(s.Kept), "damaged_stretches", len(s.Damage), "damaged_sessions", len(s.Sessions),
		"torn_bytes", s.Torn, "bytes_after", s.NewSize, "duration", time.Since(start))
	return s, nil
}

func salvage(ctx context.Context, dir, out string) (Salvaged, error) {
	s := Salvaged{Dir: out}
	switch {
	case ctx == nil:
		return s, fmt.Errorf("%w: ctx is nil", eventlog.ErrInvalidArgument)
	case out == "":
		return s, fmt.Errorf("%w: the new directory is empty", eventlog.ErrInvalidArgument)
	}
	if err := newDir(dir, out); err != nil {
		return s, err
	}
	a, err := analyze(ctx, dir, time.Now().UTC())
	s.Report = a.report
	if err != nil {
		return s, err
	}
	if err := makeDir(out); err != nil {
		return s, err
	}
	path := filepath.Join(out, LogFile)
	err = writeAtomically(out, path, false, func(f *os.File) error {
		w := bufio.NewWriterSize(f, 1<<20)
		if _, err := w.WriteString(header); err != nil {
			return err
		}
		size := int64(len(header))
		var line []byte
		for i, e := range a.out {
			k := Kept{Position: e.rec.Position, Offset: -1, NewOffset: size}
			if e.line != nil {
				k.Offset = e.line.off
				line = append(line[:0], a.data[e.line.off:e.line.off+e.line.n]...)
				if line[frameHead-1] == frameMore && !a.continues(i) {
					line[frameHead-1] = frameEnd // the rest of its batch is not kept: end the batch here
				}
			} else {
				body, err := encode(e.rec)
				if err != nil {
					return err
				}
				line = appendFrame(line[:0], body, e.rec.Position, false)
			}
			if _, err := w.Write(line); err != nil {
				return err
			}
			k.Length = int64(len(line))
			size += k.Length
			s.Kept = append(s.Kept, k)
		}
		s.NewSize = size
		return w.Flush()
	})
	if err != nil {
		return s, fmt.Errorf("write %s: %w", path, err)
	}
	if err := checkSalvaged(ctx, out); err != nil {
		return s, fmt.Errorf("the new store in %s does not check out: %w", out, err)
	}
	return s, nil
}

// newDir checks that out may become a salvaged store of dir: it is not dir
// or inside it, and it is missing or empty.
func newDir(dir, out string) error {
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	absOut, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(absDir, absOut); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%w: the new directory %s is inside the damaged store's directory %s, which salvage never changes", eventlog.ErrInvalidArgument, out, dir)
	}
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("the new directory %s is not empty: salvage writes only into a new or empty directory (%w)", out, fs.ErrExist)
	}
	return nil
}

// checkSalvaged opens the store in dir read-only and checks that it serves
// the state of its log.
func checkSalvaged(ctx context.Context, dir string) error {
	store, err := Open(ctx, dir, Options{ReadOnly: true})
	if err != nil {
		return err
	}
	err = projection.Verify(ctx, store)
	return errors.Join(err, store.Close())
}

// damaged returns nil for a log without damage, or else ErrCorrupt naming
// the file and the first damaged stretch or session.
func (r *Report) damaged() error {
	const remedy = "; 'sessionlog salvage' copies every record that can be kept into a new directory"
	more := func(n int) string {
		if n == 0 {
			return ""
		}
		return fmt.Sprintf(" (and %d more)", n)
	}
	if len(r.Damage) > 0 {
		d := r.Damage[0]
		n := len(r.Damage) - 1
		if d.err != nil {
			return fmt.Errorf("%w: %s at offset %d: %w%s%s", ErrCorrupt, r.File, d.Offset, d.err, more(n), remedy)
		}
		return fmt.Errorf("%w: %s at offset %d: %s%s%s", ErrCorrupt, r.File, d.Offset, d.Problem, more(n), remedy)
	}
	if len(r.Sessions) > 0 {
		d := r.Sessions[0]
		return fmt.Errorf("%w: %s: session %s: %s%s%s", ErrCorrupt, r.File, d.Key, d.Problem, more(len(r.Sessions)-1), remedy)
	}
	return nil
}

// item is a whole record line of a log file held in memory, or a stretch
// of damaged bytes (rec nil).
type item struct {
	off, n  int64
	rec     *eventlog.Record
	problem string
}

// entry is a record of a salvaged log: a whole line of the old one, or a
// deletion salvage adds (line nil).
type entry struct {
	line *item
	rec  *eventlog.Record
}

// analysis is what a reading of a log past its damage found: the report,
// and the records a salvaged log holds, in order. It replays the records
// into a memory store, as its journal, so that the store decides which
// records can follow the ones before them.
type analysis struct {
	data   []byte
	items  []item
	now    time.Time // the time of the deletions salvage adds
	report Report
	out    []entry
	// sessions are the sessions the log does not hold whole, as the
	// replay finds them; the report gets a copy.
	sessions []*DamagedSession
}

var _ memstore.Journal = (*analysis)(nil)

// analyze reads the log in dir past every damaged stretch and works out
// the salvaged log; now is the time of the deletions it adds.
func analyze(ctx context.Context, dir string, now time.Time) (*analysis, error) {
	path := filepath.Join(dir, LogFile)
	a := &analysis{now: now, report: Report{File: path}}
	hasLog, err := examine(dir)
	if err == nil && !hasLog {
		err = fmt.Errorf("%w: %s holds no %s", ErrNotLog, dir, LogFile)
	}
	if err != nil {
		return a, err
	}
	if a.data, err = os.ReadFile(path); err != nil {
		return a, fmt.Errorf("read log: %w", err)
	}
	start, err := a.header(path)
	if err != nil {
		return a, err
	}
	a.scan(start)
	mem, err := memstore.Open(ctx, memstore.Options{Journal: a})
	for _, d := range a.sessions {
		a.report.Sessions = append(a.report.Sessions, *d)
	}
	if err != nil {
		return a, err
	}
	return a, mem.Close()
}

// header checks the file's first line and returns where the records
// start. A first line that is not the header is damage when whole record
// lines follow it, and ErrNotLog otherwise; a newer format is ErrVersion.
func (a *analysis) header(path string) (int, error) {
	if bytes.HasPrefix(a.data, []byte(header)) {
		a.report.Format = Version
		return len(header), nil
	}
	version, size, err := readHeader(bufio.NewReader(bytes.NewReader(a.data)), path)
	switch {
	case err == nil: // the version written another way, such as "01"
		a.report.Format = version
		return int(size), nil
	case errors.Is(err, ErrVersion):
		return 0, err
	}
	next := resync(a.data, 0)
	if next == len(a.data) {
		return 0, err
	}
	a.items = append(a.items, item{off: 0, n: int64(next), problem: fmt.Sprintf("the header line %q is damaged", header)})
	return next, nil
}

// scan splits the file after start into whole record lines and damaged
// stretches. After damage it finds the next whole line: a frame whose
// length and checksum match the bytes after it. Damage running to the end
// of the file with no newline in it is a torn last record, and so are the
// lines of a batch that the file ends inside. The lines of a batch whose
// end is damaged are damage too: a batch is kept whole or not at all.
func (a *analysis) scan(start int) {
	data := a.data
	off := start
	batch := 0 // the lines of an unfinished batch, at the end of a.items
	for off < len(data) {
		rec, n, more, problem := parseLine(data[off:])
		if problem == "" {
			a.items = append(a.items, item{off: int64(off), n: int64(n), rec: rec})
			a.report.Records++
			off += n
			if more {
				batch++
			} else {
				batch = 0
			}
			continue
		}
		next := resync(data, off+1)
		if next == len(data) && bytes.IndexByte(data[off:], '\n') < 0 {
			a.report.Torn = int64(len(data) - off)
			break
		}
		if batch > 0 {
			for i := len(a.items) - batch; i < len(a.items); i++ {
				a.items[i].rec = nil
				a.items[i].problem = "a line of a batch whose last line is damaged"
			}
			a.report.Records -= batch
			batch = 0
		}
		a.items = append(a.items, item{off: int64(off), n: int64(next - off), problem: problem})
		off = next
	}
	if batch > 0 { // the file ends inside a batch: a torn write
		from := a.items[len(a.items)-batch].off
		a.items = a.items[:len(a.items)-batch]
		a.report.Records -= batch
		a.report.Torn = int64(len(data)) - from
	}
	a.report.Size = int64(len(data)) - a.report.Torn
}

// continues reports whether the entry after a.out[i] is the line that
// follows a.out[i]'s line in the old file, so that a batch line keeps its
// mark only when the batch goes on in the salvaged log.
func (a *analysis) continues(i int) bool {
	if i+1 >= len(a.out) || a.out[i].line == nil || a.out[i+1].line == nil {
		return false
	}
	l := a.out[i].line
	return a.out[i+1].line.off == l.off+l.n
}

// resync returns the offset of the first whole record line at or after
// from, or len(data) if there is none.
func resync(data []byte, from int) int {
	for i := from; i+frameHead < len(data); i++ {
		if data[i+8] != ' ' || (data[i+17] != frameEnd && data[i+17] != frameMore) || data[i+frameHead] != '{' {
			continue
		}
		if _, _, _, problem := parseLine(data[i:]); problem == "" {
			return i
		}
	}
	return len(data)
}

// partialStart begins every record's JSON, as this package writes it.
var partialStart = []byte(`{"position":`)

// partials reads the beginnings of the records in damaged bytes: each
// record's JSON starts with its position, kind and session key, which
// often survive damage further on.
func partials(b []byte) []*eventlog.Record {
	var out []*eventlog.Record
	for i := bytes.Index(b, partialStart); i >= 0; {
		rest := b[i:]
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[:nl]
		}
		if rec := partial(rest); rec != nil {
			out = append(out, rec)
		}
		next := bytes.Index(b[i+1:], partialStart)
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return out
}

// partial decodes a record's position, kind and key from the start of
// its JSON, or returns nil.
func partial(b []byte) *eventlog.Record {
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	rec := new(eventlog.Record)
	for _, field := range []string{"position", "kind", "key"} {
		tok, err := dec.Token()
		if err != nil || tok != field {
			return nil
		}
		var v any = &rec.Position
		switch field {
		case "kind":
			v = &rec.Kind
		case "key":
			v = &rec.Key
		}
		if dec.Decode(v) != nil {
			return nil
		}
	}
	if rec.Position == 0 || !rec.Kind.Valid() || rec.Key.AppName == "" {
		return nil
	}
	return rec
}

// Write implements [memstore.Journal.Write]: the analysis only replays.
func (a *analysis) Write(*eventlog.Record) (func() error, error) {
	return nil, fmt.Errorf("append: %w", ErrReadOnly)
}

// WriteBatch implements [memstore.Journal.WriteBatch]: the analysed log
// is read-only.
func (a *analysis) WriteBatch([]*eventlog.Record) (func() error, error) {
	return nil, fmt.Errorf("append: %w", ErrReadOnly)
}

// tracked is a live session of the replay.
type tracked struct {
	created eventlog.Position
	damage  *DamagedSession // nil while the session is whole
}

// Replay implements [memstore.Journal.Replay]: it hands restore each whole
// record that can be kept, in the file's order, and works out the report
// and the salvaged log on the way (see [Salvage] for the rules).
func (a *analysis) Replay(ctx context.Context, restore func(*eventlog.Record) error) error {
	used := make(map[eventlog.Position]bool, len(a.items))
	var top eventlog.Position // the highest position the file names
	for _, it := range a.items {
		if it.rec != nil {
			used[it.rec.Position] = true
			top = max(top, it.rec.Position)
		}
	}
	// before[i] is the position of the first whole line after item i.
	before := make([]eventlog.Position, len(a.items))
	var next eventlog.Position
	for i := len(a.items) - 1; i >= 0; i-- {
		before[i] = next
		if rec := a.items[i].rec; rec != nil {
			next = rec.Position
		}
	}

	copies := a.copies()
	live := map[eventlog.SessionKey]*tracked{}
	// orphans are keys whose current session in the file has no creation
	// that is kept: their records are dropped until the next creation.
	orphans := map[eventlog.SessionKey]*DamagedSession{}
	last := map[string]eventlog.Position{} // the last kept position of each app
	var after eventlog.Position            // the last whole line's position
	var strays []*item                     // the event lines that are not kept, copies aside

	damageSession := func(s *tracked, k eventlog.SessionKey, problem string) {
		if s.damage == nil {
			s.damage = &DamagedSession{Key: k, Created: s.created, Problem: problem}
			a.sessions = append(a.sessions, s.damage)
		}
	}
	orphan := func(k eventlog.SessionKey, problem string) *DamagedSession {
		d := orphans[k]
		if d == nil {
			d = &DamagedSession{Key: k, Problem: problem}
			orphans[k] = d
			a.sessions = append(a.sessions, d)
		}
		return d
	}
	keep := func(it *item, rec *eventlog.Record) {
		a.out = append(a.out, entry{line: it, rec: rec})
		last[rec.Key.AppName] = rec.Position
	}
	drop := func(it *item, i int, err error) {
		a.report.Damage = append(a.report.Damage, Damage{Offset: it.off, Length: it.n, After: after, Before: before[i],
			Position: it.rec.Position, Problem: err.Error(), err: err})
	}
	// del deletes the live session s at position p, a position no record
	// of the file holds.
	del := func(s *tracked, k eventlog.SessionKey, p eventlog.Position) error {
		rec := &eventlog.Record{Position: p, Kind: eventlog.KindSessionDeleted, Key: k, Time: a.now}
		if err := restore(rec); err != nil {
			return err
		}
		used[p] = true
		s.damage.Deleted = p
		delete(live, k)
		keep(nil, rec)
		return nil
	}

	for i := range a.items {
		if i%4096 == 4095 && ctx.Err() != nil {
			return ctx.Err()
		}
		it := &a.items[i]
		rec := it.rec
		if rec == nil {
			d := Damage{Offset: it.off, Length: it.n, After: after, Before: before[i], Problem: it.problem}
			for _, p := range partials(a.data[it.off : it.off+it.n]) {
				d.Partial = append(d.Partial, p.Position)
				top = max(top, p.Position)
				lost := fmt.Sprintf("its %s record at position %d is in damaged bytes at offset %d", p.Kind, p.Position, it.off)
				s := live[p.Key]
				switch {
				case p.Kind == eventlog.KindSessionCreated:
					if s != nil {
						damageSession(s, p.Key, fmt.Sprintf("a new session of its key at position %d is in damaged bytes at offset %d, so its deletion is lost", p.Position, it.off))
					}
					delete(orphans, p.Key)
					orphan(p.Key, lost)
				case p.Kind == eventlog.KindStateRetained:
				case s != nil && orphans[p.Key] == nil:
					damageSession(s, p.Key, lost)
				}
			}
			a.report.Damage = append(a.report.Damage, d)
			continue
		}
		if j, ok := copies[i]; ok {
			drop(it, i, fmt.Errorf("a copy of the line at offset %d", a.items[j].off))
			after = rec.Position
			continue
		}
		k := rec.Key
		var err error
		switch rec.Kind {
		case eventlog.KindSessionCreated:
			if s := live[k]; s != nil {
				// The session before it was deleted, but its deletion is lost.
				damageSession(s, k, fmt.Sprintf("the log creates its key again at position %d, so its deletion is lost", rec.Position))
				p := last[k.AppName]
				if rec.Position > p {
					p = rec.Position - 1
				}
				for p > last[k.AppName] && used[p] {
					p--
				}
				if p > last[k.AppName] {
					err = del(s, k, p)
				} else {
					err = fmt.Errorf("%w: session %s exists and no free position before %d can delete it", eventlog.ErrAlreadyExists, k, rec.Position)
				}
			}
			if err == nil {
				err = restore(rec)
			}
			if err == nil {
				delete(orphans, k)
				live[k] = &tracked{created: rec.Position}
			} else {
				delete(orphans, k)
				orphan(k, fmt.Sprintf("its creation at position %d cannot be kept: %v", rec.Position, err)).Dropped++
			}
		case eventlog.KindEventAppended:
			s := live[k]
			switch {
			case orphans[k] != nil:
				orphans[k].Dropped++
				err = fmt.Errorf("%w: its session %s has no creation that can be kept", eventlog.ErrNotFound, k)
			case s == nil:
				orphan(k, "no session of its key stands before its records: its creation is lost, or they are out of place").Dropped++
				err = fmt.Errorf("%w: no session %s stands before it: its creation is lost, or it is out of place", eventlog.ErrNotFound, k)
			case s.damage != nil:
				s.damage.Dropped++
				err = fmt.Errorf("it follows a lost record of its session %s", k)
			default:
				if err = restore(rec); err != nil {
					damageSession(s, k, fmt.Sprintf("its event at position %d cannot be kept: %v", rec.Position, err))
					s.damage.Dropped++
				}
			}
		case eventlog.KindSessionDeleted:
			if d := orphans[k]; d != nil && live[k] != nil {
				d.Dropped++
				err = fmt.Errorf("it deletes a session %s whose creation cannot be kept", k)
			} else if err = restore(rec); err != nil {
				if s := live[k]; s != nil {
					damageSession(s, k, fmt.Sprintf("its deletion at position %d cannot be kept: %v", rec.Position, err))
					s.damage.Dropped++
				}
			} else {
				delete(live, k)
			}
			delete(orphans, k)
		default:
			err = restore(rec)
		}
		if err != nil {
			drop(it, i, err)
			if rec.Kind == eventlog.KindEventAppended {
				strays = append(strays, it)
			}
		} else {
			keep(it, rec)
		}
		after = rec.Position
	}
	// An event that could not be kept where it stands, after the
	// creation of a session of its key that is still live, may be that
	// session's: the session is not whole.
	for _, it := range strays {
		if s := live[it.rec.Key]; s != nil && s.damage == nil && s.created < it.rec.Position {
			damageSession(s, it.rec.Key, fmt.Sprintf("its event at position %d, at offset %d, cannot be kept where it stands", it.rec.Position, it.off))
			s.damage.Dropped++
		}
	}
	// Delete the damaged sessions still live, after every position the
	// file names.
	for _, d := range a.sessions {
		if s := live[d.Key]; s != nil && s.damage == d {
			if top == ^eventlog.Position(0) {
				return fmt.Errorf("%w: session %s is not whole and no position is left to delete it at", ErrCorrupt, d.Key)
			}
			top++
			if err := del(s, d.Key, top); err != nil {
				return err
			}
		}
	}
	return nil
}

// copies finds the lines that are copies of another line, byte for byte,
// and maps each to the one copy that is tried instead: the first that
// stands in position order among its app's lines around it, or else the
// first.
func (a *analysis) copies() map[int]int {
	type lineID struct {
		pos eventlog.Position
		n   int64
	}
	groups := map[lineID][]int{}
	for i, it := range a.items {
		if it.rec != nil {
			id := lineID{it.rec.Position, it.n}
			groups[id] = append(groups[id], i)
		}
	}
	var out map[int]int
	var prev, next []eventlog.Position // the positions of each line's app's lines around it
	for _, group := range groups {
		for len(group) > 1 {
			x := a.items[group[0]]
			var twins, rest []int
			for _, j := range group {
				y := a.items[j]
				if bytes.Equal(a.data[x.off:x.off+x.n], a.data[y.off:y.off+y.n]) {
					twins = append(twins, j)
				} else {
					rest = append(rest, j)
				}
			}
			group = rest
			if len(twins) == 1 {
				continue
			}
			if prev == nil {
				prev, next = a.neighbours()
			}
			pick := twins[0]
			for _, j := range twins {
				pos := a.items[j].rec.Position
				if prev[j] <= pos && (next[j] == 0 || pos <= next[j]) {
					pick = j
					break
				}
			}
			if out == nil {
				out = map[int]int{}
			}
			for _, j := range twins {
				if j != pick {
					out[j] = pick
				}
			}
		}
	}
	return out
}

// neighbours returns, for each whole line, the positions of the whole
// lines of its app before and after it in the file (0 where there is none).
func (a *analysis) neighbours() (prev, next []eventlog.Position) {
	prev = make([]eventlog.Position, len(a.items))
	next = make([]eventlog.Position, len(a.items))
	last := map[string]eventlog.Position{}
	for i, it := range a.items {
		if it.rec != nil {
			prev[i] = last[it.rec.Key.AppName]
			last[it.rec.Key.AppName] = it.rec.Position
		}
	}
	clear(last)
	for i := len(a.items) - 1; i >= 0; i-- {
		if it := a.items[i]; it.rec != nil {
			next[i] = last[it.rec.Key.AppName]
			last[it.rec.Key.AppName] = it.rec.Position
		}
	}
	return prev, next
}
