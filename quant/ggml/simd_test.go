package ggml

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// TestSIMDMatchesScalar checks that the vector candidate search gives the scalar code's
// bytes for every type, with and without an importance matrix, on inputs that reach its
// corner cases: constant and zero groups, outliers, tiny values and non-finite values.
func TestSIMDMatchesScalar(t *testing.T) {
	if !haveSIMD {
		t.Skip("no vector kernels on this CPU")
	}
	const nrows, rowLen = 4, 512
	r := rand.New(rand.NewPCG(11, 3))
	inputs := map[string]func(i int) float32{
		"normal":   func(int) float32 { return float32(r.NormFloat64()) },
		"positive": func(int) float32 { return float32(r.Float64() + 0.5) },
		"integers": func(int) float32 { return float32(r.IntN(5) - 2) },
		"outliers": func(int) float32 {
			if r.IntN(50) == 0 {
				return float32(r.NormFloat64() * 100)
			}
			return float32(r.NormFloat64() * 0.01)
		},
		"tiny-and-flat": func(i int) float32 {
			if i%512 < 96 {
				return 0
			}
			if i%512 < 200 {
				return 0.25
			}
			return float32(r.NormFloat64() * 1e-20)
		},
		"nonfinite": func(i int) float32 {
			if i%97 == 5 {
				return []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 3e38}[i%4]
			}
			return float32(r.NormFloat64())
		},
	}
	im := randomRows(5, rowLen)
	for i := range im {
		im[i] *= im[i]
	}
	for name, gen := range inputs {
		x := make([]float32, nrows*rowLen)
		for i := range x {
			x[i] = gen(i)
		}
		for _, d := range Types() {
			for _, w := range [][]float32{nil, im} {
				if w != nil && !UsesImatrix(d) || w == nil && RequiresImatrix(d) || searchesGrid(d) && checkGridInput(d, x, w) != nil {
					continue
				}
				rs, _ := RowSize(d, rowLen)
				vec, scalar := make([]byte, nrows*rs), make([]byte, nrows*rs)
				if err := QuantizeRows(d, vec, x, nrows, rowLen, w, 0); err != nil {
					t.Fatal(err)
				}
				useSIMD = false
				err := QuantizeRows(d, scalar, x, nrows, rowLen, w, 0)
				useSIMD = true
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(vec, scalar) {
					t.Errorf("%s %v (imatrix %v): %s", name, d, w != nil, firstDiff(d, vec, scalar))
				}
			}
		}
	}
}

