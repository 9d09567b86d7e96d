package runtime

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// The integer kernels are checked here against plain loops written from the ONNX
// definitions, for exact arithmetic and for ONNX Runtime's saturating-pairs
// arithmetic (SaturatingPairsArith), modelled as ONNX Runtime's MLAS computes it: raw
// stored values multiplied and summed in pairs into a saturating int16, the zero
// points applied afterwards through row and column sums.

func clamp16(x int64) int64 { return max(math.MinInt16, min(math.MaxInt16, x)) }

// pairedSum sums the products a[k]*b[k] (k in the given order) exactly, or in
// saturating adjacent pairs.
func pairedSum(a, b []int64, sat bool) int64 {
	var s int64
	for k := 0; k < len(a); k += 2 {
		p := a[k] * b[k]
		if k+1 < len(a) {
			p += a[k+1] * b[k+1]
		}
		if sat {
			p = clamp16(p)
		}
		s += p
	}
	return s
}

// zeroPointProduct is sum (a-za)(b-zb) from the (possibly saturated) raw product sum,
// as MLAS applies zero points: S - zb*sum(a) - za*sum(b) + K*za*zb.
func zeroPointProduct(a, b []int64, za, zb int64, sat bool) int64 {
	var sa, sb int64
	for k := range a {
		sa += a[k]
		sb += b[k]
	}
	return pairedSum(a, b, sat) - zb*sa - za*sb + int64(len(a))*za*zb
}

// refMatMul is A [batch, M, K] x B [K, N] with a scalar za and per-column zb.
func refMatMul(a, b []int64, batch, M, K, N int, za int64, zb []int64, sat bool) []int64 {
	out := make([]int64, batch*M*N)
	row, col := make([]int64, K), make([]int64, K)
	for bi := 0; bi < batch; bi++ {
		for i := 0; i < M; i++ {
			copy(row, a[(bi*M+i)*K:])
			for j := 0; j < N; j++ {
				for k := 0; k < K; k++ {
					col[k] = b[k*N+j]
				}
				out[(bi*M+i)*N+j] = zeroPointProduct(row, col, za, zb[j%len(zb)], sat)
			}
		}
	}
	return out
}

type convGeom struct {
	n, c, h, w, m, kh, kw, group                int
	padT, padL, padB, padR, strideH, strideW, d int
}

func (g convGeom) out() (int, int) {
	oh := (g.h+g.padT+g.padB-g.d*(g.kh-1)-1)/g.strideH + 1
	ow := (g.w+g.padL+g.padR-g.d*(g.kw-1)-1)/g.strideW + 1
	return oh, ow
}

func (g convGeom) attrs() map[string]*Attr {
	return map[string]*Attr{
		"pads":      intsAttr(int64(g.padT), int64(g.padL), int64(g.padB), int64(g.padR)),
		"strides":   intsAttr(int64(g.strideH), int64(g.strideW)),
		"dilations": intsAttr(int64(g.d), int64(g.d)),
		"group":     intAttr(int64(g.group)),
	}
}

// refConv is a direct NCHW convolution of raw x (padding reads zx) with raw w; K is
// ordered (kernel row, kernel column, channel), as ONNX Runtime's NHWC im2col.
func refConv(g convGeom, x, w []int64, zx int64, zw []int64, sat bool) []int64 {
	oh, ow := g.out()
	cg, mg := g.c/g.group, g.m/g.group
	out := make([]int64, g.n*g.m*oh*ow)
	var xs, ws []int64
	for n := 0; n < g.n; n++ {
		for m := 0; m < g.m; m++ {
			gr := m / mg
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					xs, ws = xs[:0], ws[:0]
					for ky := 0; ky < g.kh; ky++ {
						for kx := 0; kx < g.kw; kx++ {
							for ci := 0; ci < cg; ci++ {
								c := gr*cg + ci
								iy, ix := oy*g.strideH-g.padT+ky*g.d, ox*g.strideW-g.padL+kx*g.d
								v := zx
								if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
									v = x[((n*g.c+c)*g.h+iy)*g.w+ix]
								}
								xs = append(xs, v)
								ws = append(ws, w[((m*cg+ci)*g.kh+ky)*g.kw+kx])
							}
						}
					}
					out[((n*g.m+m)*oh+oy)*ow+ox] = zeroPointProduct(xs, ws, zx, zw[m%len(zw)], sat)
				}
			}
		}
	}
	return out
}

