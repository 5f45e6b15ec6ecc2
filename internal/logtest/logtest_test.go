package logtest

import (
	"log/slog"
	"testing"
	"time"
)

// A recorded line keeps its level, message and attributes, those of With
// and of groups included, the latter named "group.key".
func TestRecorderKeepsAttributes(t *testing.T) {
	r := New()
	r.Logger().With("a", 1).WithGroup("g").Warn("m", "b", "x", slog.Group("h", "c", true))
	got := r.Wait(t, "m", time.Second)
	if got.Level != slog.LevelWarn {
		t.Errorf("level %v, want WARN", got.Level)
	}
	if got.Attrs["a"].Int64() != 1 || got.Attrs["g.b"].String() != "x" || !got.Attrs["g.h.c"].Bool() || len(got.Attrs) != 3 {
		t.Errorf("attributes %v", got)
	}
	if len(r.Find("other")) != 0 || len(r.Lines()) != 1 {
		t.Errorf("lines %v", r)
	}
}
