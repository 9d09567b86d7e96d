package runtime

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Matrix products: MatMul (numpy batching and broadcasting) and Gemm.

func init() {
	Register(Op{Type: "MatMul", Since: 1, Kernel: matmulKernel, ViaFloat32: true})
	Register(Op{Type: "Gemm", Since: 1, Kernel: gemmKernel, ViaFloat32: true})
}

func matmulKernel(c *Call) ([]*Value, error) {
	a, b, err := twoInputs(c)
	if err != nil {
		return nil, err
	}
	return matmul(c, a, b, nil, false)
}

// matmulBiasKernel is MatMul followed by the Add of a bias row, and by a Relu when
// fuseActivations folded one in: inputs A (float32), B (a float32 matrix, K x N) and
// bias (N values). fuseFloat puts it in place of MatMul -> Add(bias).
func matmulBiasKernel(c *Call) ([]*Value, error) {
	a, b, err := twoInputs(c)
	if err != nil {
		return nil, err
	}
	bias := c.Input(2)
	if bias == nil || a.DType != tensor.F32 || b.DType != tensor.F32 || bias.DType != tensor.F32 {
		return nil, fmt.Errorf("needs float32 A, B and bias")
	}
	if len(b.Shape) != 2 || len(bias.Shape) != 1 || bias.Shape[0] != b.Shape[1] {
		return nil, fmt.Errorf("input B %v must be a matrix and bias %v a vector of its columns", b, bias)
	}
	return matmul(c, a, b, bias.Data.([]float32), c.Node.relu)
}

// matmul is MatMul of a and b; a non-nil bias (float32, as long as a row of the
// output) is added to every row of the product, and with relu the negative results
// of that sum are cleared.
func matmul(c *Call, a, b *Value, bias []float32, relu bool) ([]*Value, error) {
	if a.DType != b.DType {
		return nil, fmt.Errorf("input types differ: %v and %v", a.DType, b.DType)
	}
	if len(a.Shape) == 0 || len(b.Shape) == 0 {
		return nil, fmt.Errorf("inputs must have rank >= 1, have %v and %v", a, b)
	}
	as, bs := slices.Clone(a.Shape), slices.Clone(b.Shape)
	if len(as) == 1 {
		as = []int64{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int64{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	k2, n := bs[len(bs)-2], bs[len(bs)-1]
	if k != k2 {
		return nil, fmt.Errorf("shapes %v and %v: inner dimensions %d and %d differ", tensor.Shape(a.Shape), tensor.Shape(b.Shape), k, k2)
	}
	batch, err := BroadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, err
	}
	outShape := append(slices.Clone(batch), m, n)
	var out *Value
	if a.DType == tensor.F32 {
		r, err := c.allocRaw(a.DType, outShape)
		if err != nil {
			return nil, err
		}
		out = r // Sgemm with beta 0 writes every element
	} else {
		r, err := c.Alloc(a.DType, outShape)
		if err != nil {
			return nil, err
		}
		out = r
	}
	// Final shape drops the dimensions added for rank-1 operands.
	final := slices.Clone(batch)
	if len(a.Shape) > 1 {
		final = append(final, m)
	}
	if len(b.Shape) > 1 {
		final = append(final, n)
	}
	nb := 1
	for _, d := range batch {
		nb *= int(d)
	}
	// Batch offsets of A and B (in matrices) under broadcasting.
	aOff, bOff := make([]int, nb), make([]int, nb)
	if nb > 0 {
		bc := newBcast(append(slices.Clone(batch), 1), append(slices.Clone(as[:len(as)-2]), 1), append(slices.Clone(bs[:len(bs)-2]), 1))
		offs := make([]int, 2)
		rl := bc.rowLen()
		for r := 0; r < bc.rows; r++ {
			bc.offsets(r, offs)
			for i := 0; i < rl; i++ {
				aOff[r*rl+i] = offs[0] + i*bc.inner(0)
				bOff[r*rl+i] = offs[1] + i*bc.inner(1)
			}
		}
	}
	M, N, K := int(m), int(n), int(k)
	switch x := a.Data.(type) {
	case []float32:
		y, o := b.Data.([]float32), out.Data.([]float32)
		if len(b.Shape) == 2 && M > 0 && N > 0 && K > 0 && contiguousBatches(aOff) {
			// B is one matrix (a weight, usually): the batches of A stack into one
			// (nb*M) x K operand, and a constant B is packed once per session.
			pb, ok := preparePacked(c, 1, func(v *Value) *blas.PackedB { return blas.PackB(false, K, N, v.Data.([]float32), N) })
			switch {
			case ok && bias != nil:
				// Bias and Relu applied to each tile of the product while it is in cache.
				blas.SgemmPackedBBias(c.Threads(), false, nb*M, x, K, pb, bias, relu, o, N)
				bias, relu = nil, false
			case ok:
				blas.SgemmPackedB(c.Threads(), false, nb*M, 1, x, K, pb, 0, o, N)
			default:
				Sgemm(c.Threads(), false, false, nb*M, N, K, 1, x, K, y, N, 0, o, N)
			}
			break
		}
		if nb == 1 || M*N*K >= 1<<22 {
			for i := 0; i < nb; i++ {
				Sgemm(c.Threads(), false, false, M, N, K, 1, x[aOff[i]*M*K:], K, y[bOff[i]*K*N:], N, 0, o[i*M*N:], N)
			}
		} else {
			parallel.For(c.Threads(), nb, 1, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					Sgemm(c.Threads(), false, false, M, N, K, 1, x[aOff[i]*M*K:], K, y[bOff[i]*K*N:], N, 0, o[i*M*N:], N)
				}
			})
		}
	case []float64:
		naiveMatmul(out.Data.([]float64), x, b.Data.([]float64), aOff, bOff, M, N, K)
	case []int32:
		naiveMatmul(out.Data.([]int32), x, b.Data.([]int32), aOff, bOff, M, N, K)
	case []int64:
		naiveMatmul(out.Data.([]int64), x, b.Data.([]int64), aOff, bOff, M, N, K)
	case []uint32:
		naiveMatmul(out.Data.([]uint32), x, b.Data.([]uint32), aOff, bOff, M, N, K)
	case []uint64:
		naiveMatmul(out.Data.([]uint64), x, b.Data.([]uint64), aOff, bOff, M, N, K)
	default:
		return nil, fmt.Errorf("MatMul is not defined for %v", a.DType)
	}
	if len(bias) > 0 {
		o := out.Data.([]float32)
		for i := 0; i+len(bias) <= len(o); i += len(bias) {
			blas.Arith(o[i:i+len(bias)], o[i:i+len(bias)], bias, blas.OpAdd)
		}
	}
	if relu {
		reluInPlace(c.Threads(), out.Data)
	}
	return []*Value{View(out, final)}, nil
}

