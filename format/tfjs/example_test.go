package tfjs_test

import (
	"fmt"
	"os"

	"github.com/refit-ml/refit/format/tfjs"
)

// Decode a TF.js layers model; quantized weights come back dequantized.
func ExampleDecodeFS() {
	m, err := tfjs.DecodeFS(os.DirFS("testdata/layers"), "model.json", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	q := m.Tensor("q8")
	v, _ := q.Float32s()
	fmt.Println(q.DType, q.Shape, v[:2], m.Metadata.String("tfjs.quantization.q8"))
	// Output: F32 [2, 3] [-1.5 -1.4877] uint8
}
