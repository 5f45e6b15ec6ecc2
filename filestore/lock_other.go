//go:build !unix

package filestore

import (
	"errors"
	"fmt"
)

// lock is not supported where flock is missing: without it two stores
// could write one log and damage it.
func lock(path string) (func() error, error) {
	return nil, fmt.Errorf("lock %s: %w", path, errors.ErrUnsupported)
}
