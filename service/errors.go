package service

import (
	"fmt"
	"strings"

	"github.com/sessionlog/sessionlog/eventlog"
)

// The sentinel errors. They are the same values as package eventlog's, so
// [errors.Is] recognises them whichever layer wrapped them.
var (
	// ErrInvalidArgument: the input can never succeed as given. The message
	// names the field and its problem.
	ErrInvalidArgument = eventlog.ErrInvalidArgument
	// ErrNotFound: the session does not exist (or was deleted).
	ErrNotFound = eventlog.ErrNotFound
	// ErrAlreadyExists: Create named a session that exists.
	ErrAlreadyExists = eventlog.ErrAlreadyExists
	// ErrStaleSession: the handle has not seen every stored event (see
	// Options.LastWriterWins). Get the session again and retry.
	ErrStaleSession = eventlog.ErrStaleSession
)

func invalid(field, problem string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalidArgument, field, fmt.Sprintf(problem, args...))
}

// required checks a name that must not be blank (CONTRACT K1).
func required(field, v string) error {
	switch {
	case v == "":
		return invalid(field, "is empty")
	case strings.TrimSpace(v) == "":
		return invalid(field, "is only whitespace (%q)", v)
	}
	return nil
}

// checkKey validates a key that names an existing session and returns it
// with its session ID trimmed.
func checkKey(key SessionKey) (SessionKey, error) {
	if err := required("appName", key.AppName); err != nil {
		return key, err
	}
	if err := required("userId", key.UserID); err != nil {
		return key, err
	}
	key.SessionID = strings.TrimSpace(key.SessionID)
	if key.SessionID == "" {
		return key, invalid("sessionId", "is empty")
	}
	return key, nil
}

// checkImportKey applies the key rules of CONTRACT K1 to an imported record:
// retained state names only an app, every other kind a whole session.
func checkImportKey(rec *Record) error {
	if err := required("appName", rec.Key.AppName); err != nil {
		return err
	}
	if rec.Kind == eventlog.KindStateRetained {
		return nil
	}
	if err := required("userId", rec.Key.UserID); err != nil {
		return err
	}
	return required("sessionId", rec.Key.SessionID)
}
