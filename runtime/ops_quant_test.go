package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/refit-ml/refit/format/onnx/onnxpb"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

// runOp runs one node with the given inputs (nil = omitted) and returns nOut outputs.
func runOp(domain, opType string, opset int64, attrs map[string]*Attr, nOut int, inputs ...*Value) ([]*Value, error) {
	return runOpArith(ExactArith, domain, opType, opset, attrs, nOut, inputs...)
}

// runOpArith is runOp in a session with the given integer arithmetic.
func runOpArith(arith IntArith, domain, opType string, opset int64, attrs map[string]*Attr, nOut int, inputs ...*Value) ([]*Value, error) {
	g := &Graph{Name: "single", Initializers: map[string]*Value{}}
	n := &Node{Name: "n", OpType: opType, Domain: domain, Attrs: attrs}
	if n.Attrs == nil {
		n.Attrs = map[string]*Attr{}
	}
	for name, a := range n.Attrs {
		a.Name = name
	}
	feed := map[string]*Value{}
	for i, v := range inputs {
		if v == nil {
			n.Inputs = append(n.Inputs, "")
			continue
		}
		name := fmt.Sprintf("in%d", i)
		n.Inputs = append(n.Inputs, name)
		g.Inputs = append(g.Inputs, ValueInfo{Name: name, DType: v.DType})
		feed[name] = v
	}
	for i := 0; i < nOut; i++ {
		name := fmt.Sprintf("out%d", i)
		n.Outputs = append(n.Outputs, name)
		g.Outputs = append(g.Outputs, ValueInfo{Name: name})
	}
	g.Nodes = []*Node{n}
	opsets := map[string]int64{"": opset}
	if domain != "" {
		opsets[domain] = 1
	}
	s, err := NewSession(g, opsets, &Options{NoFolding: true, IntArith: arith})
	if err != nil {
		return nil, err
	}
	res, err := s.Run(context.Background(), feed)
	if err != nil {
		return nil, err
	}
	out := make([]*Value, nOut)
	for i := range out {
		out[i] = res[fmt.Sprintf("out%d", i)]
	}
	return out, nil
}

