package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
		code := Main(context.Background(), []string{"run", model}, nil, io.Discard, os.Stderr)
		hwm, err := peakRSS()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("VmHWM %d\n", hwm)
		os.Exit(code)
	}
	if testing.Short() {
		t.Skip("writes a 128 MiB model")
	}
	// The child reports its own VmHWM: the peak of the memory map its exec created.
	// (getrusage's figure for a child also counts the parent's peak, which exec
	// carries over from a vfork.)
	model := filepath.Join(t.TempDir(), "wide.onnx")
	child := func(env string) []byte {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRunPeakRSS$")
		cmd.Env = append(os.Environ(), env+"="+model, "GOMAXPROCS=2")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", env, err, out)
		}
		return out
	}
	child("REFIT_TEST_RSS_WRITE")
	out := child("REFIT_TEST_RSS_RUN")
	var peak int64
	i := bytes.Index(out, []byte("VmHWM "))
	if i < 0 {
		t.Fatalf("no VmHWM in the child's output %q", out)
	}
	if _, err := fmt.Sscanf(string(out[i:]), "VmHWM %d", &peak); err != nil {
		t.Fatalf("no VmHWM in the child's output %q: %v", out, err)
	}
	weights := int64(layers * width * 4 * width * 4)
	limit := weights + 64<<20
	t.Logf("peak RSS of refit run %.1f MiB, weights %.1f MiB, bound %.1f MiB",
		float64(peak)/(1<<20), float64(weights)/(1<<20), float64(limit)/(1<<20))
	if peak > limit {
		t.Errorf("peak RSS %d bytes, over the weights (%d) + 64 MiB", peak, weights)
	}
}

// peakRSS is this process's VmHWM in bytes (/proc/self/status).
func peakRSS() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	i := bytes.Index(b, []byte("VmHWM:"))
	if i < 0 {
		return 0, fmt.Errorf("no VmHWM in /proc/self/status")
	}
	var kib int64
	if _, err := fmt.Sscanf(string(b[i:]), "VmHWM: %d kB", &kib); err != nil {
		return 0, err
	}
	return kib << 10, nil
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
