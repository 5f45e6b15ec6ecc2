package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

func importCmd(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	in := fs.String("i", "", "read from `file` instead of stdin")
	format := fs.String("format", "records", "the input's `form`: records (JSON lines, as export writes them) or adk (one ADK session document, in any runtime's time forms)")
	anyOrder := fs.Bool("any-time-order", false, "with -format adk: accept events whose timestamps go back")
	mkdir := fs.Bool("create", false, "make a new store if there is none: a file store's directory, a SQLite database file (in a directory that exists)")
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if *format != "records" && *format != "adk" {
		return fmt.Errorf("%w: -format %q is not records or adk (records: JSON lines, as 'sessionlog export' writes them; adk: one ADK session document)", errUsage, *format)
	}
	if *anyOrder && *format != "adk" {
		return fmt.Errorf("%w: -any-time-order goes with -format adk", errUsage)
	}
	mode := importing
	if *mkdir {
		mode = create
	}
	if err := ref.check(mode); err != nil {
		return err
	}
	src, name := e.stdin, "stdin"
	if *in != "" {
		f, err := os.Open(*in)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("the input file %s does not exist: check -i", *in)
		}
		if err != nil {
			return err
		}
		defer f.Close()
		src, name = f, *in
	}
	if *format == "adk" {
		var opts []adkjson.ImportOption
		if *anyOrder {
			opts = append(opts, adkjson.AnyTimeOrder())
		}
		data, err := io.ReadAll(src)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if isRecord(data) {
			return fmt.Errorf("nothing imported: %s holds records (JSON lines, as 'sessionlog export' writes them), not an ADK session document: import it with -format records", name)
		}
		var sess *service.Session
		p := e.progress("import", "records", 0)
		defer p.finish()
		if err := importAll(ctx, ref, mode, name, p, 0, func(svc *service.Service, _ *progress) (err error) {
			sess, err = adkjson.Import(ctx, svc, bytes.NewReader(data), opts...)
			return err
		}); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "imported session %s with %d events into %s\n", sess.Key(), len(sess.Events), ref)
		return nil
	}
	p := e.progress("import: read "+name, "records", 0)
	defer p.finish()
	records, err := readRecords(src, name, p)
	if err != nil {
		return err
	}
	if err := importAll(ctx, ref, mode, name, p, len(records), func(svc *service.Service, p *progress) error {
		return svc.Import(ctx, counted(each(records), p))
	}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "imported %d records into %s\n", len(records), ref)
	return nil
}

// importAll runs apply, an import of n records (0: not known) read from
// name, on a copy in memory of the store first, and then, if it succeeds
// there, on the store: an import that would fail writes nothing at all,
// and a file store that does not exist yet is made only for input that
// goes in. The copy is read without the lock (nothing in a file store's
// directory changes, not even a torn last record). Each step's progress
// goes on p.
func importAll(ctx context.Context, ref storeRef, mode openMode, name string, p *progress, n int, apply func(*service.Service, *progress) error) error {
	p.phase("import: copy the store for a dry run", "records", 0)
	if err := dryRun(ctx, ref, p, func(dry *service.Service) error {
		p.phase("import: dry run", "records", int64(n))
		return apply(dry, p)
	}); err != nil {
		return fmt.Errorf("nothing imported: %s: %w", name, err)
	}
	svc, err := openService(ctx, ref, mode)
	if err != nil {
		return err
	}
	defer svc.Close()
	p.phase("import", "records", int64(n))
	if err := apply(svc, p); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return svc.Close() // syncs a file store's log
}

// dryRun runs apply on a copy in memory of the store, counting the
// records copied on p.
func dryRun(ctx context.Context, ref storeRef, p *progress, apply func(*service.Service) error) error {
	dry, err := service.New(ctx, service.Options{})
	if err != nil {
		return err
	}
	defer dry.Close()
	if ref.kind.holdsLog(ref) {
		store, err := ref.open(ctx, readOnly)
		if isNoStore(err) {
			return apply(dry) // the import makes the store
		}
		if err != nil {
			return err
		}
		err = dry.Import(ctx, counted(projection.Records(ctx, store), p))
		if cerr := store.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("copy the store for a dry run: %w", err)
		}
	}
	return apply(dry)
}

// counted counts the records of a sequence on p as they pass.
func counted(records iter.Seq2[*eventlog.Record, error], p *progress) iter.Seq2[*eventlog.Record, error] {
	if p == nil {
		return records
	}
	return func(yield func(*eventlog.Record, error) bool) {
		for rec, err := range records {
			if !yield(rec, err) {
				return
			}
			p.add(1)
		}
	}
}

// readRecords decodes JSON lines of records, counting them on p; blank
// lines are skipped.
func readRecords(r io.Reader, name string, p *progress) ([]*eventlog.Record, error) {
	var out []*eventlog.Record
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 256<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		rec, err := decodeRecord(line)
		if err != nil {
			return nil, fmt.Errorf("nothing imported: %s line %d: %w", name, n, err)
		}
		out = append(out, rec)
		p.add(1)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// decodeRecord decodes one line of records input. Its errors say what is
// wrong in the input's terms, and how to fix it.
func decodeRecord(line []byte) (*eventlog.Record, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, fmt.Errorf("%w: not JSON (%v): records are JSON objects, one a line, as 'sessionlog export' writes them", eventlog.ErrInvalidArgument, err)
		}
		return nil, fmt.Errorf("%w: not a JSON object: records are JSON objects, one a line, as 'sessionlog export' writes them", eventlog.ErrInvalidArgument)
	}
	if fields["kind"] == nil || fields["key"] == nil {
		if fields["appName"] != nil || fields["events"] != nil {
			return nil, fmt.Errorf("%w: an ADK session document, not a record: import it with -format adk", eventlog.ErrInvalidArgument)
		}
		return nil, fmt.Errorf("%w: not a record: it has no \"kind\" or no \"key\" (records are what 'sessionlog export' writes)", eventlog.ErrInvalidArgument)
	}
	rec := new(eventlog.Record)
	if err := json.Unmarshal(line, rec); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			field := typ.Field
			if i := strings.LastIndexByte(field, '.'); i >= 0 {
				field = field[i+1:]
			}
			return nil, fmt.Errorf("%w: not a record: its field %q holds a JSON %s, which that field cannot be", eventlog.ErrInvalidArgument, field, typ.Value)
		}
		return nil, fmt.Errorf("%w: not a record: %v", eventlog.ErrInvalidArgument, err)
	}
	return rec, nil
}

// isRecord reports whether data starts with a JSON object that is a
// record rather than an ADK session document.
func isRecord(data []byte) bool {
	var fields map[string]json.RawMessage
	if json.NewDecoder(bytes.NewReader(data)).Decode(&fields) != nil {
		return false
	}
	return fields["kind"] != nil && fields["key"] != nil && fields["position"] != nil
}