func mustValue(t testing.TB, data any, shape ...int64) *Value {
	t.Helper()
	v, err := FromSlice(data, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustCast is castValue outside a run (no call, no budget).
func mustCast(t testing.TB, v *Value, dt tensor.DType) *Value {
	t.Helper()
	out, err := castValue(nil, v, dt)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func intAttr(x int64) *Attr         { return &Attr{Kind: AttrInt, Int: x} }
func intsAttr(x ...int64) *Attr     { return &Attr{Kind: AttrInts, Ints: x} }
func floatAttr(x float32) *Attr     { return &Attr{Kind: AttrFloat, Float: x} }
func stringAttr(s string) *Attr     { return &Attr{Kind: AttrString, String: s} }
func floatsAttr(x ...float32) *Attr { return &Attr{Kind: AttrFloats, Floats: x} }

// nbitsCase is a random MatMulNBits problem.
type nbitsCase struct {
	name                 string
	m, k, n, bits, block int
	zp                   string // "", "packed", "float"
	bias, gidx           bool
}

type nbitsData struct {
	a, scales, zpf, bias []float32
	b, zpp               []uint8
	gidx                 []int32
}

func makeNBits(tc nbitsCase, r *rand.Rand) nbitsData {
	nb := (tc.k + tc.block - 1) / tc.block
	blob := tc.block * tc.bits / 8
	d := nbitsData{a: randSlice(r, tc.m*tc.k), b: make([]uint8, tc.n*nb*blob), scales: make([]float32, tc.n*nb)}
	for i := range d.b {
		d.b[i] = uint8(r.IntN(256))
	}
	for i := range d.scales {
		d.scales[i] = r.Float32()*0.1 + 0.01
	}
	switch tc.zp {
	case "packed":
		d.zpp = make([]uint8, tc.n*((nb*tc.bits+7)/8))
		for i := range d.zpp {
			d.zpp[i] = uint8(r.IntN(256))
		}
	case "float":
		d.zpf = make([]float32, tc.n*nb)
		for i := range d.zpf {
			d.zpf[i] = float32(r.IntN(1 << tc.bits))
		}
	}
	if tc.bias {
		d.bias = randSlice(r, tc.n)
	}
	if tc.gidx {
		d.gidx = make([]int32, tc.k)
		for i := range d.gidx {
			d.gidx[i] = int32(r.IntN(nb))
		}
	}
	return d
}

// reference dequantizes bit by bit in float64 and multiplies.
func (d nbitsData) reference(tc nbitsCase) []float64 {
	nb := (tc.k + tc.block - 1) / tc.block
	blob := tc.block * tc.bits / 8
	w := make([]float64, tc.n*tc.k)
	for n := 0; n < tc.n; n++ {
		for k := 0; k < tc.k; k++ {
			blk := k / tc.block
			if d.gidx != nil {
				blk = int(d.gidx[k])
			}
			pos := k * tc.bits // bit position inside the column's packed bytes
			q := 0
			for bit := 0; bit < tc.bits; bit++ {
				p := pos + bit
				if d.b[n*nb*blob+p/8]>>(p%8)&1 != 0 {
					q |= 1 << bit
				}
			}
			zp := float64(int(1) << (tc.bits - 1))
			if d.zpp != nil {
				row := (nb*tc.bits + 7) / 8
				z := 0
				for bit := 0; bit < tc.bits; bit++ {
					p := blk*tc.bits + bit
					if d.zpp[n*row+p/8]>>(p%8)&1 != 0 {
						z |= 1 << bit
					}
				}
				zp = float64(z)
			}
			if d.zpf != nil {
				zp = float64(d.zpf[n*nb+blk])
			}
			w[n*tc.k+k] = (float64(q) - zp) * float64(d.scales[n*nb+blk])
		}
	}
	out := make([]float64, tc.m*tc.n)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var s float64
			for k := 0; k < tc.k; k++ {
				s += float64(d.a[i*tc.k+k]) * w[j*tc.k+k]
			}
			if d.bias != nil {
				s += float64(d.bias[j])
			}
			out[i*tc.n+j] = s
		}
	}
	return out
}

func (d nbitsData) run(t testing.TB, tc nbitsCase) (*Value, error) {
	nb := (tc.k + tc.block - 1) / tc.block
	inputs := []*Value{
		mustValue(t, d.a, int64(tc.m), int64(tc.k)),
		mustValue(t, d.b, int64(tc.n), int64(nb), int64(tc.block*tc.bits/8)),
		mustValue(t, d.scales, int64(len(d.scales))),
		nil, nil, nil,
	}
	if d.zpp != nil {
		inputs[3] = mustValue(t, d.zpp, int64(len(d.zpp)))
	}
	if d.zpf != nil {
		inputs[3] = mustValue(t, d.zpf, int64(len(d.zpf)))
	}
	if d.gidx != nil {
		inputs[4] = mustValue(t, d.gidx, int64(len(d.gidx)))
	}
	if d.bias != nil {
		inputs[5] = mustValue(t, d.bias, int64(len(d.bias)))
	}
	attrs := map[string]*Attr{"K": intAttr(int64(tc.k)), "N": intAttr(int64(tc.n)), "bits": intAttr(int64(tc.bits)), "block_size": intAttr(int64(tc.block))}
	out, err := runOp("com.microsoft", "MatMulNBits", 21, attrs, 1, inputs...)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

var nbitsCases = []nbitsCase{
	{name: "4bit_default_zp", m: 3, k: 64, n: 8, bits: 4, block: 32},
	{name: "4bit_packed_zp", m: 2, k: 96, n: 5, bits: 4, block: 32, zp: "packed"},
	{name: "4bit_partial_block_bias", m: 4, k: 40, n: 7, bits: 4, block: 16, zp: "packed", bias: true},
	{name: "4bit_float_zp", m: 1, k: 128, n: 6, bits: 4, block: 64, zp: "float"},
	{name: "4bit_gidx", m: 2, k: 64, n: 3, bits: 4, block: 16, zp: "packed", gidx: true},
	{name: "8bit", m: 3, k: 64, n: 4, bits: 8, block: 32, zp: "packed"},
	{name: "2bit", m: 2, k: 64, n: 4, bits: 2, block: 32, zp: "packed"},
	{name: "large", m: 33, k: 512, n: 65, bits: 4, block: 128, zp: "packed", bias: true},
}

func TestMatMulNBitsReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range nbitsCases {
		t.Run(tc.name, func(t *testing.T) {
			d := makeNBits(tc, r)
			got, err := d.run(t, tc)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Shape, []int64{int64(tc.m), int64(tc.n)}) {
				t.Fatalf("shape %v, want [%d %d]", got.Shape, tc.m, tc.n)
			}
			want := d.reference(tc)
			for i, g := range got.Float32s() {
				if math.Abs(float64(g)-want[i]) > 1e-4*(1+math.Abs(want[i])) {
					t.Fatalf("element %d = %v, want %v", i, g, want[i])
				}
			}
		})
	}
}

func TestMatMulNBitsErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	tc := nbitsCase{m: 2, k: 64, n: 4, bits: 4, block: 32}
	d := makeNBits(tc, r)
	for _, bad := range []struct {
		name string
		mod  func(*nbitsCase, *nbitsData)
	}{
		{"short B", func(_ *nbitsCase, d *nbitsData) { d.b = d.b[:len(d.b)-1] }},
		{"short scales", func(_ *nbitsCase, d *nbitsData) { d.scales = d.scales[:1] }},
		{"bad zero points", func(_ *nbitsCase, d *nbitsData) { d.zpp = []uint8{1, 2, 3} }},
		{"g_idx out of range", func(_ *nbitsCase, d *nbitsData) {
			d.gidx = make([]int32, 64)
			d.gidx[5] = 99
		}},
		{"bits 3", func(c *nbitsCase, _ *nbitsData) { c.bits = 3 }},
		{"block 8", func(c *nbitsCase, _ *nbitsData) { c.block = 8 }},
	} {
		t.Run(bad.name, func(t *testing.T) {
			c, dd := tc, d
			bad.mod(&c, &dd)
			k := c.k
			c.k = tc.k
			if _, err := dd.runTolerant(t, c, k); err == nil {
				t.Fatal("MatMulNBits accepted bad input")
			}
		})
	}
}

// runTolerant builds inputs without the shape arithmetic of run, for malformed cases.
func (d nbitsData) runTolerant(t testing.TB, tc nbitsCase, k int) (*Value, error) {
	inputs := []*Value{
		mustValue(t, d.a, int64(tc.m), int64(k)),
		mustValue(t, d.b, int64(len(d.b))),
		mustValue(t, d.scales, int64(len(d.scales))),
		nil, nil, nil,
	}
	if d.zpp != nil {
		inputs[3] = mustValue(t, d.zpp, int64(len(d.zpp)))
	}
	if d.gidx != nil {
		inputs[4] = mustValue(t, d.gidx, int64(len(d.gidx)))
	}
	attrs := map[string]*Attr{"K": intAttr(int64(tc.k)), "N": intAttr(int64(tc.n)), "bits": intAttr(int64(tc.bits)), "block_size": intAttr(int64(tc.block))}
	out, err := runOp("com.microsoft", "MatMulNBits", 21, attrs, 1, inputs...)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// TestMatMulNBitsORT compares with ONNX Runtime (onnxruntime-node) on models written
// by the onnx Python package.
func TestMatMulNBitsORT(t *testing.T) {
	nodeModules := testtool.NodeModules(t, "onnxruntime-node")
	testtool.RequirePython(t, "onnx", "numpy")
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("REFIT_REQUIRE_TOOLS") == "1" {
			t.Fatal("node is required")
		}
		t.Skip("skipping: node not on PATH")
	}
	r := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	for _, tc := range nbitsCases {
		if tc.bits == 2 || tc.gidx {
			continue // ONNX Runtime's CPU kernel does not take these
		}
		t.Run(tc.name, func(t *testing.T) {
			d := makeNBits(tc, r)
			spec := map[string]any{"m": tc.m, "k": tc.k, "n": tc.n, "bits": tc.bits, "block": tc.block,
				"a": d.a, "b": bytesAsInts(d.b), "scales": d.scales, "zpp": bytesAsInts(d.zpp), "zpf": d.zpf, "bias": d.bias}
			js, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			specPath := filepath.Join(dir, tc.name+".json")
			modelPath := filepath.Join(dir, tc.name+".onnx")
			if err := os.WriteFile(specPath, js, 0o644); err != nil {
				t.Fatal(err)
			}
			testtool.RunPython(t, nbitsModelScript, specPath, modelPath)
			cmd := exec.Command("node", "-e", ortRunScript, modelPath, specPath)
			cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules)
			outJSON, err := cmd.Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					t.Fatalf("node: %v\n%s", err, ee.Stderr)
				}
				t.Fatal(err)
			}
			var want []float64
			if err := json.Unmarshal(outJSON, &want); err != nil {
				t.Fatalf("ORT output: %v: %s", err, outJSON)
			}
			b, err := os.ReadFile(modelPath)
			if err != nil {
				t.Fatal(err)
			}
			mp := &onnxpb.ModelProto{}
			if err := proto.Unmarshal(b, mp); err != nil {
				t.Fatal(err)
			}
			sess, err := Load(mp, os.DirFS(dir), nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := sess.Run(context.Background(), map[string]*Value{"A": mustValue(t, d.a, int64(tc.m), int64(tc.k))})
			if err != nil {
				t.Fatal(err)
			}
			got := res["Y"].Float32s()
			if len(got) != len(want) {
				t.Fatalf("got %d values, ORT %d", len(got), len(want))
			}
			for i := range got {
				if math.Abs(float64(got[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
					t.Fatalf("element %d = %v, ORT %v", i, got[i], want[i])
				}
			}
		})
	}
}

