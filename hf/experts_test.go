package hf

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/safetensors"
	"github.com/refit-ml/refit/tensor"
)

// tinyMixtral: one block, n experts of 2x2 weights holding the expert number.
func tinyMixtral(t *testing.T, experts []int, shapes map[int]tensor.Shape) fstest.MapFS {
	t.Helper()
	fsys := tinyLlama(t)
	m := &refit.Model{}
	for _, x := range experts {
		for _, w := range []string{"w1", "w2", "w3"} {
			s := tensor.Shape{2, 2}
			if shapes[x] != nil {
				s = shapes[x]
			}
			v := make([]float32, s.Elements())
			for i := range v {
				v[i] = float32(x)
			}
			tt, err := tensor.NewF32("model.layers.0.block_sparse_moe.experts."+string(rune('0'+x))+"."+w+".weight", s, v)
			if err != nil {
				t.Fatal(err)
			}
			m.Tensors = append(m.Tensors, tt)
		}
	}
	var buf bytes.Buffer
	if err := safetensors.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	fsys["model-experts.safetensors"] = &fstest.MapFile{Data: buf.Bytes()}
	fsys["config.json"] = &fstest.MapFile{Data: bytes.Replace([]byte(tinyConfig), []byte(`"vocab_size":5`),
		[]byte(`"vocab_size":5,"num_local_experts":3,"num_experts_per_tok":2`), 1)}
	return fsys
}

func TestConvertExperts(t *testing.T) {
	m, err := ConvertHF(context.Background(), tinyMixtral(t, []int{2, 0, 1}, nil), &ConvertOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, name := range []string{"blk.0.ffn_gate_exps.weight", "blk.0.ffn_down_exps.weight", "blk.0.ffn_up_exps.weight"} {
		st := m.Tensor(name)
		if st == nil {
			t.Fatalf("no %s", name)
		}
		if !st.Shape.Equal(tensor.Shape{3, 2, 2}) {
			t.Errorf("%s shape %v", name, st.Shape)
		}
		v, _ := st.Float32s()
		if !slices.Equal(v, []float32{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}) {
			t.Errorf("%s = %v, want experts in order", name, v)
		}
	}
	if got, _ := m.Metadata.Get("llama.expert_count"); got != uint32(3) {
		t.Errorf("expert_count = %#v", got)
	}

	bad := []struct {
		name    string
		experts []int
		shapes  map[int]tensor.Shape
	}{
		{"missing expert", []int{0, 2}, nil},
		{"too many experts", []int{0, 1, 2, 3}, nil},
		{"shape mismatch", []int{0, 1, 2}, map[int]tensor.Shape{1: {2, 4}}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ConvertHF(context.Background(), tinyMixtral(t, tc.experts, tc.shapes), nil); !errors.Is(err, refit.ErrFormat) {
				t.Errorf("ConvertHF = %v, want ErrFormat", err)
			}
		})
	}
}
