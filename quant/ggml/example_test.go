package ggml_test

import (
	"fmt"

	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

func ExampleQuantizeRows() {
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i-16) / 4
	}
	q := make([]byte, tensor.Q8_0.TypeSize())
	if err := ggml.QuantizeRows(tensor.Q8_0, q, x, 1, 32, nil, 0); err != nil {
		panic(err)
	}
	y := make([]float32, 32)
	if err := tensor.Dequantize(y, q, tensor.Q8_0, 0); err != nil {
		panic(err)
	}
	fmt.Printf("%d bytes; x[1]=%g -> %.4f, x[31]=%g -> %.4f\n", len(q), x[1], y[1], x[31], y[31])
	// Output: 34 bytes; x[1]=-3.75 -> -3.7478, x[31]=3.75 -> 3.7478
}

func ExampleMix() {
	names := []string{"token_embd.weight", "blk.0.attn_v.weight", "blk.0.ffn_down.weight", "output_norm.weight", "output.weight"}
	shapes := []tensor.Shape{{32000, 4096}, {1024, 4096}, {4096, 14336}, {4096}, {32000, 4096}}
	mix, err := ggml.NewMix(ggml.FileQ4_K_M, ggml.ModelInfo{Arch: "llama", Layers: 1, GQA: 4}, names, nil)
	if err != nil {
		panic(err)
	}
	for i, n := range names {
		d, why, err := mix.TypeFor(n, shapes[i], tensor.F16)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%-22s %-5v %s\n", n, d, why)
	}
	// Output:
	// token_embd.weight      Q4_K  file type default
	// blk.0.attn_v.weight    Q6_K  attn_v in a use-more-bits layer: Q6_K
	// blk.0.ffn_down.weight  Q6_K  ffn_down in a use-more-bits layer: Q6_K
	// output_norm.weight     F16   not quantized: fewer than 2 dimensions
	// output.weight          Q6_K  output/tied embedding: Q6_K
}