const nbitsModelScript = `
import json, sys
import numpy as np
import onnx
from onnx import helper, TensorProto, numpy_helper
spec = json.load(open(sys.argv[1]))
m, k, n, bits, block = spec["m"], spec["k"], spec["n"], spec["bits"], spec["block"]
nb = (k + block - 1) // block
inits = [numpy_helper.from_array(np.array(spec["b"], dtype=np.uint8).reshape(n, nb, block * bits // 8), "B"),
         numpy_helper.from_array(np.array(spec["scales"], dtype=np.float32), "scales")]
inputs = ["A", "B", "scales"]
if spec.get("zpp"):
    inits.append(numpy_helper.from_array(np.array(spec["zpp"], dtype=np.uint8), "zp"))
    inputs.append("zp")
elif spec.get("zpf"):
    inits.append(numpy_helper.from_array(np.array(spec["zpf"], dtype=np.float32), "zp"))
    inputs.append("zp")
if spec.get("bias"):
    while len(inputs) < 5:
        inputs.append("")
    inits.append(numpy_helper.from_array(np.array(spec["bias"], dtype=np.float32), "bias"))
    inputs.append("bias")
node = helper.make_node("MatMulNBits", inputs, ["Y"], domain="com.microsoft", K=k, N=n, bits=bits, block_size=block)
graph = helper.make_graph([node], "nbits", [helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
model.ir_version = 8
onnx.save(model, sys.argv[2])
`

const ortRunScript = `
const ort = require('onnxruntime-node');
const fs = require('fs');
(async () => {
  const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const sess = await ort.InferenceSession.create(process.argv[1]);
  const a = new ort.Tensor('float32', Float32Array.from(spec.a), [spec.m, spec.k]);
  const out = await sess.run({A: a});
  process.stdout.write(JSON.stringify(Array.from(out.Y.data)));
})().catch(e => { console.error(e); process.exit(1); });
`

func TestQuantizeLinearBlocked(t *testing.T) {
	x := mustValue(t, []float32{0, 1, 2, 3, 4, 5, -6, -7, 8, 9, 10, 11}, 2, 6)
	scale := mustValue(t, []float32{1, 2, 0.5, 4, 1, 1}, 2, 3)
	zp := mustValue(t, []int8{0, 1, -1, 0, 2, 3}, 2, 3)
	attrs := map[string]*Attr{"axis": intAttr(1), "block_size": intAttr(2)}
	out, err := runOp("", "QuantizeLinear", 21, attrs, 1, x, scale, zp)
	if err != nil {
		t.Fatal(err)
	}
	// Element (r, c) uses scale[r][c/2]; x/scale rounds half to even.
	want := []int8{0, 1, 2, 3, 7, 9, -2, -2, 10, 11, 13, 14}
	if got := out[0].Data.([]int8); !slices.Equal(got, want) {
		t.Fatalf("QuantizeLinear blocked = %v, want %v", got, want)
	}
	back, err := runOp("", "DequantizeLinear", 21, attrs, 1, out[0], scale, zp)
	if err != nil {
		t.Fatal(err)
	}
	wantBack := []float32{0, 1, 2, 4, 4, 5, -8, -8, 8, 9, 10, 11}
	if got := back[0].Float32s(); !slices.Equal(got, wantBack) {
		t.Fatalf("DequantizeLinear blocked = %v, want %v", got, wantBack)
	}
	// A scale of the wrong shape is an error, not a panic.
	if _, err := runOp("", "QuantizeLinear", 21, attrs, 1, x, mustValue(t, []float32{1, 2}, 2), nil); err == nil {
		t.Fatal("QuantizeLinear accepted a [2] scale for blocks of [2, 3]")
	}
}