// contiguousBatches reports whether batch i of A starts at matrix i for every i.
func contiguousBatches(off []int) bool {
	for i, o := range off {
		if o != i {
			return false
		}
	}
	return true
}

func naiveMatmul[T number](o, a, b []T, aOff, bOff []int, m, n, k int) {
	for bi := range aOff {
		A, B, C := a[aOff[bi]*m*k:], b[bOff[bi]*k*n:], o[bi*m*n:]
		for i := 0; i < m; i++ {
			for p := 0; p < k; p++ {
				av := A[i*k+p]
				for j := 0; j < n; j++ {
					C[i*n+j] += av * B[p*n+j]
				}
			}
		}
	}
}

func gemmKernel(c *Call) ([]*Value, error) {
	a, b, err := twoInputs(c)
	if err != nil {
		return nil, err
	}
	var at attrs
	alpha := at.float(c.Node, "alpha", 1)
	beta := at.float(c.Node, "beta", 1)
	transA := at.int(c.Node, "transA", 0) != 0
	transB := at.int(c.Node, "transB", 0) != 0
	if at.err != nil {
		return nil, at.err
	}
	if len(a.Shape) != 2 || len(b.Shape) != 2 {
		return nil, fmt.Errorf("inputs A and B must be matrices, have %v and %v", a, b)
	}
	m, k := a.Shape[0], a.Shape[1]
	if transA {
		m, k = k, m
	}
	k2, n := b.Shape[0], b.Shape[1]
	if transB {
		k2, n = n, k2
	}
	if k != k2 {
		return nil, fmt.Errorf("inner dimensions %d and %d differ (A %v, B %v)", k, k2, tensor.Shape(a.Shape), tensor.Shape(b.Shape))
	}
	cIn := c.Input(2)
	// A float32 bias row with alpha = beta = 1 (a Linear layer) goes into the
	// product's epilogue when B is packed, with a Relu fused by fuseActivations.
	var biasRow []float32
	if cIn != nil {
		if row, ok := cIn.Data.([]float32); ok && a.DType == tensor.F32 && b.DType == tensor.F32 && alpha == 1 && beta == 1 &&
			len(row) == int(n) && n > 0 && m > 0 && k > 0 && (len(cIn.Shape) == 1 || len(cIn.Shape) == 2 && cIn.Shape[0] == 1) {
			biasRow = row
		}
	}
	var out *Value
	if (cIn == nil || biasRow != nil) && a.DType == tensor.F32 {
		r, err := c.allocRaw(a.DType, []int64{m, n})
		if err != nil {
			return nil, err
		}
		out = r // beta 0: Sgemm writes every element
	} else {
		r, err := c.Alloc(a.DType, []int64{m, n})
		if err != nil {
			return nil, err
		}
		out = r
	}
	if cIn != nil && biasRow == nil {
		if !broadcastsTo(cIn.Shape, out.Shape) {
			return nil, fmt.Errorf("input C %v cannot broadcast to [%d, %d]", cIn, m, n)
		}
		tmp, err := castValue(c, cIn, a.DType)
		if err != nil {
			return nil, err
		}
		if row, ok := tmp.Data.([]float32); ok && len(row) == int(n) && n > 0 && (len(tmp.Shape) == 1 || len(tmp.Shape) == 2 && tmp.Shape[0] == 1) {
			// A bias row (the usual C): copy it into every row of the output.
			o := out.Data.([]float32)
			for i := 0; i+int(n) <= len(o); i += int(n) {
				copy(o[i:i+int(n)], row)
			}
		} else {
			broadcastValue(c.Threads(), out, tmp)
		}
	} else {
		beta = 0
	}
	switch x := a.Data.(type) {
	case []float32:
		M, N, K := int(m), int(n), int(k)
		y := b.Data.([]float32)
		if M == 0 || N == 0 || K == 0 {
			Sgemm(c.Threads(), transA, transB, M, N, K, alpha, x, int(a.Shape[1]), y, int(b.Shape[1]), beta, out.Data.([]float32), N)
			break
		}
		pack := func(y []float32) *blas.PackedB { return blas.PackB(transB, K, N, y, int(b.Shape[1])) }
		pb, ok := preparePacked(c, 1, func(v *Value) *blas.PackedB { return pack(v.Data.([]float32)) })
		if biasRow != nil {
			if !ok {
				pb = pack(y)
			}
			blas.SgemmPackedBBias(c.Threads(), transA, M, x, int(a.Shape[1]), pb, biasRow, c.Node.relu, out.Data.([]float32), N)
			return []*Value{out}, nil
		}
		if !ok {
			if M < 8 {
				// Packing B costs about as much as a product with few rows: skip it.
				Sgemm(c.Threads(), transA, transB, M, N, K, alpha, x, int(a.Shape[1]), y, int(b.Shape[1]), beta, out.Data.([]float32), N)
				break
			}
			pb = pack(y)
		}
		blas.SgemmPackedB(c.Threads(), transA, M, alpha, x, int(a.Shape[1]), pb, beta, out.Data.([]float32), N)
	case []float64:
		y, o := b.Data.([]float64), out.Data.([]float64)
		for i := 0; i < int(m); i++ {
			for j := 0; j < int(n); j++ {
				var s float64
				for p := 0; p < int(k); p++ {
					var av, bv float64
					if transA {
						av = x[p*int(a.Shape[1])+i]
					} else {
						av = x[i*int(a.Shape[1])+p]
					}
					if transB {
						bv = y[j*int(b.Shape[1])+p]
					} else {
						bv = y[p*int(b.Shape[1])+j]
					}
					s += av * bv
				}
				o[i*int(n)+j] = float64(alpha)*s + float64(beta)*o[i*int(n)+j]
			}
		}
	default:
		return nil, fmt.Errorf("not defined for %v", a.DType)
	}
	if c.Node.relu {
		reluInPlace(c.Threads(), out.Data) // a Relu fused by fuseActivations
	}
	return []*Value{out}, nil
}
