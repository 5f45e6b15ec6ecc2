package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/filestore"
)

// FuzzLogFile feeds arbitrary bytes after a valid header to Verify and to a
// read-only Open: neither may panic, and each either accepts the file or
// reports ErrCorrupt (CONTRACT B1).
func FuzzLogFile(f *testing.F) {
	k := eventlog.SessionKey{AppName: "a", UserID: "u", SessionID: "s"}
	whole := ""
	for _, rec := range []*eventlog.Record{
		{Position: 1, Kind: eventlog.KindSessionCreated, Key: k, State: map[string]any{"app:x": 1.5}},
		{Position: 2, Kind: eventlog.KindEventAppended, Key: k, Seq: 1, Event: &eventlog.Event{ID: "e", Author: "agent"}},
		{Position: 3, Kind: eventlog.KindSessionDeleted, Key: k},
	} {
		whole += string(frame(f, rec))
	}
	f.Add(whole)
	f.Add(whole[:len(whole)-7])
	f.Add("00000002 00000000 {}\n")
	f.Add("ffffffff ffffffff \n")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, body string) {
		dir := t.TempDir()
		head := fmt.Sprintf("%s %d\n", filestore.Magic, filestore.Version)
		if err := os.WriteFile(filepath.Join(dir, filestore.LogFile), []byte(head+body), 0o644); err != nil {
			t.Fatal(err)
		}
		rep, err := filestore.Verify(context.Background(), dir)
		if err != nil && !errors.Is(err, filestore.ErrCorrupt) {
			t.Fatalf("verify: an error that is not ErrCorrupt: %v", err)
		}
		if err == nil && rep.Size+rep.Torn != int64(len(head)+len(body)) {
			t.Fatalf("verify accounted for %d+%d of %d bytes", rep.Size, rep.Torn, len(head)+len(body))
		}
		store, oerr := filestore.Open(context.Background(), dir, filestore.Options{ReadOnly: true})
		if (err == nil) != (oerr == nil) {
			t.Fatalf("verify says %v, open says %v", err, oerr)
		}
		if oerr == nil {
			store.Close()
		}
	})
}
