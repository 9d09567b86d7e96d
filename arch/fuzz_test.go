package arch

import (
	"testing"

	"github.com/refit-ml/refit"
)

// FuzzParams: any config.json gives metadata or an error from every architecture,
// never a panic.
func FuzzParams(f *testing.F) {
	f.Add([]byte(`{"architectures":["LlamaForCausalLM"],"hidden_size":8,"num_hidden_layers":1,
"num_attention_heads":2,"num_key_value_heads":1,"intermediate_size":6,"max_position_embeddings":32,
"rms_norm_eps":1e-5,"vocab_size":5,"rope_theta":10000.0}`))
	f.Add([]byte(`{"n_layer":2,"n_ctx":8,"n_embd":4,"n_head":2,"layer_norm_epsilon":1e-5,"rope_scaling":{"type":"yarn","factor":2,"original_max_position_embeddings":4}}`))
	f.Add([]byte(`{"head_dim":0,"hidden_size":3,"num_attention_heads":0,"partial_rotary_factor":0.5}`))
	f.Add([]byte(`{"hidden_size":64,"num_attention_heads":4,"sliding_window":8,"layer_types":["sliding_attention","full_attention"],"rope_local_base_freq":1e4}`))
	f.Add([]byte(`{"kv_lora_rank":4,"qk_nope_head_dim":2,"qk_rope_head_dim":2,"v_head_dim":3,"n_routed_experts":4,"scoring_func":"sigmoid","first_k_dense_replace":9}`))
	f.Add([]byte(`{"hidden_size":64,"num_attention_heads":4,"rope_theta":5e5,"rope_scaling":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":1,"original_max_position_embeddings":64}}`))
	f.Add([]byte(`{"new_decoder_architecture":true,"num_kv_heads":0,"multi_query":false,"rotary_pct":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		for _, name := range Names() {
			a, _ := Lookup(name)
			md := refit.Metadata{}
			_ = a.Params(c, &md)
			if a.Extra != nil {
				_, _ = a.Extra(c)
			}
		}
	})
}
