package sqlrecord

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Migration is one version of a store's schema, from a file named
// NNNN_name.sql.
type Migration struct {
	Version int    // NNNN
	Name    string // the file's name
	SQL     string // the file's text
}

// Migrations reads the files dir/*.sql of fsys, a store's embedded
// migrations, in order of their names. Their numbers must run 1, 2, 3, ...
// with no gap; a file out of that sequence is an error.
func Migrations(fsys fs.FS, dir string) ([]Migration, error) {
	names, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var out []Migration
	for i, p := range names { // fs.Glob returns them sorted
		name := path.Base(p)
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s is out of sequence: name the files 0001_name.sql, 0002_name.sql, ... with no gap", name)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	return out, nil
}
