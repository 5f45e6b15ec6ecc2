package sqlitestore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/projection"
	"github.com/sessionlog/sessionlog/service"
	"github.com/sessionlog/sessionlog/sqlitestore"
)

// The crash test's child process is this test binary started with these
// variables set; TestMain runs crashChild instead of the tests.
const (
	envCrashFile   = "SQLITESTORE_CRASH_FILE"
	envCrashPolicy = "SQLITESTORE_CRASH_POLICY"
	envCrashRound  = "SQLITESTORE_CRASH_ROUND"
	crashWriters   = 4
	// crashGeneration is how many events a child's writer appends to a
	// session before it deletes it and starts the next.
	crashGeneration = 100
)

// crashChild, in the child process, appends until it is killed and prints
// one line per acknowledged write: "app session -" for a creation, "app
// session eventID" for an event, "app session x" for a deletion (and "app
// session ?" as a deletion starts). Each writer deletes its session after
// crashGeneration events and creates another. It reports whether this
// process is the child.
func crashChild() bool {
	path := os.Getenv(envCrashFile)
	if path == "" {
		return false
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	policy, err := sqlitestore.ParseSyncPolicy(os.Getenv(envCrashPolicy))
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	store, err := sqlitestore.Open(ctx, path, sqlitestore.Options{Sync: policy})
	if err != nil {
		fail(err)
	}
	svc, err := service.New(ctx, service.Options{Store: store})
	if err != nil {
		fail(err)
	}
	var out sync.Mutex
	ack := func(k service.SessionKey, id string) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(os.Stdout, "%s %s %s\n", k.AppName, k.SessionID, id) // one write per line
	}
	round := os.Getenv(envCrashRound)
	for w := range crashWriters {
		go func() {
			for gen := 0; ; gen++ {
				k := service.SessionKey{AppName: fmt.Sprint("app", w%2), UserID: "u", SessionID: fmt.Sprintf("r%s-w%d-g%d", round, w, gen)}
				sess, err := svc.Create(ctx, k, map[string]any{"writer": w, "app:gen": gen})
				if err != nil {
					fail(err)
				}
				ack(k, "-")
				for i := range crashGeneration {
					ev := &service.Event{ID: fmt.Sprintf("%s-%d", k.SessionID, i), Author: "agent",
						Actions: service.EventActions{StateDelta: map[string]any{"i": i, "app:last": k.SessionID, "user:n": i,
							"text": strings.Repeat("x", i%300)}}}
					if _, err := svc.AppendEvent(ctx, sess, ev); err != nil {
						fail(err)
					}
					ack(k, ev.ID)
				}
				ack(k, "?") // a deletion under way: killed now, it may or may not be in the log
				if err := svc.Delete(ctx, k); err != nil {
					fail(err)
				}
				ack(k, "x")
			}
		}()
	}
	time.Sleep(time.Minute) // the parent kills us long before
	fail(fmt.Errorf("not killed within a minute"))
	return true
}

// CONTRACT R1 A3: a process killed with SIGKILL at a random moment loses no
// acknowledged append and keeps no append twice, and the reopened file
// shows nothing half-written: every session's events are whole and in
// sequence, and the state rebuilds to the live state. Several rounds on
// one file, under each sync policy (both survive a killed process).
func TestCrashLosesNoAcknowledgedAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := newFile(t)
	policies := []sqlitestore.SyncPolicy{sqlitestore.SyncFull, sqlitestore.SyncNormal}
	deadline := time.Now().Add(15 * time.Second)
	acked := map[service.SessionKey][]string{} // over all rounds so far
	deleted := map[service.SessionKey]bool{}
	deleting := map[service.SessionKey]bool{} // a deletion started, maybe not acknowledged
	for round := 0; round < 6 && time.Now().Before(deadline); round++ {
		policy := policies[round%len(policies)]
		got, gone, going := crashRound(t, path, round, policy)
		require.NotEmpty(t, got, "round %d: the child acknowledged nothing", round)
		maps.Copy(acked, got)
		maps.Copy(deleted, gone)
		maps.Copy(deleting, going)

		store, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
		require.NoError(t, err)
		svc, err := service.New(context.Background(), service.Options{Store: store})
		require.NoError(t, err)
		events := 0
		for k, ids := range acked {
			sess, err := svc.Get(context.Background(), k, service.GetOptions{})
			if deleted[k] {
				require.ErrorIs(t, err, service.ErrNotFound, "round %d (%s): deleted session %v is back", round, policy, k)
				continue
			}
			if deleting[k] && errors.Is(err, service.ErrNotFound) {
				continue // the kill came after its deletion was committed, before it was acknowledged
			}
			require.NoError(t, err, "round %d (%s): acknowledged session %v is missing", round, policy, k)
			require.GreaterOrEqual(t, len(sess.Events), len(ids), "round %d (%s): session %v lost events", round, policy, k)
			for i, ev := range sess.Events {
				require.Equal(t, fmt.Sprintf("%s-%d", k.SessionID, i), ev.ID, "round %d: events out of order, repeated or half-written", round)
			}
			events += len(sess.Events)
		}
		require.NoError(t, projection.Verify(context.Background(), store), "round %d: the state does not rebuild", round)
		require.NoError(t, svc.Close())
		t.Logf("round %d (%s): %d sessions (%d deleted), %d events in live sessions", round, policy, len(acked), len(deleted), events)
	}
}

// crashRound runs a child on the file at path, kills it at a random
// moment after its first acknowledgement, and returns what it
// acknowledged: each session's acknowledged event IDs, the sessions it
// deleted, and those it started to delete.
func crashRound(t *testing.T, path string, round int, policy sqlitestore.SyncPolicy) (acked map[service.SessionKey][]string, deleted, deleting map[service.SessionKey]bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashFile+"="+path, envCrashPolicy+"="+policy.String(), envCrashRound+"="+strconv.Itoa(round))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	acked = map[service.SessionKey][]string{}
	deleted = map[service.SessionKey]bool{}
	deleting = map[service.SessionKey]bool{}
	first := make(chan struct{})
	read := make(chan error, 1)
	go func() {
		r := bufio.NewReader(stdout)
		for n := 0; ; n++ {
			line, err := r.ReadString('\n')
			if err != nil { // EOF when killed; a line without its newline was not acknowledged
				if err == io.EOF {
					err = nil
				}
				read <- err
				return
			}
			f := strings.Fields(line)
			if len(f) == 3 {
				k := service.SessionKey{AppName: f[0], UserID: "u", SessionID: f[1]}
				switch f[2] {
				case "-":
					acked[k] = []string{}
				case "x":
					deleted[k] = true
				case "?":
					deleting[k] = true
				default:
					acked[k] = append(acked[k], f[2])
				}
			}
			if n == 0 {
				close(first)
			}
		}
	}()
	select {
	case <-first:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("round %d: the child acknowledged nothing in 20s; stderr: %s", round, stderr.String())
	}
	time.Sleep(time.Duration(rand.IntN(400)) * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	require.NoError(t, <-read)
	err = cmd.Wait()
	require.Error(t, err, "the child ended by itself; stderr: %s", stderr.String())
	require.NotContains(t, stderr.String(), "crash child:", "the child failed")
	return acked, deleted, deleting
}
