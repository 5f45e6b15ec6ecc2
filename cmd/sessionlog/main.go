// Command sessionlog inspects and maintains a sessionlog store from the
// shell: a file store (package filestore), a SQLite store (package
// sqlitestore) or a PostgreSQL store (package pgstore).
//
// Usage:
//
//	sessionlog <command> -store STORE [flags]
//
// STORE is file:DIR (a file store's directory; -dir DIR says the same),
// sqlite:FILE (a SQLite database file) or a PostgreSQL URL, postgres://...
// or postgresql://..., whose tables are in the schema -schema names
// (default pgstore.DefaultSchema).
//
// The commands:
//
//	inspect  apps, users and sessions: IDs, versions, event counts, last
//	         updates (-json: JSON lines)
//	show     one session as a timeline of its events
//	export   the whole store, one app or one user as JSON lines of
//	         records, or one session as an ADK session document (package
//	         adkjson) or as its records, now or as it stood after a
//	         version (-version)
//	import   copy records (JSON lines, as export writes them), positions
//	         included, into a store that holds none, or add one ADK session
//	         document to a store
//	verify   check that the state the store serves is the fold of its
//	         log; on a file store also the header, every checksum and
//	         every sequence, reporting every damaged stretch
//	salvage  copy every record of a damaged log that can be kept into a
//	         new directory, and report what could not be kept (file
//	         stores only)
//	compact  drop what deleted sessions no longer need (file stores only)
//	rewind   take one session back to before an invocation, or to a
//	         version, by appending a rewind event (service.Rewind)
//	fork     copy one session as it stood at a version into a new
//	         session (service.Fork)
//
// On a file store, inspect, show, export, verify and salvage only read
// the store: they take no lock and change nothing in it, so they may run
// beside a process that has the store open. import, compact, rewind and
// fork need the directory to themselves. A SQLite or PostgreSQL store is
// shared: every command may run beside the processes that use it. A
// command refuses a SQLite file that does not exist (import makes one with
// -create).
//
// -h or --help after the command name, or alone, prints the usage on
// stdout and exits with status 0. Every error is printed on stderr with
// what went wrong and ends the command with a non-zero exit status: 1 for
// a failure, 2 for a usage error, which includes naming a store that the
// command does not work on (compact and salvage on SQLite and
// PostgreSQL), 130 (SIGINT) or 143 (SIGTERM) for a command interrupted:
// it stops where it is, as it would on an error (an export leaves its
// output file as it was), or, if it has not stopped 2 seconds later or at
// a second signal, the process exits at once. On a terminal, commands
// that run for more than a second
// show their progress on stderr, on one line that they rewrite and blank
// at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

// command is one subcommand.
type command struct {
	name string
	run  func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error
	// synopsis is the command line after the store, one form a line.
	synopsis []string
	// summary is a line for the list of commands.
	summary string
	// help says what the command does, for its own usage.
	help string
}

