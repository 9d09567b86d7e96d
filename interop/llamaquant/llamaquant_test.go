package llamaquant

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/quant/plan"
	"github.com/refit-ml/refit/tensor"
)

const (
	layers = 8
	embd   = 256
	kvDim  = 128 // 2 KV heads of 64: GQA 2
	ff     = 512
)

type harness struct {
	script, libdir string
}

func setup(t *testing.T) (*harness, string) {
	t.Helper()
	testtool.RequirePython(t, "torch", "ctypes")
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	h := &harness{libdir: filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")}
	b, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "quant_llm.py"))
	if err != nil {
		t.Fatal(err)
	}
	h.script = string(b)
	llm, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "llm.py"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	testtool.RunPython(t, string(llm), "build", dir)
	return h, dir
}

// inputModel reuses the tiny llama folder's metadata and tokenizer with wider random
// F32 weights (rows of 256, so every K-quant fits) and 8 layers.
func inputModel(t *testing.T, hfDir string) *refit.Model {
	t.Helper()
	src, err := hf.ConvertHF(context.Background(), refit.DirFS(filepath.Join(hfDir, "llama")), &hf.ConvertOptions{DType: tensor.F32})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	vocab := src.Tensor("token_embd.weight").Shape[0]
	md := src.Metadata.Clone()
	md.Set("llama.block_count", uint32(layers))
	md.Set("llama.embedding_length", uint32(embd))
	md.Set("llama.feed_forward_length", uint32(ff))
	md.Set("llama.attention.head_count", uint32(4))
	md.Set("llama.attention.head_count_kv", uint32(2))
	md.Set("llama.rope.dimension_count", uint32(64))
	rng := rand.New(rand.NewPCG(7, 8))
	var ts []*tensor.Tensor
	add := func(name string, s ...int64) {
		n := int64(1)
		for _, d := range s {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.05)
			if rng.IntN(500) == 0 {
				v[i] *= 20 // outliers
			}
		}
		x, err := tensor.NewF32(name, tensor.Shape(s), v)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, x)
	}
	add("token_embd.weight", vocab, embd)
	for b := range layers {
		p := fmt.Sprintf("blk.%d.", b)
		add(p+"attn_norm.weight", embd)
		add(p+"attn_q.weight", embd, embd)
		add(p+"attn_k.weight", kvDim, embd)
		add(p+"attn_v.weight", kvDim, embd)
		add(p+"attn_output.weight", embd, embd)
		add(p+"ffn_norm.weight", embd)
		add(p+"ffn_gate.weight", ff, embd)
		add(p+"ffn_up.weight", ff, embd)
		add(p+"ffn_down.weight", embd, ff)
	}
	add("output_norm.weight", embd)
	add("output.weight", vocab, embd)
	return &refit.Model{Format: "gguf", Metadata: md, Tensors: ts}
}

