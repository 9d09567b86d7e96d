package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

// writeRampModel writes n F32 tensors of rows x cols with varied values, as safetensors
// or (with llama names and metadata) GGUF.
func writeRampModel(t *testing.T, path string, n int, rows, cols int64) {
	t.Helper()
	m := &refit.Model{}
	vals := make([]float32, rows*cols)
	for i := range vals {
		vals[i] = float32(i%1013)*0.01 - 5
	}
	for i := range n {
		name := fmt.Sprintf("blk.%d.ffn_down.weight", i)
		x, err := tensor.NewF32(name, tensor.Shape{rows, cols}, vals)
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, x)
	}
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(path, ".gguf") {
		m.Metadata.Set("general.architecture", "llama")
		m.Metadata.Set("llama.block_count", uint32(n))
		err = gguf.Encode(&buf, m, nil)
	} else {
		err = safetensors.Encode(&buf, m, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCommandsStopOnCancel runs commands in this process and cancels their context, as
// the first SIGINT does, once the temporary output shows they reached a phase. There is
// no fallback here: a command that ignored its context would finish and exit 0.
func TestCommandsStopOnCancel(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 128 MiB of inputs")
	}
	dir := t.TempDir()
	writeRampModel(t, filepath.Join(dir, "in.safetensors"), 4, 2048, 4096) // 128 MiB
	writeRampModel(t, filepath.Join(dir, "in.gguf"), 2, 2048, 4096)
	anyFile := func(int64) bool { return true }
	cases := []struct {
		name  string
		args  []string
		ready func(size int64) bool
	}{
		{"convert-cast", []string{"convert", "in.safetensors", "out.safetensors", "--dtype", "f16"}, func(n int64) bool { return n > 0 }},
		{"convert-verify", []string{"convert", "in.safetensors", "out.safetensors", "--dtype", "bf16"}, nil},
		{"convert-verify-report", []string{"convert", "in.safetensors", "out.safetensors", "--dtype", "bf16", "--report", "out.html"}, nil},
		{"prune", []string{"prune", "in.safetensors", "out.safetensors", "--method", "magnitude", "--sparsity", "0.5"}, anyFile},
		{"prune-global", []string{"prune", "in.safetensors", "out.safetensors", "--method", "global", "--sparsity", "0.5"}, anyFile},
		{"quantize-gguf", []string{"quantize", "in.gguf", "out.gguf", "--type", "Q4_K_M"}, func(n int64) bool { return n > 0 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			t.Chdir(dir)
			removeOutputs(t)
			if c.ready == nil {
				// Verification is too short to catch by polling: cancel as it starts.
				onPhase = func(phase string) {
					if phase == "verify" {
						cancel(signalError{syscall.SIGINT})
					}
				}
				defer func() { onPhase = nil }()
			}
			var stdout, stderr bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- Main(ctx, c.args, nil, &stdout, &stderr) }()
			code := -1
		poll:
			for {
				select {
				case code = <-done:
					break poll
				default:
				}
				entries, _ := os.ReadDir(".")
				for _, en := range entries {
					if c.ready != nil && strings.HasPrefix(en.Name(), refit.TempPrefix) && c.ready(treeSize(en.Name())) {
						cancel(signalError{syscall.SIGINT})
						code = <-done
						break poll
					}
				}
				time.Sleep(time.Millisecond)
			}
			if code != ExitInterrupted {
				t.Fatalf("refit %v: exit %d after cancel, want %d\nstdout: %s\nstderr: %s", c.args, code, ExitInterrupted, &stdout, &stderr)
			}
			if left := removeOutputs(t); len(left) > 0 {
				t.Errorf("cancelled run left %v", left)
			}
		})
	}
}

// removeOutputs deletes outputs and temporary files in the current folder, so that
// one failing case does not fail the next ones, and returns their names.
func removeOutputs(t *testing.T) []string {
	t.Helper()
	var left []string
	entries, _ := os.ReadDir(".")
	for _, en := range entries {
		if strings.HasPrefix(en.Name(), refit.TempPrefix) || strings.HasPrefix(en.Name(), "out.") {
			left = append(left, en.Name())
			os.RemoveAll(en.Name())
		}
	}
	return left
}

// treeSize is the size of a temporary output: a file, or the files in a folder.
func treeSize(name string) int64 {
	var n int64
	filepath.WalkDir(name, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// TestSignalFallback runs a child that holds a pending file and ignores its context:
// after a signal and the grace period the process must remove the file and exit 143.
func TestSignalFallback(t *testing.T) {
	if dir := os.Getenv("REFIT_TEST_STUCK_DIR"); dir != "" {
		ctx, stop := SignalContext(context.Background())
		defer stop()
		pf, err := refit.CreatePendingContext(ctx, filepath.Join(dir, "out.bin"), false)
		if err != nil {
			os.Exit(3)
		}
		pf.WriteString("partial")
		os.Stdout.WriteString("ready\n")
		select {} // busy elsewhere: never looks at ctx
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalFallback$")
	cmd.Env = append(os.Environ(), "REFIT_TEST_STUCK_DIR="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child: %q, %v\n%s", line, err, &stderr)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("child ignoring its context did not exit after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitTerminated {
		t.Fatalf("exit %d, want %d\n%s", code, ExitTerminated, &stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("fallback left %s", entries[0].Name())
	}
	if !strings.Contains(stderr.String(), "interrupted by SIGTERM") {
		t.Errorf("stderr: %s", &stderr)
	}
}
