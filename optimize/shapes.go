package optimize

import (
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/graph"
)

// dim is one dimension of an inferred shape: a value (>= 0), a symbolic name, or
// unknown (value -1, no name).
type dim struct {
	v int64
	p string
}

// shapeInfo is what is known of a value: element type (0: unknown) and dims
// (nil: rank unknown).
type shapeInfo struct {
	elem int32
	dims []dim
}

func (s shapeInfo) rank() int { return len(s.dims) }

// inferShapes records in value_info the element type and shape of intermediate values
// the graph does not describe, for a conservative set of operators whose output
// shape follows from their input shapes and constant inputs alone (the rest stay
// undescribed). Dimensions it cannot compute are left unknown, never guessed, so a
// runtime's own inference never contradicts them. It returns how many values it
// described.
func inferShapes(g *state) (int, error) {
	known := map[string]shapeInfo{}
	described := map[string]bool{}
	for _, list := range [][]*onnxpb.ValueInfoProto{g.G.Input, g.G.ValueInfo, g.G.Output} {
		for _, v := range list {
			described[v.GetName()] = true
			if s, ok := fromValueInfo(v); ok {
				known[v.GetName()] = s
			}
		}
	}
	for _, t := range g.G.Initializer {
		if g.IsInput(t.GetName()) {
			continue
		}
		s := shapeInfo{elem: t.GetDataType(), dims: []dim{}}
		for _, d := range t.Dims {
			s.dims = append(s.dims, dim{v: d})
		}
		known[t.GetName()] = s
	}
	changes := 0
	for _, n := range g.G.Node {
		if n == nil || !graph.IsDefaultDomain(n) || len(n.Output) == 0 || n.Output[0] == "" {
			continue
		}
		s, ok := g.inferNode(n, known)
		if !ok || s.elem == 0 || s.dims == nil {
			continue
		}
		out := n.Output[0]
		if prev, seen := known[out]; !seen || prev.dims == nil {
			known[out] = s
		}
		if described[out] {
			continue
		}
		described[out] = true
		g.G.ValueInfo = append(g.G.ValueInfo, s.valueInfo(out))
		changes++
	}
	return changes, nil
}

func fromValueInfo(v *onnxpb.ValueInfoProto) (shapeInfo, bool) {
	tt := v.GetType().GetTensorType()
	if tt == nil || tt.GetElemType() == 0 {
		return shapeInfo{}, false
	}
	s := shapeInfo{elem: tt.GetElemType()}
	if tt.Shape == nil {
		return s, true
	}
	s.dims = []dim{}
	for _, d := range tt.Shape.Dim {
		switch {
		case d.GetDimParam() != "":
			s.dims = append(s.dims, dim{v: -1, p: d.GetDimParam()})
		case isDimValue(d) && d.GetDimValue() >= 0:
			s.dims = append(s.dims, dim{v: d.GetDimValue()})
		default:
			s.dims = append(s.dims, dim{v: -1})
		}
	}
	return s, true
}

func isDimValue(d *onnxpb.TensorShapeProto_Dimension) bool {
	_, ok := d.Value.(*onnxpb.TensorShapeProto_Dimension_DimValue)
	return ok
}

func (s shapeInfo) valueInfo(name string) *onnxpb.ValueInfoProto {
	shape := make([]int64, len(s.dims))
	for i, d := range s.dims {
		shape[i] = d.v
	}
	return graph.ValueInfo(name, s.elem, shape, func(axis int) string { return s.dims[axis].p })
}

// unaryShape are operators whose first output has their first input's type and shape.
var unaryShape = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Elu": true, "Selu": true, "HardSigmoid": true,
	"HardSwish": true, "Softplus": true, "Softsign": true, "Abs": true, "Neg": true, "Exp": true, "Log": true,
	"Sqrt": true, "Reciprocal": true, "Floor": true, "Ceil": true, "Round": true, "Erf": true, "Sin": true, "Cos": true,
	"Clip": true, "Softmax": true, "LogSoftmax": true, "Identity": true, "Dropout": true, "BatchNormalization": true,
	"InstanceNormalization": true, "LayerNormalization": true, "LRN": true, "Gelu": true, "Mish": true,
}

