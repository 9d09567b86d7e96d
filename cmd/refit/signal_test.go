//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

// run is a refit child process started by startRefit.
type run struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

func startRefit(t *testing.T, dir string, args ...string) *run {
	t.Helper()
	r := &run{cmd: exec.Command(refitBin, args...), done: make(chan struct{})}
	r.cmd.Dir = dir
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

func (r *run) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// wait returns the exit code; a run that does not end within a generous bound fails.
func (r *run) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("refit %v did not exit within 60s after the signal", r.cmd.Args[1:])
	}
	var ee *exec.ExitError
	if r.err != nil && !errors.As(r.err, &ee) {
		t.Fatalf("refit: %v", r.err)
	}
	return r.cmd.ProcessState.ExitCode()
}

// tempOutput is a temporary output (see refit.TempPrefix) in a folder: a file, or a
// folder of pending files (refit.PendingOutput), whose size is that of the files in it.
type tempOutput struct {
	name string
	size int64
}

func (o tempOutput) Name() string { return o.name }
func (o tempOutput) Size() int64  { return o.size }

// tempFiles lists the temporary outputs in dir.
func tempFiles(t *testing.T, dir string) []tempOutput {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []tempOutput
	for _, en := range entries {
		if !strings.HasPrefix(en.Name(), refit.TempPrefix) {
			continue
		}
		o := tempOutput{name: en.Name()}
		if en.IsDir() {
			inner, _ := os.ReadDir(filepath.Join(dir, en.Name()))
			for _, f := range inner {
				if info, err := f.Info(); err == nil && info.Mode().IsRegular() {
					o.size += info.Size()
				}
			}
		} else if info, err := en.Info(); err == nil {
			o.size = info.Size()
		} else {
			continue
		}
		out = append(out, o)
	}
	return out
}

// waitForTemp polls until the run's temporary output satisfies ready, and fails if
// the run exits first.
func waitForTemp(t *testing.T, r *run, dir string, ready func(size int64) bool) tempOutput {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if r.exited() {
			t.Fatalf("refit %v ended before the signal: %v\nstdout: %s\nstderr: %s", r.cmd.Args[1:], r.err, &r.stdout, &r.stderr)
		}
		for _, fi := range tempFiles(t, dir) {
			if ready(fi.Size()) {
				return fi
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("refit %v: no temporary output appeared", r.cmd.Args[1:])
	return tempOutput{}
}

// writing is ready once the output has bytes in it.
func writing(size int64) bool { return size > 0 }

// settled returns a condition that holds once the temporary file has reached at
// least min bytes and stopped growing: the run has finished writing and is verifying.
func settled(min int64) func(int64) bool {
	last := int64(-1)
	return func(size int64) bool {
		ok := size >= min && size == last
		last = size
		if !ok {
			time.Sleep(20 * time.Millisecond)
		}
		return ok
	}
}

// after returns a condition that holds from d after its first call (the temporary
// file's appearance): for runs whose outputs are pending from the start.
func after(d time.Duration) func(int64) bool {
	var start time.Time
	return func(int64) bool {
		if start.IsZero() {
			start = time.Now()
		}
		return time.Since(start) >= d
	}
}

// bigF32 is 256 MiB of F32 tensors: a few seconds of casting, pruning or quantizing.
var bigF32 = []tensorSpec{
	{"blk.0.attn_q.weight", tensor.Shape{4096, 4096}},
	{"blk.0.ffn_down.weight", tensor.Shape{4096, 4096}},
	{"blk.1.attn_q.weight", tensor.Shape{4096, 4096}},
	{"blk.1.ffn_down.weight", tensor.Shape{4096, 4096}},
}

// TestSignalsStopCommands sends SIGINT and SIGTERM to real runs in different phases
// and checks that each stops with 130 or 143, leaving neither output nor temporary file.
func TestSignalsStopCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 512 MiB of inputs")
	}
	dir := t.TempDir()
	writeModel(t, filepath.Join(dir, "in.safetensors"), "safetensors", bigF32)
	writeModel(t, filepath.Join(dir, "in.gguf"), "gguf", bigF32[:2])
	// A float64 copy: its casts are measured against the source in the verification
	// pass, not as they are written (float32 casts are, and verify in a blink), so
	// a signal finds that run still verifying.
	writeF64(t, filepath.Join(dir, "in.safetensors"), filepath.Join(dir, "in64.safetensors"))
	const f16Bytes = 4 * 4096 * 4096 * 2
	models, err := filepath.Abs(filepath.Join("..", "..", "testdata", "models"))
	if err != nil {
		t.Fatal(err)
	}
	distill := []string{"distill", "--teacher", filepath.Join(models, "mnist", "mnist_cnn.onnx"),
		"--student", filepath.Join(models, "distill", "student_cnn.onnx"), "--data", filepath.Join(models, "mnist", "test.npz"),
		"--epochs", "1000", "--out", "student.onnx"}
	cases := []struct {
		name   string
		args   []string
		ready  func(int64) bool
		sigs   []syscall.Signal
		code   int
		phase  string
		atOnce bool // the second signal ends the process without waiting
	}{
		{"convert-cast-write-SIGINT", []string{"convert", "in.safetensors", "out.safetensors", "--dtype", "f16"}, writing, []syscall.Signal{syscall.SIGINT}, 130, "write", false},
		{"convert-verify-SIGTERM", []string{"convert", "in64.safetensors", "out.safetensors", "--dtype", "f16"}, settled(f16Bytes), []syscall.Signal{syscall.SIGTERM}, 143, "verify", false},
		{"convert-copy-to-pt-SIGTERM", []string{"convert", "in.safetensors", "out.pt"}, writing, []syscall.Signal{syscall.SIGTERM}, 143, "write", false},
		{"prune-SIGTERM", []string{"prune", "in.safetensors", "out.safetensors", "--method", "magnitude", "--sparsity", "0.5"}, func(int64) bool { return true }, []syscall.Signal{syscall.SIGTERM}, 143, "prune", false},
		{"quantize-gguf-SIGINT", []string{"quantize", "in.gguf", "out.gguf", "--type", "Q4_K_M"}, writing, []syscall.Signal{syscall.SIGINT}, 130, "quantize rows", false},
		// The outputs are pending from the start; the signal lands in teacher logits or training.
		{"distill-train-SIGTERM", distill, after(time.Second), []syscall.Signal{syscall.SIGTERM}, 143, "train", false},
		{"convert-shards-SIGINT", []string{"convert", "in64.safetensors", "sharded.safetensors", "--shard-size", "100MB", "--dtype", "f16"}, after(300 * time.Millisecond), []syscall.Signal{syscall.SIGINT}, 130, "write shards", false},
		{"convert-twice-SIGINT", []string{"convert", "in.safetensors", "out.safetensors", "--dtype", "bf16"}, writing, []syscall.Signal{syscall.SIGINT, syscall.SIGINT}, 130, "write", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if signal.Ignored(c.sigs[0]) {
				// Inherited by refit, which then keeps ignoring it, as it should.
				t.Skipf("%v is ignored in this process (a background job?)", c.sigs[0])
			}
			r := startRefit(t, dir, c.args...)
			waitForTemp(t, r, dir, c.ready)
			for _, s := range c.sigs {
				if err := r.cmd.Process.Signal(s); err != nil {
					t.Fatal(err)
				}
			}
			code := r.wait(t)
			if code != c.code {
				t.Fatalf("refit %v stopped in the %s phase: exit %d, want %d\nstdout: %s\nstderr: %s", c.args, c.phase, code, c.code, &r.stdout, &r.stderr)
			}
			for _, name := range []string{"out.safetensors", "out.pt", "out.gguf", "student.onnx", "student.safetensors"} {
				if _, err := os.Lstat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("interrupted run left an output %s (%v)", name, err)
					os.Remove(filepath.Join(dir, name))
				}
			}
			if shards, _ := filepath.Glob(filepath.Join(dir, "sharded*")); len(shards) > 0 {
				t.Errorf("interrupted run left shards %v", shards)
			}
			if left := tempFiles(t, dir); len(left) > 0 {
				t.Errorf("interrupted run left temporary file %s (%d bytes)", left[0].Name(), left[0].Size())
			}
			name := map[syscall.Signal]string{syscall.SIGINT: "SIGINT", syscall.SIGTERM: "SIGTERM"}[c.sigs[0]]
			if !strings.Contains(r.stderr.String(), "interrupted by "+name) {
				t.Errorf("stderr does not say the run was interrupted by %s: %s", name, &r.stderr)
			}
			if !c.atOnce && strings.Contains(r.stderr.String(), "stopped at once") {
				// The command did not notice the cancellation within the grace period:
				// the fallback removed the files, but a loop is missing its check.
				t.Logf("refit %v needed the fallback after a signal in the %s phase", c.args, c.phase)
			}
		})
	}
}

