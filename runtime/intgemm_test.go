package runtime

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestIntMatmulExact checks the float path of the int8 products against int32
// arithmetic, with the extreme operands (|a - za| = |b - zb| = 255) that make every
// 256-step run reach its largest sum, and K not a multiple of the run length.
func TestIntMatmulExact(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range []struct{ m, n, k int }{{3, 5, 700}, {17, 33, 257}, {64, 64, 1024}, {1, 100, 4096}} {
		for _, extreme := range []bool{false, true} {
			a, b := make([]int32, s.m*s.k), make([]int32, s.k*s.n)
			for i := range a {
				a[i] = int32(r.IntN(256))
				if extreme {
					a[i] = 255
				}
			}
			for i := range b {
				b[i] = int32(r.IntN(256))
				if extreme {
					b[i] = 0
				}
			}
			za := []int32{int32(r.IntN(256))}
			zb := make([]int32, s.n) // per column
			for j := range zb {
				zb[j] = int32(r.IntN(256))
				if extreme {
					zb[j] = 255
				}
			}
			if extreme {
				za[0] = 0
			}
			want := make([]int32, s.m*s.n)
			for i := 0; i < s.m; i++ {
				for j := 0; j < s.n; j++ {
					var sum int32
					for p := 0; p < s.k; p++ {
						sum += (a[i*s.k+p] - za[0]) * (b[p*s.n+j] - zb[j])
					}
					want[i*s.n+j] = sum
				}
			}
			mm, err := newIntMatmul([]int64{int64(s.m), int64(s.k)}, []int64{int64(s.k), int64(s.n)})
			if err != nil {
				t.Fatal(err)
			}
			for _, threads := range []int{1, 2} {
				got := make([]int32, s.m*s.n)
				mm.run(threads, got, a, b, za, zb, false)
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%v extreme=%v threads=%d: C[%d] = %d, want %d", s, extreme, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkIntMatmul times the int8 product of MatMulInteger/QLinearMatMul (uint8 x
// int8, 256 x 1024 x 1024, per-column zero points) at one thread: the exact float
// path, and the int32 loop it replaces (the saturating arithmetic still uses that
// loop). On the 2-core AMD EPYC (Zen 4) dev VM, loaded (load average ~15): exact path
// 29 GOP/s of wall time, int32 loop 0.28 GOP/s.
func BenchmarkIntMatmul(b *testing.B) {
	const m, n, k = 256, 1024, 1024
	r := rand.New(rand.NewPCG(1, 2))
	a, w := make([]int32, m*k), make([]int32, k*n)
	for i := range a {
		a[i] = int32(r.IntN(256))
	}
	for i := range w {
		w[i] = int32(r.IntN(256)) - 128
	}
	zb := make([]int32, n)
	mm, _ := newIntMatmul([]int64{m, k}, []int64{k, n})
	acc := make([]int32, m*n)
	for _, path := range []string{"exact", "int32"} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				if path == "exact" {
					mm.run(1, acc, a, w, []int32{3}, zb, false)
				} else {
					mm.runInt32(1, acc, a, w, []int32{3}, zb, false)
				}
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOP/s")
		})
	}
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

// TestConvIntegerExact runs ConvInteger through both exact float paths (K <= 256:
// the float convolution; K > 256: runs of 256 through SGEMM) against the integer
// definition computed in float64, with zero points, padding, stride and groups.
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
	} {
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
		}
		sp := (tc.x[2]+2*tc.pad-tc.w[2])/tc.stride + 1
		outShape := []int64{tc.x[0], tc.w[0], sp, sp}
		want := naiveConv(xf, wf, tc.x, tc.w, nil, tc.group, []int64{tc.stride, tc.stride}, []int64{1, 1}, []int64{tc.pad, tc.pad}, outShape[2:])
		xv, _ := FromSlice(xb, tc.x...)
		wv, _ := FromSlice(wb, tc.w...)
		zxv, _ := FromSlice([]uint8{zx})
		zwv, _ := FromSlice([]uint8{zw})
		g := &Graph{
			Inputs:       []ValueInfo{input("x", tensor.U8, tc.x...)},
			Outputs:      []ValueInfo{{Name: "y"}},
			Initializers: map[string]*Value{"w": wv, "zx": zxv, "zw": zwv},
			Nodes: []*Node{node("ConvInteger", []string{"x", "w", "zx", "zw"}, []string{"y"},
				ints("strides", tc.stride, tc.stride), ints("pads", tc.pad, tc.pad, tc.pad, tc.pad),
				&Attr{Name: "group", Kind: AttrInt, Int: int64(tc.group)})},
		}
		s, err := NewSession(g, map[string]int64{"": 17}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(t.Context(), map[string]*Value{"x": xv})
		if err != nil {
			t.Fatal(err)
		}
		got := out["y"].Data.([]int32)
		for i := range got {
			if float32(got[i]) != want[i] {
				t.Fatalf("%v: y[%d] = %d, want %v", tc.x, i, got[i], want[i])
			}
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
