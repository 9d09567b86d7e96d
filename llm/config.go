package llm

import (
	"fmt"
	"math"

	"github.com/refit-ml/refit"
)

// Config holds a model's hyperparameters as read from GGUF metadata.
type Config struct {
	Arch           string
	Layers         int
	Embed          int
	FF             int // feed-forward width (per expert for mixtral)
	ExpertFF       int // width of each routed expert (FF unless the metadata says otherwise)
	Heads, KVHeads int
	HeadDim        int // key/query head size
	ValueDim       int // value head size
	Vocab          int
	ContextLength  int
	NormEps        float32
	RopeBase       float32
	RopeDims       int
	RopeNeox       bool    // rotate halves (neox) instead of adjacent pairs
	RopeScale      float32 // position multiplier (1 / linear scaling factor)
	RopeAttnFactor float32 // multiplies the rotary cos and sin (LongRoPE's attention factor)
	RopeOrigCtx    int     // original context: longer sessions use the long RoPE factors
	Experts        int
	ExpertsUsed    int
	ExpertNorm     bool    // renormalize the chosen experts' probabilities to sum to one
	AttnScale      float32 // multiplies q·k
	AttnSoftcap    float32 // 0: none
	FinalSoftcap   float32 // 0: none
	SlidingWindow  int     // 0: none; layers using it are chosen by SlidingLayer
	SlidingPattern int     // of every SlidingPattern layers, all but the last slide
	RopeBaseSWA    float32 // rotary base of sliding layers (gemma3's local base)
	RopeScaleSWA   float32 // position multiplier of sliding layers
	EmbedScale     float32 // multiplies token embeddings (gemma: sqrt(Embed))
	ResidualScale  float32 // multiplies each block's attention and feed-forward output (granite)
	LogitScale     float32 // multiplies the logits (granite: 1/logit_scale, command-r: logit_scale)
	Parallel       bool    // attention and feed-forward both read the block's one input norm (command-r)
	ParallelNorm   bool    // attention and feed-forward read the block input through their own norms (gptneox)
	NormBias       bool    // LayerNorms have biases
	GELU           bool    // feed-forward gate activation: GELU (tanh) instead of SiLU
	LayerNorm      bool    // block and output norms are LayerNorms with biases, not RMSNorms
}

// SlidingLayer reports whether layer il attends over a sliding window.
func (c *Config) SlidingLayer(il int) bool {
	return c.SlidingWindow > 0 && c.SlidingPattern > 0 && il%c.SlidingPattern < c.SlidingPattern-1
}

// rotary returns layer il's rotary base and position multiplier.
func (c *Config) rotary(il int) (base, scale float32) {
	if c.SlidingLayer(il) {
		return c.RopeBaseSWA, c.RopeScaleSWA
	}
	return c.RopeBase, c.RopeScale
}

// archs lists the architectures Load accepts and whether their RoPE is neox style.
var archs = map[string]bool{
	"llama": false, "mistral": false, "mixtral": false,
	"qwen2": true, "qwen3": true, "gemma": true, "gemma2": true, "phi3": true,
	"qwen2moe": true, "qwen3moe": true, "gemma3": true, "granite": false, "granitemoe": false,
	"olmo2": true, "stablelm": true, "starcoder2": true, "command-r": false,
	"phi2": true, "gptneox": true,
}

// Architectures lists the general.architecture values this package runs.
func Architectures() []string {
	return []string{"command-r", "gemma", "gemma2", "gemma3", "gptneox", "granite", "granitemoe", "llama", "mistral", "mixtral", "olmo2",
		"phi2", "phi3", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "stablelm", "starcoder2"}
}

func formatf(msg string, args ...any) error { return refit.Errorf("llm", -1, msg, args...) }

func unsupportedf(msg string, args ...any) error { return refit.Unsupportedf("llm", msg, args...) }

// number reads a numeric metadata value of any GGUF numeric type.
func number(md refit.Metadata, key string) (float64, bool) {
	v, ok := md.Get(key)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case uint8:
		return float64(x), true
	case int8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case int16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case int64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case []uint32: // per-layer values; this package needs them uniform
		if len(x) > 0 {
			return float64(x[0]), true
		}
	case []int32:
		if len(x) > 0 {
			return float64(x[0]), true
		}
	}
	return 0, false
}

