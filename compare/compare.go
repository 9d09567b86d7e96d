// Package compare measures how far two tensors or two checkpoints differ: exact
// equality, max absolute and relative error, cosine similarity. It backs the
// verification step of refit convert and the checkpoint mode of refit diff.
//
// Memory: tensors are compared in fixed-size chunks (bytes where the types agree,
// float32 values where they differ), so memory stays O(1) whatever the tensor size.
package compare

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// TensorDiff describes how tensor B differs from tensor A.
type TensorDiff struct {
	Name   string       `json:"name"`
	DTypeA tensor.DType `json:"-"`
	DTypeB tensor.DType `json:"-"`
	ShapeA tensor.Shape `json:"shape_a"`
	ShapeB tensor.Shape `json:"shape_b"`
	Exact  bool         `json:"exact"`            // identical bytes (same type) or identical values
	MaxAbs float64      `json:"max_abs_error"`    // max |a-b|
	MaxRel float64      `json:"max_rel_error"`    // max |a-b| / max(|a|, tiny)
	Cosine float64      `json:"cosine"`           // cosine similarity of the two tensors as vectors
	Note   string       `json:"note,omitempty"`   // shape mismatch, non-numeric, ...
	NaNs   int64        `json:"nan_mismatch"`     // positions where exactly one side is NaN
	Types  string       `json:"dtypes,omitempty"` // "F32" or "F32->F16"
}

// ShapeMismatch reports whether the shapes differ.
func (d *TensorDiff) ShapeMismatch() bool { return !d.ShapeA.Equal(d.ShapeB) }

const chunk = 1 << 20

// floatChunk is the number of elements decoded at once when types differ: a multiple
// of every block size, so chunks start on block boundaries.
const floatChunk = 1 << 16

// Tensors compares b against a.
func Tensors(a, b *tensor.Tensor) (TensorDiff, error) {
	return TensorsContext(context.Background(), a, b)
}

// TensorsContext is Tensors that stops between chunks once ctx is done.
func TensorsContext(ctx context.Context, a, b *tensor.Tensor) (TensorDiff, error) {
	d := TensorDiff{Name: a.Name, DTypeA: a.DType, DTypeB: b.DType, ShapeA: a.Shape, ShapeB: b.Shape, Types: a.DType.String()}
	if a.DType != b.DType {
		d.Types = a.DType.String() + "->" + b.DType.String()
	}
	if !a.Shape.Equal(b.Shape) {
		d.Note = fmt.Sprintf("shape %v != %v", a.Shape, b.Shape)
		return d, nil
	}
	if a.DType == b.DType {
		eq, err := sameBytes(ctx, a, b)
		if err != nil {
			return d, err
		}
		if eq {
			d.Exact, d.Cosine = true, 1
			return d, nil
		}
	}
	if !numeric(a.DType) || !numeric(b.DType) {
		d.Note = "not comparable as numbers"
		return d, nil
	}
	return d, compareFloats(ctx, &d, a, b)
}

// compareFloats decodes both tensors to float32 a chunk at a time and accumulates the
// error figures, so memory stays a few hundred KiB whatever the tensor size.
func compareFloats(ctx context.Context, d *TensorDiff, a, b *tensor.Tensor) error {
	acc, err := streamFloats(ctx, d, a, b)
	if err != nil {
		return err
	}
	acc.finish(d)
	return nil
}

// streamFloats folds a and b, decoded a chunk at a time, into d and the returned sums.
func streamFloats(ctx context.Context, d *TensorDiff, a, b *tensor.Tensor) (floatStats, error) {
	n := a.NumElements()
	var (
		acc        floatStats
		ra, rb     []byte
		fa, fb     []float32
		offA, offB int64
	)
	for e := int64(0); e < n; e += floatChunk {
		if err := ctx.Err(); err != nil {
			return acc, err
		}
		k := min(int64(floatChunk), n-e)
		var err error
		if ra, fa, offA, err = decodeChunk(a, ra, fa, offA, k); err != nil {
			return acc, err
		}
		if rb, fb, offB, err = decodeChunk(b, rb, fb, offB, k); err != nil {
			return acc, err
		}
		acc.add(d, fa, fb)
	}
	return acc, nil
}

// decodeChunk reads k elements of t at byte offset off into f, reusing raw and f.
func decodeChunk(t *tensor.Tensor, raw []byte, f []float32, off, k int64) ([]byte, []float32, int64, error) {
	size, err := tensor.ByteSize(t.DType, tensor.Shape{k})
	if err != nil {
		return raw, f, off, fmt.Errorf("%s: %w", t.Name, err)
	}
	if int64(cap(raw)) < size {
		raw = make([]byte, size)
	}
	raw = raw[:size]
	if int64(cap(f)) < k {
		f = make([]float32, k)
	}
	f = f[:k]
	if err := refit.ReadFullAt(t.Data, raw, off); err != nil {
		return raw, f, off, fmt.Errorf("%s: %w", t.Name, err)
	}
	if err := tensor.ToFloat32(f, raw, t.DType); err != nil {
		return raw, f, off, fmt.Errorf("%s: %w", t.Name, err)
	}
	return raw, f, off + size, nil
}

