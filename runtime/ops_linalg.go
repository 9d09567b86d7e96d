package runtime

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// Linear-algebra operators: Einsum (through Sgemm where the terms allow), Det, Trilu and
// EyeLike.

func init() {
	Register(Op{Type: "Einsum", Since: 12, Kernel: einsumKernel, ViaFloat32: true})
	Register(Op{Type: "Det", Since: 11, Kernel: detKernel, ViaFloat32: true})
	Register(Op{Type: "Trilu", Since: 14, Kernel: triluKernel})
	Register(Op{Type: "EyeLike", Since: 9, Kernel: eyeLikeKernel})
}

func triluKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) < 2 {
		return nil, fmt.Errorf("input must have rank >= 2, have %v", x)
	}
	upper, err := c.Node.Int("upper", 1)
	if err != nil {
		return nil, err
	}
	var k int64
	if kv := c.Input(1); kv != nil {
		if k, err = scalarInt(kv, "k"); err != nil {
			return nil, err
		}
	}
	r, cols := int(x.Shape[len(x.Shape)-2]), int(x.Shape[len(x.Shape)-1])
	idx, err := scratchSlice[int](c, x.Len())
	if err != nil {
		return nil, err
	}
	for i := range idx {
		row, col := int64(i/cols%max(r, 1)), int64(i%cols)
		keep := col-row >= k
		if upper == 0 {
			keep = col-row <= k
		}
		if keep {
			idx[i] = i
		} else {
			idx[i] = -1
		}
	}
	v, err := gatherValue(c, x, x.Shape, idx)
	if err != nil {
		return nil, err
	}
	return []*Value{v}, nil
}

func eyeLikeKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) != 2 {
		return nil, fmt.Errorf("input must be 2-D, have %v", x)
	}
	var a attrs
	k := a.int(c.Node, "k", 0)
	code := a.int(c.Node, "dtype", 0)
	if a.err != nil {
		return nil, a.err
	}
	dt := x.DType
	if c.Node.Has("dtype") {
		var ok bool
		if dt, ok = dtypeFromONNX(int32(code)); !ok {
			return nil, fmt.Errorf("dtype %d: %w", code, errUnsupported)
		}
	}
	out, err := c.Alloc(dt, x.Shape)
	if err != nil {
		return nil, err
	}
	r, cols := x.Shape[0], x.Shape[1]
	for i := int64(0); i < r; i++ {
		if j := i + k; j >= 0 && j < cols {
			setFloat64(out, int(i*cols+j), 1)
		}
	}
	return []*Value{out}, nil
}

func detKernel(c *Call) ([]*Value, error) {
	x := c.Input(0)
	if x == nil || len(x.Shape) < 2 || x.Shape[len(x.Shape)-1] != x.Shape[len(x.Shape)-2] {
		return nil, fmt.Errorf("input must be [..., M, M], have %v", x)
	}
	if x.DType != tensor.F32 && x.DType != tensor.F64 {
		return nil, fmt.Errorf("not defined for %v", x.DType)
	}
	m := int(x.Shape[len(x.Shape)-1])
	shape := x.Shape[:len(x.Shape)-2]
	out, err := c.Alloc(x.DType, shape)
	if err != nil {
		return nil, err
	}
	xs, err := c.float64s(x)
	if err != nil {
		return nil, err
	}
	a := make([]float64, m*m)
	for b := 0; b < out.Len(); b++ {
		copy(a, xs[b*m*m:(b+1)*m*m])
		setFloat64(out, b, luDet(a, m))
	}
	return []*Value{out}, nil
}

// luDet is the determinant by LU decomposition with partial pivoting; a is overwritten.
func luDet(a []float64, m int) float64 {
	det := 1.0
	for col := 0; col < m; col++ {
		p := col
		for r := col + 1; r < m; r++ {
			if math.Abs(a[r*m+col]) > math.Abs(a[p*m+col]) {
				p = r
			}
		}
		if a[p*m+col] == 0 {
			return 0
		}
		if p != col {
			for j := 0; j < m; j++ {
				a[p*m+j], a[col*m+j] = a[col*m+j], a[p*m+j]
			}
			det = -det
		}
		piv := a[col*m+col]
		det *= piv
		for r := col + 1; r < m; r++ {
			f := a[r*m+col] / piv
			for j := col; j < m; j++ {
				a[r*m+j] -= f * a[col*m+j]
			}
		}
	}
	return det
}

