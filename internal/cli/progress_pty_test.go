package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/creack/pty"

	"github.com/refit-ml/refit/internal/testtool"
)

// runOnTerminal runs refit with stderr on a pseudo-terminal of 160 columns and
// returns what the terminal received.
func runOnTerminal(t *testing.T, args []string) string {
	return runOnTerminalSized(t, args, 160)
}

// runOnTerminalSized runs refit on a terminal of cols columns; 0 leaves its size
// unset, as script(1) does without a terminal of its own.
func runOnTerminalSized(t *testing.T, args []string, cols uint16) string {
	t.Helper()
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptm.Close()
	if cols > 0 {
		if err := pty.Setsize(ptm, &pty.Winsize{Rows: 40, Cols: cols}); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(ptm) // ends with EIO once pts is closed
		got <- b
	}()
	var stdout bytes.Buffer
	code := Main(context.Background(), args, nil, &stdout, pts)
	pts.Close()
	out := <-got
	if code != 0 {
		t.Fatalf("refit %s = exit %d; terminal:\n%s", strings.Join(args, " "), code, out)
	}
	return string(out)
}

// runOnPipe runs refit with stderr on a pipe and returns what the pipe received.
func runOnPipe(t *testing.T, args []string) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	var stdout bytes.Buffer
	code := Main(context.Background(), args, nil, &stdout, w)
	w.Close()
	out := <-got
	if code != 0 {
		t.Fatalf("refit %s = exit %d; stderr:\n%s", strings.Join(args, " "), code, out)
	}
	return string(out)
}

// barDone is one bar as it completed.
type barDone struct {
	label        string
	count, total int64
}

// watchBars records the bars that complete until the test ends.
func watchBars(t *testing.T) *[]barDone {
	var bars []barDone
	onBarDone = func(label string, count, total int64) { bars = append(bars, barDone{label, count, total}) }
	t.Cleanup(func() { onBarDone = nil })
	return &bars
}

var ansiEscape = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")

// TestProgressTerminal runs long commands with stderr on a pseudo-terminal: every
// phase draws its bar, in order, each bar reaches the total it started with and its
// last frame shows 100 %. The same commands on a pipe, or with --quiet, draw none.
func TestProgressTerminal(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(testtool.RepoRoot(), "testdata", "models"), filepath.Join(dir, "models")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cases := []struct {
		name string
		args []string
		bars []string // in the order the phases run
	}{
		{"convert-cast", []string{"convert", "models/mnist/mnist_cnn.pt", "cnn.safetensors", "--dtype", "f16"}, []string{"write", "verify"}},
		{"quantize-gguf", []string{"quantize", "models/llm/llama-f16.gguf", "q8.gguf", "--type", "Q8_0"}, []string{"quantize", "verify"}},
		{"prune", []string{"prune", "models/mnist/mnist_cnn.onnx", "p.onnx", "--sparsity", "0.6", "--data", "models/mnist/test.npz"},
			[]string{"prune tensors", "zstd size", "run input", "run output"}},
		{"diff-models", []string{"diff", "models/mnist/mnist_cnn.onnx", "models/mnist/mnist_cnn_bn.onnx", "--data", "models/mnist/test.npz"},
			[]string{"run A", "run B"}},
		{"quantize-onnx-static", []string{"quantize", "models/quant/digits_mlp.onnx", "dq.onnx", "--method", "static",
			"--calib", "models/quant/digits_calib.npz", "--eval", "models/quant/digits_eval.npz"},
			[]string{"calibration batches", "per-layer sensitivity", "quantize nodes", "run float", "run quantized"}},
		{"quantize-gptq", []string{"quantize", "models/quant/digits_mlp.onnx", "g.onnx", "--method", "weight-only", "--algo", "gptq", "--per-layer=false",
			"--calib", "models/quant/digits_calib.npz", "--eval", "models/quant/digits_eval.npz"},
			[]string{"calibration batches", "GPTQ layers", "run float", "run quantized"}},
		{"quantize-awq-per-layer", []string{"quantize", "models/quant/digits_mlp.onnx", "a.onnx", "--method", "weight-only", "--algo", "awq",
			"--calib", "models/quant/digits_calib.npz", "--eval", "models/quant/digits_eval.npz"},
			[]string{"calibration batches", "per-layer sensitivity"}},
		{"distill", []string{"distill", "--teacher", "models/mnist/mnist_cnn.onnx", "--student", "models/distill/student_mlp.onnx",
			"--data", "models/mnist/test.npz", "--epochs", "2", "--out", "mlp.onnx"}, []string{"epochs"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args[0] != "diff" {
				args = append(args, "--force") // the pipe and --quiet runs write the same output again
			}
			bars := watchBars(t)
			screen := ansiEscape.ReplaceAllString(runOnTerminal(t, args), "")
			var labels []string
			for _, b := range *bars {
				labels = append(labels, b.label)
				if b.count < b.total {
					t.Errorf("bar %q stopped at %d of %d", b.label, b.count, b.total)
				}
			}
			next := 0 // the expected bars, in order, among those drawn
			for _, l := range labels {
				if next < len(c.bars) && l == c.bars[next] {
					next++
				}
			}
			if next < len(c.bars) {
				t.Errorf("bars drawn: %q; want %q among them in this order", labels, c.bars)
			}
			for _, l := range c.bars {
				last := regexp.MustCompile("(?m)^"+regexp.QuoteMeta(l)+" (.*)$").FindAllStringSubmatch(screen, -1)
				if len(last) == 0 {
					t.Errorf("the terminal shows no %q bar:\n%s", l, screen)
					continue
				}
				if f := last[len(last)-1][1]; !strings.Contains(f, "100 %") {
					t.Errorf("the last frame of %q is %q, not at 100 %%", l, f)
				}
			}

			*bars = nil
			if out := runOnPipe(t, args); strings.Contains(out, "[=") || len(*bars) > 0 {
				t.Errorf("on a pipe, bars %v were drawn; stderr:\n%s", *bars, out)
			}
			*bars = nil
			if out := runOnTerminal(t, append(args, "--quiet")); strings.Contains(out, "[=") || len(*bars) > 0 {
				t.Errorf("with --quiet, bars %v were drawn; terminal:\n%s", *bars, out)
			}
		})
	}
}

// TestProgressUnsizedTerminal: a terminal that reports 0 columns still shows the bars.
func TestProgressUnsizedTerminal(t *testing.T) {
	t.Chdir(t.TempDir())
	in := filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf")
	screen := ansiEscape.ReplaceAllString(runOnTerminalSized(t, []string{"quantize", in, "q8.gguf", "--type", "Q8_0"}, 0), "")
	for _, l := range []string{"quantize", "verify"} {
		if !regexp.MustCompile("(?m)^" + regexp.QuoteMeta(l) + " .*100 %").MatchString(screen) {
			t.Errorf("no %q bar at 100 %% on an unsized terminal:\n%s", l, screen)
		}
	}
}