// broadcastShape are elementwise operators with numpy broadcasting whose output has
// their first input's element type.
var broadcastShape = map[string]bool{"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "Max": true, "Min": true, "Sum": true}

func (g *state) inferNode(n *onnxpb.NodeProto, known map[string]shapeInfo) (shapeInfo, bool) {
	in := func(i int) (shapeInfo, bool) {
		if i >= len(n.Input) || n.Input[i] == "" {
			return shapeInfo{}, false
		}
		s, ok := known[n.Input[i]]
		return s, ok && s.dims != nil
	}
	op := n.GetOpType()
	switch {
	case unaryShape[op]:
		if op == "BatchNormalization" && graph.Int(n, "training_mode", 0) != 0 {
			return shapeInfo{}, false
		}
		return in(0)
	case broadcastShape[op]:
		out, ok := in(0)
		if !ok || len(n.Input) == 0 {
			return shapeInfo{}, false
		}
		for i := 1; i < len(n.Input); i++ {
			b, ok := in(i)
			if !ok {
				return shapeInfo{}, false
			}
			if out, ok = broadcast(out, b); !ok {
				return shapeInfo{}, false
			}
		}
		return out, true
	}
	switch op {
	case "Cast":
		x, ok := in(0)
		to := graph.Int(n, "to", 0)
		if !ok || to <= 0 {
			return shapeInfo{}, false
		}
		return shapeInfo{elem: int32(to), dims: x.dims}, true
	case "Conv", "MaxPool", "AveragePool":
		return g.inferWindow(n, in)
	case "GlobalAveragePool", "GlobalMaxPool":
		x, ok := in(0)
		if !ok || x.rank() < 3 {
			return shapeInfo{}, false
		}
		dims := append([]dim{}, x.dims[:2]...)
		for range x.dims[2:] {
			dims = append(dims, dim{v: 1})
		}
		return shapeInfo{elem: x.elem, dims: dims}, true
	case "Gemm":
		a, okA := in(0)
		b, okB := in(1)
		if !okA || !okB || a.rank() != 2 || b.rank() != 2 {
			return shapeInfo{}, false
		}
		m, nn := a.dims[0], b.dims[1]
		if graph.Int(n, "transA", 0) != 0 {
			m = a.dims[1]
		}
		if graph.Int(n, "transB", 0) != 0 {
			nn = b.dims[0]
		}
		return shapeInfo{elem: a.elem, dims: []dim{m, nn}}, true
	case "MatMul":
		a, okA := in(0)
		b, okB := in(1)
		if !okA || !okB || a.rank() < 2 || b.rank() < 2 {
			return shapeInfo{}, false // 1-D operands change the rank: left to the runtime
		}
		batchA := shapeInfo{elem: a.elem, dims: a.dims[:a.rank()-2]}
		batchB := shapeInfo{elem: b.elem, dims: b.dims[:b.rank()-2]}
		batch, ok := broadcast(batchA, batchB)
		if !ok {
			return shapeInfo{}, false
		}
		return shapeInfo{elem: a.elem, dims: append(batch.dims, a.dims[a.rank()-2], b.dims[b.rank()-1])}, true
	case "Flatten":
		x, ok := in(0)
		if !ok {
			return shapeInfo{}, false
		}
		axis := graph.Int(n, "axis", 1)
		if axis < 0 {
			axis += int64(x.rank())
		}
		if axis < 0 || axis > int64(x.rank()) {
			return shapeInfo{}, false
		}
		return shapeInfo{elem: x.elem, dims: []dim{product(x.dims[:axis]), product(x.dims[axis:])}}, true
	case "Transpose":
		x, ok := in(0)
		if !ok {
			return shapeInfo{}, false
		}
		perm := graph.Ints(n, "perm", nil)
		if perm == nil {
			for i := x.rank() - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		if len(perm) != x.rank() {
			return shapeInfo{}, false
		}
		dims := make([]dim, len(perm))
		for i, p := range perm {
			if p < 0 || int(p) >= x.rank() {
				return shapeInfo{}, false
			}
			dims[i] = x.dims[p]
		}
		return shapeInfo{elem: x.elem, dims: dims}, true
	case "Reshape":
		x, ok := in(0)
		if !ok || len(n.Input) < 2 {
			return shapeInfo{}, false
		}
		t, err := g.Constant(n.Input[1])
		if err != nil || t == nil || t.Shape.Elements() > 64 {
			return shapeInfo{}, false
		}
		vals, err := t.Float32s()
		if err != nil {
			return shapeInfo{}, false
		}
		allowZero := graph.Int(n, "allowzero", 0) != 0
		dims := make([]dim, len(vals))
		for i, v := range vals {
			switch {
			case v == 0 && !allowZero:
				if i >= x.rank() {
					return shapeInfo{}, false
				}
				dims[i] = x.dims[i]
			case v < 0:
				dims[i] = dim{v: -1} // computed from the element count: left unknown
			default:
				dims[i] = dim{v: int64(v)}
			}
		}
		return shapeInfo{elem: x.elem, dims: dims}, true
	}
	return shapeInfo{}, false
}

// broadcast combines two shapes under numpy broadcasting; false when they cannot
// be combined with what is known.
func broadcast(a, b shapeInfo) (shapeInfo, bool) {
	r := max(a.rank(), b.rank())
	dims := make([]dim, r)
	for i := 0; i < r; i++ {
		da, db := dim{v: 1}, dim{v: 1}
		if j := i - (r - a.rank()); j >= 0 {
			da = a.dims[j]
		}
		if j := i - (r - b.rank()); j >= 0 {
			db = b.dims[j]
		}
		switch {
		case da == db:
			dims[i] = da
		case da.v == 1:
			dims[i] = db
		case db.v == 1:
			dims[i] = da
		case da.v > 1 && db.v > 1:
			return shapeInfo{}, false // a mismatch: the graph is invalid, the runtime says so
		case da.v > 1:
			dims[i] = da
		case db.v > 1:
			dims[i] = db
		default:
			dims[i] = dim{v: -1}
		}
	}
	return shapeInfo{elem: a.elem, dims: dims}, true
}

func product(ds []dim) dim {
	if len(ds) == 1 {
		return ds[0] // keeps a symbolic name
	}
	p := int64(1)
	for _, d := range ds {
		if d.v < 0 {
			return dim{v: -1}
		}
		p *= d.v
		if p > 1<<53 {
			return dim{v: -1}
		}
	}
	return dim{v: p}
}

// inferWindow computes the output shape of Conv and pooling: batch and channels,
// then one spatial size per kernel axis from pads, strides and dilations.
func (g *state) inferWindow(n *onnxpb.NodeProto, in func(int) (shapeInfo, bool)) (shapeInfo, bool) {
	x, ok := in(0)
	if !ok || x.rank() < 3 {
		return shapeInfo{}, false
	}
	spatial := x.rank() - 2
	channels := x.dims[1]
	kernel := graph.Ints(n, "kernel_shape", nil)
	if n.GetOpType() == "Conv" {
		w, ok := in(1)
		if !ok || w.rank() != x.rank() {
			return shapeInfo{}, false
		}
		channels = w.dims[0]
		if kernel == nil {
			for _, d := range w.dims[2:] {
				if d.v < 0 {
					return shapeInfo{}, false
				}
				kernel = append(kernel, d.v)
			}
		}
	} else if len(n.Output) > 1 && n.Output[1] != "" {
		return shapeInfo{}, false // MaxPool's indices: only the first output is described anyway
	}
	if len(kernel) != spatial {
		return shapeInfo{}, false
	}
	ones := func() []int64 {
		v := make([]int64, spatial)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	strides := graph.Ints(n, "strides", ones())
	dilations := graph.Ints(n, "dilations", ones())
	pads := graph.Ints(n, "pads", make([]int64, 2*spatial))
	autoPad := graph.String(n, "auto_pad", "NOTSET")
	ceil := graph.Int(n, "ceil_mode", 0) != 0
	if len(strides) != spatial || len(dilations) != spatial || len(pads) != 2*spatial || (autoPad != "NOTSET" && autoPad != "VALID" && autoPad != "SAME_UPPER" && autoPad != "SAME_LOWER") {
		return shapeInfo{}, false
	}
	dims := []dim{x.dims[0], channels}
	for i := 0; i < spatial; i++ {
		in := x.dims[2+i]
		s, d, k := strides[i], dilations[i], kernel[i]
		if in.v < 0 || s <= 0 || d <= 0 || k <= 0 || pads[i] < 0 || pads[i+spatial] < 0 {
			dims = append(dims, dim{v: -1})
			continue
		}
		ek := (k-1)*d + 1
		var out int64
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out = (in.v + s - 1) / s
		case "VALID":
			out = (in.v-ek)/s + 1
		default:
			span := in.v + pads[i] + pads[i+spatial] - ek
			if span < 0 {
				return shapeInfo{}, false
			}
			if ceil && span%s != 0 {
				dims = append(dims, dim{v: -1}) // ceil mode's last window rule varies by opset
				continue
			}
			out = span/s + 1
		}
		if out <= 0 {
			return shapeInfo{}, false
		}
		dims = append(dims, dim{v: out})
	}
	return shapeInfo{elem: x.elem, dims: dims}, true
}