// einsumTerm is one operand's subscripts as labels: letters are 0..51, ellipsis
// dimensions are einsumEllipsis+j with j counted from the right of the broadcast batch.
type einsumTerm []int

const einsumEllipsis = 64

func einsumLabel(ch byte) (int, bool) {
	switch {
	case ch >= 'a' && ch <= 'z':
		return int(ch - 'a'), true
	case ch >= 'A' && ch <= 'Z':
		return 26 + int(ch-'A'), true
	}
	return 0, false
}

// parseEinsumTerm reads subscripts for an operand of the given rank (-1: the output,
// whose ellipsis has ell dims).
func parseEinsumTerm(s string, rank, ell int) (einsumTerm, int, error) {
	var letters []int
	dots := -1
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			if dots >= 0 || !strings.HasPrefix(s[i:], "...") {
				return nil, 0, fmt.Errorf("einsum term %q: bad ellipsis", s)
			}
			dots = len(letters)
			i += 2
			continue
		}
		l, ok := einsumLabel(s[i])
		if !ok {
			return nil, 0, fmt.Errorf("einsum term %q: bad character %q", s, s[i])
		}
		letters = append(letters, l)
	}
	e := 0
	if dots >= 0 {
		if rank >= 0 {
			e = rank - len(letters)
		} else {
			e = ell
		}
		if e < 0 {
			return nil, 0, fmt.Errorf("einsum term %q has more subscripts than rank %d", s, rank)
		}
	} else if rank >= 0 && len(letters) != rank {
		return nil, 0, fmt.Errorf("einsum term %q does not match rank %d", s, rank)
	}
	if dots < 0 {
		return letters, 0, nil
	}
	t := slices.Clone(letters[:dots])
	for j := 0; j < e; j++ {
		t = append(t, einsumEllipsis+ell-e+j)
	}
	return append(t, letters[dots:]...), e, nil
}

