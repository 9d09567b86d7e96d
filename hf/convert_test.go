package hf

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

const tinyTokenizer = `{"added_tokens":[{"id":3,"content":"<s>","special":true},{"id":4,"content":"</s>","special":true}],
"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},
"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`

const tinyConfig = `{"architectures":["LlamaForCausalLM"],"hidden_size":8,"num_hidden_layers":1,
"num_attention_heads":2,"num_key_value_heads":1,"intermediate_size":6,"max_position_embeddings":32,
"rms_norm_eps":1e-5,"vocab_size":5,"rope_theta":10000.0}`

// iota returns n float32 values 0, 1, 2, ...
func iota(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	return v
}

func tinyLlama(t testing.TB, extra ...*tensor.Tensor) fstest.MapFS {
	t.Helper()
	shapes := []struct {
		name  string
		shape tensor.Shape
	}{
		{"model.embed_tokens.weight", tensor.Shape{5, 8}},
		{"model.norm.weight", tensor.Shape{8}},
		{"lm_head.weight", tensor.Shape{5, 8}},
		{"model.layers.0.input_layernorm.weight", tensor.Shape{8}},
		{"model.layers.0.self_attn.q_proj.weight", tensor.Shape{8, 8}},
		{"model.layers.0.self_attn.k_proj.weight", tensor.Shape{4, 8}},
		{"model.layers.0.self_attn.v_proj.weight", tensor.Shape{4, 8}},
		{"model.layers.0.self_attn.o_proj.weight", tensor.Shape{8, 8}},
		{"model.layers.0.post_attention_layernorm.weight", tensor.Shape{8}},
		{"model.layers.0.mlp.gate_proj.weight", tensor.Shape{6, 8}},
		{"model.layers.0.mlp.up_proj.weight", tensor.Shape{6, 8}},
		{"model.layers.0.mlp.down_proj.weight", tensor.Shape{8, 6}},
	}
	m := &refit.Model{}
	for _, s := range shapes {
		tt, err := tensor.NewF32(s.name, s.shape, iota(int(s.shape.Elements())))
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, tt)
	}
	m.Tensors = append(m.Tensors, extra...)
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	return fstest.MapFS{
		"config.json":           {Data: []byte(tinyConfig)},
		"model.safetensors":     {Data: buf.Bytes()},
		"tokenizer.json":        {Data: []byte(tinyTokenizer)},
		"tokenizer_config.json": {Data: []byte(`{"bos_token":"<s>","eos_token":{"content":"</s>"},"add_bos_token":true,"chat_template":"{{x}}"}`)},
	}
}

