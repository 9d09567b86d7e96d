package hostile

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// TestHalfConversion runs `refit convert --dtype f16` on graphs whose few bytes claim
// far more: the float16 rewrite decodes every float32 constant, so each claim must
// be refused with exit 1 before anything is allocated or written, never a crash.
func TestHalfConversion(t *testing.T) {
	dir := t.TempDir()
	lying := func(name string, dims []int64, data []float32) *onnxpb.TensorProto {
		tp := graph.FloatTensor(name, []int64{int64(len(data))}, data)
		tp.Dims = dims
		return tp
	}
	gen := map[string]*onnxpb.ModelProto{
		// A Constant node whose value declares 2^40 floats and holds 1.
		"constant_2p40": func() *onnxpb.ModelProto {
			var b graph.Builder
			b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{1}, nil))
			c := b.Op("Constant", "c", nil, graph.TensorAttr("value", lying("", []int64{1 << 20, 1 << 20}, []float32{1})))
			b.Output(graph.ValueInfo(b.Op("Add", "y", []string{"x", c}), graph.ElemFloat, nil, nil))
			return graph.Model(b.Graph("g"), "hostile", 17)
		}(),
		// ConstantOfShape whose value tensor lies the same way.
		"constant_of_shape_value_2p40": func() *onnxpb.ModelProto {
			var b graph.Builder
			b.Input(graph.ValueInfo("x", graph.ElemFloat, []int64{1}, nil))
			shape := b.Int64("shape", []int64{1}, []int64{1})
			c := b.Op("ConstantOfShape", "c", []string{shape}, graph.TensorAttr("value", lying("", []int64{1 << 40}, []float32{1})))
			b.Output(graph.ValueInfo(b.Op("Add", "y", []string{"x", c}), graph.ElemFloat, nil, nil))
			return graph.Model(b.Graph("g"), "hostile", 17)
		}(),
		// If bodies nested 2000 deep, each converted in turn.
		"if_nested_2000": func() *onnxpb.ModelProto {
			leaf := func() *onnxpb.GraphProto {
				return &onnxpb.GraphProto{Name: ptr("leaf"), Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("x", graph.ElemFloat, nil, nil)}}
			}
			body := leaf()
			for i := 0; i < 2000; i++ {
				// Only the then branch nests: sharing one body in both would double the
				// file per level.
				n := graph.NewNode("If", "", []string{"cond"}, []string{"y"}, graph.GraphAttr("then_branch", body), graph.GraphAttr("else_branch", leaf()))
				body = &onnxpb.GraphProto{Name: ptr("level"), Node: []*onnxpb.NodeProto{n}, Output: []*onnxpb.ValueInfoProto{graph.ValueInfo("y", graph.ElemFloat, nil, nil)}}
			}
			body.Input = []*onnxpb.ValueInfoProto{graph.ValueInfo("cond", int32(onnxpb.TensorProto_BOOL), nil, nil), graph.ValueInfo("x", graph.ElemFloat, []int64{1}, nil)}
			return graph.Model(body, "hostile", 17)
		}(),
	}
	for name, mp := range gen {
		var buf bytes.Buffer
		if err := onnx.WriteModel(&buf, mp, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".onnx"), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path  string
		want  string // in stderr; "" for a conversion that must succeed
		flags []string
	}{
		{filepath.Join(dir, "constant_2p40.onnx"), "raw_data has 4 bytes, F32 [1048576, 1048576] needs 4398046511104", nil},
		{filepath.Join(dir, "constant_of_shape_value_2p40.onnx"), "raw_data has 4 bytes, F32 [1099511627776] needs 4398046511104", nil},
		// Typing each body once, not once per enclosing level, keeps this fast.
		{filepath.Join(dir, "if_nested_2000.onnx"), "", []string{"--no-verify"}},
		// The runtime corpus: initializers claiming 2^40 elements, and a graph that
		// converts but whose verification run exceeds the memory budget.
		{filepath.Join("testdata", "runtime", "initializer_2p40_typed.onnx"), "float_data has 1 values, shape [1099511627776] of FLOAT needs 1099511627776", nil},
		{filepath.Join("testdata", "runtime", "initializer_2p40_raw.onnx"), "raw_data has 4 bytes, F32 [1099511627776] needs 4398046511104", nil},
		{filepath.Join("testdata", "runtime", "constant_of_shape_4gib.onnx"), "memory budget exceeded", nil},
	}
	for _, tc := range tests {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "h.onnx")
			r := runRefit(t, limits{}, append([]string{"convert", tc.path, out, "--dtype", "f16"}, tc.flags...)...)
			_, statErr := os.Stat(out)
			if tc.want == "" {
				if r.code != 0 || statErr != nil {
					t.Fatalf("want success and an output\n%v", r)
				}
				return
			}
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want exit 1 and %q in stderr\n%v", tc.want, r)
			}
			if statErr == nil {
				t.Errorf("a refused conversion left %s behind", out)
			}
		})
	}
}

func ptr(s string) *string { return &s }
