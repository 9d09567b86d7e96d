package runtime

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/refit-ml/refit/internal/qgemm"
	"github.com/refit-ml/refit/tensor"
)

// forEachQGEMMKernel runs f once with each integer micro-kernel this machine has
// (internal/qgemm: AVX-512 VNNI, AVX2, Go), so that every path is compared.
func forEachQGEMMKernel(t testing.TB, f func(kernel string)) {
	for _, k := range qgemm.Kernels() {
		restore, _ := qgemm.UseKernel(k)
		f(k)
		restore()
	}
}

// TestIntMatmulExact checks the 8-bit products (every kernel, batched and broadcast
// shapes, every pairing of uint8 and int8, per-row and per-column zero points, the
// extreme operands) against int32 arithmetic on the values.
func TestIntMatmulExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	shapes := []struct{ a, b []int64 }{
		{[]int64{3, 700}, []int64{700, 5}}, {[]int64{17, 257}, []int64{257, 33}}, {[]int64{64, 1024}, []int64{1024, 64}},
		{[]int64{1, 4096}, []int64{4096, 100}}, {[]int64{4, 3, 20}, []int64{20, 40}}, {[]int64{2, 5, 9}, []int64{2, 9, 7}},
		{[]int64{5, 9}, []int64{3, 9, 6}}, {[]int64{40}, []int64{40, 3}},
	}
	for _, s := range shapes {
		for variant := 0; variant < 6; variant++ {
			aType, bType := tensor.U8, tensor.I8
			if variant&1 != 0 {
				aType = tensor.I8
			}
			if variant&2 != 0 {
				bType = tensor.U8
			}
			extreme := variant >= 4
			a, b := NewValue(aType, s.a), NewValue(bType, s.b)
			ab, _ := rawBytes(a)
			bb, _ := rawBytes(b)
			for i := range ab {
				ab[i] = byte(r.Uint32())
				if extreme {
					ab[i] = 255
				}
			}
			for i := range bb {
				bb[i] = byte(r.Uint32())
				if extreme {
					bb[i] = 0x80
				}
			}
			mm, err := newIntMatmul(s.a, s.b)
			if err != nil {
				t.Fatal(err)
			}
			za := []int32{int32(r.IntN(100))}
			if variant == 3 {
				za = make([]int32, mm.m) // per row
				for i := range za {
					za[i] = int32(r.IntN(100))
				}
			}
			zb := make([]int32, mm.n) // per column
			for j := range zb {
				zb[j] = int32(r.IntN(100))
			}
			ai, _ := ints32(a)
			bi, _ := ints32(b)
			want := make([]int32, len(mm.aOff)*mm.m*mm.n)
			mm.runInt32(1, want, ai, bi, za, zb, false)
			forEachQGEMMKernel(t, func(kernel string) {
				for _, threads := range []int{1, 2} {
					got := make([]int32, len(want))
					mm.runBytes(threads, got, a, b, za, zb, nil, nil)
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s %v x %v variant %d threads=%d: C[%d] = %d, want %d", kernel, s.a, s.b, variant, threads, i, got[i], want[i])
						}
					}
				}
			})
		}
	}
}

// BenchmarkIntMatmul times the int8 product of MatMulInteger/QLinearMatMul (uint8 x
// int8, 256 x 1024 x 1024, per-column zero points, B packed) at one thread with each
// kernel, and the int32 loop that the saturating arithmetic still uses. On the
// 2-core AMD EPYC (Zen 4) dev VM, loaded (load average ~25), GOP per CPU-second:
// avx512vnni-8x32 320, avx2-8x32 112, go 3.8, int32 loop 1.3 (the float SGEMM path
// this replaced: about 29 GOP/s).
func BenchmarkIntMatmul(b *testing.B) {
	const m, n, k = 256, 1024, 1024
	r := rand.New(rand.NewPCG(1, 2))
	a, w := NewValue(tensor.U8, []int64{m, k}), NewValue(tensor.I8, []int64{k, n})
	ab, _ := rawBytes(a)
	wb, _ := rawBytes(w)
	for i := range ab {
		ab[i] = byte(r.Uint32())
	}
	for i := range wb {
		wb[i] = byte(r.Uint32())
	}
	zb := make([]int32, n)
	mm, _ := newIntMatmul([]int64{m, k}, []int64{k, n})
	acc := make([]int32, m*n)
	packed := qgemm.Pack(k, n, wb, n, 1, true)
	report := func(b *testing.B, cpu0 time.Duration) {
		ops := 2 * float64(m*n*k) * float64(b.N)
		b.ReportMetric(ops/b.Elapsed().Seconds()/1e9, "GOP/s")
		if cpu := processCPUTime() - cpu0; cpu > 0 {
			b.ReportMetric(ops/cpu.Seconds()/1e9, "GOP/cpu-s")
		}
	}
	forEachQGEMMKernel(b, func(kernel string) {
		b.Run(kernel, func(b *testing.B) {
			cpu0 := processCPUTime()
			for b.Loop() {
				mm.runBytes(1, acc, a, w, []int32{3}, zb, packed, nil)
			}
			report(b, cpu0)
		})
	})
	b.Run("int32", func(b *testing.B) {
		ai, _ := ints32(a)
		wi, _ := ints32(w)
		cpu0 := processCPUTime()
		for b.Loop() {
			mm.runInt32(1, acc, ai, wi, []int32{3}, zb, false)
		}
		report(b, cpu0)
	})
}

