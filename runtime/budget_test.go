package runtime

import (
	"context"
	"errors"
	"math"
	goruntime "runtime"
	"runtime/metrics"
	"slices"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

func i64s(v ...int64) *Value { x, _ := FromSlice(v, int64(len(v))); return x }

// oneNode is a graph of a single node reading inputs in0, in1... (nil: omitted)
// and writing y.
func oneNode(op string, inputs []*Value, attrs ...*Attr) (*Graph, map[string]*Value) {
	g := &Graph{Outputs: []ValueInfo{{Name: "y"}}}
	feeds := map[string]*Value{}
	var names []string
	for i, v := range inputs {
		if v == nil {
			names = append(names, "")
			continue
		}
		name := "in" + string(rune('0'+i))
		names = append(names, name)
		g.Inputs = append(g.Inputs, ValueInfo{Name: name, DType: v.DType})
		feeds[name] = v
	}
	g.Nodes = []*Node{node(op, names, []string{"y"}, attrs...)}
	return g, feeds
}

// allocatedDuring returns how many bytes the Go heap allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var before, after goruntime.MemStats
	goruntime.ReadMemStats(&before)
	f()
	goruntime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestMemoryBudgetRefusesBeforeAllocating runs single nodes that ask for more than a
// 16 MiB budget (each below MaxElements): every one must fail with a *MemoryError
// naming the node, and allocate far less than it asked for.
func TestMemoryBudgetRefusesBeforeAllocating(t *testing.T) {
	const budget = 16 << 20
	big := int64(1) << 23 // 8M elements: 32 MiB of float32
	tests := []struct {
		name   string
		op     string
		attrs  []*Attr
		inputs []*Value
	}{
		{"ConstantOfShape", "ConstantOfShape", nil, []*Value{i64s(big)}},
		{"Expand", "Expand", nil, []*Value{f32([]int64{1}, 1), i64s(1<<12, 1<<11)}},
		{"Tile", "Tile", nil, []*Value{f32([]int64{2}, 1, 2), i64s(big / 2)}},
		{"Range", "Range", nil, []*Value{Scalar[int64](0), Scalar(big), Scalar[int64](1)}},
		{"RangeFloat", "Range", nil, []*Value{Scalar[float32](0), Scalar(float32(big)), Scalar[float32](1)}},
		{"ResizeNearest", "Resize", []*Attr{{Name: "mode", Kind: AttrString, String: "nearest"}},
			[]*Value{f32([]int64{1, 1, 2, 2}, 1, 2, 3, 4), nil, f32([]int64{4}, 1, 1, 2048, 2048)}},
		{"ResizeLinear", "Resize", []*Attr{{Name: "mode", Kind: AttrString, String: "linear"}},
			[]*Value{f32([]int64{1, 1, 2, 2}, 1, 2, 3, 4), nil, f32([]int64{4}, 1, 1, 2048, 2048)}},
		{"SumBroadcast", "Sum", nil, []*Value{f32([]int64{4096, 1}, make([]float32, 4096)...), f32([]int64{1, 4096}, make([]float32, 4096)...)}},
		{"OneHot", "OneHot", nil, []*Value{i64s(0, 1, 2, 3), i64s(1 << 21), f32([]int64{2}, 0, 1)}},
		{"Einsum", "Einsum", []*Attr{{Name: "equation", Kind: AttrString, String: "i,j->ij"}},
			[]*Value{f32([]int64{4096}, make([]float32, 4096)...), f32([]int64{4096}, make([]float32, 4096)...)}},
		{"DFT", "DFT", nil, []*Value{f32([]int64{256, 16, 1}, make([]float32, 4096)...), Scalar[int64](1 << 20)}},
		{"RoiAlign", "RoiAlign", []*Attr{{Name: "sampling_ratio", Kind: AttrInt, Int: 1 << 14},
			{Name: "output_height", Kind: AttrInt, Int: 1}, {Name: "output_width", Kind: AttrInt, Int: 1}},
			[]*Value{f32([]int64{1, 1, 2, 2}, 1, 2, 3, 4), f32([]int64{1, 4}, 0, 0, 1, 1), i64s(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, feeds := oneNode(tc.op, tc.inputs, tc.attrs...)
			s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxMemory: budget})
			if err != nil {
				t.Fatal(err)
			}
			var runErr error
			used := allocatedDuring(func() { _, runErr = s.Run(context.Background(), feeds) })
			var me *MemoryError
			if !errors.As(runErr, &me) || !errors.Is(runErr, ErrMemoryBudget) || !errors.Is(runErr, ErrTooLarge) {
				t.Fatalf("Run = %v, want a *MemoryError", runErr)
			}
			var ne *NodeError
			if !errors.As(runErr, &ne) || ne.OpType != tc.op || ne.Node != g.Nodes[0].Name {
				t.Errorf("Run = %v, want a *NodeError naming node %q (%s)", runErr, g.Nodes[0].Name, tc.op)
			}
			if me.Limit != budget || me.Requested <= budget-me.InUse {
				t.Errorf("MemoryError %+v: the request fits the budget of %d", me, budget)
			}
			if used >= uint64(me.Requested) {
				t.Errorf("the refused run allocated %d bytes, the request was %d", used, me.Requested)
			}
		})
	}
}

