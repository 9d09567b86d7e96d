package llama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/llm"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/tensor"
)

// TestLLMSlidingWindow runs gemma2, gemma3 and olmo2 (as olmo3's sliding layers:
// three in four) with a sliding window of 3 tokens (written into the F32 GGUF's
// metadata), so the prompts outrun it, and compares package llm's logits with
// llama.cpp's on the same file. The torch reference has no window, so the logits must
// also move away from it.
func TestLLMSlidingWindow(t *testing.T) {
	dir, ref, script := build(t)
	for _, name := range []string{"gemma2", "gemma3", "olmo2"} {
		t.Run(name, func(t *testing.T) {
			want := ref.Models[name]
			m := convertF32(t, dir, name)
			key := want.Family + ".attention.sliding_window"
			if _, ok := m.Metadata.Get(key); !ok && name != "olmo2" {
				t.Fatalf("converted model has no %s", key)
			}
			m.Metadata.Set(key, uint32(3))
			out := writeGGUFFile(t, m, name+".gguf")
			for _, p := range want.Prompts {
				if len(p.IDs) <= 4 {
					t.Fatalf("prompt of %d tokens does not outrun the window", len(p.IDs))
				}
			}
			got := llamaCppLogits(t, script, out, want.Prompts)
			requireMoved(t, want.Prompts, got, "the 3-token window")
			checkLLM(t, "", out, want.Prompts, got)
		})
	}
}

// TestLLMShortRoPEFactors raises llm.py's phi3_long original context to 512 in the F32
// GGUF, so that llama.cpp's context (512 by default) no longer exceeds it and both
// llama.cpp and llm (sessions as long as the prompts, padded to 256 as llama.cpp pads)
// take the short LongRoPE factors; the logits must move away from the long-factor
// reference and agree.
func TestLLMShortRoPEFactors(t *testing.T) {
	dir, ref, script := build(t)
	want := ref.Models["phi3_long"]
	m := convertF32(t, dir, "phi3_long")
	m.Metadata.Set("phi3.rope.scaling.original_context_length", uint32(512))
	out := writeGGUFFile(t, m, "phi3_short.gguf")
	got := llamaCppLogits(t, script, out, want.Prompts)
	requireMoved(t, want.Prompts, got, "the short factors")
	checkLLM(t, "", out, want.Prompts, got)
}

// TestLLMQuantized quantizes every llm.py model package llm runs to Q8_0 (ggml's
// mix: 1-D tensors and routers stay float) and compares llm's logits with llama.cpp's
// on the same file (1e-4 of the logit scale, same top token). Both quantize the
// activations for the Q8_0 dot products the same way, so they differ by float32
// summation order.
func TestLLMQuantized(t *testing.T) {
	dir, ref, script := build(t)
	names := make([]string, 0, len(ref.Models))
	for n, m := range ref.Models {
		if !m.Embed {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	fileType, err := ggml.ParseFileType("Q8_0")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			want := ref.Models[name]
			m := convertF32(t, dir, name)
			if _, err := llm.ConfigFromMetadata(m.Metadata, 1); errors.Is(err, refit.ErrUnsupported) {
				t.Skipf("llm: %v", err)
			}
			q, err := ggml.QuantizeModel(m, fileType, nil)
			if err != nil {
				t.Fatalf("QuantizeModel = %v", err)
			}
			out := writeGGUFFile(t, q, name+"-q8_0.gguf")
			checkLLM(t, "", out, want.Prompts, llamaCppLogits(t, script, out, want.Prompts))
		})
	}
}

// TestLLMFusedQKV fuses phi2's Q/K/V projections and biases into attn_qkv (the layout
// llama.cpp's own converter writes for phi2) and compares llm with llama.cpp on it.
func TestLLMFusedQKV(t *testing.T) {
	dir, ref, script := build(t)
	want := ref.Models["phi2"]
	m := convertF32(t, dir, "phi2")
	byName := map[string]*tensor.Tensor{}
	for _, tn := range m.Tensors {
		byName[tn.Name] = tn
	}
	fused := map[string]bool{}
	var extra []*tensor.Tensor
	for il := 0; ; il++ {
		p := fmt.Sprintf("blk.%d.", il)
		if byName[p+"attn_q.weight"] == nil {
			break
		}
		for _, kind := range []string{"weight", "bias"} {
			var data []float32
			var rows int64
			var shape tensor.Shape
			for _, n := range []string{"attn_q.", "attn_k.", "attn_v."} {
				tn := byName[p+n+kind]
				if tn == nil {
					t.Fatalf("converted phi2 has no %s", p+n+kind)
				}
				v, err := tn.Float32s()
				if err != nil {
					t.Fatal(err)
				}
				data = append(data, v...)
				rows += tn.Shape[0]
				shape = slices.Clone(tn.Shape)
				fused[tn.Name] = true
			}
			shape[0] = rows
			qkv, err := tensor.NewF32(p+"attn_qkv."+kind, shape, data)
			if err != nil {
				t.Fatal(err)
			}
			extra = append(extra, qkv)
		}
	}
	if len(extra) == 0 {
		t.Fatal("no layers fused")
	}
	m.Tensors = slices.DeleteFunc(m.Tensors, func(tn *tensor.Tensor) bool { return fused[tn.Name] })
	m.Tensors = append(m.Tensors, extra...)
	out := writeGGUFFile(t, m, "phi2-qkv.gguf")
	checkLLM(t, "", out, want.Prompts, llamaCppLogits(t, script, out, want.Prompts))
}

// refPrompts are a reference model's prompts with the torch logits.
type refPrompts = []struct {
	IDs    []int32   `json:"ids"`
	Logits []float64 `json:"logits"`
}

// convertF32 converts the llm.py model folder dir/name to an F32 GGUF model in memory.
func convertF32(t *testing.T, dir, name string) *refit.Model {
	t.Helper()
	m, err := hf.ConvertHF(context.Background(), refit.DirFS(filepath.Join(dir, name)), &hf.ConvertOptions{DType: tensor.F32})
	if err != nil {
		t.Fatalf("ConvertHF = %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// writeGGUFFile writes m as a GGUF file named base in a temporary folder.
func writeGGUFFile(t *testing.T, m *refit.Model, base string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), base)
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := gguf.Encode(f, m, nil); err != nil {
		t.Fatalf("gguf.Encode = %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// llamaCppLogits runs llama.cpp (libllama of node-llama-cpp) on the GGUF at path over
// the prompts' token ids.
func llamaCppLogits(t *testing.T, script []byte, path string, prompts refPrompts) llamaOutput {
	t.Helper()
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	libdir := filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	var ids [][]int32
	for _, p := range prompts {
		ids = append(ids, p.IDs)
	}
	reqPath := filepath.Join(t.TempDir(), "req.json")
	writeJSON(t, reqPath, map[string]any{"strings": []string{}, "ids": ids})
	var got llamaOutput
	if err := json.Unmarshal(testtool.RunPython(t, string(script), "llama", libdir, path, reqPath), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// requireMoved fails unless llama.cpp's logits for every prompt differ from the torch
// reference's by at least 1e-3: the change the test made to the file took effect.
func requireMoved(t *testing.T, prompts refPrompts, got llamaOutput, what string) {
	t.Helper()
	for i, p := range prompts {
		var moved float64
		for j, w := range p.Logits {
			moved = max(moved, math.Abs(got.Logits[i][j]-w))
		}
		if moved < 1e-3 {
			t.Fatalf("prompt %d: %s left llama.cpp's logits as the reference's (%.3g)", i, what, moved)
		}
	}
}
