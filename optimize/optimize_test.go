package optimize

import (
	"context"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
	"github.com/refit-ml/refit/tensor"
)

// builder makes small test models.
type builder struct{ g *onnxpb.GraphProto }

func newBuilder(inputs ...string) *builder {
	b := &builder{g: &onnxpb.GraphProto{Name: proto.String("g")}}
	for _, in := range inputs {
		b.g.Input = append(b.g.Input, valueInfo(in, 2))
	}
	return b
}

func valueInfo(name string, rank int) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for i := 0; i < rank; i++ {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: 2}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(1), Shape: shape}}}}
}

func (b *builder) node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	n := &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: out, Name: proto.String(out[0] + "_node"), Attribute: attrs}
	b.g.Node = append(b.g.Node, n)
	return n
}

func (b *builder) init(t *testing.T, name string, shape tensor.Shape, v []float32) {
	t.Helper()
	tt, err := tensor.NewF32(name, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := onnx.TensorToProto(tt)
	if err != nil {
		t.Fatal(err)
	}
	b.g.Initializer = append(b.g.Initializer, tp)
}

func (b *builder) model(outputs ...string) *onnxpb.ModelProto {
	for _, o := range outputs {
		b.g.Output = append(b.g.Output, valueInfo(o, 2))
	}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: b.g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}}}
}

func ops(m *onnxpb.ModelProto) []string {
	var out []string
	for _, n := range m.Graph.Node {
		out = append(out, n.GetOpType())
	}
	return out
}

func run(t *testing.T, m *onnxpb.ModelProto, only ...string) (*onnxpb.ModelProto, *Report) {
	t.Helper()
	before := proto.Clone(m)
	out, rep, err := Model(context.Background(), m, &Options{Only: only})
	if err != nil {
		t.Fatalf("Model: %v", err)
	}
	if !proto.Equal(before, m) {
		t.Fatal("Model modified its input")
	}
	return out, rep
}

