package llamaquant

import (
	"context"
	"os"
	"path/filepath"
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
// experts, tied embeddings), and the files must be byte-identical.
func TestFamiliesByteIdentical(t *testing.T) {
	h, hfDir := setup(t)
	dense := []ggml.FileType{ggml.FileQ4_K_M, ggml.FileQ6_K, ggml.FileQ8_0, ggml.FileQ4_0}
	moe := append(dense[:len(dense):len(dense)], ggml.FileQ2_K, ggml.FileQ3_K_M)
	families := []struct {
		dir string
		fts []ggml.FileType
	}{
		{"qwen2moe", moe}, {"qwen3moe", moe}, {"granitemoe", moe}, {"deepseek2", moe}, {"deepseek3", moe},
		{"gptoss", append(moe[:len(moe):len(moe)], ggml.FileMXFP4)},
		{"phi2", dense}, {"gptneox", dense}, {"falcon", dense}, {"falcon7b", dense}, {"starcoder2", dense},
		{"stablelm", dense}, {"olmo2", dense}, {"granite", dense}, {"commandr", dense}, {"gemma3", dense},
		{"bert", dense}, {"nomicbert", dense},
	}
	for _, fam := range families {
		t.Run(fam.dir, func(t *testing.T) {
			src, err := hf.ConvertHF(context.Background(), refit.DirFS(filepath.Join(hfDir, fam.dir)), &hf.ConvertOptions{DType: tensor.F32})
			if err != nil {
				t.Fatal(err)
			}
			in := filepath.Join(t.TempDir(), "in.gguf")
			writeGGUF(t, src, in)
			src.Close()
			for _, ft := range fam.fts {
				t.Run(ft.String(), func(t *testing.T) {
					refitOut := filepath.Join(t.TempDir(), "refit.gguf")
					llamaOut := filepath.Join(t.TempDir(), "llama.gguf")
					p := refitQuantize(t, in, refitOut, ft, &plan.Options{AllowFallback: true}, "")
					llamaQuantize(t, h, in, llamaOut, ft)
					compareFiles(t, refitOut, llamaOut, p)
					if d := os.Getenv("PLANARCH_KEEP"); d != "" {
						cp(refitOut, filepath.Join(d, fam.dir+"-"+ft.String()+"-refit.gguf"))
						cp(llamaOut, filepath.Join(d, fam.dir+"-"+ft.String()+"-llama.gguf"))
					}
				})
			}
		})
	}
}

func cp(a, b string) {
	x, _ := os.ReadFile(a)
	os.WriteFile(b, x, 0o644)
}
