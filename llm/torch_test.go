package llm

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/tensor"
)

type reference struct {
	Models map[string]struct {
		Prompts []struct {
			IDs    []int32   `json:"ids"`
			Logits []float64 `json:"logits"`
		} `json:"prompts"`
	} `json:"models"`
}

var (
	buildOnce sync.Once
	buildDir  string
)

// tinyModels builds testdata/gen/llm.py's random-weight Hugging Face models once per
// test binary.
func tinyModels(t *testing.T) string {
	testtool.RequirePython(t, "torch")
	buildOnce.Do(func() {
		script, err := os.ReadFile(filepath.Join(testtool.RepoRoot(), "testdata", "gen", "llm.py"))
		if err != nil {
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp("", "refit-llm-")
		if err != nil {
			t.Fatal(err)
		}
		testtool.RunPython(t, string(script), "build", dir)
		buildDir = dir
	})
	if buildDir == "" {
		t.Fatal("building the tiny models failed earlier")
	}
	return buildDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// convertGGUF converts an llm.py model folder to GGUF at dt.
func convertGGUF(t *testing.T, dir, out string, dt tensor.DType) {
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

// TestTorchAgrees runs every architecture llm.py builds (F32 GGUF) and compares the
// last-position logits with its torch forward pass.
func TestTorchAgrees(t *testing.T) {
	dir := tinyModels(t)
	b, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(ref.Models))
	for n := range ref.Models {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name+".gguf")
			convertGGUF(t, filepath.Join(dir, name), out, tensor.F32)
			mf, err := refit.OpenMapped(out)
			if err != nil {
				t.Fatal(err)
			}
			defer mf.Close()
			m, err := Load(mf, mf.Size(), &Options{Threads: 2})
			if err != nil {
				if errors.Is(err, refit.ErrUnsupported) {
					t.Skipf("Load: %v", err)
				}
				t.Fatalf("Load = %v", err)
			}
			for i, p := range ref.Models[name].Prompts {
				s, err := m.NewSession(len(p.IDs))
				if err != nil {
					t.Fatal(err)
				}
				logits := make([]float32, m.Config.Vocab)
				if err := s.Forward(context.Background(), p.IDs, len(p.IDs)-1, logits); err != nil {
					t.Fatalf("Forward = %v", err)
				}
				var worst, scale float64
				for j, w := range p.Logits {
					worst = max(worst, math.Abs(float64(logits[j])-w))
					scale = max(scale, math.Abs(w))
				}
				if worst > 1e-4*scale+1e-5 {
					t.Errorf("prompt %d: largest logit difference %.3g (scale %.3g)", i, worst, scale)
				}
			}
		})
	}
}
