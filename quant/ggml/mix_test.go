package ggml

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

type mockTensor struct {
	name  string
	shape tensor.Shape // row-major; ggml's ne is the reverse
	dtype tensor.DType
}

type mockModel struct {
	name                                  string
	arch                                  string
	embd, ff, layers, heads, kvHeads, exp int
	tensors                               []mockTensor
}

func (m mockModel) info() ModelInfo {
	gqa := 0
	if m.kvHeads > 0 {
		gqa = m.heads / m.kvHeads
	}
	return ModelInfo{Arch: m.arch, Layers: m.layers, Experts: m.exp, GQA: gqa,
		Is70B: m.arch == "llama" && m.layers == 80 && m.heads != m.kvHeads}
}

// buildModel lists a transformer's tensors in GGUF order. qkv fuses attention
// projections (falcon); tied leaves out output.weight; experts adds MoE FFNs.
func buildModel(name, arch string, embd, ff, layers, heads, kvHeads, experts, vocab int, qkv, tied bool) mockModel {
	m := mockModel{name: name, arch: arch, embd: embd, ff: ff, layers: layers, heads: heads, kvHeads: kvHeads, exp: experts}
	e, f, v := int64(embd), int64(ff), int64(vocab)
	kv := e * int64(kvHeads) / int64(heads)
	add := func(n string, d tensor.DType, s ...int64) { m.tensors = append(m.tensors, mockTensor{n, s, d}) }
	add("token_embd.weight", tensor.F16, v, e)
	for i := range layers {
		p := fmt.Sprintf("blk.%d.", i)
		add(p+"attn_norm.weight", tensor.F32, e)
		if qkv {
			add(p+"attn_qkv.weight", tensor.F16, e+2*kv, e)
		} else {
			add(p+"attn_q.weight", tensor.F16, e, e)
			add(p+"attn_k.weight", tensor.F16, kv, e)
			add(p+"attn_v.weight", tensor.F16, kv, e)
		}
		add(p+"attn_output.weight", tensor.F16, e, e)
		add(p+"ffn_norm.weight", tensor.F32, e)
		if experts > 1 {
			x := int64(experts)
			add(p+"ffn_gate_inp.weight", tensor.F32, x, e)
			add(p+"ffn_gate_exps.weight", tensor.F16, x, f, e)
			add(p+"ffn_down_exps.weight", tensor.F16, x, e, f)
			add(p+"ffn_up_exps.weight", tensor.F16, x, f, e)
		} else {
			add(p+"ffn_gate.weight", tensor.F16, f, e)
			add(p+"ffn_down.weight", tensor.F16, e, f)
			add(p+"ffn_up.weight", tensor.F16, f, e)
		}
	}
	add("output_norm.weight", tensor.F32, e)
	if !tied {
		add("output.weight", tensor.F16, v, e)
	}
	return m
}

func mockModels() []mockModel {
	odd := buildModel("odd-shapes", "llama", 96, 100, 4, 4, 4, 0, 1000, false, false)
	odd.tensors = append(odd.tensors,
		mockTensor{"blk.0.extra.weight", tensor.Shape{8, 4100}, tensor.F16},
		mockTensor{"row.weight", tensor.Shape{1, 4096}, tensor.F16},
		mockTensor{"position_embd.weight", tensor.Shape{512, 96}, tensor.F16},
		mockTensor{"blk.0.attn_kv_b.weight", tensor.Shape{64, 96}, tensor.F16})
	return []mockModel{
		buildModel("llama-7b", "llama", 4096, 11008, 32, 32, 32, 0, 32000, false, false),
		buildModel("llama3-8b", "llama", 4096, 14336, 32, 32, 8, 0, 128256, false, false),
		buildModel("llama-70b", "llama", 8192, 28672, 80, 64, 8, 0, 32000, false, false),
		buildModel("falcon-7b", "falcon", 4544, 18176, 32, 71, 1, 0, 65024, true, true),
		buildModel("qwen3-tied", "qwen3", 1024, 3072, 28, 16, 8, 0, 151936, false, true),
		buildModel("mixtral", "llama", 4096, 14336, 32, 32, 8, 8, 32000, false, false),
		buildModel("gpt-oss", "gpt-oss", 2880, 2880, 24, 64, 8, 32, 201088, false, false),
		odd,
	}
}

