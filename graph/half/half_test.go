package half_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/graph/half"
	"github.com/refit-ml/refit/runtime"
	"github.com/refit-ml/refit/tensor"
)

const (
	f32  = int32(onnxpb.TensorProto_FLOAT)
	f16  = int32(onnxpb.TensorProto_FLOAT16)
	bf16 = int32(onnxpb.TensorProto_BFLOAT16)
	i64  = int32(onnxpb.TensorProto_INT64)
)

// keptOpsModel is Conv -> Resize -> Flatten -> TopK -> Relu(values), with the TopK
// indices as a second output and a Constant(value_floats) added to the first.
func keptOpsModel() *onnxpb.ModelProto {
	var b graph.Builder
	b.Input(graph.ValueInfo("x", f32, []int64{1, 2, 4, 4}, nil))
	w := b.Float("w", []int64{2, 2, 1, 1}, []float32{0.5, -1, 2, 0.25})
	bias := b.Float("b", []int64{2}, []float32{0.1, -0.2})
	scales := b.Float("scales", []int64{4}, []float32{1, 1, 2, 2})
	k := b.Initializer(graph.Int64Tensor("k", []int64{1}, []int64{5}))
	c := b.Op("Conv", "conv", []string{"x", w, bias})
	r := b.Op("Resize", "resize", []string{c, "", scales}, graph.StringAttr("mode", "nearest"))
	fl := b.Op("Flatten", "flat", []string{r})
	top := b.OpN("TopK", "topk", []string{fl, k}, []bool{true, true})
	cst := b.Op("Constant", "cst", nil, graph.FloatsAttr("value_floats", []float32{1, 2, 3, 4, 5}))
	sum := b.Op("Add", "sum", []string{top[0], cst})
	y := b.Op("Relu", "y", []string{sum})
	b.Output(graph.ValueInfo(y, f32, []int64{1, 5}, nil))
	b.Output(graph.ValueInfo(top[1], i64, []int64{1, 5}, nil))
	return graph.Model(b.Graph("kept"), "test", 17)
}

func run(t *testing.T, mp *onnxpb.ModelProto, in map[string]*runtime.Value) map[string]*runtime.Value {
	t.Helper()
	s, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatalf("runtime.Load: %v", err)
	}
	out, err := s.Run(context.Background(), in)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out
}

