//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// export -o replaces a regular file with the export only once it is
// written, keeping the file's permissions; through a symbolic link it
// replaces the file the link points to and leaves the link; a named pipe
// is written to, not replaced.
func TestExportOutputKinds(t *testing.T) {
	dir := makeStore(t)
	want := sessionlog(t, "", "export", "-dir", dir)
	require.Equal(t, 0, want.code, want.stderr)
	out := t.TempDir()

	file := filepath.Join(out, "kept.jsonl")
	require.NoError(t, os.WriteFile(file, []byte("old"), 0o640))
	require.NoError(t, os.Chmod(file, 0o640))
	r := sessionlog(t, "", "export", "-dir", dir, "-o", file)
	require.Equal(t, 0, r.code, r.stderr)
	got, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, want.stdout, string(got))
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "the file keeps its permissions")

	target, link := filepath.Join(out, "target.jsonl"), filepath.Join(out, "link.jsonl")
	require.NoError(t, os.WriteFile(target, []byte("old"), 0o644))
	require.NoError(t, os.Symlink(target, link))
	r = sessionlog(t, "", "export", "-dir", dir, "-o", link)
	require.Equal(t, 0, r.code, r.stderr)
	li, err := os.Lstat(link)
	require.NoError(t, err)
	assert.NotZero(t, li.Mode()&os.ModeSymlink, "the link is still a link")
	got, err = os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, want.stdout, string(got), "the file it points to holds the export")

	pipe := filepath.Join(out, "pipe")
	require.NoError(t, syscall.Mkfifo(pipe, 0o600))
	read := make(chan []byte, 1)
	go func() {
		b, _ := os.ReadFile(pipe)
		read <- b
	}()
	r = sessionlog(t, "", "export", "-dir", dir, "-o", pipe)
	require.Equal(t, 0, r.code, r.stderr)
	select {
	case b := <-read:
		assert.Equal(t, want.stdout, string(b), "the reader of the pipe gets the export")
	case <-time.After(5 * time.Second):
		t.Fatal("nothing was written to the pipe")
	}
	pi, err := os.Lstat(pipe)
	require.NoError(t, err)
	assert.NotZero(t, pi.Mode()&os.ModeNamedPipe, "the pipe is still a pipe")
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, entries, 4, "no file is left beside them")
}
