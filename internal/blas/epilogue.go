package blas

import "fmt"

// BiasRelu adds b to every element of s and, with relu, replaces the results below
// zero by +0: -0 and NaNs (of either sign) stay as they are, as in ONNX Runtime's
// Relu (MAXPS(0, v) in MLAS) and every Relu of Refit's. It is the epilogue of a
// convolution or Gemm, vectorized on amd64.
func BiasRelu(s []float32, b float32, relu bool) {
	if !relu && b == 0 {
		return
	}
	done := biasReluVec(s, b, relu)
	s = s[done:]
	if relu {
		for i, v := range s {
			s[i] = Relu(v + b)
		}
		return
	}
	for i := range s {
		s[i] += b
	}
}

// Relu is v < 0 ? 0 : v: ONNX Runtime's Relu, which keeps -0 and NaNs (of either
// sign, payloads included) as they are.
func Relu(v float32) float32 {
	if v < 0 {
		return 0
	}
	return v
}

// PoolMax is the max that every max-pool path folds a window with, in row-major
// order; it is ONNX Runtime's Max operator on two floats. A NaN wins with its bits
// unchanged, a's before b's; of equal values (-0 and +0) b, the later one, wins. As
// a fold it gives the window's first NaN, else the last of its maximal values,
// whatever the grouping (the operation is associative), so vector kernels may
// reduce in their own order as long as they keep the window's.
func PoolMax(a, b float32) float32 {
	if a > b || a != a {
		return a
	}
	return b
}

// MaxPool2x2 sets out[i] to the PoolMax fold of r0[2i], r0[2i+1], r1[2i], r1[2i+1]:
// a 2x2, stride-2 max pool over two input rows. r0 and r1 hold at least 2*len(out)
// values.
func MaxPool2x2(out, r0, r1 []float32) {
	r0, r1 = r0[:2*len(out)], r1[:2*len(out)]
	done := maxPool2x2Vec(out, r0, r1)
	for i := done; i < len(out); i++ {
		out[i] = PoolMax(PoolMax(r0[2*i], r0[2*i+1]), PoolMax(r1[2*i], r1[2*i+1]))
	}
}

// MaxPool2x2Rows is MaxPool2x2 over rows output rows of ow values in one call:
// out[r*ow+i] is the PoolMax fold of src[2r*w+2i], src[2r*w+2i+1],
// src[(2r+1)*w+2i] and src[(2r+1)*w+2i+1]. Small images (MNIST's 14 x 14) would
// spend their time in per-row calls; planes of even height stored one after the
// other are one call. out must not overlap src.
func MaxPool2x2Rows(out, src []float32, w, rows, ow int) {
	if rows <= 0 || ow <= 0 {
		return
	}
	if 2*ow > w {
		panic(fmt.Sprintf("blas: MaxPool2x2Rows: %d outputs from rows of %d", ow, w))
	}
	out, src = out[:rows*ow], src[:(2*rows-1)*w+2*ow]
	if maxPool2x2RowsVec(out, src, w, rows, ow) {
		return
	}
	for r := 0; r < rows; r++ {
		// The last row may end at its last window (src's documented length).
		MaxPool2x2(out[r*ow:(r+1)*ow], src[2*r*w:2*r*w+2*ow], src[(2*r+1)*w:(2*r+1)*w+2*ow])
	}
}

// MaxPool3S2 sets out[i] to the PoolMax fold, row by row, of src[r*w+2i],
// src[r*w+2i+1] and src[r*w+2i+2] over the rows r < rows: the unclipped columns of
// a max pool with windows 3 wide at stride 2 (ResNet's 3x3 stride-2 pool), all its
// rows in one call. out must not overlap src.
func MaxPool3S2(out, src []float32, w, rows int) {
	if len(out) == 0 || rows <= 0 {
		return
	}
	if 2*len(out)+1 > w && rows > 1 {
		panic(fmt.Sprintf("blas: MaxPool3S2: %d outputs from rows of %d", len(out), w))
	}
	last := (rows - 1) * w
	_ = src[last+2*len(out)] // the vector path may read one value further when src has it
	done := maxPool3s2Vec(out, src, w, rows, len(src)-last)
	for i := done; i < len(out); i++ {
		var v float32
		for r := 0; r < rows; r++ {
			s := src[r*w+2*i : r*w+2*i+3 : r*w+2*i+3]
			m := PoolMax(PoolMax(s[0], s[1]), s[2])
			if r > 0 {
				m = PoolMax(v, m)
			}
			v = m
		}
		out[i] = v
	}
}

