package arch_test

import (
	"fmt"

	"github.com/refit-ml/refit/arch"
)

func ExampleNames() {
	fmt.Println(arch.Names())
	// Output: [gemma gemma2 gpt2 llama phi3 qwen2 qwen3]
}

func ExampleArch_MapName() {
	a, _ := arch.ForClass("MistralForCausalLM")
	for _, hf := range []string{"model.layers.7.self_attn.k_proj.weight", "model.layers.0.self_attn.rotary_emb.inv_freq"} {
		name, skip, err := a.MapName(hf)
		fmt.Printf("%s %q skip=%v err=%v\n", a.Name, name, skip, err)
	}
	// Output:
	// llama "blk.7.attn_k.weight" skip=false err=<nil>
	// llama "" skip=true err=<nil>
}