func equalOps(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEliminateIdentity(t *testing.T) {
	b := newBuilder("x")
	b.node("Identity", []string{"x"}, []string{"a"})
	b.node("Relu", []string{"a"}, []string{"r"})
	b.node("Dropout", []string{"r"}, []string{"d"})
	b.node("Transpose", []string{"d"}, []string{"y"}, graph.IntsAttr("perm", []int64{0, 1}))
	out, _ := run(t, b.model("y"), "eliminate-identity")
	if got := ops(out); !equalOps(got, []string{"Relu"}) {
		t.Fatalf("ops = %v, want [Relu]", got)
	}
	if out.Graph.Node[0].Input[0] != "x" || out.Graph.Node[0].Output[0] != "y" {
		t.Errorf("Relu wired %v -> %v, want x -> y", out.Graph.Node[0].Input, out.Graph.Node[0].Output)
	}
}

func TestDropoutWithUsedMaskStays(t *testing.T) {
	b := newBuilder("x")
	b.node("Dropout", []string{"x"}, []string{"d", "mask"})
	b.node("Relu", []string{"d"}, []string{"y"})
	out, _ := run(t, b.model("y", "mask"), "eliminate-identity")
	if got := ops(out); !equalOps(got, []string{"Dropout", "Relu"}) {
		t.Fatalf("ops = %v, want Dropout kept", got)
	}
}

func TestFuseTransposes(t *testing.T) {
	b := newBuilder("x")
	b.node("Transpose", []string{"x"}, []string{"t1"}, graph.IntsAttr("perm", []int64{0, 2, 3, 1}))
	b.node("Transpose", []string{"t1"}, []string{"t2"}, graph.IntsAttr("perm", []int64{0, 3, 1, 2}))
	b.node("Relu", []string{"t2"}, []string{"y"})
	out, _ := run(t, b.model("y"), "fuse-transposes", "eliminate-identity")
	if got := ops(out); !equalOps(got, []string{"Relu"}) || out.Graph.Node[0].Input[0] != "x" {
		t.Fatalf("ops = %v, want only Relu reading x (the permutations cancel)", got)
	}
	b = newBuilder("x")
	b.node("Transpose", []string{"x"}, []string{"t1"}, graph.IntsAttr("perm", []int64{1, 0, 2}))
	b.node("Transpose", []string{"t1"}, []string{"y"}, graph.IntsAttr("perm", []int64{0, 2, 1}))
	out, _ = run(t, b.model("y"), "fuse-transposes")
	if len(out.Graph.Node) != 1 {
		t.Fatalf("ops = %v, want one Transpose", ops(out))
	}
	// y[i] = t1 axis p2[i] = x axis p1[p2[i]]: [1, 2, 0].
	if got := graph.Attr(out.Graph.Node[0], "perm").Ints; !equalInts(got, []int64{1, 2, 0}) {
		t.Errorf("perm = %v, want [1 2 0]", got)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRemoveDeadAndUnused(t *testing.T) {
	b := newBuilder("x")
	b.init(t, "w", tensor.Shape{2}, []float32{1, 2})
	b.init(t, "unused", tensor.Shape{1}, []float32{3})
	b.node("Add", []string{"x", "w"}, []string{"y"})
	b.node("Mul", []string{"x", "w"}, []string{"dead"})
	out, rep := run(t, b.model("y"), "remove-dead", "remove-unused-initializers")
	if got := ops(out); !equalOps(got, []string{"Add"}) {
		t.Fatalf("ops = %v, want [Add]", got)
	}
	if len(out.Graph.Initializer) != 1 || out.Graph.Initializer[0].GetName() != "w" {
		t.Errorf("initializers = %d, want only w", len(out.Graph.Initializer))
	}
	if rep.NodesBefore != 2 || rep.NodesAfter != 1 {
		t.Errorf("report nodes %d -> %d, want 2 -> 1", rep.NodesBefore, rep.NodesAfter)
	}
}

func TestSubgraphCapturesStayAlive(t *testing.T) {
	b := newBuilder("x", "cond")
	b.node("Relu", []string{"x"}, []string{"captured"})
	body := &onnxpb.GraphProto{Name: proto.String("then"),
		Node:   []*onnxpb.NodeProto{{OpType: proto.String("Identity"), Input: []string{"captured"}, Output: []string{"t"}}},
		Output: []*onnxpb.ValueInfoProto{valueInfo("t", 2)}}
	gt := onnxpb.AttributeProto_GRAPH
	b.node("If", []string{"cond"}, []string{"y"},
		&onnxpb.AttributeProto{Name: proto.String("then_branch"), Type: &gt, G: body},
		&onnxpb.AttributeProto{Name: proto.String("else_branch"), Type: &gt, G: proto.Clone(body).(*onnxpb.GraphProto)})
	out, _ := run(t, b.model("y"), "remove-dead")
	if got := ops(out); !equalOps(got, []string{"Relu", "If"}) {
		t.Fatalf("ops = %v, want Relu kept for the If body", got)
	}
}

func TestCSE(t *testing.T) {
	b := newBuilder("x")
	b.node("Relu", []string{"x"}, []string{"a"})
	b.node("Relu", []string{"x"}, []string{"b"})
	b.node("Add", []string{"a", "b"}, []string{"y"})
	out, _ := run(t, b.model("y"), "cse")
	if got := ops(out); !equalOps(got, []string{"Relu", "Add"}) {
		t.Fatalf("ops = %v, want one Relu", got)
	}
	if in := out.Graph.Node[1].Input; in[0] != "a" || in[1] != "a" {
		t.Errorf("Add inputs = %v, want [a a]", in)
	}
}

func TestFuseReshapes(t *testing.T) {
	b := newBuilder("x")
	shape := func(name string, v ...int64) {
		tt, _ := tensor.FromBytes(name, tensor.I64, tensor.Shape{int64(len(v))}, i64bytes(v))
		tp, err := onnx.TensorToProto(tt)
		if err != nil {
			t.Fatal(err)
		}
		b.g.Initializer = append(b.g.Initializer, tp)
	}
	shape("s1", 4, -1)
	shape("s2", 2, 0) // copies a dimension: must not fuse
	shape("s3", -1)
	b.node("Reshape", []string{"x", "s1"}, []string{"r1"})
	b.node("Reshape", []string{"r1", "s3"}, []string{"y"})
	b.node("Reshape", []string{"x", "s1"}, []string{"r2"})
	b.node("Reshape", []string{"r2", "s2"}, []string{"z"})
	out, _ := run(t, b.model("y", "z"), "fuse-reshapes")
	if len(out.Graph.Node) != 3 {
		t.Fatalf("ops = %v, want 3 (one fused pair, one kept)", ops(out))
	}
}

func i64bytes(v []int64) []byte {
	var out []byte
	for _, x := range v {
		for i := 0; i < 8; i++ {
			out = append(out, byte(uint64(x)>>(8*i)))
		}
	}
	return out
}

// gemm computes x (m x k) times w^T (w is n x k) plus bias.
func gemm(x []float32, m, k int, w []float32, n int, bias []float32) []float32 {
	y := make([]float32, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := bias[j]
			for p := 0; p < k; p++ {
				s += x[i*k+p] * w[j*k+p]
			}
			y[i*n+j] = s
		}
	}
	return y
}

func TestFoldBatchNormIntoGemm(t *testing.T) {
	w := []float32{1, 2, 3, -1, 0.5, 2}
	bias := []float32{0.1, -0.2}
	scale, shift, mean, variance := []float32{1.5, 0.5}, []float32{0.3, -0.1}, []float32{0.2, 1}, []float32{4, 0.25}
	b := newBuilder("x")
	b.init(t, "W", tensor.Shape{2, 3}, w)
	b.init(t, "B", tensor.Shape{2}, bias)
	b.init(t, "scale", tensor.Shape{2}, scale)
	b.init(t, "shift", tensor.Shape{2}, shift)
	b.init(t, "mean", tensor.Shape{2}, mean)
	b.init(t, "var", tensor.Shape{2}, variance)
	b.node("Gemm", []string{"x", "W", "B"}, []string{"g"}, graph.IntAttr("transB", 1))
	b.node("BatchNormalization", []string{"g", "scale", "shift", "mean", "var"}, []string{"y"})
	out, _ := run(t, b.model("y"), "fold-batchnorm", "remove-unused-initializers")
	if got := ops(out); !equalOps(got, []string{"Gemm"}) {
		t.Fatalf("ops = %v, want [Gemm]", got)
	}
	g := newState(out, &Options{})
	nw, _, _, _ := g.floats(out.Graph.Node[0].Input[1])
	nb, _, _, _ := g.floats(out.Graph.Node[0].Input[2])
	x := []float32{0.5, -1, 2, 3, 0.25, -0.75}
	want := gemm(x, 2, 3, w, 2, bias)
	for i := range want {
		c := i % 2
		want[i] = (want[i]-mean[c])*scale[c]/float32(math.Sqrt(float64(variance[c])+1e-5)) + shift[c]
	}
	got := gemm(x, 2, 3, nw, 2, nb)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
			t.Errorf("y[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}

func TestFuseMatMulAdd(t *testing.T) {
	b := newBuilder("x")
	b.init(t, "W", tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	b.init(t, "B", tensor.Shape{3}, []float32{1, 1, 1})
	b.node("MatMul", []string{"x", "W"}, []string{"mm"})
	b.node("Add", []string{"B", "mm"}, []string{"y"})
	out, _ := run(t, b.model("y"), "fuse-matmul-add")
	if got := ops(out); !equalOps(got, []string{"Gemm"}) {
		t.Fatalf("ops = %v, want [Gemm]", got)
	}
	if in := out.Graph.Node[0].Input; len(in) != 3 || in[2] != "B" {
		t.Errorf("Gemm inputs = %v", in)
	}
	// A 3-D input must not fuse (Gemm is 2-D only).
	b = newBuilder()
	b.g.Input = append(b.g.Input, valueInfo("x", 3))
	b.init(t, "W", tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	b.init(t, "B", tensor.Shape{3}, []float32{1, 1, 1})
	b.node("MatMul", []string{"x", "W"}, []string{"mm"})
	b.node("Add", []string{"mm", "B"}, []string{"y"})
	out, _ = run(t, b.model("y"), "fuse-matmul-add")
	if got := ops(out); !equalOps(got, []string{"MatMul", "Add"}) {
		t.Fatalf("3-D input: ops = %v, want unchanged", got)
	}
}

func TestFoldConstantsUsesEvaluator(t *testing.T) {
	b := newBuilder("x")
	b.init(t, "a", tensor.Shape{2}, []float32{1, 2})
	b.node("Neg", []string{"a"}, []string{"na"})
	b.node("Add", []string{"x", "na"}, []string{"y"})
	calls := 0
	eval := func(n *onnxpb.NodeProto, in []*tensor.Tensor, opset int64) ([]*tensor.Tensor, error) {
		calls++
		v, err := in[0].Float32s()
		if err != nil {
			return nil, err
		}
		for i := range v {
			v[i] = -v[i]
		}
		t, err := tensor.NewF32("", in[0].Shape, v)
		return []*tensor.Tensor{t}, err
	}
	out, _, err := Model(context.Background(), b.model("y"), &Options{Fold: eval})
	if err != nil {
		t.Fatal(err)
	}
	if got := ops(out); !equalOps(got, []string{"Add"}) || calls != 1 {
		t.Fatalf("ops = %v after %d evaluations, want [Add] after 1", got, calls)
	}
	g := newState(out, &Options{})
	v, _, _, _ := g.floats("na")
	if len(v) != 2 || v[0] != -1 || v[1] != -2 {
		t.Errorf("folded na = %v, want [-1 -2]", v)
	}
}

// Folded constants that double at every node stop at MaxFoldTotal: the nodes past it
// are left to run time, whose memory budget then applies.
func TestFoldConstantsTotalCap(t *testing.T) {
	b := newBuilder("x")
	b.init(t, "c0", tensor.Shape{256}, make([]float32, 256)) // 1 KiB
	prev := "c0"
	for i := 1; i <= 8; i++ {
		name := "c" + string(rune('0'+i))
		b.node("Concat", []string{prev, prev}, []string{name}, &onnxpb.AttributeProto{Name: proto.String("axis"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(0)})
		prev = name
	}
	b.node("ReduceSum", []string{prev}, []string{"s"})
	b.node("Add", []string{"x", "s"}, []string{"y"})
	double := func(n *onnxpb.NodeProto, in []*tensor.Tensor, opset int64) ([]*tensor.Tensor, error) {
		v, err := in[0].Float32s()
		if err != nil {
			return nil, err
		}
		t, err := tensor.NewF32("", tensor.Shape{2 * in[0].Shape[0]}, append(v, v...))
		return []*tensor.Tensor{t}, err
	}
	// 2+4+8+16 KiB fold within 30 KiB; 32 KiB would not.
	const total = 30 << 10
	out, _, err := Model(context.Background(), b.model("y"), &Options{Only: []string{"fold-constants"}, Fold: double, MaxFoldTotal: total})
	if err != nil {
		t.Fatal(err)
	}
	var folded int64
	for _, tp := range out.Graph.Initializer {
		if tp.GetName() != "c0" {
			folded += int64(len(tp.GetRawData()))
		}
	}
	if got := ops(out); len(got) != 6 || folded != 30<<10 {
		t.Errorf("ops = %v with %d bytes folded, want 4 Concats and ReduceSum, Add left and 30 KiB folded", got, folded)
	}
}
