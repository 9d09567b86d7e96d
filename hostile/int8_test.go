package hostile

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx"
	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/tensor"
)

// Hostile QDQ graphs through refit quantize --ort-arith avx2, whose evaluation runs
// the quantized model with QDQ products rewritten into integer kernels that emulate
// ONNX Runtime's saturating arithmetic: weights and quantization parameters that
// contradict each other must give an error (most are caught by the float model's load
// already) or a float fallback, never a crash, and no output on error; a well-formed
// model goes through the emulated kernels. The kernels themselves are fuzzed with
// fuzzed inputs by runtime's FuzzOpKernels and FuzzLoadRun.

func int8Tensor(t *testing.T, name string, dt tensor.DType, shape []int64, data []byte) *onnxpb.TensorProto {
	t.Helper()
	tt, err := tensor.FromBytes(name, dt, shape, data)
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.TensorToProto(tt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func f32Tensor(t *testing.T, name string, shape []int64, v []float32) *onnxpb.TensorProto {
	t.Helper()
	tt, err := tensor.NewF32(name, shape, v)
	if err != nil {
		t.Fatal(err)
	}
	p, err := onnx.TensorToProto(tt)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func floatInput(name string, dims ...int64) *onnxpb.ValueInfoProto {
	s := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: s}}}}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(name), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

// qdqCase is one hostile variant of Q(x) -> DQ -> op <- DQ(w) -> Q -> DQ.
type qdqCase struct {
	name    string
	op      string
	opset   int64
	xDims   []int64
	w       *onnxpb.TensorProto
	wScale  *onnxpb.TensorProto
	wZero   *onnxpb.TensorProto
	xZero   *onnxpb.TensorProto
	dqAttrs []*onnxpb.AttributeProto
	opAttrs []*onnxpb.AttributeProto
	bias    *onnxpb.TensorProto
	// floatTail adds a float MatMul by a [3, 2] weight after the QDQ output, so that
	// quantize has a node to quantize (a model with none is refused before running).
	floatTail bool
}

func (c qdqCase) model() *onnxpb.ModelProto {
	node := func(op, name string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name), Input: in, Output: []string{out}, Attribute: attrs}
	}
	c.w.Name, c.wScale.Name, c.wZero.Name, c.xZero.Name = proto.String("w"), proto.String("ws"), proto.String("wz"), proto.String("xz")
	opIn := []string{"xd", "wd"}
	inits := []*onnxpb.TensorProto{c.w, c.wScale, c.wZero, c.xZero}
	if c.bias != nil {
		c.bias.Name = proto.String("b")
		opIn = append(opIn, "b")
		inits = append(inits, c.bias)
	}
	xs := &onnxpb.TensorProto{Name: proto.String("xs"), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{0.02}}
	inits = append(inits, xs)
	g := &onnxpb.GraphProto{
		Name: proto.String(c.name),
		Node: []*onnxpb.NodeProto{
			node("QuantizeLinear", "qx", []string{"x", "xs", "xz"}, "xq"),
			node("DequantizeLinear", "dqx", []string{"xq", "xs", "xz"}, "xd"),
			node("DequantizeLinear", "dqw", []string{"w", "ws", "wz"}, "wd", c.dqAttrs...),
			node(c.op, "op", opIn, "yf", c.opAttrs...),
			node("QuantizeLinear", "qy", []string{"yf", "xs", "xz"}, "yq"),
			node("DequantizeLinear", "dqy", []string{"yq", "xs", "xz"}, "y"),
		},
		Initializer: inits,
		Input:       []*onnxpb.ValueInfoProto{floatInput("x", c.xDims...)},
		Output:      []*onnxpb.ValueInfoProto{{Name: proto.String("y")}},
	}
	if c.floatTail {
		tail := &onnxpb.TensorProto{Name: proto.String("tail"), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Dims: []int64{3, 2}, FloatData: []float32{0.5, -1, 0.25, 2, -0.75, 1}}
		g.Initializer = append(g.Initializer, tail)
		g.Node = append(g.Node, node("MatMul", "tail", []string{"y", "tail"}, "z"))
		g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String("z")}}
	}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(c.opset)}}}
}