func numeric(t tensor.DType) bool { return t.Valid() && t != tensor.C64 && t != tensor.C128 }

// Floats fills the error figures of d from two equal-length vectors.
func Floats(d *TensorDiff, a, b []float32) {
	var acc floatStats
	acc.add(d, a, b)
	acc.finish(d)
}

// floatStats accumulates the sums behind the cosine over chunks.
type floatStats struct {
	dot, na, nb float64
	inexact     bool
}

// add folds one pair of chunks into d (MaxAbs, MaxRel, NaNs) and s.
func (s *floatStats) add(d *TensorDiff, a, b []float32) {
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		xn, yn := math.IsNaN(x), math.IsNaN(y)
		if xn || yn {
			if xn != yn {
				d.NaNs++
				s.inexact = true
			}
			continue
		}
		if x != y {
			s.inexact = true
			if math.IsInf(x, 0) || math.IsInf(y, 0) {
				d.MaxAbs = math.Inf(1)
				d.MaxRel = math.Inf(1)
				continue
			}
		}
		e := 0.0
		if x != y { // equal infinities differ by 0, not inf-inf = NaN
			e = math.Abs(x - y)
		}
		d.MaxAbs = math.Max(d.MaxAbs, e)
		if e > 0 {
			d.MaxRel = math.Max(d.MaxRel, e/math.Max(math.Abs(x), 1e-30))
		}
		if !math.IsInf(x, 0) && !math.IsInf(y, 0) {
			s.dot += x * y
			s.na += x * x
			s.nb += y * y
		}
	}
}

// finish sets d's Exact and Cosine from the accumulated sums.
func (s *floatStats) finish(d *TensorDiff) {
	d.Exact = !s.inexact
	switch {
	case s.na == 0 && s.nb == 0:
		d.Cosine = 1
	case s.na == 0 || s.nb == 0:
		d.Cosine = 0
	default:
		d.Cosine = s.dot / math.Sqrt(s.na*s.nb)
	}
}

func sameBytes(ctx context.Context, a, b *tensor.Tensor) (bool, error) {
	n := a.Size()
	if n != b.Size() {
		return false, nil
	}
	ba, bb := make([]byte, min(n, chunk)), make([]byte, min(n, chunk))
	for off := int64(0); off < n; off += chunk {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		m := min(chunk, n-off)
		if err := refit.ReadFullAt(a.Data, ba[:m], off); err != nil {
			return false, fmt.Errorf("%s: %w", a.Name, err)
		}
		if err := refit.ReadFullAt(b.Data, bb[:m], off); err != nil {
			return false, fmt.Errorf("%s: %w", b.Name, err)
		}
		if !bytes.Equal(ba[:m], bb[:m]) {
			return false, nil
		}
	}
	return true, nil
}

// Report compares two checkpoints name by name.
type Report struct {
	Tensors []TensorDiff `json:"tensors"`
	Missing []string     `json:"missing"` // in A, not in B
	Extra   []string     `json:"extra"`   // in B, not in A
}

// Models compares every tensor of b against the tensor of a with the same name.
// each, if not nil, is called after each tensor (for progress). Names are matched
// through a map, so the cost is linear in the tensor count (a model may hold 100k+
// tensors); when b repeats a name, the first tensor with that name is compared, as
// Model.Tensor would return.
func Models(a, b *refit.Model, each func(TensorDiff)) (*Report, error) {
	return ModelsContext(context.Background(), a, b, each)
}

// ModelsContext is Models that stops between chunks once ctx is done.
func ModelsContext(ctx context.Context, a, b *refit.Model, each func(TensorDiff)) (*Report, error) {
	r := &Report{}
	inA := make(map[string]bool, len(a.Tensors))
	inB := ByName(b)
	for _, ta := range a.Tensors {
		inA[ta.Name] = true
		tb := inB[ta.Name]
		if tb == nil {
			r.Missing = append(r.Missing, ta.Name)
			continue
		}
		d, err := TensorsContext(ctx, ta, tb)
		if err != nil {
			return nil, err
		}
		r.Tensors = append(r.Tensors, d)
		if each != nil {
			each(d)
		}
	}
	for _, tb := range b.Tensors {
		if !inA[tb.Name] {
			r.Extra = append(r.Extra, tb.Name)
		}
	}
	slices.Sort(r.Missing)
	slices.Sort(r.Extra)
	return r, nil
}

// ByName indexes m's tensors by name; where names repeat, the first tensor wins, as
// with Model.Tensor. Callers that look up many names use it instead of Model.Tensor,
// which scans the slice.
func ByName(m *refit.Model) map[string]*tensor.Tensor {
	idx := make(map[string]*tensor.Tensor, len(m.Tensors))
	for _, t := range m.Tensors {
		if _, dup := idx[t.Name]; !dup {
			idx[t.Name] = t
		}
	}
	return idx
}

// Identical reports whether the checkpoints hold the same names, shapes and values.
func (r *Report) Identical() bool {
	if len(r.Missing) > 0 || len(r.Extra) > 0 {
		return false
	}
	for _, d := range r.Tensors {
		if !d.Exact {
			return false
		}
	}
	return true
}
