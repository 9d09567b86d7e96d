package runtime

import (
	"fmt"
	"math"
	"testing"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// familyFuzzOps are the kernels of ops_quant, ops_resize, ops_rnn, ops_index,
// ops_layout, ops_linalg, ops_sampling and ops_signal with the input dtypes and
// attributes the fuzzer draws from.
var familyFuzzOps = []struct {
	domain, op string
	opset      int64
	inputs     []tensor.DType // Invalid = optional input the fuzzer may omit or fill with I64
	attrs      []string       // int attributes the fuzzer sets
	strAttrs   map[string][]string
}{
	{"", "QuantizeLinear", 21, []tensor.DType{tensor.F32, tensor.F32, tensor.I8}, []string{"axis", "block_size"}, nil},
	{"", "DequantizeLinear", 21, []tensor.DType{tensor.U8, tensor.F32, tensor.U8}, []string{"axis", "block_size"}, nil},
	{"", "DynamicQuantizeLinear", 11, []tensor.DType{tensor.F32}, nil, nil},
	{"", "MatMulInteger", 10, []tensor.DType{tensor.U8, tensor.I8, tensor.U8, tensor.I8}, nil, nil},
	{"", "QLinearMatMul", 10, []tensor.DType{tensor.U8, tensor.F32, tensor.U8, tensor.U8, tensor.F32, tensor.U8, tensor.F32, tensor.U8}, nil, nil},
	{"", "ConvInteger", 10, []tensor.DType{tensor.U8, tensor.U8, tensor.U8, tensor.U8}, []string{"group"}, nil},
	{"", "QLinearConv", 10, []tensor.DType{tensor.U8, tensor.F32, tensor.U8, tensor.I8, tensor.F32, tensor.I8, tensor.F32, tensor.U8, tensor.I32}, []string{"group"}, nil},
	{emulateDomain, "QDQMatMul", 1, []tensor.DType{tensor.U8, tensor.F32, tensor.U8, tensor.I8, tensor.F32, tensor.I8, tensor.F32}, nil, nil},
	{fusedDomain, "MatMulBias", 1, []tensor.DType{tensor.F32, tensor.F32, tensor.F32}, nil, nil},
	{fusedDomain, "Attention", 1, []tensor.DType{tensor.F32, tensor.F32, tensor.F32, tensor.F32}, nil, map[string][]string{"scale_op": {"Div", "Mul", "Sub"}}},
	{fusedDomain, "AddLayerNormalization", 1, []tensor.DType{tensor.F32, tensor.F32, tensor.F32, tensor.F32}, []string{"axis"}, nil},
	{emulateDomain, "QDQConv", 1, []tensor.DType{tensor.U8, tensor.F32, tensor.U8, tensor.I8, tensor.F32, tensor.I8, tensor.F32}, []string{"group"}, nil},
	{"com.microsoft", "MatMulNBits", 1, []tensor.DType{tensor.F32, tensor.U8, tensor.F32, tensor.U8, tensor.I32, tensor.F32}, []string{"K", "N", "bits", "block_size"}, nil},
	{"", "Resize", 19, []tensor.DType{tensor.F32, tensor.F32, tensor.F32, tensor.I64}, []string{"exclude_outside"},
		map[string][]string{"mode": {"nearest", "linear", "cubic"}, "coordinate_transformation_mode": {"half_pixel", "align_corners", "tf_crop_and_resize", "asymmetric"}}},
	{"", "Upsample", 9, []tensor.DType{tensor.F32, tensor.F32}, nil, map[string][]string{"mode": {"nearest", "linear"}}},
	{"", "RNN", 14, []tensor.DType{tensor.F32, tensor.F32, tensor.F32, tensor.F32, tensor.I32, tensor.F32}, []string{"hidden_size", "layout"},
		map[string][]string{"direction": {"forward", "reverse", "bidirectional"}}},
	{"", "GRU", 14, []tensor.DType{tensor.F32, tensor.F32, tensor.F32, tensor.F32, tensor.I32, tensor.F32}, []string{"hidden_size", "linear_before_reset"}, nil},
	{"", "LSTM", 14, []tensor.DType{tensor.F32, tensor.F32, tensor.F32, tensor.F32, tensor.I32, tensor.F32, tensor.F32, tensor.F32}, []string{"hidden_size", "input_forget"}, nil},
	{"", "TopK", 11, []tensor.DType{tensor.F32, tensor.I64}, []string{"axis", "largest"}, nil},
	{"", "NonZero", 13, []tensor.DType{tensor.F32}, nil, nil},
	{"", "CumSum", 14, []tensor.DType{tensor.F32, tensor.I64}, []string{"exclusive", "reverse"}, nil},
	{"", "OneHot", 11, []tensor.DType{tensor.I64, tensor.I64, tensor.F32}, []string{"axis"}, nil},
	{"", "DepthToSpace", 13, []tensor.DType{tensor.F32}, []string{"blocksize"}, map[string][]string{"mode": {"DCR", "CRD"}}},
	{"", "SpaceToDepth", 13, []tensor.DType{tensor.F32}, []string{"blocksize"}, nil},
	{"", "Trilu", 14, []tensor.DType{tensor.F32, tensor.I64}, []string{"upper"}, nil},
	{"", "Compress", 11, []tensor.DType{tensor.F32, tensor.Bool}, []string{"axis"}, nil},
	{"", "ReverseSequence", 10, []tensor.DType{tensor.F32, tensor.I64}, []string{"batch_axis", "time_axis"}, nil},
	{"", "Unique", 11, []tensor.DType{tensor.F32}, []string{"axis", "sorted"}, nil},
	{"", "MeanVarianceNormalization", 13, []tensor.DType{tensor.F32}, nil, nil},
	{"", "EyeLike", 9, []tensor.DType{tensor.F32}, []string{"k"}, nil},
	{"", "Shrink", 9, []tensor.DType{tensor.F32}, nil, nil},
	{"", "Det", 11, []tensor.DType{tensor.F32}, nil, nil},
	{"", "Einsum", 12, []tensor.DType{tensor.F32, tensor.F32}, nil, map[string][]string{"equation": {"ij,jk->ik", "...i,...i", "ii->i", "ab,cd", "i,i->", "bij,bjk"}}},
	{"", "NonMaxSuppression", 11, []tensor.DType{tensor.F32, tensor.F32, tensor.I64, tensor.F32, tensor.F32}, []string{"center_point_box"}, nil},
	{"", "GridSample", 16, []tensor.DType{tensor.F32, tensor.F32}, []string{"align_corners"}, map[string][]string{"mode": {"bilinear", "nearest", "bicubic"}, "padding_mode": {"zeros", "border", "reflection"}}},
	{"", "RoiAlign", 16, []tensor.DType{tensor.F32, tensor.F32, tensor.I64}, []string{"output_height", "output_width", "sampling_ratio"}, nil},
	{"", "Col2Im", 18, []tensor.DType{tensor.F32, tensor.I64, tensor.I64}, nil, nil},
	{"", "CenterCropPad", 18, []tensor.DType{tensor.F32, tensor.I64}, nil, nil},
	{"", "DFT", 17, []tensor.DType{tensor.F32, tensor.I64}, []string{"axis", "inverse", "onesided"}, nil},
	{"", "STFT", 17, []tensor.DType{tensor.F32, tensor.I64, tensor.F32, tensor.I64}, []string{"onesided"}, nil},
	{"", "HannWindow", 17, []tensor.DType{tensor.I64}, []string{"periodic"}, nil},
	{"", "MelWeightMatrix", 17, []tensor.DType{tensor.I64, tensor.I64, tensor.I64, tensor.F32, tensor.F32}, nil, nil},
}

// familyBytes hands out fuzz bytes, then zeros.
type familyBytes struct{ b []byte }

func (s *familyBytes) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *familyBytes) small(n int) int { return int(s.next()) % n }

