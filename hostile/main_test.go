package hostile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/refit-ml/refit/internal/testtool"
)

// refitBin is the refit binary built once by TestMain.
var refitBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "refit-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if refitBin, err = testtool.BuildRefit(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// limits bound one child run of refit.
type limits struct {
	memKiB  int64         // address-space limit (ulimit -v); 0 means 4 GiB
	timeout time.Duration // 0 means 60 s
}

// result is what one child run did.
type result struct {
	code           int // exit code; -1 when killed by a signal
	stdout, stderr string
	timedOut       bool
}

func (r result) String() string {
	return fmt.Sprintf("exit %d (timed out: %v)\nstdout: %s\nstderr: %s", r.code, r.timedOut, r.stdout, r.stderr)
}

// runRefit runs the refit binary with args under an address-space limit and a timeout.
// A Go runtime crash (fatal error, panic) fails the test whatever the exit code.
func runRefit(t *testing.T, lim limits, args ...string) result {
	t.Helper()
	if lim.memKiB == 0 {
		lim.memKiB = 4 << 20
	}
	if lim.timeout == 0 {
		lim.timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), lim.timeout)
	defer cancel()
	script := fmt.Sprintf("ulimit -v %d; exec \"$0\" \"$@\"", lim.memKiB)
	cmd := exec.CommandContext(ctx, "bash", append([]string{"-c", script, refitBin}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String(), timedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running refit %v: %v", args, err)
	}
	if r.timedOut {
		t.Fatalf("refit %v did not finish within %v\n%v", args, lim.timeout, r)
	}
	for _, crash := range []string{"fatal error:", "panic:", "goroutine "} {
		if bytes.Contains(stderr.Bytes(), []byte(crash)) {
			t.Fatalf("refit %v crashed\n%v", args, r)
		}
	}
	return r
}

// TestHarness checks that the harness itself runs refit and reports its exit code.
func TestHarness(t *testing.T) {
	r := runRefit(t, limits{}, "scan", filepath.Join(t.TempDir(), "missing.pt"))
	if r.code == 0 {
		t.Fatalf("scan of a missing file exited 0\n%v", r)
	}
}
