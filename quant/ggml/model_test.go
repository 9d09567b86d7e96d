package ggml

import (
	"bytes"
	"errors"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/tensor"
)

func tinyModel(t *testing.T) *refit.Model {
	t.Helper()
	m := &refit.Model{Format: "gguf"}
	m.Metadata.Set("general.architecture", "llama")
	m.Metadata.Set("llama.block_count", uint32(2))
	m.Metadata.Set("llama.expert_count", uint32(2))
	m.Metadata.Set("llama.attention.head_count", uint32(8))
	m.Metadata.Set("llama.attention.head_count_kv", uint32(2))
	add := func(name string, s tensor.Shape) {
		x, err := tensor.NewF32(name, s, randomRows(uint64(len(m.Tensors)), int(s.Elements())))
		if err != nil {
			t.Fatal(err)
		}
		m.Tensors = append(m.Tensors, x)
	}
	add("token_embd.weight", tensor.Shape{16, 256})
	for _, p := range []string{"blk.0.", "blk.1."} {
		add(p+"attn_norm.weight", tensor.Shape{256})
		add(p+"attn_v.weight", tensor.Shape{64, 256})
		add(p+"ffn_down_exps.weight", tensor.Shape{2, 256, 512})
		add(p+"ffn_odd.weight", tensor.Shape{4, 100})
	}
	add("output.weight", tensor.Shape{16, 256})
	return m
}

func TestQuantizeModel(t *testing.T) {
	m := tinyModel(t)
	if got := InfoFromMetadata(m.Metadata); got != (ModelInfo{Arch: "llama", Layers: 2, Experts: 2, GQA: 4}) {
		t.Errorf("InfoFromMetadata = %+v", got)
	}
	im := randomRows(99, 2*512) // one vector per expert
	for i := range im {
		im[i] *= im[i]
	}
	q, err := QuantizeModel(m, FileQ4_K_M, &ModelOptions{Imatrix: map[string][]float32{"blk.1.ffn_down_exps.weight": im}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]tensor.DType{
		"token_embd.weight": tensor.Q4_K, "blk.0.attn_norm.weight": tensor.F32, "blk.0.attn_v.weight": tensor.Q4_K, "blk.1.attn_v.weight": tensor.Q6_K,
		"blk.1.ffn_down_exps.weight": tensor.Q6_K, "blk.0.ffn_odd.weight": tensor.F16, "output.weight": tensor.Q6_K,
	}
	for name, d := range want {
		if got := q.Tensor(name).DType; got != d {
			t.Errorf("QuantizeModel: %s is %v, want %v", name, got, d)
		}
	}
	if q.Tensor("blk.0.attn_norm.weight") != m.Tensor("blk.0.attn_norm.weight") {
		t.Error("an unchanged tensor is not shared")
	}
	if v, _ := q.Metadata.Get("general.file_type"); v != uint32(FileQ4_K_M) {
		t.Errorf("general.file_type = %v, want %d", v, FileQ4_K_M)
	}
	if _, ok := m.Metadata.Get("general.file_type"); ok {
		t.Error("QuantizeModel modified its input's metadata")
	}
	// Each expert is quantized with its own importance vector.
	got, err := q.Tensor("blk.1.ffn_down_exps.weight").Bytes()
	if err != nil {
		t.Fatal(err)
	}
	x, _ := m.Tensor("blk.1.ffn_down_exps.weight").Float32s()
	rs, _ := RowSize(tensor.Q6_K, 512)
	wantB := make([]byte, 2*256*rs)
	for e := range 2 {
		if err := QuantizeRows(tensor.Q6_K, wantB[e*256*rs:(e+1)*256*rs], x[e*256*512:(e+1)*256*512], 256, 512, im[e*512:(e+1)*512], 0); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, wantB) {
		t.Error("per-expert importance vectors were not applied per expert")
	}

	if _, err := QuantizeModel(m, FileIQ2_XXS, nil); !errors.Is(err, ErrNeedsImatrix) {
		t.Errorf("QuantizeModel(IQ2_XXS) without an importance matrix = %v, want ErrNeedsImatrix", err)
	}
	if _, err := QuantizeModel(m, FileQ2_K_S, nil); !errors.Is(err, ErrNeedsImatrix) {
		t.Errorf("QuantizeModel(Q2_K_S) without an importance matrix = %v, want ErrNeedsImatrix", err)
	}
	bad := tinyModel(t)
	if _, err := QuantizeModel(bad, FileQ4_K_M, &ModelOptions{Imatrix: map[string][]float32{"blk.0.attn_v.weight": make([]float32, 7)}}); err == nil {
		t.Error("QuantizeModel with a wrong-length importance vector = nil error")
	}
}
