package hostile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// Malformed graphs through refit optimize, whose passes rewrite nodes in place:
// nodes missing the inputs or outputs a fusion rewrites, a value written twice and a
// cycle must give an error or a rewrite, never a crash, and no output on error.
// (FuzzPasses in optimize explores the same space in-process.) Each graph goes through
// with --no-verify (the passes alone) and with verification (the runtime, which refuses
// nodes missing a required value at load).
func TestOptimizeMalformedGraphs(t *testing.T) {
	type nodeSpec struct {
		op      string
		in, out []string
		attrs   []*onnxpb.AttributeProto
	}
	perm := graph.IntsAttr("perm", []int64{1, 0})
	cases := map[string][]nodeSpec{
		"transpose without input": {{"Transpose", nil, []string{"t"}, []*onnxpb.AttributeProto{perm}}, {"Transpose", []string{"t"}, []string{"y"}, []*onnxpb.AttributeProto{perm}}},
		"flatten without input":   {{"Flatten", nil, []string{"f"}, nil}, {"Reshape", []string{"f", "shape"}, []string{"y"}, nil}},
		"matmul with one input":   {{"MatMul", []string{"x"}, []string{"m"}, nil}, {"Add", []string{"m", "b"}, []string{"y"}, nil}},
		"batchnorm on nothing":    {{"Conv", []string{"x"}, nil, nil}, {"BatchNormalization", []string{"c", "b", "b", "b", "b"}, []string{"", "y"}, nil}},
		"identity of nothing":     {{"Identity", []string{""}, []string{"y"}, nil}},
		"value written twice":     {{"Relu", []string{"x"}, []string{"y"}, nil}, {"Relu", []string{"x"}, []string{"y"}, nil}},
		"cycle":                   {{"Relu", []string{"z"}, []string{"w"}, nil}, {"Relu", []string{"w"}, []string{"z"}, nil}, {"Add", []string{"x", "z"}, []string{"y"}, nil}},
	}
	dir := t.TempDir()
	for name, nodes := range cases {
		t.Run(name, func(t *testing.T) {
			var b graph.Builder
			b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{2, 2}, nil))
			b.Float("b", []int64{2}, []float32{1, 2})
			b.Int64("shape", []int64{2}, []int64{2, 2})
			for _, n := range nodes {
				b.Node(n.op, "", n.in, n.out, n.attrs...)
			}
			b.Output(graph.ValueInfo("y", graph.ElemFloat, nil, nil))
			in := filepath.Join(dir, name+".onnx")
			if err := onnx.WriteModelFile(in, graph.Model(b.Graph("g"), "hostile", 17), nil); err != nil {
				t.Fatal(err)
			}
			for i, flags := range [][]string{{"--no-verify"}, nil} {
				out := filepath.Join(dir, fmt.Sprintf("%s.%d.onnx", name, i))
				args := append(append([]string{"optimize"}, flags...), in, out)
				r := runRefit(t, limits{}, args...)
				if _, err := os.Stat(out); r.code != 0 && err == nil {
					t.Fatalf("refit %v failed but wrote %s\n%v", args, out, r)
				}
				if strings.Contains(r.stderr, "kernel panicked") {
					t.Fatalf("refit %v: a kernel panicked\n%v", args, r)
				}
			}
		})
	}
}
