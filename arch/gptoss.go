package arch

import (
	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// gpt-oss: pre-RMSNorm decoder with Q/K/V/O biases, per-head attention sinks,
// alternating sliding-window and full layers (layer 0 slides), NEOX rotary, and a
// mixture of experts whose router has a bias, takes the softmax of the top-k logits,
// and whose experts (with biases) are stored in MXFP4: per expert row, 32-value blocks
// of E2M1 codes (_blocks, two codes a byte, low nibble first) with one E8M0 scale each
// (_scales). Gate and up rows are interleaved (even rows gate, odd rows up). ggml's
// MXFP4 block is the scale then 16 bytes holding value i in the low nibble and value
// i+16 in the high one; the codes are repacked, never requantized.
var gptossTensors = []TensorName{
	{"embed_tokens", "token_embd"},
	{"norm", "output_norm"},
	{"lm_head", "output"},
	{"layers.{bid}.input_layernorm", "blk.{bid}.attn_norm"},
	{"layers.{bid}.post_attention_layernorm", "blk.{bid}.post_attention_norm"},
	{"layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q"},
	{"layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k"},
	{"layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v"},
	{"layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output"},
	{"layers.{bid}.self_attn.sinks", "blk.{bid}.attn_sinks.weight"},
	{"layers.{bid}.mlp.router", "blk.{bid}.ffn_gate_inp"},
	{"layers.{bid}.mlp.experts.down_proj_bias", "blk.{bid}.ffn_down_exps.bias"},
}

func init() {
	Register(Arch{
		Name:    "gpt-oss",
		Classes: []string{"GptOssForCausalLM"},
		Tensors: withPrefixes(decoderPrefixes, gptossTensors),
		Packs: []PackName{
			{HF: []string{"model.layers.{bid}.mlp.experts.gate_up_proj_blocks", "model.layers.{bid}.mlp.experts.gate_up_proj_scales",
				"model.layers.{bid}.mlp.experts.gate_up_proj_bias"},
				GGUF: []string{"blk.{bid}.ffn_gate_exps.weight", "blk.{bid}.ffn_up_exps.weight",
					"blk.{bid}.ffn_gate_exps.bias", "blk.{bid}.ffn_up_exps.bias"},
				Pack: gptossPackGateUp, Unpack: gptossUnpackGateUp},
			{HF: []string{"model.layers.{bid}.mlp.experts.down_proj_blocks", "model.layers.{bid}.mlp.experts.down_proj_scales"},
				GGUF: []string{"blk.{bid}.ffn_down_exps.weight"},
				Pack: gptossPackDown, Unpack: gptossUnpackDown},
		},
		Skip:    rotarySkip,
		Params:  gptossParams,
		Reverse: &Reverse{Class: "GptOssForCausalLM", ModelType: "gpt_oss", Config: gptossConfig},
	})
}

func gptossParams(c *Config, md *refit.Metadata) error {
	p := &params{c: c, md: md, arch: "gpt-oss"}
	decoderParams(p)
	hd := p.headDim()
	p.set("rope.dimension_count", hd)
	p.set("attention.key_length", hd)
	p.set("attention.value_length", hd)
	p.u32("expert_feed_forward_length", "intermediate_size")
	p.u32("expert_count", "num_local_experts")
	p.u32("expert_used_count", "num_experts_per_tok", "experts_per_token")
	p.u32("attention.sliding_window", "sliding_window")
	types, err := c.Strings("layer_types", 1<<16)
	p.fail(err)
	for i, t := range types {
		// llama.cpp's fixed pattern: even layers slide, odd ones attend fully
		if want := [2]string{"sliding_attention", "full_attention"}[i%2]; t != want {
			p.fail(refit.Unsupportedf("arch", "gpt-oss: layer %d is %q, llama.cpp expects %q", i, t, want))
			break
		}
	}
	if q := c.Object("quantization_config"); q != nil && q.String("quant_method") != "mxfp4" {
		p.fail(refit.Unsupportedf("arch", "gpt-oss: quantization %q", q.String("quant_method")))
	}
	return p.err
}

func gptossConfig(md refit.Metadata, arch string, cfg map[string]any, has func(gguf string) bool) error {
	metaCopy(md, arch, cfg, "expert_used_count", "experts_per_token", "attention.sliding_window", "sliding_window")
	n, _ := MetaInt(md, arch+".block_count")
	types := make([]string, max(n, 0))
	for i := range types {
		types[i] = [2]string{"sliding_attention", "full_attention"}[i%2]
	}
	cfg["layer_types"] = types
	cfg["quantization_config"] = map[string]any{"quant_method": "mxfp4"}
	cfg["swiglu_limit"] = 7.0
	return nil
}

// mxfp4Rows checks MXFP4 blocks [experts, rows, nb, 16] and scales [experts, rows, nb]
// and returns experts, rows and nb.
func mxfp4Rows(blocks, scales *tensor.Tensor) (e, rows, nb int64, err error) {
	if len(blocks.Shape) != 4 || len(scales.Shape) != 3 || blocks.Shape[3] != 16 || blocks.DType.TypeSize() != 1 || scales.DType.TypeSize() != 1 ||
		blocks.DType.Quantized() || scales.DType.Quantized() ||
		blocks.Shape[0] != scales.Shape[0] || blocks.Shape[1] != scales.Shape[1] || blocks.Shape[2] != scales.Shape[2] {
		return 0, 0, 0, errorf("gpt-oss: MXFP4 blocks %v %v and scales %v %v do not belong together", blocks.DType, blocks.Shape, scales.DType, scales.Shape)
	}
	return blocks.Shape[0], blocks.Shape[1], blocks.Shape[2], nil
}

// mxfp4ToGGML writes one row of nb blocks: HF codes (low nibble = even value) and
// scales to ggml blocks (scale, then value i | value i+16 << 4).
func mxfp4ToGGML(dst, codes, scales []byte) {
	var v [32]byte
	for b, e := range scales {
		for k, c := range codes[b*16 : b*16+16] {
			v[2*k], v[2*k+1] = c&0xf, c>>4
		}
		out := dst[b*17 : b*17+17]
		out[0] = e
		for i := range 16 {
			out[1+i] = v[i] | v[i+16]<<4
		}
	}
}

// mxfp4FromGGML is the inverse of mxfp4ToGGML.
func mxfp4FromGGML(codes, scales, src []byte) {
	var v [32]byte
	for b := range scales {
		in := src[b*17 : b*17+17]
		scales[b] = in[0]
		for i, q := range in[1:] {
			v[i], v[i+16] = q&0xf, q>>4
		}
		for k := range 16 {
			codes[b*16+k] = v[2*k] | v[2*k+1]<<4
		}
	}
}

// mxfp4Select returns the MXFP4 tensor of rows first, first+step, ... of every expert.
func mxfp4Select(name string, blocks, scales *tensor.Tensor, first, step int64) (*tensor.Tensor, error) {
	e, rows, nb, err := mxfp4Rows(blocks, scales)
	if err != nil {
		return nil, err
	}
	outRows := (rows - first + step - 1) / step
	size := e * outRows * nb * 17
	data := tensor.NewLazy(size, func() ([]byte, error) {
		bb, err := blocks.Bytes()
		if err != nil {
			return nil, err
		}
		sb, err := scales.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, size)
		i := int64(0)
		for x := range e {
			for r := first; r < rows; r += step {
				row := x*rows + r
				mxfp4ToGGML(out[i*nb*17:(i+1)*nb*17], bb[row*nb*16:(row+1)*nb*16], sb[row*nb:(row+1)*nb])
				i++
			}
		}
		return out, nil
	})
	return tensor.New(name, tensor.MXFP4, tensor.Shape{e, outRows, nb * 32}, data)
}

