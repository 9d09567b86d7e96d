package tflite

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/refit-ml/refit"
)

// FuzzDecode: Decode never panics, fails only with documented errors, and every
// tensor it accepts reads fully.
func FuzzDecode(f *testing.F) {
	for _, n := range []string{"testdata/model.tflite", "testdata/external.tflite"} {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(bytes.NewReader(b), int64(len(b)), nil)
		if err != nil {
			if !errors.Is(err, refit.ErrFormat) && !errors.Is(err, refit.ErrUnsupported) {
				t.Fatalf("Decode = %v: not a documented error", err)
			}
			return
		}
		for _, x := range m.Tensors {
			if _, err := x.Bytes(); err != nil {
				t.Fatalf("tensor %q: %v", x.Name, err)
			}
		}
	})
}

// FuzzSparsity builds sparse encodings from fuzz bytes: whatever expanded accepts,
// densify handles without panicking and fills every stored value in range.
func FuzzSparsity(f *testing.F) {
	f.Add([]byte{2, 3, 4, 0, 1, 0, 1, 3, 0, 2, 2, 3, 1, 3, 0})
	f.Add([]byte{2, 2, 4, 1, 1, 2, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		next := func() int {
			if len(b) == 0 {
				return 0
			}
			v := int(b[0])
			b = b[1:]
			return v
		}
		rank := next()%3 + 1
		shape := make([]int64, rank)
		for i := range shape {
			shape[i] = int64(next() % 9)
		}
		s := &Sparsity{}
		for i := 0; i < next()%2; i++ {
			s.BlockMap = append(s.BlockMap, next()%4)
		}
		n := rank + len(s.BlockMap)
		for i := 0; i < n; i++ {
			s.TraversalOrder = append(s.TraversalOrder, next()%(n+1))
		}
		for i := 0; i < n; i++ {
			d := SparseDim{Dense: next()%2 == 0, Size: next() % 9}
			if !d.Dense {
				for k := next() % 6; k >= 0; k-- {
					d.Segments = append(d.Segments, next()%8)
				}
				for k := next() % 6; k > 0; k-- {
					d.Indices = append(d.Indices, next()%9)
				}
			}
			s.Dims = append(s.Dims, d)
		}
		values := int64(next() % 16)
		exp, err := s.expanded(shape, values)
		if err != nil {
			return
		}
		vals := make([]byte, values)
		for i := range vals {
			vals[i] = byte(i + 1)
		}
		out := s.densify(vals, 1, shape, exp)
		nz := 0
		for _, x := range out {
			if x != 0 {
				nz++
			}
		}
		if int64(nz) > values {
			t.Fatalf("%d non-zeros from %d values", nz, values)
		}
	})
}

// FuzzReadGraphs: operator reading checks every access itself (no recover), so any
// input gives graphs or ErrFormat, and option reads stay in bounds.
func FuzzReadGraphs(f *testing.F) {
	f.Add(buildOps())
	f.Fuzz(func(t *testing.T, b []byte) {
		gs, err := readGraphs(b)
		if err != nil {
			if !errors.Is(err, refit.ErrFormat) {
				t.Fatalf("readGraphs = %v: not ErrFormat", err)
			}
			return
		}
		for _, g := range gs {
			for _, op := range g.Operators {
				for i := range 8 {
					op.Options.Int32(i, 0)
					op.Options.Int8(i, 0)
				}
			}
		}
	})
}