// TestQuantize8MatchesSaturate checks the per-tensor QuantizeLinear fast path against
// saturate on ties, extremes, infinities and NaN.
func TestQuantize8MatchesSaturate(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	xs := []float32{0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 127.5, 128.5, -128.5, 254.5, 255.5, 1e9, -1e9,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), 1e-30}
	for range 2000 {
		xs = append(xs, (r.Float32()*2-1)*300)
	}
	for _, s := range []float32{1, 0.5, 0.0123, 3} {
		for _, p := range []struct {
			dt        tensor.DType
			z, lo, hi int32
		}{{tensor.U8, 0, 0, 255}, {tensor.U8, 128, 0, 255}, {tensor.I8, 0, -128, 127}, {tensor.I8, -5, -128, 127}} {
			out := NewValue(p.dt, []int64{int64(len(xs))})
			quantize8(1, out, xs, s, p.z, p.lo, p.hi)
			for i, x := range xs {
				want := saturate(x/s, p.z, p.lo, p.hi)
				var got int32
				if p.dt == tensor.U8 {
					got = int32(out.Data.([]uint8)[i])
				} else {
					got = int32(out.Data.([]int8)[i])
				}
				if got != want {
					t.Fatalf("x=%v s=%v %v zp=%d: got %d, want %d", x, s, p.dt, p.z, got, want)
				}
			}
		}
	}
}

// TestConvIntegerExact runs ConvInteger through every exact path (the integer GEMM
// with each kernel the machine has; depthwise-like groups: the float convolution)
// against the integer definition computed in float64, with zero points, padding,
// stride and groups.
func TestConvIntegerExact(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		x, w        []int64
		group       int
		stride, pad int64
	}{
		{[]int64{2, 3, 12, 12}, []int64{8, 3, 3, 3}, 1, 1, 1},
		{[]int64{1, 40, 9, 9}, []int64{16, 40, 3, 3}, 1, 1, 1}, // K = 360
		{[]int64{2, 8, 10, 10}, []int64{8, 4, 3, 3}, 2, 2, 1},
		{[]int64{3, 16, 14, 14}, []int64{32, 16, 3, 3}, 1, 1, 1},
		{[]int64{1, 8, 11, 11}, []int64{16, 4, 3, 3}, 2, 2, 1},
		{[]int64{2, 3, 9, 9}, []int64{70, 3, 5, 5}, 1, 2, 2},
		{[]int64{2, 1, 10, 10}, []int64{16, 1, 3, 3}, 1, 1, 1}, // one input channel
	} {
		for _, wInt8 := range []bool{false, true} {
			xn, wn := int(shapeProduct(tc.x)), int(shapeProduct(tc.w))
			xb, wb := make([]uint8, xn), make([]uint8, wn)
			xf, wf := make([]float32, xn), make([]float32, wn)
			const zx, zw = 255, 0 // |x - zx| reaches 255
			for i := range xb {
				xb[i] = uint8(r.IntN(256))
				if i%7 == 0 {
					xb[i] = 0
				}
				xf[i] = float32(int(xb[i]) - zx)
			}
			for i := range wb {
				wb[i] = uint8(r.IntN(256))
				wf[i] = float32(int(wb[i]) - zw)
				if wInt8 {
					wf[i] = float32(int(int8(wb[i])) - zw)
				}
			}
			sp := (tc.x[2]+2*tc.pad-tc.w[2])/tc.stride + 1
			outShape := []int64{tc.x[0], tc.w[0], sp, sp}
			want := naiveConv(xf, wf, tc.x, tc.w, nil, tc.group, []int64{tc.stride, tc.stride}, []int64{1, 1}, []int64{tc.pad, tc.pad}, outShape[2:])
			xv, _ := FromSlice(xb, tc.x...)
			wv, _ := FromSlice(wb, tc.w...)
			zwv, _ := FromSlice([]uint8{zw})
			if wInt8 {
				ws := make([]int8, len(wb))
				for i, v := range wb {
					ws[i] = int8(v)
				}
				wv, _ = FromSlice(ws, tc.w...)
				zwv, _ = FromSlice([]int8{zw})
			}
			zxv, _ := FromSlice([]uint8{zx})
			g := &Graph{
				Inputs:       []ValueInfo{input("x", tensor.U8, tc.x...)},
				Outputs:      []ValueInfo{{Name: "y"}},
				Initializers: map[string]*Value{"w": wv, "zx": zxv, "zw": zwv},
				Nodes: []*Node{node("ConvInteger", []string{"x", "w", "zx", "zw"}, []string{"y"},
					ints("strides", tc.stride, tc.stride), ints("pads", tc.pad, tc.pad, tc.pad, tc.pad),
					&Attr{Name: "group", Kind: AttrInt, Int: int64(tc.group)})},
			}
			forEachQGEMMKernel(t, func(kernel string) {
				s, err := NewSession(g, map[string]int64{"": 17}, nil)
				if err != nil {
					t.Fatal(err)
				}
				for range 2 { // the second run uses the weights packed by the first
					out, err := s.Run(t.Context(), map[string]*Value{"x": xv})
					if err != nil {
						t.Fatal(err)
					}
					got := out["y"].Data.([]int32)
					for i := range got {
						if float32(got[i]) != want[i] {
							t.Fatalf("%s %v int8 w %v: y[%d] = %d, want %v", kernel, tc.x, wInt8, i, got[i], want[i])
						}
					}
				}
			})
		}
	}
}