func (s *familyBytes) value(dt tensor.DType) *Value {
	rank := s.small(5)
	shape := make([]int64, rank)
	for i := range shape {
		shape[i] = int64(s.small(5))
	}
	v := NewValue(dt, shape)
	for i := 0; i < v.Len(); i++ {
		b := s.next()
		if dt.Float() {
			f := float64(int8(b)) / 8
			if b == 0x7f {
				f = math.NaN()
			}
			setFloat64(v, i, f)
		} else {
			setInt64(v, i, int64(int8(b))%9)
		}
	}
	return v
}

// FuzzOpKernels calls the kernels directly (no recovery by the executor) on small
// random inputs and attributes: they must return a value or an error, never panic,
// and what they return must be a valid value.
func FuzzOpKernels(f *testing.F) {
	for i := range familyFuzzOps {
		f.Add([]byte{byte(i), 1, 2, 3, 2, 2, 1, 4, 5, 6, 7, 8, 9, 3, 1, 2, 2, 2, 2, 1, 1, 1})
		f.Add([]byte{byte(i), 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3})
	}
	sess, err := NewSession(&Graph{Initializers: map[string]*Value{}}, map[string]int64{"": 21}, nil)
	if err != nil {
		f.Fatal(err)
	}
	satSess, err := NewSession(&Graph{Initializers: map[string]*Value{}}, map[string]int64{"": 21}, &Options{IntArith: SaturatingPairsArith})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &familyBytes{data}
		spec := familyFuzzOps[s.small(len(familyFuzzOps))]
		sess := sess
		if s.small(2) == 1 {
			sess = satSess // the integer kernels' saturating-pairs paths
		}
		node := &Node{Name: "fuzz", OpType: spec.op, Domain: spec.domain, Attrs: map[string]*Attr{}}
		for _, a := range spec.attrs {
			if s.small(2) == 0 {
				node.Attrs[a] = &Attr{Name: a, Kind: AttrInt, Int: int64(s.small(7)) - 2}
			}
		}
		for a, choices := range spec.strAttrs {
			node.Attrs[a] = &Attr{Name: a, Kind: AttrString, String: choices[s.small(len(choices))]}
		}
		var inputs []*Value
		for i, dt := range spec.inputs {
			if i > 0 && s.small(4) == 0 {
				inputs = append(inputs, nil)
				continue
			}
			inputs = append(inputs, s.value(dt))
		}
		op, ok := lookupOp(spec.domain, spec.op, spec.opset)
		if !ok {
			t.Fatalf("%s is not registered", spec.op)
		}
		k := op.Kernel
		c := &Call{Node: node, Opset: spec.opset, Inputs: inputs, sess: sess}
		outs, err := func() (outs []*Value, err error) {
			defer func() {
				if r := recover(); r != nil {
					if wp, ok := r.(*parallel.Panic); ok {
						r = fmt.Sprintf("%v\n%s", wp.Value, wp.Stack)
					}
					t.Fatalf("%s panicked on inputs %v attrs %v: %v", spec.op, inputs, node.Attrs, r)
				}
			}()
			return k(c)
		}()
		if err != nil {
			return
		}
		for i, v := range outs {
			if v != nil {
				if err := v.Validate(); err != nil {
					t.Fatalf("%s output %d: %v", spec.op, i, err)
				}
			}
		}
	})
}
