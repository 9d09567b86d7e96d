package onnxq

import (
	"errors"
	"math"
	"slices"
	"sort"

	"github.com/refit-ml/refit/internal/parallel"
)

var errNotPD = errors.New("matrix is not positive definite")

// cholesky factors the symmetric positive definite a [n, n] as L L^T in place
// (lower triangle; the upper triangle is zeroed).
func cholesky(threads int, a []float64, n int) error {
	for j := range n {
		rj := a[j*n : j*n+j]
		d := a[j*n+j]
		for _, v := range rj {
			d -= v * v
		}
		if d <= 0 || math.IsNaN(d) {
			return errNotPD
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		parallel.For(threads, n-j-1, 1, func(lo, hi int) {
			for i := j + 1 + lo; i < j+1+hi; i++ {
				ri := a[i*n : i*n+j]
				s := a[i*n+j]
				for k, v := range rj {
					s -= ri[k] * v
				}
				a[i*n+j] = s / d
			}
		})
		for i := j + 1; i < n; i++ {
			a[j*n+i] = 0
		}
	}
	return nil
}

// invLower inverts the lower-triangular l [n, n].
func invLower(threads int, l []float64, n int) []float64 {
	inv := make([]float64, n*n)
	// Column j of the inverse solves L x = e_j; columns are independent.
	parallel.For(threads, n, 1, func(lo, hi int) {
		x := make([]float64, n)
		for j := lo; j < hi; j++ {
			clear(x)
			x[j] = 1 / l[j*n+j]
			for i := j + 1; i < n; i++ {
				s := 0.0
				ri := l[i*n : i*n+i]
				for k := j; k < i; k++ {
					s -= ri[k] * x[k]
				}
				x[i] = s / l[i*n+i]
			}
			for i := j; i < n; i++ {
				inv[i*n+j] = x[i]
			}
		}
	})
	return inv
}

// hinvUpper returns U, upper triangular with U^T U = H^-1, for H symmetric
// positive definite: GPTQ's form of the inverse Hessian.
func hinvUpper(threads int, h []float64, n int) ([]float64, error) {
	l := slices.Clone(h)
	if err := cholesky(threads, l, n); err != nil {
		return nil, err
	}
	li := invLower(threads, l, n)
	// H^-1 = Li^T Li.
	hinv := make([]float64, n*n)
	parallel.For(threads, n, 1, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			for j := i; j < n; j++ {
				s := 0.0
				for k := j; k < n; k++ {
					s += li[k*n+i] * li[k*n+j]
				}
				hinv[i*n+j] = s
				hinv[j*n+i] = s
			}
		}
	})
	if err := cholesky(threads, hinv, n); err != nil {
		return nil, err
	}
	// Transpose the lower factor into U.
	u := make([]float64, n*n)
	for i := range n {
		for j := 0; j <= i; j++ {
			u[j*n+i] = hinv[i*n+j]
		}
	}
	return u, nil
}

