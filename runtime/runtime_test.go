package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

func init() {
	Register(Op{Domain: "test.refit", Type: "Panic", Since: 1, Kernel: func(c *Call) ([]*Value, error) {
		var s []int
		_ = s[len(c.Inputs)+3] // index out of range
		return nil, nil
	}})
	Register(Op{Domain: "test.refit", Type: "WorkerPanic", Since: 1, Kernel: func(c *Call) ([]*Value, error) {
		parallel.For(4, 4, 1, func(lo, hi int) { panic("boom in worker") })
		return nil, nil
	}})
}

func f32(shape []int64, v ...float32) *Value {
	val, err := FromSlice(v, shape...)
	if err != nil {
		panic(err)
	}
	return val
}

func node(op string, in []string, out []string, attrs ...*Attr) *Node {
	n := &Node{Name: op + "_" + out[0], OpType: op, Inputs: in, Outputs: out, Attrs: map[string]*Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	return n
}

func input(name string, dt tensor.DType, dims ...int64) ValueInfo {
	vi := ValueInfo{Name: name, DType: dt, HasShape: true}
	for _, d := range dims {
		vi.Dims = append(vi.Dims, Dim{Size: d})
	}
	return vi
}

func TestNewSessionErrors(t *testing.T) {
	x := input("x", tensor.F32, 2)
	tests := []struct {
		name     string
		g        *Graph
		want     error
		mentions []string
	}{
		{"cycle", &Graph{Inputs: []ValueInfo{x}, Outputs: []ValueInfo{{Name: "b"}}, Nodes: []*Node{
			node("Add", []string{"x", "b"}, []string{"a"}),
			node("Relu", []string{"a"}, []string{"b"}),
		}}, ErrInvalidGraph, []string{"cycle"}},
		{"missing input", &Graph{Inputs: []ValueInfo{x}, Outputs: []ValueInfo{{Name: "a"}}, Nodes: []*Node{
			node("Add", []string{"x", "nowhere"}, []string{"a"}),
		}}, ErrInvalidGraph, []string{"Add_a", "nowhere"}},
		{"unknown ops all reported", &Graph{Inputs: []ValueInfo{x}, Outputs: []ValueInfo{{Name: "b"}}, Nodes: []*Node{
			node("Frobnicate", []string{"x"}, []string{"a"}),
			node("Twiddle", []string{"a"}, []string{"b"}),
		}}, ErrUnknownOp, []string{"Frobnicate", "Twiddle"}},
		{"defined twice", &Graph{Inputs: []ValueInfo{x}, Outputs: []ValueInfo{{Name: "a"}}, Nodes: []*Node{
			node("Relu", []string{"x"}, []string{"a"}),
			node("Neg", []string{"x"}, []string{"a"}),
		}}, ErrInvalidGraph, []string{"defined twice"}},
		{"undefined output", &Graph{Inputs: []ValueInfo{x}, Outputs: []ValueInfo{{Name: "zz"}}}, ErrInvalidGraph, []string{"zz"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSession(tc.g, map[string]int64{"": 17}, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewSession = %v, want %v", err, tc.want)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("NewSession error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func TestUnknownOpIsUnsupported(t *testing.T) {
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 1)}, Outputs: []ValueInfo{{Name: "y"}},
		Nodes: []*Node{node("Frobnicate", []string{"x"}, []string{"y"})}}
	_, err := NewSession(g, map[string]int64{"": 13}, nil)
	var ne *NodeError
	if !errors.Is(err, refit.ErrUnsupported) || !errors.As(err, &ne) || ne.OpType != "Frobnicate" {
		t.Fatalf("NewSession = %v, want a NodeError for Frobnicate wrapping ErrUnsupported", err)
	}
}

func TestRunErrors(t *testing.T) {
	addGraph := func() *Graph {
		return &Graph{
			Inputs:  []ValueInfo{{Name: "a", DType: tensor.F32}, {Name: "b", DType: tensor.F32}},
			Outputs: []ValueInfo{{Name: "c"}},
			Nodes:   []*Node{node("Add", []string{"a", "b"}, []string{"c"})},
		}
	}
	panicGraph := func(op string) *Graph {
		n := node(op, []string{"a"}, []string{"c"})
		n.Domain = "test.refit"
		return &Graph{Inputs: []ValueInfo{{Name: "a"}}, Outputs: []ValueInfo{{Name: "c"}}, Nodes: []*Node{n}}
	}
	tests := []struct {
		name   string
		g      *Graph
		inputs map[string]*Value
		node   string // expected NodeError node, "" when the error is not a node's
	}{
		{"shape mismatch", addGraph(), map[string]*Value{"a": f32([]int64{2}, 1, 2), "b": f32([]int64{3}, 1, 2, 3)}, "Add_c"},
		{"missing input", addGraph(), map[string]*Value{"a": f32([]int64{2}, 1, 2)}, ""},
		{"wrong dtype", addGraph(), map[string]*Value{"a": f32([]int64{1}, 1), "b": Scalar(int64(1))}, ""},
		{"not an input", addGraph(), map[string]*Value{"a": f32([]int64{1}, 1), "b": f32([]int64{1}, 1), "q": f32([]int64{1}, 1)}, ""},
		{"bad value", addGraph(), map[string]*Value{"a": {DType: tensor.F32, Shape: []int64{3}, Data: []float32{1}}, "b": f32([]int64{1}, 1)}, ""},
		{"kernel panic", panicGraph("Panic"), map[string]*Value{"a": f32([]int64{1}, 1)}, "Panic_c"},
		{"worker panic", panicGraph("WorkerPanic"), map[string]*Value{"a": f32([]int64{1}, 1)}, "WorkerPanic_c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSession(tc.g, map[string]int64{"": 17, "test.refit": 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Run(context.Background(), tc.inputs)
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			var ne *NodeError
			if got := errors.As(err, &ne); got != (tc.node != "") || (got && ne.Node != tc.node) {
				t.Fatalf("Run = %v; want NodeError for %q", err, tc.node)
			}
			var kp *KernelPanicError
			if strings.HasSuffix(tc.name, "panic") {
				if !errors.As(err, &kp) || len(kp.Stack) == 0 {
					t.Errorf("Run = %v; want a *KernelPanicError carrying the stack", err)
				}
				if strings.Contains(err.Error(), "goroutine ") {
					t.Errorf("Run = %q; the message must not hold a goroutine stack", err)
				}
			}
		})
	}
}

// TestIntegerDivisionByZero checks that a zero integer divisor in Div or Mod is an
// error naming the node, found before any work, not a kernel panic.
func TestIntegerDivisionByZero(t *testing.T) {
	i32 := func(v ...int32) *Value { x, _ := FromSlice(v, int64(len(v))); return x }
	u8 := func(v ...uint8) *Value { x, _ := FromSlice(v, int64(len(v))); return x }
	fmod := &Attr{Name: "fmod", Kind: AttrInt, Int: 1}
	tests := []struct {
		name    string
		op      string
		a, b    *Value
		attrs   []*Attr
		wantErr bool
	}{
		{"div", "Div", i32(7, 8, 9), i32(1, 0, 3), nil, true},
		{"div broadcast", "Div", i32(7, 8, 9), i32(0), nil, true},
		{"div uint8", "Div", u8(7, 8), u8(2, 0), nil, true},
		{"mod", "Mod", i32(7, 8, 9), i32(2, 0, 3), nil, true},
		{"fmod", "Mod", i32(7, 8, 9), i32(0), []*Attr{fmod}, true},
		{"div fine", "Div", i32(7, -8, 9), i32(2, 3, -4), nil, false},
		{"empty", "Div", i32(), i32(0), nil, false}, // no element is divided
		{"float", "Div", f32([]int64{2}, 1, 2), f32([]int64{2}, 0, 1), nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, feeds := oneNode(tc.op, []*Value{tc.a, tc.b}, tc.attrs...)
			s, err := NewSession(g, map[string]int64{"": 17}, &Options{NoFolding: true})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Run(context.Background(), feeds)
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Run = %v, want no error", err)
				}
				return
			}
			var ne *NodeError
			var kp *KernelPanicError
			if !errors.Is(err, ErrDivisionByZero) || !errors.As(err, &ne) || errors.As(err, &kp) {
				t.Errorf("Run = %v; want a NodeError wrapping ErrDivisionByZero", err)
			}
		})
	}
}

