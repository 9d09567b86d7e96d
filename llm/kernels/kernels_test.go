package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// kernelCase is one weight type with its kernel and activation form.
type kernelCase struct {
	dtype  tensor.DType
	q8K    bool
	dot0   func([]byte, *Q8_0) float32
	dotK   func([]byte, *Q8K) float32
	scales []int // byte offsets of float16 fields in a block, set to sane values
}

var cases = []kernelCase{
	{dtype: tensor.Q8_0, dot0: DotQ8_0, scales: []int{0}},
	{dtype: tensor.Q4_0, dot0: DotQ4_0, scales: []int{0}},
	{dtype: tensor.Q4_K, q8K: true, dotK: DotQ4K, scales: []int{0, 2}},
	{dtype: tensor.Q5_K, q8K: true, dotK: DotQ5K, scales: []int{0, 2}},
	{dtype: tensor.Q6_K, q8K: true, dotK: DotQ6K, scales: []int{208}},
	{dtype: tensor.IQ4_XS, q8K: true, dotK: DotIQ4XS, scales: []int{0}},
}

// randomRow returns n values' worth of blocks of d with random bytes and float16
// scales in a normal range.
func randomRow(r *rand.Rand, d tensor.DType, n int, scales []int) []byte {
	ts, bs := d.TypeSize(), d.BlockSize()
	row := make([]byte, n/bs*ts)
	for i := range row {
		row[i] = byte(r.Uint32())
	}
	for b := 0; b < n/bs; b++ {
		for _, off := range scales {
			h := tensor.F32ToF16(float32(r.NormFloat64()) * 0.01)
			row[b*ts+off], row[b*ts+off+1] = byte(h), byte(h>>8)
		}
	}
	return row
}

func randomFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	// A block of zeros and one with a dominant negative value exercise both scale rules.
	clear(x[:32])
	x[len(x)/2+44] = -40
	return x
}

// reference is the float64 dot of the dequantized row with the activation values
// the quantized form a stands for.
func reference(t *testing.T, row []byte, d tensor.DType, act []float64) (dot, mag float64) {
	t.Helper()
	w := make([]float32, len(act))
	if err := tensor.Dequantize(w, row, d, 1); err != nil {
		t.Fatal(err)
	}
	for i, v := range w {
		dot += float64(v) * act[i]
		mag += math.Abs(float64(v) * act[i])
	}
	return dot, mag
}

// TestDotsMatchDequantized checks each kernel against the dequantized row (ggml's
// reference decoding, tensor.Dequantize) dotted in float64 with the values the
// quantized activation stands for: they agree to float32 accumulation error, so the
// kernels read the block layouts as the dequantizers do.
func TestDotsMatchDequantized(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const n = 1024
	for _, c := range cases {
		t.Run(c.dtype.String(), func(t *testing.T) {
			for trial := 0; trial < 20; trial++ {
				row := randomRow(r, c.dtype, n, c.scales)
				x := randomFloats(r, n)
				act := make([]float64, n)
				var got float32
				if c.q8K {
					var a Q8K
					QuantizeQ8K(&a, x)
					for i, q := range a.Q {
						act[i] = float64(a.D[i/QKK]) * float64(q)
					}
					got = c.dotK(row, &a)
				} else {
					var a Q8_0
					QuantizeQ8_0(&a, x)
					for i, q := range a.Q {
						act[i] = float64(a.D[i/QK8_0]) * float64(q)
					}
					got = c.dot0(row, &a)
				}
				want, mag := reference(t, row, c.dtype, act)
				if d := math.Abs(float64(got) - want); d > 1e-5*mag || math.IsNaN(float64(got)) {
					t.Fatalf("trial %d: dot %g, dequantized reference %g (difference %g, scale %g)", trial, got, want, d, mag)
				}
			}
		})
	}
}

// TestQuantizeMatchesGGML checks the activation forms against their definitions:
// Q8_K's block sums, its scale mapping the largest-magnitude value to -127, and Q8_0's
// values within half a step of x / scale.
func TestQuantizeMatchesGGML(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := randomFloats(r, 512)
	var k Q8K
	QuantizeQ8K(&k, x)
	for b := 0; b < 2; b++ {
		if b == 1 {
			if got := k.Q[len(x)/2+44]; got != -127 {
				t.Errorf("Q8_K of the largest-magnitude value is %d, want -127", got)
			}
		}
		for j := 0; j < 16; j++ {
			var s int16
			for _, v := range k.Q[b*256+j*16 : b*256+j*16+16] {
				s += int16(v)
			}
			if s != k.Sums[b*16+j] {
				t.Errorf("block %d sum %d: %d, want %d", b, j, k.Sums[b*16+j], s)
			}
		}
	}
	var q Q8_0
	QuantizeQ8_0(&q, x)
	if q.D[0] != 0 {
		t.Errorf("Q8_0 scale of a zero block %g", q.D[0])
	}
	for i, v := range x[32:] {
		i += 32
		d := q.D[i/32]
		if e := math.Abs(float64(v) - float64(d)*float64(q.Q[i])); e > 0.5*float64(d)*1.01+1e-3*float64(d)*127 {
			t.Fatalf("Q8_0 value %d: %g stands for %g (scale %g)", i, v, float64(d)*float64(q.Q[i]), d)
		}
	}
}