// commands are the subcommands, in the order the usage lists them.
var commands = []*command{
	{name: "inspect", run: inspect, synopsis: []string{"[-app A] [-user U] [-json]"},
		summary: "list apps, users and sessions with their counts",
		help: `Lists the store's apps, each app's users and each user's sessions: IDs,
versions, event counts, state keys and last updates. -app and -user keep
one app, one user (of every app, unless -app names one). -json prints one
JSON object a line: {"kind":"app"|"user"|"session", ...}.`},
	{name: "show", run: show, synopsis: []string{"-app A -user U -session S [-version N]"},
		summary: "print one session as a timeline of its events",
		help: `Prints one session: a header with its key, version, last update and
state, then each event with its sequence number, time, author and
invocation, its text, function calls and responses, and the state keys it
sets and removes. A rewind says where it goes back to, and events that a
rewind annulled are marked.`},
	{name: "export", run: export, synopsis: []string{
		"[-app A [-user U]] [-o FILE]",
		"-app A -user U -session S [-format F] [-indent] [-version N] [-o FILE]"},
		summary: "write records as JSON lines, or one session as an ADK document",
		help: `Without -session, writes the records of the whole store, of one app
(-app) or of one user (-app and -user) as JSON lines, in position order;
'sessionlog import' reads them. With -app, -user and -session, writes one
session as an ADK session document (-format go, python or java: the
runtime whose time forms to write; default go), or its records (-format
records); -version N: as the session stood just after its event N (0:
just after its creation). -o FILE replaces FILE only once the export is
whole.`},
	{name: "import", run: importCmd, synopsis: []string{"[-create] [-i FILE] [-format records|adk] [-any-time-order]"},
		summary: "copy records into an empty store, or add one ADK session document",
		help: `Copies records from JSON lines, as export writes them, positions kept,
into a store that holds none; or, with -format adk, adds one ADK session
document as a new session. Reads FILE (-i) or stdin. All or nothing: the
input is tried on a copy in memory first, and bad input writes nothing.
A file store's directory or a SQLite file must exist, unless -create is
given; a PostgreSQL schema is made when missing. -any-time-order accepts a
document whose event times go back (a session's own log may).`},
	{name: "verify", run: verify, synopsis: []string{""},
		summary: "check the store; exit status 1 on damage or a difference",
		help: `Checks that the state the store serves (sessions, versions, events,
state, listings) is the fold of its log. On a file store it first checks
the log's header, checksums and sequences and lists every damaged
stretch. Exit status 1 on damage or a difference.`},
	{name: "salvage", run: salvage, synopsis: []string{"-o NEWDIR"},
		summary: "copy what can be kept of a damaged file store into NEWDIR",
		help: `Writes every record of a damaged file store's log that can be kept into
the new or empty directory NEWDIR, and lists what is lost; the store is
not changed. File stores only.`},
	{name: "compact", run: compact, synopsis: []string{""},
		summary: "drop the records deleted sessions no longer need",
		help: `Rewrites a file store's log without the creations and events of deleted
sessions (the app: and user: state they wrote stays). File stores only:
SQLite and PostgreSQL free them when the session is deleted.`},
	{name: "rewind", run: rewind, synopsis: []string{"-app A -user U -session S (-before INVOCATION | -version N)"},
		summary: "take a session back by appending a rewind event",
		help: `Takes the session back to just before the first event of INVOCATION, or
to just after its event N, by appending one rewind event whose state
delta restores the session's keys written since. Nothing is deleted, and
app: and user: keys stay.`},
	{name: "fork", run: fork, synopsis: []string{"-app A -user U -session S [-version N] [-to ID] [-to-user U2]"},
		summary: "copy a session as it stood at a version into a new session",
		help: `Makes a new session holding the session as it stood after its event N
(default: as it is): its creation state and copies of its events with new
IDs, each naming the event it copies. The new session is ID (default: a
new ID) of user U2 (default: U). The source is not changed.`},
}

// usage is the command's usage.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: sessionlog <command> -store STORE [flags]\n\n")
	fmt.Fprintf(&b, "STORE is %s; -dir DIR is -store file:DIR;\n", storeForms())
	b.WriteString("-schema S names a PostgreSQL store's schema.\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'sessionlog <command> -h' for a command's flags.\n")
	return b.String()
}

