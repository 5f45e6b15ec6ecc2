package filestore

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"

	"github.com/sessionlog/sessionlog/eventlog"
)

// The log file's format. The file starts with one header line, the magic
// string and the format version separated by a space:
//
//	sessionlog-filestore 2
//
// Each record follows on a line of its own: its JSON length and the
// CRC-32C (Castagnoli) of its JSON, both as 8 lower-case hex digits, then
// the record's JSON ([eventlog.Record]'s encoding), then a newline:
//
//	00000095 ceacf077 {"position":1,"kind":"sessionCreated",...}
//
// JSON never holds a raw newline, so the file is one record per line and
// reads as JSON lines once the first 18 bytes of each line are cut.
//
// Format 2 adds batches: the records of one [eventlog.Store.AppendBatch]
// are written together, and each but the last has a '+' in place of the
// space before its JSON. A batch whose last line is missing (a crash cut
// the write short) is a torn write: the file holds none of it. A store
// reads both formats; the first batch it writes to a format 1 file
// rewrites the file's header to format 2 first, so that no older build
// takes a '+' for damage.
const (
	// Magic starts every log file.
	Magic = "sessionlog-filestore"
	// Version is the format version this package writes and the newest it
	// reads.
	Version = 2
	// LogFile is the name of the log file in a store's directory.
	LogFile = "records.log"
	// LockFile is the name of the file a writing store locks.
	LockFile = "LOCK"
)

// frameHead is the length of a record line before its JSON.
const frameHead = 18

// The byte before a record's JSON: a space, or, in a batch, '+' on every
// line but the last.
const (
	frameEnd  = ' '
	frameMore = '+'
)

var (
	header   = fmt.Sprintf("%s %d\n", Magic, Version)
	castagna = crc32.MakeTable(crc32.Castagnoli)
	// posZero starts the JSON of a record whose position is not yet known;
	// the writer puts the position in its place.
	posZero = []byte(`{"position":0,`)
)

// encode returns rec's JSON with position 0, for the writer to complete. A
// value JSON cannot hold is ErrInvalidArgument.
func encode(rec *eventlog.Record) ([]byte, error) {
	c := *rec
	c.Position = 0
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("append %s record of session %s: %w: it cannot be written as JSON: %v",
			rec.Kind, rec.Key, eventlog.ErrInvalidArgument, err)
	}
	if !bytes.HasPrefix(body, posZero) {
		return nil, fmt.Errorf("append %s record of session %s: %w: its JSON does not start with its position",
			rec.Kind, rec.Key, eventlog.ErrInvalidArgument)
	}
	return body, nil
}

// appendFrame appends to out the line of a record whose JSON is body (as
// encode returned it) with its position set to pos; more marks a batch's
// line that is not its last.
func appendFrame(out, body []byte, pos eventlog.Position, more bool) []byte {
	var num [20]byte
	digits := strconv.AppendUint(num[:0], uint64(pos), 10)
	prefix, rest := posZero[:len(posZero)-2], body[len(posZero)-1:] // `{"position":` and `,...}`
	n := len(prefix) + len(digits) + len(rest)
	crc := crc32.Update(0, castagna, prefix)
	crc = crc32.Update(crc, castagna, digits)
	crc = crc32.Update(crc, castagna, rest)
	out = appendHex(out, uint32(n))
	out = append(out, ' ')
	out = appendHex(out, crc)
	if more {
		out = append(out, frameMore)
	} else {
		out = append(out, frameEnd)
	}
	out = append(out, prefix...)
	out = append(out, digits...)
	out = append(out, rest...)
	return append(out, '\n')
}

func appendHex(out []byte, v uint32) []byte {
	const hexDigits = "0123456789abcdef"
	for shift := 28; shift >= 0; shift -= 4 {
		out = append(out, hexDigits[v>>uint(shift)&0xf])
	}
	return out
}

func parseHex(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint32(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, len(b) == 8
}

// Report describes a log file as a scan of it found it.
type Report struct {
	// File is the log file's path.
	File string
	// Records is the number of whole records.
	Records int
	// Size is where the last whole record ends: the file's size, unless a
	// torn record follows.
	Size int64
	// Torn is the length of a torn last record after Size, the remains of
	// a write a crash cut short; 0 if the file ends with a whole record.
	// The whole lines of a batch whose last line is missing count as
	// torn too. Opening the store for writing cuts it off.
	Torn int64
	// Format is the format version of the file's header; 0 when Verify or
	// Salvage finds the header damaged.
	Format int
	// Damage lists every damaged stretch of the file, in the file's
	// order, as [Verify] and [Salvage] find them. Open refuses a damaged
	// log, so a store's Report has none.
	Damage []Damage
	// Sessions lists every session the log does not hold whole, as
	// Verify and Salvage find them.
	Sessions []DamagedSession
}

// scan reads the log file at path, checks its header and each record's
// frame and checksum, and calls fn with each record and its offset. A
// damaged record followed by more data, and an error from fn, are
// ErrCorrupt naming the file and the offset; a damaged record at the end
// with no newline after it is a torn write, reported in the Report.
func scan(path string, fn func(off int64, rec *eventlog.Record) error) (Report, error) {
	rep := Report{File: path}
	f, err := os.Open(path)
	if err != nil {
		return rep, fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return rep, fmt.Errorf("open log: %w", err)
	}
	size := info.Size()
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64 // where the records start: after the header line as written
	if rep.Format, off, err = readHeader(r, path); err != nil {
		return rep, err
	}
	var body []byte
	// batch holds the lines of a batch read so far, which fn sees only
	// once its last line is read; batchAt is where the batch starts.
	var batch []scanned
	batchAt := off
	for off < size {
		rec, n, more, problem := readRecord(r, &body, size-off)
		if problem != "" {
			torn, err := tornFrom(f, off, size)
			if err != nil {
				return rep, fmt.Errorf("read log %s at offset %d: %w", path, off, err)
			}
			if torn {
				rep.Torn = size - off
				break
			}
			return rep, fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, path, off, problem)
		}
		if len(batch) == 0 {
			batchAt = off
		}
		batch = append(batch, scanned{off, rec})
		off += n
		if more {
			continue
		}
		for _, b := range batch {
			if err := fn(b.off, b.rec); err != nil {
				return rep, fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, path, b.off, err)
			}
			rep.Records++
		}
		batch = batch[:0]
	}
	rep.Size = off
	if len(batch) > 0 { // a batch without its last line: none of it was written
		rep.Torn += rep.Size - batchAt
		rep.Size = batchAt
	}
	return rep, nil
}

