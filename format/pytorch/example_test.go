package pytorch_test

import (
	"bytes"
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/pytorch"
	"github.com/refit-ml/refit/tensor"
)

func ExampleEncode() {
	w, _ := tensor.NewF32("layer.weight", tensor.Shape{2, 2}, []float32{1, 2, 3, 4})
	var buf bytes.Buffer
	if err := pytorch.Encode(&buf, &refit.Model{Tensors: []*tensor.Tensor{w}}, nil); err != nil {
		panic(err)
	}
	m, err := pytorch.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		panic(err)
	}
	v, _ := m.Tensors[0].Float32s()
	fmt.Println(m.Tensors[0].Name, m.Tensors[0].Shape, v)
	// Output: layer.weight [2, 2] [1 2 3 4]
}
