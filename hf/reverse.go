package hf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/arch"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
	"github.com/refit-ml/refit/tokenizer"
)

// ReverseOptions configure ReverseGGUF. The zero value dequantizes block-quantized
// tensors to F32, keeps float tensors' types, and writes shards of DefaultShardSize.
type ReverseOptions struct {
	// DType is the type block-quantized tensors are dequantized to (F32, F16 or BF16);
	// Invalid means F32. Float tensors keep their type.
	DType tensor.DType
	// KeepQuantized writes block-quantized tensors as they are: U8 tensors of shape
	// [..., row bytes] whose GGML type and logical shape are recorded in the
	// safetensors metadata as "gguf.type.NAME" and "gguf.shape.NAME".
	KeepQuantized bool
	// ShardSize is the largest shard in bytes; 0 means DefaultShardSize, < 0 one file.
	ShardSize int64
	// Overwrite replaces existing files in the output folder.
	Overwrite bool
}

// DefaultShardSize is Hugging Face's default max_shard_size (5 GB).
const DefaultShardSize = 5_000_000_000

// reverseArch is what the reverse path knows about an architecture beyond its name map.
type reverseArch struct {
	class, modelType string
	unpermute        bool // Llama's rotary permutation of Q and K rows
}

var reverseArchs = map[string]reverseArch{
	"llama": {"LlamaForCausalLM", "llama", true},
	"qwen2": {"Qwen2ForCausalLM", "qwen2", false},
	"qwen3": {"Qwen3ForCausalLM", "qwen3", false},
}

// ReverseGGUF writes m, a GGUF model as gguf.Decode returns it, to dir as a Hugging
// Face folder: config.json (from the ARCH.* keys), the tokenizer files of every
// llama.cpp tokenizer model but RWKV (see tokenizer.Vocab.HFFiles),
// and sharded safetensors under Hugging Face names, with the rotary permutation undone
// and quantized tensors dequantized (or kept, see ReverseOptions). Reading the folder
// back with ConvertHF gives the same tensors. Architectures: llama (incl. Mistral and
// Mixtral), qwen2, qwen3. Tensors are converted lazily, one at a time.
//
// The files are written to a temporary folder inside dir and moved into place once all
// are written (see refit.PendingOutput); dir is made if missing.
func ReverseGGUF(ctx context.Context, m *refit.Model, dir string, opts *ReverseOptions) error {
	out, err := refit.CreatePendingOutput(ctx, dir, true, opts != nil && opts.Overwrite)
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := ReverseFS(ctx, out.Create, m, opts); err != nil {
		return err
	}
	_, err = out.Commit()
	return err
}

// Reversible reports whether m is a GGUF language model (it names an architecture)
// or a vocab-only GGUF, the inputs ReverseGGUF takes; ReverseGGUF says whether it
// knows the architecture.
func Reversible(m *refit.Model) bool {
	if m.Format != ggufFormat {
		return false
	}
	return m.Metadata.String("general.architecture") != "" ||
		len(m.Tensors) == 0 && m.Metadata.String("tokenizer.ggml.model") != ""
}

