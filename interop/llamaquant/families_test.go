package llamaquant

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/quant/ggml"
	"github.com/refit-ml/refit/quant/plan"
	"github.com/refit-ml/refit/tensor"
)

// TestFamiliesByteIdentical converts each newer family's tiny Hugging Face folder
// (testdata/gen/llm.py) to an F32 GGUF and quantizes it with a few file types in Refit
// and in llama_model_quantize: the per-tensor type rules must agree on every family's
// tensor names (fused attn_qkv, attn_k_b/attn_v_b, stacked and shared experts, MXFP4
// experts, tied embeddings), and the files must be byte-identical. The tiny folders
// have rows of 64, so K-quants fall back; each family also runs widened (rows of 256,
// 8 layers, 8 experts: the use-more-bits and 8-expert rules), MoE ones with an
// importance matrix too. gpt-oss's MXFP4 experts need allow_requantize in both.
func TestFamiliesByteIdentical(t *testing.T) {
	h, hfDir := setup(t)
	dense := []ggml.FileType{ggml.FileQ4_K_M, ggml.FileQ6_K, ggml.FileQ8_0, ggml.FileQ4_0, ggml.FileQ3_K_M}
	moe := append(dense[:len(dense):len(dense)], ggml.FileQ2_K, ggml.FileMXFP4)
	families := []struct {
		dir     string
		fts     []ggml.FileType
		requant bool // the fixture has quantized (MXFP4) tensors
	}{
		{"qwen2moe", moe, false}, {"qwen3moe", moe, false}, {"granitemoe", moe, false},
		{"deepseek2", moe, false}, {"deepseek3", moe, false},
		{"gptoss", moe, true},
		{"phi2", dense, false}, {"gptneox", dense, false}, {"falcon", dense, false}, {"falcon7b", dense, false}, {"starcoder2", dense, false},
		{"stablelm", dense, false}, {"olmo2", dense, false}, {"granite", dense, false}, {"commandr", dense, false}, {"gemma3", dense, false},
		{"bert", dense, false}, {"nomicbert", dense, false}, {"gpt2", dense, false}, {"phi3", dense, false},
		{"gemma", dense, false}, {"gemma2", dense, false}, {"qwen2", dense, false}, {"qwen3", dense, false},
		{"mixtral", moe, false},
	}
	for _, wide := range []bool{false, true} {
		for _, fam := range families {
			if wide && fam.requant {
				continue // widen makes F32 models only
			}
			name := fam.dir
			if wide {
				name += "/wide"
			}
			t.Run(name, func(t *testing.T) {
				src, err := hf.ConvertHF(context.Background(), refit.DirFS(filepath.Join(hfDir, fam.dir)), &hf.ConvertOptions{DType: tensor.F32})
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				m := src
				if wide {
					m = widen(t, src, 8, 8)
				}
				in := filepath.Join(t.TempDir(), "in.gguf")
				writeGGUF(t, m, in)
				if wide && ggml.InfoFromMetadata(m.Metadata).Experts > 1 {
					imatrixCases(t, h, m, in)
				}
				for _, ft := range fam.fts {
					t.Run(ft.String(), func(t *testing.T) {
						refitOut := filepath.Join(t.TempDir(), "refit.gguf")
						llamaOut := filepath.Join(t.TempDir(), "llama.gguf")
						p := refitQuantize(t, in, refitOut, ft, &plan.Options{AllowFallback: true, Requantize: fam.requant}, "")
						var extra []string
						if fam.requant {
							extra = append(extra, "--allow-requantize")
						}
						llamaQuantize(t, h, in, llamaOut, ft, extra...)
						compareFiles(t, refitOut, llamaOut, p)
						if testing.Verbose() {
							for _, e := range p.Tensors {
								if e.Changed() {
									t.Logf("%s -> %s (%s)", e.Name, e.ToName, e.Reason)
								}
							}
						}
						if d := os.Getenv("REFIT_LLAMAQUANT_KEEP"); d != "" { // keep both files to debug a difference
							keepFile(t, refitOut, filepath.Join(d, fam.dir+"-"+ft.String()+"-refit.gguf"))
							keepFile(t, llamaOut, filepath.Join(d, fam.dir+"-"+ft.String()+"-llama.gguf"))
						}
					})
				}
			})
		}
	}
}

func keepFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Error(err)
	}
}

// widen makes a larger variant of a family's tiny model for the mix rules: rows of
// a multiple of 256 (so K-quants are chosen without fallback), the first blocks
// repeated to wantLayers, and MoE layers with wantExperts experts (8 reaches
// llama.cpp's 8-expert rules). Weights are fresh random F32 values; llama_model_quantize
// reads the hyperparameters but not the tensor shapes they imply.
func widen(t *testing.T, src *refit.Model, wantLayers, wantExperts int) *refit.Model {
	t.Helper()
	arch := src.Metadata.String("general.architecture")
	md := src.Metadata.Clone()
	info := ggml.InfoFromMetadata(src.Metadata)
	srcLayers := info.Layers
	for _, k := range md.Keys() {
		if !strings.HasPrefix(k, arch+".") {
			continue
		}
		v, _ := md.Get(k)
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Slice || rv.Len() != srcLayers {
			continue
		}
		nv := reflect.MakeSlice(rv.Type(), wantLayers, wantLayers)
		for i := range wantLayers {
			nv.Index(i).Set(rv.Index(i % srcLayers))
		}
		md.Set(k, nv.Interface())
	}
	md.Set(arch+".block_count", uint32(wantLayers))
	if info.Experts > 1 {
		md.Set(arch+".expert_count", uint32(wantExperts))
	}
	rng := rand.New(rand.NewPCG(11, 12))
	shapeOf := func(name string, s tensor.Shape) tensor.Shape {
		s = s.Clone()
		if len(s) >= 2 {
			s[len(s)-1] = (s[len(s)-1] + 255) / 256 * 256
		}
		expert := strings.Contains(name, "_exps.") || strings.Contains(name, "ffn_gate_inp.") || strings.Contains(name, "exp_probs_b")
		if info.Experts > 1 && expert && len(s) > 0 && s[0] == int64(info.Experts) {
			s[0] = int64(wantExperts)
		}
		return s
	}
	var ts []*tensor.Tensor
	add := func(name string, s tensor.Shape) {
		n, err := s.NumElements()
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * 0.05)
		}
		x, err := tensor.NewF32(name, s, v)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, x)
	}
	for _, x := range src.Tensors {
		if x.DType != tensor.F32 {
			t.Fatalf("%s is %v: widen makes F32 models only", x.Name, x.DType)
		}
		rest, ok := strings.CutPrefix(x.Name, "blk.")
		if !ok {
			add(x.Name, shapeOf(x.Name, x.Shape))
			continue
		}
		b, suffix, _ := strings.Cut(rest, ".")
		for l := range wantLayers {
			if strconv.Itoa(l%srcLayers) == b {
				add(fmt.Sprintf("blk.%d.%s", l, suffix), shapeOf(x.Name, x.Shape))
			}
		}
	}
	return &refit.Model{Format: "gguf", Metadata: md, Tensors: ts}
}

// imatrixCases quantizes an MoE model with an importance matrix whose expert vectors
// are columns x experts long.
func imatrixCases(t *testing.T, h *harness, m *refit.Model, in string) {
	imatrix := filepath.Join(t.TempDir(), "imatrix.dat")
	writeImatrix(t, m, imatrix)
	b, err := os.ReadFile(imatrix)
	if err != nil {
		t.Fatal(err)
	}
	im, err := plan.ParseImatrix(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, ft := range []ggml.FileType{ggml.FileQ4_K_M, ggml.FileQ2_K} {
		t.Run(ft.String()+"+imatrix", func(t *testing.T) {
			src, err := refit.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			p, err := plan.New(src, ft, &plan.Options{AllowFallback: true, MixOptions: ggml.MixOptions{Imatrix: true}})
			if err != nil {
				t.Fatal(err)
			}
			q, err := p.Apply(src, im)
			if err != nil {
				t.Fatal(err)
			}
			refitOut := filepath.Join(t.TempDir(), "refit.gguf")
			llamaOut := filepath.Join(t.TempDir(), "llama.gguf")
			writeGGUF(t, q, refitOut)
			llamaQuantize(t, h, in, llamaOut, ft, imatrix)
			compareFiles(t, refitOut, llamaOut, p)
		})
	}
}