func asInt64s(v *Value) []int64 {
	f := v.AsFloat64s()
	out := make([]int64, len(f))
	for i, x := range f {
		out[i] = int64(x)
	}
	return out
}

func int64sOf[T int8 | uint8](s []T) []int64 {
	out := make([]int64, len(s))
	for i, x := range s {
		out[i] = int64(x)
	}
	return out
}

// bytesIn returns n random values in [lo, hi].
func bytesIn[T int8 | uint8](r *rand.Rand, n, lo, hi int) []T {
	out := make([]T, n)
	for i := range out {
		out[i] = T(lo + r.IntN(hi-lo+1))
	}
	return out
}

// TestSaturatingPairsKnownCase: uint8 255 times int8 127 over K=4 is 129540 exactly,
// and 2 * 32767 = 65534 in saturating pairs (ONNX Runtime 1.30 on an AVX2 CPU).
func TestSaturatingPairsKnownCase(t *testing.T) {
	a := mustValue(t, []uint8{255, 255, 255, 255}, 1, 4)
	b := mustValue(t, []int8{127, 127, 127, 127}, 4, 1)
	for _, tc := range []struct {
		arith IntArith
		want  int32
	}{{ExactArith, 129540}, {SaturatingPairsArith, 65534}} {
		out, err := runOpArith(tc.arith, "", "MatMulInteger", 10, nil, 1, a, b)
		if err != nil {
			t.Fatal(err)
		}
		if got := out[0].Data.([]int32)[0]; got != tc.want {
			t.Errorf("MatMulInteger(255 x 127, K=4) with %v = %d, want %d", tc.arith, got, tc.want)
		}
	}
}

func TestParseIntArith(t *testing.T) {
	for _, a := range []IntArith{ExactArith, SaturatingPairsArith} {
		if got, err := ParseIntArith(a.String()); err != nil || got != a {
			t.Errorf("ParseIntArith(%q) = %v, %v", a.String(), got, err)
		}
	}
	if _, err := ParseIntArith("sse"); err == nil {
		t.Error("ParseIntArith(sse) succeeded")
	}
}

func TestMatMulIntegerReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const batch, M, K, N = 2, 3, 7, 5 // odd K: the last product has no partner
	for _, tc := range []struct {
		name        string
		a, b        *Value
		za          *Value
		zb          *Value
		saturatable bool // the values are large enough for pairs to saturate
	}{
		{"u8s8_large", mustValue(t, bytesIn[uint8](r, batch*M*K, 180, 255), batch, M, K), mustValue(t, bytesIn[int8](r, K*N, -128, 127), K, N),
			Scalar[uint8](7), mustValue(t, []int8{0, -3, 5, 1, 0}, N), true},
		{"u8s8_small", mustValue(t, bytesIn[uint8](r, batch*M*K, 0, 60), batch, M, K), mustValue(t, bytesIn[int8](r, K*N, -128, 127), K, N),
			Scalar[uint8](30), Scalar[int8](-2), false},
		{"u8u8", mustValue(t, bytesIn[uint8](r, batch*M*K, 200, 255), batch, M, K), mustValue(t, bytesIn[uint8](r, K*N, 200, 255), K, N),
			Scalar[uint8](1), Scalar[uint8](128), false},
		{"s8s8", mustValue(t, bytesIn[int8](r, batch*M*K, -128, 127), batch, M, K), mustValue(t, bytesIn[int8](r, K*N, -128, 127), K, N),
			Scalar[int8](-5), Scalar[int8](3), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := asInt64s(tc.a), asInt64s(tc.b)
			za, zb := asInt64s(tc.za)[0], asInt64s(tc.zb)
			exact := refMatMul(a, b, batch, M, K, N, za, zb, false)
			emulated := exact
			if tc.a.DType == tensor.U8 && tc.b.DType == tensor.I8 {
				emulated = refMatMul(a, b, batch, M, K, N, za, zb, true)
			}
			if differ := !slices.Equal(exact, emulated); differ != tc.saturatable {
				t.Fatalf("reference: saturation changes the result = %v, want %v", differ, tc.saturatable)
			}
			for _, arith := range []IntArith{ExactArith, SaturatingPairsArith} {
				want := map[IntArith][]int64{ExactArith: exact, SaturatingPairsArith: emulated}[arith]
				out, err := runOpArith(arith, "", "MatMulInteger", 10, nil, 1, tc.a, tc.b, tc.za, tc.zb)
				if err != nil {
					t.Fatal(err)
				}
				if got := asInt64s(out[0]); !slices.Equal(got, want) {
					t.Errorf("MatMulInteger with %v = %v, want %v", arith, got, want)
				}
			}
		})
	}
}