// ReverseFS is ReverseGGUF writing the folder's files through create: config.json,
// the tokenizer files, then the safetensors shards and their index. opts.Overwrite is
// the caller's to apply.
func ReverseFS(ctx context.Context, create refit.CreateFunc, m *refit.Model, opts *ReverseOptions) error {
	var o ReverseOptions
	if opts != nil {
		o = *opts
	}
	if o.DType == tensor.Invalid {
		o.DType = tensor.F32
	}
	if o.DType != tensor.F32 && o.DType != tensor.F16 && o.DType != tensor.BF16 {
		return fmt.Errorf("arch: reverse: dequantize to %v: want F32, F16 or BF16", o.DType)
	}
	if len(m.Tensors) == 0 && m.Metadata.String("tokenizer.ggml.model") != "" {
		// a vocab-only GGUF: its tokenizer files are the whole folder
		return writeTokenizer(create, m.Metadata)
	}
	name := m.Metadata.String("general.architecture")
	a, ok := arch.Lookup(name)
	ra, ok2 := reverseArchs[name]
	if !ok || !ok2 {
		return refit.Unsupportedf("hf", "GGUF -> Hugging Face for architecture %q (have llama, qwen2, qwen3)", name)
	}
	md := m.Metadata
	num := func(key string) (int64, bool) { return metaInt(md, name+"."+key) }
	heads, _ := num("attention.head_count")
	kvHeads, ok := num("attention.head_count_kv")
	if !ok {
		kvHeads = heads
	}
	nExpert, _ := num("expert_count")
	if nExpert > 1 {
		ra.class, ra.modelType = "MixtralForCausalLM", "mixtral"
	}

	out := &refit.Model{Format: "safetensors"}
	out.Metadata.Set("format", "pt")
	var tied = true
	for _, t := range m.Tensors {
		if err := ctx.Err(); err != nil {
			return err
		}
		if t.Name == "output.weight" {
			tied = false
		}
		hfs, err := reverseTensor(a, t, nExpert)
		if err != nil {
			return err
		}
		for _, h := range hfs {
			// A new header with the Hugging Face name; the input's tensors are not modified.
			x := &tensor.Tensor{Name: h.name, DType: h.t.DType, Shape: h.t.Shape.Clone(), Data: h.t.Data}
			if ra.unpermute && (strings.HasSuffix(t.Name, ".attn_q.weight") || strings.HasSuffix(t.Name, ".attn_q.bias")) {
				x, err = arch.UnpermuteTensor(x, int(heads))
			} else if ra.unpermute && (strings.HasSuffix(t.Name, ".attn_k.weight") || strings.HasSuffix(t.Name, ".attn_k.bias")) {
				x, err = arch.UnpermuteTensor(x, int(kvHeads))
			}
			if err != nil {
				return err
			}
			if x.DType.Quantized() {
				if o.KeepQuantized {
					if x, err = asBlockBytes(x, &out.Metadata); err != nil {
						return err
					}
				} else if x, err = tensor.Cast(x, o.DType); err != nil {
					return fmt.Errorf("arch: dequantizing %s: %w", t.Name, err)
				}
			}
			out.Tensors = append(out.Tensors, x)
		}
	}
	cfg, err := hfConfig(md, name, ra, tied, nExpert, m)
	if err != nil {
		return err
	}
	if err := writeJSONFile(create, "config.json", cfg); err != nil {
		return err
	}
	if md.String("tokenizer.ggml.model") != "" {
		if err := writeTokenizer(create, md); err != nil {
			return err
		}
	}
	shard := o.ShardSize
	if shard == 0 {
		shard = DefaultShardSize
	}
	return safetensors.EncodeFS(create, out, &refit.EncodeOptions{ShardSize: shard})
}

type hfTensor struct {
	name string
	t    *tensor.Tensor
}

// reverseTensor maps a GGUF tensor to its Hugging Face tensor(s): one by the name map,
// or one per expert for a stacked expert tensor.
func reverseTensor(a *arch.Arch, t *tensor.Tensor, nExpert int64) ([]hfTensor, error) {
	if hf, ok := a.UnmapName(t.Name); ok {
		return []hfTensor{{hf, t}}, nil
	}
	if names, ok := a.ExpertNames(t.Name, nExpert); ok {
		if len(t.Shape) != 3 || t.Shape[0] != nExpert || nExpert <= 0 {
			return nil, errorf("expert tensor %q has shape %v for %d experts", t.Name, t.Shape, nExpert)
		}
		per := t.Size() / t.Shape[0]
		var out []hfTensor
		for x, hf := range names {
			data := &sectionData{src: t.Data, off: int64(x) * per, size: per}
			et, err := tensor.New(t.Name, t.DType, tensor.Shape{t.Shape[1], t.Shape[2]}, data)
			if err != nil {
				return nil, err
			}
			out = append(out, hfTensor{hf, et})
		}
		return out, nil
	}
	return nil, refit.Unsupportedf("hf", "%s: no Hugging Face name for GGUF tensor %q", a.Name, t.Name)
}

// sectionData is a byte range of another tensor's data.
type sectionData struct {
	src       tensor.Data
	off, size int64
}

func (s *sectionData) Size() int64 { return s.size }
func (s *sectionData) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, fmt.Errorf("arch: read at %d of %d bytes", off, s.size)
	}
	if int64(len(p)) > s.size-off {
		n, err := s.src.ReadAt(p[:s.size-off], s.off+off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return s.src.ReadAt(p, s.off+off)
}

// asBlockBytes views a block-quantized tensor as U8 rows, recording its type and shape.
func asBlockBytes(t *tensor.Tensor, md *refit.Metadata) (*tensor.Tensor, error) {
	s := t.Shape.Clone()
	rowBytes := t.Size()
	if outer := t.NumElements() / max(s[len(s)-1], 1); outer > 0 {
		rowBytes /= outer
	}
	s[len(s)-1] = rowBytes
	x, err := t.WithData(tensor.U8, s, t.Data)
	if err != nil {
		return nil, err
	}
	md.Set("gguf.type."+t.Name, t.DType.String())
	md.Set("gguf.shape."+t.Name, t.Shape.String())
	return x, nil
}

// metaInt reads an integer metadata value of any GGUF integer type (first element of
// a per-layer array).
func metaInt(md refit.Metadata, key string) (int64, bool) {
	v, ok := md.Get(key)
	if !ok {
		return 0, false
	}
	switch a := v.(type) {
	case []uint32:
		if len(a) == 0 {
			return 0, false
		}
		v = a[0]
	case []int32:
		if len(a) == 0 {
			return 0, false
		}
		v = a[0]
	}
	switch x := v.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		return int64(min(x, 1<<62)), true
	case int64:
		return x, true
	}
	return 0, false
}

