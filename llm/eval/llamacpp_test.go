package eval

import (
	"context"
	"encoding/binary"
	"encoding/json"
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
	"github.com/refit-ml/refit/tokenizer"
)

const (
	testContext = 128
	testChunks  = 6
	trainSteps  = "30" // enough for the model to prefer the text's tokens
)

// TestLlamaCppAgrees trains a tiny llama model briefly (testdata/gen/llm_train.py),
// converts it to GGUF at F32 and quantizes it to several types, then compares refit's
// tokenization, perplexity and KL divergence against the F32 model with the same
// figures computed from llama.cpp's logits on the same chunks of testdata/llm/eval.txt:
// perplexity within 0.2% relative, mean KL within 2e-3 absolute.
func TestLlamaCppAgrees(t *testing.T) {
	testtool.RequirePython(t, "torch", "ctypes")
	nm := testtool.NodeModules(t, "@node-llama-cpp/linux-x64")
	libdir := filepath.Join(nm, "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	root := testtool.RepoRoot()
	gen := filepath.Join(root, "testdata", "gen")
	train, err := os.ReadFile(filepath.Join(gen, "llm_train.py"))
	if err != nil {
		t.Fatal(err)
	}
	logitsScript, err := os.ReadFile(filepath.Join(gen, "llama_logits.py"))
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "testdata", "llm", "eval.txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	hfDir := filepath.Join(dir, "hf")
	t.Setenv("REFIT_GEN_DIR", gen)
	testtool.RunPython(t, string(train), hfDir, filepath.Join(root, "testdata", "llm", "train.txt"), trainSteps)

	src, err := hf.ConvertHF(context.Background(), refit.DirFS(hfDir), &hf.ConvertOptions{DType: tensor.F32})
	if err != nil {
		t.Fatalf("ConvertHF = %v", err)
	}
	defer src.Close()
	refPath := filepath.Join(dir, "F32.gguf")
	writeGGUF(t, refPath, src)
	ref := load(t, refPath)

	v, err := tokenizer.FromMetadata(ref.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.New(v)
	if err != nil {
		t.Fatal(err)
	}
	tokens := tok.Encode(string(text), true, false)
	bos := tok.Encode("", true, false)
	if len(bos) != 1 {
		t.Fatalf("the test model should add BOS; Encode(\"\") = %v", bos)
	}
	chunks := make([][]int32, testChunks)
	for c := range chunks {
		chunks[c] = slices.Clone(tokens[c*testContext : (c+1)*testContext])
		chunks[c][0] = bos[0]
	}
	first := testContext / 2

	llamaRun := func(path string) ([]float32, int) {
		req := filepath.Join(dir, "req.json")
		b, _ := json.Marshal(map[string]any{"text": string(text), "chunks": chunks, "first": first})
		if err := os.WriteFile(req, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "logits.f32")
		var res struct {
			NVocab  int     `json:"n_vocab"`
			AddBOS  bool    `json:"add_bos"`
			Tokens  []int32 `json:"tokens"`
			ExactKV bool    `json:"exact_kv"`
		}
		if err := json.Unmarshal(testtool.RunPython(t, string(logitsScript), libdir, path, req, out), &res); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(res.Tokens, tokens) || !res.AddBOS {
			t.Fatalf("llama.cpp tokenizes eval.txt into %d tokens (add_bos %v), refit into %d", len(res.Tokens), res.AddBOS, len(tokens))
		}
		if !res.ExactKV {
			t.Logf("llama.cpp's KV cache stays float16 (unknown llama_context_params layout)")
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		f := make([]float32, len(raw)/4)
		for i := range f {
			f[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return f, res.NVocab
	}
	refLogits, nv := llamaRun(refPath)
	if nv != ref.Config.Vocab {
		t.Fatalf("llama.cpp has %d tokens, refit %d", nv, ref.Config.Vocab)
	}

	for _, ft := range []string{"F32", "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_XS"} {
		t.Run(ft, func(t *testing.T) {
			path := refPath
			if ft != "F32" {
				path = filepath.Join(dir, ft+".gguf")
				fileType, err := ggml.ParseFileType(ft)
				if err != nil {
					t.Fatal(err)
				}
				q, err := ggml.QuantizeModel(src, fileType, nil)
				if err != nil {
					t.Fatalf("QuantizeModel(%s) = %v", ft, err)
				}
				writeGGUF(t, path, q)
			}
			m := load(t, path)
			got, err := Run(context.Background(), m, ref, tokens, &Options{Context: testContext, Chunks: testChunks, BOS: bos[0]})
			if err != nil {
				t.Fatalf("Run = %v", err)
			}
			logits, _ := llamaRun(path)
			want := score(chunks, first, nv, logits, refLogits)
			rel := math.Abs(got.Perplexity/want.Perplexity - 1)
			t.Logf("%s: perplexity refit %.4f llama.cpp %.4f (rel %.2e); KL mean refit %.5f llama.cpp %.5f; top-1 %.3f / %.3f",
				ft, got.Perplexity, want.Perplexity, rel, got.Reference.KLMean, want.Reference.KLMean, got.Reference.Top1, want.Reference.Top1)
			if rel > 2e-3 {
				t.Errorf("perplexity %.5f, llama.cpp's %.5f: %.2e relative, want <= 2e-3", got.Perplexity, want.Perplexity, rel)
			}
			if d := math.Abs(got.Reference.KLMean - want.Reference.KLMean); d > 2e-3 {
				t.Errorf("mean KL %.5f, llama.cpp's %.5f: differ by %.2e, want <= 2e-3", got.Reference.KLMean, want.Reference.KLMean, d)
			}
			if d := math.Abs(got.Reference.KL99 - want.Reference.KL99); d > 2e-2 {
				t.Errorf("99th percentile KL %.5f, llama.cpp's %.5f", got.Reference.KL99, want.Reference.KL99)
			}
			if got.Tokens != want.Tokens {
				t.Errorf("scored %d tokens, want %d", got.Tokens, want.Tokens)
			}
		})
	}
}

// score computes Run's figures from logits produced elsewhere: for each chunk, the
// positions first .. len-1 (vocab values each) of the model and of the reference.
func score(chunks [][]int32, first, vocab int, logits, refLogits []float32) *Result {
	per := (len(chunks[0]) - first) * vocab
	var nll, refNLL, diff, sum float64
	var kls []float64
	top1, count := 0, 0
	for c, chunk := range chunks {
		for i := 0; i < len(chunk)-1-first; i++ {
			at := c*per + i*vocab
			lp, rp := logits[at:at+vocab], refLogits[at:at+vocab]
			next := chunk[first+i+1]
			v, rv := -logSoftmaxAt(lp, next), -logSoftmaxAt(rp, next)
			nll += v
			refNLL += rv
			diff += v - rv
			kl, same := klDivergence(rp, lp)
			kls = append(kls, kl)
			sum += kl
			if same {
				top1++
			}
			count++
		}
	}
	slices.Sort(kls)
	n := float64(count)
	return &Result{Tokens: count, Perplexity: math.Exp(nll / n), Reference: &Comparison{
		Perplexity: math.Exp(refNLL / n), PerplexityRatio: math.Exp(diff / n), KLMean: sum / n,
		KL99: Percentile(kls, 0.99), KLMax: kls[len(kls)-1], Top1: float64(top1) / n}}
}

func writeGGUF(t *testing.T, path string, m *refit.Model) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gguf.Encode(f, m, nil); err != nil {
		t.Fatalf("gguf.Encode(%s) = %v", path, err)
	}
}

func load(t *testing.T, path string) *llm.Model {
	t.Helper()
	mf, err := refit.OpenMapped(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mf.Close() })
	m, err := llm.Load(mf, mf.Size(), &llm.Options{Threads: 2})
	if err != nil {
		t.Fatalf("llm.Load(%s) = %v", path, err)
	}
	return m
}