func allFileTypes() []FileType {
	var out []FileType
	for _, e := range fileTypes {
		out = append(out, e.ft)
	}
	return out
}

// TestMixTable pins hand-checked choices of llama-quantize for a 32-layer llama.
func TestMixTable(t *testing.T) {
	m := buildModel("llama-7b", "llama", 4096, 11008, 32, 32, 32, 0, 32000, false, false)
	type want struct {
		name string
		d    tensor.DType
	}
	tests := []struct {
		ft   FileType
		opts MixOptions
		want []want
	}{
		{FileQ4_K_M, MixOptions{}, []want{
			{"token_embd.weight", tensor.Q4_K}, {"output.weight", tensor.Q6_K}, {"output_norm.weight", tensor.F32},
			{"blk.0.attn_v.weight", tensor.Q6_K}, {"blk.4.attn_v.weight", tensor.Q4_K}, {"blk.6.attn_v.weight", tensor.Q6_K},
			{"blk.28.ffn_down.weight", tensor.Q6_K}, {"blk.10.ffn_down.weight", tensor.Q4_K}, {"blk.9.ffn_down.weight", tensor.Q6_K},
			{"blk.5.attn_q.weight", tensor.Q4_K}, {"blk.5.ffn_up.weight", tensor.Q4_K},
		}},
		{FileQ3_K_M, MixOptions{}, []want{
			{"blk.0.attn_v.weight", tensor.Q5_K}, {"blk.1.attn_v.weight", tensor.Q5_K}, {"blk.2.attn_v.weight", tensor.Q4_K},
			{"blk.1.ffn_down.weight", tensor.Q5_K}, {"blk.2.ffn_down.weight", tensor.Q4_K},
			{"blk.3.attn_output.weight", tensor.Q4_K}, {"blk.3.attn_k.weight", tensor.Q3_K},
		}},
		{FileQ2_K, MixOptions{}, []want{
			{"blk.3.attn_v.weight", tensor.Q3_K}, {"blk.3.ffn_down.weight", tensor.Q3_K}, {"blk.3.attn_output.weight", tensor.Q3_K},
			{"blk.3.ffn_gate.weight", tensor.Q2_K}, {"output.weight", tensor.Q6_K},
		}},
		{FileQ4_0, MixOptions{Imatrix: true}, []want{
			{"blk.3.ffn_down.weight", tensor.Q4_1}, {"blk.4.ffn_down.weight", tensor.Q4_0}, {"output.weight", tensor.Q6_K},
		}},
		{FileQ8_0, MixOptions{}, []want{{"output.weight", tensor.Q8_0}, {"blk.0.attn_v.weight", tensor.Q8_0}}},
		{FileQ4_K_M, MixOptions{Pure: true, OutputType: tensor.Q8_0}, []want{
			{"blk.0.attn_v.weight", tensor.Q4_K}, {"output.weight", tensor.Q8_0}, {"token_embd.weight", tensor.Q4_K},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.ft.String(), func(t *testing.T) {
			names := make([]string, len(m.tensors))
			for i, x := range m.tensors {
				names[i] = x.name
			}
			mix, err := NewMix(tt.ft, m.info(), names, &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]tensor.DType{}
			reasons := map[string]string{}
			for _, x := range m.tensors {
				d, why, err := mix.TypeFor(x.name, x.shape, x.dtype)
				if err != nil {
					t.Fatal(err)
				}
				got[x.name], reasons[x.name] = d, why
			}
			for _, w := range tt.want {
				if got[w.name] != w.d {
					t.Errorf("TypeFor(%q) = %v (%s), want %v", w.name, got[w.name], reasons[w.name], w.d)
				}
			}
		})
	}
}

func TestMixErrors(t *testing.T) {
	if _, err := NewMix(FileType(99), ModelInfo{}, nil, nil); !errors.Is(err, tensor.ErrUnsupported) {
		t.Errorf("NewMix(99) = %v, want ErrUnsupported", err)
	}
	mix, err := NewMix(FileQ4_K_M, ModelInfo{Arch: "llama", Layers: 4, Experts: 8}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ffn_down_exps.weight", "blk.9.ffn_down_exps.weight", "blk.x.ffn_up_exps.weight"} {
		if _, _, err := mix.TypeFor(name, tensor.Shape{8, 256, 256}, tensor.F16); err == nil {
			t.Errorf("TypeFor(%q) in a 4-layer MoE = nil error", name)
		}
	}
	for _, s := range []string{"q4_k_m", "Q8_0", "mxfp4", "MXFP4_MOE"} {
		if _, err := ParseFileType(s); err != nil {
			t.Errorf("ParseFileType(%q) = %v", s, err)
		}
	}
	if _, err := ParseFileType("Q4_K_X"); err == nil {
		t.Error(`ParseFileType("Q4_K_X") = nil error`)
	}
}

// TestInteropMix compares every tensor's type with llama.cpp's own choice
// (llama_quant_compute_types in libllama) for mock models and every file type.
func TestInteropMix(t *testing.T) {
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	testtool.RequirePython(t, "numpy")
	libdir := filepath.Join(nm, "@node-llama-cpp/linux-x64/bins/linux-x64")
	script, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "quant_ggml.py"))
	if err != nil {
		t.Fatal(err)
	}
	models := mockModels()
	fts := allFileTypes()
	type jsonModel struct {
		Desc    map[string]any `json:"desc"`
		Tensors [][3]any       `json:"tensors"`
	}
	var spec struct {
		Models []jsonModel `json:"models"`
		Ftypes []int       `json:"ftypes"`
	}
	for _, ft := range fts {
		spec.Ftypes = append(spec.Ftypes, int(ft))
	}
	for _, m := range models {
		jm := jsonModel{Desc: map[string]any{"arch": m.arch, "n_embd": m.embd, "n_ff": m.ff, "n_layer": m.layers,
			"n_head": m.heads, "n_head_kv": m.kvHeads, "n_expert": m.exp, "n_embd_head_k": 128, "n_embd_head_v": 128}}
		for _, x := range m.tensors {
			ne := make([]int64, len(x.shape))
			for i, d := range x.shape {
				ne[len(ne)-1-i] = d
			}
			jm.Tensors = append(jm.Tensors, [3]any{x.name, ne, ggmlTypeIDAll[x.dtype]})
		}
		spec.Models = append(spec.Models, jm)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.json"), filepath.Join(dir, "out.json")
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	testtool.RunPython(t, string(script), "mix", libdir, in, out)
	b, err = os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var ref [][][]int
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	fromID := map[int]tensor.DType{}
	for d, id := range ggmlTypeIDAll {
		fromID[id] = d
	}
	for mi, m := range models {
		names := make([]string, len(m.tensors))
		for i, x := range m.tensors {
			names[i] = x.name
		}
		for fi, ft := range fts {
			t.Run(m.name+"/"+ft.String(), func(t *testing.T) {
				mix, err := NewMix(ft, m.info(), names, nil)
				if err != nil {
					t.Fatal(err)
				}
				bad := 0
				for ti, x := range m.tensors {
					got, why, err := mix.TypeFor(x.name, x.shape, x.dtype)
					want, ok := fromID[ref[mi][fi][ti]]
					if !ok {
						t.Fatalf("llama.cpp chose ggml type %d for %s", ref[mi][fi][ti], x.name)
					}
					if err != nil || got != want {
						if bad++; bad <= 5 {
							t.Errorf("TypeFor(%q %v) = %v (%s, err %v), llama.cpp chose %v", x.name, x.shape, got, why, err, want)
						}
					}
				}
			})
		}
	}
}

// ggmlTypeIDAll maps every tensor.DType with a ggml counterpart to its ggml_type.
var ggmlTypeIDAll = func() map[tensor.DType]int {
	m := map[tensor.DType]int{
		tensor.Q8_1: 9, tensor.Q8_K: 15, tensor.IQ2_XXS: 16, tensor.IQ2_XS: 17, tensor.IQ3_XXS: 18,
		tensor.IQ1_S: 19, tensor.IQ3_S: 21, tensor.IQ2_S: 22, tensor.IQ1_M: 29,
	}
	for d, id := range ggmlTypeID {
		m[d] = id
	}
	return m
}()
