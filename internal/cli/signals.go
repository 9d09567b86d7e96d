package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/refit-ml/refit"
)

// Exit codes for a run stopped by a signal: 128 plus the signal number, as shells report.
const (
	ExitInterrupted = 130 // SIGINT (Ctrl-C)
	ExitTerminated  = 143 // SIGTERM
)

// signalGrace is how long a command may take to stop by itself after a signal before
// the process removes its temporary files and exits anyway.
const signalGrace = time.Second

// signalError is the cause of a context cancelled by a signal.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "interrupted by " + signalName(e.sig) }

// Is lets errors.Is(err, context.Canceled) hold for it, as for any cancellation.
func (e signalError) Is(target error) bool { return target == context.Canceled }

func (e signalError) exitCode() int { return 128 + int(e.sig) }

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// SignalContext returns a context that the first SIGINT or SIGTERM cancels; Main then
// exits with 130 or 143 once the command has stopped and removed its temporary files.
// A command still running a second after the signal, or a second signal, ends the
// process at once, after removing every temporary output (refit.AbortPending).
// stop releases the signal handlers.
func SignalContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	for _, s := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		// A signal ignored at start (a background job of a non-interactive shell,
		// nohup-like wrappers) stays ignored, as it would without a handler.
		if !signal.Ignored(s) {
			signal.Notify(sigs, s)
		}
	}
	quit := make(chan struct{})
	go func() {
		var first signalError
		select {
		case s := <-sigs:
			first = signalError{s.(syscall.Signal)}
		case <-quit:
			return
		}
		cancel(first)
		timer := time.NewTimer(signalGrace)
		select {
		case <-sigs:
		case <-timer.C:
		case <-quit:
			return
		}
		refit.AbortPending()
		fmt.Fprintf(os.Stderr, "refit: %v; stopped at once, temporary files removed\n", first)
		os.Exit(first.exitCode())
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(quit)
		cancel(nil)
	}
}

// interruptCode returns the exit code for a command whose context a signal cancelled.
func interruptCode(ctx context.Context) (signalError, bool) {
	var se signalError
	if ctx.Err() == nil || !errors.As(context.Cause(ctx), &se) {
		return se, false
	}
	return se, true
}

// ctxReader fails its reads once ctx is done, to stop loops that only read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
