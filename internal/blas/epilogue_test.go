package blas

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBiasRelu compares BiasRelu with ONNX Runtime's Relu (v < 0 ? 0 : v) bit for bit, NaNs and
// signed zeros included, for lengths around the vector width.
func TestBiasRelu(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	specials := []float32{float32(math.NaN()), -float32(math.NaN()), math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc01234),
		float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1))}
	for n := 0; n < 70; n++ {
		for _, relu := range []bool{false, true} {
			for _, b := range []float32{0, 0.5, -1, float32(math.Copysign(0, -1))} {
				s := randSlice(r, n)
				for i := range s {
					if r.IntN(4) == 0 {
						s[i] = specials[r.IntN(len(specials))]
					}
				}
				want := append([]float32(nil), s...)
				for i, v := range want {
					switch {
					case !relu && b == 0: // nothing to do: -0 stays -0
					case relu:
						want[i] = v + b
						if want[i] < 0 {
							want[i] = 0 // -0 and NaNs stay
						}
					default:
						want[i] = v + b
					}
				}
				BiasRelu(s, b, relu)
				for i := range s {
					if !sameBits(s[i], want[i]) {
						t.Fatalf("n=%d relu=%v b=%v: [%d] = %v, want %v", n, relu, b, i, s[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkBiasRelu: 1 MiB of floats, L2-resident. On the 2-core AMD EPYC (Zen 4)
// dev VM, loaded: 35 GB/s at one thread (the scalar Go loop it replaces: about 1.3).
func BenchmarkBiasRelu(b *testing.B) {
	s := randSlice(rand.New(rand.NewPCG(1, 2)), 1<<18)
	b.SetBytes(4 << 18)
	for b.Loop() {
		BiasRelu(s, 0.25, true)
	}
}

// windowMax is the max-pool result PoolMax folds to, written independently: the
// first NaN of the window in row-major order, bits unchanged, else the last of its
// maximal values (-0 and +0 are equal).
func windowMax(vals ...float32) float32 {
	for _, v := range vals {
		if v != v {
			return v
		}
	}
	best := vals[0]
	for _, v := range vals[1:] {
		if v >= best {
			best = v
		}
	}
	return best
}

// poolSpecials are the values the max-pool tests scatter over their inputs: NaNs
// of both signs and several payloads (a signaling one too), infinities, both zeros.
var poolSpecials = []float32{float32(math.NaN()), math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc01234),
	math.Float32frombits(0xffc00003), math.Float32frombits(0x7f800005), float32(math.Inf(1)), float32(math.Inf(-1)),
	0, float32(math.Copysign(0, -1)), 0, float32(math.Copysign(0, -1)), 1, -1}

// sameBits reports whether a and b have the same bits (NaN payloads and zero signs
// included).
func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

// TestPoolMax checks PoolMax against windowMax on pairs and triples of specials,
// and that it is ONNX Runtime's Max: a NaN a wins, then a NaN b, ties go to b.
func TestPoolMax(t *testing.T) {
	for _, a := range poolSpecials {
		for _, b := range poolSpecials {
			if got, want := PoolMax(a, b), windowMax(a, b); !sameBits(got, want) {
				t.Fatalf("PoolMax(%#x, %#x) = %#x, want %#x", math.Float32bits(a), math.Float32bits(b), math.Float32bits(got), math.Float32bits(want))
			}
			for _, c := range poolSpecials {
				l, r := PoolMax(PoolMax(a, b), c), PoolMax(a, PoolMax(b, c))
				if !sameBits(l, r) {
					t.Fatalf("PoolMax is not associative on %#x %#x %#x: %#x, %#x", math.Float32bits(a), math.Float32bits(b), math.Float32bits(c), math.Float32bits(l), math.Float32bits(r))
				}
			}
		}
	}
}

// TestMaxPool2x2 compares MaxPool2x2 with windowMax bit for bit, NaNs and signed
// zeros included, on the vector path and with it switched off.
func TestMaxPool2x2(t *testing.T) {
	testMaxPool2x2(t)
	if setVectorEpilogues(false) {
		defer setVectorEpilogues(true)
		t.Run("scalar", testMaxPool2x2)
	}
}

func testMaxPool2x2(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for n := 0; n < 40; n++ {
		for range 4 {
			r0, r1 := randSlice(r, 2*n+3), randSlice(r, 2*n+3)
			for i := range r0 {
				if r.IntN(5) == 0 {
					r0[i] = poolSpecials[r.IntN(len(poolSpecials))]
				}
				if r.IntN(5) == 0 {
					r1[i] = poolSpecials[r.IntN(len(poolSpecials))]
				}
			}
			out := make([]float32, n)
			MaxPool2x2(out, r0, r1)
			for i := range out {
				want := windowMax(r0[2*i], r0[2*i+1], r1[2*i], r1[2*i+1])
				if !sameBits(out[i], want) {
					t.Fatalf("n=%d: out[%d] = %v (%#x), want %v (%#x)", n, i, out[i], math.Float32bits(out[i]), want, math.Float32bits(want))
				}
			}
		}
	}
}

// BenchmarkMaxPool2x2: two rows of 4096 inputs. On the 2-core AMD EPYC (Zen 4) dev VM,
// loaded: 43 GB/s of input at one thread.
func BenchmarkMaxPool2x2(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	r0, r1, out := randSlice(r, 4096), randSlice(r, 4096), make([]float32, 2048)
	b.SetBytes(2 * 4 * 4096)
	for b.Loop() {
		MaxPool2x2(out, r0, r1)
	}
}

// TestMaxPool2x2Rows compares MaxPool2x2Rows with the scalar definition on row
// lengths around the vector widths, rows with unread columns, NaNs and infinities,
// on the vector path and with it switched off.
func TestMaxPool2x2Rows(t *testing.T) {
	testMaxPool2x2Rows(t)
	if setVectorEpilogues(false) {
		defer setVectorEpilogues(true)
		t.Run("scalar", testMaxPool2x2Rows)
	}
}

func testMaxPool2x2Rows(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for ow := 1; ow < 40; ow++ {
		for _, extra := range []int{0, 1, 3} {
			for rows := 0; rows < 5; rows++ {
				w := 2*ow + extra
				src := randSlice(r, 2*rows*w+1)
				for i := range src {
					if r.IntN(4) == 0 {
						src[i] = poolSpecials[r.IntN(len(poolSpecials))]
					}
				}
				out := make([]float32, rows*ow+1)
				out[rows*ow] = 7
				MaxPool2x2Rows(out[:rows*ow], src, w, rows, ow)
				for o := 0; o < rows; o++ {
					for i := 0; i < ow; i++ {
						a, b := src[2*o*w+2*i:], src[(2*o+1)*w+2*i:]
						want, got := windowMax(a[0], a[1], b[0], b[1]), out[o*ow+i]
						if !sameBits(got, want) {
							t.Fatalf("ow=%d w=%d rows=%d: out[%d][%d] = %v (%#x), want %v (%#x)", ow, w, rows, o, i,
								got, math.Float32bits(got), want, math.Float32bits(want))
						}
					}
				}
				if out[rows*ow] != 7 {
					t.Fatalf("ow=%d w=%d rows=%d: wrote past the output", ow, w, rows)
				}
			}
		}
	}
}

// BenchmarkMaxPool2x2Rows: 32 planes of 28 x 28 (MNIST's first pool) in one call.
// On the 2-core AMD EPYC (Zen 4) dev VM, load 3.3: 1.32 us (76 GB/s of input),
// against 4.95 us for BenchmarkMaxPool2x2PerRow.
func BenchmarkMaxPool2x2Rows(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	src, out := randSlice(r, 32*28*28), make([]float32, 32*14*14)
	b.SetBytes(4 * 32 * 28 * 28)
	for b.Loop() {
		MaxPool2x2Rows(out, src, 28, 32*14, 14)
	}
}

// BenchmarkMaxPool2x2PerRow is BenchmarkMaxPool2x2Rows one MaxPool2x2 call per output
// row, as before. Same VM and load: 4.95 us (20 GB/s).
func BenchmarkMaxPool2x2PerRow(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	src, out := randSlice(r, 32*28*28), make([]float32, 32*14*14)
	b.SetBytes(4 * 32 * 28 * 28)
	for b.Loop() {
		for o := 0; o < 32*14; o++ {
			MaxPool2x2(out[o*14:(o+1)*14], src[2*o*28:(2*o+1)*28], src[(2*o+1)*28:(2*o+2)*28])
		}
	}
}

// TestMaxPool3S2 compares MaxPool3S2 bit for bit with windowMax on data full of
// NaNs (of either sign, with a payload), infinities and zeros of both signs, with
// inputs that end exactly at the last window or run further, on the vector path and
// without.
func TestMaxPool3S2(t *testing.T) {
	testMaxPool3S2(t)
	if setVectorEpilogues(false) {
		defer setVectorEpilogues(true)
		t.Run("scalar", testMaxPool3S2)
	}
}

func testMaxPool3S2(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for n := 0; n < 40; n++ {
		for rows := 1; rows <= 4; rows++ {
			for _, extra := range []int{0, 1, 4} {
				w := 2*n + 1 + extra
				src := randSlice(r, (rows-1)*w+2*n+1+extra)
				for i := range src {
					if r.IntN(4) == 0 {
						src[i] = poolSpecials[r.IntN(len(poolSpecials))]
					}
				}
				out := make([]float32, n+1)
				out[n] = 7
				MaxPool3S2(out[:n], src, w, rows)
				for i := 0; i < n; i++ {
					var win []float32
					for k := 0; k < rows; k++ {
						win = append(win, src[k*w+2*i:k*w+2*i+3]...)
					}
					want, got := windowMax(win...), out[i]
					if !sameBits(got, want) {
						t.Fatalf("n=%d rows=%d extra=%d: out[%d] = %v (%#x), want %v (%#x)", n, rows, extra, i,
							got, math.Float32bits(got), want, math.Float32bits(want))
					}
				}
				if out[n] != 7 {
					t.Fatalf("n=%d rows=%d: wrote past the output", n, rows)
				}
			}
		}
	}
}

// BenchmarkMaxPool3S2: one output row of ResNet-18's pool (3 rows of 112, 55
// unclipped outputs). On the 2-core AMD EPYC (Zen 4) dev VM, load 3.3: 43 ns with
// AVX2, 310 ns in scalar Go.
func BenchmarkMaxPool3S2(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	src, out := randSlice(r, 3*112), make([]float32, 55)
	run := func(b *testing.B) {
		b.SetBytes(4 * 3 * 112)
		for b.Loop() {
			MaxPool3S2(out, src[1:], 112, 3)
		}
	}
	b.Run("vector", run)
	if setVectorEpilogues(false) {
		defer setVectorEpilogues(true)
		b.Run("scalar", run)
	}
}

// TestExpShifted compares ExpShifted with math.Exp (relative error 1e-6) on the
// Softmax range, below the underflow bound, -Inf and NaN, and checks the sum.
func TestExpShifted(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for n := 0; n < 100; n++ {
		src := make([]float32, n)
		for i := range src {
			src[i] = -r.Float32() * 100
			switch r.IntN(20) {
			case 0:
				src[i] = float32(math.NaN())
			case 1:
				src[i] = float32(math.Inf(-1))
			case 2:
				src[i] = 0
			case 3:
				src[i] = -87.3
			}
		}
		shift := float32(0.25)
		for i := range src {
			src[i] += shift
		}
		dst := make([]float32, n)
		exp := func(x float32) float32 { return float32(math.Exp(float64(x))) }
		sum := ExpShifted(dst, src, shift, exp)
		var want float64
		for i, x := range src {
			w := math.Exp(float64(x - shift))
			if math.IsNaN(w) != math.IsNaN(float64(dst[i])) || !math.IsNaN(w) && math.Abs(float64(dst[i])-w) > 1e-6*w+1e-37 {
				t.Fatalf("n=%d: exp(%v) = %v, want %v", n, x-shift, dst[i], w)
			}
			want += w
		}
		if !math.IsNaN(want) && math.Abs(float64(sum)-want) > 1e-5*want {
			t.Fatalf("n=%d: sum %v, want %v", n, sum, want)
		}
	}
}

// BenchmarkExpShifted: one attention row of 128 scores. On the 2-core AMD EPYC (Zen 4)
// dev VM, loaded: 555-780 ns per row, against 5600-7300 for a math.Exp loop.
func BenchmarkExpShifted(b *testing.B) {
	src, dst := randSlice(rand.New(rand.NewPCG(1, 2)), 128), make([]float32, 128)
	exp := func(x float32) float32 { return float32(math.Exp(float64(x))) }
	for b.Loop() {
		ExpShifted(dst, src, 1, exp)
	}
}

// BenchmarkQuantize8: QuantizeLinear of 64K floats into uint8. On the 2-core AMD EPYC
// (Zen 4) dev VM, loaded: 2.7-3.7 GB/s of float input at one thread (VDIVPS-bound).
func BenchmarkQuantize8(b *testing.B) {
	src, dst := randSlice(rand.New(rand.NewPCG(1, 2)), 1<<16), make([]byte, 1<<16)
	b.SetBytes(4 << 16)
	for b.Loop() {
		Quantize8(dst, src, 0.01, 0, 255, 128, false)
	}
}

// TestArith compares Arith with the scalar operations bit for bit, NaNs and signed
// zeros included, for lengths around the vector widths, on the vector path and with
// it switched off.
func TestArith(t *testing.T) {
	testArith(t)
	if setVectorEpilogues(false) {
		defer setVectorEpilogues(true)
		t.Run("scalar", testArith)
	}
}

func testArith(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	specials := []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1)), 1e-40}
	for n := 0; n < 70; n++ {
		for op := OpAdd; op <= OpMul; op++ {
			a, b := randSlice(r, n), randSlice(r, n)
			for i := range a {
				if r.IntN(5) == 0 {
					a[i] = specials[r.IntN(len(specials))]
				}
				if r.IntN(5) == 0 {
					b[i] = specials[r.IntN(len(specials))]
				}
			}
			dst := make([]float32, n)
			Arith(dst, a, b, op)
			for i := range dst {
				want := [...]float32{a[i] + b[i], a[i] - b[i], a[i] * b[i]}[op]
				if math.Float32bits(dst[i]) != math.Float32bits(want) && !(math.IsNaN(float64(dst[i])) && math.IsNaN(float64(want))) {
					t.Fatalf("n=%d op=%d: [%d] = %v, want %v", n, op, i, dst[i], want)
				}
			}
		}
	}
}

// BenchmarkArith: Add of two 1 MiB float slices into a third, L2-resident, on the
// vector path and on the scalar loop. On the 2-core AMD EPYC (Zen 4) dev VM, loaded:
// vector 65 GB/s, scalar 17 GB/s (bytes read and written).
func BenchmarkArith(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	x, y, z := randSlice(r, 1<<18), randSlice(r, 1<<18), make([]float32, 1<<18)
	for _, vec := range []bool{true, false} {
		name := "vector"
		if !vec {
			name = "scalar"
		}
		b.Run(name, func(b *testing.B) {
			if !setVectorEpilogues(vec) && vec {
				b.Skip("no vector path on this CPU")
			}
			defer setVectorEpilogues(true)
			b.SetBytes(3 * 4 << 18)
			for b.Loop() {
				Arith(z, x, y, OpAdd)
			}
		})
	}
}

// TestSgemmPackedBBias: the bias and Relu epilogue inside the product gives the
// values of SgemmPackedB followed by a separate bias pass, bit for bit, for edge
// tiles, several k blocks and both thread counts.
func TestSgemmPackedBBias(t *testing.T) { eachKernel(t, testSgemmPackedBBias) }

func testSgemmPackedBBias(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct{ m, n, k int }{{1, 1, 1}, {37, 45, 300}, {128, 768, 256}, {20, 16, 0}, {16, 3, 513}} {
		for _, relu := range []bool{false, true} {
			for _, threads := range []int{1, 2} {
				a, b := randSlice(r, tc.m*tc.k), randSlice(r, tc.k*tc.n)
				bias := randSlice(r, tc.n)
				// NaNs of both signs and -0 in the bias reach the Relu as they are.
				for j, v := range []float32{math.Float32frombits(0xffc00000), math.Float32frombits(0x7fc01234), float32(math.Copysign(0, -1))} {
					if j < len(bias) {
						bias[len(bias)-1-j] = v
					}
				}
				p := PackB(false, tc.k, tc.n, b, tc.n)
				want := make([]float32, tc.m*tc.n)
				SgemmPackedB(threads, false, tc.m, 1, a, max(tc.k, 1), p, 0, want, tc.n)
				for i := 0; i < tc.m; i++ {
					row := want[i*tc.n : (i+1)*tc.n]
					for j := range row {
						row[j] += bias[j]
						if relu && row[j] < 0 {
							row[j] = 0
						}
					}
				}
				got := randSlice(r, tc.m*tc.n) // stale contents must not matter
				SgemmPackedBBias(threads, false, tc.m, a, max(tc.k, 1), p, bias, relu, got, tc.n)
				for i := range want {
					if !sameBits(got[i], want[i]) {
						t.Fatalf("%dx%dx%d relu %v, %d threads: c[%d] = %v, want %v", tc.m, tc.n, tc.k, relu, threads, i, got[i], want[i])
					}
				}
			}
		}
	}
}

// BenchmarkSgemmPackedBBias runs the transformer encoder's feed-forward products
// (128 tokens, d_model 256, 1024 hidden) with the bias and Relu epilogue, beside
// SgemmPackedB followed by a separate bias pass, at one thread. On the 2-core AMD
// EPYC (Zen 4) dev VM, load 30 (GFLOP per CPU-second): fused ffn1 106-108, ffn2
// 103-104; separate pass 105-108 and 102-103. Here the output stays hot in cache
// between iterations, so the separate pass costs little; in the transformer, where
// each product writes a fresh buffer, that pass was 4% of the run's CPU time and
// the fused epilogue removed it.
func BenchmarkSgemmPackedBBias(b *testing.B) {
	for _, s := range []struct {
		name    string
		m, n, k int
		relu    bool
	}{{"ffn1_128x1024x256", 128, 1024, 256, true}, {"ffn2_128x256x1024", 128, 256, 1024, false}} {
		r := rand.New(rand.NewPCG(1, 2))
		x, y, z := randSlice(r, s.m*s.k), randSlice(r, s.k*s.n), make([]float32, s.m*s.n)
		bias := randSlice(r, s.n)
		p := PackB(false, s.k, s.n, y, s.n)
		b.Run("fused/"+s.name, func(b *testing.B) {
			cpu0 := processCPUTime()
			for b.Loop() {
				SgemmPackedBBias(1, false, s.m, x, s.k, p, bias, s.relu, z, s.n)
			}
			reportGFLOPS(b, s.m, s.n, s.k, cpu0)
		})
		b.Run("separate/"+s.name, func(b *testing.B) {
			cpu0 := processCPUTime()
			for b.Loop() {
				SgemmPackedB(1, false, s.m, 1, x, s.k, p, 0, z, s.n)
				for i := 0; i < s.m; i++ {
					row := z[i*s.n : (i+1)*s.n]
					Arith(row, row, bias, OpAdd)
					if s.relu {
						BiasRelu(row, 0, true)
					}
				}
			}
			reportGFLOPS(b, s.m, s.n, s.k, cpu0)
		})
	}
}

// FuzzPoolKernels checks MaxPool2x2Rows, MaxPool3S2 and BiasRelu bit for bit against
// windowMax and ONNX Runtime's Relu on arbitrary float bits (every NaN payload, both
// zeros, subnormals) and shapes.
func FuzzPoolKernels(f *testing.F) {
	f.Add(uint8(5), uint8(2), uint8(1), []byte{0, 0, 0xc0, 0xff, 0, 0, 0, 0x80, 1, 0, 0x80, 0x7f, 0, 0, 0x80, 0x3f})
	f.Add(uint8(9), uint8(3), uint8(0), make([]byte, 400))
	f.Fuzz(func(t *testing.T, ow, rows, extra uint8, data []byte) {
		vals := make([]float32, len(data)/4)
		for i := range vals {
			vals[i] = math.Float32frombits(uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24)
		}
		n, rs, ex := int(ow%40)+1, int(rows%5)+1, int(extra%4)
		// 2x2 pool over rs output rows.
		if w := 2*n + ex; len(vals) >= (2*rs-1)*w+2*n {
			out := make([]float32, rs*n)
			MaxPool2x2Rows(out, vals, w, rs, n)
			for o := 0; o < rs; o++ {
				for i := 0; i < n; i++ {
					a, b := vals[2*o*w+2*i:], vals[(2*o+1)*w+2*i:]
					if want := windowMax(a[0], a[1], b[0], b[1]); !sameBits(out[o*n+i], want) {
						t.Fatalf("MaxPool2x2Rows n=%d rows=%d w=%d: out[%d][%d] = %#x, want %#x", n, rs, w, o, i,
							math.Float32bits(out[o*n+i]), math.Float32bits(want))
					}
				}
			}
		}
		// 3-wide stride-2 windows over rs rows.
		if w := 2*n + 1 + ex; len(vals) >= (rs-1)*w+2*n+1 {
			out := make([]float32, n)
			MaxPool3S2(out, vals, w, rs)
			for i := 0; i < n; i++ {
				var win []float32
				for k := 0; k < rs; k++ {
					win = append(win, vals[k*w+2*i:k*w+2*i+3]...)
				}
				if want := windowMax(win...); !sameBits(out[i], want) {
					t.Fatalf("MaxPool3S2 n=%d rows=%d w=%d: out[%d] = %#x, want %#x", n, rs, w, i, math.Float32bits(out[i]), math.Float32bits(want))
				}
			}
		}
		// Relu after a bias taken from the data.
		if len(vals) > 0 {
			b, s := vals[0], slices.Clone(vals[1:])
			BiasRelu(s, b, true)
			for i, v := range vals[1:] {
				want := v + b
				if want < 0 {
					want = 0
				}
				if v != v && b != b {
					// Two NaNs: which one an addition returns depends on its operand
					// order, which the compiler may swap; either is right.
					u := math.Float32bits(s[i])
					if u == math.Float32bits(v)|0x400000 || u == math.Float32bits(b)|0x400000 {
						continue
					}
				}
				if !sameBits(s[i], want) {
					t.Fatalf("BiasRelu(%#x + %#x) = %#x, want %#x", math.Float32bits(v), math.Float32bits(b), math.Float32bits(s[i]), math.Float32bits(want))
				}
			}
		}
	})
}
