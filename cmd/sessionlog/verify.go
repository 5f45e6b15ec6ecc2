package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/projection"
)

func verify(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if ref.kind == fileKind {
		// The log file's own checks first: a damaged log is not opened.
		rep, err := filestore.Verify(ctx, ref.addr)
		if err != nil && len(rep.Damage)+len(rep.Sessions) == 0 {
			return err
		}
		if err != nil {
			fmt.Fprintf(e.stdout, "damaged: %s: %d whole records, %d damaged stretches, %d sessions not whole\n", rep.File, rep.Records, len(rep.Damage), len(rep.Sessions))
			printDamage(e.stdout, rep)
			fmt.Fprintf(e.stdout, "sessionlog salvage %s -o NEWDIR writes every record that can be kept into NEWDIR\n", ref.arg())
			return err
		}
		fmt.Fprintf(e.stdout, "ok: %s: %d records, %d bytes, checksums and sequences whole\n", rep.File, rep.Records, rep.Size)
		printTorn(e.stdout, rep, "is cut off when the store is next opened for writing")
	}
	store, err := ref.open(ctx, readOnly)
	if err != nil {
		return err
	}
	defer store.Close()
	counter := &countingStore{Store: store, p: e.progress("verify: read the log", "records", 0)}
	err = projection.Verify(ctx, counter)
	counter.p.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	fmt.Fprintf(e.stdout, "ok: %s: the state it serves (%d sessions) is the fold of its log (%d records)\n", ref, counter.loads, counter.records)
	return nil
}

// countingStore counts the records read and the live sessions loaded
// through it, on a progress line too.
type countingStore struct {
	eventlog.Store
	p              *progress
	records, loads int
}

func (c *countingStore) Read(ctx context.Context, scope eventlog.Scope, after eventlog.Position, limit int) ([]*eventlog.Record, eventlog.Position, error) {
	recs, through, err := c.Store.Read(ctx, scope, after, limit)
	if scope == (eventlog.Scope{}) {
		c.records += len(recs)
		c.p.add(len(recs))
	}
	return recs, through, err
}

func (c *countingStore) Load(ctx context.Context, key eventlog.SessionKey, opts eventlog.LoadOptions) (eventlog.View, error) {
	if opts.NoEvents {
		return c.Store.Load(ctx, key, opts) // a deleted session, which Verify checks is gone
	}
	if c.loads == 0 {
		c.p.phase("verify: check the sessions", "sessions", 0)
	}
	c.loads++
	c.p.add(1)
	return c.Store.Load(ctx, key, opts)
}

// printTorn prints a torn last record, if rep found one.
func printTorn(w io.Writer, rep filestore.Report, fate string) {
	if rep.Torn > 0 {
		fmt.Fprintf(w, "a torn last record of %d bytes at offset %d (a write cut short by a crash) %s\n", rep.Torn, rep.Size, fate)
	}
}

// printDamage prints every damaged stretch and every session that is not
// whole, one a line.
func printDamage(w io.Writer, rep filestore.Report) {
	around := func(d filestore.Damage) string {
		pos := func(p eventlog.Position) string {
			if p == 0 {
				return "none"
			}
			return fmt.Sprint(p)
		}
		return fmt.Sprintf("between the whole records at positions %s and %s", pos(d.After), pos(d.Before))
	}
	for _, d := range rep.Damage {
		if d.Position != 0 {
			fmt.Fprintf(w, "record at position %d, offset %d, %d bytes: not kept: %s\n", d.Position, d.Offset, d.Length, d.Problem)
			continue
		}
		fmt.Fprintf(w, "damaged bytes at offset %d, %d bytes, %s: %s", d.Offset, d.Length, around(d), d.Problem)
		if len(d.Partial) > 0 {
			fmt.Fprintf(w, "; records of positions %v start there", d.Partial)
		}
		fmt.Fprintln(w)
	}
	for _, s := range rep.Sessions {
		fmt.Fprintf(w, "session %s", s.Key)
		if s.Created != 0 {
			fmt.Fprintf(w, " (created at position %d)", s.Created)
		}
		fmt.Fprintf(w, " is not whole: %s", s.Problem)
		switch {
		case s.Created == 0:
			fmt.Fprintf(w, "; none of its records is kept")
		case s.Deleted != 0:
			fmt.Fprintf(w, "; salvage keeps its records before the loss and deletes it at position %d", s.Deleted)
		default:
			fmt.Fprintf(w, "; the log deletes it later")
		}
		if s.Dropped > 0 {
			fmt.Fprintf(w, "; whole records of it not kept: %d", s.Dropped)
		}
		fmt.Fprintln(w)
	}
}

func salvage(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	out := fs.String("o", "", "the new store's `directory` (required): it must not exist or be empty")
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if err := ref.fileOnly("salvage"); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -o is required: the new directory to write the salvaged store into", errUsage)
	}
	s, err := filestore.Salvage(ctx, ref.addr, *out)
	if err != nil {
		return err
	}
	added := 0
	for _, k := range s.Kept {
		if k.Offset < 0 {
			added++
		}
	}
	fmt.Fprintf(e.stdout, "salvaged %s into %s: kept %d of %d whole records", s.File, s.Dir, len(s.Kept)-added, s.Records)
	if added > 0 {
		fmt.Fprintf(e.stdout, ", added %d deletions", added)
	}
	fmt.Fprintf(e.stdout, "; %d damaged stretches, %d sessions not whole\n", len(s.Damage), len(s.Sessions))
	printDamage(e.stdout, s.Report)
	printTorn(e.stdout, s.Report, "is left out")
	return nil
}

func compact(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if err := ref.fileOnly("compact"); err != nil {
		return err
	}
	c, err := filestore.CompactWith(ctx, ref.addr, filestore.CompactOptions{Logger: warnings})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "compacted %s: %d records in %d bytes, now %d records in %d bytes\n",
		ref.addr, c.RecordsBefore, c.SizeBefore, c.RecordsAfter, c.SizeAfter)
	return nil
}
