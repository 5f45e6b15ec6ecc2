package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a clock that a test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time       { return c.t }
func (c *fakeClock) step(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock            { return &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

// A step shorter than a second shows nothing; a longer one rewrites one
// line with the count, the rate and the time left, and blanks it at the
// end.
func TestProgressLine(t *testing.T) {
	clock := newFakeClock()
	var out bytes.Buffer
	p := newProgress(&out, true, clock.now, "import", "records", 1000)

	for range 9 {
		clock.step(100 * time.Millisecond)
		p.add(10)
	}
	require.Empty(t, out.String(), "nothing before a second")

	clock.step(100 * time.Millisecond) // 1s: 100 records done
	p.add(10)
	require.Equal(t, "\rimport: 100 of 1000 records (10%), 100/s, 9s left", out.String())

	out.Reset()
	clock.step(100 * time.Millisecond)
	p.add(10)
	require.Empty(t, out.String(), "rewritten at most every 200ms")

	clock.step(100 * time.Millisecond) // 1.2s: 600 records done
	p.add(490)
	require.Equal(t, "\rimport: 600 of 1000 records (60%), 500/s, 1s left", out.String())

	// A new phase goes on on the line shown, without waiting a second.
	out.Reset()
	clock.step(200 * time.Millisecond)
	p.add(400)
	done := "import: 1000 of 1000 records (100%), 714/s" // no time left at the end
	require.Equal(t, "\r"+done+"       \r"+done, out.String(), "the rest of the longer line blanked")
	out.Reset()
	p.phase("verify", "sessions", 0)
	clock.step(200 * time.Millisecond)
	p.add(7)
	require.True(t, strings.HasPrefix(out.String(), "\rverify: 7 sessions, 35/s "), "%q", out.String())
	out.Reset()
	p.finish()
	require.Equal(t, "\r"+strings.Repeat(" ", len("verify: 7 sessions, 35/s"))+"\r", out.String())
	out.Reset()
	p.finish()
	require.Empty(t, out.String(), "finished once")
}

// The line blanks the rest of a longer line it replaces, and puts the
// cursor back after its own text.
func TestProgressShorterLine(t *testing.T) {
	clock := newFakeClock()
	var out bytes.Buffer
	p := newProgress(&out, true, clock.now, "export", "records", 0)
	clock.step(2 * time.Second)
	p.add(2000)
	require.Equal(t, "\rexport: 2000 records, 1000/s", out.String())
	out.Reset()
	p.phase("x", "records", 0)
	clock.step(time.Second)
	p.add(1)
	require.Equal(t, "\rx: 1 records, 1/s"+strings.Repeat(" ", len("export: 2000 records, 1000/s")-len("x: 1 records, 1/s"))+"\rx: 1 records, 1/s", out.String())
}

// Without a terminal there is no progress: nothing is written, and a nil
// progress takes every call.
func TestProgressQuietWithoutTerminal(t *testing.T) {
	clock := newFakeClock()
	var out bytes.Buffer
	p := newProgress(&out, false, clock.now, "export", "records", 10)
	require.Nil(t, p)
	clock.step(time.Hour)
	p.add(5)
	p.phase("y", "records", 1)
	p.finish()
	require.Empty(t, out.String())
}

// A pipe, a file and a buffer are not terminals.
func TestIsTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.False(t, isTerminal(w))
	f, err := os.Create(t.TempDir() + "/f")
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f))
	assert.False(t, isTerminal(&bytes.Buffer{}))
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		assert.True(t, isTerminal(tty))
	}
}

// Commands whose stderr is not a terminal print no progress, however long
// they take: stderr holds only what went wrong.
func TestCommandsAreQuietWithoutTerminal(t *testing.T) {
	dir := makeStore(t)
	exported := sessionlog(t, "", "export", "-dir", dir).stdout
	for _, args := range [][]string{
		{"inspect", "-dir", dir}, {"verify", "-dir", dir}, {"export", "-dir", dir},
		{"import", "-create", "-dir", t.TempDir() + "/copy"},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), args, strings.NewReader(exported), &out, &errOut)
		require.Equal(t, 0, code, "%v: %s", args, errOut.String())
		require.Empty(t, errOut.String(), "%v", args)
	}
}

// On a terminal, a command that runs for more than a second shows its
// progress on stderr and blanks the line before it ends; its output is
// the same.
func TestCommandsShowProgressOnTerminal(t *testing.T) {
	dir := makeStore(t)
	exported := sessionlog(t, "", "export", "-dir", dir).stdout
	for _, c := range []struct {
		args []string
		line string
	}{
		{[]string{"inspect", "-dir", dir}, "\rinspect: 1 records, 1/s"},
		{[]string{"verify", "-dir", dir}, "\rverify: read the log: 12 records"},
		{[]string{"export", "-dir", dir, "-o", t.TempDir() + "/out.jsonl"}, "\rexport: 1 records, 1/s"},
		{[]string{"import", "-create", "-dir", t.TempDir() + "/copy"}, "\rimport: read stdin: 1 records, 1/s"},
	} {
		// Each reading of the clock is a second later: every step is slow.
		clock := newFakeClock()
		var out, errOut bytes.Buffer
		e := &env{stdin: strings.NewReader(exported), stdout: &out, stderr: &errOut, stderrTTY: true,
			now: func() time.Time { clock.step(time.Second); return clock.t }}
		require.Equal(t, 0, runIn(context.Background(), e, c.args), "%v: %s", c.args, errOut.String())
		require.True(t, strings.HasPrefix(errOut.String(), c.line), "%v: %q", c.args, errOut.String())
		require.True(t, strings.HasSuffix(errOut.String(), "\r"), "%v: the line is blanked at the end: %q", c.args, errOut.String())
		require.NotContains(t, out.String(), "\r", "%v: nothing of the progress in the output", c.args)
	}
}

// The import's progress goes on, on one line, from reading the input to
// the dry run to the import itself.
func TestImportProgressPhases(t *testing.T) {
	exported := sessionlog(t, "", "export", "-dir", makeStore(t)).stdout
	clock := newFakeClock()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(exported), stdout: &out, stderr: &errOut, stderrTTY: true,
		now: func() time.Time { clock.step(time.Second); return clock.t }}
	require.Equal(t, 0, runIn(context.Background(), e, []string{"import", "-create", "-dir", t.TempDir() + "/copy"}), errOut.String())
	for _, want := range []string{
		"\rimport: read stdin: 12 records, 1/s",
		"\rimport: dry run: 12 of 12 records (100%), 1/s",
		"\rimport: 1 of 12 records (8%), 1/s, 11s left",
		"\rimport: 12 of 12 records (100%), 1/s",
	} {
		require.Contains(t, errOut.String(), want)
	}
	require.Equal(t, "imported 12 records into file:"+e.store.dir+"\n", out.String())
}