func metaFloat(md refit.Metadata, key string) (json.Number, bool) {
	v, ok := md.Get(key)
	if !ok {
		return "", false
	}
	switch x := v.(type) {
	case float32:
		return json.Number(strconv.FormatFloat(float64(x), 'g', -1, 32)), true
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), true
	}
	return "", false
}

// hfConfig builds config.json from the GGUF keys ConvertHF writes.
func hfConfig(md refit.Metadata, name string, ra reverseArch, tied bool, nExpert int64, m *refit.Model) (map[string]any, error) {
	cfg := map[string]any{
		"architectures":       []string{ra.class},
		"model_type":          ra.modelType,
		"tie_word_embeddings": tied,
		"hidden_act":          "silu",
	}
	ints := []struct{ gguf, hf string }{
		{"context_length", "max_position_embeddings"}, {"embedding_length", "hidden_size"},
		{"block_count", "num_hidden_layers"}, {"feed_forward_length", "intermediate_size"},
		{"attention.head_count", "num_attention_heads"}, {"attention.head_count_kv", "num_key_value_heads"},
		{"expert_count", "num_local_experts"}, {"expert_used_count", "num_experts_per_tok"},
		{"attention.key_length", "head_dim"},
	}
	for _, k := range ints {
		if v, ok := metaInt(md, name+"."+k.gguf); ok {
			cfg[k.hf] = v
		}
	}
	for _, need := range []string{"hidden_size", "num_hidden_layers", "num_attention_heads"} {
		if _, ok := cfg[need]; !ok {
			return nil, errorf("GGUF metadata lacks the key for config.json %s", need)
		}
	}
	if nExpert <= 1 {
		delete(cfg, "num_local_experts")
		delete(cfg, "num_experts_per_tok")
	}
	if v, ok := metaFloat(md, name+".rope.freq_base"); ok {
		cfg["rope_theta"] = v
	}
	if v, ok := metaFloat(md, name+".attention.layer_norm_rms_epsilon"); ok {
		cfg["rms_norm_eps"] = v
	}
	if st := md.String(name + ".rope.scaling.type"); st != "" && st != "none" {
		rs := map[string]any{"rope_type": st}
		if f, ok := metaFloat(md, name+".rope.scaling.factor"); ok {
			rs["factor"] = f
		}
		if v, ok := metaInt(md, name+".rope.scaling.original_context_length"); ok {
			rs["original_max_position_embeddings"] = v
		}
		cfg["rope_scaling"] = rs
	}
	if e := m.Tensor("token_embd.weight"); e != nil && len(e.Shape) == 2 {
		cfg["vocab_size"] = e.Shape[0]
	} else if v, ok := metaInt(md, name+".vocab_size"); ok {
		cfg["vocab_size"] = v
	} else if toks, ok := md.Get("tokenizer.ggml.tokens"); ok {
		if list, ok := toks.([]string); ok {
			cfg["vocab_size"] = len(list)
		}
	}
	for _, k := range []struct{ gguf, hf string }{{"bos_token_id", "bos_token_id"}, {"eos_token_id", "eos_token_id"}, {"padding_token_id", "pad_token_id"}} {
		if v, ok := metaInt(md, "tokenizer.ggml."+k.gguf); ok {
			cfg[k.hf] = v
		}
	}
	return cfg, nil
}

// writeTokenizer writes the GGUF vocabulary as Hugging Face tokenizer files (see
// tokenizer.Vocab.HFFiles), in name order.
func writeTokenizer(create refit.CreateFunc, md refit.Metadata) error {
	v, err := tokenizer.FromMetadata(md)
	if err != nil {
		return err
	}
	files, err := v.HFFiles()
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if err := create.WriteFile(n, files[n]); err != nil {
			return err
		}
	}
	return nil
}

func writeJSONFile(create refit.CreateFunc, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return create.WriteFile(name, append(b, '\n'))
}
