package service

import (
	"errors"

	"github.com/sessionlog/sessionlog/eventlog"
)

func isNotFound(err error) bool     { return errors.Is(err, ErrNotFound) }
func errIsDuplicate(err error) bool { return errors.Is(err, eventlog.ErrDuplicateEvent) }