func TestRunChainReusesBuffers(t *testing.T) {
	// x -> Relu -> Neg -> Abs -> Exp: intermediates die after one consumer.
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 4)}, Outputs: []ValueInfo{{Name: "d"}}, Nodes: []*Node{
		node("Relu", []string{"x"}, []string{"a"}),
		node("Neg", []string{"a"}, []string{"b"}),
		node("Abs", []string{"b"}, []string{"c"}),
		node("Exp", []string{"c"}, []string{"d"}),
	}}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for run := 0; run < 3; run++ {
		out, err := s.Run(context.Background(), map[string]*Value{"x": f32([]int64{4}, -1, 0, 1, 2)})
		if err != nil {
			t.Fatal(err)
		}
		want := []float32{1, 1, float32(math.E), float32(math.Exp(2))}
		if got := out["d"].Float32s(); !slices.Equal(got, want) {
			t.Fatalf("run %d: d = %v, want %v", run, got, want)
		}
	}
	if n := s.pool.held(); n == 0 || n > 3*16 {
		t.Errorf("pool holds %d bytes, want 16..48: three 4-element buffers at most (reuse, not growth)", n)
	}
}

func TestIfReadsOuterScope(t *testing.T) {
	branch := func(op string) *Graph {
		return &Graph{Outputs: []ValueInfo{{Name: op + "_out"}}, Nodes: []*Node{node(op, []string{"x"}, []string{op + "_out"})}}
	}
	g := &Graph{
		Inputs:  []ValueInfo{input("cond", tensor.Bool), input("x", tensor.F32, 2)},
		Outputs: []ValueInfo{{Name: "y"}},
		Nodes: []*Node{node("If", []string{"cond"}, []string{"y"},
			&Attr{Name: "then_branch", Kind: AttrGraph, Graph: branch("Neg")},
			&Attr{Name: "else_branch", Kind: AttrGraph, Graph: branch("Abs")})},
	}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cond bool
		want []float32
	}{{true, []float32{1, -2}}, {false, []float32{1, 2}}} {
		out, err := s.Run(context.Background(), map[string]*Value{"cond": Scalar(tc.cond), "x": f32([]int64{2}, -1, 2)})
		if err != nil {
			t.Fatal(err)
		}
		if got := out["y"].Float32s(); !slices.Equal(got, tc.want) {
			t.Errorf("If(%v) = %v, want %v", tc.cond, got, tc.want)
		}
	}
}

