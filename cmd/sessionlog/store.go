package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/pgstore"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// storeKind is one kind of store a command can open. A new kind is one
// more entry in storeKinds.
type storeKind struct {
	// name names the kind in messages: "file", "SQLite", "PostgreSQL".
	name string
	// prefixes are how a -store value of this kind starts.
	prefixes []string
	// keepPrefix: the prefix is part of the address (a URL), rather than
	// a label to cut off (file:DIR).
	keepPrefix bool
	// schema: the kind takes -schema.
	schema bool
	// open opens the store at ref.
	open func(ctx context.Context, ref storeRef, mode openMode) (eventlog.Store, error)
	// holdsLog reports whether there is a store at ref to read: false for
	// a file store's directory without a log. An import tries its input
	// on a copy of what is there first.
	holdsLog func(ref storeRef) bool
	// show formats ref for messages, without secrets.
	show func(ref storeRef) string
	// check, if set, refuses early a store that open would not open in
	// mode, before a command reads its input.
	check func(ref storeRef, mode openMode) error
	// whyNot says, for each command that works on file stores only, why
	// this kind has no need of it; nil for the file kind.
	whyNot map[string]string
}

// openMode is what a command does with a store.
type openMode uint8

const (
	// readOnly reads the store and changes nothing in it; a file store
	// is a snapshot, without the lock.
	readOnly openMode = iota
	// readWrite writes a store that exists: a file store's directory, a
	// SQLite store's file, a PostgreSQL store's schema.
	readWrite
	// importing writes records into the store: as readWrite, but a
	// PostgreSQL schema is made when missing (-create makes the others).
	importing
	// create writes the store, making a file store's directory or a
	// SQLite store (in its file) if missing.
	create
)

// createHint is what to add to a message that no store is there: the
// -create that import takes, and nothing for the commands without it.
func createHint(mode openMode) string {
	if mode == importing {
		return ", or add -create to make a new store there"
	}
	return ""
}

var (
	fileKind = &storeKind{
		name:     "file",
		prefixes: []string{"file:"},
		open:     openFile,
		check:    checkDir,
		holdsLog: func(ref storeRef) bool {
			_, err := os.Stat(filepath.Join(ref.addr, filestore.LogFile))
			return err == nil
		},
		show: func(ref storeRef) string { return "file:" + ref.addr },
	}
	sqliteKind = &storeKind{
		name:     "SQLite",
		prefixes: []string{"sqlite:"},
		open: func(ctx context.Context, ref storeRef, mode openMode) (eventlog.Store, error) {
			// SQLite lets readers and one writer at a time share the
			// file, across processes, so every mode opens it the same
			// way; check keeps a read from making a new, empty file, and
			// Existing keeps all but -create from making a store in a
			// file that holds none (another program's database).
			s, err := sqlitestore.Open(ctx, ref.addr, sqlitestore.Options{Sync: sqlitestore.SyncFull, Logger: warnings,
				Existing: mode != create})
			if errors.Is(err, sqlitestore.ErrNoStore) {
				err = fmt.Errorf("%w: check %s%s", err, ref.flag, createHint(mode))
			}
			return s, err
		},
		check: checkFile,
		holdsLog: func(ref storeRef) bool {
			_, err := os.Stat(ref.addr)
			return err == nil
		},
		show: func(ref storeRef) string { return "sqlite:" + ref.addr },
		whyNot: map[string]string{
			"salvage": "SQLite keeps its file whole itself through its write-ahead log (restore a damaged database from a backup)",
			"compact": "SQLite frees a deleted session's rows when it is deleted and reuses their space",
		},
	}
	postgresKind = &storeKind{
		name:       "PostgreSQL",
		prefixes:   []string{"postgres://", "postgresql://"},
		keepPrefix: true,
		schema:     true,
		open: func(ctx context.Context, ref storeRef, mode openMode) (eventlog.Store, error) {
			// Only import makes a missing schema.
			s, err := pgstore.Open(ctx, ref.addr, pgstore.Options{Schema: ref.schema, Logger: warnings,
				Existing: mode == readOnly || mode == readWrite})
			if errors.Is(err, pgstore.ErrNoStore) {
				err = fmt.Errorf("%w: check -schema", err)
			}
			return s, err
		},
		holdsLog: func(storeRef) bool { return true }, // the schema is made when missing
		show: func(ref storeRef) string {
			s := ref.addr
			if u, err := url.Parse(ref.addr); err == nil {
				s = u.Redacted()
			}
			schema := ref.schema
			if schema == "" {
				schema = pgstore.DefaultSchema
			}
			return s + " schema " + schema
		},
		whyNot: map[string]string{
			"salvage": "PostgreSQL keeps its tables whole itself (restore a damaged database from its backups)",
			"compact": "PostgreSQL frees a deleted session's records when it is deleted",
		},
	}
	// storeKinds are the kinds -store takes, in the order usage names them.
	storeKinds = []*storeKind{fileKind, sqliteKind, postgresKind}
)

// storeRef is a store named on the command line.
type storeRef struct {
	kind *storeKind
	// addr is the directory of a file store, or the URL of a database.
	addr string
	// schema is the database schema; empty for the kind's default.
	schema string
	// flag is the flag that named the store, for messages: -store or -dir.
	flag string
}

// String formats the store for messages, without secrets.
func (r storeRef) String() string { return r.kind.show(r) }

// arg is the command line argument that names the store, for messages
// that suggest a command.
func (r storeRef) arg() string {
	if r.flag == "-dir" {
		return "-dir " + r.addr
	}
	return "-store " + r.String()
}

