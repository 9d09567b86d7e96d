package runtime

import (
	"fmt"
	"math"
	"strings"
)

// IntArith is the arithmetic of the 8-bit integer products (MatMulInteger,
// QLinearMatMul, QLinearConv and the float products of dequantized 8-bit values).
//
// ONNX defines these products as exact int32 sums, and that is what Refit computes by
// default. ONNX Runtime computes them exactly on ARM and on x86 CPUs with AVX-512 VNNI
// or AVX-VNNI, but on x86 CPUs without VNNI (AVX2, and AVX-512 without VNNI) its
// uint8 x int8 kernels use vpmaddubsw: each pair of adjacent products along K is summed
// into a saturating int16 before the int32 accumulation, so a pair such as
// 255*127 + 255*127 = 64770 becomes 32767. ONNX Runtime's quantization guide describes
// this and recommends reduce_range (7-bit weights), which keeps every pair in range.
type IntArith int

const (
	// ExactArith sums products in int32 (ONNX semantics; ONNX Runtime with VNNI or on ARM).
	ExactArith IntArith = iota
	// SaturatingPairsArith emulates ONNX Runtime's uint8 x int8 kernels on x86 CPUs
	// without VNNI: products of uint8 activations and int8 weights are summed in
	// adjacent pairs along K into a saturating int16 (pairs start at even K indices;
	// a convolution orders K as (kernel position, input channel), and padding reads the
	// input zero point, as ONNX Runtime's NHWC im2col does). Zero points are applied
	// exactly, outside the saturating sum. Other type combinations stay exact, as in
	// ONNX Runtime (uint8 x uint8 and int8 x int8 have no saturating path there).
	SaturatingPairsArith
)

func (a IntArith) String() string {
	switch a {
	case ExactArith:
		return "vnni"
	case SaturatingPairsArith:
		return "avx2"
	}
	return fmt.Sprintf("IntArith(%d)", int(a))
}

// ParseIntArith parses "vnni" (or "exact") and "avx2" (or "saturating").
func ParseIntArith(s string) (IntArith, error) {
	switch strings.ToLower(s) {
	case "vnni", "exact", "":
		return ExactArith, nil
	case "avx2", "saturating":
		return SaturatingPairsArith, nil
	}
	return 0, fmt.Errorf("runtime: unknown integer arithmetic %q (want vnni or avx2)", s)
}

// intArith is the arithmetic the call's session was created with.
func (c *Call) intArith() IntArith {
	if c.sess == nil {
		return ExactArith
	}
	return c.sess.intArith
}

// sat16 clamps a pair sum to int16, as vpmaddubsw does.
func sat16(x int32) int32 {
	return max(math.MinInt16, min(math.MaxInt16, x))
}

// pairLoss is sat16(p0+p1) - (p0+p1): what saturating one pair of products loses.
func pairLoss(p0, p1 int32) int32 {
	s := p0 + p1
	return sat16(s) - s
}

// matmulSaturation adds the saturating-pairs error to acc = (A - za)(B - zb) for
// raw A [M, K] (uint8 values) and B [K, N] (int8 values) of one batch.
func matmulSaturation(C, A, B []int32, N, K int) {
	for j := range C {
		var d int32
		for p := 0; p+1 < K; p += 2 {
			d += pairLoss(A[p]*B[p*N+j], A[p+1]*B[(p+1)*N+j])
		}
		C[j] += d
	}
}

// convSaturation adds the saturating-pairs error to one output channel's row dst of
// an integer convolution: col is the im2col matrix of x - zx (padding 0) with rows
// (channel, kernel position), w the filter's raw int8 values in the same row order,
// order the rows in ONNX Runtime's K order.
func convSaturation(dst, col, w []int32, order []int, zx int32, on int) {
	for o := range dst {
		var d int32
		for p := 0; p+1 < len(order); p += 2 {
			r0, r1 := order[p], order[p+1]
			d += pairLoss(w[r0]*(col[r0*on+o]+zx), w[r1]*(col[r1*on+o]+zx))
		}
		dst[o] += d
	}
}
