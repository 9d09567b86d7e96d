package onnxq

import (
	"fmt"

	"github.com/refit-ml/refit"
)

// MatMulNBits quantizes a weight W [n, k] - one row per output, as MatMulNBits holds
// it (the transpose of a MatMul's right-hand side) - to bits in blocks of group
// along k, rounding to nearest exactly as WeightOnly with Algo RTN does (asymmetric
// with zero points unless symmetric), and returns MatMulNBits' inputs: B [n, blocks,
// group*bits/8], scales [n*blocks] and the zero points packed [n, ceil(blocks*bits/8)]
// (nil when symmetric: MatMulNBits' default 2^(bits-1) applies). It is for callers
// that write MatMulNBits themselves one weight at a time; threads <= 0 means
// GOMAXPROCS.
func MatMulNBits(w []float32, n, k, group, bits int, symmetric bool, threads int) (b []byte, scales []float32, zeroPoints []byte, err error) {
	if n <= 0 || k <= 0 || len(w) != n*k {
		return nil, nil, nil, fmt.Errorf("onnxq: MatMulNBits of %d values as [%d, %d]", len(w), n, k)
	}
	if bits != 2 && bits != 4 && bits != 8 {
		return nil, nil, nil, fmt.Errorf("onnxq: MatMulNBits with %d bits: %w", bits, refit.ErrUnsupported)
	}
	if group < 16 || group&(group-1) != 0 {
		return nil, nil, nil, fmt.Errorf("onnxq: block size %d must be a power of two >= 16", group)
	}
	ws := make([]float64, len(w))
	for i, v := range w {
		ws[i] = float64(v)
	}
	q := rtn(threads, ws, n, k, group, bits, symmetric)
	b, zp := q.packNBits()
	if symmetric {
		zp = nil
	}
	return b, q.scales, zp, nil
}