// mxfp4Merge is the inverse of mxfp4Select over all parts: row r of part p becomes
// row r*len(parts)+p; it returns the blocks and scales tensors.
func mxfp4Merge(blocksName, scalesName string, parts []*tensor.Tensor) (*tensor.Tensor, *tensor.Tensor, error) {
	first := parts[0]
	for _, p := range parts {
		if p.DType != tensor.MXFP4 || len(p.Shape) != 3 || !p.Shape.Equal(first.Shape) || p.Shape[2]%32 != 0 {
			return nil, nil, refit.Unsupportedf("arch", "gpt-oss: expert tensor %q is %v %v, want MXFP4 as converted", p.Name, p.DType, p.Shape)
		}
	}
	e, rows, nb := first.Shape[0], first.Shape[1], first.Shape[2]/32
	n := int64(len(parts))
	get := func() ([][]byte, error) {
		out := make([][]byte, len(parts))
		for i, p := range parts {
			b, err := p.Bytes()
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	// Both outputs decode everything; each is pulled once when written.
	both := func(want int) ([]byte, error) {
		src, err := get()
		if err != nil {
			return nil, err
		}
		codes := make([]byte, e*rows*n*nb*16)
		scales := make([]byte, e*rows*n*nb)
		for x := range e {
			for r := range rows {
				for p := range n {
					out := (x*rows+r)*n + p
					in := (x*rows + r) * nb * 17
					mxfp4FromGGML(codes[out*nb*16:(out+1)*nb*16], scales[out*nb:(out+1)*nb], src[p][in:in+nb*17])
				}
			}
		}
		if want == 0 {
			return codes, nil
		}
		return scales, nil
	}
	blocks, err := tensor.New(blocksName, tensor.U8, tensor.Shape{e, rows * n, nb, 16}, tensor.NewLazy(e*rows*n*nb*16, func() ([]byte, error) { return both(0) }))
	if err != nil {
		return nil, nil, err
	}
	scales, err := tensor.New(scalesName, tensor.U8, tensor.Shape{e, rows * n, nb}, tensor.NewLazy(e*rows*n*nb, func() ([]byte, error) { return both(1) }))
	return blocks, scales, err
}

// splitColumns returns the even (first 0) or odd (first 1) last-dimension entries of
// t; joinColumns interleaves two such halves back.
func splitColumns(name string, t *tensor.Tensor, first int64) (*tensor.Tensor, error) {
	n := len(t.Shape)
	if n == 0 || t.Shape[n-1]%2 != 0 || t.DType.Quantized() {
		return nil, errorf("gpt-oss: bias %q of shape %v does not split into gate and up", t.Name, t.Shape)
	}
	es := int64(t.DType.TypeSize())
	shape := t.Shape.Clone()
	shape[n-1] /= 2
	src := t
	return tensor.New(name, t.DType, shape, tensor.NewLazy(t.Size()/2, func() ([]byte, error) {
		b, err := src.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, len(b)/2)
		for i := first * es; i < int64(len(b)); i += 2 * es {
			out = append(out, b[i:i+es]...)
		}
		return out, nil
	}))
}

func joinColumns(name string, a, b *tensor.Tensor) (*tensor.Tensor, error) {
	if a.DType != b.DType || !a.Shape.Equal(b.Shape) || len(a.Shape) == 0 || a.DType.Quantized() {
		return nil, errorf("gpt-oss: biases %q and %q do not belong together", a.Name, b.Name)
	}
	es := int64(a.DType.TypeSize())
	shape := a.Shape.Clone()
	shape[len(shape)-1] *= 2
	return tensor.New(name, a.DType, shape, tensor.NewLazy(a.Size()*2, func() ([]byte, error) {
		ab, err := a.Bytes()
		if err != nil {
			return nil, err
		}
		bb, err := b.Bytes()
		if err != nil {
			return nil, err
		}
		out := make([]byte, 0, 2*len(ab))
		for i := int64(0); i < int64(len(ab)); i += es {
			out = append(append(out, ab[i:i+es]...), bb[i:i+es]...)
		}
		return out, nil
	}))
}

func gptossPackGateUp(c *Config, in []*tensor.Tensor, names []string) ([]*tensor.Tensor, error) {
	gate, err := mxfp4Select(names[0], in[0], in[1], 0, 2)
	if err != nil {
		return nil, err
	}
	up, err := mxfp4Select(names[1], in[0], in[1], 1, 2)
	if err != nil {
		return nil, err
	}
	gb, err := splitColumns(names[2], in[2], 0)
	if err != nil {
		return nil, err
	}
	ub, err := splitColumns(names[3], in[2], 1)
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{gate, up, gb, ub}, nil
}

func gptossUnpackGateUp(md refit.Metadata, arch string, in []*tensor.Tensor, names []string) ([]*tensor.Tensor, error) {
	blocks, scales, err := mxfp4Merge(names[0], names[1], in[:2])
	if err != nil {
		return nil, err
	}
	bias, err := joinColumns(names[2], in[2], in[3])
	if err != nil {
		return nil, err
	}
	return []*tensor.Tensor{blocks, scales, bias}, nil
}

func gptossPackDown(c *Config, in []*tensor.Tensor, names []string) ([]*tensor.Tensor, error) {
	t, err := mxfp4Select(names[0], in[0], in[1], 0, 1)
	return []*tensor.Tensor{t}, err
}

func gptossUnpackDown(md refit.Metadata, arch string, in []*tensor.Tensor, names []string) ([]*tensor.Tensor, error) {
	blocks, scales, err := mxfp4Merge(names[0], names[1], in)
	return []*tensor.Tensor{blocks, scales}, err
}
