package runtime

import (
	"fmt"
	"slices"

	"github.com/refit-ml/refit/internal/blas"
	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// attentionKernel is scaled dot-product attention over the head layout torch's
// MultiheadAttention exports: inputs Q, K and V, each [L, H, D] (tokens, heads, head
// size), and a float32 scalar s; output O [L, H, D] with, for every head h,
//
//	O[:, h, :] = softmax(Q[:, h, :] op s * K[:, h, :]^T) V[:, h, :]
//
// where op (attribute scale_op) is Div or Mul, applied to Q before the product as the
// graph it replaces does (fuseFloat). The heads are read and written in place with
// their row strides, so the five transposes of the unfused graph copy nothing; each
// head's scores stay in one L x L scratch matrix.
func attentionKernel(c *Call) ([]*Value, error) {
	q, k, v, s := c.Input(0), c.Input(1), c.Input(2), c.Input(3)
	if q == nil || k == nil || v == nil || s == nil {
		return nil, fmt.Errorf("needs inputs Q, K, V and scale")
	}
	if q.DType != tensor.F32 || k.DType != tensor.F32 || v.DType != tensor.F32 || s.DType != tensor.F32 || s.Len() != 1 {
		return nil, fmt.Errorf("needs float32 Q, K, V and a float32 scalar scale, have %v, %v, %v, %v", q, k, v, s)
	}
	if len(q.Shape) != 3 || !slices.Equal(q.Shape, k.Shape) || !slices.Equal(q.Shape, v.Shape) {
		return nil, fmt.Errorf("query %v, key %v and value %v must have one [tokens, heads, head size] shape", q, k, v)
	}
	op, err := c.Node.String("scale_op", "Div")
	if err != nil {
		return nil, err
	}
	if op != "Div" && op != "Mul" {
		return nil, fmt.Errorf("scale_op %q is neither Div nor Mul", op)
	}
	L, H, D := int(q.Shape[0]), int(q.Shape[1]), int(q.Shape[2])
	out, err := c.allocRaw(tensor.F32, q.Shape)
	if err != nil {
		return nil, err
	}
	if out.Len() == 0 {
		return []*Value{out}, nil
	}
	if err := c.checkElements(int64(min(c.Threads(), H)) * int64(L) * int64(L+D)); err != nil {
		return nil, err
	}
	Q, K, V, O := q.Data.([]float32), k.Data.([]float32), v.Data.([]float32), out.Data.([]float32)
	scale := s.Data.([]float32)[0]
	HD := H * D
	// Heads are claimed one at a time, so a thread the OS runs late takes fewer.
	parallel.ForChunks(c.Threads(), H, 1, func(lo, hi int) {
		buf := getScratch(L * (L + D))
		defer putScratch(buf)
		qs, sc := buf[:L*D], buf[L*D:]
		for h := lo; h < hi; h++ {
			for l := 0; l < L; l++ {
				src, dst := Q[l*HD+h*D:][:D], qs[l*D:][:D]
				if op == "Div" {
					blas.DivScalar(dst, src, scale)
				} else {
					blas.MulScalar(dst, src, scale)
				}
			}
			Sgemm(1, false, true, L, L, D, 1, qs, D, K[h*D:], HD, 0, sc, L)
			softmaxRows(1, sc, sc, L, L, false)
			Sgemm(1, false, false, L, D, L, 1, sc, L, V[h*D:], HD, 0, O[h*D:], HD)
		}
	})
	return []*Value{out}, nil
}
