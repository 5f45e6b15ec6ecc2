package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/service"
)

func export(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	key := sessionFlags(fs, "export one app, one user or one session")
	format := fs.String("format", "", "one session's `form`: go, python or java (an ADK session document with that runtime's times; default go) or records")
	indent := fs.Bool("indent", false, "indent an ADK session document")
	version := versionFlag(fs, "export one session as it stood just after its event `N` (0: just after its creation)")
	out := fs.String("o", "", "write to `file` instead of stdout (replaced only when the export is whole)")
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	one := key.SessionID != ""
	switch {
	case one && (key.AppName == "" || key.UserID == ""):
		return fmt.Errorf("%w: -session names a session of the user -user of the app -app: give all three", errUsage)
	case key.UserID != "" && key.AppName == "":
		return fmt.Errorf("%w: -user names a user of an app: give -app too", errUsage)
	case !one && *format != "" && *format != "records":
		return fmt.Errorf("%w: -format %s exports one session: name it with -app, -user and -session", errUsage, *format)
	case !one && *version != nil:
		return fmt.Errorf("%w: -version exports one session as it stood then: name it with -app, -user and -session", errUsage)
	case *indent && (!one || *format == "records"):
		return fmt.Errorf("%w: -indent indents one session's ADK session document: name it with -app, -user and -session, in -format go, python or java", errUsage)
	case one && *format == "":
		*format = adkjson.FormatGo.String()
	}
	var adk adkjson.Options
	if one && *format != "records" {
		if adk.Format, err = adkjson.ParseFormat(*format); err != nil {
			return fmt.Errorf("%w: -format %q is not go, python, java or records", errUsage, *format)
		}
		if *indent {
			adk.Indent = "  "
		}
	}
	if *out != "" {
		var err error
		switch ref.kind {
		case fileKind:
			err = outsideStore(ref.addr, *out)
		case sqliteKind:
			err = notTheDatabase(ref.addr, *out)
		}
		if err != nil {
			return err
		}
	}
	store, err := ref.open(ctx, readOnly)
	if err != nil {
		return err
	}
	defer store.Close()
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		return err
	}
	if one {
		// Read the session first, so that a missing one, or a version it
		// does not have, makes no file.
		if _, err := svc.Get(ctx, *key, service.GetOptions{NumRecentEvents: 1, AtVersion: *version}); err != nil {
			if *version != nil && errors.Is(err, service.ErrInvalidArgument) {
				return fmt.Errorf("-version %d: %w: check -version (sessionlog show prints the session's events)", **version, err)
			}
			return err
		}
	}
	if one && *format != "records" {
		if *version == nil {
			return writeOut(*out, e.stdout, func(w io.Writer) error { return adkjson.Export(ctx, svc, *key, w, adk) })
		}
		sess, err := svc.Get(ctx, *key, service.GetOptions{AtVersion: *version})
		if err != nil {
			return err
		}
		b, err := adkjson.Marshal(sess, adk)
		if err != nil {
			return err
		}
		return writeOut(*out, e.stdout, func(w io.Writer) error {
			_, err := w.Write(append(b, '\n'))
			return err
		})
	}
	records := inScope(svc.Export(ctx), key.AppName, key.UserID)
	if one {
		recs, err := sessionRecords(ctx, store, *key)
		if err != nil {
			return err
		}
		if v := *version; v != nil {
			recs = slices.DeleteFunc(recs, func(r *eventlog.Record) bool {
				return r.Kind == eventlog.KindEventAppended && r.Seq > *v
			})
		}
		records = each(recs)
	}
	// Records streamed to a terminal would mix with the progress line.
	var p *progress
	if *out != "" || !e.stdoutTTY {
		p = e.progress("export", "records", 0)
	}
	defer p.finish()
	return writeOut(*out, e.stdout, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for rec, err := range records {
			if err != nil {
				return err
			}
			if err := enc.Encode(rec); err != nil {
				return fmt.Errorf("encode record at position %d: %w", rec.Position, err)
			}
			p.add(1)
		}
		return nil
	})
}

// inScope keeps the records of app (all if empty) and, of those, of user
// (all if empty): an app's or a user's part of the whole log, records of
// deleted sessions included, which a Read in the app's or user's scope
// would not give from the start once a deletion freed some.
func inScope(records iter.Seq2[*eventlog.Record, error], app, user string) iter.Seq2[*eventlog.Record, error] {
	if app == "" {
		return records
	}
	return func(yield func(*eventlog.Record, error) bool) {
		for rec, err := range records {
			if err == nil && (rec.Key.AppName != app || user != "" && rec.Key.UserID != user) {
				continue
			}
			if !yield(rec, err) {
				return
			}
		}
	}
}