func writeGGUF(t *testing.T, m *refit.Model, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := gguf.Encode(f, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// refitQuantize is what refit quantize does: plan, apply, encode.
func refitQuantize(t *testing.T, in, out string, ft ggml.FileType, opts *plan.Options, imatrixPath string) *plan.Plan {
	t.Helper()
	m, err := refit.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var im map[string][]float32
	if imatrixPath != "" {
		b, err := os.ReadFile(imatrixPath)
		if err != nil {
			t.Fatal(err)
		}
		if im, err = plan.ParseImatrix(bytes.NewReader(b), int64(len(b))); err != nil {
			t.Fatal(err)
		}
	}
	p, err := plan.New(m, ft, opts)
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Apply(m, im)
	if err != nil {
		t.Fatal(err)
	}
	writeGGUF(t, q, out)
	return p
}

// compareFiles reports whether Refit's file equals llama.cpp's; if not, it reports the
// first differing metadata key and every tensor whose bytes differ.
func compareFiles(t *testing.T, refitPath, llamaPath string, p *plan.Plan) {
	t.Helper()
	a, err := os.ReadFile(refitPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(llamaPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Logf("%s: %d bytes, byte-identical to llama_model_quantize", p.FileType, len(a))
		if int64(len(a)) != p.FileBytes {
			t.Errorf("plan said %d bytes, file has %d", p.FileBytes, len(a))
		}
		return
	}
	fa, err := gguf.Parse(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		t.Fatal(err)
	}
	fb, err := gguf.Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	t.Errorf("%s: files differ (%d vs %d bytes)", p.FileType, len(a), len(b))
	for i := range min(len(fa.KVs), len(fb.KVs)) {
		if fa.KVs[i].Key != fb.KVs[i].Key || fmt.Sprint(fa.KVs[i].Value) != fmt.Sprint(fb.KVs[i].Value) {
			t.Errorf("KV %d: refit %s=%v, llama.cpp %s=%v", i, fa.KVs[i].Key, fa.KVs[i].Value, fb.KVs[i].Key, fb.KVs[i].Value)
			break
		}
	}
	if len(fa.KVs) != len(fb.KVs) {
		t.Errorf("refit wrote %d metadata keys, llama.cpp %d", len(fa.KVs), len(fb.KVs))
	}
	first := 0
	for first < min(len(a), len(b)) && a[first] == b[first] {
		first++
	}
	t.Errorf("first differing byte at offset %d", first)
	ma, _ := gguf.Decode(bytes.NewReader(a), int64(len(a)), nil)
	mb, _ := gguf.Decode(bytes.NewReader(b), int64(len(b)), nil)
	for i := range min(len(ma.Tensors), len(mb.Tensors)) {
		if ma.Tensors[i].Name != mb.Tensors[i].Name {
			t.Errorf("tensor %d: refit %s, llama.cpp %s", i, ma.Tensors[i].Name, mb.Tensors[i].Name)
			break
		}
	}
	for _, ta := range ma.Tensors {
		tb := mb.Tensor(ta.Name)
		if tb == nil {
			t.Errorf("%s: missing in llama.cpp's output", ta.Name)
			continue
		}
		if ta.DType != tb.DType {
			t.Errorf("%s: refit %v, llama.cpp %v", ta.Name, ta.DType, tb.DType)
			continue
		}
		x, _ := ta.Bytes()
		y, _ := tb.Bytes()
		if !bytes.Equal(x, y) {
			t.Errorf("%s (%v): tensor bytes differ", ta.Name, ta.DType)
		}
	}
}

func llamaQuantize(t *testing.T, h *harness, in, out string, ft ggml.FileType, extra ...string) {
	t.Helper()
	args := append([]string{"quantize", h.libdir, in, out, strconv.Itoa(int(ft)), "2"}, extra...)
	testtool.RunPython(t, h.script, args...)
}

func writeImatrix(t *testing.T, m *refit.Model, path string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(9, 10))
	var b []byte
	var n uint32
	var body []byte
	for _, x := range m.Tensors {
		if len(x.Shape) != 2 && len(x.Shape) != 3 {
			continue
		}
		n++
		cols := x.Shape[len(x.Shape)-1]
		if len(x.Shape) == 3 { // stacked experts: one vector per expert
			cols *= x.Shape[0]
		}
		body = binary.LittleEndian.AppendUint32(body, uint32(len(x.Name)))
		body = append(body, x.Name...)
		body = binary.LittleEndian.AppendUint32(body, 3) // ncall
		body = binary.LittleEndian.AppendUint32(body, uint32(cols))
		for range cols {
			body = binary.LittleEndian.AppendUint32(body, math.Float32bits(float32(rng.ExpFloat64()*3)))
		}
	}
	b = binary.LittleEndian.AppendUint32(b, n)
	if err := os.WriteFile(path, append(b, body...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestByteIdenticalToLlamaQuantize(t *testing.T) {
	h, hfDir := setup(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "f32.gguf")
	m := inputModel(t, hfDir)
	writeGGUF(t, m, in)
	imatrix := filepath.Join(dir, "imatrix.dat")
	writeImatrix(t, m, imatrix)

	type tc struct {
		name      string
		ft        ggml.FileType
		imatrix   bool
		overrides []string // REGEX=TYPE
	}
	var cases []tc
	for _, ft := range []ggml.FileType{ggml.FileQ8_0, ggml.FileQ4_0, ggml.FileQ4_1, ggml.FileQ5_0, ggml.FileQ5_1,
		ggml.FileQ2_K, ggml.FileQ3_K_S, ggml.FileQ3_K_M, ggml.FileQ3_K_L, ggml.FileQ4_K_S, ggml.FileQ4_K_M,
		ggml.FileQ5_K_S, ggml.FileQ5_K_M, ggml.FileQ6_K, ggml.FileIQ4_NL, ggml.FileIQ4_XS, ggml.FileTQ1_0,
		ggml.FileTQ2_0, ggml.FileF16, ggml.FileBF16, ggml.FileF32} {
		cases = append(cases, tc{name: ft.String(), ft: ft})
	}
	for _, ft := range []ggml.FileType{ggml.FileQ4_0, ggml.FileQ4_K_M, ggml.FileIQ4_XS, ggml.FileQ3_K_M,
		// The IQ1-IQ3 mixes, whose smallest types llama.cpp refuses without an importance matrix.
		ggml.FileIQ1_S, ggml.FileIQ1_M, ggml.FileIQ2_XXS, ggml.FileIQ2_XS, ggml.FileIQ2_S, ggml.FileIQ2_M,
		ggml.FileIQ3_XXS, ggml.FileIQ3_XS, ggml.FileIQ3_S, ggml.FileIQ3_M, ggml.FileQ2_K_S} {
		cases = append(cases, tc{name: ft.String() + "+imatrix", ft: ft, imatrix: true})
	}
	// Without one, the IQ3_S and IQ3_M mixes use no type that needs it.
	for _, ft := range []ggml.FileType{ggml.FileIQ3_S, ggml.FileIQ3_M} {
		cases = append(cases, tc{name: ft.String(), ft: ft})
	}
	cases = append(cases, tc{name: "Q4_K_M+overrides", ft: ggml.FileQ4_K_M, overrides: []string{`attn_v=Q8_0`, `blk\.[0-3]\.ffn_down=Q5_K`}})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			refitOut := filepath.Join(t.TempDir(), "refit.gguf")
			llamaOut := filepath.Join(t.TempDir(), "llama.gguf")
			opts := &plan.Options{}
			var extra []string
			imPath := ""
			if c.imatrix {
				opts.Imatrix = true
				imPath = imatrix
				extra = append(extra, imatrix)
			}
			for _, s := range c.overrides {
				ov, err := plan.ParseOverride(s)
				if err != nil {
					t.Fatal(err)
				}
				opts.Overrides = append(opts.Overrides, ov)
				id, _ := gguf.TypeFor(ov.Type)
				extra = append(extra, ov.Pattern.String()+"="+strconv.Itoa(int(id)))
			}
			p := refitQuantize(t, in, refitOut, c.ft, opts, imPath)
			llamaQuantize(t, h, in, llamaOut, c.ft, extra...)
			compareFiles(t, refitOut, llamaOut, p)
		})
	}
}

func TestLlamaCppLoadsQuantized(t *testing.T) {
	h, hfDir := setup(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "f32.gguf")
	m := inputModel(t, hfDir)
	writeGGUF(t, m, in)
	var params int64
	for _, x := range m.Tensors {
		params += x.NumElements()
	}
	for _, ft := range []ggml.FileType{ggml.FileQ4_K_M, ggml.FileQ8_0, ggml.FileIQ4_XS, ggml.FileTQ2_0} {
		t.Run(ft.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "q.gguf")
			refitQuantize(t, in, out, ft, nil, "")
			var got struct {
				NParams  int64 `json:"n_params"`
				NTensors int   `json:"n_tensors"`
			}
			if err := json.Unmarshal(testtool.RunPython(t, h.script, "load", h.libdir, out), &got); err != nil {
				t.Fatal(err)
			}
			if got.NParams != params || got.NTensors != len(m.Tensors) {
				t.Errorf("llama.cpp sees %d params in %d tensors, want %d in %d", got.NParams, got.NTensors, params, len(m.Tensors))
			}
		})
	}
	// A Hugging Face folder quantized directly (rows of 64: Q8_0 fits without fallback).
	t.Run("hf/Q8_0", func(t *testing.T) {
		src, err := hf.ConvertHF(context.Background(), refit.DirFS(filepath.Join(hfDir, "llama")), &hf.ConvertOptions{DType: tensor.F32})
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		p, err := plan.New(src, ggml.FileQ8_0, nil)
		if err != nil {
			t.Fatal(err)
		}
		q, err := p.Apply(src, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "hf.gguf")
		writeGGUF(t, q, out)
		testtool.RunPython(t, h.script, "load", h.libdir, out)
	})
}