// gptq quantizes W [N, K] with GPTQ: columns are rounded one at a time and each
// rounding error is spread over the not yet quantized columns through the inverse
// Hessian H = 2 X^T X / rows (from the Gram matrix), in lazily applied blocks.
// Rows are independent given H^-1, so workers take rows. With actOrder, columns go
// by decreasing H diagonal and group parameters come from the unmodified weight
// (static groups), so storage needs no g_idx.
func gptq(w []float64, n, k int, gram []float64, rows int64, o *Options) (*blocked, error) {
	g, bits, sym := o.GroupSize, o.Bits, o.WeightOnlySymmetric
	h := make([]float64, k*k)
	for i, v := range gram {
		h[i] = 2 * v / float64(rows)
	}
	w = slices.Clone(w)
	for i := range k {
		if h[i*k+i] == 0 { // a dead input: its weight cannot matter
			h[i*k+i] = 1
			for r := range n {
				w[r*k+i] = 0
			}
		}
	}
	perm := make([]int, k)
	for i := range perm {
		perm[i] = i
	}
	if o.ActOrder {
		sort.SliceStable(perm, func(a, b int) bool { return h[perm[a]*k+perm[a]] > h[perm[b]*k+perm[b]] })
	}
	hp := make([]float64, k*k)
	mean := 0.0
	for i := range k {
		mean += h[i*k+i]
	}
	mean /= float64(k)
	for i, pi := range perm {
		for j, pj := range perm {
			hp[i*k+j] = h[pi*k+pj]
		}
	}
	var u []float64
	damp := o.Damp
	for try := 0; ; try++ {
		hd := slices.Clone(hp)
		for i := range k {
			hd[i*k+i] += damp * mean
		}
		var err error
		if u, err = hinvUpper(o.Threads, hd, k); err == nil {
			break
		}
		if try == 6 {
			return nil, err
		}
		damp *= 10
	}
	out := newBlocked(n, k, g, bits)
	nb := out.blocks()
	B := min(o.GPTQBlock, k)
	var failed error
	parallel.For(o.Threads, n, 1, func(lo, hi int) {
		wp := make([]float64, k)
		errs := make([]float64, B)
		have := make([]bool, nb)
		for r := lo; r < hi; r++ {
			src := w[r*k : (r+1)*k]
			for i, pi := range perm {
				wp[i] = src[pi]
			}
			clear(have)
			if o.ActOrder { // static groups from the original weight
				for blk := range nb {
					a, e := blk*g, min(k, (blk+1)*g)
					out.scales[r*nb+blk], out.zps[r*nb+blk] = blockParams(src[a:e], bits, sym)
					have[blk] = true
				}
			}
			for i1 := 0; i1 < k; i1 += B {
				i2 := min(k, i1+B)
				for i := i1; i < i2; i++ {
					col := perm[i]
					blk := col / g
					if !have[blk] { // identity order: group starts here
						vals := wp[i:min(k, i+g)]
						out.scales[r*nb+blk], out.zps[r*nb+blk] = blockParams(vals, bits, sym)
						have[blk] = true
					}
					q, dq := quantBlock(wp[i], out.scales[r*nb+blk], out.zps[r*nb+blk], bits)
					out.q[r*k+col] = q
					d := u[i*k+i]
					e := (wp[i] - dq) / d
					ui := u[i*k : (i+1)*k]
					for j := i + 1; j < i2; j++ {
						wp[j] -= e * ui[j]
					}
					errs[i-i1] = e
				}
				// Lazy update of the columns after the block.
				for i := i1; i < i2; i++ {
					e := errs[i-i1]
					if e == 0 {
						continue
					}
					ui := u[i*k : (i+1)*k]
					for j := i2; j < k; j++ {
						wp[j] -= e * ui[j]
					}
				}
			}
		}
	})
	return out, failed
}

// awq searches per-input-channel scales s = mean|x|^alpha (normalized) over a grid
// of alpha in [0, 1], quantizing diag(s) W with RTN and measuring the output error
// of W_eff = Q / s on the calibration Gram matrix. alpha = 0 is plain RTN, so the
// result is never worse than RTN on the calibration data. It returns the blocks of
// the scaled weight, the scales (the input must be divided by them) and alpha.
func awq(w []float64, n, k int, st *gramStats, o *Options) (*blocked, []float64, float64) {
	var best *blocked
	var bestS []float64
	bestAlpha, bestErr := 0.0, math.Inf(1)
	ws := make([]float64, n*k)
	for step := 0; step <= o.AWQGrid; step++ {
		alpha := float64(step) / float64(o.AWQGrid)
		s := make([]float64, k)
		smax, smin := 0.0, math.Inf(1)
		for i := range k {
			s[i] = math.Pow(math.Max(st.meanAbs[i], 1e-4), alpha)
			smax, smin = math.Max(smax, s[i]), math.Min(smin, s[i])
		}
		norm := math.Sqrt(smax * smin)
		for i := range s {
			s[i] /= norm
		}
		for r := range n {
			for i := range k {
				ws[r*k+i] = w[r*k+i] * s[i]
			}
		}
		b := rtn(o.Threads, ws, n, k, o.GroupSize, o.Bits, o.WeightOnlySymmetric)
		eff := b.dequant()
		for r := range n {
			for i := range k {
				eff[r*k+i] /= s[i]
			}
		}
		if e := outputErr(o.Threads, eff, w, n, k, st.gram); e < bestErr {
			best, bestS, bestAlpha, bestErr = b, s, alpha, e
		}
	}
	return best, bestS, bestAlpha
}