// each iterates over records, as Import takes them.
func each(records []*eventlog.Record) iter.Seq2[*eventlog.Record, error] {
	return func(yield func(*eventlog.Record, error) bool) {
		for _, rec := range records {
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// sessionRecords returns a live session's records: its creation and its
// events, in order.
func sessionRecords(ctx context.Context, store eventlog.Store, key eventlog.SessionKey) ([]*eventlog.Record, error) {
	v, err := store.Load(ctx, key, eventlog.LoadOptions{NoEvents: true})
	if err != nil {
		return nil, err
	}
	// The creation is the record at the session's incarnation: the first
	// one of the whole store after the position before it.
	created, _, err := store.Read(ctx, eventlog.Scope{}, v.Created-1, 1)
	if err != nil {
		return nil, err
	}
	if len(created) != 1 || created[0].Position != v.Created || created[0].Kind != eventlog.KindSessionCreated || created[0].Key != key {
		return nil, fmt.Errorf("session %s: the store holds no creation record at its position %d", key, v.Created)
	}
	out := []*eventlog.Record{created[0]}
	scope := eventlog.SessionScope(key, v.Created)
	for after := v.Created; ; {
		recs, through, err := store.Read(ctx, scope, after, 4096)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
		if through <= after {
			return out, nil
		}
		after = through
	}
}

// outsideStore refuses an output path inside the store's directory, where
// replacing a file could replace the log itself.
func outsideStore(dir, path string) error {
	absDir, err := resolved(dir)
	if err != nil {
		return err
	}
	absPath, err := resolved(path) // where writeOut writes
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(absDir, absPath); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%w: -o %s is inside the store's directory %s", errUsage, path, dir)
	}
	log, lerr := os.Stat(filepath.Join(dir, filestore.LogFile))
	out, oerr := os.Stat(path)
	if lerr == nil && oerr == nil && os.SameFile(log, out) {
		return fmt.Errorf("%w: -o %s is the store's log", errUsage, path)
	}
	return nil
}

// notTheDatabase refuses an output path that is the SQLite database at db
// or one of the files SQLite keeps beside it (its write-ahead log, shared
// memory index and rollback journal): writing there would replace the
// store, or hand SQLite a file it would read as its own.
func notTheDatabase(db, path string) error {
	out, oerr := os.Stat(path)
	absOut, aerr := resolved(path)
	absDB, derr := resolved(db)
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		samePath := aerr == nil && derr == nil && absDB+suffix == absOut
		fi, err := os.Stat(db + suffix)
		if samePath || err == nil && oerr == nil && os.SameFile(fi, out) {
			return fmt.Errorf("%w: -o %s is the SQLite database %s or a file of it", errUsage, path, db)
		}
	}
	return nil
}

// resolved is path made absolute, its directory's symbolic links
// followed, and the file's own too when it is one: where a write to path
// lands, whether or not the file exists yet (as given, made absolute, when
// its directory does not exist either).
func resolved(path string) (string, error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		return filepath.Abs(target)
	}
	dir, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		return filepath.Abs(path)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.Join(abs, filepath.Base(path)), nil
}

// writeOut runs write on stdout, or on the file at path. A regular file
// (or a new one) is written as a new file that replaces the old one only
// once write has succeeded, with the old one's permissions (a new one gets
// the permissions os.Create gives); through a symbolic link, the file it
// points to is replaced, not the link. Anything else (a named pipe, a
// device) is written to directly.
func writeOut(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "" {
		return writeTo(stdout, write)
	}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	perm := os.FileMode(0o666) // less the umask
	old, err := os.Stat(path)
	switch {
	case err == nil && !old.Mode().IsRegular():
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			return err
		}
		err = writeTo(f, write)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	case err == nil:
		perm = old.Mode().Perm()
	}
	tmp, err := createTemp(path, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	err = writeTo(tmp, write)
	if err == nil && old != nil {
		err = tmp.Chmod(perm) // exactly the old file's, whatever the umask
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}

// writeTo runs write on a buffer over w and flushes it.
func writeTo(w io.Writer, write func(io.Writer) error) error {
	b := bufio.NewWriter(w)
	if err := write(b); err != nil {
		return err
	}
	return b.Flush()
}

// createTemp creates a new file beside path, named after it, with
// permissions perm less the umask.
func createTemp(path string, perm os.FileMode) (*os.File, error) {
	for range 100 {
		name := fmt.Sprintf("%s.tmp%d", path, rand.Uint32())
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("create a file beside %s: every name tried is taken", path)
}
