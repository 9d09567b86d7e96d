package onnxq

import (
	"math"

	"github.com/refit-ml/refit/internal/parallel"
)

// blocked is a weight W [N, K] quantized in blocks of g consecutive k per row n:
// W[n,k] ~ (q[n,k] - zp[n,b]) * scale[n,b] with b = k / g.
type blocked struct {
	n, k, g, bits int
	q             []uint8   // [N, K]
	scales        []float32 // [N, blocks]
	zps           []uint8   // [N, blocks]
}

func (b *blocked) blocks() int { return (b.k + b.g - 1) / b.g }

func newBlocked(n, k, g, bits int) *blocked {
	nb := (k + g - 1) / g
	return &blocked{n: n, k: k, g: g, bits: bits, q: make([]uint8, n*k), scales: make([]float32, n*nb), zps: make([]uint8, n*nb)}
}

// blockParams returns the scale and zero point of one block of values. Asymmetric
// ranges include zero (as GPTQ's quantizer); symmetric ones use zero point
// 2^(bits-1) and scale max|x| / (2^(bits-1) - 1).
func blockParams(vals []float64, bits int, sym bool) (float32, uint8) {
	maxq := float64(int(1)<<bits - 1)
	lo, hi := 0.0, 0.0
	for _, v := range vals {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if sym {
		m := math.Max(-lo, hi)
		half := float64(int(1) << (bits - 1))
		s := float32(m / (half - 1))
		if s == 0 {
			s = 1
		}
		return s, uint8(half)
	}
	s := float32((hi - lo) / maxq)
	if s == 0 {
		s = 1
	}
	zp := math.RoundToEven(-lo / float64(s))
	return s, uint8(min(max(zp, 0), maxq))
}

// quantBlock rounds v with the given parameters; it returns the code and the value
// it stands for.
func quantBlock(v float64, scale float32, zp uint8, bits int) (uint8, float64) {
	maxq := float64(int(1)<<bits - 1)
	q := math.RoundToEven(v/float64(scale)) + float64(zp)
	q = min(max(q, 0), maxq)
	return uint8(q), float64(float32(q-float64(zp)) * scale)
}

// rtn quantizes W [N, K] (float64, row-major) to nearest per block.
func rtn(threads int, w []float64, n, k, g, bits int, sym bool) *blocked {
	b := newBlocked(n, k, g, bits)
	nb := b.blocks()
	parallel.For(threads, n, 1, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := w[r*k : (r+1)*k]
			for blk := range nb {
				a, e := blk*g, min(k, (blk+1)*g)
				s, z := blockParams(row[a:e], bits, sym)
				b.scales[r*nb+blk], b.zps[r*nb+blk] = s, z
				for i := a; i < e; i++ {
					b.q[r*k+i], _ = quantBlock(row[i], s, z, bits)
				}
			}
		}
	})
	return b
}

// dequant returns the weight the codes stand for, [N, K] float64.
func (b *blocked) dequant() []float64 {
	nb := b.blocks()
	out := make([]float64, b.n*b.k)
	for r := range b.n {
		for i := range b.k {
			j := r*nb + i/b.g
			out[r*b.k+i] = float64(float32(float64(b.q[r*b.k+i])-float64(b.zps[j])) * b.scales[j])
		}
	}
	return out
}

// packNBits lays the codes out as ONNX Runtime's MatMulNBits B [N, blocks, blob],
// least significant bits first, and the zero points as [N, ceil(blocks*bits/8)].
func (b *blocked) packNBits() (bq, zp []byte) {
	nb := b.blocks()
	blob := b.g * b.bits / 8
	bq = make([]byte, b.n*nb*blob)
	zpRow := (nb*b.bits + 7) / 8
	zp = make([]byte, b.n*zpRow)
	for r := range b.n {
		col := bq[r*nb*blob : (r+1)*nb*blob]
		for i := range b.k {
			bit := i * b.bits
			col[bit/8] |= b.q[r*b.k+i] << (bit % 8)
		}
		for blk := range nb {
			bit := blk * b.bits
			zp[r*zpRow+bit/8] |= b.zps[r*nb+blk] << (bit % 8)
		}
	}
	return bq, zp
}

// relErr is ||a - b|| / ||b||.
func relErr(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		d := a[i] - b[i]
		num += d * d
		den += b[i] * b[i]
	}
	if den == 0 {
		return 0
	}
	return math.Sqrt(num / den)
}

// outputErr is sum_n d_n^T G d_n with d = a - b: the squared output error of the
// weight difference over the calibration inputs whose Gram matrix is G [K, K].
func outputErr(threads int, a, b []float64, n, k int, gram []float64) float64 {
	parts := make([]float64, n)
	parallel.For(threads, n, 1, func(lo, hi int) {
		d := make([]float64, k)
		for r := lo; r < hi; r++ {
			for i := range k {
				d[i] = a[r*k+i] - b[r*k+i]
			}
			s := 0.0
			for i, di := range d {
				if di == 0 {
					continue
				}
				gi := gram[i*k : (i+1)*k]
				t := 0.0
				for j, dj := range d {
					t += gi[j] * dj
				}
				s += di * t
			}
			parts[r] = s
		}
	})
	sum := 0.0
	for _, p := range parts {
		sum += p
	}
	return sum
}
