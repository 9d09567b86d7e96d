package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/format/gguf"
	"github.com/refit-ml/refit/quant/plan"
	"github.com/refit-ml/refit/tensor"
)

// writeTinyGGUF writes a two-layer llama-shaped F32 GGUF with rows of embd columns.
func writeTinyGGUF(t *testing.T, path string, embd int64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var ts []*tensor.Tensor
	add := func(name string, s ...int64) {
		n := int64(1)
		for _, d := range s {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		x, err := tensor.NewF32(name, tensor.Shape(s), v)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, x)
	}
	add("token_embd.weight", 32, embd)
	for b := range 2 {
		p := fmt.Sprintf("blk.%d.", b)
		add(p+"attn_norm.weight", embd)
		add(p+"attn_q.weight", embd, embd)
		add(p+"attn_v.weight", embd, embd)
		add(p+"ffn_down.weight", embd, embd)
	}
	add("output_norm.weight", embd)
	m := &refit.Model{Tensors: ts}
	m.Metadata.Set("general.architecture", "llama")
	m.Metadata.Set("llama.block_count", uint32(2))
	var buf bytes.Buffer
	if err := gguf.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestQuantizeGGUF(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.gguf")
	writeTinyGGUF(t, in, 256)
	odd := filepath.Join(dir, "odd.gguf")
	writeTinyGGUF(t, odd, 96)
	run := func(in, out string, o *ggufQuantOptions) (string, error) {
		var stdout, stderr bytes.Buffer
		e := &env{ctx: context.Background(), stdout: &stdout, stderr: &stderr}
		err := runQuantizeGGUF(e, in, out, o)
		return stdout.String(), err
	}
	t.Run("Q4_K_M", func(t *testing.T) {
		out := filepath.Join(dir, "q.gguf")
		so, err := run(in, out, &ggufQuantOptions{FileType: "Q4_K_M", AsJSON: true})
		if err != nil {
			t.Fatalf("runQuantizeGGUF = %v", err)
		}
		var res ggufQuantResult
		if err := json.Unmarshal([]byte(so), &res); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Verified || res.Bytes != st.Size() || res.Plan.FileBytes != st.Size() {
			t.Errorf("result %+v, file %d bytes", res, st.Size())
		}
		if res.Cosine < 0.99 || res.MinCos < 0.98 {
			t.Errorf("cosine %v, worst %v", res.Cosine, res.MinCos)
		}
	})
	t.Run("dry-run", func(t *testing.T) {
		out := filepath.Join(dir, "dry.gguf")
		so, err := run(in, out, &ggufQuantOptions{FileType: "Q8_0", DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("--dry-run wrote %s", out)
		}
		if !bytes.Contains([]byte(so), []byte("blk.1.attn_v.weight")) {
			t.Errorf("plan table lacks tensors:\n%s", so)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		out := filepath.Join(dir, "fb.gguf")
		if _, err := run(odd, out, &ggufQuantOptions{FileType: "Q4_K_M"}); !errors.Is(err, plan.ErrFallback) {
			t.Errorf("runQuantizeGGUF = %v, want ErrFallback", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a failed run left %s", out)
		}
		if _, err := run(odd, out, &ggufQuantOptions{FileType: "Q4_K_M", AllowFallback: true}); err != nil {
			t.Errorf("with --allow-fallback: %v", err)
		}
	})
	// Every tensor keeping its type is no quantization: an error, nothing written.
	for name, o := range map[string]*ggufQuantOptions{"F32 to F32": {FileType: "F32"}, "all kept": {FileType: "Q8_0", Keep: []string{"."}}} {
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(dir, "same.gguf")
			if _, err := run(in, out, o); !errors.Is(err, errNothingQuantized) {
				t.Fatalf("runQuantizeGGUF = %v, want errNothingQuantized", err)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a run that changed nothing wrote %s", out)
			}
		})
	}
	for _, o := range []*ggufQuantOptions{{}, {FileType: "Q9"}, {FileType: "Q4_0", TensorTypes: []string{"x"}}, {FileType: "Q4_0", Keep: []string{"("}}} {
		t.Run(fmt.Sprintf("usage %+v", *o), func(t *testing.T) {
			var ue usageError
			if _, err := run(in, filepath.Join(dir, "u.gguf"), o); !errors.As(err, &ue) {
				t.Errorf("runQuantizeGGUF = %v, want a usage error", err)
			}
		})
	}
}