// loopGraph is a Loop node with trip count input "n" (I64 scalar) carrying "x"
// through body.
func loopGraph(body *Graph, scans ...string) *Graph {
	outs := []string{"y"}
	g := &Graph{
		Inputs:  []ValueInfo{{Name: "n", DType: tensor.I64}, {Name: "x", DType: tensor.F32}},
		Outputs: []ValueInfo{{Name: "y"}},
	}
	for _, s := range scans {
		outs = append(outs, s)
		g.Outputs = append(g.Outputs, ValueInfo{Name: s})
	}
	g.Nodes = []*Node{node("Loop", []string{"n", "", "x"}, outs, &Attr{Name: "body", Kind: AttrGraph, Graph: body})}
	return g
}

// TestMemoryBudgetReleasesDeadValues runs 64 Loop iterations that each make 2 MiB of
// fresh values (subgraph outputs never return to the pool) under an 8 MiB budget:
// the dead iterations' values must be released, or the run fails.
func TestMemoryBudgetReleasesDeadValues(t *testing.T) {
	const elems = 1 << 18 // 1 MiB of float32
	body := &Graph{
		Inputs:  []ValueInfo{{Name: "i", DType: tensor.I64}, {Name: "c", DType: tensor.Bool}, {Name: "xin", DType: tensor.F32}},
		Outputs: []ValueInfo{{Name: "c"}, {Name: "xout"}},
		Nodes: []*Node{
			node("Shape", []string{"xin"}, []string{"shape"}),
			node("ConstantOfShape", []string{"shape"}, []string{"ones"}, &Attr{Name: "value", Kind: AttrTensor, Tensor: f32([]int64{1}, 1)}),
			node("Add", []string{"xin", "ones"}, []string{"xout"}),
		},
	}
	s, err := NewSession(loopGraph(body), map[string]int64{"": 17}, &Options{MaxMemory: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	x := NewValue(tensor.F32, []int64{elems})
	out, err := s.Run(context.Background(), map[string]*Value{"n": Scalar[int64](64), "x": x})
	if err != nil {
		t.Fatalf("Run = %v, want the dead iterations released", err)
	}
	if y := out["y"].Float32s(); len(y) != elems || y[0] != 64 || y[elems-1] != 64 {
		t.Fatalf("y = %v..., want %d values of 64", y[:1], elems)
	}
}

// TestMemoryBudgetLoopScanOutputs collects a scalar scan output per iteration of a
// Loop of a million trips: the collected values must hit the budget.
func TestMemoryBudgetLoopScanOutputs(t *testing.T) {
	body := &Graph{
		Inputs:  []ValueInfo{{Name: "i", DType: tensor.I64}, {Name: "c", DType: tensor.Bool}, {Name: "xin", DType: tensor.F32}},
		Outputs: []ValueInfo{{Name: "c"}, {Name: "xin"}, {Name: "i2"}},
		Nodes:   []*Node{node("Identity", []string{"i"}, []string{"i2"})},
	}
	s, err := NewSession(loopGraph(body, "scan"), map[string]int64{"": 17}, &Options{MaxMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background(), map[string]*Value{"n": Scalar[int64](1 << 20), "x": f32([]int64{1}, 0)})
	var ne *NodeError
	if !errors.Is(err, ErrMemoryBudget) || !errors.As(err, &ne) || ne.OpType != "Loop" {
		t.Fatalf("Run = %v, want ErrMemoryBudget from the Loop", err)
	}
}

// nestedLoops is a Loop of n trips whose body runs another Loop of n trips.
func nestedLoops() *Graph {
	inner := &Graph{
		Inputs:  []ValueInfo{{Name: "j", DType: tensor.I64}, {Name: "c2", DType: tensor.Bool}, {Name: "v", DType: tensor.F32}},
		Outputs: []ValueInfo{{Name: "c2"}, {Name: "v2"}},
		Nodes:   []*Node{node("Neg", []string{"v"}, []string{"v2"})},
	}
	outer := &Graph{
		Inputs:  []ValueInfo{{Name: "i", DType: tensor.I64}, {Name: "c", DType: tensor.Bool}, {Name: "xin", DType: tensor.F32}},
		Outputs: []ValueInfo{{Name: "c"}, {Name: "xout"}},
		Nodes: []*Node{node("Loop", []string{"n", "", "xin"}, []string{"xout"},
			&Attr{Name: "body", Kind: AttrGraph, Graph: inner})},
	}
	return loopGraph(outer)
}

func TestIterationBudget(t *testing.T) {
	s, err := NewSession(nestedLoops(), map[string]int64{"": 17}, &Options{MaxIterations: 5000})
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*Value{"n": Scalar[int64](100), "x": f32([]int64{1}, 1)}
	// 100 x 100 inner plus 100 outer iterations: over a budget of 5000.
	if _, err := s.Run(context.Background(), feeds); !errors.Is(err, ErrIterationBudget) {
		t.Fatalf("Run of 10100 iterations = %v, want ErrIterationBudget", err)
	}
	// 50 x 50 + 50 = 2550 fits, and the count starts again with every Run.
	feeds["n"] = Scalar[int64](50)
	for range 3 {
		out, err := s.Run(context.Background(), feeds)
		if err != nil {
			t.Fatalf("Run of 2550 iterations = %v", err)
		}
		if y := out["y"].Float32s(); y[0] != 1 {
			t.Fatalf("y = %v, want 1 (an even number of negations)", y)
		}
	}
	// A Loop with neither a trip count nor a condition that turns false.
	forever := loopGraph(&Graph{
		Inputs:  []ValueInfo{{Name: "i", DType: tensor.I64}, {Name: "c", DType: tensor.Bool}, {Name: "xin", DType: tensor.F32}},
		Outputs: []ValueInfo{{Name: "c"}, {Name: "xin"}},
	})
	forever.Nodes[0].Inputs[0] = ""
	forever.Inputs = forever.Inputs[1:]
	s, err = NewSession(forever, map[string]int64{"": 17}, &Options{MaxIterations: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), map[string]*Value{"x": f32([]int64{1}, 1)}); !errors.Is(err, ErrIterationBudget) {
		t.Fatalf("Run of an endless Loop = %v, want ErrIterationBudget", err)
	}
}

// cancelAfter is a context whose Err turns to Canceled after n calls.
type cancelAfter struct {
	context.Context
	n, calls atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.calls.Add(1) > c.n.Load() {
		return context.Canceled
	}
	return nil
}

// TestRunCancelled checks that nested loops notice a cancelled context between
// iterations, long before their iteration budget.
func TestRunCancelled(t *testing.T) {
	s, err := NewSession(nestedLoops(), map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := &cancelAfter{Context: context.Background()}
	ctx.n.Store(500)
	_, err = s.Run(ctx, map[string]*Value{"n": Scalar[int64](1 << 20), "x": f32([]int64{1}, 1)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if calls := ctx.calls.Load(); calls != 501 {
		t.Errorf("Err was called %d times, want it to stop at the first Canceled (501)", calls)
	}
}

func TestRangeBounds(t *testing.T) {
	tests := []struct {
		name          string
		start, lim, d *Value
		want          *Value // nil: an error
		err           error
	}{
		{"int", Scalar[int64](-3), Scalar[int64](4), Scalar[int64](3), i64s(-3, 0, 3), nil},
		{"int down", Scalar[int64](4), Scalar[int64](-3), Scalar[int64](-3), i64s(4, 1, -2), nil},
		{"int empty", Scalar[int64](4), Scalar[int64](-3), Scalar[int64](3), i64s(), nil},
		{"int full span", Scalar[int64](math.MinInt64), Scalar[int64](math.MaxInt64), Scalar[int64](1 << 62),
			i64s(math.MinInt64, -1<<62, 0, 1<<62), nil},
		{"int overflow", Scalar[int64](math.MinInt64), Scalar[int64](math.MaxInt64), Scalar[int64](1), nil, ErrTooLarge},
		{"int overflow down", Scalar[int64](math.MaxInt64), Scalar[int64](math.MinInt64), Scalar[int64](-3), nil, ErrTooLarge},
		{"int32 overflow", Scalar[int32](math.MinInt32), Scalar[int32](math.MaxInt32), Scalar[int32](1), nil, nil},
		{"float NaN", Scalar[float32](0), Scalar(float32(math.NaN())), Scalar[float32](1), nil, refit.ErrFormat},
		{"float Inf", Scalar[float32](0), Scalar(float32(math.Inf(1))), Scalar[float32](1), nil, refit.ErrFormat},
		{"float huge", Scalar[float64](-1e300), Scalar(1e300), Scalar[float64](1), nil, ErrTooLarge},
		{"float negative huge", Scalar[float64](1e300), Scalar(-1e300), Scalar[float64](1), &Value{DType: tensor.F64, Shape: []int64{0}, Data: []float64{}}, nil},
		{"delta 0", Scalar[int64](0), Scalar[int64](1), Scalar[int64](0), nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, feeds := oneNode("Range", []*Value{tc.start, tc.lim, tc.d})
			s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxMemory: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Run(context.Background(), feeds)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("Range = %v, want an error", out["y"])
				}
				if tc.err != nil && !errors.Is(err, tc.err) {
					t.Fatalf("Range error = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			y := out["y"]
			if y.DType != tc.want.DType || !slices.Equal(y.Shape, tc.want.Shape) || !slices.Equal(y.AsFloat64s(), tc.want.AsFloat64s()) {
				t.Fatalf("Range = %v %v, want %v %v", y, y.AsFloat64s(), tc.want, tc.want.AsFloat64s())
			}
		})
	}
}

// TestInitializerSizeMismatch loads initializers whose declared shape does not match
// their data, among them a few bytes declaring 2^40 elements: Load must refuse them
// without allocating what the shape asks for.
func TestInitializerSizeMismatch(t *testing.T) {
	huge := []int64{1 << 40}
	tests := []struct {
		name string
		tp   *onnxpb.TensorProto
		want error
	}{
		{"float_data", &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: huge, FloatData: []float32{1}}, refit.ErrFormat},
		{"int64_data", &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(7), Dims: huge, Int64Data: []int64{1}}, refit.ErrFormat},
		{"int32_data", &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(10), Dims: huge, Int32Data: []int32{1}}, refit.ErrFormat},
		{"raw_data", &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: huge, RawData: []byte{0, 0, 128, 63}}, refit.ErrFormat},
		{"too many values", &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{1, 2}}, refit.ErrFormat},
		{"over budget", &onnxpb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{1 << 19}, RawData: make([]byte, 4<<19)}, ErrMemoryBudget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mp := &onnxpb.ModelProto{
				OpsetImport: []*onnxpb.OperatorSetIdProto{{Version: proto.Int64(17)}},
				Graph: &onnxpb.GraphProto{
					Initializer: []*onnxpb.TensorProto{tc.tp},
					Output:      []*onnxpb.ValueInfoProto{{Name: proto.String("w")}},
				},
			}
			var err error
			used := allocatedDuring(func() { _, err = Load(mp, nil, &Options{MaxMemory: 1 << 20}) })
			if !errors.Is(err, tc.want) {
				t.Fatalf("Load = %v, want %v", err, tc.want)
			}
			if used > 1<<20 {
				t.Errorf("the refused Load allocated %d bytes", used)
			}
		})
	}
}

