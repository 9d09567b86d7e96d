package runtime

import (
	"errors"
	"slices"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

func TestSequenceOps(t *testing.T) {
	a := mustValue(t, []float32{1, 2}, 2)
	b := mustValue(t, []float32{3, 4}, 2)
	seq := NewSequence(tensor.F32, a, b)
	pos := func(p int64) *Value { return Scalar(p) }
	firsts := func(s *Value) []float32 {
		var out []float32
		for _, e := range s.Elems {
			out = append(out, e.Float32s()[0])
		}
		return out
	}
	t.Run("insert front", func(t *testing.T) {
		out, err := runOp("", "SequenceInsert", 12, nil, 1, seq, mustValue(t, []float32{9, 9}, 2), pos(0))
		if err != nil {
			t.Fatal(err)
		}
		if got := firsts(out[0]); !slices.Equal(got, []float32{9, 1, 3}) {
			t.Fatalf("got %v", got)
		}
		if len(seq.Elems) != 2 {
			t.Fatal("insert modified its input")
		}
	})
	t.Run("at negative", func(t *testing.T) {
		out, err := runOp("", "SequenceAt", 12, nil, 1, seq, pos(-1))
		if err != nil {
			t.Fatal(err)
		}
		if got := out[0].Float32s(); !slices.Equal(got, []float32{3, 4}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("erase default last", func(t *testing.T) {
		out, err := runOp("", "SequenceErase", 12, nil, 1, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got := firsts(out[0]); !slices.Equal(got, []float32{1}) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("split scalar then concat new axis", func(t *testing.T) {
		x := mustValue(t, []float32{1, 2, 3, 4, 5}, 5)
		out, err := runOp("", "SplitToSequence", 12, nil, 1, x, Scalar(int64(2)))
		if err != nil {
			t.Fatal(err)
		}
		var shapes [][]int64
		for _, e := range out[0].Elems {
			shapes = append(shapes, e.Shape)
		}
		if !slices.EqualFunc(shapes, [][]int64{{2}, {2}, {1}}, slices.Equal) {
			t.Fatalf("shapes %v", shapes)
		}
		st, err := runOp("", "ConcatFromSequence", 12, map[string]*Attr{"axis": intAttr(0), "new_axis": intAttr(1)}, 1, seq)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(st[0].Shape, []int64{2, 2}) || !slices.Equal(st[0].Float32s(), []float32{1, 2, 3, 4}) {
			t.Fatalf("stacked %v %v", st[0], st[0].Data)
		}
	})
	t.Run("optional", func(t *testing.T) {
		empty := NewOptional(tensor.F32, nil)
		out, err := runOp("", "OptionalHasElement", 15, nil, 1, empty)
		if err != nil {
			t.Fatal(err)
		}
		if out[0].Data.([]bool)[0] {
			t.Fatal("empty optional has an element")
		}
		if _, err := runOp("", "OptionalGetElement", 15, nil, 1, empty); err == nil {
			t.Fatal("got an element of an empty optional")
		}
	})
	for _, tc := range []struct {
		name, op string
		attrs    map[string]*Attr
		ins      []*Value
	}{
		{"at out of range", "SequenceAt", nil, []*Value{seq, pos(2)}},
		{"at float position", "SequenceAt", nil, []*Value{seq, Scalar(float32(0))}},
		{"insert past end", "SequenceInsert", nil, []*Value{seq, a, pos(3)}},
		{"insert wrong dtype", "SequenceInsert", nil, []*Value{seq, mustValue(t, []int64{1}, 1)}},
		{"erase empty", "SequenceErase", nil, []*Value{NewSequence(tensor.F32)}},
		{"at on a tensor", "SequenceAt", nil, []*Value{a, pos(0)}},
		{"sequence into Add", "Add", nil, []*Value{seq, a}},
		{"split does not add up", "SplitToSequence", nil, []*Value{a, mustValue(t, []int64{1, 2}, 2)}},
		{"split zero", "SplitToSequence", nil, []*Value{a, Scalar(int64(0))}},
		{"concat empty", "ConcatFromSequence", map[string]*Attr{"axis": intAttr(0)}, []*Value{NewSequence(tensor.F32)}},
		{"concat bad axis", "ConcatFromSequence", map[string]*Attr{"axis": intAttr(3)}, []*Value{seq}},
		{"construct mixed", "SequenceConstruct", nil, []*Value{a, mustValue(t, []int64{1}, 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := runOp("", tc.op, 17, tc.attrs, 1, tc.ins...); err == nil {
				t.Fatalf("%s accepted bad input", tc.op)
			}
		})
	}
}

// FuzzSequenceOps runs the sequence operators on fuzzed element shapes, positions,
// axes and splits: errors are fine, panics are bugs.
func FuzzSequenceOps(f *testing.F) {
	f.Add([]byte{2, 2, 3, 0, 1, 1, 0})
	f.Add([]byte{3, 1, 4, 255, 2, 0, 1})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		at := func(i int) byte {
			if i < len(b) {
				return b[i]
			}
			return 0
		}
		n, rows, cols := int(at(0)%4), int64(at(1)%4), int64(at(2)%4)
		var elems []*Value
		for i := 0; i < n; i++ {
			r := rows
			if at(3+i)%2 == 1 {
				r++ // ragged along axis 0
			}
			elems = append(elems, NewValue(tensor.F32, []int64{r, cols}))
		}
		seq := NewSequence(tensor.F32, elems...)
		check := func(_ []*Value, err error) {
			if kp := (*KernelPanicError)(nil); errors.As(err, &kp) {
				t.Fatal(err)
			}
		}
		pos := Scalar(int64(int8(at(7))))
		axis := int64(int8(at(8)) % 4)
		check(runOp("", "SequenceAt", 17, nil, 1, seq, pos))
		check(runOp("", "SequenceErase", 17, nil, 1, seq, pos))
		check(runOp("", "SequenceInsert", 17, nil, 1, seq, NewValue(tensor.F32, []int64{rows, cols}), pos))
		check(runOp("", "ConcatFromSequence", 17, map[string]*Attr{"axis": intAttr(axis), "new_axis": intAttr(int64(at(9) % 2))}, 1, seq))
		x := NewValue(tensor.F32, []int64{rows, cols})
		check(runOp("", "SplitToSequence", 17, map[string]*Attr{"axis": intAttr(axis), "keepdims": intAttr(int64(at(10) % 2))}, 1, x, Scalar(int64(int8(at(11))))))
		check(runOp("", "SplitToSequence", 17, map[string]*Attr{"axis": intAttr(axis)}, 1, x, mustValue(t, []int64{int64(int8(at(12))), int64(int8(at(13)))}, 2)))
		check(runOp("", "OptionalGetElement", 17, nil, 1, NewOptional(tensor.F32, nil)))
	})
}
