// Package testtool finds the reference tools interop tests compare against
// (Debian's python3 with torch/numpy/onnx, onnxruntime-node, node-llama-cpp).
// A missing tool skips the test, unless REFIT_REQUIRE_TOOLS=1 (set by CI), when it fails.
package testtool

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Python is the interpreter that sees Debian's python3-torch, python3-numpy and python3-onnx.
const Python = "/usr/bin/python3"

var (
	probeMu sync.Mutex
	probed  = map[string]error{}
)

// missing skips or fails the test for a tool that is not there.
func missing(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (REFIT_REQUIRE_TOOLS=1) but unavailable: %v", what, err)
	}
	t.Skipf("skipping: %s unavailable (%v); set REFIT_REQUIRE_TOOLS=1 to make this a failure", what, err)
}

// RequirePython checks that /usr/bin/python3 can import every module named
// (e.g. "torch", "numpy", "onnx") and returns its path.
func RequirePython(t testing.TB, modules ...string) string {
	t.Helper()
	for _, m := range modules {
		probeMu.Lock()
		err, ok := probed[m]
		if !ok {
			out, e := exec.Command(Python, "-c", "import "+m).CombinedOutput()
			if e != nil {
				e = &probeError{e, out}
			}
			probed[m], err = e, e
		}
		probeMu.Unlock()
		if err != nil {
			missing(t, "python3 module "+m, err)
		}
	}
	return Python
}

type probeError struct {
	err error
	out []byte
}

func (e *probeError) Error() string { return e.err.Error() + ": " + string(bytes.TrimSpace(e.out)) }

// RunPython runs a Python script with args and returns its stdout; it fails the test on error.
// torch is limited to one thread, which is faster on this project's small machines.
func RunPython(t testing.TB, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(Python, append([]string{"-c", script}, args...)...)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "MKL_NUM_THREADS=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python failed: %v\n%s", err, stderr.Bytes())
	}
	return out
}

// RepoRoot returns the module root, found from this source file's location.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// NodeModules returns the repo's node_modules folder if it holds pkg (e.g. "onnxruntime-node"),
// skipping or failing the test otherwise.
func NodeModules(t testing.TB, pkg string) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(), "node_modules")
	if _, err := os.Stat(filepath.Join(dir, pkg)); err != nil {
		missing(t, "npm package "+pkg+" (run .ci/run or npm install)", err)
	}
	return dir
}

// BuildRefit builds the refit command as README and scripts build it (CGO_ENABLED=0)
// into dir, with extra go build flags, and returns the binary's path. Tests that watch a
// real process (signals, exit codes, peak memory, address-space limits) run it.
func BuildRefit(dir string, flags ...string) (string, error) {
	bin := filepath.Join(dir, "refit")
	args := append(append([]string{"build", "-o", bin}, flags...), "github.com/refit-ml/refit/cmd/refit")
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building refit: %v\n%s", err, out)
	}
	return bin, nil
}

// Missing skips the test because what is unavailable, or fails it when
// REFIT_REQUIRE_TOOLS=1.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	missing(t, what, err)
}
