package tflite

import (
	"math"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite/internal/schema"
	"github.com/refit-ml/refit/tensor"
)

// Sparsity is a tensor's TFLite sparse encoding: the dense tensor, optionally cut into
// blocks (BlockMap[k] is the original dimension block dimension k splits), is walked
// in TraversalOrder; each traversed dimension is dense or compressed (CSR).
type Sparsity struct {
	TraversalOrder []int
	BlockMap       []int
	Dims           []SparseDim // one per traversed dimension, in traversal order

	at int64 // byte offset of the sparsity table in the file, for errors
}

// SparseDim is one traversed dimension: dense with Size entries, or CSR with
// Segments (per parent position, a range into Indices) and Indices (coordinates).
type SparseDim struct {
	Dense    bool
	Size     int
	Segments []int
	Indices  []int
}

// maxDensify bounds how much larger than its stored values a densified tensor may be.
const maxDensify = 1024

// readSparsity reads the checked SparsityParameters table t.
func readSparsity(t flatbuffers.Table) (*Sparsity, error) {
	var sp schema.SparsityParameters
	sp.Init(t.Bytes, t.Pos)
	s := &Sparsity{at: int64(t.Pos)}
	order, err := readVector(t, slot(0), 4, sp.TraversalOrder)
	if err != nil {
		return nil, err
	}
	blocks, err := readVector(t, slot(1), 4, sp.BlockMap)
	if err != nil {
		return nil, err
	}
	for _, x := range order {
		s.TraversalOrder = append(s.TraversalOrder, int(x))
	}
	for _, x := range blocks {
		s.BlockMap = append(s.BlockMap, int(x))
	}
	nDims, err := tableVector(t, slot(2))
	if err != nil {
		return nil, err
	}
	var dm schema.DimensionMetadata
	for i := range nDims {
		sp.DimMetadata(&dm, i)
		mt := dm.Table()
		for _, f := range []struct{ slot, width int }{{0, 1}, {1, 4}, {2, 1}, {4, 1}} { // format, dense_size, union types
			if _, err := fieldPos(mt, slot(f.slot), f.width); err != nil {
				return nil, err
			}
		}
		d := SparseDim{Dense: dm.Format() == schema.DimensionTypeDENSE, Size: int(dm.DenseSize())}
		if !d.Dense {
			if d.Segments, err = indexVector(mt, dm.ArraySegmentsType(), slot(3)); err != nil {
				return nil, err
			}
			if d.Indices, err = indexVector(mt, dm.ArrayIndicesType(), slot(5)); err != nil {
				return nil, err
			}
		}
		s.Dims = append(s.Dims, d)
	}
	return s, nil
}

// indexVector reads the array_segments or array_indices union (of type typ, in slot s)
// of the checked DimensionMetadata table mt.
func indexVector(mt flatbuffers.Table, typ schema.SparseIndexVector, s flatbuffers.VOffsetT) ([]int, error) {
	at := int64(mt.Pos)
	tab, ok, err := subTable(mt, s)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, refit.Errorf("tflite", at, "sparse dimension without its index arrays")
	}
	elem := map[schema.SparseIndexVector]int{schema.SparseIndexVectorInt32Vector: 4,
		schema.SparseIndexVectorUint16Vector: 2, schema.SparseIndexVectorUint8Vector: 1}[typ]
	if elem == 0 {
		return nil, refit.Errorf("tflite", at, "sparse index vector of type %d", typ)
	}
	n, err := vectorLen(tab, slot(0), elem)
	if err != nil || n == 0 {
		return nil, err
	}
	start := tab.Vector(flatbuffers.UOffsetT(tab.Offset(slot(0))))
	out := make([]int, n)
	for i := range out {
		p := start + flatbuffers.UOffsetT(i*elem)
		switch elem {
		case 4:
			out[i] = int(tab.GetInt32(p))
		case 2:
			out[i] = int(tab.GetUint16(p))
		default:
			out[i] = int(tab.GetUint8(p))
		}
	}
	return out, nil
}

