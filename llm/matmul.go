package llm

import (
	"math"
	"sync"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/llm/kernels"
	"github.com/refit-ml/refit/tensor"
)

// matrix is a 2-D weight in ggml layout: Rows rows of Cols values, each row RowBytes
// bytes of DType (a block type or F32/F16/BF16).
type matrix struct {
	DType    tensor.DType
	Rows     int
	Cols     int
	RowBytes int
	Data     []byte
}

// row decodes row r into dst (len Cols).
func (m *matrix) row(dst []float32, r int) {
	b := m.Data[r*m.RowBytes : (r+1)*m.RowBytes]
	switch m.DType {
	case tensor.F32:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
		}
	case tensor.F16:
		for i := range dst {
			dst[i] = tensor.F16ToF32(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
	case tensor.BF16:
		for i := range dst {
			dst[i] = tensor.BF16ToF32(uint16(b[2*i]) | uint16(b[2*i+1])<<8)
		}
	default:
		if kernels.Dequant(dst, b, m.DType) {
			return
		}
		// Validated at load: the type has a dequantizer and Cols is a block multiple.
		if err := tensor.Dequantize(dst, b, m.DType, 1); err != nil {
			panic(err)
		}
	}
}

// activation is the form llama.cpp converts an activation row to before its dot
// product with a row of weight type d (ggml's vec_dot_type).
type activation int

const (
	actF32 activation = iota
	actF16
	actBF16
	actQ8_0 // 32-blocks with a float16 scale
	actQ8_K // 256-blocks with a float32 scale
)

func activationFor(d tensor.DType) activation {
	switch d {
	case tensor.F32:
		return actF32
	case tensor.F16:
		return actF16
	case tensor.BF16:
		return actBF16
	case tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1, tensor.Q8_0, tensor.Q8_1, tensor.IQ4_NL:
		return actQ8_0
	}
	return actQ8_K
}

// roundActivation replaces x by the values llama.cpp's dot product sees after
// converting it to form a.
func roundActivation(x []float32, a activation) {
	switch a {
	case actF16:
		for i, v := range x {
			x[i] = tensor.F16ToF32(tensor.F32ToF16(v))
		}
	case actBF16:
		for i, v := range x {
			x[i] = tensor.BF16ToF32(tensor.F32ToBF16(v))
		}
	case actQ8_0:
		for b := 0; b+32 <= len(x); b += 32 {
			blk := x[b : b+32]
			var amax float32
			for _, v := range blk {
				amax = max(amax, float32(math.Abs(float64(v))))
			}
			d := amax / 127
			var id float32
			if amax != 0 {
				id = 127 / amax
			}
			dh := tensor.F16ToF32(tensor.F32ToF16(d))
			for i, v := range blk {
				blk[i] = dh * float32(math.RoundToEven(float64(v*id)))
			}
		}
	case actQ8_K:
		for b := 0; b+256 <= len(x); b += 256 {
			blk := x[b : b+256]
			var amax, maxv float32
			for _, v := range blk {
				if a := float32(math.Abs(float64(v))); a > amax {
					amax, maxv = a, v
				}
			}
			if amax == 0 {
				clear(blk)
				continue
			}
			iscale := -127 / maxv
			d := 1 / iscale
			for i, v := range blk {
				q := min(127, nearestInt(iscale*v))
				blk[i] = d * float32(q)
			}
		}
	}
}

// nearestInt rounds half to even, as ggml's nearest_int.
func nearestInt(f float32) int32 { return int32(math.RoundToEven(float64(f))) }

// rowBlock is how many weight rows a worker decodes before dotting them with the batch.
const rowBlock = 16

// matmul sets y[t*m.Rows+r] = m.row(r) · x[t*m.Cols:] for each of the nt tokens. x is
// rounded in place to the weight's activation form first (callers pass scratch).
func matmul(y []float32, m *matrix, x []float32, nt, threads int) {
	if nt < gemmTokens && quantDot(m.DType) != nil {
		matmulQuant(y, m, x, nt, threads)
		return
	}
	act := activationFor(m.DType)
	if act != actF32 {
		parallel.For(threads, nt, 1, func(lo, hi int) {
			for t := lo; t < hi; t++ {
				roundActivation(x[t*m.Cols:(t+1)*m.Cols], act)
			}
		})
	}
	matmulRows(y, m, x, nt, 0, m.Rows, threads)
}

// gemmTokens is the batch from which products go through SGEMM on blocks of decoded
// rows instead of one dot product per row and token.
const gemmTokens = 4

// gemmBlock is how many weight rows a worker decodes for one SGEMM call.
const gemmBlock = 64

// matmulRows computes output rows [r0, r1) of matmul into y laid out with m.Rows per token.
func matmulRows(y []float32, m *matrix, x []float32, nt, r0, r1, threads int) {
	cols := m.Cols
	if nt >= gemmTokens {
		// Rows are decoded once per block and multiplied with the whole batch; each
		// block is one single-threaded SGEMM, so results do not depend on threads.
		// The batch is packed once for all blocks rather than once per block.
		xp := blas.PackA(false, nt, cols, x, cols)
		parallel.ForChunks(threads, (r1-r0+gemmBlock-1)/gemmBlock, 1, func(lo, hi int) {
			bp := getBuf(gemmBlock * cols)
			defer putBuf(bp)
			buf := *bp
			for blk := lo; blk < hi; blk++ {
				ra := r0 + blk*gemmBlock
				rb := min(ra+gemmBlock, r1)
				for r := ra; r < rb; r++ {
					m.row(buf[(r-ra)*cols:(r-ra+1)*cols], r)
				}
				blas.SgemmPackedA(1, xp, true, rb-ra, 1, buf, cols, 0, y[ra:], m.Rows)
			}
		})
		return
	}
	grain := max(1, 8192/max(cols, 1)/max(nt, 1))
	parallel.ForChunks(threads, (r1-r0+rowBlock-1)/rowBlock, max(grain, 1), func(lo, hi int) {
		buf := make([]float32, rowBlock*cols)
		for blk := lo; blk < hi; blk++ {
			ra := r0 + blk*rowBlock
			rb := min(ra+rowBlock, r1)
			for r := ra; r < rb; r++ {
				m.row(buf[(r-ra)*cols:(r-ra+1)*cols], r)
			}
			for t := 0; t < nt; t++ {
				xt := x[t*cols : (t+1)*cols]
				yt := y[t*m.Rows:]
				for r := ra; r < rb; r++ {
					yt[r] = dot(buf[(r-ra)*cols:(r-ra+1)*cols], xt)
				}
			}
		}
	})
}

// bufPool recycles the decoded-row and score buffers of the workers: ForChunks calls
// its function once per chunk, and a fresh buffer each time costs more in page faults
// and clearing than the work it serves.
var bufPool sync.Pool

// getBuf returns a buffer of n values (contents undefined).
func getBuf(n int) *[]float32 {
	if p, ok := bufPool.Get().(*[]float32); ok && cap(*p) >= n {
		*p = (*p)[:n]
		return p
	}
	b := make([]float32, n)
	return &b
}

func putBuf(p *[]float32) { bufPool.Put(p) }

// quantDot returns the integer dot-product kernel for weight type d, nil for types
// without one (their rows are decoded to float32).
func quantDot(d tensor.DType) func(row []byte, a *kernels.Q8_0, k *kernels.Q8K) float32 {
	switch d {
	case tensor.Q8_0:
		return func(row []byte, a *kernels.Q8_0, _ *kernels.Q8K) float32 { return kernels.DotQ8_0(row, a) }
	case tensor.Q4_0:
		return func(row []byte, a *kernels.Q8_0, _ *kernels.Q8K) float32 { return kernels.DotQ4_0(row, a) }
	case tensor.Q4_K:
		return func(row []byte, _ *kernels.Q8_0, k *kernels.Q8K) float32 { return kernels.DotQ4K(row, k) }
	case tensor.Q5_K:
		return func(row []byte, _ *kernels.Q8_0, k *kernels.Q8K) float32 { return kernels.DotQ5K(row, k) }
	case tensor.Q6_K:
		return func(row []byte, _ *kernels.Q8_0, k *kernels.Q8K) float32 { return kernels.DotQ6K(row, k) }
	case tensor.IQ4_XS:
		return func(row []byte, _ *kernels.Q8_0, k *kernels.Q8K) float32 { return kernels.DotIQ4XS(row, k) }
	}
	return nil
}

// matmulQuant is matmul for a few tokens with a kernel of package kernels: each
// token's activation is quantized once to the weight type's integer form, and every
// product runs on the quantized blocks as llama.cpp's vec_dot does.
func matmulQuant(y []float32, m *matrix, x []float32, nt, threads int) {
	dot := quantDot(m.DType)
	a0 := make([]kernels.Q8_0, nt)
	aK := make([]kernels.Q8K, nt)
	for t := 0; t < nt; t++ {
		xt := x[t*m.Cols : (t+1)*m.Cols]
		if activationFor(m.DType) == actQ8_0 {
			kernels.QuantizeQ8_0(&a0[t], xt)
		} else {
			kernels.QuantizeQ8K(&aK[t], xt)
		}
	}
	grain := max(1, 8192/max(m.Cols, 1))
	parallel.For(threads, m.Rows, grain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := m.Data[r*m.RowBytes : (r+1)*m.RowBytes]
			for t := 0; t < nt; t++ {
				y[t*m.Rows+r] = dot(row, &a0[t], &aK[t])
			}
		}
	})
}

// dot is a float32 dot product with eight partial sums, combined in float64.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
		s4 += a[i+4] * b[i+4]
		s5 += a[i+5] * b[i+5]
		s6 += a[i+6] * b[i+6]
		s7 += a[i+7] * b[i+7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return float32(float64(s0) + float64(s1) + float64(s2) + float64(s3) + float64(s4) + float64(s5) + float64(s6) + float64(s7))
}
