package runtime

import (
	"fmt"

	"github.com/refit-ml/refit/internal/parallel"
	"github.com/refit-ml/refit/tensor"
)

// BroadcastShape returns the numpy-style broadcast of shapes: dimensions are aligned
// from the right, and each pair must be equal or contain a 1.
func BroadcastShape(shapes ...[]int64) ([]int64, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int64, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch o := out[off+i]; {
			case d == o || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v cannot be broadcast together", shapeList(shapes))
			}
		}
	}
	return out, nil
}

func shapeList(shapes [][]int64) []tensor.Shape {
	out := make([]tensor.Shape, len(shapes))
	for i, s := range shapes {
		out[i] = s
	}
	return out
}

// bcast walks an output shape and the matching element offsets of broadcast operands,
// one innermost row at a time. Dimensions are coalesced where every operand is
// contiguous across them, so same-shape and scalar operands become one long row.
type bcast struct {
	dims    []int   // coalesced output dims; the last is the row length
	strides [][]int // per operand, per coalesced dim; 0 where broadcast
	rows    int
}

func newBcast(out []int64, ins ...[]int64) *bcast {
	rank := len(out)
	strides := make([][]int, len(ins))
	for k, s := range ins {
		st := make([]int, rank)
		acc := 1
		off := rank - len(s)
		for i := rank - 1; i >= 0; i-- {
			if i >= off && s[i-off] != 1 {
				st[i] = acc
				acc *= int(s[i-off])
			}
		}
		strides[k] = st
	}
	// Coalesce from the right: merge dim i into i+1 when every operand's stride agrees.
	var dims []int
	var cs [][]int = make([][]int, len(ins))
	for i := rank - 1; i >= 0; i-- {
		d := int(out[i])
		if d == 1 {
			continue
		}
		if len(dims) > 0 {
			last := len(dims) - 1
			ok := true
			for k := range ins {
				if strides[k][i] != cs[k][last]*dims[last] {
					ok = false
					break
				}
			}
			if ok {
				dims[last] *= d
				continue
			}
		}
		dims = append(dims, d)
		for k := range ins {
			cs[k] = append(cs[k], strides[k][i])
		}
	}
	if len(dims) == 0 {
		dims = []int{1}
		for k := range ins {
			cs[k] = []int{0}
		}
	}
	// Reverse to outermost-first.
	for i, j := 0, len(dims)-1; i < j; i, j = i+1, j-1 {
		dims[i], dims[j] = dims[j], dims[i]
		for k := range ins {
			cs[k][i], cs[k][j] = cs[k][j], cs[k][i]
		}
	}
	rows := 1
	for _, d := range dims[:len(dims)-1] {
		rows *= d
	}
	for _, d := range out {
		if d == 0 {
			rows = 0
		}
	}
	return &bcast{dims: dims, strides: cs, rows: rows}
}

// rowLen is the length of one innermost row.
func (b *bcast) rowLen() int { return b.dims[len(b.dims)-1] }

// inner returns operand k's stride along the row (0 or 1... or larger after coalescing).
func (b *bcast) inner(k int) int { return b.strides[k][len(b.dims)-1] }

// offsets fills offs with each operand's offset at the start of row r.
func (b *bcast) offsets(r int, offs []int) {
	for k := range offs {
		offs[k] = 0
	}
	for i := len(b.dims) - 2; i >= 0; i-- {
		d := b.dims[i]
		idx := r % d
		r /= d
		for k := range offs {
			offs[k] += idx * b.strides[k][i]
		}
	}
}

// each runs fn on every row in parallel: out is the row's output offset, offs the
// operands' offsets.
func (b *bcast) each(threads int, fn func(out int, offs []int)) {
	n := b.rowLen()
	grain := max(1, 16384/max(n, 1))
	parallel.For(threads, b.rows, grain, func(lo, hi int) {
		offs := make([]int, len(b.strides))
		for r := lo; r < hi; r++ {
			b.offsets(r, offs)
			fn(r*n, offs)
		}
	})
}

// binaryMap computes out[i] = f(a[i'], b[i”]) with broadcasting.
func binaryMap[T, U any](threads int, out []U, a, b []T, bc *bcast, f func(x, y T) U) {
	n := bc.rowLen()
	sa, sb := bc.inner(0), bc.inner(1)
	bc.each(threads, func(o int, offs []int) {
		dst := out[o : o+n]
		ia, ib := offs[0], offs[1]
		switch {
		case sa == 1 && sb == 1:
			x, y := a[ia:ia+n], b[ib:ib+n]
			for i := range dst {
				dst[i] = f(x[i], y[i])
			}
		case sa == 1 && sb == 0:
			x, y := a[ia:ia+n], b[ib]
			for i := range dst {
				dst[i] = f(x[i], y)
			}
		case sa == 0 && sb == 1:
			x, y := a[ia], b[ib:ib+n]
			for i := range dst {
				dst[i] = f(x, y[i])
			}
		default:
			for i := range dst {
				dst[i] = f(a[ia+i*sa], b[ib+i*sb])
			}
		}
	})
}

// unaryMap computes out[i] = f(in[i]) in parallel.
func unaryMap[T, U any](threads int, out []U, in []T, f func(T) U) {
	parallel.For(threads, len(in), 16384, func(lo, hi int) {
		src, dst := in[lo:hi], out[lo:hi]
		for i, x := range src {
			dst[i] = f(x)
		}
	})
}

// broadcastsTo reports whether shape from broadcasts to exactly shape to.
func broadcastsTo(from, to []int64) bool {
	if len(from) > len(to) {
		return false
	}
	off := len(to) - len(from)
	for i, d := range from {
		if d != 1 && d != to[off+i] {
			return false
		}
	}
	return true
}
