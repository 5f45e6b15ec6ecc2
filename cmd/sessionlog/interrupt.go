package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// interruptGrace is how long a command may take to end after an
// interrupt before the process exits without it.
const interruptGrace = 2 * time.Second

// interrupted is the cause of a command's context cancelled by a signal.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string {
	switch i.sig {
	case syscall.SIGINT:
		return "interrupted (SIGINT)"
	case syscall.SIGTERM:
		return "interrupted (SIGTERM)"
	}
	return "interrupted (" + i.sig.String() + ")"
}

// status is the exit status of a process a signal ended: 128 plus the
// signal's number, as shells report it (130 for SIGINT).
func (i interrupted) status() int {
	if s, ok := i.sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 130
}

// interruptible returns ctx cancelled, with an interrupted cause, at the
// first SIGINT or SIGTERM, so that a command stops where it is and its
// deferred clean-ups run (a half-written export's file is removed, stores
// are closed). A command that ignores the cancellation (one blocked
// reading its input, say) does not hold the process: grace after the
// signal, or at a second one, exit ends it with the signal's status.
// stop, called once the command has ended (and only once), releases the
// signals and ends the goroutine that watches them.
func interruptible(ctx context.Context, grace time.Duration, exit func(int)) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		var why interrupted
		select {
		case sig := <-sigs:
			why = interrupted{sig}
			cancel(why)
		case <-done:
			return
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-sigs:
		case <-timer.C:
		case <-done:
			return
		}
		exit(why.status())
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		<-ended
		cancel(nil)
	}
}

// interruptedBy returns the interruption that cancelled ctx, if a signal
// did.
func interruptedBy(ctx context.Context) (interrupted, bool) {
	var i interrupted
	ok := errors.As(context.Cause(ctx), &i)
	return i, ok
}
