package cli

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// TestRunPeakRSS runs `refit run` on a model with 128 MiB of float32 weights in a
// child process and checks its peak resident memory (getrusage) against issue 14's
// bound: the weights plus the live activations (a few KiB here) plus 64 MiB. A second
// copy of the weights (read into memory, cloned, or kept unpacked beside their packed
// layout) breaks it.
func TestRunPeakRSS(t *testing.T) {
	const width, layers = 1024, 8 // MatMuls [1,1024]x[1024,4096]x[4096,1024]x...: 8 x 16 MiB
	if model := os.Getenv("REFIT_TEST_RSS_WRITE"); model != "" {
		writeWideMLP(t, model, width, layers)
		return
	}
	if model := os.Getenv("REFIT_TEST_RSS_RUN"); model != "" {
		os.Exit(Main(context.Background(), []string{"run", model}, nil, os.Stdout, os.Stderr))
	}
	if testing.Short() {
		t.Skip("writes a 128 MiB model")
	}
	// Linux carries the peak RSS of the process that execs over into the new program
	// (the exec'ing child shares this test's memory until then), so this process
	// stays small: another child writes the model.
	model := filepath.Join(t.TempDir(), "wide.onnx")
	child := func(env string) int64 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRunPeakRSS$")
		cmd.Env = append(os.Environ(), env+"="+model, "GOMAXPROCS=2")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", env, err, out)
		}
		return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	}
	child("REFIT_TEST_RSS_WRITE")
	peak := child("REFIT_TEST_RSS_RUN")
	weights := int64(layers * width * 4 * width * 4)
	limit := weights + 64<<20
	var self syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		t.Fatal(err)
	}
	t.Logf("peak RSS of refit run %.1f MiB (this process %.1f MiB), weights %.1f MiB, bound %.1f MiB",
		float64(peak)/(1<<20), float64(self.Maxrss<<10)/(1<<20), float64(weights)/(1<<20), float64(limit)/(1<<20))
	if self.Maxrss<<10 >= limit {
		t.Fatalf("this process's own peak RSS (%d bytes) hides the child's", self.Maxrss<<10)
	}
	if peak > limit {
		t.Errorf("peak RSS %d bytes, over the weights (%d) + 64 MiB", peak, weights)
	}
}

// writeWideMLP writes a chain of MatMuls alternating [w, 4w] and [4w, w] weights.
func writeWideMLP(t *testing.T, name string, w, layers int) {
	t.Helper()
	vi := func(n string, dims ...int64) *onnxpb.ValueInfoProto {
		var shape onnxpb.TensorShapeProto
		for _, d := range dims {
			shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(n), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: &shape}}}}
	}
	g := &onnxpb.GraphProto{Name: proto.String("wide"), Input: []*onnxpb.ValueInfoProto{vi("x", 1, int64(w))}}
	in := "x"
	for l := range layers {
		k, n := w, 4*w
		if l%2 == 1 {
			k, n = 4*w, w
		}
		raw := make([]byte, 4*k*n)
		for i := range k * n {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i%7-3)/float32(k)))
		}
		wn, out := "w"+strconv.Itoa(l), "h"+strconv.Itoa(l)
		g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String(wn), DataType: proto.Int32(1), Dims: []int64{int64(k), int64(n)}, RawData: raw})
		g.Node = append(g.Node, &onnxpb.NodeProto{OpType: proto.String("MatMul"), Input: []string{in, wn}, Output: []string{out}})
		in = out
	}
	g.Output = []*onnxpb.ValueInfoProto{vi(in, 1, int64(w))}
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g, OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}}}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
