// Command sessionlog inspects and maintains a sessionlog file store (package
// filestore) from the shell.
//
// Usage:
//
//	sessionlog <command> -dir DIR [flags]
//
// The commands:
//
//	inspect  apps, users and sessions with their counts
//	export   the whole log as JSON lines of records, or one session as an
//	         ADK session document (package adkjson) or as its records,
//	         now or as it stood after a version (-version)
//	import   copy records (JSON lines, as export writes them), positions
//	         included, into a store that holds none, or add one ADK session
//	         document to a store; the directory must exist (-create makes
//	         a new one)
//	verify   check the header, every checksum and every sequence, and
//	         report every damaged stretch
//	salvage  copy every record of a damaged log that can be kept into a
//	         new directory, and report what could not be kept
//	compact  drop what deleted sessions no longer need
//	rewind   take one session back to before an invocation, or to a
//	         version, by appending a rewind event (service.Rewind)
//	fork     copy one session as it stood at a version into a new
//	         session (service.Fork)
//
// inspect, export, verify and salvage only read the store: they take no
// lock and change nothing in it, so they may run beside a process that has
// the store open. import, compact and rewind need the directory to
// themselves, and so does fork. Every error is
// printed with what went wrong and ends the command with a non-zero exit
// status: 1 for a failure, 2 for a usage error.
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
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sessionlog/sessionlog/adkjson"
	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
)

const usage = `usage: sessionlog <command> -dir DIR [flags]

Commands:
  inspect -dir DIR                       list apps, users and sessions with their counts
  export  -dir DIR [-o FILE]             write every record as JSON lines
  export  -dir DIR -app A -user U -session S [-format F] [-indent] [-o FILE]
                                         write one session as an ADK session document
                                         (-format go, python or java: the runtime whose
                                         time forms to write; default go), or as its
                                         records in JSON lines (-format records);
                                         -version N: as the session stood after its
                                         event N (0: just after its creation)
  import  -dir DIR [-create] [-i FILE] [-format records|adk] [-any-time-order]
                                         copy records from JSON lines, positions kept,
                                         into a store that holds none, or add one ADK
                                         session document (-format adk), from FILE or
                                         stdin; all or nothing: bad input writes nothing.
                                         DIR must exist, unless -create is given.
                                         -any-time-order accepts a document whose event
                                         times go back (a session's own log may)
  verify  -dir DIR                       check the header, checksums and sequences, and
                                         list every damaged stretch; exit status 1 on damage
  salvage -dir DIR -o NEWDIR             write every record that can be kept into the new
                                         or empty directory NEWDIR, and list what is lost;
                                         DIR is not changed
  compact -dir DIR                       drop the records deleted sessions no longer need
  rewind  -dir DIR -app A -user U -session S (-before INVOCATION | -version N)
                                         take the session back to just before the first
                                         event of INVOCATION, or to just after its event
                                         N, by appending one rewind event whose state
                                         delta restores the session's keys written since;
                                         nothing is deleted, app: and user: keys stay
  fork    -dir DIR -app A -user U -session S [-version N] [-to ID] [-to-user U2]
                                         make a new session holding the session as it
                                         stood after its event N (default: as it is):
                                         its creation state and copies of its events
                                         with new IDs, each naming the event it copies;
                                         the new session is ID (default: a new ID) of
                                         user U2 (default: U); the source is not changed

Run 'sessionlog <command> -h' for a command's flags.
`

// errUsage marks an error in the command line.
var errUsage = errors.New("usage")

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	commands := map[string]func(context.Context, *flag.FlagSet, []string, io.Reader, io.Writer) error{
		"inspect": inspect, "export": export, "import": importCmd, "verify": verify, "salvage": salvage, "compact": compact,
		"rewind": rewind, "fork": fork,
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sessionlog: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	fs := flag.NewFlagSet("sessionlog "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := &checkedWriter{w: stdout}
	err := cmd(ctx, fs, args[1:], stdin, out)
	if err == nil && out.err != nil {
		err = fmt.Errorf("write the output: %w", out.err)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "sessionlog %s: %v\n", args[0], err)
		fs.Usage()
		return 2
	default:
		fmt.Fprintf(stderr, "sessionlog %s: %v\n", args[0], err)
		return 1
	}
}