// TestMemoryBudgetPoolReuse runs a chain of 32 nodes on a 1 MiB tensor under a
// 4 MiB budget, several times: the freed buffers are reused, not charged again.
func TestMemoryBudgetPoolReuse(t *testing.T) {
	const elems = 1 << 18
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, elems)}, Outputs: []ValueInfo{{Name: "v32"}}}
	prev := "x"
	for i := 1; i <= 32; i++ {
		name := "v" + string(rune('0'+i/10)) + string(rune('0'+i%10))
		if i == 32 {
			name = "v32"
		}
		g.Nodes = append(g.Nodes, node("Neg", []string{prev}, []string{name}))
		prev = name
	}
	s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxMemory: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	x := NewValue(tensor.F32, []int64{elems})
	x.Float32s()[0] = 3
	for range 4 {
		out, err := s.Run(context.Background(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		if y := out["v32"].Float32s(); y[0] != 3 {
			t.Fatalf("y[0] = %v, want 3", y[0])
		}
	}
	if used := s.budget.inUse(); used > 4<<20 {
		t.Errorf("budget in use after the runs: %d bytes", used)
	}
}

func TestDefaultMaxMemory(t *testing.T) {
	if m := DefaultMaxMemory(); m <= 0 || m > 1<<50 {
		t.Fatalf("DefaultMaxMemory() = %d", m)
	}
}

// BenchmarkLoopIterations measures a Loop whose body makes fresh values every
// iteration (subgraph outputs leave the pool): the path the budget tracks.
func BenchmarkLoopIterations(b *testing.B) {
	body := &Graph{
		Inputs:  []ValueInfo{{Name: "i", DType: tensor.I64}, {Name: "c", DType: tensor.Bool}, {Name: "xin", DType: tensor.F32}},
		Outputs: []ValueInfo{{Name: "c"}, {Name: "xout"}},
		Nodes: []*Node{
			node("Neg", []string{"xin"}, []string{"t"}),
			node("Neg", []string{"t"}, []string{"xout"}),
		},
	}
	s, err := NewSession(loopGraph(body), map[string]int64{"": 17}, nil)
	if err != nil {
		b.Fatal(err)
	}
	feeds := map[string]*Value{"n": Scalar[int64](1000), "x": NewValue(tensor.F32, []int64{256})}
	for b.Loop() {
		if _, err := s.Run(context.Background(), feeds); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChain measures a chain of small nodes, which reuse pooled buffers.
func BenchmarkChain(b *testing.B) {
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 1024)}}
	prev := "x"
	for i := range 100 {
		name := "v" + string(rune('A'+i/26)) + string(rune('a'+i%26))
		g.Nodes = append(g.Nodes, node("Neg", []string{prev}, []string{name}))
		prev = name
	}
	g.Outputs = []ValueInfo{{Name: prev}}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		b.Fatal(err)
	}
	feeds := map[string]*Value{"x": NewValue(tensor.F32, []int64{1024})}
	for b.Loop() {
		if _, err := s.Run(context.Background(), feeds); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRandomInputsBudget declares an input of 2^26 float32 (256 MiB): RandomInputs
// must refuse it under a 16 MiB budget instead of allocating it.
func TestRandomInputsBudget(t *testing.T) {
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, 1<<13, 1<<13)}, Outputs: []ValueInfo{{Name: "y"}},
		Nodes: []*Node{node("Neg", []string{"x"}, []string{"y"})}}
	s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxMemory: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var in map[string]*Value
	used := allocatedDuring(func() { in, err = RandomInputs(s, 1, nil) })
	if !errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("RandomInputs = %v, %v; want ErrMemoryBudget", in, err)
	}
	if used > 16<<20 {
		t.Errorf("the refused RandomInputs allocated %d bytes", used)
	}
}

