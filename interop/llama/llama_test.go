package llama

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/refit-ml/refit"
	_ "github.com/refit-ml/refit/format/all"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/llm"
	"github.com/refit-ml/refit/tensor"
)

type reference struct {
	Strings []string `json:"strings"`
	Models  map[string]struct {
		Family string `json:"family"`
		Title  string `json:"title"`
		Embed  bool   `json:"embed"`
		// Tolerance overrides the half-precision tolerances for one model (by DType name).
		Tolerance map[string]float64 `json:"tolerance"`
		Tokenizer string             `json:"tokenizer"`
		Template  string             `json:"chat_template"`
		AddBOS    bool               `json:"add_bos"`
		BOS       int32              `json:"bos"`
		Tokens    [][]int32          `json:"tokens"`
		Prompts   []struct {
			IDs    []int32   `json:"ids"`
			Logits []float64 `json:"logits"`
		} `json:"prompts"`
	} `json:"models"`
}

type llamaOutput struct {
	Template string      `json:"chat_template"`
	NVocab   int         `json:"n_vocab"`
	Tokens   [][]int32   `json:"tokens"`
	Special  [][]int32   `json:"special"`
	Logits   [][]float64 `json:"logits"`
	ExactKV  bool        `json:"exact_kv"`
}

// tolerances on the largest logit difference relative to the largest |logit|. The
// reference applies ggml's float16 GELU table (see llm.py gelu_ggml), so F32 agrees
// to float32 rounding.
var tolerances = map[tensor.DType]float64{tensor.F32: 1e-4, tensor.F16: 2e-2, tensor.BF16: 5e-2}

var readme = flag.Bool("readme", false, "rewrite the README's LLM support table from this run")

// built is the folder llm.py build wrote, shared by the tests of one run.
var built struct {
	once   sync.Once
	dir    string
	ref    reference
	script []byte
	err    error
}

// results collects the support table's cells: model -> column -> text.
var results = struct {
	sync.Mutex
	m map[string]map[string]string
}{m: map[string]map[string]string{}}

