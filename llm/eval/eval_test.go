package eval

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"

	"github.com/refit-ml/refit"
	"github.com/refit-ml/refit/internal/testtool"
	"github.com/refit-ml/refit/llm"
)

func TestPercentile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5}
	for _, tc := range []struct{ f, want float64 }{{0, 1}, {0.5, 3}, {0.9, 4.6}, {1, 5}, {0.99, 4.96}} {
		if got := Percentile(v, tc.f); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Percentile(%v) = %v, want %v", tc.f, got, tc.want)
		}
	}
}

func TestKLDivergence(t *testing.T) {
	p := []float32{1, 2, 3}
	if kl, same := klDivergence(p, p); kl != 0 || !same {
		t.Errorf("klDivergence(p, p) = %v, %v; want 0, true", kl, same)
	}
	// KL([.5 .5] || [.8 .2]) = .5 ln(.5/.8) + .5 ln(.5/.2)
	q := []float32{float32(math.Log(0.8)), float32(math.Log(0.2))}
	want := 0.5*math.Log(0.5/0.8) + 0.5*math.Log(0.5/0.2)
	if kl, _ := klDivergence([]float32{0, 0}, q); math.Abs(kl-want) > 1e-6 {
		t.Errorf("klDivergence = %v, want %v", kl, want)
	}
	if got := logSoftmaxAt([]float32{0, 0, 0, 0}, 2); math.Abs(got-math.Log(0.25)) > 1e-12 {
		t.Errorf("logSoftmaxAt = %v, want ln 1/4", got)
	}
}

// TestRunSelf compares the fixture with itself: KL 0, ratio 1, full agreement; and
// checks the chunk arithmetic and the short-text error.
func TestRunSelf(t *testing.T) {
	m := load(t, filepath.Join(testtool.RepoRoot(), "testdata", "models", "llm", "llama-f16.gguf"))
	tokens := make([]int32, 100)
	for i := range tokens {
		tokens[i] = int32(i*7) % int32(m.Config.Vocab)
	}
	r, err := Run(context.Background(), m, m, tokens, &Options{Context: 16, Chunks: 3, BOS: 1, Batch: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Chunks != 3 || r.Tokens != 3*7 {
		t.Errorf("Run scored %d tokens in %d chunks, want 21 in 3", r.Tokens, r.Chunks)
	}
	c := r.Reference
	if c.KLMax != 0 || c.Top1 != 1 || c.PerplexityRatio != 1 || c.Perplexity != r.Perplexity {
		t.Errorf("against itself: %+v", c)
	}
	if !(r.Perplexity > 1) {
		t.Errorf("perplexity %v", r.Perplexity)
	}
	// Batching does not change the figures.
	r2, err := Run(context.Background(), m, nil, tokens, &Options{Context: 16, Chunks: 3, BOS: 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r2.Perplexity/r.Perplexity-1) > 1e-5 {
		t.Errorf("perplexity %v with batches of 5, %v in one batch", r.Perplexity, r2.Perplexity)
	}
	many, err := RunMany(context.Background(), []*llm.Model{m, m}, m, tokens, &Options{Context: 16, Chunks: 3, BOS: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range many {
		if got.Perplexity != r2.Perplexity || got.Reference.KLMax != 0 || got.Tokens != r2.Tokens {
			t.Errorf("RunMany result %d = %+v, want Run's perplexity %v", i, got, r2.Perplexity)
		}
	}
	if _, err := Run(context.Background(), m, nil, tokens[:31], &Options{Context: 16}); !errors.Is(err, ErrTooShort) || !errors.Is(err, refit.ErrUnsupported) {
		t.Errorf("Run(31 tokens, context 16) = %v, want ErrTooShort", err)
	}
}
