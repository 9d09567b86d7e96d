package llama

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/hf"
	"github.com/refit-ml/refit/tensor"
)

// TestGGUFToHFRoundTrip converts each reference model HF -> GGUF (F32) -> HF -> GGUF and
// checks that the second GGUF holds the same tensors (bytes) and ARCH.* metadata as the
// first, and that the Hugging Face folder written back holds the original weights.
// A vocabulary the tokenizer writer refuses is left out of the reverse (tokenizer
// files are another package's subject); the original tokenizer files are copied in.
func TestGGUFToHFRoundTrip(t *testing.T) {
	dir, ref, _ := build(t)
	names := make([]string, 0, len(ref.Models))
	for n := range ref.Models {
		names = append(names, n)
	}
	slices.Sort(names)
	ctx := context.Background()
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(dir, name)
			g1path := filepath.Join(t.TempDir(), "a.gguf")
			convert(t, src, g1path, tensor.F32)
			g1, err := refit.Open(g1path)
			if err != nil {
				t.Fatal(err)
			}
			defer g1.Close()
			back := filepath.Join(t.TempDir(), "hf")
			err = hf.ReverseGGUF(ctx, g1, back, nil)
			tokNote := "written"
			if errors.Is(err, refit.ErrUnsupported) && !strings.Contains(err.Error(), "architecture") {
				// Retry without the vocabulary to tell a refused tokenizer from a refused model.
				bare := g1.Derive(g1.Tensors)
				bare.Metadata = g1.Metadata.Clone()
				for _, k := range bare.Metadata.Keys() {
					if strings.HasPrefix(k, "tokenizer.") {
						bare.Metadata.Delete(k)
					}
				}
				if err2 := hf.ReverseGGUF(ctx, bare, back, nil); err2 == nil {
					tokNote = "refused"
					t.Logf("tokenizer not written back (%v); copying the original tokenizer files", err)
					err = nil
				}
			}
			if err != nil {
				record(name, "GGUF->HF", "refused")
				t.Skipf("ReverseGGUF = %v", err)
			}
			copyMissing(t, src, back, "tokenizer.json", "tokenizer.model", "tokenizer_config.json")

			// The folder written back holds the original weights.
			orig := openWeights(t, src)
			defer orig.Close()
			rev := openWeights(t, back)
			defer rev.Close()
			var exact, close int
			var worst float64
			for _, r := range rev.Tensors {
				o := orig.Tensor(r.Name)
				if o == nil {
					t.Errorf("written back: %s, which the original folder lacks", r.Name)
					continue
				}
				ob, err1 := o.Bytes()
				rb, err2 := r.Bytes()
				if err1 != nil || err2 != nil {
					t.Fatal(errors.Join(err1, err2))
				}
				if o.DType == r.DType && o.Shape.Equal(r.Shape) && bytes.Equal(ob, rb) {
					exact++
					continue
				}
				// Gemma's norms are stored as w+1; w+1-1 is within one ulp of 1 of w.
				ov, err1 := o.Float32s()
				rv, err2 := r.Float32s()
				if err1 != nil || err2 != nil || !o.Shape.Equal(r.Shape) {
					t.Errorf("%s: %v %v written back as %v %v", r.Name, o.DType, o.Shape, r.DType, r.Shape)
					continue
				}
				var d float64
				for i := range ov {
					d = max(d, math.Abs(float64(ov[i])-float64(rv[i])))
				}
				worst = max(worst, d)
				if d > 0x1p-23 {
					t.Errorf("%s differs from the original by up to %g", r.Name, d)
					continue
				}
				close++
			}
			t.Logf("HF -> GGUF -> HF: %d tensors identical, %d within %g (norms stored as w+1)", exact, close, worst)

			// HF folder written back -> GGUF again gives the first GGUF's tensors, bit for bit.
			m2, err := hf.ConvertHF(ctx, refit.DirFS(back), &hf.ConvertOptions{DType: tensor.F32})
			if err != nil {
				t.Fatalf("ConvertHF(written back) = %v", err)
			}
			defer m2.Close()
			if len(m2.Tensors) != len(g1.Tensors) {
				t.Errorf("GGUF -> HF -> GGUF has %d tensors, want %d", len(m2.Tensors), len(g1.Tensors))
			}
			for _, want := range g1.Tensors {
				got := m2.Tensor(want.Name)
				if got == nil {
					t.Errorf("%s missing after GGUF -> HF -> GGUF", want.Name)
					continue
				}
				a, err1 := want.Bytes()
				b, err2 := got.Bytes()
				if err1 != nil || err2 != nil {
					t.Fatal(errors.Join(err1, err2))
				}
				if want.DType != got.DType || !want.Shape.Equal(got.Shape) || !bytes.Equal(a, b) {
					t.Errorf("%s: %v %v after GGUF -> HF -> GGUF, want %v %v with the same bytes", want.Name, got.DType, got.Shape, want.DType, want.Shape)
				}
			}
			archName := g1.Metadata.String("general.architecture")
			for _, k := range g1.Metadata.Keys() {
				if !strings.HasPrefix(k, archName+".") && k != "general.architecture" {
					continue
				}
				v, _ := g1.Metadata.Get(k)
				w, ok := m2.Metadata.Get(k)
				if !ok || fmt.Sprint(v) != fmt.Sprint(w) {
					t.Errorf("metadata %s = %v after GGUF -> HF -> GGUF, want %v", k, w, v)
				}
			}
			if !t.Failed() {
				cell := "bit-exact"
				if close > 0 {
					cell = fmt.Sprintf("bit-exact GGUF->HF->GGUF; norms within %.1g", worst)
				}
				record(name, "GGUF->HF", cell)
				record(name, "HF tokenizer", tokNote)
			}
		})
	}
}

