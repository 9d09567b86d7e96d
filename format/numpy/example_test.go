package numpy_test

import (
	"bytes"
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/numpy"
	"github.com/refit-ml/refit/tensor"
)

// Write two tensors as a .npz archive (what numpy.savez writes) and read them back.
func Example() {
	w, _ := tensor.NewF32("weight", tensor.Shape{2, 2}, []float32{1, 2, 3, 4})
	b, _ := tensor.NewF32("bias", tensor.Shape{2}, []float32{0.5, -0.5})

	var buf bytes.Buffer
	if err := numpy.Encode(&buf, &refit.Model{Tensors: []*tensor.Tensor{w, b}}, nil); err != nil {
		fmt.Println(err)
		return
	}
	m, err := numpy.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range m.Tensors {
		v, _ := t.Float32s()
		fmt.Println(t.Name, t.DType, t.Shape, v)
	}
	// Output:
	// weight F32 [2, 2] [1 2 3 4]
	// bias F32 [2] [0.5 -0.5]
}

// A single array, as numpy.save writes it.
func ExampleEncodeNPY() {
	x, _ := tensor.NewF32("x", tensor.Shape{3}, []float32{1, 2, 3})
	var buf bytes.Buffer
	if err := numpy.EncodeNPY(&buf, x); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d header bytes: %q\n", buf.Len()-int(x.Size()), bytes.TrimRight(buf.Bytes()[10:buf.Len()-int(x.Size())], " \n"))
	// Output:
	// 128 header bytes: "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }"
}
