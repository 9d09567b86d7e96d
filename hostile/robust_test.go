package hostile

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
)

// A model file truncated by another process while refit runs it from its mapping (the
// weights are read in place, so the next read of a dropped page is a SIGBUS): the run
// ends with a clear error and exit 1, never a crash, and writes no --output.
func TestTruncatedDuringRun(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	const n = 4 << 20 // 16 MiB of float32 weights, read by every run
	w := make([]byte, 4*n)
	for i := range n {
		binary.LittleEndian.PutUint32(w[4*i:], math.Float32bits(float32(i%5)))
	}
	vi := func(name string) *onnxpb.ValueInfoProto {
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: &onnxpb.TensorShapeProto{
				Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: n}}}}}}}}
	}
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String("g"),
			Node:        []*onnxpb.NodeProto{{OpType: proto.String("Add"), Input: []string{"x", "w"}, Output: []string{"y"}}},
			Initializer: []*onnxpb.TensorProto{{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{n}, RawData: w}},
			Input:       []*onnxpb.ValueInfoProto{vi("x")},
			Output:      []*onnxpb.ValueInfoProto{vi("y")},
		},
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Truncate the file once a process has it mapped (it shows in /proc/PID/maps).
	done := make(chan struct{})
	truncated := make(chan bool, 1)
	go func() {
		for {
			select {
			case <-done:
				truncated <- false
				return
			case <-time.After(5 * time.Millisecond):
			}
			if mappedByAnyProcess(model) {
				truncated <- os.Truncate(model, 0) == nil
				return
			}
		}
	}()
	out := filepath.Join(dir, "y.npz")
	r := runRefit(t, limits{timeout: 5 * time.Minute}, "run", model, "--runs", "100000", "-o", out, "--threads", "2")
	close(done)
	if !<-truncated {
		t.Fatalf("the file was not truncated during the run\n%v", r)
	}
	if r.code != exitFailure || !strings.Contains(r.stderr, "changed while reading") {
		t.Errorf("want exit 1 and an error saying the file changed while it was read\n%v", r)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("--output %s exists after a failed run (stat: %v)", out, err)
	}
}

// mappedByAnyProcess reports whether some process has path memory-mapped.
func mappedByAnyProcess(path string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/maps")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(path)) {
			return true
		}
	}
	return false
}

// A tiny constant doubled by 30 nested Concats (or multiplied by Tiles): each node's
// constant is small enough to fold at first, and the graph reaches 2^40 elements. The
// folding before every ONNX command, and the run, must stop at the memory budget with
// exit 1, not run out of memory under ulimit -v (the folded constants, their copies and
// the evaluator's outputs were charged to nothing).
func TestNestedConstantBlowup(t *testing.T) {
	dir := t.TempDir()
	for _, op := range []string{"Concat", "Tile"} {
		model := filepath.Join(dir, op+".onnx")
		if err := os.WriteFile(model, nestedConstantModel(t, op), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, op+"-out.onnx")
		for _, args := range [][]string{
			{"run", model},
			{"optimize", model, out},
			{"quantize", model, out},
			{"diff", model, model},
		} {
			t.Run(op+"/"+args[0], func(t *testing.T) {
				r := runRefit(t, limits{memKiB: 2 << 20}, args...)
				if r.code != exitFailure {
					t.Errorf("want exit 1 (a memory budget error)\n%v", r)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("%s exists after a failed command (stat: %v)", out, err)
				}
			})
		}
	}
}

// nestedConstantModel is y = x + ReduceSum(c30), c(i+1) = op(c(i)) doubling (Concat of
// c(i) with itself) or quadrupling (Tile by 4) a 1024-float initializer c0.
func nestedConstantModel(t *testing.T, op string) []byte {
	i64 := func(name string, v int64) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(7), Dims: []int64{1},
			RawData: binary.LittleEndian.AppendUint64(nil, uint64(v))}
	}
	g := &onnxpb.GraphProto{Name: proto.String("g"), Initializer: []*onnxpb.TensorProto{
		{Name: proto.String("c0"), DataType: proto.Int32(1), Dims: []int64{1024}, RawData: make([]byte, 4096)},
		i64("four", 4),
	}}
	prev := "c0"
	for i := 1; i <= 30; i++ {
		name := "c" + strconv.Itoa(i)
		n := &onnxpb.NodeProto{OpType: proto.String(op), Input: []string{prev, prev}, Output: []string{name},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(0)}}}
		if op == "Tile" {
			n.Input, n.Attribute = []string{prev, "four"}, nil
		}
		g.Node = append(g.Node, n)
		prev = name
	}
	g.Node = append(g.Node,
		&onnxpb.NodeProto{OpType: proto.String("ReduceSum"), Input: []string{prev}, Output: []string{"s"}},
		&onnxpb.NodeProto{OpType: proto.String("Add"), Input: []string{"x", "s"}, Output: []string{"y"}})
	scalar := &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1),
		Shape: &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 1}}}}}}}
	g.Input = []*onnxpb.ValueInfoProto{{Name: proto.String("x"), Type: scalar}}
	g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String("y"), Type: scalar}}
	b, err := proto.Marshal(&onnxpb.ModelProto{IrVersion: proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}}, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