func TestConvertHFLlama(t *testing.T) {
	fsys := tinyLlama(t)
	if !IsHFFolder(fsys) {
		t.Fatal("IsHFFolder = false")
	}
	m, err := ConvertHF(context.Background(), fsys, &ConvertOptions{DType: tensor.F32, Name: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	wantMD := map[string]any{
		"general.architecture":                   "llama",
		"general.name":                           "tiny",
		"general.file_type":                      uint32(0),
		"llama.block_count":                      uint32(1),
		"llama.embedding_length":                 uint32(8),
		"llama.attention.head_count":             uint32(2),
		"llama.attention.head_count_kv":          uint32(1),
		"llama.rope.dimension_count":             uint32(4),
		"llama.rope.freq_base":                   float32(10000),
		"llama.vocab_size":                       uint32(5),
		"tokenizer.ggml.model":                   "gpt2",
		"tokenizer.ggml.pre":                     "gpt-2",
		"tokenizer.ggml.bos_token_id":            uint32(3),
		"tokenizer.ggml.eos_token_id":            uint32(4),
		"tokenizer.ggml.add_bos_token":           true,
		"tokenizer.chat_template":                "{{x}}",
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
	}
	for k, want := range wantMD {
		if got, _ := m.Metadata.Get(k); got != want {
			t.Errorf("metadata %s = %#v, want %#v", k, got, want)
		}
	}
	if got, _ := m.Metadata.Get("tokenizer.ggml.token_type"); !slices.Equal(got.([]int32), []int32{1, 1, 1, 3, 3}) {
		t.Errorf("token_type = %v", got)
	}
	if m.Metadata.Keys()[0] != "general.architecture" {
		t.Errorf("first key %q", m.Metadata.Keys()[0])
	}
	if len(m.Tensors) != 12 {
		t.Errorf("%d tensors, want 12", len(m.Tensors))
	}
	q := m.Tensor("blk.0.attn_q.weight")
	if q == nil {
		t.Fatal("no blk.0.attn_q.weight")
	}
	v, err := q.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	// head 0 rows 0,1,2,3 -> 0,2,1,3; head 1 rows 4..7 -> 4,6,5,7; each row 8 values.
	for dst, src := range []int{0, 2, 1, 3, 4, 6, 5, 7} {
		if v[dst*8] != float32(src*8) {
			t.Errorf("attn_q row %d starts with %v, want row %d of the source", dst, v[dst*8], src)
		}
	}
	k := m.Tensor("blk.0.attn_k.weight") // one KV head: 0,2,1,3
	kv, _ := k.Float32s()
	if kv[8] != 16 || kv[16] != 8 {
		t.Errorf("attn_k not permuted with num_key_value_heads: rows start %v %v", kv[8], kv[16])
	}
	vv, _ := m.Tensor("blk.0.attn_v.weight").Float32s()
	if !slices.Equal(vv, iota(32)) {
		t.Error("attn_v changed")
	}
}

func TestConvertHFDTypes(t *testing.T) {
	for _, tc := range []struct {
		dt       tensor.DType
		fileType uint32
	}{{tensor.Invalid, 1}, {tensor.F16, 1}, {tensor.BF16, 32}, {tensor.F32, 0}} {
		m, err := ConvertHF(context.Background(), tinyLlama(t), &ConvertOptions{DType: tc.dt})
		if err != nil {
			t.Fatal(err)
		}
		want := tc.dt
		if want == tensor.Invalid {
			want = tensor.F16
		}
		for _, tt := range m.Tensors {
			w := want
			if len(tt.Shape) == 1 {
				w = tensor.F32
			}
			if tt.DType != w {
				t.Errorf("%v: %s is %v, want %v", tc.dt, tt.Name, tt.DType, w)
			}
			if _, err := tt.Bytes(); err != nil {
				t.Errorf("%s: %v", tt.Name, err)
			}
		}
		if ft, _ := m.Metadata.Get("general.file_type"); ft != tc.fileType {
			t.Errorf("%v: file_type %v, want %d", tc.dt, ft, tc.fileType)
		}
		m.Close()
	}
	if _, err := ConvertHF(context.Background(), tinyLlama(t), &ConvertOptions{DType: tensor.Q8_0}); !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("DType Q8_0: %v, want ErrUnsupported", err)
	}
}

func TestConvertHFErrors(t *testing.T) {
	extra, _ := tensor.NewF32("model.vision.weight", tensor.Shape{2}, []float32{1, 2})
	tests := []struct {
		name string
		edit func(fstest.MapFS)
		want error
	}{
		{"unknown architecture", func(f fstest.MapFS) {
			f["config.json"] = &fstest.MapFile{Data: []byte(`{"architectures":["FooForCausalLM"]}`)}
		}, refit.ErrUnsupported},
		{"no architectures", func(f fstest.MapFS) { f["config.json"] = &fstest.MapFile{Data: []byte(`{}`)} }, refit.ErrFormat},
		{"bad config", func(f fstest.MapFS) { f["config.json"] = &fstest.MapFile{Data: []byte(`{"architectures":`)} }, refit.ErrFormat},
		{"vocab size mismatch", func(f fstest.MapFS) {
			f["config.json"] = &fstest.MapFile{Data: bytes.Replace([]byte(tinyConfig), []byte(`"vocab_size":5`), []byte(`"vocab_size":4`), 1)}
		}, refit.ErrFormat},
		{"missing key", func(f fstest.MapFS) {
			f["config.json"] = &fstest.MapFile{Data: bytes.Replace([]byte(tinyConfig), []byte(`"rms_norm_eps":1e-5,`), nil, 1)}
		}, refit.ErrFormat},
		{"unknown pre-tokenizer", func(f fstest.MapFS) {
			f["tokenizer.json"] = &fstest.MapFile{Data: bytes.Replace([]byte(tinyTokenizer), []byte(`"ByteLevel"`), []byte(`"Whitespace"`), 1)}
		}, refit.ErrUnsupported},
		{"no weights", func(f fstest.MapFS) { delete(f, "model.safetensors") }, refit.ErrFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tinyLlama(t)
			tc.edit(f)
			if m, err := ConvertHF(context.Background(), f, nil); !errors.Is(err, tc.want) {
				t.Errorf("ConvertHF = %v, want %v", err, tc.want)
				if m != nil {
					m.Close()
				}
			}
		})
	}
	t.Run("unmapped tensor", func(t *testing.T) {
		if _, err := ConvertHF(context.Background(), tinyLlama(t, extra), nil); !errors.Is(err, refit.ErrUnsupported) {
			t.Errorf("ConvertHF = %v, want ErrUnsupported", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ConvertHF(ctx, tinyLlama(t), nil); !errors.Is(err, context.Canceled) {
			t.Errorf("ConvertHF = %v, want context.Canceled", err)
		}
	})
}

// TestConvertDeterministic: the same folder encodes to identical bytes.
func TestConvertDeterministic(t *testing.T) {
	var outs [2][]byte
	for i := range outs {
		m, err := ConvertHF(context.Background(), tinyLlama(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := gguf.Encode(&buf, m, nil); err != nil {
			t.Fatal(err)
		}
		m.Close()
		outs[i] = buf.Bytes()
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Error("two conversions of the same folder differ")
	}
	f, err := gguf.Parse(bytes.NewReader(outs[0]), int64(len(outs[0])))
	if err != nil {
		t.Fatalf("gguf.Parse of the output: %v", err)
	}
	if len(f.Tensors) != 12 {
		t.Errorf("%d tensors in the GGUF, want 12", len(f.Tensors))
	}
}