// BenchmarkDot times one 4096-value row product per type (the decode path's unit).
// On the 2-core AMD EPYC (Zen 4) dev VM, loaded by other jobs (best of 2), in AVX2
// assembly: Q8_0 0.62 us, Q4_0 0.68 us, Q4_K 1.4 us, Q5_K 1.2 us, Q6_K 0.62 us,
// IQ4_XS 1.0 us; the Go kernels (-tags purego): Q8_0 25 us, Q4_0 12 us, Q4_K 47 us,
// Q5_K 39 us, Q6_K 54 us, IQ4_XS 16 us.
func BenchmarkDot(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 4096
	x := randomFloats(r, n)
	var a0 Q8_0
	var aK Q8K
	QuantizeQ8_0(&a0, x)
	QuantizeQ8K(&aK, x)
	for _, c := range cases {
		row := randomRow(r, c.dtype, n, c.scales)
		b.Run(c.dtype.String(), func(b *testing.B) {
			b.SetBytes(int64(len(row)))
			var s float32
			for b.Loop() {
				if c.q8K {
					s += c.dotK(row, &aK)
				} else {
					s += c.dot0(row, &a0)
				}
			}
			_ = s
		})
	}
}

// TestAssemblyMatchesGo checks that the assembly kernels give the Go kernels' bits:
// the same integer sums, scaled and accumulated in the same order. Row lengths cover
// one block, several calls of asmChunk blocks and a partial one.
func TestAssemblyMatchesGo(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 and F16C on this CPU (or purego build): only the Go kernels run")
	}
	r := rand.New(rand.NewPCG(11, 12))
	pairs := []struct {
		c      kernelCase
		asmK   func([]byte, *Q8K) float32
		goK    func([]byte, *Q8K) float32
		asm0   func([]byte, *Q8_0) float32
		go0    func([]byte, *Q8_0) float32
		extent int
	}{
		{c: cases[0], asm0: DotQ8_0, go0: dotQ8_0Go},
		{c: cases[1], asm0: DotQ4_0, go0: dotQ4_0Go},
		{c: cases[2], asmK: DotQ4K, goK: dotQ4KGo},
		{c: cases[3], asmK: DotQ5K, goK: dotQ5KGo},
		{c: cases[4], asmK: DotQ6K, goK: dotQ6KGo},
		{c: cases[5], asmK: DotIQ4XS, goK: dotIQ4XSGo},
	}
	for _, p := range pairs {
		t.Run(p.c.dtype.String(), func(t *testing.T) {
			for _, n := range []int{256, 4096, 5120, 11008} {
				for trial := 0; trial < 10; trial++ {
					row := randomRow(r, p.c.dtype, n, p.c.scales)
					x := randomFloats(r, n)
					var got, want float32
					if p.asmK != nil {
						var a Q8K
						QuantizeQ8K(&a, x)
						got, want = p.asmK(row, &a), p.goK(row, &a)
					} else {
						var a Q8_0
						QuantizeQ8_0(&a, x)
						got, want = p.asm0(row, &a), p.go0(row, &a)
					}
					if math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("n %d trial %d: assembly %v (%#x), Go %v (%#x)", n, trial, got, math.Float32bits(got), want, math.Float32bits(want))
					}
				}
			}
		})
	}
}

// TestDequantMatchesTensor checks the fast row decoders bit for bit against
// tensor.Dequantize.
func TestDequantMatchesTensor(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 and F16C on this CPU (or purego build): rows decode through tensor.Dequantize")
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, c := range []kernelCase{cases[0], cases[2], cases[4]} {
		t.Run(c.dtype.String(), func(t *testing.T) {
			for _, n := range []int{256, 4096} {
				row := randomRow(r, c.dtype, n, c.scales)
				got, want := make([]float32, n), make([]float32, n)
				if !Dequant(got, row, c.dtype) {
					t.Fatalf("no fast decoder for %s", c.dtype)
				}
				if err := tensor.Dequantize(want, row, c.dtype, 1); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("n %d value %d: %v, tensor.Dequantize %v", n, i, got[i], want[i])
					}
				}
			}
		})
	}
	if Dequant(make([]float32, 32), make([]byte, 18), tensor.Q4_0) {
		t.Error("Dequant claims a fast decoder for Q4_0")
	}
}
