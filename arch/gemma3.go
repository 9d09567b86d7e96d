package arch

import (
	"github.com/refit-ml/refit"
)

// Gemma 3 (text) is Gemma 2 with per-head RMSNorms of Q and K (also stored as an
// offset from 1), no attention soft-capping, and sliding-window layers that use their
// own rotary base (rope_local_base_freq) without the global layers' rope scaling; one
// layer in every sliding_window_pattern is global.
func init() {
	Register(Arch{
		Name:    "gemma3",
		Classes: []string{"Gemma3ForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, append([]TensorName{
			{"layers.{bid}.self_attn.q_norm", "blk.{bid}.attn_q_norm"},
			{"layers.{bid}.self_attn.k_norm", "blk.{bid}.attn_k_norm"},
		}, gemma2Tensors...)),
		Skip: append([]string{"lm_head.weight"}, rotarySkip...),
		Params: func(c *Config, md *refit.Metadata) error {
			if err := gemmaParams("gemma3")(c, md); err != nil {
				return err
			}
			p := &params{c: c, md: md, arch: "gemma3"}
			if c.Has("attn_logit_softcapping") {
				p.fail(refit.Unsupportedf("arch", "gemma3: attn_logit_softcapping"))
			}
			p.optF32("final_logit_softcapping", "final_logit_softcapping")
			period, err := gemma3Period(c)
			p.fail(err)
			if period != 1 {
				p.u32("attention.sliding_window", "sliding_window")
				p.optF32("rope.freq_base_swa", "rope_local_base_freq")
				if period != 6 { // llama.cpp's default
					p.set("attention.sliding_window_pattern", period)
				}
			}
			return p.err
		},
		Transform: gemmaNorms,
		Reverse: &Reverse{Class: "Gemma3ForCausalLM", ModelType: "gemma3_text", Tied: true, Untransform: gemmaUnnorms,
			Config: func(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
				if err := gemmaConfig(md, arch, cfg, has); err != nil {
					return err
				}
				metaCopy(md, arch, cfg, "final_logit_softcapping", "final_logit_softcapping",
					"attention.sliding_window", "sliding_window", "rope.freq_base_swa", "rope_local_base_freq",
					"attention.key_length", "query_pre_attn_scalar")
				cfg["sliding_window_pattern"] = 1
				if _, ok := cfg["sliding_window"]; ok {
					cfg["sliding_window_pattern"] = 6
					metaCopy(md, arch, cfg, "attention.sliding_window_pattern", "sliding_window_pattern")
				}
				return nil
			}},
	})
}

// gemma3Period returns the sliding-window period: every period-th layer is global
// (1: none slides), from sliding_window_pattern or a periodic layer_types list.
func gemma3Period(c *Config) (uint32, error) {
	types, err := c.Strings("layer_types", 1<<16)
	if err != nil {
		return 0, err
	}
	if types == nil {
		if !c.Has("sliding_window") {
			return 1, nil
		}
		return c.IntOr(6, "sliding_window_pattern")
	}
	period := 0
	for i, t := range types {
		if t == "full_attention" {
			period = i + 1
			break
		}
	}
	if period == 0 {
		return 0, refit.Unsupportedf("arch", "gemma3: no full-attention layer in layer_types")
	}
	for i, t := range types {
		want := "sliding_attention"
		if (i+1)%period == 0 {
			want = "full_attention"
		}
		if t != want {
			return 0, refit.Unsupportedf("arch", "gemma3: layer_types is not periodic (layer %d is %q)", i, t)
		}
	}
	return uint32(period), nil
}