func TestSqueezeOpsetVersions(t *testing.T) {
	x := f32([]int64{1, 3, 1}, 1, 2, 3)
	attrGraph := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 1, 3, 1)}, Outputs: []ValueInfo{{Name: "y"}},
		Nodes: []*Node{node("Squeeze", []string{"x"}, []string{"y"}, &Attr{Name: "axes", Kind: AttrInts, Ints: []int64{0}})}}
	inputGraph := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 1, 3, 1)}, Outputs: []ValueInfo{{Name: "y"}},
		Initializers: map[string]*Value{"axes": {DType: tensor.I64, Shape: []int64{1}, Data: []int64{2}}},
		Nodes:        []*Node{node("Squeeze", []string{"x", "axes"}, []string{"y"})}}
	for _, tc := range []struct {
		name  string
		g     *Graph
		opset int64
		want  []int64
	}{{"attribute at 11", attrGraph, 11, []int64{3, 1}}, {"input at 13", inputGraph, 13, []int64{1, 3}}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSession(tc.g, map[string]int64{"": tc.opset}, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Run(context.Background(), map[string]*Value{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out["y"].Shape, tc.want) {
				t.Errorf("Squeeze shape = %v, want %v", out["y"].Shape, tc.want)
			}
		})
	}
}

func TestValueTensorRoundTrip(t *testing.T) {
	for _, v := range []*Value{
		f32([]int64{2, 2}, 1, -2, 3.5, float32(math.Inf(1))),
		{DType: tensor.I64, Shape: []int64{3}, Data: []int64{-1, 0, 1 << 40}},
		{DType: tensor.BF16, Shape: []int64{2}, Data: []uint16{0x3f80, 0xc000}},
		{DType: tensor.Bool, Shape: []int64{2}, Data: []bool{true, false}},
		Scalar(uint8(7)),
	} {
		tt, err := v.Tensor("t")
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromTensor(tt)
		if err != nil {
			t.Fatal(err)
		}
		if back.DType != v.DType || !slices.Equal(back.Shape, v.Shape) || !slices.Equal(back.Bytes(), v.Bytes()) {
			t.Errorf("FromTensor(Tensor(%v)) = %v, bytes differ or header differs", v, back)
		}
	}
}