// Quantize8 sets dst[i] to src[i]/s rounded half to even, clamped to [lo-z, hi-z]
// first, plus z: QuantizeLinear into 8 bits (dst holds int8 bit patterns when
// signed). lo, hi and z are integers with lo <= z <= hi inside the 8-bit type's
// range; a NaN quotient gives z. src holds at least len(dst) values.
func Quantize8(dst []byte, src []float32, s float32, lo, hi, z int32, signed bool) {
	src = src[:len(dst)]
	flo, fhi, fz := float32(lo-z), float32(hi-z), float32(z)
	done := quantize8Vec(dst, src, s, flo, fhi, fz, signed)
	const magic = 12582912 // 1.5 * 2^23: adding and subtracting it rounds half to even
	for i := done; i < len(dst); i++ {
		r := src[i] / s
		if r != r {
			r = 0
		}
		r = min(max(r, flo), fhi)
		dst[i] = byte(int32((r + magic) - magic + fz))
	}
}

// Elementwise operations of Arith.
const (
	OpAdd = iota
	OpSub
	OpMul
)

// Arith sets dst[i] = a[i] op b[i] for op OpAdd, OpSub or OpMul, with the same
// IEEE results as the scalar float32 operations; vectorized on amd64. a and b hold at
// least len(dst) values.
func Arith(dst, a, b []float32, op int) {
	a, b = a[:len(dst)], b[:len(dst)]
	done := arithVec(dst, a, b, op)
	dst, a, b = dst[done:], a[done:], b[done:]
	switch op {
	case OpAdd:
		for i := range dst {
			dst[i] = a[i] + b[i]
		}
	case OpSub:
		for i := range dst {
			dst[i] = a[i] - b[i]
		}
	case OpMul:
		for i := range dst {
			dst[i] = a[i] * b[i]
		}
	default:
		panic("blas: unknown Arith op")
	}
}

// SgemmPackedBBias is SgemmPackedB with alpha 1 and beta 0 followed by the epilogue
// of a layer: C = op(A)*B + bias, bias (n values) added to every row, and with relu
// the negative results cleared as BiasRelu does. Each tile gets its bias while it
// is in cache, after the last k block, so C holds the product rounded as
// SgemmPackedB leaves it plus bias rounded once: the same values as a separate
// bias pass.
func SgemmPackedBBias(threads int, transA bool, m int, a []float32, lda int, p *PackedB, bias []float32, relu bool, c []float32, ldc int) {
	if p.nr != kernel.nr {
		panic("blas: PackedB packed for another kernel")
	}
	if len(bias) != p.n {
		panic(fmt.Sprintf("blas: bias has %d values, want %d", len(bias), p.n))
	}
	checkMatrix("A", transA, m, p.k, a, lda)
	checkMatrix("C", false, m, p.n, c, ldc)
	if p.k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+p.n])
		}
		biasRows(c, ldc, m, bias, relu)
		return
	}
	g := gemm{threads: threads, transA: transA, m: m, n: p.n, k: p.k, alpha: 1, a: a, lda: lda,
		packed: p, c: c, ldc: ldc, bias: bias, relu: relu}
	g.do()
}

// biasRows adds bias to the first len(bias) values of each of rows rows of c (row
// stride ldc) and with relu applies Relu to the sums.
func biasRows(c []float32, ldc, rows int, bias []float32, relu bool) {
	if rows == 0 || len(bias) == 0 {
		return
	}
	_ = c[(rows-1)*ldc+len(bias)-1]
	if len(bias) == 16 && biasRows16Vec(c, ldc, rows, bias, relu) {
		return
	}
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+len(bias)]
		for j, b := range bias {
			v := row[j] + b
			if relu {
				v = Relu(v)
			}
			row[j] = v
		}
	}
}

// biasKernelFunc computes a full tile as kernelFunc does with alpha 1, then adds
// bias (nr values) to each row and with relu clears the negative results, in
// registers (SgemmPackedBBias's last k block).
type biasKernelFunc func(kc int, a, b, c *float32, ldc int, beta float32, bias *float32, relu bool)
