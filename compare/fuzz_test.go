package compare

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/refit-ml/refit/tensor"
)

// fuzzTypes are the dtypes the comparison decodes: plain floats and integers and a few
// GGML block types.
var fuzzTypes = []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.I8, tensor.U8, tensor.I32,
	tensor.I64, tensor.F64, tensor.Bool, tensor.Q8_0, tensor.Q4_0, tensor.Q4_K}

// fuzzTensor makes a tensor of type d from data: as many whole elements (or blocks) as
// data holds, at most 1024 of them, in a 1-D shape.
func fuzzTensor(t *testing.T, name string, d tensor.DType, data []byte) *tensor.Tensor {
	block, size := int64(d.BlockSize()), int64(d.TypeSize())
	n := min(int64(len(data))/size, 1024)
	x, err := tensor.New(name, d, tensor.Shape{n * block}, bytes.NewReader(data[:n*size]))
	if err != nil {
		t.Fatalf("tensor.New(%v, %d blocks): %v", d, n, err)
	}
	return x
}

// FuzzTensors compares fuzzed tensors of fuzzed types with each other and with
// themselves: never a panic; a tensor compared with itself is exact with no error; the
// figures are in their ranges.
func FuzzTensors(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 64}, []byte{0, 0, 128, 63, 0, 0, 64, 64}, uint8(0), uint8(0))
	f.Add(bytes.Repeat([]byte{0x7f, 0xc0}, 40), bytes.Repeat([]byte{1, 2, 3}, 40), uint8(1), uint8(9))
	f.Add(bytes.Repeat([]byte{0xff}, 300), bytes.Repeat([]byte{0x3c}, 300), uint8(11), uint8(10))
	f.Fuzz(func(t *testing.T, da, db []byte, ta, tb uint8) {
		a := fuzzTensor(t, "a", fuzzTypes[int(ta)%len(fuzzTypes)], da)
		b := fuzzTensor(t, "b", fuzzTypes[int(tb)%len(fuzzTypes)], db)
		ctx := context.Background()
		self, err := TensorsContext(ctx, a, a)
		if err != nil {
			t.Fatalf("a vs a: %v", err)
		}
		if !self.Exact || self.MaxAbs != 0 || self.NaNs != 0 {
			t.Fatalf("a (%v) vs itself: %+v, want exact with no error", a.DType, self)
		}
		d, err := TensorsContext(ctx, a, b)
		if err != nil {
			return // types that cannot be compared are an error, not a panic
		}
		if d.MaxAbs < 0 || d.MaxRel < 0 || (!math.IsNaN(d.Cosine) && math.Abs(d.Cosine) > 1+1e-9) {
			t.Fatalf("a (%v) vs b (%v): figures out of range: %+v", a.DType, b.DType, d)
		}
		if d.Exact && d.MaxAbs != 0 {
			t.Fatalf("exact with max error %g", d.MaxAbs)
		}
		if a.Shape.Equal(b.Shape) {
			Output(a, b, nil)
		}
	})
}
