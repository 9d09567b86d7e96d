package ggml

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// rowQuantizer encodes one row: x holds whole blocks, y exactly their bytes, and qw is
// nil or the importance weights for the row's elements (len(qw) == len(x)).
type rowQuantizer func(y []byte, x []float32, qw []float32)

var quantizers = map[tensor.DType]rowQuantizer{
	tensor.F32:     quantizeF32,
	tensor.F16:     quantizeF16,
	tensor.BF16:    quantizeBF16,
	tensor.Q4_0:    quantizeQ4_0,
	tensor.Q4_1:    quantizeQ4_1,
	tensor.Q5_0:    quantizeQ5_0,
	tensor.Q5_1:    quantizeQ5_1,
	tensor.Q8_0:    quantizeQ8_0,
	tensor.Q2_K:    quantizeQ2K,
	tensor.Q3_K:    quantizeQ3K,
	tensor.Q4_K:    quantizeQ4K,
	tensor.Q5_K:    quantizeQ5K,
	tensor.Q6_K:    quantizeQ6K,
	tensor.IQ4_NL:  quantizeIQ4NL,
	tensor.IQ4_XS:  quantizeIQ4XS,
	tensor.IQ2_XXS: quantizeIQ2XXS,
	tensor.IQ2_XS:  quantizeIQ2XS,
	tensor.IQ2_S:   quantizeIQ2S,
	tensor.IQ1_S:   quantizeIQ1S,
	tensor.IQ1_M:   quantizeIQ1M,
	tensor.IQ3_XXS: quantizeIQ3XXS,
	tensor.IQ3_S:   quantizeIQ3S,
	tensor.TQ1_0:   quantizeTQ1_0,
	tensor.TQ2_0:   quantizeTQ2_0,
	tensor.MXFP4:   quantizeMXFP4,
}

// Supported reports whether QuantizeRows can produce type d.
func Supported(d tensor.DType) bool { return quantizers[d] != nil }

// Types lists the types QuantizeRows can produce, in tensor.DType order.
func Types() []tensor.DType {
	var out []tensor.DType
	for _, d := range tensor.DTypes() {
		if Supported(d) {
			out = append(out, d)
		}
	}
	return out
}

// UsesImatrix reports whether ggml's quantizer for d takes the importance matrix into
// account; for the other types an importance matrix is accepted and ignored.
func UsesImatrix(d tensor.DType) bool {
	switch d {
	case tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
		tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K,
		tensor.IQ4_NL, tensor.IQ4_XS,
		tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ1_S, tensor.IQ1_M:
		return true
	}
	return false
}

// RequiresImatrix reports whether ggml refuses to quantize to d without an importance
// matrix (ggml_quantize_requires_imatrix).
func RequiresImatrix(d tensor.DType) bool {
	return d == tensor.IQ2_XXS || d == tensor.IQ2_XS || d == tensor.IQ1_S
}

// RowSize is the number of bytes one row of rowLen elements of type d takes, or an error
// if rowLen is not a whole number of d's blocks.
func RowSize(d tensor.DType, rowLen int) (int, error) {
	bs := d.BlockSize()
	if bs == 0 || rowLen <= 0 || rowLen%bs != 0 {
		return 0, fmt.Errorf("ggml: a row of %d elements is not a whole number of %v blocks", rowLen, d)
	}
	return rowLen / bs * d.TypeSize(), nil
}

