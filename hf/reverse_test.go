package hf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

// ggufLlama is a small llama GGUF model (as gguf.Decode returns one) with a byte-level
// BPE vocabulary.
func ggufLlama(t *testing.T, q8 bool) *refit.Model {
	t.Helper()
	rng := rand.New(rand.NewPCG(5, 6))
	const embd, heads, kv, vocab = 64, 4, 2, 5
	var ts []*tensor.Tensor
	add := func(name string, s ...int64) {
		n := int64(1)
		for _, d := range s {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		x, err := tensor.NewF32(name, tensor.Shape(s), v)
		if err != nil {
			t.Fatal(err)
		}
		if q8 && len(s) == 2 {
			b := make([]byte, n/32*34)
			for blk := range n / 32 {
				// a valid Q8_0 block: fp16 scale 1.0, then 32 int8s
				b[blk*34], b[blk*34+1] = 0x00, 0x3c
				for j := range int64(32) {
					b[blk*34+2+j] = byte(rng.IntN(256))
				}
			}
			if x, err = tensor.FromBytes(name, tensor.Q8_0, tensor.Shape(s), b); err != nil {
				t.Fatal(err)
			}
		}
		ts = append(ts, x)
	}
	add("token_embd.weight", vocab, embd)
	for b := range 2 {
		p := fmt.Sprintf("blk.%d.", b)
		add(p+"attn_norm.weight", embd)
		add(p+"attn_q.weight", embd, embd)
		add(p+"attn_k.weight", kv*embd/heads, embd)
		add(p+"attn_v.weight", kv*embd/heads, embd)
		add(p+"attn_output.weight", embd, embd)
		add(p+"ffn_norm.weight", embd)
		add(p+"ffn_gate.weight", 96, embd)
		add(p+"ffn_up.weight", 96, embd)
		add(p+"ffn_down.weight", embd, 96)
	}
	add("output_norm.weight", embd)
	add("output.weight", vocab, embd)
	m := &refit.Model{Format: "gguf", Tensors: ts}
	for _, kv := range []struct {
		k string
		v any
	}{
		{"general.architecture", "llama"}, {"llama.context_length", uint32(128)}, {"llama.embedding_length", uint32(embd)},
		{"llama.block_count", uint32(2)}, {"llama.feed_forward_length", uint32(96)},
		{"llama.attention.head_count", uint32(heads)}, {"llama.attention.head_count_kv", uint32(kv)},
		{"llama.rope.freq_base", float32(10000)}, {"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.vocab_size", uint32(vocab)}, {"llama.rope.dimension_count", uint32(embd / heads)},
		{"tokenizer.ggml.model", "gpt2"}, {"tokenizer.ggml.pre", "llama-bpe"},
		{"tokenizer.ggml.tokens", []string{"a", "b", "ab", "<s>", "</s>"}},
		{"tokenizer.ggml.token_type", []int32{1, 1, 1, 3, 3}}, {"tokenizer.ggml.merges", []string{"a b"}},
		{"tokenizer.ggml.bos_token_id", uint32(3)}, {"tokenizer.ggml.eos_token_id", uint32(4)},
		{"tokenizer.ggml.add_bos_token", true}, {"tokenizer.chat_template", "{{ x }}"},
	} {
		m.Metadata.Set(kv.k, kv.v)
	}
	return m
}

func TestReverseGGUFRoundTrip(t *testing.T) {
	for _, q8 := range []bool{false, true} {
		t.Run(fmt.Sprintf("q8=%v", q8), func(t *testing.T) {
			m := ggufLlama(t, q8)
			dir := t.TempDir()
			if err := ReverseGGUF(context.Background(), m, dir, &ReverseOptions{ShardSize: 100_000}); err != nil {
				t.Fatalf("ReverseGGUF = %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "model.safetensors.index.json")); err != nil {
				t.Errorf("no shard index: %v", err)
			}
			back, err := ConvertHF(context.Background(), refit.DirFS(dir), &ConvertOptions{DType: tensor.F32})
			if err != nil {
				t.Fatalf("ConvertHF(reversed) = %v", err)
			}
			defer back.Close()
			if len(back.Tensors) != len(m.Tensors) {
				t.Fatalf("round trip has %d tensors, want %d", len(back.Tensors), len(m.Tensors))
			}
			for _, want := range m.Tensors {
				got := back.Tensor(want.Name)
				if got == nil {
					t.Errorf("%s missing after the round trip", want.Name)
					continue
				}
				a, err := want.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				b, err := got.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				if !got.Shape.Equal(want.Shape) || fmt.Sprint(a) != fmt.Sprint(b) {
					t.Errorf("%s: values or shape %v differ after the round trip", want.Name, got.Shape)
				}
			}
			for _, k := range m.Metadata.Keys() {
				v, _ := m.Metadata.Get(k)
				w, ok := back.Metadata.Get(k)
				if !ok || fmt.Sprint(v) != fmt.Sprint(w) {
					t.Errorf("metadata %s = %v, want %v", k, w, v)
				}
			}
		})
	}
}

func TestReverseGGUFKeepQuantized(t *testing.T) {
	m := ggufLlama(t, true)
	dir := t.TempDir()
	if err := ReverseGGUF(context.Background(), m, dir, &ReverseOptions{KeepQuantized: true, ShardSize: -1}); err != nil {
		t.Fatal(err)
	}
	st, err := refit.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x := st.Tensor("model.layers.0.mlp.up_proj.weight")
	if x == nil || x.DType != tensor.U8 || !x.Shape.Equal(tensor.Shape{96, 68}) {
		t.Fatalf("kept tensor = %+v, want U8 [96 68]", x)
	}
	if v := st.Metadata.String("gguf.type.model.layers.0.mlp.up_proj.weight"); v != "Q8_0" {
		t.Errorf("gguf.type = %q, want Q8_0", v)
	}
	a, _ := x.Bytes()
	b, _ := m.Tensor("blk.0.ffn_up.weight").Bytes()
	if !bytes.Equal(a, b) {
		t.Errorf("kept bytes differ from the GGUF tensor")
	}
}

func TestReverseGGUFErrors(t *testing.T) {
	m := ggufLlama(t, false)
	bad := m.Derive(m.Tensors)
	bad.Metadata = m.Metadata.Clone()
	bad.Metadata.Set("general.architecture", "mamba")
	extra := m.Derive(append(append([]*tensor.Tensor{}, m.Tensors...), &tensor.Tensor{Name: "blk.0.mystery.weight", DType: m.Tensors[0].DType, Shape: m.Tensors[0].Shape, Data: m.Tensors[0].Data}))
	spm := m.Derive(m.Tensors)
	spm.Metadata = m.Metadata.Clone()
	spm.Metadata.Set("tokenizer.ggml.model", "rwkv") // no Hugging Face form
	for name, c := range map[string]*refit.Model{"arch": bad, "tensor": extra, "spm": spm} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			err := ReverseGGUF(context.Background(), c, dir, nil)
			if !errors.Is(err, refit.ErrUnsupported) {
				t.Errorf("ReverseGGUF = %v, want ErrUnsupported", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) > 0 {
				t.Errorf("a failed reverse left %d files", len(ents))
			}
		})
	}
}