// TestKilledRunLeavesNamedTempRemovedByNextRun kills a convert with SIGKILL (no clean-up
// possible), checks the temporary file names the dead process, and that the next run
// writing the same output removes it.
func TestKilledRunLeavesNamedTempRemovedByNextRun(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 256 MiB of inputs")
	}
	dir := t.TempDir()
	writeModel(t, filepath.Join(dir, "in.safetensors"), "safetensors", bigF32)
	r := startRefit(t, dir, "convert", "in.safetensors", "out.safetensors", "--dtype", "f16")
	fi := waitForTemp(t, r, dir, writing)
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	r.wait(t)
	want := fmt.Sprintf("%s%d-", refit.TempPrefix, r.cmd.Process.Pid)
	if !strings.HasPrefix(fi.Name(), want) || !strings.HasSuffix(fi.Name(), "-out.safetensors") {
		t.Fatalf("temporary file %q does not name the process (%s...) and the output", fi.Name(), want)
	}
	if _, err := os.Stat(filepath.Join(dir, fi.Name())); err != nil {
		t.Fatalf("SIGKILL should leave the temporary file: %v", err)
	}
	// An unrelated output's stale file stays.
	other := filepath.Join(dir, fmt.Sprintf("%s%d-1-other.safetensors", refit.TempPrefix, r.cmd.Process.Pid))
	if err := os.WriteFile(other, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	next := startRefit(t, dir, "convert", "in.safetensors", "out.safetensors", "--dtype", "f16", "--no-verify")
	if code := next.wait(t); code != 0 {
		t.Fatalf("rerun: exit %d\nstderr: %s", code, &next.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, fi.Name())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rerun left the stale temporary file %s (%v)", fi.Name(), err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("rerun removed another output's temporary file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.safetensors")); err != nil {
		t.Errorf("rerun wrote no output: %v", err)
	}
}

// writeF64 writes the tensors of the safetensors file in as float64 to out.
func writeF64(t *testing.T, in, out string) {
	t.Helper()
	m, err := refit.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	m64, err := refit.CastFloats(m, tensor.F64)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = safetensors.Encode(bw, m64, nil)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("writing %s: %v", out, err)
	}
}
