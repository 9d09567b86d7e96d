package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func TestRegroupKnown(t *testing.T) {
	// GPT-NeoX: 2 heads x (q, k, v) rows -> q q k k v v.
	src := []byte{'q', 'k', 'v', 'Q', 'K', 'V'}
	got := make([]byte, len(src))
	if err := Regroup(got, src, 2, 3, 1); err != nil {
		t.Fatal(err)
	}
	if want := []byte("qQkKvV"); !bytes.Equal(got, want) {
		t.Errorf("Regroup(%q) = %q, want %q", src, got, want)
	}
	back := make([]byte, len(src))
	if err := Regroup(back, got, 3, 2, 1); err != nil || !bytes.Equal(back, src) {
		t.Errorf("Regroup back = %q, %v; want %q", back, err, src)
	}
	if err := Regroup(got, src[:5], 2, 3, 1); err == nil {
		t.Errorf("Regroup of 5 rows into 2x3 groups succeeded")
	}
}

func TestFalconOrder(t *testing.T) {
	// 4 query heads in 2 KV groups: rows (per head) q0 q1 k0 v0 q2 q3 k1 v1.
	order, err := falconOrder(4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{0, 1, 4, 5, 2, 6, 3, 7}; !slices.Equal(order, want) {
		t.Errorf("falconOrder(4, 2) = %v, want %v", order, want)
	}
	src := []byte("abcdefgh")
	mid, back := make([]byte, 8), make([]byte, 8)
	if err := GatherRows(mid, src, 1, order); err != nil {
		t.Fatal(err)
	}
	if err := GatherRows(back, mid, 1, invertOrder(order)); err != nil || !bytes.Equal(back, src) {
		t.Errorf("GatherRows with the inverse order = %q, %v; want %q", back, err, src)
	}
	if _, err := falconOrder(4, 3); !errors.Is(err, refit.ErrFormat) {
		t.Errorf("falconOrder(4, 3) = %v, want ErrFormat", err)
	}
	if err := GatherRows(mid, src, 1, []int{0, 1, 2, 3, 4, 5, 6, 9}); err == nil {
		t.Errorf("GatherRows with an out-of-range group succeeded")
	}
}

func seq(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return v
}

func TestSliceConcatRows(t *testing.T) {
	// [2 experts, 4 rows, 3 cols]: slice 1 of 2 is rows 2..3 of each expert.
	x, err := tensor.NewF32("x", tensor.Shape{2, 4, 3}, seq(24))
	if err != nil {
		t.Fatal(err)
	}
	a, err := SliceRows("a", x, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := SliceRows("b", x, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	bv, _ := b.Float32s()
	if want := []float32{6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23}; !slices.Equal(bv, want) || !b.Shape.Equal(tensor.Shape{2, 2, 3}) {
		t.Errorf("SliceRows(1 of 2) = %v %v, want [2 2 3] %v", b.Shape, bv, want)
	}
	j, err := ConcatRows("x", []*tensor.Tensor{a, b})
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := j.Bytes()
	xb, _ := x.Bytes()
	if !bytes.Equal(jb, xb) || !j.Shape.Equal(x.Shape) {
		t.Errorf("ConcatRows(SliceRows) differs from the input")
	}
	if _, err := SliceRows("c", x, 0, 3); err == nil {
		t.Errorf("SliceRows of 4 rows into 3 succeeded")
	}
}

func TestDeepseekKVB(t *testing.T) {
	// 2 heads, nope 2, v 3, rank 4.
	c, err := ParseConfig([]byte(`{"num_attention_heads": 2, "qk_nope_head_dim": 2, "v_head_dim": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	x, err := tensor.NewF32("kv_b", tensor.Shape{10, 4}, seq(40))
	if err != nil {
		t.Fatal(err)
	}
	parts, err := deepseekSplitKVB(c, x, []string{"k_b", "v_b"})
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := parts[0].Float32s()
	// head 0 key rows 0,1 (values 0..7) transposed to [4, 2]
	if want := []float32{0, 4, 1, 5, 2, 6, 3, 7}; !slices.Equal(kb[:8], want) || !parts[0].Shape.Equal(tensor.Shape{2, 4, 2}) {
		t.Errorf("attn_k_b = %v %v, want [2 4 2] starting %v", parts[0].Shape, kb, want)
	}
	vb, _ := parts[1].Float32s()
	if want := float32(8); vb[0] != want || !parts[1].Shape.Equal(tensor.Shape{2, 3, 4}) {
		t.Errorf("attn_v_b = %v starting %v, want [2 3 4] starting %v", parts[1].Shape, vb[0], want)
	}
	j, err := deepseekJoinKVB(refit.Metadata{}, "deepseek2", "kv_b", parts)
	if err != nil {
		t.Fatal(err)
	}
	jb, _ := j.Bytes()
	xb, _ := x.Bytes()
	if !bytes.Equal(jb, xb) || !j.Shape.Equal(x.Shape) {
		t.Errorf("join(split(kv_b)) differs from kv_b")
	}
}

func TestGemmaNormRoundTrip(t *testing.T) {
	// GGUF norm weights (w+1) of trained-model size come back bit-exact through w.
	v := []float32{1, 0.5, 2, 1.0000001, 0.75, 1.9999999, 0.6}
	g, _ := tensor.NewF32("n", tensor.Shape{int64(len(v))}, v)
	w, err := subOne(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := addOne(w)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := back.Float32s()
	if !slices.Equal(got, v) {
		t.Errorf("addOne(subOne(%v)) = %v", v, got)
	}
}

func TestGemma3Period(t *testing.T) {
	for _, tc := range []struct {
		cfg  string
		want uint32
		ok   bool
	}{
		{`{}`, 1, true},
		{`{"sliding_window": 512}`, 6, true},
		{`{"sliding_window": 512, "sliding_window_pattern": 2}`, 2, true},
		{`{"layer_types": ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention", "sliding_attention", "full_attention"]}`, 3, true},
		{`{"layer_types": ["sliding_attention", "full_attention", "full_attention"]}`, 0, false},
		{`{"layer_types": ["sliding_attention"]}`, 0, false},
	} {
		c, err := ParseConfig([]byte(tc.cfg))
		if err != nil {
			t.Fatal(err)
		}
		got, err := gemma3Period(c)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("gemma3Period(%s) = %d, %v; want %d, ok=%v", tc.cfg, got, err, tc.want, tc.ok)
		}
	}
}

// Every family with a reverse maps each GGUF name of its table back to a Hugging
// Face name that maps forward to the same GGUF name.
func TestReverseNamesRoundTrip(t *testing.T) {
	for _, n := range Names() {
		a, _ := Lookup(n)
		if a.Reverse == nil {
			t.Errorf("%s has no GGUF -> Hugging Face reverse", n)
			continue
		}
		if a.Reverse.Class == "" || a.Reverse.ModelType == "" {
			t.Errorf("%s: reverse without a class or model_type", n)
		}
		for _, tn := range a.Tensors {
			for _, s := range []string{".weight", ""} {
				gg := replaceBid(tn.GGUF+s, 3)
				hf, ok := a.UnmapName(gg)
				if !ok {
					t.Errorf("%s: UnmapName(%q) failed", n, gg)
					continue
				}
				back, skip, err := a.MapName(hf)
				// Some families map two HF names to one GGUF name (Falcon's norm
				// variants) or skip a tied head; the name found must map back.
				if err != nil || (!skip && back != gg) {
					t.Errorf("%s: MapName(UnmapName(%q) = %q) = %q, %v, %v", n, gg, hf, back, skip, err)
				}
			}
		}
	}
}

func replaceBid(s string, b int) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(bid), []byte(fmt.Sprint(b))))
}

func TestParamsRefuse(t *testing.T) {
	for _, tc := range []struct{ arch, cfg string }{
		{"qwen2moe", `{"norm_topk_prob": true}`},
		{"falcon", `{"alibi": true}`},
		{"stablelm", `{"qk_layernorm": true}`},
		{"deepseek2", `{"scoring_func": "sqrtsoftplus"}`},
		{"nomic-bert", `{"causal": true}`},
		{"olmo2", `{"sliding_window": 4096}`},
	} {
		a, _ := Lookup(tc.arch)
		// a complete config with the one refused setting added
		cfg := map[string]any{"max_position_embeddings": 128, "hidden_size": 64, "num_hidden_layers": 2,
			"intermediate_size": 96, "num_attention_heads": 4, "rms_norm_eps": 1e-6, "rope_theta": 10000, "vocab_size": 10,
			"qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "v_head_dim": 8, "layer_norm_eps": 1e-5, "n_embd": 64}
		if err := json.Unmarshal([]byte(tc.cfg), &cfg); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(cfg)
		c, err := ParseConfig(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Params(c, &refit.Metadata{}); !errors.Is(err, refit.ErrUnsupported) {
			t.Errorf("%s.Params(%s) = %v, want ErrUnsupported", tc.arch, tc.cfg, err)
		}
	}
}

func TestLlama3FoldRecovers(t *testing.T) {
	c, err := ParseConfig([]byte(`{"hidden_size": 64, "num_attention_heads": 4, "rope_theta": 500000,
"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}}`))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := llama3RopeFreqs(c)
	if err != nil || len(ts) != 1 {
		t.Fatalf("llama3RopeFreqs = %v, %v", ts, err)
	}
	var md refit.Metadata
	md.Set("llama.rope.dimension_count", uint32(16))
	md.Set("llama.rope.freq_base", float32(500000))
	cfg := map[string]any{}
	if err := llama3Fold(md, "llama", map[string]*tensor.Tensor{"rope_freqs.weight": ts[0]}, cfg); err != nil {
		t.Fatal(err)
	}
	rs := cfg["rope_scaling"].(map[string]any)
	if rs["factor"] != 8.0 || rs["low_freq_factor"] != 1.0 || rs["high_freq_factor"] != 4.0 || rs["original_max_position_embeddings"] != int64(8192) {
		t.Errorf("llama3Fold found %v, want factor 8, low 1, high 4, context 8192", rs)
	}
	// a tensor no parameter set produces
	odd, _ := tensor.NewF32("rope_freqs.weight", tensor.Shape{8}, []float32{1, 1, 1.5, 2, 3, 7, 7.5, 8})
	if err := llama3Fold(md, "llama", map[string]*tensor.Tensor{"rope_freqs.weight": odd}, map[string]any{}); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("llama3Fold(unmatched) = %v, want ErrUnsupported", err)
	}
}
