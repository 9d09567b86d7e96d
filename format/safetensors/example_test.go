package safetensors_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

func Example() {
	w, _ := tensor.NewF32("layer.weight", tensor.Shape{2, 2}, []float32{1, 2, 3, 4})
	m := &refit.Model{Tensors: []*tensor.Tensor{w}}
	m.Metadata.Set("format", "pt")

	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, m, nil); err != nil {
		log.Fatal(err)
	}
	back, err := safetensors.Decode(bytes.NewReader(buf.Bytes()), int64(buf.Len()), nil)
	if err != nil {
		log.Fatal(err)
	}
	t := back.Tensor("layer.weight")
	v, _ := t.Float32s()
	fmt.Println(buf.Len(), t.DType, t.Shape, v, back.Metadata.String("format"))
	// Output: 128 F32 [2, 2] [1 2 3 4] pt
}