// expanded returns the blocked shape the traversal walks (original dimensions
// divided by their block sizes, then the block sizes) after validating s against
// shape and the number of stored values.
func (s *Sparsity) expanded(shape []int64, values int64) ([]int64, error) {
	r, n := len(shape), len(s.TraversalOrder)
	if n != r+len(s.BlockMap) || len(s.Dims) != n {
		return nil, refit.Errorf("tflite", s.at, "sparsity: %d traversal dims, %d metadata, rank %d with %d blocks", n, len(s.Dims), r, len(s.BlockMap))
	}
	seen := make([]bool, n)
	level := make([]int, n) // level[dim] is where dim is traversed
	for l, d := range s.TraversalOrder {
		if d < 0 || d >= n || seen[d] {
			return nil, refit.Errorf("tflite", s.at, "sparsity: traversal order %v is not a permutation", s.TraversalOrder)
		}
		seen[d], level[d] = true, l
	}
	exp := make([]int64, n)
	copy(exp, shape)
	blocked := make([]bool, r)
	for k, d := range s.BlockMap {
		if d < 0 || d >= r || blocked[d] {
			return nil, refit.Errorf("tflite", s.at, "sparsity: bad block map %v", s.BlockMap)
		}
		blocked[d] = true
		bs := s.Dims[level[r+k]]
		if !bs.Dense || bs.Size <= 0 || shape[d]%int64(bs.Size) != 0 {
			return nil, refit.Errorf("tflite", s.at, "sparsity: block size %d for dimension %d of %v", bs.Size, d, shape)
		}
		exp[r+k] = int64(bs.Size)
		exp[d] = shape[d] / int64(bs.Size)
	}
	count := int64(1) // positions at the current level
	for l, d := range s.TraversalOrder {
		dim := &s.Dims[l]
		if dim.Dense {
			if int64(dim.Size) != exp[d] {
				return nil, refit.Errorf("tflite", s.at, "sparsity: dense size %d for a dimension of %d", dim.Size, exp[d])
			}
			if exp[d] != 0 && count > math.MaxInt64/exp[d] {
				return nil, refit.Errorf("tflite", s.at, "sparsity: position count overflows")
			}
			count *= exp[d]
			continue
		}
		if int64(len(dim.Segments)) != count+1 || dim.Segments[0] != 0 {
			return nil, refit.Errorf("tflite", s.at, "sparsity: %d segments for %d positions", len(dim.Segments), count)
		}
		for i := 1; i < len(dim.Segments); i++ {
			if dim.Segments[i] < dim.Segments[i-1] {
				return nil, refit.Errorf("tflite", s.at, "sparsity: decreasing segments")
			}
		}
		if dim.Segments[len(dim.Segments)-1] != len(dim.Indices) {
			return nil, refit.Errorf("tflite", s.at, "sparsity: segments end at %d, %d indices", dim.Segments[len(dim.Segments)-1], len(dim.Indices))
		}
		for _, x := range dim.Indices {
			if x < 0 || int64(x) >= exp[d] {
				return nil, refit.Errorf("tflite", s.at, "sparsity: index %d outside a dimension of %d", x, exp[d])
			}
		}
		count = int64(len(dim.Indices))
	}
	if count != values {
		return nil, refit.Errorf("tflite", s.at, "sparsity: %d positions, %d stored values", count, values)
	}
	return exp, nil
}

// densify scatters the stored values (es bytes each) into a dense row-major tensor.
// s must have been validated by expanded.
func (s *Sparsity) densify(values []byte, es int, shape, exp []int64) []byte {
	r := len(shape)
	out := make([]byte, tensor.Shape(shape).Elements()*int64(es))
	coord := make([]int64, len(exp)) // by expanded dimension
	next := 0
	var walk func(level, prev int)
	walk = func(level, prev int) {
		if level == len(s.TraversalOrder) {
			var off int64
			for d := 0; d < r; d++ {
				c := coord[d]
				for k, bd := range s.BlockMap {
					if bd == d {
						c = c*exp[r+k] + coord[r+k]
					}
				}
				off = off*shape[d] + c
			}
			copy(out[off*int64(es):], values[next*es:(next+1)*es])
			next++
			return
		}
		d := s.TraversalOrder[level]
		dim := &s.Dims[level]
		if dim.Dense {
			for j := 0; j < dim.Size; j++ {
				coord[d] = int64(j)
				walk(level+1, prev*dim.Size+j)
			}
			return
		}
		for j := dim.Segments[prev]; j < dim.Segments[prev+1]; j++ {
			coord[d] = int64(dim.Indices[j])
			walk(level+1, j)
		}
	}
	walk(0, 0)
	return out
}
