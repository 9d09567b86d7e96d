//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// biasReluAVX2 is BiasRelu on the first n values at p; n is a multiple of 16.
//
//go:noescape
func biasReluAVX2(p *float32, n int, b float32, relu bool)

var haveAVX2 = cpu.X86.HasAVX2

// biasReluVec runs the vector epilogue over a prefix of s and returns its length.
func biasReluVec(s []float32, b float32, relu bool) int {
	n := len(s) &^ 15
	if n == 0 || !haveAVX2 {
		return 0
	}
	biasReluAVX2(&s[0], n, b, relu)
	return n
}

// maxPool2x2AVX2 is MaxPool2x2 on the first n outputs; n is a multiple of 8.
//
//go:noescape
func maxPool2x2AVX2(out, r0, r1 *float32, n int)

// maxPool4AVX2 is MaxPool2x2 on exactly 4 outputs (128-bit vectors).
//
//go:noescape
func maxPool4AVX2(out, r0, r1 *float32)

// maxPool2x2Vec runs the vector pool over out and returns how many outputs it did:
// all of them when there are at least 4 (a tail shorter than a vector is redone by
// one overlapping vector; out never aliases the rows), else none.
func maxPool2x2Vec(out, r0, r1 []float32) int {
	n := len(out)
	if n < 4 || !haveAVX2 {
		return 0
	}
	_, _ = r0[2*n-1], r1[2*n-1]
	if n < 8 {
		maxPool4AVX2(&out[0], &r0[0], &r1[0])
		k := n - 4
		maxPool4AVX2(&out[k], &r0[2*k], &r1[2*k])
		return n
	}
	m := n &^ 7
	maxPool2x2AVX2(&out[0], &r0[0], &r1[0], m)
	if m < n {
		k := n - 8
		maxPool2x2AVX2(&out[k], &r0[2*k], &r1[2*k], 8)
	}
	return n
}

// maxPool2x2RowsAVX2 is MaxPool2x2Rows with ow >= 4.
//
//go:noescape
func maxPool2x2RowsAVX2(out, src *float32, w, rows, ow int)

// maxPool2x2RowsVec runs the vector pool over all rows and reports whether it did;
// the caller checked the bounds.
func maxPool2x2RowsVec(out, src []float32, w, rows, ow int) bool {
	if ow < 4 || rows == 0 || !haveAVX2 {
		return false
	}
	maxPool2x2RowsAVX2(&out[0], &src[0], w, rows, ow)
	return true
}

// maxPool3s2AVX2 is MaxPool3S2 on the first n outputs; n is a multiple of 8 and
// every row readable up to column 2n+1.
//
//go:noescape
func maxPool3s2AVX2(out, src *float32, w, rows, n int)

// maxPool3s2Vec runs the vector pool over a prefix of out and returns its length;
// avail is how many values of the last row src holds.
func maxPool3s2Vec(out, src []float32, w, rows, avail int) int {
	n := min(len(out), (avail-2)/2)
	if n < 8 || rows == 0 || !haveAVX2 {
		return 0
	}
	m := n &^ 7
	maxPool3s2AVX2(&out[0], &src[0], w, rows, m)
	if m < n {
		k := n - 8 // one overlapping block for the tail
		maxPool3s2AVX2(&out[k], &src[2*k], w, rows, 8)
	}
	return n
}

// expShiftedAVX2 is ExpShifted on the first n values; n is a multiple of 8.
//
//go:noescape
func expShiftedAVX2(dst, src *float32, n int, shift float32) float32

var haveFMA = cpu.X86.HasFMA

func expShiftedVec(dst, src []float32, shift float32) (int, float32) {
	n := len(dst) &^ 7
	if n == 0 || !haveAVX2 || !haveFMA {
		return 0, 0
	}
	_ = src[n-1]
	return n, expShiftedAVX2(&dst[0], &src[0], n, shift)
}

// expConsts are the constants of the vector exp, each repeated over eight lanes.
//
//lint:ignore U1000 read by expShiftedAVX2
var expConsts = func() (c [12][8]float32) {
	vals := [12]float32{
		1.44269504088896341,       // log2(e)
		0.693145751953125,         // ln2, high bits
		1.42860682030941723212e-6, // ln2, low bits
		-87.33654,                 // below: exp is 0 in float32 (normal)
		1, 1, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
	}
	for i, v := range vals {
		for j := range c[i] {
			c[i][j] = v
		}
	}
	return c
}()

// quantize8AVX2 is Quantize8 on the first n values; n is a multiple of 8.
//
//go:noescape
func quantize8AVX2(dst *byte, src *float32, n int, s, lo, hi, z float32, signed bool)

func quantize8Vec(dst []byte, src []float32, s, lo, hi, z float32, signed bool) int {
	n := len(dst) &^ 7
	if n == 0 || !haveAVX2 {
		return 0
	}
	_ = src[n-1]
	quantize8AVX2(&dst[0], &src[0], n, s, lo, hi, z, signed)
	return n
}

// setVectorEpilogues switches the vector epilogues on or off (for tests) and
// reports whether the CPU has them.
func setVectorEpilogues(on bool) bool {
	haveAVX2 = on && cpu.X86.HasAVX2
	return cpu.X86.HasAVX2
}

// arithAVX2 is Arith on the first n values; n is a multiple of 8.
//
//go:noescape
func arithAVX2(dst, a, b *float32, n, op int)

// arithVec runs the vector Arith over a prefix of dst and returns its length.
func arithVec(dst, a, b []float32, op int) int {
	n := len(dst) &^ 7
	if n == 0 || !haveAVX2 || op < OpAdd || op > OpMul {
		return 0
	}
	_, _ = a[n-1], b[n-1]
	arithAVX2(&dst[0], &a[0], &b[0], n, op)
	return n
}

// biasRows16AVX2 is biasRows for rows of 16 values.
//
//go:noescape
func biasRows16AVX2(c *float32, ldc, rows int, bias *float32, relu bool)

// biasRows16AVX512 is biasRows16AVX2 with one 512-bit vector per row.
//
//go:noescape
func biasRows16AVX512(c *float32, ldc, rows int, bias *float32, relu bool)

var haveAVX512 = cpu.X86.HasAVX512F

// biasRows16Vec runs biasRows16AVX512 or biasRows16AVX2 where the CPU has them; the
// caller checked the bounds of c.
func biasRows16Vec(c []float32, ldc, rows int, bias []float32, relu bool) bool {
	switch {
	case haveAVX512 && haveAVX2:
		biasRows16AVX512(&c[0], ldc, rows, &bias[0], relu)
	case haveAVX2:
		biasRows16AVX2(&c[0], ldc, rows, &bias[0], relu)
	default:
		return false
	}
	return true
}

// sgemmKernel16x16BiasAVX512 is the AVX-512 16x16 kernel with alpha 1 and the
// epilogue of SgemmPackedBBias in its store: C = sums + beta*C + bias, with relu
// the negative results cleared. beta is 0 or 1.
//
//go:noescape
func sgemmKernel16x16BiasAVX512(kc int, a, b, c *float32, ldc int, beta float32, bias *float32, relu bool)

// biasKernelFor returns the kernel with the bias epilogue that goes with k's full
// tiles, or nil when k has none.
func biasKernelFor(k *microKernel) biasKernelFunc {
	if k.name == avx512Kernel.name {
		return sgemmKernel16x16BiasAVX512
	}
	return nil
}