func TestHostileQDQUnderSaturatingArith(t *testing.T) {
	u8 := func(v ...byte) *onnxpb.TensorProto { return int8Tensor(t, "", tensor.U8, []int64{int64(len(v))}, v) }
	i8 := func(shape []int64, n int) *onnxpb.TensorProto {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + 200)
		}
		return int8Tensor(t, "", tensor.I8, shape, b)
	}
	scalarU8 := func(v byte) *onnxpb.TensorProto { return int8Tensor(t, "", tensor.U8, nil, []byte{v}) }
	scalarI8 := func() *onnxpb.TensorProto { return int8Tensor(t, "", tensor.I8, nil, []byte{0}) }
	scales := func(n int) *onnxpb.TensorProto {
		v := make([]float32, n)
		for i := range v {
			v[i] = 0.01
		}
		return f32Tensor(t, "", []int64{int64(n)}, v)
	}
	zeros := func(n int) *onnxpb.TensorProto {
		return int8Tensor(t, "", tensor.I8, []int64{int64(n)}, make([]byte, n))
	}
	cases := []qdqCase{
		{name: "well_formed", op: "MatMul", opset: 13, xDims: []int64{2, 4}, w: i8([]int64{4, 3}, 12),
			wScale: scales(3), wZero: zeros(3), xZero: scalarU8(0), dqAttrs: []*onnxpb.AttributeProto{intAttr("axis", 1)}, floatTail: true},
		{name: "per_axis_scale_too_long", op: "MatMul", opset: 13, xDims: []int64{1, 4}, w: i8([]int64{4, 3}, 12),
			wScale: scales(5), wZero: zeros(5), xZero: scalarU8(128), dqAttrs: []*onnxpb.AttributeProto{intAttr("axis", 1)}},
		{name: "weight_zero_point_uint8", op: "MatMul", opset: 13, xDims: []int64{1, 4}, w: i8([]int64{4, 3}, 12),
			wScale: scales(3), wZero: u8(0, 0, 0), xZero: scalarU8(128), dqAttrs: []*onnxpb.AttributeProto{intAttr("axis", 1)}},
		{name: "axis_out_of_range", op: "MatMul", opset: 13, xDims: []int64{1, 4}, w: i8([]int64{4, 3}, 12),
			wScale: scales(3), wZero: zeros(3), xZero: scalarU8(128), dqAttrs: []*onnxpb.AttributeProto{intAttr("axis", 9)}},
		{name: "blocked_weight", op: "MatMul", opset: 21, xDims: []int64{1, 4}, w: i8([]int64{4, 3}, 12),
			wScale: f32Tensor(t, "", []int64{2, 3}, []float32{1, 1, 1, 1, 1, 1}), wZero: int8Tensor(t, "", tensor.I8, []int64{2, 3}, make([]byte, 6)),
			xZero: scalarU8(128), dqAttrs: []*onnxpb.AttributeProto{intAttr("axis", 0), intAttr("block_size", 2)}},
		{name: "weight_rank1", op: "MatMul", opset: 13, xDims: []int64{1, 4}, w: i8([]int64{4}, 4),
			wScale: scales(1), wZero: zeros(1), xZero: scalarU8(128)},
		{name: "gemm_bias_too_long", op: "Gemm", opset: 13, xDims: []int64{1, 4}, w: i8([]int64{4, 3}, 12),
			wScale: scales(1), wZero: zeros(1), xZero: scalarU8(128), bias: f32Tensor(t, "", []int64{7}, make([]float32, 7))},
		{name: "conv_channels_disagree", op: "Conv", opset: 13, xDims: []int64{1, 3, 4, 4}, w: i8([]int64{4, 2, 3, 3}, 72),
			wScale: scales(4), wZero: zeros(4), xZero: scalarU8(128), dqAttrs: []*onnxpb.AttributeProto{intAttr("axis", 0)}},
		{name: "conv_huge_pads", op: "Conv", opset: 13, xDims: []int64{1, 2, 4, 4}, w: i8([]int64{2, 2, 3, 3}, 36),
			wScale: scales(1), wZero: scalarI8(), xZero: scalarU8(128), opAttrs: []*onnxpb.AttributeProto{intsAttr("pads", 1<<40, 1<<40, 1<<40, 1<<40)}},
		{name: "conv_group_zero", op: "Conv", opset: 13, xDims: []int64{1, 2, 4, 4}, w: i8([]int64{2, 2, 3, 3}, 36),
			wScale: scales(1), wZero: scalarI8(), xZero: scalarU8(128), opAttrs: []*onnxpb.AttributeProto{intAttr("group", 0)}},
		{name: "conv_bias_short", op: "Conv", opset: 13, xDims: []int64{1, 2, 4, 4}, w: i8([]int64{2, 2, 3, 3}, 36),
			wScale: scales(2), wZero: zeros(2), xZero: scalarU8(128), dqAttrs: []*onnxpb.AttributeProto{intAttr("axis", 0)},
			bias: f32Tensor(t, "", []int64{1}, []float32{1})},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := proto.Marshal(c.model())
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(dir, c.name+".onnx")
			if err := os.WriteFile(in, b, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, c.name+"_q.onnx")
			r := runRefit(t, limits{memKiB: 2 << 20, timeout: 30 * time.Second}, "quantize", in, out, "--ort-arith", "avx2", "--per-layer=false")
			_, err = os.Stat(out)
			if r.code != 0 && err == nil {
				t.Errorf("quantize failed but wrote %s\n%v", out, r)
			}
			if c.name == "well_formed" && (r.code != 0 || err != nil) {
				t.Errorf("quantize of a well-formed QDQ model failed\n%v", r)
			}
			t.Logf("exit %d: %.200s", r.code, r.stderr)
		})
	}
}