func randomInputs(t *testing.T, mp *onnxpb.ModelProto) map[string]*runtime.Value {
	t.Helper()
	s, err := runtime.Load(mp, nil, nil)
	if err != nil {
		t.Fatalf("runtime.Load: %v", err)
	}
	in, err := runtime.RandomInputs(s, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// maxError returns the largest |a-b| / (1+|a|) over the float elements of two outputs.
func maxError(t *testing.T, a, b *runtime.Value) float64 {
	t.Helper()
	x, y := a.AsFloat64s(), b.AsFloat64s()
	if len(x) != len(y) || len(x) == 0 {
		t.Fatalf("outputs have %d and %d elements", len(x), len(y))
	}
	worst := 0.0
	for i := range x {
		if math.IsNaN(y[i]) != math.IsNaN(x[i]) {
			return math.Inf(1)
		}
		worst = max(worst, math.Abs(x[i]-y[i])/(1+math.Abs(x[i])))
	}
	return worst
}

func elemTypes(vs []*onnxpb.ValueInfoProto) map[string]int32 {
	m := map[string]int32{}
	for _, v := range vs {
		m[v.GetName()] = v.GetType().GetTensorType().GetElemType()
	}
	return m
}

func producers(g *onnxpb.GraphProto) map[string]*onnxpb.NodeProto {
	return graph.NewEditor(g).Producers()
}

func TestKeptOps(t *testing.T) {
	mp := keptOpsModel()
	orig := proto.Clone(mp)
	hm, rep, err := half.Model(context.Background(), mp, nil, nil)
	if err != nil {
		t.Fatalf("Model: %v", err)
	}
	if !proto.Equal(mp, orig) {
		t.Fatal("Model modified its input")
	}
	g := hm.Graph
	if got := elemTypes(g.Input)["x"]; got != f32 {
		t.Errorf("input x type = %d, want float32 (I/O kept by default)", got)
	}
	outs := elemTypes(g.Output)
	if outs["y"] != f32 || outs["topk_out1"] != i64 {
		t.Errorf("output types = %v, want y float32 and topk_out1 int64", outs)
	}
	inits := map[string]int32{}
	for _, tp := range g.Initializer {
		inits[tp.GetName()] = tp.GetDataType()
	}
	want := map[string]int32{"w": f16, "b": f16, "scales": f32, "k": i64}
	for name, typ := range want {
		if inits[name] != typ {
			t.Errorf("initializer %s type = %d, want %d", name, inits[name], typ)
		}
	}
	prod := producers(g)
	for _, n := range g.Node {
		switch n.GetOpType() {
		case "Resize", "TopK":
			// A kept node reads float32: its float input comes from a Cast to float.
			p := prod[n.Input[0]]
			if p == nil || p.GetOpType() != "Cast" || graph.Int(p, "to", 0) != int64(f32) {
				t.Errorf("%s reads %s, not a Cast to float32", n.GetOpType(), n.Input[0])
			}
		case "Constant":
			if v := graph.Tensor(n, "value"); v == nil || v.GetDataType() != f16 {
				t.Errorf("Constant value not converted to float16: %v", n)
			}
		}
	}
	kept := map[string]bool{}
	for _, k := range rep.Kept {
		kept[k.Op] = true
	}
	if !kept["Resize"] || !kept["TopK"] || len(rep.Kept) != 2 {
		t.Errorf("Kept = %+v, want Resize and TopK", rep.Kept)
	}
	if rep.Initializers != 2 || rep.Constants != 1 {
		t.Errorf("Initializers, Constants = %d, %d, want 2, 1", rep.Initializers, rep.Constants)
	}
	in := randomInputs(t, mp)
	a, b := run(t, mp, in), run(t, hm, in)
	if b["y"].DType != tensor.F32 {
		t.Errorf("converted output y is %v, want F32", b["y"].DType)
	}
	if e := maxError(t, a["y"], b["y"]); e > 1e-2 {
		t.Errorf("max relative error %g, want <= 1e-2", e)
	}
}

func TestOptions(t *testing.T) {
	mp := keptOpsModel()
	t.Run("HalfIO", func(t *testing.T) {
		hm, _, err := half.Model(context.Background(), mp, nil, &half.Options{HalfIO: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := elemTypes(hm.Graph.Input)["x"]; got != f16 {
			t.Errorf("input type = %d, want float16", got)
		}
		if got := elemTypes(hm.Graph.Output)["y"]; got != f16 {
			t.Errorf("output type = %d, want float16", got)
		}
		out := run(t, hm, randomInputs(t, hm))
		if out["y"].DType != tensor.F16 {
			t.Errorf("output y is %v, want F16", out["y"].DType)
		}
	})
	t.Run("BF16", func(t *testing.T) {
		hm, rep, err := half.Model(context.Background(), mp, nil, &half.Options{DType: tensor.BF16})
		if err != nil {
			t.Fatal(err)
		}
		if rep.DType != "BF16" {
			t.Errorf("Report.DType = %q", rep.DType)
		}
		for _, tp := range hm.Graph.Initializer {
			if tp.GetName() == "w" && tp.GetDataType() != bf16 {
				t.Errorf("w is type %d, want bfloat16", tp.GetDataType())
			}
		}
		in := randomInputs(t, mp)
		if e := maxError(t, run(t, mp, in)["y"], run(t, hm, in)["y"]); e > 5e-2 {
			t.Errorf("max relative error %g, want <= 5e-2", e)
		}
	})
	t.Run("Keep", func(t *testing.T) {
		hm, rep, err := half.Model(context.Background(), mp, nil, &half.Options{Keep: []string{"Conv"}, NoDefaultKeep: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Kept) != 1 || rep.Kept[0].Op != "Conv" {
			t.Errorf("Kept = %+v, want only Conv", rep.Kept)
		}
		for _, tp := range hm.Graph.Initializer {
			if tp.GetName() == "w" && tp.GetDataType() != f32 {
				t.Errorf("the weight of a kept Conv is type %d, want float32", tp.GetDataType())
			}
		}
		run(t, hm, randomInputs(t, mp))
	})
	t.Run("bad dtype", func(t *testing.T) {
		_, _, err := half.Model(context.Background(), mp, nil, &half.Options{DType: tensor.F64})
		if !errors.Is(err, refit.ErrUnsupported) {
			t.Errorf("Model(F64) = %v, want ErrUnsupported", err)
		}
	})
	t.Run("deterministic", func(t *testing.T) {
		a, _, err := half.Model(context.Background(), mp, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _, _ := half.Model(context.Background(), mp, nil, nil)
		ba, _ := proto.MarshalOptions{Deterministic: true}.Marshal(a)
		bb, _ := proto.MarshalOptions{Deterministic: true}.Marshal(b)
		if string(ba) != string(bb) {
			t.Error("two conversions differ")
		}
	})
}

func TestClampAndUnderflow(t *testing.T) {
	var b graph.Builder
	b.Input(graph.ValueInfo("x", f32, []int64{6}, nil))
	c := b.Float("c", []int64{6}, []float32{1e6, -3.4e38, 1e-9, 0.5, float32(math.Inf(-1)), 65504})
	y := b.Op("Add", "y", []string{"x", c})
	b.Output(graph.ValueInfo(y, f32, []int64{6}, nil))
	mp := graph.Model(b.Graph("clamp"), "test", 17)
	hm, rep, err := half.Model(context.Background(), mp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Clamped != 2 || rep.Underflow != 1 || rep.Values != 6 {
		t.Errorf("Clamped, Underflow, Values = %d, %d, %d, want 2, 1, 6", rep.Clamped, rep.Underflow, rep.Values)
	}
	ct, err := onnx.TensorFromProto(hm.Graph.Initializer[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ct.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{65504, -65504, 0, 0.5, float32(math.Inf(-1)), 65504}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d = %g, want %g", i, got[i], want[i])
		}
	}
}

// TestFixtures converts the runtime's control-flow fixtures and the MNIST CNN and
// checks that every float value in their bodies is half precision and that they
// still compute the same thing.
func TestFixtures(t *testing.T) {
	for _, p := range []string{
		"../../runtime/testdata/models/if_outer.onnx",
		"../../runtime/testdata/models/loop_sum.onnx",
		"../../runtime/testdata/models/convnet.onnx",
		"../../testdata/models/mnist/mnist_cnn.onnx",
	} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			if _, err := os.Stat(p); err != nil {
				t.Skipf("fixture missing: %v", err)
			}
			mp, err := onnx.Load(refit.DirFS(filepath.Dir(p)), filepath.Base(p))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []tensor.DType{tensor.F16, tensor.BF16} {
				hm, _, err := half.Model(context.Background(), mp, nil, &half.Options{DType: d})
				if err != nil {
					t.Fatalf("Model(%v): %v", d, err)
				}
				checkBodies(t, hm.Graph, false)
				in := randomInputs(t, mp)
				a, b := run(t, mp, in), run(t, hm, in)
				tol := 1e-2
				if d == tensor.BF16 {
					tol = 0.15 // 8 significant bits, through several layers
				}
				for name, va := range a {
					if va.DType != tensor.F32 {
						continue
					}
					if b[name].DType != tensor.F32 {
						t.Errorf("%v: output %s is %v, want F32", d, name, b[name].DType)
					}
					if e := maxError(t, va, b[name]); e > tol {
						t.Errorf("%v: output %s max relative error %g, want <= %g", d, name, e, tol)
					}
				}
			}
		})
	}
}

// checkBodies fails when a subgraph declares a float32 input, output or value_info.
func checkBodies(t *testing.T, g *onnxpb.GraphProto, sub bool) {
	t.Helper()
	if sub {
		for _, list := range [][]*onnxpb.ValueInfoProto{g.Input, g.Output, g.ValueInfo} {
			for name, typ := range elemTypes(list) {
				if typ == f32 {
					t.Errorf("subgraph %s declares %s as float32", g.GetName(), name)
				}
			}
		}
	}
	for _, n := range g.Node {
		for _, sg := range graph.Subgraphs(n) {
			checkBodies(t, sg, true)
		}
	}
}

func TestCustomDomain(t *testing.T) {
	var b graph.Builder
	b.Input(graph.ValueInfo("x", f32, []int64{2}, nil))
	r := b.Op("Relu", "r", []string{"x"})
	n := b.Node("MyOp", "custom", []string{r}, []string{"c"})
	graph.SetDomain(n, "example.com")
	y := b.Op("Relu", "y", []string{"c"})
	b.Output(graph.ValueInfo(y, f32, []int64{2}, nil))
	mp := graph.Model(b.Graph("custom"), "test", 17)
	hm, rep, err := half.Model(context.Background(), mp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Kept) != 1 || rep.Kept[0].Op != "MyOp" {
		t.Errorf("Kept = %+v, want the custom op", rep.Kept)
	}
	if len(rep.Untyped) != 0 {
		t.Errorf("Untyped = %v, want none", rep.Untyped)
	}
	prod := producers(hm.Graph)
	for _, n := range hm.Graph.Node {
		if n.GetOpType() == "MyOp" {
			if p := prod[n.Input[0]]; p == nil || p.GetOpType() != "Cast" {
				t.Errorf("the custom op reads %s, not a Cast", n.Input[0])
			}
		}
	}
	// Its output feeds a converted Relu through a Cast to float16.
	for _, n := range hm.Graph.Node {
		if n.GetOpType() == "Relu" && n.Input[0] != r && prod[n.Input[0]].GetOpType() != "Cast" {
			t.Errorf("Relu %s reads %s without a Cast", n.GetName(), n.Input[0])
		}
	}
}
