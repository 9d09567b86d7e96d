package hostile

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// Constant nodes lifted into initializers (onnx.LiftConstants, optimize.Prepare) by
// every ONNX command: a few bytes of sparse_value declaring a huge shape, shapes whose
// element count overflows, Identity cycles next to constants, Constants shadowing
// inputs or each other, and external data leaving the model's folder. Each model goes
// through inspect, prune, quantize, optimize and run under a 1 GiB address-space
// limit: an error or a result, never a crash, a hang or an output left after an error.
func TestPrepareHostileConstants(t *testing.T) {
	f32 := func(v ...float32) []byte {
		var b []byte
		for _, f := range v {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
		}
		return b
	}
	i64 := func(v ...int64) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint64(b, uint64(x))
		}
		return b
	}
	sparseAttr := func(dims []int64, idx []int64, idxDims []int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String("sparse_value"), Type: onnxpb.AttributeProto_SPARSE_TENSOR.Enum(),
			SparseTensor: &onnxpb.SparseTensorProto{Dims: dims,
				Values:  &onnxpb.TensorProto{DataType: proto.Int32(graph.ElemFloat), Dims: []int64{1}, RawData: f32(1)},
				Indices: &onnxpb.TensorProto{DataType: proto.Int32(graph.ElemInt64), Dims: idxDims, RawData: i64(idx...)}}}
	}
	valueAttr := func(tp *onnxpb.TensorProto) *onnxpb.AttributeProto {
		return graph.TensorAttr("value", tp)
	}
	type node struct {
		op      string
		in, out []string
		attr    *onnxpb.AttributeProto
	}
	weight := valueAttr(graph.FloatTensor("", []int64{2, 2}, []float32{1, 2, 3, 4}))
	cases := map[string][]node{
		"sparse constant of 2^40 elements": {{"Constant", nil, []string{"w"}, sparseAttr([]int64{1 << 20, 1 << 20}, []int64{0}, []int64{1})}, {"MatMul", []string{"x", "w"}, []string{"y"}, nil}},
		"sparse constant overflowing":      {{"Constant", nil, []string{"w"}, sparseAttr([]int64{1 << 62, 1 << 62, 4}, []int64{0}, []int64{1})}, {"MatMul", []string{"x", "w"}, []string{"y"}, nil}},
		"sparse index past the end":        {{"Constant", nil, []string{"w"}, sparseAttr([]int64{2, 2}, []int64{1 << 40}, []int64{1})}, {"MatMul", []string{"x", "w"}, []string{"y"}, nil}},
		"identity cycle beside constants": {{"Constant", nil, []string{"w"}, weight}, {"Identity", []string{"w"}, []string{"a"}, nil},
			{"Identity", []string{"c"}, []string{"b"}, nil}, {"Identity", []string{"b"}, []string{"c"}, nil},
			{"Add", []string{"a", "c"}, []string{"s"}, nil}, {"MatMul", []string{"x", "s"}, []string{"y"}, nil}},
		"constant shadowing the input": {{"Constant", nil, []string{"x"}, weight}, {"MatMul", []string{"x", "x"}, []string{"y"}, nil}},
		"two constants, one name":      {{"Constant", nil, []string{"w"}, weight}, {"Constant", nil, []string{"w"}, weight}, {"MatMul", []string{"x", "w"}, []string{"y"}, nil}},
		"constant with external data outside the folder": {{"Constant", nil, []string{"w"}, valueAttr(&onnxpb.TensorProto{DataType: proto.Int32(graph.ElemFloat), Dims: []int64{2, 2},
			DataLocation: onnxpb.TensorProto_EXTERNAL.Enum(), ExternalData: []*onnxpb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("../../etc/passwd")}}})},
			{"MatMul", []string{"x", "w"}, []string{"y"}, nil}},
		"constant with a huge value list": {{"Constant", nil, []string{"w"}, &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
			T: &onnxpb.TensorProto{DataType: proto.Int32(graph.ElemFloat), Dims: []int64{1 << 30, 1 << 30}, RawData: f32(1, 2, 3, 4)}}},
			{"MatMul", []string{"x", "w"}, []string{"y"}, nil}},
	}
	dir := t.TempDir()
	for name, nodes := range cases {
		t.Run(name, func(t *testing.T) {
			g := &onnxpb.GraphProto{Name: proto.String("g"),
				Input:  []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, []int64{2, 2}, nil)},
				Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("y", graph.ElemFloat, nil, nil)}}
			for _, n := range nodes {
				nn := &onnxpb.NodeProto{OpType: proto.String(n.op), Input: n.in, Output: n.out}
				if n.attr != nil {
					nn.Attribute = []*onnxpb.AttributeProto{n.attr}
				}
				g.Node = append(g.Node, nn)
			}
			in := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".onnx")
			if err := onnx.WriteModelFile(in, graph.Model(g, "hostile", 17), nil); err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(in, ".onnx")
			for _, args := range [][]string{
				{"inspect", in},
				{"run", in},
				{"prune", in, base + ".pruned.onnx", "--method", "global"},
				{"quantize", in, base + ".q.onnx", "--per-layer=false"},
				{"optimize", in, base + ".opt.onnx"},
			} {
				r := runRefit(t, limits{memKiB: 1 << 20, timeout: 60 * time.Second}, args...)
				first, _, _ := strings.Cut(r.stderr, "\n")
				t.Logf("%s: exit %d %s", args[0], r.code, first)
				if strings.Contains(r.stderr, "kernel panicked") {
					t.Fatalf("refit %v: a kernel panicked\n%v", args, r)
				}
				if len(args) > 2 && r.code != 0 {
					if _, err := os.Stat(args[2]); err == nil {
						t.Fatalf("refit %v failed but wrote %s\n%v", args, args[2], r)
					}
				}
				// The preparation must not turn an invalid graph into a valid one.
				if args[0] == "run" && r.code == 0 && (strings.Contains(name, "cycle") || strings.Contains(name, "shadowing") || strings.Contains(name, "one name")) {
					t.Errorf("refit run accepted an invalid graph\n%v", r)
				}
				if name == "constant with external data outside the folder" {
					// inspect may list the graph, not the data; the rest needs the data.
					if args[0] == "inspect" && strings.Contains(r.stdout, "F32") || args[0] != "inspect" && r.code == 0 {
						t.Errorf("refit %v read external data outside the model's folder\n%v", args, r)
					}
				}
			}
		})
	}
}
