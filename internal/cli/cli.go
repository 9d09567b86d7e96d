// Package cli implements the refit command line: each subcommand maps its flags onto
// library options and prints results (data to stdout, diagnostics to stderr).
package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/all" // register every format
)

// Exit codes.
const (
	ExitOK        = 0  // success
	ExitFailure   = 1  // an error, a failed check or tolerance, a compression that changes nothing, or scan found unknown globals
	ExitDangerous = 2  // scan found dangerous globals
	ExitUsage     = 64 // bad flags or arguments
)

const exitCodesHelp = `Exit codes:
  0   success
  1   error; verification or --tolerance failed; scan found unknown globals;
      prune, quantize or convert --dtype would change nothing (nothing written)
  2   scan found dangerous globals
  64  usage error (bad flags or arguments)
  130 stopped by SIGINT (Ctrl-C), 143 by SIGTERM; temporary files removed`

// env carries the process's streams and context to subcommands.
type env struct {
	ctx    context.Context
	args   []string // the command line after "refit", for reports
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	maxMemory maxMemory // --max-memory
	threads   int       // --threads: goroutines per computation, 0 for GOMAXPROCS
	quiet     bool      // --quiet: no progress bars

	cpuProfile  string   // --cpuprofile: write a pprof CPU profile of the command here
	profileFile *os.File // open while the profile runs
}

// exitError makes a subcommand exit with a code other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// silentExit ends with code without printing anything more.
func silentExit(code int) error { return &exitError{code: code} }

// usageError is a problem with flags or arguments.
type usageError struct{ error }

// commands lists constructors for every subcommand; files add themselves in init.
var commands []func(*env) *cobra.Command

// Main runs the refit command line and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, args, stdin, stdout, stderr, false)
}

// runNested runs one command inside another (a batch job): as Main, except that a
// signal is reported once, by the outer command, not by both.
func runNested(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return run(ctx, args, stdin, stdout, stderr, true)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, nested bool) int {
	// Remote paths may be pre-signed URLs: everything printed names them without
	// their query strings and user information (refit.ShowPath). A terminal on
	// stderr keeps its file, for the progress bars; errors are redacted by printError.
	stdout = redactingWriter{stdout}
	if !isTerminal(stderr) {
		stderr = redactingWriter{stderr}
	}
	e := &env{ctx: ctx, args: args, stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "refit",
		Short:         "Convert, compress and verify AI models",
		Long:          "Refit converts and compresses AI models between formats, safely and with bounded memory.\n\n" + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetContext(ctx)
	root.PersistentFlags().Var(&e.maxMemory, "max-memory", maxMemoryUsage())
	root.PersistentFlags().IntVar(&e.threads, "threads", 0, "goroutines one run or quantization may use (0: one per CPU); outputs do not depend on it")
	root.PersistentFlags().BoolVarP(&e.quiet, "quiet", "q", false, "no progress bars (they are drawn on a terminal only)")
	root.PersistentFlags().StringVar(&e.cpuProfile, "cpuprofile", "", "write a CPU profile of the command to this file (go tool pprof FILE)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return e.startProfile() }
	defer e.stopProfile()
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	for _, mk := range commands {
		root.AddCommand(mk(e))
	}
	// A memory-mapped input truncated by another process is an error, not a crash.
	err := refit.GuardMapped(root.Execute)
	if err == nil {
		return ExitOK
	}
	if se, ok := interruptCode(ctx); ok {
		if !nested {
			fmt.Fprintf(stderr, "refit: %v; stopped, temporary files removed\n", se)
		}
		return se.exitCode()
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			printError(stderr, ee.err)
		}
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) || isArgError(err) || strings.HasPrefix(err.Error(), "unknown command") {
		printError(stderr, err)
		fmt.Fprintln(stderr, "Run 'refit help' for usage.")
		return ExitUsage
	}
	printError(stderr, err)
	return ExitFailure
}

// printError prints err once prefixed with "refit: ".
func printError(w io.Writer, err error) {
	msg := refit.RedactURLs(err.Error()) + budgetHint(err)
	if !strings.HasPrefix(msg, "refit: ") {
		msg = "refit: " + msg
	}
	fmt.Fprintln(w, msg)
}

// isArgError recognizes cobra's errors for wrong argument counts and unknown commands.
func isArgError(err error) bool {
	var ae argError
	return errors.As(err, &ae)
}

type argError struct{ error }

// args wraps cobra's argument validators so their errors become usage errors.
func args(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := v(cmd, a); err != nil {
			return argError{err}
		}
		return nil
	}
}

// isTerminal reports whether w is a terminal, for progress bars.
func isTerminal(w io.Writer) bool {
	if r, ok := w.(redactingWriter); ok {
		w = r.w
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// redactingWriter passes text through refit.RedactURLs, so that a pre-signed URL given
// as a path is echoed (in reports, JSON and errors) without its signature.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if !bytes.Contains(p, []byte("://")) {
		return r.w.Write(p)
	}
	if _, err := io.WriteString(r.w, refit.RedactURLs(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