// maxDim bounds every hyperparameter so products below stay far from overflow.
const maxDim = 1 << 20

// ConfigFromMetadata reads the hyperparameters of a GGUF model. vocab is the number
// of rows of token_embd.weight.
func ConfigFromMetadata(md refit.Metadata, vocab int) (*Config, error) {
	arch := md.String("general.architecture")
	neox, ok := archs[arch]
	if !ok {
		return nil, unsupportedf("architecture %q (this package runs %v)", arch, Architectures())
	}
	c := &Config{Arch: arch, RopeNeox: neox, Vocab: vocab, RopeScale: 1, EmbedScale: 1, ResidualScale: 1, LogitScale: 1}
	var err error
	geti := func(key string, dst *int, def int) {
		v, ok := number(md, arch+"."+key)
		if !ok {
			if def < 0 && err == nil {
				err = formatf("metadata has no %s.%s", arch, key)
			}
			*dst = max(def, 0)
			return
		}
		if v < 0 || v > maxDim || v != math.Trunc(v) {
			if err == nil {
				err = formatf("%s.%s = %v is out of range", arch, key, v)
			}
			return
		}
		*dst = int(v)
	}
	getf := func(key string, dst *float32, def float32) {
		if v, ok := number(md, arch+"."+key); ok {
			*dst = float32(v)
		} else {
			*dst = def
		}
	}
	geti("block_count", &c.Layers, -1)
	geti("embedding_length", &c.Embed, -1)
	geti("feed_forward_length", &c.FF, -1)
	geti("attention.head_count", &c.Heads, -1)
	geti("attention.head_count_kv", &c.KVHeads, 0)
	geti("context_length", &c.ContextLength, 0)
	geti("expert_count", &c.Experts, 0)
	geti("expert_used_count", &c.ExpertsUsed, 0)
	geti("attention.sliding_window", &c.SlidingWindow, 0)
	geti("expert_feed_forward_length", &c.ExpertFF, 0)
	geti("rope.scaling.original_context_length", &c.RopeOrigCtx, 0)
	if err != nil {
		return nil, err
	}
	if c.Layers == 0 || c.Embed == 0 || c.Heads == 0 || c.Vocab <= 0 {
		return nil, formatf("zero-sized model (%d layers, width %d, %d heads, %d tokens)", c.Layers, c.Embed, c.Heads, c.Vocab)
	}
	if c.RopeOrigCtx == 0 {
		c.RopeOrigCtx = c.ContextLength
	}
	if c.ExpertFF == 0 {
		c.ExpertFF = c.FF
	}
	// llama.cpp renormalizes the chosen experts' weights except for qwen2moe, which
	// keeps the raw softmax probabilities.
	c.ExpertNorm = arch != "qwen2moe"
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.Heads%c.KVHeads != 0 {
		return nil, formatf("%d attention heads are not a multiple of %d KV heads", c.Heads, c.KVHeads)
	}
	geti("attention.key_length", &c.HeadDim, c.Embed/c.Heads)
	geti("attention.value_length", &c.ValueDim, c.HeadDim)
	geti("rope.dimension_count", &c.RopeDims, c.HeadDim)
	if err != nil {
		return nil, err
	}
	if c.HeadDim == 0 || c.RopeDims > c.HeadDim || c.RopeDims%2 != 0 {
		return nil, formatf("head size %d with %d rotary dimensions", c.HeadDim, c.RopeDims)
	}
	if c.Experts > 0 && (c.ExpertsUsed == 0 || c.ExpertsUsed > c.Experts) {
		return nil, formatf("%d of %d experts used per token", c.ExpertsUsed, c.Experts)
	}
	getf("attention.layer_norm_rms_epsilon", &c.NormEps, 1e-5)
	switch arch {
	case "stablelm", "starcoder2", "command-r", "phi2", "gptneox":
		c.LayerNorm = true
		c.NormBias = arch != "command-r"
		c.Parallel = arch == "command-r" || arch == "phi2"
		c.GELU = arch == "starcoder2" || arch == "phi2" || arch == "gptneox"
		if arch == "gptneox" {
			// parallel, but the feed-forward has its own input norm
			v, _ := md.Get(arch + ".use_parallel_residual")
			c.ParallelNorm = v == true
		}
		getf("attention.layer_norm_epsilon", &c.NormEps, 1e-5)
	}
	getf("rope.freq_base", &c.RopeBase, 10000)
	getf("rope.scaling.attn_factor", &c.RopeAttnFactor, 1)
	getf("attn_logit_softcapping", &c.AttnSoftcap, 0)
	getf("final_logit_softcapping", &c.FinalSoftcap, 0)
	switch st := md.String(arch + ".rope.scaling.type"); st {
	case "", "none":
	case "linear":
		var f float32
		getf("rope.scaling.factor", &f, 1)
		if f > 0 {
			c.RopeScale = 1 / f
		}
	default:
		return nil, unsupportedf("rope scaling %q", st)
	}
	c.AttnScale = float32(1 / math.Sqrt(float64(c.HeadDim)))
	if s, ok := number(md, arch+".attention.scale"); ok && s > 0 {
		c.AttnScale = float32(s)
	}
	switch arch {
	case "gemma", "gemma2", "gemma3":
		c.GELU = true
		c.EmbedScale = float32(math.Sqrt(float64(c.Embed)))
	case "granite", "granitemoe":
		// llama.cpp treats 0 (or absent) as no scaling; the logit scale is required
		for _, k := range []struct {
			key string
			dst *float32
		}{{"embedding_scale", &c.EmbedScale}, {"residual_scale", &c.ResidualScale}, {"logit_scale", &c.LogitScale}} {
			if v, ok := number(md, arch+"."+k.key); ok && v != 0 {
				*k.dst = float32(v)
			}
		}
		if !(c.EmbedScale > 0 && c.ResidualScale > 0 && c.LogitScale > 0) {
			return nil, formatf("granite scales: embedding %v, residual %v, logits %v", c.EmbedScale, c.ResidualScale, c.LogitScale)
		}
		c.LogitScale = 1 / c.LogitScale // llama.cpp divides by it
	case "command-r":
		getf("logit_scale", &c.LogitScale, 1)
		if c.LogitScale == 0 { // llama.cpp: 0 means none
			c.LogitScale = 1
		}
		if !(c.LogitScale > 0) && !(c.LogitScale < 0) {
			return nil, formatf("command-r logit scale %v", c.LogitScale)
		}
	}
	// Sliding layers: gemma2's even ones, rotated like the others; gemma3's all but
	// every SlidingPattern-th, with their own rotary base and no scaling (llama.cpp's
	// defaults: pattern 6, base 10000).
	c.RopeBaseSWA, c.RopeScaleSWA = c.RopeBase, c.RopeScale
	switch arch {
	case "gemma2":
		c.SlidingPattern = 2
	case "olmo2": // olmo3's sliding layers: the global base, no scaling
		geti("attention.sliding_window_pattern", &c.SlidingPattern, 4)
		getf("rope.freq_base_swa", &c.RopeBaseSWA, c.RopeBase)
		c.RopeScaleSWA = 1
	case "gemma3":
		geti("attention.sliding_window_pattern", &c.SlidingPattern, 6)
		getf("rope.freq_base_swa", &c.RopeBaseSWA, 10000)
		c.RopeScaleSWA = 1
		if c.Layers == 62 { // gemma3 27B scales queries by the width per head, as llama.cpp does
			c.AttnScale = float32(1 / math.Sqrt(float64(c.Embed/c.Heads)))
		}
	}
	if err != nil {
		return nil, err
	}
	if c.RopeBase <= 0 || c.RopeBaseSWA <= 0 || !(c.NormEps >= 0) || !(c.RopeAttnFactor > 0) {
		return nil, formatf("rope base %v, norm epsilon %v, rope attention factor %v", c.RopeBase, c.NormEps, c.RopeAttnFactor)
	}
	return c, nil
}

func (c *Config) String() string {
	return fmt.Sprintf("%s: %d layers, width %d, %d/%d heads of %d, ff %d, vocab %d", c.Arch, c.Layers, c.Embed, c.Heads, c.KVHeads, c.HeadDim, c.FF, c.Vocab)
}