// QuantizeRows encodes nrows rows of rowLen float32 values from src into dst as type d,
// byte for byte as ggml_quantize_chunk does. imatrix is nil or holds one importance
// weight per column (len rowLen), shared by all rows. dst must be exactly
// nrows*RowSize(d, rowLen) bytes. Rows are split across up to threads goroutines
// (threads <= 0 means GOMAXPROCS); the bytes do not depend on threads.
func QuantizeRows(d tensor.DType, dst []byte, src []float32, nrows, rowLen int, imatrix []float32, threads int) error {
	q := quantizers[d]
	if q == nil {
		return fmt.Errorf("ggml: quantizing to %v: %w", d, tensor.ErrUnsupported)
	}
	if RequiresImatrix(d) && imatrix == nil {
		return fmt.Errorf("ggml: %v: %w", d, ErrNeedsImatrix)
	}
	rowBytes, err := RowSize(d, rowLen)
	if err != nil {
		return err
	}
	if nrows < 0 || nrows > math.MaxInt/rowLen || nrows > math.MaxInt/rowBytes {
		return fmt.Errorf("ggml: %d rows of %d elements overflow", nrows, rowLen)
	}
	if len(src) != nrows*rowLen {
		return fmt.Errorf("ggml: %d rows of %d elements need %d source values, have %d", nrows, rowLen, nrows*rowLen, len(src))
	}
	if len(dst) != nrows*rowBytes {
		return fmt.Errorf("ggml: %d rows of %v need %d destination bytes, have %d", nrows, d, nrows*rowBytes, len(dst))
	}
	if imatrix != nil && len(imatrix) != rowLen {
		return fmt.Errorf("ggml: importance matrix has %d values for rows of %d", len(imatrix), rowLen)
	}
	if !UsesImatrix(d) {
		imatrix = nil
	}
	if searchesGrid(d) {
		if err := checkGridInput(d, src, imatrix); err != nil {
			return err
		}
	}
	run := func(lo, hi int) {
		for r := lo; r < hi; r++ {
			q(dst[r*rowBytes:(r+1)*rowBytes], src[r*rowLen:(r+1)*rowLen], imatrix)
		}
	}
	workers := min(parallel.Threads(threads), nrows, nrows*rowLen/parallelMinElements)
	if workers <= 1 {
		run(0, nrows)
		return nil
	}
	// Goroutines take chunks of rows as they go, so one slowed by other load on the
	// machine does not hold up the rest.
	parallel.ForChunks(workers, nrows, max(1, nrows/(8*workers), parallelMinElements/rowLen), run)
	return nil
}

// parallelMinElements is the least work worth a goroutine of its own.
const parallelMinElements = 1 << 16

func quantizeF32(y []byte, x []float32, _ []float32) {
	if littleEndian && len(x) > 0 { // the bytes are the values' own, NaN payloads included
		copy(y, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(x))), 4*len(x)))
		return
	}
	for i, v := range x {
		binary.LittleEndian.PutUint32(y[4*i:], math.Float32bits(v))
	}
}

func quantizeF16(y []byte, x []float32, _ []float32) {
	if haveF16C && useSIMD {
		for len(x) >= 8 {
			k := f32ToF16F16C(&y[0], &x[0], len(x)&^7)
			x, y = x[k:], y[2*k:]
			if len(x) >= 8 { // a group with a NaN
				quantizeF16Scalar(y[:16], x[:8])
				x, y = x[8:], y[16:]
			}
		}
	}
	quantizeF16Scalar(y, x)
}

func quantizeF16Scalar(y []byte, x []float32) {
	for i, v := range x {
		binary.LittleEndian.PutUint16(y[2*i:], fp16(v))
	}
}

func quantizeBF16(y []byte, x []float32, _ []float32) {
	if useSIMD && len(x) >= 16 {
		n := len(x) &^ 15
		f32ToBF16AVX2(&y[0], &x[0], n)
		x, y = x[n:], y[2*n:]
	}
	for i, v := range x {
		binary.LittleEndian.PutUint16(y[2*i:], tensor.F32ToBF16(v))
	}
}