// printUsage prints c's usage and flags.
func (c *command) printUsage(w io.Writer, fs *flag.FlagSet) {
	for i, s := range c.synopsis {
		lead := "usage:"
		if i > 0 {
			lead = "      "
		}
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%s sessionlog %s -store STORE %s", lead, c.name, s), " "))
	}
	fmt.Fprintf(w, "\n%s\n\nFlags:\n", c.help)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

var (
	// errUsage marks an error in the command line; the command's usage
	// follows its message.
	errUsage = errors.New("usage")
	// errUnsupported marks a command that does not work on the store
	// named; exit status 2, as a usage error, without the usage.
	errUnsupported = errors.New("not supported")
)

func main() {
	ctx, stop := interruptible(context.Background(), interruptGrace, func(code int) {
		fmt.Fprintln(os.Stderr, "sessionlog: interrupted")
		os.Exit(code)
	})
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// env is what a command runs with: its input and output, and whether they
// are terminals.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// stdoutTTY, stderrTTY: stdout, stderr are terminals.
	stdoutTTY, stderrTTY bool
	now                  func() time.Time
	store                *storeFlags
}

// progress returns the progress line of a step, shown on stderr if it is a
// terminal; nil (nothing shown) otherwise.
func (e *env) progress(label, unit string, total int64) *progress {
	return newProgress(e.stderr, e.stderrTTY, e.now, label, unit, total)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return slices.Contains([]string{"-h", "-help", "--help", "help"}, arg)
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return runIn(ctx, &env{stdin: stdin, stdout: stdout, stderr: stderr,
		stdoutTTY: isTerminal(stdout), stderrTTY: isTerminal(stderr), now: time.Now}, args)
}

// runIn runs the command line args in e (whose store flags it sets) and
// returns the exit status.
func runIn(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, usage())
		return 0
	}
	i := slices.IndexFunc(commands, func(c *command) bool { return c.name == args[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "sessionlog: unknown command %q\n\n%s", args[0], usage())
		return 2
	}
	cmd := commands[i]
	// The flag package's own messages go nowhere: parse returns them as
	// errors, which are printed once, below, with the usage.
	fs := flag.NewFlagSet("sessionlog "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	out := &checkedWriter{w: stdout}
	e.stdout, e.store = out, addStoreFlags(fs)
	err := cmd.run(ctx, e, fs, args[1:])
	if err == nil && out.err != nil {
		err = fmt.Errorf("write the output: %w", out.err)
	}
	if why, ok := interruptedBy(ctx); ok && err != nil {
		fmt.Fprintf(stderr, "sessionlog %s: %v: %v\n", cmd.name, why, err)
		return why.status()
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		cmd.printUsage(stdout, fs)
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "sessionlog %s: %v\n\n", cmd.name, err)
		cmd.printUsage(stderr, fs)
		return 2
	case errors.Is(err, errUnsupported):
		fmt.Fprintf(stderr, "sessionlog %s: %v\n", cmd.name, err)
		return 2
	default:
		fmt.Fprintf(stderr, "sessionlog %s: %v\n", cmd.name, err)
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

// parse parses a command's flags and returns the store they name: -store
// or -dir is required, and nothing may follow the flags.
func (e *env) parse(fs *flag.FlagSet, args []string) (storeRef, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return storeRef{}, err
		}
		return storeRef{}, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		if isHelp(fs.Arg(0)) {
			return storeRef{}, flag.ErrHelp
		}
		return storeRef{}, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return e.store.ref()
}

// sessionFlags defines -app, -user and -session, naming a session, whose
// help says what the session is for.
func sessionFlags(fs *flag.FlagSet, what string) *eventlog.SessionKey {
	key := new(eventlog.SessionKey)
	fs.StringVar(&key.AppName, "app", "", what+": its `app` name")
	fs.StringVar(&key.UserID, "user", "", what+": its `user` ID")
	fs.StringVar(&key.SessionID, "session", "", what+": its session `ID`")
	return key
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// openService opens the store as mode says, with a service over it; closing
// the service closes the store.
func openService(ctx context.Context, ref storeRef, mode openMode) (*service.Service, error) {
	store, err := ref.open(ctx, mode)
	if err != nil {
		return nil, err
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		return nil, errors.Join(err, store.Close())
	}
	return svc, nil
}

// openSession opens the store, and reads the session at key as it is (its
// last event only); the caller closes the service.
func openSession(ctx context.Context, ref storeRef, mode openMode, key eventlog.SessionKey) (*service.Service, *service.Session, error) {
	svc, err := openService(ctx, ref, mode)
	if err != nil {
		return nil, nil, err
	}
	sess, err := svc.Get(ctx, key, service.GetOptions{NumRecentEvents: 1})
	if err != nil {
		svc.Close()
		if errors.Is(err, service.ErrNotFound) {
			err = fmt.Errorf("%w: check -app, -user and -session (sessionlog inspect lists the sessions)", err)
		}
		return nil, nil, err
	}
	return svc, sess, nil
}
