package arch_test

import (
	"fmt"

	"github.com/refit-ml/refit/arch"
)

func ExampleNames() {
	fmt.Println(arch.Names())
	// Output: [bert command-r deepseek2 falcon gemma gemma2 gemma3 gpt-oss gpt2 gptneox granite granitemoe llama nomic-bert olmo2 phi2 phi3 qwen2 qwen2moe qwen3 qwen3moe stablelm starcoder2]
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