// Quantize returns t's data encoded as type d, lazily: nothing is computed until the
// result's data is read, and then one tensor's worth of float32 values is held. Rows
// are t's innermost dimension, which must be a whole number of d's blocks. imatrix is
// nil, one weight per column (shared by all rows), or — for a stack of matrices such
// as MoE experts — one such vector per matrix, concatenated, as llama-quantize uses it.
// threads is as in QuantizeRows.
func Quantize(t *tensor.Tensor, d tensor.DType, imatrix []float32, threads int) (*tensor.Tensor, error) {
	if !Supported(d) {
		return nil, fmt.Errorf("ggml: quantizing %q to %v: %w", t.Name, d, tensor.ErrUnsupported)
	}
	if !t.DType.Float() {
		return nil, fmt.Errorf("ggml: quantizing %q: %v is not a floating-point type", t.Name, t.DType)
	}
	if RequiresImatrix(d) && imatrix == nil {
		return nil, fmt.Errorf("ggml: quantizing %q to %v: %w", t.Name, d, ErrNeedsImatrix)
	}
	if len(t.Shape) == 0 {
		return nil, fmt.Errorf("ggml: quantizing %q: a scalar has no rows", t.Name)
	}
	rowLen64 := t.Shape[len(t.Shape)-1]
	n := t.NumElements()
	if rowLen64 <= 0 || rowLen64 > math.MaxInt32 {
		return nil, fmt.Errorf("ggml: quantizing %q: bad row length %d", t.Name, rowLen64)
	}
	rowLen := int(rowLen64)
	if _, err := RowSize(d, rowLen); err != nil {
		return nil, fmt.Errorf("ggml: quantizing %q: %w", t.Name, err)
	}
	size, err := tensor.ByteSize(d, t.Shape)
	if err != nil {
		return nil, fmt.Errorf("ggml: quantizing %q: %w", t.Name, err)
	}
	nrows := int(n / rowLen64)
	// Rows per importance vector: all of them, or one matrix's.
	rowsPerIm := nrows
	if len(imatrix) > 0 && len(imatrix) != rowLen {
		mats := 1
		if len(t.Shape) >= 2 && t.Shape[len(t.Shape)-2] > 0 {
			mats = nrows / int(t.Shape[len(t.Shape)-2])
		}
		if len(t.Shape) < 3 || len(imatrix) != rowLen*mats {
			return nil, fmt.Errorf("ggml: quantizing %q: importance matrix has %d values for rows of %d", t.Name, len(imatrix), rowLen)
		}
		rowsPerIm = nrows / mats
	}
	src := t
	imatrix = append([]float32(nil), imatrix...) // the caller may reuse its slice
	if len(imatrix) == 0 {
		imatrix = nil
	}
	data := tensor.NewLazy(size, func() ([]byte, error) {
		x, err := src.Float32s()
		if err != nil {
			return nil, err
		}
		out := make([]byte, size)
		rowBytes := int(size) / max(nrows, 1)
		for r := 0; r < nrows; r += rowsPerIm {
			var im []float32
			if imatrix != nil {
				k := r / rowsPerIm
				im = imatrix[k*rowLen : (k+1)*rowLen]
			}
			if err := QuantizeRows(d, out[r*rowBytes:(r+rowsPerIm)*rowBytes], x[r*rowLen:(r+rowsPerIm)*rowLen], rowsPerIm, rowLen, im, threads); err != nil {
				return nil, fmt.Errorf("ggml: quantizing %q: %w", src.Name, err)
			}
		}
		return out, nil
	})
	return t.WithData(d, t.Shape, data)
}

// littleEndian reports whether float32 values are stored in GGUF's byte order.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// searchesGrid reports whether d is one of the codebook types, whose ggml quantizer
// aborts the process on values it cannot place (NaN distances fail its asserts).
func searchesGrid(d tensor.DType) bool {
	switch d {
	case tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ1_S, tensor.IQ1_M:
		return true
	}
	return false
}

// checkGridInput refuses what ggml's codebook quantizers cannot encode: non-finite
// values or importance weights, and super-blocks whose sum of squares overflows.
func checkGridInput(d tensor.DType, src, imatrix []float32) error {
	for i, v := range imatrix {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("ggml: %v: importance weight %d is %v: %w", d, i, v, tensor.ErrUnsupported)
		}
	}
	for b := 0; b+qkK <= len(src); b += qkK {
		if s := sumSquares(src[b : b+qkK]); math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("ggml: %v: values %d..%d are not finite or too large to square: %w", d, b, b+qkK-1, tensor.ErrUnsupported)
		}
	}
	return nil
}