// TestQLinearMatMulReference checks requantization of the reference accumulator.
func TestQLinearMatMulReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const M, K, N = 4, 6, 3
	av := mustValue(t, bytesIn[uint8](r, M*K, 150, 255), M, K)
	bv := mustValue(t, bytesIn[int8](r, K*N, -128, 127), K, N)
	sa, sb, sy := float32(0.02), []float32{0.01, 0.03, 0.005}, float32(0.9)
	za, zy := int64(100), int64(128)
	for _, arith := range []IntArith{ExactArith, SaturatingPairsArith} {
		acc := refMatMul(asInt64s(av), asInt64s(bv), 1, M, K, N, za, []int64{0}, arith == SaturatingPairsArith)
		want := make([]int64, len(acc))
		for i, x := range acc {
			mult := sa * sb[i%N] / sy
			q := math.RoundToEven(float64(float32(x)*mult)) + float64(zy)
			want[i] = int64(max(0, min(255, q)))
		}
		out, err := runOpArith(arith, "", "QLinearMatMul", 10, nil, 1,
			av, Scalar(sa), Scalar(uint8(za)), bv, mustValue(t, sb, N), mustValue(t, make([]int8, N), N), Scalar(sy), Scalar(uint8(zy)))
		if err != nil {
			t.Fatal(err)
		}
		if got := asInt64s(out[0]); !slices.Equal(got, want) {
			t.Errorf("QLinearMatMul with %v = %v, want %v", arith, got, want)
		}
	}
}

func TestIntegerConvReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name string
		g    convGeom
	}{
		{"groups_odd_channels", convGeom{n: 2, c: 6, h: 6, w: 5, m: 4, kh: 3, kw: 2, group: 2, padT: 1, padL: 0, padB: 2, padR: 1, strideH: 2, strideW: 1, d: 1}},
		{"even_channels_dilated", convGeom{n: 1, c: 4, h: 7, w: 7, m: 3, kh: 3, kw: 3, group: 1, padT: 1, padL: 1, padB: 1, padR: 1, strideH: 1, strideW: 2, d: 2}},
		{"depthwise", convGeom{n: 1, c: 3, h: 5, w: 5, m: 3, kh: 3, kw: 3, group: 3, padT: 1, padL: 1, padB: 1, padR: 1, strideH: 1, strideW: 1, d: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			xv := mustValue(t, bytesIn[uint8](r, g.n*g.c*g.h*g.w, 170, 255), int64(g.n), int64(g.c), int64(g.h), int64(g.w))
			wv := mustValue(t, bytesIn[int8](r, g.m*g.c/g.group*g.kh*g.kw, -128, 127), int64(g.m), int64(g.c/g.group), int64(g.kh), int64(g.kw))
			zx := int64(200) // padding reads the zero point: it must saturate like data
			zw := make([]int8, g.m)
			x, w := asInt64s(xv), asInt64s(wv)
			exact := refConv(g, x, w, zx, int64sOf(zw), false)
			emulated := refConv(g, x, w, zx, int64sOf(zw), true)
			depthwise := g.c == g.group && g.m == g.group
			if depthwise {
				emulated = exact // ONNX Runtime's depthwise kernels have no pairs
			} else if slices.Equal(exact, emulated) {
				t.Fatal("reference: saturation changes nothing; the case tests nothing")
			}
			// ConvInteger is exact under both arithmetics.
			for _, arith := range []IntArith{ExactArith, SaturatingPairsArith} {
				out, err := runOpArith(arith, "", "ConvInteger", 10, g.attrs(), 1, xv, wv, Scalar(uint8(zx)), Scalar[int8](0))
				if err != nil {
					t.Fatal(err)
				}
				if got := asInt64s(out[0]); !slices.Equal(got, exact) {
					t.Errorf("ConvInteger with %v = %v, want %v", arith, got, exact)
				}
			}
			// Scales that map the accumulators (x - zx is small: about +-20000) onto the uint8 range,
			// so a saturated pair moves the output by several steps.
			sx, sy := float32(0.02), float32(0.03)
			sw := make([]float32, g.m)
			bias := make([]int32, g.m)
			for m := range sw {
				sw[m] = 0.01 * (1 + float32(m)/4)
				bias[m] = int32(r.IntN(2001) - 1000)
			}
			oh, ow := g.out()
			for _, arith := range []IntArith{ExactArith, SaturatingPairsArith} {
				acc := map[IntArith][]int64{ExactArith: exact, SaturatingPairsArith: emulated}[arith]
				want := make([]int64, len(acc))
				for i, a := range acc {
					m := i / (oh * ow) % g.m
					q := math.RoundToEven(float64(float32(a+int64(bias[m]))*(sx*sw[m]/sy))) + 128
					want[i] = int64(max(0, min(255, q)))
				}
				out, err := runOpArith(arith, "", "QLinearConv", 10, g.attrs(), 1,
					xv, Scalar(sx), Scalar(uint8(zx)), wv, mustValue(t, sw, int64(g.m)), mustValue(t, zw, int64(g.m)),
					Scalar(sy), Scalar[uint8](128), mustValue(t, bias, int64(g.m)))
				if err != nil {
					t.Fatal(err)
				}
				got := asInt64s(out[0])
				if !slices.Equal(got, want) {
					t.Errorf("QLinearConv with %v = %v, want %v", arith, got, want)
				}
				if distinct := len(slices.Compact(slices.Sorted(slices.Values(got)))); distinct < 10 {
					t.Errorf("QLinearConv with %v: only %d distinct outputs; the scales hide the accumulators", arith, distinct)
				}
			}
		})
	}
}

