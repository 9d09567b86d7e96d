package arch

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
)

func TestPhi3LongRope(t *testing.T) {
	cfg := `{"architectures":["Phi3ForCausalLM"],"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,
"intermediate_size":6,"max_position_embeddings":128,"original_max_position_embeddings":32,"rms_norm_eps":1e-5,
"vocab_size":5,"rope_theta":10000.0,"rope_scaling":{"type":"longrope","long_factor":[1,2],"short_factor":[1,1.5]}}`
	c, err := ParseConfig([]byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	md := refit.Metadata{}
	if err := phi3Params(c, &md); err != nil {
		t.Fatal(err)
	}
	// scale 4: sqrt(1 + ln 4 / ln 32) = sqrt(1.4)
	if got, _ := md.Get("phi3.rope.scaling.attn_factor"); got != float32(1.1832160) {
		t.Errorf("attn_factor = %v", got)
	}
	if got, _ := md.Get("phi3.attention.sliding_window"); got != uint32(0) {
		t.Errorf("sliding_window = %#v, want 0 when absent", got)
	}
	ts, err := phi3RopeFactors(c)
	if err != nil || len(ts) != 2 || ts[0].Name != "rope_factors_long.weight" {
		t.Fatalf("phi3RopeFactors = %v, %v", ts, err)
	}
	if v, _ := ts[1].Float32s(); !slices.Equal(v, []float32{1, 1.5}) {
		t.Errorf("short factors %v", v)
	}
	bad, _ := ParseConfig([]byte(strings.Replace(cfg, `"long_factor":[1,2]`, `"long_factor":[1,2,3]`, 1)))
	if _, err := phi3RopeFactors(bad); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("3 long factors for 4 rotary dims: %v, want ErrFormat", err)
	}
}

func TestLlama3RopeFreqs(t *testing.T) {
	c, err := ParseConfig([]byte(`{"hidden_size":64,"num_attention_heads":4,"rope_theta":500000.0,
"rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":64}}`))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := llama3RopeFreqs(c)
	if err != nil || len(ts) != 1 {
		t.Fatalf("llama3RopeFreqs = %v, %v", ts, err)
	}
	v, _ := ts[0].Float32s()
	// wavelengths 2*pi*500000^(i/8): 6.3 (< 16: 1), 33 (between: smoothed), 170+ (> 64: 8)
	if len(v) != 8 || v[0] != 1 || v[1] <= 1 || v[1] >= 8 || v[2] != 8 || v[7] != 8 {
		t.Errorf("rope_freqs = %v", v)
	}
}