func TestQuantizeLinearSaturates(t *testing.T) {
	x := mustValue(t, []float32{-1000, -2.5, -1.5, 0.5, 1.5, 2.5, 1000, float32(math.NaN())}, 8)
	for _, tc := range []struct {
		zp   *Value
		want []int64
	}{
		{nil, []int64{0, 0, 0, 0, 2, 2, 255, 0}},
		{Scalar[int8](1), []int64{-128, -1, -1, 1, 3, 3, 127, 1}},
		{Scalar[uint8](128), []int64{0, 126, 126, 128, 130, 130, 255, 128}},
	} {
		name := "none"
		if tc.zp != nil {
			name = tc.zp.DType.String()
		}
		t.Run(name, func(t *testing.T) {
			out, err := runOp("", "QuantizeLinear", 13, nil, 1, x, Scalar[float32](1), tc.zp)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := out[0].AsInt64s()
			if !slices.Equal(got, tc.want) {
				t.Fatalf("QuantizeLinear = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDynamicQuantizeLinearAllZero(t *testing.T) {
	out, err := runOp("", "DynamicQuantizeLinear", 11, nil, 3, mustValue(t, []float32{0, 0, 0}, 3))
	if err != nil {
		t.Fatal(err)
	}
	if s := out[1].Float32s()[0]; s != 1 {
		t.Fatalf("scale = %v, want 1 (ONNX Runtime's choice for an empty range)", s)
	}
	if z := out[2].Data.([]uint8)[0]; z != 0 {
		t.Fatalf("zero point = %v, want 0", z)
	}
}

func TestQLinearMatMulPerColumn(t *testing.T) {
	a := mustValue(t, []uint8{10, 20, 30, 40}, 2, 2)
	b := mustValue(t, []int8{1, -2, 3, 4}, 2, 2)
	out, err := runOp("", "QLinearMatMul", 10, nil, 1,
		a, Scalar[float32](0.5), Scalar[uint8](10),
		b, mustValue(t, []float32{1, 2}, 2), mustValue(t, []int8{0, 1}, 2),
		Scalar[float32](0.25), Scalar[uint8](5))
	if err != nil {
		t.Fatal(err)
	}
	// a-za = [[0 10] [20 30]], b-zb = [[1 -3] [3 3]] -> acc [[30 30] [110 30]];
	// y = acc * sa*sb[j]/sy + 5 = [[65 125] [225 125]].
	if got := out[0].Data.([]uint8); !slices.Equal(got, []uint8{65, 125, 225, 125}) {
		t.Fatalf("QLinearMatMul = %v", got)
	}
	_ = tensor.U8
}

// bytesAsInts keeps JSON from encoding bytes as base64.
func bytesAsInts(b []uint8) []int {
	if b == nil {
		return nil
	}
	out := make([]int, len(b))
	for i, x := range b {
		out[i] = int(x)
	}
	return out
}

func randBytes[T int8 | uint8](r *rand.Rand, n int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = T(r.IntN(256))
	}
	return out
}

func quantORTCases(t testing.TB) []ortCase {
	r := rand.New(rand.NewPCG(41, 42))
	xf := mustValue(t, randSlice(r, 2*3*8), 2, 3, 8)
	for i, v := range xf.Float32s() {
		xf.Float32s()[i] = v * 40
	}
	halfs := mustValue(t, []float32{-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 254.5, 255.5, -300, 300, 0}, 12)
	xq := mustValue(t, randBytes[uint8](r, 1*4*7*6), 1, 4, 7, 6)
	wq := mustValue(t, randBytes[int8](r, 6*2*3*3), 6, 2, 3, 3)
	convAttrs := map[string]any{"pads": []int64{1, 0, 2, 1}, "strides": []int64{2, 1}, "group": 2}
	return []ortCase{
		{name: "QuantizeLinear/uint8_ties", op: "QuantizeLinear", opset: 13, attrs: map[string]any{}, inputs: []*Value{halfs, Scalar[float32](1), Scalar[uint8](3)}, outputs: 1},
		{name: "QuantizeLinear/int8_per_axis", op: "QuantizeLinear", opset: 13, attrs: map[string]any{"axis": 1},
			inputs: []*Value{xf, mustValue(t, []float32{0.3, 0.7, 1.1}, 3), mustValue(t, []int8{-3, 0, 5}, 3)}, outputs: 1},
		{name: "QuantizeLinear/int16", op: "QuantizeLinear", opset: 21, attrs: map[string]any{},
			inputs: []*Value{xf, Scalar[float32](0.001), Scalar[int16](7)}, outputs: 1},
		{name: "QuantizeLinear/blocked", op: "QuantizeLinear", opset: 21, attrs: map[string]any{"axis": 2, "block_size": 4},
			inputs: []*Value{xf, mustValue(t, randSlice(r, 12), 2, 3, 2), mustValue(t, randBytes[int8](r, 12), 2, 3, 2)}, outputs: 1},
		{name: "DequantizeLinear/per_axis", op: "DequantizeLinear", opset: 13, attrs: map[string]any{"axis": 0},
			inputs: []*Value{mustValue(t, randBytes[uint8](r, 12), 3, 4), mustValue(t, []float32{0.5, 0.25, 3}, 3), mustValue(t, []uint8{128, 0, 255}, 3)}, outputs: 1},
		{name: "DequantizeLinear/int32", op: "DequantizeLinear", opset: 13, attrs: map[string]any{},
			inputs: []*Value{mustValue(t, []int32{-1 << 30, 5, 1 << 30}, 3), Scalar[float32](0.001)}, outputs: 1},
		{name: "DequantizeLinear/blocked", op: "DequantizeLinear", opset: 21, attrs: map[string]any{"axis": 1, "block_size": 3},
			inputs: []*Value{mustValue(t, randBytes[int8](r, 4*7), 4, 7), mustValue(t, randSlice(r, 12), 4, 3), mustValue(t, randBytes[int8](r, 12), 4, 3)}, outputs: 1},
		{name: "DynamicQuantizeLinear", op: "DynamicQuantizeLinear", opset: 11, attrs: map[string]any{}, inputs: []*Value{xf}, outputs: 3},
		{name: "DynamicQuantizeLinear/positive", op: "DynamicQuantizeLinear", opset: 11, attrs: map[string]any{}, inputs: []*Value{mustValue(t, []float32{3, 7.5, 11, 0.25}, 4)}, outputs: 3},
		{name: "MatMulInteger/batched_zero_points", op: "MatMulInteger", opset: 10, attrs: map[string]any{},
			inputs: []*Value{mustValue(t, randBytes[uint8](r, 2*3*5), 2, 3, 5), mustValue(t, randBytes[int8](r, 5*4), 5, 4), Scalar[uint8](100), mustValue(t, []int8{1, -2, 3, 0}, 4)}, outputs: 1},
		{name: "QLinearMatMul/int8_3d", op: "QLinearMatMul", opset: 10, attrs: map[string]any{},
			inputs: []*Value{mustValue(t, randBytes[int8](r, 2*3*5), 2, 3, 5), Scalar[float32](0.02), Scalar[int8](3),
				mustValue(t, randBytes[int8](r, 2*5*4), 2, 5, 4), Scalar[float32](0.03), Scalar[int8](-2),
				Scalar[float32](0.05), Scalar[int8](1)}, outputs: 1},
		{name: "ConvInteger/pads_strides_group", op: "ConvInteger", opset: 10, attrs: convAttrs,
			inputs: []*Value{xq, wq, Scalar[uint8](120), Scalar[int8](2)}, outputs: 1},
		{name: "QLinearConv/per_channel_bias", op: "QLinearConv", opset: 10, attrs: convAttrs,
			inputs: []*Value{xq, Scalar[float32](0.02), Scalar[uint8](120), wq, mustValue(t, []float32{0.01, 0.02, 0.015, 0.03, 0.005, 0.02}, 6), mustValue(t, make([]int8, 6), 6),
				Scalar[float32](0.2), Scalar[uint8](128), mustValue(t, []int32{-500, 0, 100, 2000, -3, 7}, 6)}, outputs: 1},
		// uint8 x int8 with an odd K: the pair ONNX Runtime saturates on CPUs without VNNI.
		{name: "QLinearMatMul/uint8_int8_per_column", op: "QLinearMatMul", opset: 10, attrs: map[string]any{},
			inputs: []*Value{mustValue(t, randBytes[uint8](r, 4*9), 4, 9), Scalar[float32](0.02), Scalar[uint8](30),
				mustValue(t, randBytes[int8](r, 9*5), 9, 5), mustValue(t, []float32{0.01, 0.02, 0.005, 0.03, 0.01}, 5), mustValue(t, make([]int8, 5), 5),
				Scalar[float32](0.3), Scalar[uint8](120)}, outputs: 1},
	}
}

// TestQuantAgainstORT compares the quantization kernels with ONNX Runtime's. Integer
// products of uint8 and int8 must match Refit's exact result, or, on x86 CPUs without
// VNNI, where ONNX Runtime sums pairs of products in saturating int16, Refit's
// SaturatingPairsArith result (the Reference tests check both against plain loops).
func TestQuantAgainstORT(t *testing.T) {
	cases := quantORTCases(t)
	for i := range cases {
		cases[i].atol = 1e-9 // integer outputs must match exactly; floats to rounding
		switch cases[i].op {
		case "MatMulInteger", "QLinearMatMul", "ConvInteger", "QLinearConv":
			cases[i].saturating = true
		}
	}
	runORTCases(t, cases)
}

// TestMatMulNBitsSlabs covers a weight larger than one dequantization slab.
func TestMatMulNBitsSlabs(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	tc := nbitsCase{m: 2, k: 4096, n: 1030, bits: 4, block: 32, zp: "packed", bias: true}
	d := makeNBits(tc, r)
	got, err := d.run(t, tc)
	if err != nil {
		t.Fatal(err)
	}
	want := d.reference(tc)
	for i, g := range got.Float32s() {
		if math.Abs(float64(g)-want[i]) > 1e-3*(1+math.Abs(want[i])) {
			t.Fatalf("element %d = %v, want %v", i, g, want[i])
		}
	}
}

func BenchmarkMatMulNBits(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, m := range []int{1, 32} {
		tc := nbitsCase{m: m, k: 2048, n: 2048, bits: 4, block: 32, zp: "packed"}
		d := makeNBits(tc, r)
		b.Run(fmt.Sprintf("M%d_K2048_N2048", m), func(b *testing.B) {
			for b.Loop() {
				if _, err := d.run(b, tc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestIntegerOpsEmptyAndBadShapes(t *testing.T) {
	for _, tc := range []struct {
		name, op string
		ins      []*Value
		ok       bool
	}{
		{"ConvInteger no filters", "ConvInteger", []*Value{NewValue(tensor.U8, []int64{1, 0, 3, 3}), NewValue(tensor.U8, []int64{0, 0, 1, 1})}, true},
		{"ConvInteger channel mismatch", "ConvInteger", []*Value{NewValue(tensor.U8, []int64{1, 2, 3, 3}), NewValue(tensor.U8, []int64{4, 3, 1, 1})}, false},
		{"MatMulInteger inner mismatch", "MatMulInteger", []*Value{NewValue(tensor.U8, []int64{2, 3}), NewValue(tensor.U8, []int64{4, 2})}, false},
		{"MatMulInteger zero point length", "MatMulInteger", []*Value{NewValue(tensor.U8, []int64{2, 3}), NewValue(tensor.U8, []int64{3, 2}), NewValue(tensor.U8, []int64{3})}, false},
		{"MatMulInteger float", "MatMulInteger", []*Value{NewValue(tensor.F32, []int64{2, 3}), NewValue(tensor.F32, []int64{3, 2})}, false},
		{"DequantizeLinear float input", "DequantizeLinear", []*Value{NewValue(tensor.F32, []int64{2}), Scalar[float32](1)}, false},
		{"QuantizeLinear per-axis length", "QuantizeLinear", []*Value{NewValue(tensor.F32, []int64{2, 3}), NewValue(tensor.F32, []int64{2})}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runOp("", tc.op, 13, nil, 1, tc.ins...)
			if (err == nil) != tc.ok {
				t.Fatalf("%s: err = %v, want ok=%v", tc.op, err, tc.ok)
			}
		})
	}
}
