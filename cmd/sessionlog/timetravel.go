package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/sessionlog/sessionlog/eventlog"
	"github.com/sessionlog/sessionlog/service"
)

func fork(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	var key eventlog.SessionKey
	fs.StringVar(&key.AppName, "app", "", "the source session's `app` name (required)")
	fs.StringVar(&key.UserID, "user", "", "the source session's `user` ID (required)")
	fs.StringVar(&key.SessionID, "session", "", "the source session's `ID` (required)")
	version := versionFlag(fs, "copy the session as it stood just after its event `N` (0: just after its creation); default: as it is")
	var to eventlog.SessionKey
	fs.StringVar(&to.SessionID, "to", "", "the new session's `ID` (default: a new ID)")
	fs.StringVar(&to.UserID, "to-user", "", "the new session's `user` ID (default: the source's)")
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if key.AppName == "" || key.UserID == "" || key.SessionID == "" {
		return fmt.Errorf("%w: -app, -user and -session are required: they name the session to fork", errUsage)
	}
	svc, src, err := openSession(ctx, ref, readWrite, key)
	if err != nil {
		return err
	}
	defer svc.Close()
	at := src.Version
	if *version != nil {
		at = **version
	}
	forked, err := svc.Fork(ctx, key, at, to)
	switch {
	case errors.Is(err, service.ErrInvalidArgument) && at > src.Version:
		return fmt.Errorf("%w: check -version: the session's version is %d", err, src.Version)
	case errors.Is(err, service.ErrAlreadyExists):
		return fmt.Errorf("%w: check -to: pick an ID no session of the user has, or leave it out for a new one", err)
	case err != nil:
		return err
	}
	if err := svc.Close(); err != nil { // syncs the log
		return err
	}
	fmt.Fprintf(e.stdout, "forked session %s at version %d into %s\n", key, at, forked.Key())
	fmt.Fprintf(e.stdout, "%d events copied with new IDs, each naming the event it copies in its custom metadata (%s); the source is not changed\n",
		len(forked.Events), service.ForkedFrom)
	return nil
}

func rewind(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	var key eventlog.SessionKey
	fs.StringVar(&key.AppName, "app", "", "the session's `app` name (required)")
	fs.StringVar(&key.UserID, "user", "", "the session's `user` ID (required)")
	fs.StringVar(&key.SessionID, "session", "", "the session's `ID` (required)")
	before := fs.String("before", "", "take the session back to just before the first event of this `invocation` ID")
	version := versionFlag(fs, "take the session back to just after its event `N` (0: just after its creation); the next event must begin an invocation")
	ref, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case key.AppName == "" || key.UserID == "" || key.SessionID == "":
		return fmt.Errorf("%w: -app, -user and -session are required: they name the session to rewind", errUsage)
	case *before != "" && *version != nil:
		return fmt.Errorf("%w: -before and -version both name the point to rewind to: give one", errUsage)
	case *before == "" && *version == nil:
		return fmt.Errorf("%w: name the point to rewind to: -before INVOCATION (an invocation ID of the session's events) or -version N", errUsage)
	}
	svc, sess, err := openSession(ctx, ref, readWrite, key)
	if err != nil {
		return err
	}
	defer svc.Close()
	// A file store is locked, so nothing appends in between; on a shared
	// store, an append in between makes the rewind fail (ErrStaleSession)
	// rather than take back what the command has not seen. The expected
	// version also gives the rewind's sequence number.
	opts := service.RewindOptions{ExpectVersion: &sess.Version}
	var ev *service.Event
	if *before != "" {
		ev, err = svc.Rewind(ctx, key, *before, opts)
		if errors.Is(err, service.ErrInvalidArgument) {
			return fmt.Errorf("%w: check -before: it takes the invocation ID of one of the session's events (sessionlog show -app %s -user %s -session %s shows them)", err, key.AppName, key.UserID, key.SessionID)
		}
	} else {
		ev, err = svc.RewindToVersion(ctx, key, **version, opts)
		if errors.Is(err, service.ErrInvalidArgument) {
			return fmt.Errorf("%w: check -version: it takes a version before the session's %d, after which an invocation begins (or use -before INVOCATION)", err, sess.Version)
		}
	}
	if err != nil {
		return err
	}
	if err := svc.Close(); err != nil { // syncs the log
		return err
	}
	fmt.Fprintf(e.stdout, "rewound session %s to just before invocation %q", key, ev.Actions.RewindBeforeInvocationID)
	if *version != nil {
		fmt.Fprintf(e.stdout, " (just after version %d)", **version)
	}
	fmt.Fprintf(e.stdout, "\nthe rewind is event %q, sequence number %d, invocation %q; no event was deleted\n", ev.ID, sess.Version+1, ev.InvocationID)
	restored, removed := splitDelta(ev.Actions.StateDelta, formatJSON)
	if len(restored)+len(removed) == 0 {
		fmt.Fprintln(e.stdout, "no session state key was written since then: the state is unchanged")
	}
	for _, r := range restored {
		fmt.Fprintf(e.stdout, "restores %s\n", r)
	}
	for _, k := range removed {
		fmt.Fprintf(e.stdout, "removes %s (it had no value then)\n", k)
	}
	fmt.Fprintln(e.stdout, "app: and user: state is not rewound")
	return nil
}