func openWeights(t *testing.T, dir string) *refit.Model {
	t.Helper()
	for _, f := range []string{"model.safetensors", "pytorch_model.bin", "model.safetensors.index.json"} {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if strings.HasSuffix(f, ".json") {
			m, err := refit.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		m, err := refit.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	t.Fatalf("no weights in %s", dir)
	return nil
}

func copyMissing(t *testing.T, from, to string, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(to, n)); err == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, n))
		if err != nil {
			continue
		}
		if err := os.WriteFile(filepath.Join(to, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeTable rewrites the README's LLM support table (between its marker comments)
// from the cells this run recorded.
func writeTable(readme string) error {
	const begin, end = "<!-- llm-support-table: begin -->", "<!-- llm-support-table: end -->"
	b, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s ... %s markers", readme, begin, end)
	}
	var tb strings.Builder
	tb.WriteString(begin + "\n")
	tb.WriteString("| model | family | HF -> GGUF | GGUF -> HF | tokenizer | tokenizer written back | llama.cpp F32 | F16 | BF16 | refit eval (llm) vs llama.cpp F32 |\n")
	tb.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	names := make([]string, 0, len(built.ref.Models))
	for n := range built.ref.Models {
		names = append(names, n)
	}
	slices.Sort(names)
	results.Lock()
	defer results.Unlock()
	for _, n := range names {
		m := built.ref.Models[n]
		c := results.m[n]
		cell := func(k string) string {
			if v, ok := c[k]; ok {
				return v
			}
			return "not run"
		}
		hfToGGUF := "yes"
		if _, ok := c[tensor.F32.String()]; !ok {
			hfToGGUF = "not run"
		}
		fmt.Fprintf(&tb, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", m.Title, m.Family, hfToGGUF, cell("GGUF->HF"),
			m.Tokenizer, cell("HF tokenizer"), cell(tensor.F32.String()), cell(tensor.F16.String()), cell(tensor.BF16.String()), cell("llm"))
	}
	s = s[:i] + tb.String() + s[j:]
	return os.WriteFile(readme, []byte(s), 0o644)
}