// TestDynamicQuantizeLinearReference: scale = (max(0, max x) - min(0, min x)) / 255,
// zero point = round(-min/scale) clamped, y = saturate(round(x/scale) + zp).
func TestDynamicQuantizeLinearReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, xs := range [][]float32{randSlice(r, 50), {3, 7.5, 11, 0.25}, {-4, -1, -0.5}, {0, 0}} {
		lo, hi := float32(0), float32(0)
		for _, v := range xs {
			lo, hi = min(lo, v), max(hi, v)
		}
		scale := float32(1)
		if hi != lo {
			scale = (hi - lo) / 255
		}
		zp := math.RoundToEven(float64(max(0, min(255, -lo/scale))))
		out, err := runOp("", "DynamicQuantizeLinear", 11, nil, 3, mustValue(t, xs, int64(len(xs))))
		if err != nil {
			t.Fatal(err)
		}
		if s := out[1].Float32s()[0]; s != scale {
			t.Errorf("%v: scale %v, want %v", xs, s, scale)
		}
		if z := out[2].Data.([]uint8)[0]; float64(z) != zp {
			t.Errorf("%v: zero point %v, want %v", xs, z, zp)
		}
		for i, v := range xs {
			want := max(0, min(255, math.RoundToEven(float64(v/scale))+zp))
			if got := out[0].Data.([]uint8)[i]; float64(got) != want {
				t.Errorf("%v: y[%d] = %d, want %v", xs, i, got, want)
			}
		}
	}
}

// TestSaturatingPairsMatchesAVX2Report: on an AMD EPYC with AVX2 but no VNNI, ONNX
// Runtime 1.30 gave -8843 (exact: -10724) for element 23 of the MatMulInteger case of
// TestQuantAgainstORT and 106 (exact: 87) for element 1 of its QLinearConv case; the
// emulation reproduces both figures from the same inputs.
func TestSaturatingPairsMatchesAVX2Report(t *testing.T) {
	for _, tc := range quantORTCases(t) {
		var elem int
		var exact, avx2 float64
		switch tc.name {
		case "MatMulInteger/batched_zero_points":
			elem, exact, avx2 = 23, -10724, -8843
		case "QLinearConv/per_channel_bias":
			elem, exact, avx2 = 1, 87, 106
		default:
			continue
		}
		attrs := map[string]*Attr{}
		for k, v := range tc.attrs {
			switch x := v.(type) {
			case int:
				attrs[k] = intAttr(int64(x))
			case []int64:
				attrs[k] = intsAttr(x...)
			}
		}
		for arith, want := range map[IntArith]float64{ExactArith: exact, SaturatingPairsArith: avx2} {
			out, err := runOpArith(arith, "", tc.op, tc.opset, attrs, 1, tc.inputs...)
			if err != nil {
				t.Fatal(err)
			}
			if got := out[0].AsFloat64s()[elem]; got != want {
				t.Errorf("%s with %v: element %d = %v, want %v", tc.name, arith, elem, got, want)
			}
		}
	}
}
