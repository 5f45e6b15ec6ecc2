package sqlrecord_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/sessionlog/sessionlog/internal/sqlrecord"
)

// A store's migrations come in the order of their numbers, which must run
// 1, 2, 3, ...; a set out of that sequence is an error, never a panic.
func TestMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	got, err := sqlrecord.Migrations(fstest.MapFS{
		"m/0002_two.sql": file("B"), "m/0001_one.sql": file("A"), "m/notes.txt": file("x"),
	}, "m")
	require.NoError(t, err)
	require.Equal(t, []sqlrecord.Migration{{Version: 1, Name: "0001_one.sql", SQL: "A"}, {Version: 2, Name: "0002_two.sql", SQL: "B"}}, got)

	for _, bad := range []fstest.MapFS{
		{"m/0001_one.sql": file("A"), "m/0003_three.sql": file("C")},
		{"m/0002_two.sql": file("B")},
		{"m/0001.sql": file("A")},
		{"m/one_x.sql": file("A")},
	} {
		_, err := sqlrecord.Migrations(bad, "m")
		require.ErrorContains(t, err, "out of sequence")
	}
}