func TestRandomInputsDeterministic(t *testing.T) {
	g := &Graph{Inputs: []ValueInfo{{Name: "x", DType: tensor.F32, HasShape: true, Dims: []Dim{{Size: -1, Param: "batch"}, {Size: 3}}}},
		Outputs: []ValueInfo{{Name: "y"}}, Nodes: []*Node{node("Relu", []string{"x"}, []string{"y"})}}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := RandomInputs(s, 7, &RandomOptions{DimSizes: map[string]int64{"batch": 4}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := RandomInputs(s, 7, &RandomOptions{DimSizes: map[string]int64{"batch": 4}})
	if !slices.Equal(a["x"].Shape, []int64{4, 3}) || !slices.Equal(a["x"].Float32s(), b["x"].Float32s()) {
		t.Fatalf("RandomInputs = %v, want shape [4 3] and equal values for one seed", a["x"])
	}
	if _, err := s.Run(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// TestLoadProto builds a ModelProto by hand: Constant folding and opset handling.
func TestLoadProto(t *testing.T) {
	mp := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("g"),
			Node: []*onnxpb.NodeProto{
				{OpType: proto.String("Constant"), Output: []string{"k"}, Attribute: []*onnxpb.AttributeProto{{
					Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
					T: &onnxpb.TensorProto{DataType: proto.Int32(1), Dims: []int64{2}, FloatData: []float32{10, 20}},
				}}},
				{OpType: proto.String("Mul"), Input: []string{"x", "k"}, Output: []string{"y"}},
			},
			Input:  []*onnxpb.ValueInfoProto{{Name: proto.String("x")}},
			Output: []*onnxpb.ValueInfoProto{{Name: proto.String("y")}},
		},
	}
	s, err := Load(mp, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Graph().Nodes) != 1 {
		t.Errorf("after folding the graph has %d nodes, want 1 (Mul)", len(s.Graph().Nodes))
	}
	out, err := s.Run(context.Background(), map[string]*Value{"x": f32([]int64{2}, 1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Float32s(); !slices.Equal(got, []float32{10, 40}) {
		t.Errorf("y = %v, want [10 40]", got)
	}
}

func TestValueFromProtoRejectsShortData(t *testing.T) {
	for _, tp := range []*onnxpb.TensorProto{
		{DataType: proto.Int32(1), Dims: []int64{3}, FloatData: []float32{1}},
		{DataType: proto.Int32(1), Dims: []int64{2}, RawData: []byte{1, 2, 3}},
		{DataType: proto.Int32(1), Dims: []int64{1 << 62, 1 << 62}},
		{DataType: proto.Int32(1), Dims: []int64{-1}},
	} {
		if _, err := ValueFromProto(tp, nil); !errors.Is(err, refit.ErrFormat) {
			t.Errorf("ValueFromProto(%v) = %v, want ErrFormat", tp, err)
		}
	}
}

// TestViewKeepsBufferAlive checks that a buffer shared by a view is not pooled (and
// reused) while the view is still to be read.
func TestViewKeepsBufferAlive(t *testing.T) {
	g := &Graph{
		Inputs:       []ValueInfo{input("x", tensor.F32, 2, 2)},
		Outputs:      []ValueInfo{{Name: "c"}, {Name: "d"}},
		Initializers: map[string]*Value{"shape": {DType: tensor.I64, Shape: []int64{2}, Data: []int64{2, -1}}},
		Nodes: []*Node{
			node("Relu", []string{"x"}, []string{"a"}),
			node("Reshape", []string{"a", "shape"}, []string{"b"}),
			node("Neg", []string{"a"}, []string{"c"}), // last use of a: its buffer lives on in b
			node("Exp", []string{"x"}, []string{"e"}), // same size: would reuse a's buffer if pooled
			node("Add", []string{"b", "e"}, []string{"d"}),
		},
	}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := f32([]int64{2, 2}, -1, 2, -3, 4)
	for run := 0; run < 2; run++ {
		out, err := s.Run(context.Background(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		for i, xv := range x.Float32s() {
			want := float32(math.Exp(float64(xv))) + max(xv, 0)
			if got := out["d"].Float32s()[i]; math.Abs(float64(got-want)) > 1e-6 {
				t.Fatalf("run %d: d[%d] = %v, want %v", run, i, got, want)
			}
		}
	}
}

func TestMaxElements(t *testing.T) {
	g := &Graph{
		Inputs:  []ValueInfo{input("shape", tensor.I64, 2)},
		Outputs: []ValueInfo{{Name: "y"}},
		Nodes:   []*Node{node("ConstantOfShape", []string{"shape"}, []string{"y"})},
	}
	s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxElements: 1000})
	if err != nil {
		t.Fatal(err)
	}
	shape := &Value{DType: tensor.I64, Shape: []int64{2}, Data: []int64{1000, 1000}}
	_, err = s.Run(context.Background(), map[string]*Value{"shape": shape})
	var ne *NodeError
	if !errors.Is(err, ErrTooLarge) || !errors.As(err, &ne) {
		t.Fatalf("Run = %v, want a NodeError wrapping ErrTooLarge", err)
	}
}

// TestConcurrentRuns runs one session from several goroutines (go test -race).
func TestConcurrentRuns(t *testing.T) {
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 8)}, Outputs: []ValueInfo{{Name: "d"}}, Nodes: []*Node{
		node("Relu", []string{"x"}, []string{"a"}),
		node("Neg", []string{"a"}, []string{"b"}),
		node("Mul", []string{"a", "b"}, []string{"d"}),
	}}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		go func() {
			x := f32([]int64{8}, float32(w), 1, 2, 3, 4, 5, 6, 7)
			for i := 0; i < 50; i++ {
				out, err := s.Run(context.Background(), map[string]*Value{"x": x})
				if err != nil {
					errs <- err
					return
				}
				if got := out["d"].Float32s()[0]; got != -float32(w*w) {
					errs <- fmt.Errorf("worker %d: d[0] = %v, want %v", w, got, -float32(w*w))
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 8; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestShapeOfStaticInputFolds checks that Shape of an input with a fully declared
// shape, and the shape arithmetic after it, run once at load.
func TestShapeOfStaticInputFolds(t *testing.T) {
	g := &Graph{
		Inputs:  []ValueInfo{input("x", tensor.F32, 2, 3)},
		Outputs: []ValueInfo{{Name: "y"}},
		Initializers: map[string]*Value{
			"idx":   Scalar(int64(1)),
			"minus": {DType: tensor.I64, Shape: []int64{1}, Data: []int64{-1}},
		},
		Nodes: []*Node{
			node("Shape", []string{"x"}, []string{"s"}),         // [2 3]
			node("Gather", []string{"s", "idx"}, []string{"d"}), // 3
			node("Unsqueeze", []string{"d"}, []string{"d1"}, &Attr{Name: "axes", Kind: AttrInts, Ints: []int64{0}}),
			node("Concat", []string{"minus", "d1"}, []string{"shape"}, &Attr{Name: "axis", Kind: AttrInt}), // [-1 3]
			node("Reshape", []string{"x", "shape"}, []string{"y"}),
		},
	}
	s, err := NewSession(g, map[string]int64{"": 11}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.Graph().Nodes); n != 1 {
		t.Errorf("after folding %d nodes remain, want 1 (Reshape)", n)
	}
	out, err := s.Run(context.Background(), map[string]*Value{"x": f32([]int64{2, 3}, 1, 2, 3, 4, 5, 6)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out["y"].Shape, []int64{2, 3}) {
		t.Errorf("y shape = %v, want [2 3]", out["y"].Shape)
	}
	if _, err := s.Run(context.Background(), map[string]*Value{"x": f32([]int64{3, 2}, 1, 2, 3, 4, 5, 6)}); err == nil {
		t.Error("Run accepted x of shape [3 2]; the folded graph relies on the declared [2 3]")
	}
}

func TestOutputsDoNotAliasInitializers(t *testing.T) {
	g := &Graph{
		Outputs:      []ValueInfo{{Name: "y"}},
		Initializers: map[string]*Value{"w": f32([]int64{2}, 1, 2)},
		Nodes:        []*Node{node("Identity", []string{"w"}, []string{"y"})},
	}
	s, err := NewSession(g, map[string]int64{"": 17}, &Options{NoFolding: true})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	out["y"].Float32s()[0] = 99
	out, err = s.Run(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["y"].Float32s()[0]; got != 1 {
		t.Errorf("second run y[0] = %v, want 1: the caller's write reached the initializer", got)
	}
}

// TestPoolHoldsLiveMaximum runs a network whose feature maps shrink, as a CNN's do:
// a 256-element map is pooled to 64, then three 64-element values are live at once.
// The three fit in the dead 256-element buffer, so the pool must hold no more than
// the largest set of values live at once (the 256 and the pooled 64), run after run.
// Reusing whole buffers only would give the first 64-element value the 256's buffer
// and allocate a second 64-element one.
func TestPoolHoldsLiveMaximum(t *testing.T) {
	ints := func(name string, x ...int64) *Attr { return &Attr{Name: name, Kind: AttrInts, Ints: x} }
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 1, 1, 16, 16)}, Outputs: []ValueInfo{{Name: "d"}, {Name: "v"}},
		Nodes: []*Node{
			node("Neg", []string{"x"}, []string{"a"}),
			node("MaxPool", []string{"a"}, []string{"p"}, ints("kernel_shape", 2, 2), ints("strides", 2, 2)),
			node("Neg", []string{"p"}, []string{"b"}),
			node("Add", []string{"p", "b"}, []string{"c"}),
			node("Sub", []string{"c", "b"}, []string{"d"}),
			node("Flatten", []string{"b"}, []string{"v"}),
		}}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var prev map[string]*Value
	for run := range 4 {
		x := NewValue(tensor.F32, []int64{1, 1, 16, 16})
		for i := range x.Float32s() {
			x.Float32s()[i] = float32(run*1000 + i)
		}
		out, err := s.Run(context.Background(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		// p is the max over each window of -x: -x at the window's top-left corner.
		for i, got := range out["d"].Float32s() {
			r, c := i/8, i%8
			if want := -float32(run*1000 + 2*r*16 + 2*c); got != want {
				t.Fatalf("run %d: d[%d] = %v, want %v", run, i, got, want)
			}
			if got, want := out["v"].Float32s()[i], -out["d"].Float32s()[i]; got != want {
				t.Fatalf("run %d: v[%d] = %v, want %v", run, i, got, want)
			}
		}
		// The outputs of the run before are the caller's: later runs must not reuse them.
		if prev != nil && prev["d"].Float32s()[0] != -float32((run-1)*1000) {
			t.Fatalf("run %d overwrote the previous run's output: d[0] = %v", run, prev["d"].Float32s()[0])
		}
		prev = out
		if held, live := s.pool.held(), int64(256+64)*4; held > live {
			t.Errorf("run %d: pool holds %d bytes, more than the %d bytes live at once", run, held, live)
		}
	}
}