// TestMatMulIntegerPackedWeights runs MatMulInteger with a constant B (packed once
// per session, K > 256) twice and compares both runs with the integer definition.
func TestMatMulIntegerPackedWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const m, k, n = 9, 600, 37
	a, b := make([]uint8, m*k), make([]int8, k*n)
	for i := range a {
		a[i] = uint8(r.IntN(256))
	}
	for i := range b {
		b[i] = int8(r.IntN(256) - 128)
	}
	zb := make([]int8, n)
	for j := range zb {
		zb[j] = int8(r.IntN(256) - 128)
	}
	const za = 7
	av, _ := FromSlice(a, m, k)
	bv, _ := FromSlice(b, k, n)
	zav, _ := FromSlice([]uint8{za})
	zbv, _ := FromSlice(zb, n)
	g := &Graph{
		Inputs:       []ValueInfo{input("a", tensor.U8, m, k)},
		Outputs:      []ValueInfo{{Name: "y"}},
		Initializers: map[string]*Value{"b": bv, "za": zav, "zb": zbv},
		Nodes:        []*Node{node("MatMulInteger", []string{"a", "b", "za", "zb"}, []string{"y"})},
	}
	s, err := NewSession(g, map[string]int64{"": 17}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for run := range 2 {
		out, err := s.Run(t.Context(), map[string]*Value{"a": av})
		if err != nil {
			t.Fatal(err)
		}
		got := out["y"].Data.([]int32)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				var want int32
				for p := 0; p < k; p++ {
					want += (int32(a[i*k+p]) - za) * (int32(b[p*n+j]) - int32(zb[j]))
				}
				if got[i*n+j] != want {
					t.Fatalf("run %d: y[%d][%d] = %d, want %d", run, i, j, got[i*n+j], want)
				}
			}
		}
	}
}

// TestConvIntegerNonPlanar runs 1-D and 3-D ConvInteger (the general tap-offset
// im2col, not the padded 2-D one) with every kernel against the float Conv of the
// same small integers (exact in float32).
func TestConvIntegerNonPlanar(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, tc := range []struct {
		x, w []int64
		pads []int64
	}{
		{[]int64{2, 8, 13}, []int64{8, 8, 3}, []int64{1, 2}},
		{[]int64{1, 4, 5, 6, 7}, []int64{8, 4, 2, 3, 3}, []int64{0, 1, 1, 1, 0, 1}},
	} {
		const zx = 3
		xb := bytesIn[uint8](r, int(shapeProduct(tc.x)), 0, 20)
		wb := bytesIn[int8](r, int(shapeProduct(tc.w)), -5, 5)
		xf, wf := make([]float32, len(xb)), make([]float32, len(wb))
		for i, v := range xb {
			xf[i] = float32(int(v) - zx)
		}
		for i, v := range wb {
			wf[i] = float32(v)
		}
		attrs := map[string]*Attr{"pads": ints("pads", tc.pads...)}
		want, err := runOp("", "Conv", 13, attrs, 1, mustValue(t, xf, tc.x...), mustValue(t, wf, tc.w...))
		if err != nil {
			t.Fatal(err)
		}
		forEachQGEMMKernel(t, func(kernel string) {
			got, err := runOp("", "ConvInteger", 10, attrs, 1, mustValue(t, xb, tc.x...), mustValue(t, wb, tc.w...), Scalar[uint8](zx), Scalar[int8](0))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[0].Shape, want[0].Shape) {
				t.Fatalf("%s %v: shape %v, want %v", kernel, tc.x, got[0].Shape, want[0].Shape)
			}
			for i, v := range got[0].Data.([]int32) {
				if float32(v) != want[0].Float32s()[i] {
					t.Fatalf("%s %v: y[%d] = %d, want %v", kernel, tc.x, i, v, want[0].Float32s()[i])
				}
			}
		})
	}
}
