package hf

import (
	"context"
	"testing"
	"testing/fstest"
)

// FuzzConvertHF: a fuzzed config.json and tokenizer.json beside valid weights either
// convert into a model whose tensors all read, or fail cleanly.
func FuzzConvertHF(f *testing.F) {
	f.Add([]byte(tinyConfig), []byte(tinyTokenizer))
	f.Add([]byte(`{"architectures":["Qwen3ForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":6,"max_position_embeddings":32,"rms_norm_eps":1e-5,"vocab_size":5}`), []byte(tinyTokenizer))
	weights := tinyLlama(f)["model.safetensors"].Data
	f.Fuzz(func(t *testing.T, cfg, tok []byte) {
		fsys := fstest.MapFS{
			"config.json":       {Data: cfg},
			"tokenizer.json":    {Data: tok},
			"model.safetensors": {Data: weights},
		}
		m, err := ConvertHF(context.Background(), fsys, nil)
		if err != nil {
			return
		}
		defer m.Close()
		for _, tt := range m.Tensors {
			if _, err := tt.Bytes(); err != nil {
				return // e.g. a head count that does not divide the rows
			}
		}
	})
}