// TestOutputCopyBudget returns a folded constant of 8 MiB, which Run copies for the
// caller: under a 12 MiB budget the copy does not fit.
func TestOutputCopyBudget(t *testing.T) {
	g := &Graph{Outputs: []ValueInfo{{Name: "y"}}, Initializers: map[string]*Value{"shape": i64s(1 << 21)},
		Nodes: []*Node{node("ConstantOfShape", []string{"shape"}, []string{"y"})}}
	s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxMemory: 12 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), nil); !errors.Is(err, ErrMemoryBudget) {
		t.Fatalf("Run = %v, want ErrMemoryBudget for the output's copy", err)
	}
	s, err = NewSession(g, map[string]int64{"": 17}, &Options{MaxMemory: 24 << 20})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), nil)
	if err != nil || out["y"].Len() != 1<<21 {
		t.Fatalf("Run = %v, %v; want 2^21 zeros", out["y"], err)
	}
}

// TestMemoryBudgetConcurrentRuns runs one session from several goroutines under a
// budget that fits two runs' values at a time but not all of them: runs may fail with
// ErrMemoryBudget but never otherwise, and the budget is whole again at the end.
func TestMemoryBudgetConcurrentRuns(t *testing.T) {
	const elems = 1 << 18
	g := &Graph{Inputs: []ValueInfo{input("x", tensor.F32, elems)}, Outputs: []ValueInfo{{Name: "y"}},
		Nodes: []*Node{
			node("Neg", []string{"x"}, []string{"a"}),
			node("Neg", []string{"a"}, []string{"b"}),
			node("Add", []string{"a", "b"}, []string{"y"}),
		}}
	s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxMemory: 6 << 20})
	if err != nil {
		t.Fatal(err)
	}
	x := NewValue(tensor.F32, []int64{elems})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			var err error
			for range 20 {
				if _, err = s.Run(context.Background(), map[string]*Value{"x": x}); err != nil && !errors.Is(err, ErrMemoryBudget) {
					break
				}
				err = nil
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	s.budget.reclaim()
	if used := s.budget.inUse(); used != 0 {
		t.Errorf("budget in use after every value is garbage: %d bytes", used)
	}
}