// TestReverseRoundTrip converts each tiny HF folder to GGUF, back to a Hugging Face
// folder with hf.ReverseGGUF, and to GGUF again: tensors and metadata must match,
// and llama.cpp must load the second GGUF.
func TestReverseRoundTrip(t *testing.T) {
	h, hfDir := setup(t)
	for _, name := range []string{"llama", "mistral", "qwen2", "qwen3", "mixtral", "llama3"} {
		t.Run(name, func(t *testing.T) {
			first, err := hf.ConvertHF(context.Background(), refit.DirFS(filepath.Join(hfDir, name)), &hf.ConvertOptions{DType: tensor.F32})
			if err != nil {
				t.Fatal(err)
			}
			defer first.Close()
			out := t.TempDir()
			err = hf.ReverseGGUF(context.Background(), first, out, &hf.ReverseOptions{ShardSize: 50_000})
			if err != nil {
				t.Fatalf("ReverseGGUF = %v", err)
			}
			second, err := hf.ConvertHF(context.Background(), refit.DirFS(out), &hf.ConvertOptions{DType: tensor.F32})
			if err != nil {
				t.Fatalf("ConvertHF(reversed) = %v", err)
			}
			defer second.Close()
			if len(second.Tensors) != len(first.Tensors) {
				t.Fatalf("%d tensors after the round trip, want %d", len(second.Tensors), len(first.Tensors))
			}
			for _, want := range first.Tensors {
				got := second.Tensor(want.Name)
				if got == nil {
					t.Errorf("%s missing", want.Name)
					continue
				}
				a, _ := want.Bytes()
				b, _ := got.Bytes()
				if got.DType != want.DType || !got.Shape.Equal(want.Shape) || !bytes.Equal(a, b) {
					t.Errorf("%s differs after the round trip", want.Name)
				}
			}
			for _, k := range first.Metadata.Keys() {
				if k == "general.name" || k == "general.basename" {
					continue
				}
				v, _ := first.Metadata.Get(k)
				w, ok := second.Metadata.Get(k)
				if !ok || fmt.Sprint(v) != fmt.Sprint(w) {
					t.Errorf("metadata %s = %v, want %v", k, w, v)
				}
			}
			path := filepath.Join(t.TempDir(), "back.gguf")
			writeGGUF(t, second, path)
			testtool.RunPython(t, h.script, "load", h.libdir, path)
		})
	}
}
