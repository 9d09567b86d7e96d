package layout_test

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/layout"
	"github.com/refit-ml/refit/tensor"
)

// Map a Keras Dense layer to a PyTorch Linear.
func ExampleToPyTorch() {
	k, _ := tensor.NewF32("dense_1/kernel:0", tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	b, _ := tensor.NewF32("dense_1/bias:0", tensor.Shape{3}, []float32{0, 0, 1})
	m := &refit.Model{Tensors: []*tensor.Tensor{k, b}}
	layers, _ := layout.LayersFromConfig(`{"config": {"layers": [{"class_name": "Dense", "config": {"name": "dense_1"}}]}}`)
	out, err := layout.ToPyTorch(m, layers)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range out.Tensors {
		v, _ := t.Float32s()
		fmt.Println(t.Name, t.Shape, v)
	}
	// Output:
	// dense_1.weight [3, 2] [1 4 2 5 3 6]
	// dense_1.bias [3] [0 0 1]
}