// TestMemoryBudgetEvictsPool runs a chain on 1 MiB values, which leaves 1 MiB buffers
// in the pool, then on 2 MiB values: under a 7 MiB budget the second run fits only
// if the pooled buffers of the first are dropped.
func TestMemoryBudgetEvictsPool(t *testing.T) {
	g := &Graph{Inputs: []ValueInfo{{Name: "x", DType: tensor.F32}}, Outputs: []ValueInfo{{Name: "y"}},
		Nodes: []*Node{
			node("Neg", []string{"x"}, []string{"a"}),
			node("Neg", []string{"a"}, []string{"b"}),
			node("Add", []string{"a", "b"}, []string{"c"}),
			node("Neg", []string{"c"}, []string{"y"}),
		}}
	s, err := NewSession(g, map[string]int64{"": 17}, &Options{MaxMemory: 7 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{1 << 18, 1 << 19} {
		x := NewValue(tensor.F32, []int64{n})
		x.Float32s()[0] = 1
		out, err := s.Run(context.Background(), map[string]*Value{"x": x})
		if err != nil {
			t.Fatalf("Run on %d elements: %v", n, err)
		}
		if y := out["y"].Float32s(); len(y) != int(n) || y[0] != 0 {
			t.Fatalf("Run on %d elements: y[0] = %v, want 0", n, y[0])
		}
	}
}

// A kernel called directly (without callNode's recover) reports a bad or oversized
// allocation as an error: model data never panics.
func TestAllocFailuresAreErrors(t *testing.T) {
	sess, err := NewSession(&Graph{Initializers: map[string]*Value{}}, map[string]int64{"": 21}, &Options{MaxElements: 1000, MaxMemory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	c := &Call{Node: &Node{Name: "n", OpType: "ConstantOfShape"}, Opset: 21, sess: sess}
	if _, err := c.Alloc(tensor.F32, []int64{-1, 4}); err == nil {
		t.Error("Alloc of shape [-1 4] succeeded")
	}
	if _, err := c.Alloc(tensor.F32, []int64{1001}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Alloc over MaxElements: %v, want ErrTooLarge", err)
	}
	if _, err := scratchSlice[int](c, -1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("scratchSlice(-1): %v, want ErrTooLarge", err)
	}
	if _, err := scratchSlice[float64](c, 1<<20); err == nil {
		t.Error("scratchSlice over the budget succeeded")
	}
	op, ok := lookupOp("", "ConstantOfShape", 21)
	if !ok {
		t.Fatal("ConstantOfShape is not registered")
	}
	c.Inputs = []*Value{mustValue(t, []int64{1 << 20, 1 << 20}, 2)}
	if _, err := op.Kernel(c); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ConstantOfShape [2^20 2^20]: %v, want ErrTooLarge", err)
	}
}

// TestMemoryBudgetPeakSkipsCollectedGarbage makes a 256 KiB slice at a time, each
// garbage (and collected) before the next: the peak must stay one slice, not count
// the charges of collected slices that no sweep has released yet.
func TestMemoryBudgetPeakSkipsCollectedGarbage(t *testing.T) {
	b := newMemBudget(1<<30, nil)
	const elems = 1 << 16
	for range 50 {
		data, err := b.newSlice(tensor.F32, elems, func() string { return "test" })
		if err != nil {
			t.Fatal(err)
		}
		data.([]float32)[elems-1] = 1
		goruntime.GC()
	}
	if peak := b.peak.Load(); peak > 2*elems*4 {
		t.Errorf("peak %d bytes for slices of %d bytes made one at a time", peak, elems*4)
	}
}

// heapGarbage is the heap's bytes beyond what the last collection found live: the
// garbage made since (and objects allocated since, live or not).
func heapGarbage() (garbage int64, gogcOff bool) {
	s := []metrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/gogc:percent"},
	}
	metrics.Read(s)
	return int64(s[1].Value.Uint64()) - int64(s[0].Value.Uint64()), s[2].Value.Uint64() > 1<<31
}

// TestRunBoundsGarbage runs a graph whose 1 MiB output is garbage once the caller
// drops it, 40 times, with 48 MiB of long-lived data on the heap (as a session's
// packed weights and pooled buffers are): Go's collector would let 48 MiB of garbage
// pile up before collecting, and the resident set grow with every Run; Run must
// collect once the garbage passes garbageSlack.
func TestRunBoundsGarbage(t *testing.T) {
	if _, off := heapGarbage(); off {
		t.Skip("GOGC=off: Run leaves garbage to the user's choice")
	}
	const elems = 1 << 18 // 1 MiB of float32
	ballast := make([]byte, 48<<20)
	x := NewValue(tensor.F32, []int64{elems})
	g, in := oneNode("Neg", []*Value{x})
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	goruntime.GC() // the next collection Go starts itself is ~48 MiB away
	var most int64
	for range 40 {
		out, err := s.Run(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out["y"].Float32s()) != elems {
			t.Fatalf("output of %d values, want %d", len(out["y"].Float32s()), elems)
		}
		g, _ := heapGarbage()
		most = max(most, g)
	}
	goruntime.KeepAlive(ballast)
	if limit := int64(garbageSlack + 4<<20); most > limit {
		t.Errorf("the heap held %.1f MiB of garbage after a Run, want at most %.1f MiB", float64(most)/(1<<20), float64(limit)/(1<<20))
	}
	t.Logf("at most %.1f MiB of garbage after a Run", float64(most)/(1<<20))
}