func einsumKernel(c *Call) ([]*Value, error) {
	eq, err := c.Node.String("equation", "")
	if err != nil {
		return nil, err
	}
	clean := make([]byte, 0, len(eq))
	for i := 0; i < len(eq); i++ {
		if eq[i] != ' ' {
			clean = append(clean, eq[i])
		}
	}
	eqs := string(clean)
	lhs, rhs, explicit := eqs, "", false
	if i := strings.Index(eqs, "->"); i >= 0 {
		lhs, rhs, explicit = eqs[:i], eqs[i+2:], true
	}
	parts := strings.Split(lhs, ",")
	if len(parts) != len(c.Inputs) {
		return nil, fmt.Errorf("equation %q names %d operands, node has %d inputs", eq, len(parts), len(c.Inputs))
	}
	var dt tensor.DType
	// First pass: ellipsis widths.
	ell := 0
	for i, p := range parts {
		x := c.Inputs[i]
		if x == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
		if i == 0 {
			dt = x.DType
		} else if x.DType != dt {
			return nil, fmt.Errorf("inputs have types %v and %v", dt, x.DType)
		}
		_, e, err := parseEinsumTerm(p, len(x.Shape), 0)
		if err != nil {
			return nil, err
		}
		ell = max(ell, e)
	}
	if !dt.Float() && !dt.Integer() {
		return nil, fmt.Errorf("not defined for %v", dt)
	}
	terms := make([]einsumTerm, len(parts))
	size := map[int]int64{}
	count := map[int]int{}
	for i, p := range parts {
		x := c.Inputs[i]
		t, _, err := parseEinsumTerm(p, len(x.Shape), ell)
		if err != nil {
			return nil, err
		}
		terms[i] = t
		for d, l := range t {
			n := x.Shape[d]
			if old, ok := size[l]; ok && old != n {
				if l >= einsumEllipsis && (old == 1 || n == 1) {
					if old == 1 {
						size[l] = n
					}
				} else {
					return nil, fmt.Errorf("equation %q: dimension sizes %d and %d disagree", eq, old, n)
				}
			} else if !ok {
				size[l] = n
			}
			count[l]++
		}
	}
	var out einsumTerm
	if explicit {
		if out, _, err = parseEinsumTerm(rhs, -1, ell); err != nil {
			return nil, err
		}
		for _, l := range out {
			if _, ok := size[l]; !ok {
				return nil, fmt.Errorf("equation %q: output label not in inputs", eq)
			}
		}
	} else {
		for j := 0; j < ell; j++ {
			out = append(out, einsumEllipsis+j)
		}
		for l := 0; l < 52; l++ {
			if count[l] == 1 {
				out = append(out, l)
			}
		}
	}
	inOut := map[int]bool{}
	for _, l := range out {
		if inOut[l] {
			return nil, fmt.Errorf("equation %q repeats an output label", eq)
		}
		inOut[l] = true
	}
	var sum []int
	for l := range size {
		if !inOut[l] {
			sum = append(sum, l)
		}
	}
	slices.Sort(sum)
	outShape := make([]int64, len(out))
	for i, l := range out {
		outShape[i] = size[l]
	}
	nOut, err := numElements(outShape)
	if err != nil {
		return nil, err
	}
	sumShape := make([]int64, len(sum))
	for i, l := range sum {
		sumShape[i] = size[l]
	}
	nSum, err := numElements(sumShape)
	if err != nil {
		return nil, err
	}
	if v, ok, err := einsumMatmul(c, terms, out, outShape, size, dt); err != nil || ok {
		if err != nil {
			return nil, err
		}
		return []*Value{v}, nil
	}
	// Per operand, the stride of each output and summed label (summed over repeats).
	ops := len(terms)
	outStr := make([][]int, ops)
	sumStr := make([][]int, ops)
	data := make([][]float64, ops)
	for k, t := range terms {
		x := c.Inputs[k]
		st := stridesOf(x.Shape)
		labelStr := map[int]int{}
		for d, l := range t {
			if x.Shape[d] != 1 || size[l] == 1 {
				labelStr[l] += st[d]
			}
		}
		outStr[k] = make([]int, len(out))
		for i, l := range out {
			outStr[k][i] = labelStr[l]
		}
		sumStr[k] = make([]int, len(sum))
		for i, l := range sum {
			sumStr[k][i] = labelStr[l]
		}
		r, err := c.float64s(x)
		if err != nil {
			return nil, err
		}
		data[k] = r
	}
	res, err := scratchSlice[float64](c, nOut)
	if err != nil {
		return nil, err
	}
	parallel.For(c.Threads(), nOut, max(1, 4096/max(1, nSum)), func(lo, hi int) {
		base := make([]int, ops)
		offs := make([]int, ops)
		sidx := make([]int, len(sum))
		for o := lo; o < hi; o++ {
			clear(base)
			r := o
			for i := len(out) - 1; i >= 0; i-- {
				d := r % int(outShape[i])
				r /= int(outShape[i])
				for k := range base {
					base[k] += d * outStr[k][i]
				}
			}
			copy(offs, base)
			clear(sidx)
			var acc float64
			for s := 0; s < nSum; s++ {
				p := 1.0
				for k := range offs {
					p *= data[k][offs[k]]
				}
				acc += p
				for i := len(sum) - 1; i >= 0; i-- {
					sidx[i]++
					for k := range offs {
						offs[k] += sumStr[k][i]
					}
					if sidx[i] < int(sumShape[i]) {
						break
					}
					for k := range offs {
						offs[k] -= sidx[i] * sumStr[k][i]
					}
					sidx[i] = 0
				}
			}
			res[o] = acc
		}
	})
	outV, err := c.Alloc(dt, outShape)
	if err != nil {
		return nil, err
	}
	for i, v := range res {
		setFloat64(outV, i, v)
	}
	return []*Value{outV}, nil
}