func record(model, column, text string) {
	results.Lock()
	defer results.Unlock()
	if results.m[model] == nil {
		results.m[model] = map[string]string{}
	}
	results.m[model][column] = text
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	if code == 0 && *readme {
		if err := writeTable(filepath.Join(testtool.RepoRoot(), "README.md")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// build runs llm.py build once per test binary.
func build(t *testing.T) (string, *reference, []byte) {
	t.Helper()
	testtool.RequirePython(t, "torch", "ctypes")
	built.once.Do(func() {
		built.script, built.err = os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "llm.py"))
		if built.err != nil {
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "refit-llm-"); built.err != nil {
			return
		}
		testtool.RunPython(t, string(built.script), "build", built.dir)
		b, err := os.ReadFile(filepath.Join(built.dir, "reference.json"))
		if err == nil {
			err = json.Unmarshal(b, &built.ref)
		}
		built.err = err
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir, &built.ref, built.script
}

// TestLlamaCppAgrees converts each architecture at F32, F16 and BF16, loads the GGUF in
// llama.cpp and compares tokenization and last-position logits with the reference.
func TestLlamaCppAgrees(t *testing.T) {
	dir, refp, script := build(t)
	ref := *refp
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	libdir := filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	names := make([]string, 0, len(ref.Models))
	for n := range ref.Models {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		want := ref.Models[name]
		for _, dt := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16} {
			t.Run(name+"/"+dt.String(), func(t *testing.T) {
				out := filepath.Join(t.TempDir(), name+".gguf")
				convert(t, filepath.Join(dir, name), out, dt)
				req := map[string]any{"strings": ref.Strings, "ids": [][]int32{}, "embed": want.Embed}
				var ids [][]int32
				for _, p := range want.Prompts {
					ids = append(ids, p.IDs)
				}
				req["ids"] = ids
				reqPath := filepath.Join(t.TempDir(), "req.json")
				writeJSON(t, reqPath, req)
				var got llamaOutput
				if err := json.Unmarshal(testtool.RunPython(t, string(script), "llama", libdir, out, reqPath), &got); err != nil {
					t.Fatal(err)
				}
				if got.Template != want.Template {
					t.Errorf("llama_model_chat_template = %q, want %q", got.Template, want.Template)
				}
				for i, s := range ref.Strings {
					if !slices.Equal(got.Tokens[i], want.Tokens[i]) {
						t.Errorf("llama_tokenize(%q) = %v, want %v", s, got.Tokens[i], want.Tokens[i])
					}
					wantSpecial := want.Tokens[i]
					if want.AddBOS {
						wantSpecial = append([]int32{want.BOS}, wantSpecial...)
					}
					if !slices.Equal(got.Special[i], wantSpecial) {
						t.Errorf("llama_tokenize(%q, add_special) = %v, want %v", s, got.Special[i], wantSpecial)
					}
				}
				tol := tolerances[dt]
				if v, ok := want.Tolerance[dt.String()]; ok {
					tol = v
				}
				if !got.ExactKV {
					tol = max(tol, 2e-2) // F16 KV cache
				}
				var worst float64
				for i, p := range want.Prompts {
					if len(got.Logits[i]) != len(p.Logits) {
						t.Fatalf("llama.cpp returned %d logits, want %d", len(got.Logits[i]), len(p.Logits))
					}
					var maxDiff, scale float64
					for j, w := range p.Logits {
						maxDiff = max(maxDiff, math.Abs(got.Logits[i][j]-w))
						scale = max(scale, math.Abs(w))
					}
					rel := maxDiff / scale
					worst = max(worst, rel)
					t.Logf("prompt %d: max |logit diff| %.3g (max |logit| %.3g, relative %.3g, exact KV %v)", i, maxDiff, scale, rel, got.ExactKV)
					if rel > tol || math.IsNaN(rel) {
						t.Errorf("prompt %d: logits differ by %.3g relative (%.3g absolute), tolerance %.3g", i, rel, maxDiff, tol)
					}
				}
				if !t.Failed() {
					record(name, dt.String(), fmt.Sprintf("%.2g", worst))
				}
				switch {
				case dt != tensor.F32:
				case want.Embed:
					record(name, "llm", "no") // an encoder
				default:
					checkLLM(t, name, out, want.Prompts, got)
				}
			})
		}
	}
}

// checkLLM runs package llm's forward pass on the F32 GGUF, when it supports the
// architecture, and compares its last-position logits with llama.cpp's: the largest
// difference within 1e-4 of the logit scale and the same most likely token. With a
// model name, the support table records the result ("no" when llm refuses it).
func checkLLM(t *testing.T, name, path string, prompts []struct {
	IDs    []int32   `json:"ids"`
	Logits []float64 `json:"logits"`
}, got llamaOutput) {
	t.Helper()
	tol := 1e-4
	mf, err := refit.OpenMapped(path)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	m, err := llm.Load(mf, mf.Size(), &llm.Options{Threads: 2})
	if errors.Is(err, refit.ErrUnsupported) {
		t.Logf("llm does not run this model: %v", err)
		if name != "" {
			record(name, "llm", "no")
		}
		return
	}
	if err != nil {
		t.Fatalf("llm.Load = %v", err)
	}
	if !got.ExactKV {
		tol = 2e-2 // llama.cpp's float16 KV cache
	}
	var worst float64
	for i, p := range prompts {
		s, err := m.NewSession(len(p.IDs))
		if err != nil {
			t.Fatal(err)
		}
		logits := make([]float32, m.Config.Vocab)
		err = s.Forward(context.Background(), p.IDs, len(p.IDs)-1, logits)
		s.Close()
		if err != nil {
			t.Fatalf("llm Forward = %v", err)
		}
		ref := got.Logits[i]
		if len(ref) != len(logits) {
			t.Fatalf("llama.cpp has %d logits, llm %d", len(ref), len(logits))
		}
		var maxDiff, scale float64
		best, refBest := 0, 0
		for j, w := range ref {
			maxDiff = max(maxDiff, math.Abs(float64(logits[j])-w))
			scale = max(scale, math.Abs(w))
			if logits[j] > logits[best] {
				best = j
			}
			if w > ref[refBest] {
				refBest = j
			}
		}
		t.Logf("prompt %d: llm vs llama.cpp: max |logit diff| %.3g, relative %.3g", i, maxDiff, maxDiff/scale)
		worst = max(worst, maxDiff/scale)
		if maxDiff > tol*scale || math.IsNaN(maxDiff) {
			t.Errorf("prompt %d: llm's logits differ from llama.cpp's by %.3g relative, tolerance %.3g", i, maxDiff/scale, tol)
		}
		if best != refBest {
			t.Errorf("prompt %d: llm's most likely token %d, llama.cpp's %d", i, best, refBest)
		}
	}
	if name != "" && !t.Failed() {
		record(name, "llm", fmt.Sprintf("%.2g", worst))
	}
}

func convert(t *testing.T, dir, out string, dt tensor.DType) {
	t.Helper()
	m, err := hf.ConvertHF(context.Background(), refit.DirFS(dir), &hf.ConvertOptions{DType: dt})
	if err != nil {
		t.Fatalf("ConvertHF(%s) = %v", dir, err)
	}
	defer m.Close()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gguf.Encode(f, m, nil); err != nil {
		t.Fatalf("gguf.Encode = %v", err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
