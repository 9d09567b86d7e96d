package tflite_test

import (
	"fmt"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/tflite"
)

// Open a TFLite model and dequantize a per-channel int8 weight.
func ExampleDequantize() {
	m, err := refit.Open("testdata/model.tflite")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	info, _ := tflite.Info(m, "conv/filter")
	f, _ := tflite.Dequantize(m.Tensor("conv/filter"), info.Quantization)
	v, _ := f.Float32s()
	fmt.Println(info.Quantization.Scale, v)
	// Output: [0.5 0.25 0.125] [-64 63.5 0 0.25 0 0.125]
}