// einsumMatmul handles two-operand float32 contractions without repeated or
// broadcast labels as a batched matrix product: labels are sorted into batch (both
// operands and output), m (A and output), n (B and output) and k (A and B only),
// the operands are permuted to [batch, m, k] and [batch, k, n], and Sgemm runs per
// batch. It reports false when the equation does not have that form.
func einsumMatmul(c *Call, terms []einsumTerm, out einsumTerm, outShape []int64, size map[int]int64, dt tensor.DType) (*Value, bool, error) {
	if len(terms) != 2 || dt != tensor.F32 {
		return nil, false, nil
	}
	a, b := c.Inputs[0], c.Inputs[1]
	inA, inB, inOut := map[int]bool{}, map[int]bool{}, map[int]bool{}
	for _, l := range out {
		inOut[l] = true
	}
	for k, t := range terms {
		m := inA
		if k == 1 {
			m = inB
		}
		x := c.Inputs[k]
		for d, l := range t {
			if m[l] || x.Shape[d] != size[l] {
				return nil, false, nil // diagonal or broadcast
			}
			m[l] = true
		}
	}
	var batch, ms, ns, ks []int
	for _, l := range out {
		switch {
		case inA[l] && inB[l]:
			batch = append(batch, l)
		case inA[l]:
			ms = append(ms, l)
		case inB[l]:
			ns = append(ns, l)
		default:
			return nil, false, nil
		}
	}
	for _, l := range terms[0] {
		if !inOut[l] {
			if !inB[l] {
				return nil, false, nil // summed over one operand only
			}
			ks = append(ks, l)
		}
	}
	for _, l := range terms[1] {
		if !inOut[l] && !inA[l] {
			return nil, false, nil
		}
	}
	prod := func(ls []int) int {
		n := 1
		for _, l := range ls {
			n *= int(size[l])
		}
		return n
	}
	nb, M, N, K := prod(batch), prod(ms), prod(ns), prod(ks)
	if nb*M*K*N < 4096 {
		return nil, false, nil // the loop is as fast for tiny problems
	}
	permFor := func(t einsumTerm, order []int) []int {
		p := make([]int, len(order))
		for i, l := range order {
			p[i] = slices.Index(t, l)
		}
		return p
	}
	aOrder := append(append(slices.Clone(batch), ms...), ks...)
	bOrder := append(append(slices.Clone(batch), ks...), ns...)
	ap := a
	if p := permFor(terms[0], aOrder); !isIdentityPerm(p) {
		r, err := permuteValue(c, a, p)
		if err != nil {
			return nil, false, err
		}
		ap = r
	}
	bp := b
	if p := permFor(terms[1], bOrder); !isIdentityPerm(p) {
		r, err := permuteValue(c, b, p)
		if err != nil {
			return nil, false, err
		}
		bp = r
	}
	resOrder := append(append(slices.Clone(batch), ms...), ns...)
	resShape := make([]int64, len(resOrder))
	for i, l := range resOrder {
		resShape[i] = size[l]
	}
	res, err := c.Alloc(tensor.F32, resShape)
	if err != nil {
		return nil, false, err
	}
	as, bs, rs := ap.Data.([]float32), bp.Data.([]float32), res.Data.([]float32)
	for i := 0; i < nb; i++ {
		Sgemm(c.Threads(), false, false, M, N, K, 1, as[i*M*K:], K, bs[i*K*N:], N, 0, rs[i*M*N:], N)
	}
	p := permFor(einsumTerm(resOrder), out)
	if isIdentityPerm(p) {
		return View(res, outShape), true, nil
	}
	r, err := permuteValue(c, res, p)
	if err != nil {
		return nil, false, err
	}
	return r, true, nil
}

func isIdentityPerm(p []int) bool {
	for i, v := range p {
		if v != i {
			return false
		}
	}
	return true
}