// checkedWriter keeps the first error of its writes, so that a command
// whose output could not be written (a full disk, a closed pipe) fails.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.err = err
	return n, err
}

// parse parses a command's flags; -dir is required and nothing may follow
// the flags.
func parse(fs *flag.FlagSet, args []string) (string, error) {
	dir := fs.String("dir", "", "the store's `directory` (required)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case *dir == "":
		return "", fmt.Errorf("%w: -dir is required", errUsage)
	case fs.NArg() > 0:
		return "", fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return *dir, nil
}

// warnings gets the file store's warnings and errors (a torn last record
// cut off, a failed write or fsync) on standard error; what a command did
// it prints itself.
var warnings = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// openReadOnly opens a snapshot of the store in dir.
func openReadOnly(ctx context.Context, dir string) (*filestore.Store, error) {
	return filestore.Open(ctx, dir, filestore.Options{ReadOnly: true})
}

func inspect(ctx context.Context, fs *flag.FlagSet, args []string, _ io.Reader, stdout io.Writer) error {
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	store, err := openReadOnly(ctx, dir)
	if err != nil {
		return err
	}
	defer store.Close()
	st, err := projection.Rebuild(ctx, store)
	if err != nil {
		return err
	}
	rep := store.Report()
	fmt.Fprintf(stdout, "log %s: %d records, %d bytes", rep.File, rep.Records, rep.Size)
	if rep.Torn > 0 {
		fmt.Fprintf(stdout, ", a torn last record of %d bytes", rep.Torn)
	}
	fmt.Fprintf(stdout, "\n%d apps\n", len(st.Apps))
	for _, name := range sortedKeys(st.Apps) {
		a := st.Apps[name]
		type user struct{ sessions, events int }
		users := map[string]*user{}
		for u := range a.Users {
			users[u] = &user{}
		}
		events := 0
		for k, s := range a.Sessions {
			if users[k.UserID] == nil {
				users[k.UserID] = &user{}
			}
			users[k.UserID].sessions++
			users[k.UserID].events += int(s.Version)
			events += int(s.Version)
		}
		fmt.Fprintf(stdout, "app %q: %d users, %d sessions, %d events, %d app state keys\n",
			name, len(users), len(a.Sessions), events, len(a.State.Values()))
		for _, id := range sortedKeys(users) {
			u := users[id]
			fmt.Fprintf(stdout, "  user %q: %d sessions, %d events, %d user state keys\n",
				id, u.sessions, u.events, len(a.Users[id].Values()))
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func export(ctx context.Context, fs *flag.FlagSet, args []string, _ io.Reader, stdout io.Writer) error {
	var key eventlog.SessionKey
	fs.StringVar(&key.AppName, "app", "", "export one session: its `app` name")
	fs.StringVar(&key.UserID, "user", "", "export one session: its `user` ID")
	fs.StringVar(&key.SessionID, "session", "", "export one session: its session `ID`")
	format := fs.String("format", "", "one session's `form`: go, python or java (an ADK session document with that runtime's times; default go) or records")
	indent := fs.Bool("indent", false, "indent an ADK session document")
	version := versionFlag(fs, "export one session as it stood just after its event `N` (0: just after its creation)")
	out := fs.String("o", "", "write to `file` instead of stdout (replaced only when the export is whole)")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	one := key != eventlog.SessionKey{}
	switch {
	case one && (key.AppName == "" || key.UserID == "" || key.SessionID == ""):
		return fmt.Errorf("%w: -app, -user and -session go together", errUsage)
	case !one && *format != "" && *format != "records":
		return fmt.Errorf("%w: -format %s exports one session: name it with -app, -user and -session", errUsage, *format)
	case !one && *version != nil:
		return fmt.Errorf("%w: -version exports one session as it stood then: name it with -app, -user and -session", errUsage)
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
		if err := outsideStore(dir, *out); err != nil {
			return err
		}
	}
	store, err := openReadOnly(ctx, dir)
	if err != nil {
		return err
	}
	defer store.Close()
	var svc *service.Service
	if one {
		if svc, err = service.New(ctx, service.Options{Store: store}); err != nil {
			return err
		}
		// Read the session first, so that a missing one, or a version it
		// does not have, makes no file.
		if _, err := svc.Get(ctx, key, service.GetOptions{NumRecentEvents: 1, AtVersion: *version}); err != nil {
			if *version != nil && errors.Is(err, service.ErrInvalidArgument) {
				return fmt.Errorf("-version %d: %w: check -version (sessionlog export without it shows the session's events)", **version, err)
			}
			return err
		}
	}
	if one && *format != "records" {
		if *version == nil {
			return writeOut(*out, stdout, func(w io.Writer) error { return adkjson.Export(ctx, svc, key, w, adk) })
		}
		sess, err := svc.Get(ctx, key, service.GetOptions{AtVersion: *version})
		if err != nil {
			return err
		}
		b, err := adkjson.Marshal(sess, adk)
		if err != nil {
			return err
		}
		return writeOut(*out, stdout, func(w io.Writer) error {
			_, err := w.Write(append(b, '\n'))
			return err
		})
	}
	records := projection.Records(ctx, store)
	if one {
		recs, err := sessionRecords(ctx, store, key)
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
	return writeOut(*out, stdout, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for rec, err := range records {
			if err != nil {
				return err
			}
			if err := enc.Encode(rec); err != nil {
				return fmt.Errorf("encode record at position %d: %w", rec.Position, err)
			}
		}
		return nil
	})
}

// versionFlag defines the flag -version, a session's version: nil until
// it is given.
func versionFlag(fs *flag.FlagSet, help string) **uint64 {
	v := new(*uint64)
	fs.Func("version", help, func(s string) error {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a version: a version is an event's sequence number, 0 or more", s)
		}
		*v = &n
		return nil
	})
	return v
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
	absDir, err := filepath.Abs(dir)
	if err == nil {
		var absPath string
		if absPath, err = filepath.Abs(path); err == nil {
			rel, rerr := filepath.Rel(absDir, absPath)
			if rerr == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				return fmt.Errorf("%w: -o %s is inside the store's directory %s", errUsage, path, dir)
			}
		}
	}
	if err != nil {
		return err
	}
	log, lerr := os.Stat(filepath.Join(dir, filestore.LogFile))
	out, oerr := os.Stat(path)
	if lerr == nil && oerr == nil && os.SameFile(log, out) {
		return fmt.Errorf("%w: -o %s is the store's log", errUsage, path)
	}
	return nil
}

// writeOut runs write on stdout, or on a new file at path that replaces
// any old one only once write has succeeded.
func writeOut(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "" {
		w := bufio.NewWriter(stdout)
		if err := write(w); err != nil {
			return err
		}
		return w.Flush()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	w := bufio.NewWriter(tmp)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}

func importCmd(ctx context.Context, fs *flag.FlagSet, args []string, stdin io.Reader, stdout io.Writer) error {
	in := fs.String("i", "", "read from `file` instead of stdin")
	format := fs.String("format", "records", "the input's `form`: records (JSON lines, as export writes them) or adk (one ADK session document, in any runtime's time forms)")
	anyOrder := fs.Bool("any-time-order", false, "with -format adk: accept events whose timestamps go back")
	create := fs.Bool("create", false, "make the directory and a new store in it if the directory does not exist")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *format != "records" && *format != "adk" {
		return fmt.Errorf("%w: -format %q is not records or adk (records: JSON lines, as 'sessionlog export' writes them; adk: one ADK session document)", errUsage, *format)
	}
	if *anyOrder && *format != "adk" {
		return fmt.Errorf("%w: -any-time-order goes with -format adk", errUsage)
	}
	if err := storeDir(dir, *create); err != nil {
		return err
	}
	src, name := stdin, "stdin"
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
		return importADK(ctx, dir, src, name, stdout, opts...)
	}
	records, err := readRecords(src, name)
	if err != nil {
		return err
	}
	if err := dryRun(ctx, dir, func(dry *service.Service) error { return dry.Import(ctx, each(records)) }); err != nil {
		return fmt.Errorf("nothing imported: %s: %w", name, err)
	}
	svc, err := openService(ctx, dir)
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := svc.Import(ctx, each(records)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := svc.Close(); err != nil { // syncs the log
		return err
	}
	fmt.Fprintf(stdout, "imported %d records into %s\n", len(records), dir)
	return nil
}

// storeDir checks that the store's directory exists, unless create is
// set: a mistyped -dir must not make a new, empty store.
func storeDir(dir string, create bool) error {
	info, err := os.Stat(dir)
	switch {
	case err == nil && !info.IsDir():
		return fmt.Errorf("-dir %s is a file, not a store's directory", dir)
	case err == nil || create && errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist: check -dir, or add -create to make a new store there", dir)
	}
	return err
}

// importADK imports one ADK session document.
func importADK(ctx context.Context, dir string, src io.Reader, name string, stdout io.Writer, opts ...adkjson.ImportOption) error {
	data, err := io.ReadAll(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if isRecord(data) {
		return fmt.Errorf("nothing imported: %s holds records (JSON lines, as 'sessionlog export' writes them), not an ADK session document: import it with -format records", name)
	}
	if err := dryRun(ctx, dir, func(dry *service.Service) error {
		_, err := adkjson.Import(ctx, dry, bytes.NewReader(data), opts...)
		return err
	}); err != nil {
		return fmt.Errorf("nothing imported: %s: %w", name, err)
	}
	svc, err := openService(ctx, dir)
	if err != nil {
		return err
	}
	defer svc.Close()
	sess, err := adkjson.Import(ctx, svc, bytes.NewReader(data), opts...)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := svc.Close(); err != nil { // syncs the log
		return err
	}
	fmt.Fprintf(stdout, "imported session %s with %d events into %s\n", sess.Key(), len(sess.Events), dir)
	return nil
}

// dryRun runs apply on a copy in memory of the store in dir (read from a
// snapshot, without the lock: nothing in the directory changes, not even
// a torn last record), so that an import that would fail writes nothing at
// all, and a store that does not exist yet is made only for input that
// goes in.
func dryRun(ctx context.Context, dir string, apply func(*service.Service) error) error {
	dry, err := service.New(ctx, service.Options{})
	if err != nil {
		return err
	}
	defer dry.Close()
	if _, err := os.Stat(filepath.Join(dir, filestore.LogFile)); err == nil {
		store, err := openReadOnly(ctx, dir)
		if err != nil {
			return err
		}
		err = dry.Import(ctx, projection.Records(ctx, store))
		if cerr := store.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("copy the store for a dry run: %w", err)
		}
	}
	return apply(dry)
}

// openService opens the store in dir for writing, with a service over it.
func openService(ctx context.Context, dir string) (*service.Service, error) {
	store, err := filestore.Open(ctx, dir, filestore.Options{Sync: filestore.SyncOS, Logger: warnings})
	if err != nil {
		return nil, err
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return svc, nil
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

// readRecords decodes JSON lines of records; blank lines are skipped.
func readRecords(r io.Reader, name string) ([]*eventlog.Record, error) {
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

func verify(ctx context.Context, fs *flag.FlagSet, args []string, _ io.Reader, stdout io.Writer) error {
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	rep, err := filestore.Verify(ctx, dir)
	if err != nil && len(rep.Damage)+len(rep.Sessions) == 0 {
		return err
	}
	if err != nil {
		fmt.Fprintf(stdout, "damaged: %s: %d whole records, %d damaged stretches, %d sessions not whole\n", rep.File, rep.Records, len(rep.Damage), len(rep.Sessions))
		printDamage(stdout, rep)
		fmt.Fprintf(stdout, "sessionlog salvage -dir %s -o NEWDIR writes every record that can be kept into NEWDIR\n", dir)
		return err
	}
	fmt.Fprintf(stdout, "ok: %s: %d records, %d bytes, checksums and sequences whole\n", rep.File, rep.Records, rep.Size)
	printTorn(stdout, rep, "is cut off when the store is next opened for writing")
	return nil
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

func salvage(ctx context.Context, fs *flag.FlagSet, args []string, _ io.Reader, stdout io.Writer) error {
	out := fs.String("o", "", "the new store's `directory` (required): it must not exist or be empty")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("%w: -o is required: the new directory to write the salvaged store into", errUsage)
	}
	s, err := filestore.Salvage(ctx, dir, *out)
	if err != nil {
		return err
	}
	added := 0
	for _, k := range s.Kept {
		if k.Offset < 0 {
			added++
		}
	}
	fmt.Fprintf(stdout, "salvaged %s into %s: kept %d of %d whole records", s.File, s.Dir, len(s.Kept)-added, s.Records)
	if added > 0 {
		fmt.Fprintf(stdout, ", added %d deletions", added)
	}
	fmt.Fprintf(stdout, "; %d damaged stretches, %d sessions not whole\n", len(s.Damage), len(s.Sessions))
	printDamage(stdout, s.Report)
	printTorn(stdout, s.Report, "is left out")
	return nil
}

func compact(ctx context.Context, fs *flag.FlagSet, args []string, _ io.Reader, stdout io.Writer) error {
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	c, err := filestore.CompactWith(ctx, dir, filestore.CompactOptions{Logger: warnings})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compacted %s: %d records in %d bytes, now %d records in %d bytes\n",
		dir, c.RecordsBefore, c.SizeBefore, c.RecordsAfter, c.SizeAfter)
	return nil
}

// openSession opens the store in dir for writing, and reads the session
// at key as it is (its last event only); the caller closes the service.
func openSession(ctx context.Context, dir string, key eventlog.SessionKey) (*service.Service, *service.Session, error) {
	if err := storeDir(dir, false); err != nil {
		return nil, nil, err
	}
	svc, err := openService(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	sess, err := svc.Get(ctx, key, service.GetOptions{NumRecentEvents: 1})
	if err != nil {
		svc.Close()
		if errors.Is(err, service.ErrNotFound) {
			err = fmt.Errorf("%w: check -app, -user and -session (sessionlog inspect lists the apps and users)", err)
		}
		return nil, nil, err
	}
	return svc, sess, nil
}

func fork(ctx context.Context, fs *flag.FlagSet, args []string, _ io.Reader, stdout io.Writer) error {
	var key eventlog.SessionKey
	fs.StringVar(&key.AppName, "app", "", "the source session's `app` name (required)")
	fs.StringVar(&key.UserID, "user", "", "the source session's `user` ID (required)")
	fs.StringVar(&key.SessionID, "session", "", "the source session's `ID` (required)")
	version := versionFlag(fs, "copy the session as it stood just after its event `N` (0: just after its creation); default: as it is")
	var to eventlog.SessionKey
	fs.StringVar(&to.SessionID, "to", "", "the new session's `ID` (default: a new ID)")
	fs.StringVar(&to.UserID, "to-user", "", "the new session's `user` ID (default: the source's)")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	if key.AppName == "" || key.UserID == "" || key.SessionID == "" {
		return fmt.Errorf("%w: -app, -user and -session are required: they name the session to fork", errUsage)
	}
	svc, src, err := openSession(ctx, dir, key)
	if err != nil {
		return err
	}
	defer svc.Close()
	at := src.Version
	if *version != nil {
		at = **version
	}
	forked, err := svc.Fork(ctx, key, at, to)
	switch {
	case errors.Is(err, service.ErrInvalidArgument) && at > src.Version:
		return fmt.Errorf("%w: check -version: the session's version is %d", err, src.Version)
	case errors.Is(err, service.ErrAlreadyExists):
		return fmt.Errorf("%w: check -to: pick an ID no session of the user has, or leave it out for a new one", err)
	case err != nil:
		return err
	}
	if err := svc.Close(); err != nil { // syncs the log
		return err
	}
	fmt.Fprintf(stdout, "forked session %s at version %d into %s\n", key, at, forked.Key())
	fmt.Fprintf(stdout, "%d events copied with new IDs, each naming the event it copies in its custom metadata (%s); the source is not changed\n",
		len(forked.Events), service.ForkedFrom)
	return nil
}

func rewind(ctx context.Context, fs *flag.FlagSet, args []string, _ io.Reader, stdout io.Writer) error {
	var key eventlog.SessionKey
	fs.StringVar(&key.AppName, "app", "", "the session's `app` name (required)")
	fs.StringVar(&key.UserID, "user", "", "the session's `user` ID (required)")
	fs.StringVar(&key.SessionID, "session", "", "the session's `ID` (required)")
	before := fs.String("before", "", "take the session back to just before the first event of this `invocation` ID")
	version := versionFlag(fs, "take the session back to just after its event `N` (0: just after its creation); the next event must begin an invocation")
	dir, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case key.AppName == "" || key.UserID == "" || key.SessionID == "":
		return fmt.Errorf("%w: -app, -user and -session are required: they name the session to rewind", errUsage)
	case *before != "" && *version != nil:
		return fmt.Errorf("%w: -before and -version both name the point to rewind to: give one", errUsage)
	case *before == "" && *version == nil:
		return fmt.Errorf("%w: name the point to rewind to: -before INVOCATION (an invocation ID of the session's events) or -version N", errUsage)
	}
	svc, sess, err := openSession(ctx, dir, key)
	if err != nil {
		return err
	}
	defer svc.Close()
	// The command holds the store's lock, so nothing appends in between;
	// the expected version also gives the rewind's sequence number.
	opts := service.RewindOptions{ExpectVersion: &sess.Version}
	var ev *service.Event
	if *before != "" {
		ev, err = svc.Rewind(ctx, key, *before, opts)
		if errors.Is(err, service.ErrInvalidArgument) {
			return fmt.Errorf("%w: check -before: it takes the invocation ID of one of the session's events (sessionlog export -app %s -user %s -session %s shows them)", err, key.AppName, key.UserID, key.SessionID)
		}
	} else {
		ev, err = svc.RewindToVersion(ctx, key, **version, opts)
		if errors.Is(err, service.ErrInvalidArgument) {
			return fmt.Errorf("%w: check -version: it takes a version before the session's %d, after which an invocation begins (or use -before INVOCATION)", err, sess.Version)
		}
	}
	if err != nil {
		return err
	}
	if err := svc.Close(); err != nil { // syncs the log
		return err
	}
	fmt.Fprintf(stdout, "rewound session %s to just before invocation %q", key, ev.Actions.RewindBeforeInvocationID)
	if *version != nil {
		fmt.Fprintf(stdout, " (just after version %d)", **version)
	}
	fmt.Fprintf(stdout, "\nthe rewind is event %q, sequence number %d, invocation %q; no event was deleted\n", ev.ID, sess.Version+1, ev.InvocationID)
	var restored, removed []string
	for _, k := range sortedKeys(ev.Actions.StateDelta) {
		v := ev.Actions.StateDelta[k]
		if s, ok := v.(string); ok && s == string(service.Removed) || v == service.Removed {
			removed = append(removed, k)
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			b = []byte(fmt.Sprint(v))
		}
		restored = append(restored, fmt.Sprintf("%s = %s", k, b))
	}
	if len(restored)+len(removed) == 0 {
		fmt.Fprintln(stdout, "no session state key was written since then: the state is unchanged")
	}
	for _, r := range restored {
		fmt.Fprintf(stdout, "restores %s\n", r)
	}
	for _, k := range removed {
		fmt.Fprintf(stdout, "removes %s (it had no value then)\n", k)
	}
	fmt.Fprintln(stdout, "app: and user: state is not rewound")
	return nil
}