// TestRoundingKernels checks the Q8_0 and Q4_0 kernels against the scalar conversions
// on values at and next to rounding halves, range limits and non-finite values.
func TestRoundingKernels(t *testing.T) {
	if !haveSIMD {
		t.Skip("no vector kernels on this CPU")
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	edges := []float32{0, float32(math.Copysign(0, -1)), 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997,
		127.5, -127.5, 128.5, -128.5, 200, -129, 255.5, 256, 3e9, -3e9, 8388607.5, 16777217, 1e-40, -7.5, 7.49,
		-8.5, -8.50001, 6.5, 7.5, nan, inf, -inf}
	for _, id := range []float32{1, 0.5, 0, 63.5, inf} {
		for off := range edges {
			var x [32]float32
			for j := range x {
				x[j] = edges[(off+j)%len(edges)]
			}
			var got8, got4 [32]byte
			q8RoundAVX2(&x[0], id, &got8[0])
			q40AVX2(&x[0], id, &got4[0])
			for j, v := range x {
				if want := uint8(int8(cvtt(roundf(v * id)))); got8[j] != want {
					t.Fatalf("q8: %v*%v: got %#x, want %#x", v, id, got8[j], want)
				}
			}
			for _, c := range []struct {
				min, bias float32
				cap       int32
			}{{0, 16.5, 31}, {-3, 0.5, 15}, {1.5, 0.5, math.MaxInt32}, {0, 8.5, 15}} {
				var lv [32]byte
				qLevelsAVX2(&x[0], c.min, id, c.bias, c.cap, &lv[0])
				for j, v := range x {
					want := uint8(int32(cmin(int(c.cap), int(int8(cvtt(float32((v-c.min)*id)+c.bias))))))
					if c.cap == math.MaxInt32 {
						want = uint8(cvtt(float32((v-c.min)*id) + c.bias))
					}
					if lv[j] != want {
						t.Fatalf("levels %+v: %v times %v: got %#x, want %#x", c, v, id, lv[j], want)
					}
				}
			}
			if min, max := minMax32(x[:]); true {
				wmin, wmax := minMax(x[:])
				if math.Float32bits(min) != math.Float32bits(wmin) || math.Float32bits(max) != math.Float32bits(wmax) {
					t.Fatalf("minMax32(%v) = %v, %v, want %v, %v", x, min, max, wmin, wmax)
				}
			}
			for j := range 16 {
				xi0 := cmin(15, int(int8(cvtt(float32(x[j]*id)+8.5))))
				xi1 := cmin(15, int(int8(cvtt(float32(x[j+16]*id)+8.5))))
				if want := uint8(xi0) | uint8(xi1)<<4; got4[j] != want {
					t.Fatalf("q4_0: %v, %v times %v: got %#x, want %#x", x[j], x[j+16], id, got4[j], want)
				}
			}
		}
	}
}

// TestMinMaxZeros checks that minMax32 keeps the scalar fold's zero when +0 and -0 are
// both the least (or greatest) value.
func TestMinMaxZeros(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	for _, first := range []float32{0, negZero} {
		for _, rest := range []float32{1, -1, 0} {
			var x [32]float32
			for j := range x {
				x[j] = rest
			}
			x[3], x[20] = first, -first
			if first == 0 && math.Signbit(float64(first)) {
				x[20] = 0
			}
			min, max := minMax32(x[:])
			wmin, wmax := minMax(x[:])
			if math.Float32bits(min) != math.Float32bits(wmin) || math.Float32bits(max) != math.Float32bits(wmax) {
				t.Errorf("%v: got %v, %v, want %v, %v", x, min, max, wmin, wmax)
			}
		}
	}
}

// TestAbsMaxKernel checks absMax32AVX2 against the scalar folds it replaces.
func TestAbsMaxKernel(t *testing.T) {
	if !haveSIMD {
		t.Skip("no vector kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(3, 9))
	nan := float32(math.NaN())
	pool := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 2, -2, 0.5, nan, float32(math.Inf(1)), float32(math.Inf(-1)), 1e-40}
	for trial := range 5000 {
		var x [32]float32
		for j := range x {
			switch trial % 4 {
			case 0:
				x[j] = pool[r.IntN(len(pool))]
			case 1:
				x[j] = nan
			default:
				x[j] = float32(r.NormFloat64())
			}
		}
		if trial%4 == 1 {
			x[r.IntN(32)] = pool[r.IntN(len(pool))]
		}
		amax, first, hasNaN := absMax32AVX2(&x[0])
		var wantAmax, fold float32
		wantNaN := false
		for _, v := range x {
			if wantAmax < fabsf(v) {
				wantAmax = fabsf(v)
			}
			fold = cmax(fold, fabsf(v))
			wantNaN = wantNaN || v != v
		}
		if amax != wantAmax || hasNaN != wantNaN {
			t.Fatalf("%v: got amax %v nan %v, want %v %v", x, amax, hasNaN, wantAmax, wantNaN)
		}
		if !wantNaN && amax != fold {
			t.Fatalf("%v: amax %v, MAX fold %v", x, amax, fold)
		}
		if want := absMaxSigned(x[:]); amax != 0 && math.Float32bits(x[first]) != math.Float32bits(want) {
			t.Fatalf("%v: x[first] = %v, absMaxSigned %v", x, x[first], want)
		}
		amax16, first16, _ := absMax16AVX2(&x[0])
		if want := absMaxSigned(x[:16]); amax16 != 0 && math.Float32bits(x[first16]) != math.Float32bits(want) ||
			amax16 == 0 && want != 0 {
			t.Fatalf("%v: 16 values: x[first] = %v, absMaxSigned %v", x[:16], x[first16], want)
		}
	}
}

// TestHalfKernels checks the F16 and BF16 conversions against the scalar ones bit for
// bit, over random bit patterns (every class: zeros, subnormals, normals, rounding
// ties, overflow, infinities, NaNs with payloads) at lengths that leave scalar tails.
func TestHalfKernels(t *testing.T) {
	if !haveSIMD {
		t.Skip("no vector kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(8, 8))
	edges := []uint32{0, 0x80000000, 1, 0x00800000, 0x33000000, 0x33000001, 0x387fe000, 0x38800000, 0x477fe000,
		0x477ff000, 0x477fefff, 0x47800000, 0x7f800000, 0xff800000, 0x7f800001, 0x7fc00000, 0xffffffff, 0x7f7fffff,
		0x3f808000, 0x3f818000, 0x3f80ffff, 0x00007fff, 0x7fff8000, 0x3fff8000}
	for _, n := range []int{4096, 4095, 17, 8, 3} {
		x := make([]float32, n)
		for i := range x {
			b := r.Uint32()
			switch i % 4 {
			case 0:
				b = edges[r.IntN(len(edges))]
			case 1:
				b = b&0x807fffff | uint32(100+r.IntN(60))<<23 // near binary16's range
			}
			x[i] = math.Float32frombits(b)
		}
		for _, d := range []struct {
			name   string
			q      rowQuantizer
			scalar func(float32) uint16
		}{{"F16", quantizeF16, fp16}, {"BF16", quantizeBF16, func(f float32) uint16 { return tensor.F32ToBF16(f) }}} {
			y := make([]byte, 2*n)
			d.q(y, x, nil)
			for i, v := range x {
				if got, want := binary.LittleEndian.Uint16(y[2*i:]), d.scalar(v); got != want {
					t.Fatalf("%s n %d: %#08x: got %#04x, want %#04x", d.name, n, math.Float32bits(v), got, want)
				}
			}
		}
	}
}

// FuzzSIMDMatchesScalar checks that the vector kernels give the scalar code's bytes for
// fuzzed rows: raw float32 bit patterns (NaN, infinities, subnormals, huge values) or
// small integers times a fuzzed scale (ties, equal values, zero groups).
func FuzzSIMDMatchesScalar(f *testing.F) {
	f.Add(make([]byte, 1024), uint8(0), float32(1))
	f.Add(bytes.Repeat([]byte{0x00, 0x00, 0xc0, 0x7f}, 256), uint8(3), float32(1))
	f.Add(bytes.Repeat([]byte{0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0x7f, 0x7f}, 128), uint8(1), float32(0.01))
	f.Add(bytes.Repeat([]byte{3, 250, 7, 0, 128, 5, 9, 200}, 64), uint8(0x81), float32(0.5))
	types := Types()
	f.Fuzz(func(t *testing.T, b []byte, mode uint8, scale float32) {
		if !haveSIMD {
			t.Skip("no vector kernels on this CPU")
		}
		const rowLen = 256
		x := make([]float32, rowLen)
		for i := range x {
			if mode&1 == 0 {
				if 4*i+4 <= len(b) {
					x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
				}
			} else if i < len(b) {
				x[i] = float32(int8(b[i])) * scale
			}
		}
		var im []float32
		if mode&0x80 != 0 {
			im = make([]float32, rowLen)
			for i := range im {
				im[i] = fabsf(x[(i*7+3)%rowLen])
			}
		}
		for _, d := range types {
			if im == nil && RequiresImatrix(d) || searchesGrid(d) && checkGridInput(d, x, im) != nil {
				continue
			}
			rs, _ := RowSize(d, rowLen)
			vec, scalar := make([]byte, rs), make([]byte, rs)
			if err := QuantizeRows(d, vec, x, 1, rowLen, im, 0); err != nil {
				t.Fatal(err)
			}
			useSIMD = false
			err := QuantizeRows(d, scalar, x, 1, rowLen, im, 0)
			useSIMD = true
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(vec, scalar) {
				t.Fatalf("%v (imatrix %v): %s", d, im != nil, firstDiff(d, vec, scalar))
			}
		}
	})
}

// TestNeighbourKernel checks the vector neighbour search against the scalar loop on
// every i-quant grid, for random points and scales and for ties (scale 0 and points
// whose neighbours are all equally far), which must go to the first neighbour listed.
func TestNeighbourKernel(t *testing.T) {
	if !haveSIMD {
		t.Skip("no vector kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(4, 8))
	for _, d := range []tensor.DType{tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_S, tensor.IQ3_XXS, tensor.IQ3_S} {
		g := iqGridFor(d)
		checked := 0
		for u := range g.kmap {
			if g.kmap[u] >= 0 {
				continue
			}
			nb := g.neighbours(u)
			if len(nb) < 8 {
				continue
			}
			for trial := range 4 {
				x, w := make([]float32, g.dim), make([]float32, g.dim)
				scale := float32(r.Float64()*2 + 0.1)
				for i := range x {
					x[i] = float32(r.Float64() * 5)
					w[i] = float32(r.ExpFloat64())
					switch trial {
					case 1: // every neighbour equally far
						scale = 0
					case 2: // small integers: many exact ties
						x[i], w[i], scale = float32(r.IntN(4)*2+1), 1, 1
					}
				}
				if got, want := g.bestNeighbourSIMD(nb, x, w, scale), g.bestNeighbourGo(nb, x, w, scale); got != want {
					t.Fatalf("%v point %#x (%d neighbours) x %v w %v scale %v: got %d, want %d", d, u, len(nb), x, w, scale, got, want)
				}
				checked++
			}
		}
		if checked == 0 {
			t.Errorf("%v: no off-grid point with 8 or more neighbours", d)
		}
	}
}

// TestIQ3BatchKernel checks iq3BatchAVX2 lane by lane against project and oddLevelSums
// on both IQ3 grids: random groups (most points fall off the grid, some with lists of
// several steps), exact ties (small odd integers, unit weights), zero weights, and
// scales so large that every distance overflows, where the first neighbour listed wins.
func TestIQ3BatchKernel(t *testing.T) {
	if !haveSIMD {
		t.Skip("no vector kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(6, 2))
	for _, d := range []tensor.DType{tensor.IQ3_XXS, tensor.IQ3_S} {
		g := iqGridFor(d)
		multi := 0
		for trial := range 3000 {
			var xval, waux, weight [32]float32
			var max float32
			for i := range xval {
				xval[i] = float32(r.Float64() * 3)
				weight[i] = float32(r.ExpFloat64())
				switch trial % 5 {
				case 1:
					xval[i], weight[i] = float32(r.IntN(8)*2+1), 1
				case 2:
					if r.IntN(3) == 0 {
						weight[i] = 0
					}
				case 3:
					weight[i] = 3e38
				}
				waux[i] = sqrtf(weight[i])
				max = cmax(max, xval[i])
			}
			var id, sc [8]float32
			for k := range id {
				id[k] = (15 + float32(float32(r.IntN(31)-15)*0.2)) / max
				if trial%5 == 4 {
					id[k] = float32(r.Float64()*0.5 + 1e-3)
				}
				sc[k] = 1 / id[k]
			}
			var lt [32][8]int32
			var sums [16]float32
			on := iq3BatchAVX2(&g.soa, &xval, &waux, &weight, &id, &sc, &lt, &sums)
			for k := range 8 {
				var L [32]int8
				for grp := range 8 {
					_, onGrid := g.project(xval[4*grp:4*grp+4], waux[4*grp:], id[k], sc[k], L[4*grp:])
					if !onGrid && (g.soa.infoS[packLevelsOf(g, xval[4*grp:], id[k])]&0xff) > 1 {
						multi++
					}
					if got := on>>(8*grp+k)&1 != 0; got != onGrid {
						t.Fatalf("%v trial %d lane %d group %d: on grid %v, want %v", d, trial, k, grp, got, onGrid)
					}
				}
				for i := range L {
					if int32(L[i]) != lt[i][k] {
						t.Fatalf("%v trial %d lane %d: levels %v, want %v", d, trial, k, column(&lt, k), L)
					}
				}
				sumqx, sumq2 := oddLevelSums(weight[:], xval[:], L[:])
				if math.Float32bits(sumqx) != math.Float32bits(sums[k]) || math.Float32bits(sumq2) != math.Float32bits(sums[8+k]) {
					t.Fatalf("%v trial %d lane %d: sums %v %v, want %v %v", d, trial, k, sums[k], sums[8+k], sumqx, sumq2)
				}
			}
		}
		if multi == 0 {
			t.Errorf("%v: no neighbour list of more than one step reached", d)
		}
	}
}

// packLevelsOf is the packed point project rounds xval to at inverse scale id.
func packLevelsOf(g *iqGrid, xval []float32, id float32) int {
	u := 0
	for i := range g.dim {
		l := cmax(0, cmin(g.kmax, nearestInt(0.5*(float32(id*xval[i])-1))))
		u |= l << (g.bits * uint(i))
	}
	return u
}

func column(lt *[32][8]int32, k int) []int32 {
	c := make([]int32, 32)
	for i := range c {
		c[i] = lt[i][k]
	}
	return c
}

// BenchmarkIQ3Batch times eight candidates of the IQ3_S scale search on one group of 32
// normal values: iq3BatchAVX2 ("simd") against project and oddLevelSums per candidate
// ("go", which still measures lists of 8 or more neighbours with neighbourD2AVX2).
// AMD EPYC (Zen 4) dev VM, load ~12, GOMAXPROCS 1: simd 3.3 µs, go 12.9 µs per 8 candidates.
func BenchmarkIQ3Batch(b *testing.B) {
	g := iqGridFor(tensor.IQ3_S)
	r := rand.New(rand.NewPCG(1, 1))
	var xval, waux, weight [32]float32
	var max float32
	for i := range xval {
		xval[i] = float32(math.Abs(r.NormFloat64()))
		weight[i] = float32(r.ExpFloat64())
		waux[i] = sqrtf(weight[i])
		max = cmax(max, xval[i])
	}
	var id, sc [8]float32
	for k := range id {
		id[k] = (15 + float32(float32(k-4)*0.2)) / max
		sc[k] = 1 / id[k]
	}
	var lt [32][8]int32
	var sums [16]float32
	b.Run("simd", func(b *testing.B) {
		if !haveSIMD {
			b.Skip("no vector kernels on this CPU")
		}
		for b.Loop() {
			iq3BatchAVX2(&g.soa, &xval, &waux, &weight, &id, &sc, &lt, &sums)
		}
	})
	b.Run("go", func(b *testing.B) {
		var L [32]int8
		for b.Loop() {
			for k := range 8 {
				for grp := range 8 {
					g.project(xval[4*grp:4*grp+4], waux[4*grp:], id[k], sc[k], L[4*grp:])
				}
				sums[k], sums[8+k] = oddLevelSums(weight[:], xval[:], L[:])
			}
		}
	})
}

// TestIQ2BatchKernel is TestIQ3BatchKernel for iq2BatchAVX2 on the three IQ2 grids, with
// 2 and 4 groups of 8.
func TestIQ2BatchKernel(t *testing.T) {
	if !haveSIMD {
		t.Skip("no vector kernels on this CPU")
	}
	r := rand.New(rand.NewPCG(7, 3))
	for _, d := range []tensor.DType{tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S} {
		g := iqGridFor(d)
		multi := 0
		for trial := range 2000 {
			ngroups := 2 + 2*(trial%2)
			n := 8 * ngroups
			var xval, waux, weight [32]float32
			var max float32
			for i := range n {
				xval[i] = float32(r.Float64() * 3)
				weight[i] = float32(r.ExpFloat64())
				switch trial % 5 {
				case 1:
					xval[i], weight[i] = float32(r.IntN(3)*2+1), 1
				case 2:
					if r.IntN(3) == 0 {
						weight[i] = 0
					}
				case 3:
					weight[i] = 3e38
				}
				waux[i] = sqrtf(weight[i])
				max = cmax(max, xval[i])
			}
			var id, sc [8]float32
			for k := range id {
				id[k] = (5 + float32(float32(r.IntN(19)-9)*0.1)) / max
				if trial%5 == 4 {
					id[k] = float32(r.Float64()*0.5 + 1e-3)
				}
				sc[k] = 1 / id[k]
			}
			var lt [32][8]int32
			var sums [16]float32
			on := iq2BatchAVX2(&g.soa2, &xval[0], &waux[0], &weight[0], ngroups, &id, &sc, &lt, &sums)
			for k := range 8 {
				var L [32]int8
				for grp := range ngroups {
					_, onGrid := g.project(xval[8*grp:8*grp+8], waux[8*grp:], id[k], sc[k], L[8*grp:])
					if !onGrid && (g.soa2.infoS[packLevelsOf(g, xval[8*grp:], id[k])]&0xff) > 1 {
						multi++
					}
					if got := on>>(8*grp+k)&1 != 0; got != onGrid {
						t.Fatalf("%v trial %d lane %d group %d: on grid %v, want %v", d, trial, k, grp, got, onGrid)
					}
				}
				for i := range n {
					if int32(L[i]) != lt[i][k] {
						t.Fatalf("%v trial %d lane %d: levels %v, want %v", d, trial, k, column(&lt, k)[:n], L[:n])
					}
				}
				sumqx, sumq2 := oddLevelSums(weight[:n], xval[:n], L[:n])
				if math.Float32bits(sumqx) != math.Float32bits(sums[k]) || math.Float32bits(sumq2) != math.Float32bits(sums[8+k]) {
					t.Fatalf("%v trial %d lane %d: sums %v %v, want %v %v", d, trial, k, sums[k], sums[8+k], sumqx, sumq2)
				}
			}
		}
		if multi == 0 {
			t.Errorf("%v: no neighbour list of more than one step reached", d)
		}
	}
}

// BenchmarkIQ2Batch is BenchmarkIQ3Batch for the IQ2_XS search (2 groups of 8 values):
// iq2BatchAVX2 ("simd") against project and oddLevelSums per candidate ("go").
// AMD EPYC (Zen 4) dev VM, load ~15, GOMAXPROCS 1: simd 8.6 µs, go 19.6 µs per 8 candidates
// (BenchmarkIQ3Batch in the same run: 6.6 and 23.2; the machine was shared).
func BenchmarkIQ2Batch(b *testing.B) {
	g := iqGridFor(tensor.IQ2_XS)
	r := rand.New(rand.NewPCG(1, 1))
	var xval, waux, weight [32]float32
	var max float32
	for i := range 16 {
		xval[i] = float32(math.Abs(r.NormFloat64()))
		weight[i] = float32(r.ExpFloat64())
		waux[i] = sqrtf(weight[i])
		max = cmax(max, xval[i])
	}
	var id, sc [8]float32
	for k := range id {
		id[k] = (5 + float32(float32(k-4)*0.1)) / max
		sc[k] = 1 / id[k]
	}
	var lt [32][8]int32
	var sums [16]float32
	b.Run("simd", func(b *testing.B) {
		if !haveSIMD {
			b.Skip("no vector kernels on this CPU")
		}
		for b.Loop() {
			iq2BatchAVX2(&g.soa2, &xval[0], &waux[0], &weight[0], 2, &id, &sc, &lt, &sums)
		}
	})
	b.Run("go", func(b *testing.B) {
		var L [16]int8
		for b.Loop() {
			for k := range 8 {
				for grp := range 2 {
					g.project(xval[8*grp:8*grp+8], waux[8*grp:], id[k], sc[k], L[8*grp:])
				}
				sums[k], sums[8+k] = oddLevelSums(weight[:16], xval[:16], L[:])
			}
		}
	})
}