// open opens the store.
func (r storeRef) open(ctx context.Context, mode openMode) (eventlog.Store, error) {
	if err := r.check(mode); err != nil {
		return nil, err
	}
	return r.kind.open(ctx, r, mode)
}

// check refuses a store that open would not open in mode, if the kind can
// tell without opening it.
func (r storeRef) check(mode openMode) error {
	if r.kind.check == nil {
		return nil
	}
	return r.kind.check(r, mode)
}

// fileOnly refuses a store that is not a file store, for the commands that
// work on a log file (errUnsupported), saying why the store's kind has no
// need of cmd.
func (r storeRef) fileOnly(cmd string) error {
	if r.kind == fileKind {
		return nil
	}
	return fmt.Errorf("%w: %s works on file stores only, and %s is a %s store: %s", errUnsupported, cmd, r, r.kind.name, r.kind.whyNot[cmd])
}

// storeFlags are the flags that name a store, the same in every command.
type storeFlags struct {
	store, dir, schema string
}

// addStoreFlags defines -store, -dir and -schema on fs.
func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	f := new(storeFlags)
	fs.StringVar(&f.store, "store", "", "the `store`: file:DIR (a directory), sqlite:FILE (a SQLite database file) or postgres://... (a PostgreSQL URL; postgresql:// too)")
	fs.StringVar(&f.dir, "dir", "", "the store's `directory`: the same as -store file:DIR")
	fs.StringVar(&f.schema, "schema", "", "the PostgreSQL `schema` of the store's tables (default "+pgstore.DefaultSchema+")")
	return f
}

// ref returns the store the flags name; one of -store and -dir is
// required.
func (f *storeFlags) ref() (storeRef, error) {
	switch {
	case f.store != "" && f.dir != "":
		return storeRef{}, fmt.Errorf("%w: -store and -dir both name the store: give one", errUsage)
	case f.dir != "":
		return storeRef{kind: fileKind, addr: f.dir, flag: "-dir"}, f.checkSchema(fileKind)
	case f.store == "":
		return storeRef{}, fmt.Errorf("%w: -store is required: name the store as %s (or give -dir DIR)", errUsage, storeForms())
	}
	for _, k := range storeKinds {
		for _, p := range k.prefixes {
			rest, ok := strings.CutPrefix(f.store, p)
			if !ok {
				continue
			}
			addr := rest
			if k.keepPrefix {
				addr = f.store
			}
			if rest == "" {
				return storeRef{}, fmt.Errorf("%w: -store %s names no store: name it as %s", errUsage, f.store, storeForms())
			}
			return storeRef{kind: k, addr: addr, schema: f.schema, flag: "-store"}, f.checkSchema(k)
		}
	}
	return storeRef{}, fmt.Errorf("%w: -store %q is not a store: name it as %s", errUsage, f.store, storeForms())
}

func (f *storeFlags) checkSchema(k *storeKind) error {
	if f.schema != "" && !k.schema {
		return fmt.Errorf("%w: -schema names a PostgreSQL schema, and the store is a %s store", errUsage, k.name)
	}
	return nil
}

// storeForms lists the forms of -store, for messages.
func storeForms() string {
	var forms []string
	for _, k := range storeKinds {
		for _, p := range k.prefixes {
			switch {
			case k.keepPrefix:
				forms = append(forms, p+"...")
			case k == fileKind:
				forms = append(forms, p+"DIR")
			default:
				forms = append(forms, p+"FILE")
			}
		}
	}
	return strings.Join(forms, ", ")
}

// openFile opens a file store: a snapshot without the lock to read, the
// locked store to write.
func openFile(ctx context.Context, ref storeRef, mode openMode) (eventlog.Store, error) {
	if mode == readOnly {
		return filestore.Open(ctx, ref.addr, filestore.Options{ReadOnly: true})
	}
	return filestore.Open(ctx, ref.addr, filestore.Options{Sync: filestore.SyncOS, Logger: warnings})
}

// warnings gets a store's warnings and errors (a torn last record cut
// off, a failed write or fsync, a lost listener connection) on standard
// error; what a command did it prints itself.
var warnings = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// checkDir checks that a file store's directory to write exists, unless
// mode is create: a mistyped directory must not make a new, empty store.
func checkDir(ref storeRef, mode openMode) error {
	if mode == readOnly {
		return nil
	}
	info, err := os.Stat(ref.addr)
	switch {
	case err == nil && !info.IsDir():
		return fmt.Errorf("%s %s is a file, not a store's directory", ref.flag, ref.addr)
	case err == nil || mode == create && errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist: check %s%s", ref.addr, ref.flag, createHint(mode))
	}
	return err
}

// checkFile checks that a SQLite store's file to read or write exists,
// unless mode is create, and that a new one's directory does: a mistyped
// path must not make a new, empty store.
func checkFile(ref storeRef, mode openMode) error {
	info, err := os.Stat(ref.addr)
	switch {
	case err == nil && info.IsDir():
		return fmt.Errorf("%s names a directory, not a SQLite database file: name a file, as sqlite:%s", ref.arg(), filepath.Join(ref.addr, "sessions.db"))
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return err
	case mode != create:
		return fmt.Errorf("the SQLite database %s does not exist: check %s%s", ref.addr, ref.flag, createHint(mode))
	}
	dir := filepath.Dir(ref.addr)
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return fmt.Errorf("the directory %s of the new SQLite database %s does not exist: make it first, or check %s", dir, ref.addr, ref.flag)
	}
	return nil
}

// isNoStore reports an open that found no store where one was to be read.
func isNoStore(err error) bool {
	return errors.Is(err, sqlitestore.ErrNoStore) || errors.Is(err, pgstore.ErrNoStore)
}