// scanned is a record read from a file, and its offset.
type scanned struct {
	off int64
	rec *eventlog.Record
}

// checkHeader checks the first line of the file at path.
func checkHeader(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	_, _, err = readHeader(bufio.NewReaderSize(f, 256), path)
	return err
}

// readHeader checks the file's first line and returns its format version
// and the line's length, where the records start (the version may be
// written another way than this build writes it, such as "02").
func readHeader(r *bufio.Reader, path string) (version int, size int64, err error) {
	line, err := r.ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return 0, 0, fmt.Errorf("read log %s: %w", path, err)
	}
	magic, ver, ok := bytes.Cut(bytes.TrimSuffix(line, []byte("\n")), []byte(" "))
	if !ok || string(magic) != Magic || len(line) == 0 || line[len(line)-1] != '\n' {
		return 0, 0, fmt.Errorf("%w: %s does not start with the line %q", ErrNotLog, path, header)
	}
	v, err := strconv.Atoi(string(ver))
	switch {
	case err != nil || v < 1:
		return 0, 0, fmt.Errorf("%w: %s has format version %q, not a number from 1", ErrNotLog, path, ver)
	case v > Version:
		return 0, 0, fmt.Errorf("%w: %s has format version %d; this build reads versions up to %d", ErrVersion, path, v, Version)
	}
	return v, int64(len(line)), nil
}

// readRecord reads one record line of at most left bytes. It returns the
// record, the line's length and whether it is a batch's line with more to
// follow, or a description of what is wrong.
func readRecord(r *bufio.Reader, body *[]byte, left int64) (rec *eventlog.Record, size int64, more bool, problem string) {
	head, err := r.Peek(frameHead)
	if err != nil {
		return nil, 0, false, "the file ends inside a record's length and checksum"
	}
	n, crc, more, problem := parseFrame(head)
	if problem != "" {
		return nil, 0, false, problem
	}
	line := int64(frameHead) + int64(n) + 1
	if line > left {
		return nil, 0, false, fmt.Sprintf("a record of %d bytes runs past the end of the file", n)
	}
	if _, err := r.Discard(frameHead); err != nil {
		return nil, 0, false, err.Error()
	}
	if cap(*body) < int(n)+1 {
		*body = make([]byte, int(n)+1)
	}
	b := (*body)[:n+1]
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, 0, false, err.Error()
	}
	rec, problem = checkBody(b, crc)
	return rec, line, more, problem
}

// parseLine reads the record line at the start of b, the rest of a file
// held in memory. It returns the record, the line's length and whether it
// is a batch's line with more to follow, or a description of what is
// wrong.
func parseLine(b []byte) (rec *eventlog.Record, size int, more bool, problem string) {
	if len(b) < frameHead {
		return nil, 0, false, "the file ends inside a record's length and checksum"
	}
	n, crc, more, problem := parseFrame(b[:frameHead])
	if problem != "" {
		return nil, 0, false, problem
	}
	line := frameHead + int(n) + 1
	if line > len(b) {
		return nil, 0, false, fmt.Sprintf("a record of %d bytes runs past the end of the file", n)
	}
	rec, problem = checkBody(b[frameHead:line], crc)
	return rec, line, more, problem
}

// parseFrame reads a record line's length, its checksum and whether more
// lines of its batch follow from its first frameHead bytes.
func parseFrame(head []byte) (n, crc uint32, more bool, problem string) {
	n, okN := parseHex(head[:8])
	crc, okC := parseHex(head[9:17])
	if !okN || !okC || head[8] != ' ' || (head[17] != frameEnd && head[17] != frameMore) {
		return 0, 0, false, fmt.Sprintf("%q is not a record's length and checksum", head)
	}
	return n, crc, head[17] == frameMore, ""
}

// checkBody checks a record's JSON and the newline after it, b, against
// the checksum crc of its frame, and decodes it.
func checkBody(b []byte, crc uint32) (*eventlog.Record, string) {
	n := len(b) - 1
	if b[n] != '\n' {
		return nil, fmt.Sprintf("the record of %d bytes does not end with a newline", n)
	}
	if got := crc32.Checksum(b[:n], castagna); got != crc {
		return nil, fmt.Sprintf("checksum mismatch: the record's bytes sum to %08x, its frame says %08x", got, crc)
	}
	rec, err := decodeRecord(b[:n])
	if err != nil {
		return nil, fmt.Sprintf("the record's JSON does not decode: %v", err)
	}
	return rec, ""
}

// decodeRecord decodes a record's JSON, as a log line holds it.
func decodeRecord(b []byte) (*eventlog.Record, error) {
	rec := new(eventlog.Record)
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// tornFrom reports whether the bytes from off to size are the remains of
// one record a crash cut short: they hold no newline, so no whole record
// can follow.
func tornFrom(f *os.File, off, size int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off < size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if bytes.IndexByte(buf[:n], '\n') >= 0 {
			return false, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	return true, nil
}
