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
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseConfig(b)
		if err != nil {
			return
		}
		for _, name := range Names() {
			a, _ := Lookup(name)
			md := refit.Metadata{}
			_ = a.Params(c, &md)
		}
	})
}
